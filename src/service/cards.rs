//! Card use cases: issue, revoke, unlock, show the current code, and check a token at the till.
//!
//! # Checking a token for a redemption
//!
//! The redemption runs [`verify_token`] inside its own write transaction, before it moves any
//! money. On success the step of an app card's code is recorded in that transaction, so the code
//! is spent if and only if the redemption commits; a right PIN resets the count of wrong ones.
//!
//! A decline rolls the redemption back, and with it anything written so far. A wrong PIN must
//! still count, so [`verify_token`] does not write it: it answers [`VerifyError::WrongPin`], and
//! the caller, after rolling back, calls [`record_wrong_pin`], which counts it in a transaction of
//! its own, locks the card at the fund's `pin_attempts`, and says which decline to answer
//! (`pin_wrong`, or `card_locked` for the attempt that locked it):
//!
//! A printed card's PIN is proven before the transaction ([`pins::prove`]: a keyed MAC, and
//! for a card still holding an old Argon2 hash, that check, once, outside the writer); inside
//! the transaction, which holds the card's row (and, on SQLite, the writer slot), the proof is
//! only compared with the stored form, in constant time. A second use of the same card waits
//! for the first, so two tills cannot both pass on one code or PIN.
//!
//! ```text
//! let proof = pins::prove(db, &key, fund, token, pin).await?;
//! let mut tx = db.begin().await?;
//! let card = match cards::verify_token(&mut tx, &key, fund, token, proof.as_ref(), Instant::now()).await {
//!     Ok(card) => card,
//!     Err(VerifyError::Declined(d)) => return Err(d.into()),
//!     Err(VerifyError::WrongPin { card_id }) => {
//!         tx.rollback().await?;
//!         return Err(cards::record_wrong_pin(db, fund, &card_id).await?.into());
//!     }
//!     Err(VerifyError::Store(e)) => return Err(e.into()),
//! };
//! ```

use futures_util::FutureExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::caller::{Caller, Forbidden};
use crate::card_key::CardKey;
use crate::domain::card::{self, CardKind, CardStatus, Decline, Token};
use crate::domain::member::MemberStatus;
use crate::domain::{new_id, now_micros};
use crate::domain::{CardId, ErrorCode, FieldError, FundId, Instant, MemberId, Role, UserId};
use crate::service::error::ServiceError;
use crate::service::pins::{self, Checked, PinProof};
use crate::store::cards::{self as store, Card, NewCard};
use crate::store::cursors::{self, Listed};
use crate::store::{funds, members, Db, StoreError, Tx};

/// A new card, with what is shown once.
#[derive(Debug)]
pub struct IssuedCard {
    pub card: Card,
    /// App cards: the TOTP secret in base32 (RFC 4648, no padding). Never shown again.
    pub secret: Option<String>,
    /// Printed cards: the static payload to print as a QR code.
    pub qr_payload: Option<String>,
}

/// What a card's secret is bound to when sealed.
pub(crate) fn seal_context(fund_id: &str, card_id: &str) -> String {
    format!("{fund_id}:{card_id}")
}

/// Why a card is not issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("pin: only a printed card has a PIN")]
    PinOnAppCard,
    #[error("pin: a printed card needs a PIN of 4 to 6 digits")]
    PinMissing,
    #[error("pin: {0}")]
    PinInvalid(String),
    #[error("member not found")]
    MemberNotFound,
    #[error("only an active member can be given a card")]
    MemberNotActive,
    /// A member asked for a printed card for themself.
    #[error("a printed card is issued by the fund's staff")]
    PrintedByStaff,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Other(#[from] ServiceError),
}

impl From<sqlx::Error> for IssueError {
    fn from(e: sqlx::Error) -> Self {
        IssueError::Store(StoreError::Db(e))
    }
}

impl IssueError {
    /// The stable code a client sees.
    pub fn code(&self) -> ErrorCode {
        match self {
            IssueError::PinOnAppCard => ErrorCode::InvalidField,
            IssueError::PinMissing => ErrorCode::MissingField,
            IssueError::PinInvalid(_) => ErrorCode::PinInvalid,
            IssueError::MemberNotFound => ErrorCode::NotFound,
            // The old spelling of `member_inactive`, kept here where it was always answered.
            IssueError::MemberNotActive => ErrorCode::MemberNotActive,
            IssueError::PrintedByStaff => ErrorCode::Forbidden,
            IssueError::Store(_) => ErrorCode::InternalError,
            IssueError::Other(e) => e.code(),
        }
    }
}

impl From<IssueError> for ServiceError {
    fn from(e: IssueError) -> Self {
        let code = e.code();
        match e {
            IssueError::PinOnAppCard => {
                ServiceError::field(code, "pin", "only a printed card has a PIN")
            }
            IssueError::PinMissing => {
                ServiceError::field(code, "pin", "a printed card needs a PIN of 4 to 6 digits")
            }
            IssueError::PinInvalid(m) => ServiceError::field(code, "pin", m),
            IssueError::MemberNotFound => ServiceError::not_found("member"),
            e @ (IssueError::MemberNotActive | IssueError::PrintedByStaff) => {
                ServiceError::refused(code, e.to_string())
            }
            IssueError::Store(s) => ServiceError::Store(s),
            IssueError::Other(e) => e,
        }
    }
}

/// Issues a card to an active member. A printed card needs a PIN of 4 to 6 digits; an app card
/// takes none and gets a fresh 256-bit secret, stored only sealed with the card key.
pub async fn issue(
    db: &Db,
    key: &CardKey,
    fund_id: &FundId,
    member_id: &MemberId,
    kind: CardKind,
    pin: Option<String>,
    created_by: &UserId,
) -> Result<IssuedCard, IssueError> {
    let id = CardId::new(new_id("card"));
    let (secret, secret_enc, pin_hash) = match (kind, pin) {
        (CardKind::App, None) => {
            let mut secret = [0u8; card::SECRET_BYTES];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
            let sealed = key.seal(&secret, &seal_context(fund_id, &id));
            (Some(card::secret_base32(&secret)), Some(sealed), None)
        }
        (CardKind::App, Some(_)) => return Err(IssueError::PinOnAppCard),
        (CardKind::Printed, None) => return Err(IssueError::PinMissing),
        (CardKind::Printed, Some(pin)) => {
            card::check_pin(&pin).map_err(|m| IssueError::PinInvalid(m.to_string()))?;
            (None, None, Some(pins::stored_form(key, fund_id, &id, &pin)))
        }
    };
    let mut tx = db.begin().await?;
    // The member's row is locked so that a suspension cannot slip between check and insert.
    let member = members::get_for_update(&mut tx, fund_id, member_id)
        .await?
        .ok_or(IssueError::MemberNotFound)?;
    if member.status != MemberStatus::Active {
        return Err(IssueError::MemberNotActive);
    }
    let now = now_micros();
    store::insert(
        &mut tx,
        fund_id,
        &NewCard {
            id: &id,
            member_id,
            kind,
            secret_enc: secret_enc.as_deref(),
            pin_hash: pin_hash.as_deref(),
            created_by,
            created_at: now,
        },
    )
    .await?;
    let card = store::get_for_update(&mut tx, fund_id, &id)
        .await?
        .ok_or(StoreError::NotFound)?;
    tx.commit().await?;
    let qr_payload = (kind == CardKind::Printed).then(|| card::printed_payload(&id));
    Ok(IssuedCard {
        card,
        secret,
        qr_payload,
    })
}

fn open_secret(key: &CardKey, fund_id: &str, card: &Card) -> Result<Vec<u8>, StoreError> {
    card.secret_enc
        .as_deref()
        .and_then(|sealed| key.open(sealed, &seal_context(fund_id, &card.id)))
        .ok_or_else(|| {
            StoreError::Corrupt(format!(
                "the secret of card {} does not open with the card key",
                card.id
            ))
        })
}

/// What the card's QR code holds at `now`: the code of the current step for an app
/// card, the static payload for a printed one.
pub fn current_payload(
    key: &CardKey,
    fund_id: &FundId,
    card: &Card,
    now: Instant,
) -> Result<String, StoreError> {
    match card.kind {
        CardKind::Printed => Ok(card::printed_payload(&card.id)),
        CardKind::App => {
            let secret = open_secret(key, fund_id, card)?;
            let step = card::step_at(now.micros().div_euclid(1_000_000));
            Ok(card::app_payload(&card.id, &card::totp(&secret, step)))
        }
    }
}

/// The card behind an accepted token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCard {
    pub card_id: CardId,
    pub member_id: MemberId,
    pub kind: CardKind,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Refused; nothing needs keeping after the rollback.
    #[error("declined: {0}")]
    Declined(Decline),
    /// The PIN of a printed card is wrong: roll back, then call [`record_wrong_pin`], which
    /// counts it and answers the decline (`pin_wrong` or `card_locked`).
    #[error("wrong PIN for card {card_id}")]
    WrongPin { card_id: CardId },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for VerifyError {
    fn from(e: sqlx::Error) -> Self {
        VerifyError::Store(StoreError::Db(e))
    }
}

/// Checks a QR token (and the PIN of a printed card) inside the caller's transaction; see the
/// module's documentation for how to call it.
///
/// App cards: the code of the current 30-second step or of the one before is accepted, once
/// (the step is recorded in `tx`); older codes are `token_expired`, a code that matches no
/// recent step `token_invalid`, a spent one `token_reused`. Printed cards: no PIN (no proof
/// from [`pins::prove`]) is `pin_required`; the proof is compared with the stored PIN, and an
/// old Argon2 hash it verified is replaced by the MAC form in `tx`.
#[tracing::instrument(skip(tx, key, token, pin))]
pub async fn verify_token(
    tx: &mut Tx,
    key: &CardKey,
    fund_id: &FundId,
    token: &str,
    pin: Option<&PinProof>,
    now: Instant,
) -> Result<VerifiedCard, VerifyError> {
    let now = now.micros();
    use VerifyError::Declined as D;
    let token = card::parse_token(token).ok_or(D(Decline::TokenInvalid))?;
    let card = store::get_for_update(tx, fund_id, token.card_id())
        .await?
        .ok_or(D(Decline::TokenInvalid))?;
    let kind_matches = matches!(
        (&token, card.kind),
        (Token::App { .. }, CardKind::App) | (Token::Printed { .. }, CardKind::Printed)
    );
    if !kind_matches {
        return Err(D(Decline::TokenInvalid));
    }
    if card.revoked_at.is_some() {
        return Err(D(Decline::CardRevoked));
    }
    if card.locked_at.is_some() {
        return Err(D(Decline::CardLocked));
    }
    match token {
        Token::App { code, .. } => {
            let secret = open_secret(key, fund_id, &card)?;
            let current = card::step_at(now.div_euclid(1_000_000));
            let step = card::matching_step(&secret, &code, current, card::EXPIRED_LOOKBACK_STEPS)
                .ok_or(D(Decline::TokenInvalid))?;
            if step < current - 1 {
                return Err(D(Decline::TokenExpired));
            }
            if !store::use_step(tx, fund_id, &card.id, step, now).await? {
                return Err(D(Decline::TokenReused));
            }
        }
        Token::Printed { .. } => {
            let proof = pin.ok_or(D(Decline::PinRequired))?;
            let stored = card
                .pin_hash
                .as_deref()
                .ok_or_else(|| StoreError::Corrupt(format!("card {} has no PIN", card.id)))?;
            match pins::check(proof, &card.id, stored)? {
                Checked::Wrong => {
                    return Err(VerifyError::WrongPin {
                        card_id: CardId::new(card.id),
                    })
                }
                Checked::Right { rewrite } => {
                    if let Some(mac) = rewrite {
                        store::replace_pin_hash(tx, fund_id, &card.id, stored, &mac).await?;
                    }
                }
            }
            store::reset_wrong_pins(tx, fund_id, &card.id).await?;
        }
    }
    Ok(VerifiedCard {
        card_id: CardId::new(card.id),
        member_id: MemberId::new(card.member_id),
        kind: card.kind,
    })
}

/// Counts a wrong PIN in its own transaction (call it after rolling back the redemption), and
/// locks the card when the fund's `pin_attempts` wrong PINs in a row are reached. Answers the
/// decline to give: `card_locked` when the card is now locked, else `pin_wrong`.
#[tracing::instrument(skip(db))]
pub async fn record_wrong_pin(
    db: &Db,
    fund_id: &FundId,
    card_id: &CardId,
) -> Result<Decline, StoreError> {
    let limit = i64::from(funds::settings(db, fund_id).await?.pin_attempts);
    let (fund_id, card_id) = (fund_id.to_string(), card_id.to_string());
    let locked = db
        .write(move |tx| {
            async move { store::add_wrong_pin(tx, &fund_id, &card_id, limit, now_micros()).await }
                .boxed()
        })
        .await?;
    Ok(if locked {
        Decline::CardLocked
    } else {
        Decline::PinWrong
    })
}

/// A card as its member and the staff see it: without its secret or PIN.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
// The OpenAPI document keeps the name its clients know.
#[schema(as = CardView)]
pub struct MemberCard {
    pub card_id: CardId,
    pub member_id: MemberId,
    pub kind: CardKind,
    pub status: CardStatus,
    /// Wrong PINs in a row (printed cards).
    pub wrong_pins: i64,
    pub created_at: Instant,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked_at: Option<Instant>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Instant>,
}

impl From<Card> for MemberCard {
    fn from(c: Card) -> MemberCard {
        MemberCard {
            status: CardStatus::of(c.locked_at, c.revoked_at),
            card_id: CardId::new(c.id),
            member_id: MemberId::new(c.member_id),
            kind: c.kind,
            wrong_pins: c.wrong_pins,
            created_at: Instant::from_micros(c.created_at),
            locked_at: c.locked_at.map(Instant::from_micros),
            revoked_at: c.revoked_at.map(Instant::from_micros),
        }
    }
}

/// One page of a member's cards, oldest first.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CardPage {
    pub items: Vec<MemberCard>,
    /// Pass as `cursor` for the next page.
    pub next_cursor: Option<String>,
}

/// What is asked to issue a card.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
// The OpenAPI document keeps the name its clients know.
#[schema(as = NewCardBody)]
pub struct NewCardRequest {
    pub kind: CardKind,
    /// Printed cards only: 4 to 6 digits.
    #[serde(default)]
    pub pin: Option<String>,
}

/// Who may see or change a member's cards: admins and treasurers every member's, a member
/// their own (another member's are "not found", so that ids cannot be probed); nobody else.
pub fn may_see_member(caller: &Caller, member: &MemberId) -> Result<(), ServiceError> {
    match caller.role() {
        Role::Admin | Role::Treasurer => Ok(()),
        Role::Member if caller.member() == Some(member) => Ok(()),
        Role::Member => Err(ServiceError::not_found("member")),
        _ => Err(Forbidden.into()),
    }
}

/// The card, if the caller may act on it: `staff` roles on every card, a member on their own
/// only (another's is "not found").
async fn visible_card(
    db: &Db,
    caller: &Caller,
    card: &CardId,
    staff: &[Role],
) -> Result<Card, ServiceError> {
    if caller.role() != Role::Member && !staff.contains(&caller.role()) {
        return Err(Forbidden.into());
    }
    let found = store::find(db, caller.fund(), card)
        .await?
        .ok_or_else(|| ServiceError::not_found("card"))?;
    if caller.role() == Role::Member
        && caller.member().map(|m| m.as_str()) != Some(&found.member_id)
    {
        return Err(ServiceError::not_found("card"));
    }
    Ok(found)
}

/// Issues a card to a member, for a caller who may ([`may_see_member`]): the staff issue both
/// kinds, a member only an `app` card for themself. An app card's secret is in the answer only.
#[tracing::instrument(skip(db, key, caller, request))]
pub async fn create(
    db: &Db,
    key: &CardKey,
    caller: &Caller,
    member: &MemberId,
    request: NewCardRequest,
) -> Result<IssuedCard, IssueError> {
    may_see_member(caller, member)?;
    if caller.role() == Role::Member && request.kind != CardKind::App {
        return Err(IssueError::PrintedByStaff);
    }
    let by = caller.user().ok_or(ServiceError::from(Forbidden))?;
    issue(
        db,
        key,
        caller.fund(),
        member,
        request.kind,
        request.pin,
        by,
    )
    .await
}

/// A member's cards, `limit` a page after `cursor` (the `next_cursor` of the page before).
#[tracing::instrument(skip(db, caller))]
pub async fn list(
    db: &Db,
    caller: &Caller,
    member: &MemberId,
    limit: i64,
    cursor: Option<&str>,
) -> Result<CardPage, ServiceError> {
    may_see_member(caller, member)?;
    let fund = caller.fund();
    members::find(db, fund, member)
        .await?
        .ok_or_else(|| ServiceError::not_found("member"))?;
    let listed = Listed::Cards { member_id: member };
    if let Some(cursor) = cursor {
        if !cursors::known(db, fund, listed, cursor).await? {
            return Err(ServiceError::invalid(vec![FieldError::new(
                "cursor",
                "not the next_cursor of a page of this list",
            )]));
        }
    }
    let mut rows = store::list_for_member(db, fund, member, cursor, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit.max(0) as usize);
    let next_cursor = more.then(|| rows.last().map(|c| c.id.clone())).flatten();
    Ok(CardPage {
        items: rows.into_iter().map(MemberCard::from).collect(),
        next_cursor,
    })
}

/// Revokes a card for good (admin, treasurer, the card's member).
#[tracing::instrument(skip(db, caller))]
pub async fn revoke(db: &Db, caller: &Caller, card: &CardId) -> Result<MemberCard, ServiceError> {
    visible_card(db, caller, card, &[Role::Admin, Role::Treasurer]).await?;
    let fund = caller.fund();
    let mut tx = db.begin().await?;
    store::revoke(&mut tx, fund, card, caller.actor(), now_micros()).await?;
    let revoked = store::get_for_update(&mut tx, fund, card)
        .await?
        .ok_or_else(|| ServiceError::not_found("card"))?;
    tx.commit().await?;
    Ok(revoked.into())
}

/// Unlocks a card locked by wrong PINs and resets the count (admin).
#[tracing::instrument(skip(db, caller))]
pub async fn unlock(db: &Db, caller: &Caller, card: &CardId) -> Result<MemberCard, ServiceError> {
    caller.require(&[Role::Admin])?;
    let fund = caller.fund();
    let mut tx = db.begin().await?;
    store::unlock(&mut tx, fund, card).await?;
    let unlocked = store::get_for_update(&mut tx, fund, card)
        .await?
        .ok_or_else(|| ServiceError::not_found("card"))?;
    tx.commit().await?;
    Ok(unlocked.into())
}

/// Why a card's QR code is not shown.
#[derive(Debug, thiserror::Error)]
pub enum QrError {
    /// The card itself is in the wrong state (the API answers 409, not a till's 422).
    #[error("the card was revoked")]
    Revoked,
    #[error(transparent)]
    Other(#[from] ServiceError),
}

impl From<StoreError> for QrError {
    fn from(e: StoreError) -> Self {
        QrError::Other(e.into())
    }
}

impl From<QrError> for ServiceError {
    fn from(e: QrError) -> Self {
        match e {
            e @ QrError::Revoked => ServiceError::refused(ErrorCode::CardRevoked, e.to_string()),
            QrError::Other(e) => e,
        }
    }
}

/// The QR code, as SVG, of what the card shows now (the card's member, admin): for an app card
/// the code of the current 30-second step, for a printed card its static payload.
#[tracing::instrument(skip(db, key, caller))]
pub async fn qr(db: &Db, key: &CardKey, caller: &Caller, card: &CardId) -> Result<String, QrError> {
    let found = visible_card(db, caller, card, &[Role::Admin]).await?;
    if found.revoked_at.is_some() {
        return Err(QrError::Revoked);
    }
    let payload = current_payload(key, caller.fund(), &found, Instant::now())?;
    Ok(qr_svg(&payload)?)
}

/// A QR code as SVG: error correction M, the standard 4-module quiet zone, 8 px modules.
pub fn qr_svg(payload: &str) -> Result<String, ServiceError> {
    let code = qrcode::QrCode::with_error_correction_level(payload, qrcode::EcLevel::M)
        .map_err(ServiceError::internal)?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .quiet_zone(true)
        .module_dimensions(8, 8)
        .build())
}
