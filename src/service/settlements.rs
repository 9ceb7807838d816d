//! Month end: settling what the fund owes each shop, the SEPA credit-transfer file that pays
//! them, bank-statement import and reconciliation.
//!
//! A settlement posts nothing to the ledger: each sale already credited the shop's 401 account.
//! The payout entry (401 shop / 512, kind `shop_payout`, journal BQ) is posted when the bank
//! statement shows the transfer, matched by its EndToEndId. Members' transfers found on the
//! statement by their payment reference are recorded as contribution payments (512 / 411).
//!
//! The API and the treasurer's pages call the same functions here and read the same typed
//! results; the serde form of [`Settlement`] is the API's answer (and what an idempotent
//! request stores and replays).

use std::collections::HashMap;

use chrono::NaiveDate;
use futures_util::FutureExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::caller::Caller;
use crate::domain::ledger::{AccountCode, EntryBuilder, General, Journal};
use crate::domain::member::find_payment_references;
use crate::domain::sepa::{CreditTransfer, Debtor, Transfer};
use crate::domain::statement::{parse_camt053, parse_csv, Line, Statement, StatementError};
use crate::domain::{new_id, ErrorCode, FieldError};
use crate::domain::{Cents, FundId, Instant, MemberId, ShopId, SignedCents, UserId};
use crate::service::error::ServiceError;
use crate::service::idempotent::{self, IdempotencyError, IdempotencyKey, Recorded};
use crate::store::cursors::{self, Listed};
use crate::store::settlements as store;
use crate::store::{bank, funds, ledger, Db, StoreError, Tx};

/// A new EndToEndId: `CC` and 26 time-ordered letters and digits (28 characters, all in the
/// SEPA set, unique by construction and by a UNIQUE constraint).
pub fn new_end_to_end_id() -> String {
    let id = new_id("cc");
    id.replace('_', "").to_uppercase()
}

// ---- What a settlement is, as the API and the pages read it ---------------------------------

/// Whether the bank statement has shown a line's transfer yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineStatus {
    Unpaid,
    Paid,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SettlementLine {
    pub shop_id: ShopId,
    pub shop_name: String,
    /// Sales less refunds, less reversed sales, plus reversed refunds: what the transfer pays.
    pub amount: Cents,
    /// The transfer's EndToEndId (35 characters at most), which the bank statement shows.
    pub end_to_end_id: String,
    /// `unpaid` until a bank statement shows the transfer, then `paid`.
    pub status: LineStatus,
    pub redemptions: i64,
    pub refunds: i64,
    /// Reversals (by the treasurer) of sales and refunds that this line nets.
    pub reversals: i64,
    pub paid_at: Option<Instant>,
}

/// A settlement with its lines: the answer of `POST /settlements` and `GET /settlements/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Settlement {
    pub id: String,
    pub cutoff: Instant,
    pub total: Cents,
    pub created_at: Instant,
    pub lines: Vec<SettlementLine>,
}

/// A settlement in a list, without its lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct SettlementSummary {
    pub id: String,
    pub cutoff: Instant,
    pub total: Cents,
    pub created_at: Instant,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct SettlementPage {
    pub items: Vec<SettlementSummary>,
    pub next_cursor: Option<String>,
}

/// A stored amount that must not be negative (a settlement line, a total).
fn owed(cents: i64) -> Result<Cents, ServiceError> {
    Cents::from_cents(cents).map_err(ServiceError::internal)
}

impl SettlementLine {
    fn from_store(l: store::SettlementLine) -> Result<SettlementLine, ServiceError> {
        Ok(SettlementLine {
            amount: owed(l.amount)?,
            shop_id: ShopId::new(l.shop_id),
            shop_name: l.shop_name,
            end_to_end_id: l.end_to_end_id,
            status: if l.status == "paid" {
                LineStatus::Paid
            } else {
                LineStatus::Unpaid
            },
            redemptions: l.redemptions,
            refunds: l.refunds,
            reversals: l.reversals,
            paid_at: l.paid_at.map(Instant::from_micros),
        })
    }
}

impl Settlement {
    fn from_store(s: store::Settlement) -> Result<Settlement, ServiceError> {
        Ok(Settlement {
            total: owed(s.total)?,
            cutoff: Instant::from_micros(s.cutoff),
            created_at: Instant::from_micros(s.created_at),
            lines: s
                .lines
                .into_iter()
                .map(SettlementLine::from_store)
                .collect::<Result<_, _>>()?,
            id: s.id,
        })
    }
}

// ---- Settling ---------------------------------------------------------------------------------

/// Why no settlement is made.
#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    #[error("cutoff: must not be later than now: sales after now are not known yet")]
    CutoffInFuture,
    #[error("no shop is owed anything for sales before {}", .cutoff.rfc3339())]
    NothingToSettle { cutoff: Instant },
    #[error(transparent)]
    Idempotency(#[from] IdempotencyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Other(#[from] ServiceError),
}

impl From<sqlx::Error> for SettleError {
    fn from(e: sqlx::Error) -> Self {
        SettleError::Store(StoreError::Db(e))
    }
}

impl SettleError {
    /// The stable code a client sees.
    pub fn code(&self) -> ErrorCode {
        match self {
            SettleError::CutoffInFuture => ErrorCode::CutoffInFuture,
            SettleError::NothingToSettle { .. } => ErrorCode::NothingToSettle,
            SettleError::Idempotency(IdempotencyError::Reused) => ErrorCode::IdempotencyKeyReused,
            SettleError::Idempotency(IdempotencyError::Store(_)) | SettleError::Store(_) => {
                ErrorCode::InternalError
            }
            SettleError::Other(e) => e.code(),
        }
    }
}

impl From<SettleError> for ServiceError {
    fn from(e: SettleError) -> Self {
        match e {
            SettleError::CutoffInFuture => ServiceError::field(
                ErrorCode::CutoffInFuture,
                "cutoff",
                "must not be later than now: sales after now are not known yet",
            ),
            e @ SettleError::NothingToSettle { .. } => {
                ServiceError::refused(ErrorCode::NothingToSettle, e.to_string())
            }
            SettleError::Idempotency(i) => i.into(),
            SettleError::Store(s) => ServiceError::Store(s),
            SettleError::Other(e) => e,
        }
    }
}

/// What a settlement request says: the instant before which sales and refunds are settled.
/// Its serde form is what an idempotent request is compared by.
#[derive(Clone, Debug, Serialize)]
pub struct SettleRequest {
    /// Compared to the microsecond (the wire form of an instant stops at the second): two
    /// cutoffs typed a moment apart are two requests.
    #[serde(serialize_with = "as_micros")]
    pub cutoff: Instant,
}

fn as_micros<S: serde::Serializer>(i: &Instant, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(i.micros())
}

const SETTLE_ROUTE: &str = "POST /api/v1/settlements";

/// Settles the shops up to `cutoff` for `caller`. With a key, a retry (a lost answer, a form
/// sent twice) gets the first settlement back, marked as a replay, instead of
/// `nothing_to_settle`; without one, each call settles what is left.
#[tracing::instrument(skip(db, caller, key))]
pub async fn create(
    db: &Db,
    caller: &Caller,
    key: Option<&IdempotencyKey>,
    request: SettleRequest,
) -> Result<Recorded<Settlement>, SettleError> {
    let fund = caller.fund().clone();
    let by = UserId::new(caller.actor());
    let Some(key) = key else {
        let value = settle(db, &fund, request.cutoff, &by).await?;
        return Ok(Recorded {
            value,
            replayed: false,
        });
    };
    let cutoff = request.cutoff;
    idempotent::run(db, caller, key, SETTLE_ROUTE, &request, move |tx| {
        async move { settle_in(tx, &fund, cutoff, &by).await }.boxed()
    })
    .await
}

/// Settles every unsettled redemption and refund before `cutoff`: one line per shop owed
/// something. A cutoff in the future is refused: sales after now cannot be known.
#[tracing::instrument(skip(db))]
pub async fn settle(
    db: &Db,
    fund: &FundId,
    cutoff: Instant,
    by: &UserId,
) -> Result<Settlement, SettleError> {
    let mut tx = db.begin().await?;
    match settle_in(&mut tx, fund, cutoff, by).await {
        Ok(settlement) => {
            tx.commit().await?;
            Ok(settlement)
        }
        Err(e) => {
            tx.rollback().await?;
            Err(e)
        }
    }
}

/// [`settle`] in the caller's transaction (an idempotent request's); nothing is written when
/// it fails, as long as the caller rolls back.
pub async fn settle_in(
    tx: &mut Tx,
    fund: &FundId,
    cutoff: Instant,
    by: &UserId,
) -> Result<Settlement, SettleError> {
    let now = Instant::now();
    if cutoff > now {
        return Err(SettleError::CutoffInFuture);
    }
    store::lock_fund(tx, fund).await?;
    let id = new_id("stl");
    let nets = store::claim(tx, fund, &id, cutoff.micros()).await?;
    if nets.is_empty() {
        return Err(SettleError::NothingToSettle { cutoff });
    }
    let lines: Vec<store::SettlementLine> = nets
        .iter()
        .map(|n| store::SettlementLine {
            settlement_id: id.clone(),
            shop_id: n.shop_id.clone(),
            shop_name: String::new(),
            amount: n.net(),
            redemptions: n.redemptions,
            refunds: n.refunds,
            reversals: n.reversals,
            end_to_end_id: new_end_to_end_id(),
            status: "unpaid".into(),
            paid_entry_id: None,
            bank_line_id: None,
            paid_at: None,
        })
        .collect();
    let settlement = store::Settlement {
        id: id.clone(),
        cutoff: cutoff.micros(),
        total: lines.iter().map(|l| l.amount).sum(),
        created_by: by.to_string(),
        created_at: now.micros(),
        lines,
    };
    store::insert(tx, fund, &settlement).await?;
    let stored = store::get_on(&mut *tx, fund, &id)
        .await?
        .ok_or_else(|| ServiceError::internal("settlement vanished after its insert"))?;
    Ok(Settlement::from_store(stored)?)
}

// ---- Reading settlements ----------------------------------------------------------------------

/// Settlements, newest first, `limit` a page; `cursor` is the `next_cursor` of the page before
/// (anything else is `validation_failed` on `cursor`).
pub async fn list(
    db: &Db,
    fund: &FundId,
    limit: i64,
    cursor: Option<String>,
) -> Result<SettlementPage, ServiceError> {
    if let Some(c) = &cursor {
        if !cursors::known(db, fund, Listed::Settlements, c).await? {
            return Err(ServiceError::invalid(vec![FieldError::new(
                "cursor",
                "not the next_cursor of a page of this list",
            )]));
        }
    }
    let mut rows = store::list(db, fund, cursor.as_deref(), limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit.max(0) as usize);
    let next_cursor = if more {
        rows.last().map(|s| s.id.clone())
    } else {
        None
    };
    let items = rows
        .into_iter()
        .map(|s| {
            Ok(SettlementSummary {
                total: owed(s.total)?,
                cutoff: Instant::from_micros(s.cutoff),
                created_at: Instant::from_micros(s.created_at),
                id: s.id,
            })
        })
        .collect::<Result<_, ServiceError>>()?;
    Ok(SettlementPage { items, next_cursor })
}

/// One settlement with its lines and their payment state; `not_found` for another fund's.
pub async fn get(db: &Db, fund: &FundId, id: &str) -> Result<Settlement, ServiceError> {
    let s = store::get(db, fund, id)
        .await?
        .ok_or_else(|| ServiceError::not_found("settlement"))?;
    Settlement::from_store(s)
}

// ---- The SEPA file ----------------------------------------------------------------------------

/// A settlement's transfer file: its name and its XML.
#[derive(Clone, Debug)]
pub struct SepaFile {
    pub file_name: String,
    pub xml: String,
}

/// The pain.001.001.03 file paying a settlement's lines from the fund's account.
pub async fn sepa_file(db: &Db, fund: &FundId, id: &str) -> Result<SepaFile, ServiceError> {
    let settings = funds::settings(db, fund).await?;
    let iban = crate::domain::bank::normalize_iban(&settings.iban);
    if iban.is_empty() || crate::domain::bank::validate_iban(&iban).is_err() {
        return Err(ServiceError::refused(
            ErrorCode::FundIbanMissing,
            "the fund has no valid IBAN in its settings (PUT /api/v1/settings): the transfer \
             file needs the account to pay from",
        ));
    }
    let s = store::get(db, fund, id)
        .await?
        .ok_or_else(|| ServiceError::not_found("settlement"))?;
    let payees: HashMap<String, store::Payee> = store::payees(db, fund, id)
        .await?
        .into_iter()
        .map(|p| (p.shop_id.clone(), p))
        .collect();
    // The cutoff as the shops read it: in the fund's time zone.
    let cutoff = chrono::DateTime::from_timestamp_micros(s.cutoff)
        .unwrap_or_default()
        .with_timezone(&crate::domain::timezone());
    let mut transfers = Vec::with_capacity(s.lines.len());
    for l in &s.lines {
        let payee = payees
            .get(&l.shop_id)
            .ok_or_else(|| ServiceError::internal(format!("settled shop {} is gone", l.shop_id)))?;
        transfers.push(Transfer {
            end_to_end_id: l.end_to_end_id.clone(),
            amount: owed(l.amount)?,
            creditor_name: payee.legal_name.clone(),
            creditor_iban: crate::domain::bank::normalize_iban(&payee.iban),
            creditor_bic: payee.bic.clone().filter(|b| !b.is_empty()),
            remittance: format!(
                "{} - {} : achats jusqu'au {} ({} achats, {} remboursements)",
                settings.fund_name,
                payee.name,
                cutoff.format("%d/%m/%Y %H:%M"),
                l.redemptions,
                l.refunds
            ),
        });
    }
    let created = chrono::DateTime::from_timestamp_micros(s.created_at).unwrap_or_default();
    let file = CreditTransfer {
        message_id: s.id.clone(),
        created_at: created.naive_utc(),
        execution_date: crate::domain::local_date(s.created_at).max(crate::domain::today()),
        debtor: Debtor {
            name: settings.fund_name.clone(),
            iban,
            bic: settings.bic.clone().filter(|b| !b.is_empty()),
        },
        transfers,
    };
    Ok(SepaFile {
        file_name: format!("virements-{}.xml", crate::domain::sepa::sepa_id(id)),
        xml: file.to_xml(),
    })
}

// ---- Bank statements --------------------------------------------------------------------------

/// What an import did: the API's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ImportOutcome {
    /// The stored statement; null when every line had been imported before.
    pub statement_id: Option<String>,
    /// New lines stored.
    pub imported: i64,
    /// Lines already imported by an earlier statement (nothing done for them).
    pub duplicates: i64,
    /// New lines matched: payouts by EndToEndId, contributions by payment reference.
    pub matched: i64,
    pub unmatched: i64,
}

/// How a statement's text is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatementFormat {
    /// camt.053 (versions .001.02 and .001.08).
    Camt053,
    /// `date,amount,reference,counterparty`, negative = money out.
    Csv,
}

/// 400 for a body that cannot be read, 422 for a statement that is not valid or not balanced.
impl From<StatementError> for ServiceError {
    fn from(e: StatementError) -> Self {
        match e {
            StatementError::Unreadable(m) => {
                ServiceError::refused(ErrorCode::StatementUnreadable, m)
            }
            StatementError::Invalid(m) => ServiceError::refused(ErrorCode::StatementInvalid, m),
            e @ StatementError::TooDeep { .. } => ServiceError::refused(
                ErrorCode::InputTooDeep,
                format!("{e}; nothing was imported"),
            ),
            StatementError::TooLarge(m) => ServiceError::refused(
                ErrorCode::PayloadTooLarge,
                format!("{m}; nothing was imported"),
            ),
            e @ StatementError::Unbalanced { .. } => ServiceError::refused(
                ErrorCode::StatementUnbalanced,
                format!("{e}; nothing was imported"),
            ),
        }
    }
}

/// The largest statement read: a month of statements is larger than a usual request.
pub const STATEMENT_MAX_BYTES: usize = 16 * 1024 * 1024;

/// Reads a statement file (UTF-8, in `format`, at most [`STATEMENT_MAX_BYTES`]) and imports
/// it: see [`import_statement`].
pub async fn import_file(
    db: &Db,
    fund: &FundId,
    by: &UserId,
    format: StatementFormat,
    bytes: &[u8],
) -> Result<ImportOutcome, ServiceError> {
    if bytes.len() > STATEMENT_MAX_BYTES {
        return Err(ServiceError::refused(
            ErrorCode::PayloadTooLarge,
            "a statement may be at most 16 MiB: split it",
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| {
        ServiceError::refused(
            ErrorCode::StatementUnreadable,
            "the statement must be UTF-8 text",
        )
    })?;
    let statement = match format {
        StatementFormat::Camt053 => parse_camt053(text),
        StatementFormat::Csv => parse_csv(text),
    }?;
    import_statement(db, fund, by, &statement).await
}

/// Imports a parsed statement in one transaction: all of it or nothing. Lines seen before
/// (same bank reference, else same date, amount and text) are counted as duplicates.
#[tracing::instrument(skip(db, statement), fields(format = %statement.format, lines = statement.lines.len()))]
pub async fn import_statement(
    db: &Db,
    fund: &FundId,
    by: &UserId,
    statement: &Statement,
) -> Result<ImportOutcome, ServiceError> {
    let now = Instant::now();
    let mut tx = db.begin().await?;
    let statement_id = new_id("bst");
    bank::insert_statement(
        &mut tx,
        fund,
        &bank::NewStatement {
            id: &statement_id,
            format: &statement.format,
            bank_id: statement.bank_id.as_deref(),
            opening: statement.opening,
            closing: statement.closing,
            imported_by: by,
            now: now.micros(),
        },
    )
    .await?;
    let mut outcome = ImportOutcome::default();
    let keys = dedupe_keys(&statement.lines);
    for (line, key) in statement.lines.iter().zip(&keys) {
        let Some(line_id) = store_line(&mut tx, fund, &statement_id, line, key, now).await? else {
            outcome.duplicates += 1;
            continue;
        };
        outcome.imported += 1;
        let matched = if line.amount < 0 {
            match_payout(&mut tx, fund, &line_id, line, now).await?
        } else {
            match_contribution(&mut tx, fund, &line_id, line).await?
        };
        if matched {
            outcome.matched += 1;
        } else {
            outcome.unmatched += 1;
        }
    }
    if outcome.imported == 0 {
        tx.rollback().await?;
        return Ok(outcome);
    }
    bank::set_statement_counts(
        &mut tx,
        fund,
        &statement_id,
        outcome.imported,
        outcome.duplicates,
    )
    .await?;
    tx.commit().await?;
    outcome.statement_id = Some(statement_id);
    Ok(outcome)
}

/// Each line's key against a second import. Two identical lines in one statement (two equal
/// transfers the same day) are two movements: the rank keeps them apart, and stays the same
/// when the file comes again.
fn dedupe_keys(lines: &[Line]) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    lines
        .iter()
        .map(|line| {
            let base = dedupe_key(line);
            let rank = seen.entry(base.clone()).or_default();
            *rank += 1;
            if *rank == 1 {
                base
            } else {
                format!("{base}#{rank}")
            }
        })
        .collect()
}

fn dedupe_key(line: &Line) -> String {
    match &line.bank_ref {
        Some(r) if !r.is_empty() => format!("ref:{r}"),
        _ => format!(
            "dar:{}|{}|{}",
            line.booked_on.format("%Y-%m-%d"),
            line.amount,
            line.reference.trim()
        ),
    }
}

/// Stores one line of a statement; `None` when a line with its key was imported before.
async fn store_line(
    tx: &mut Tx,
    fund: &FundId,
    statement_id: &str,
    line: &Line,
    key: &str,
    now: Instant,
) -> Result<Option<String>, ServiceError> {
    let line_id = new_id("bkl");
    let booked_on = line.booked_on.format("%Y-%m-%d").to_string();
    let inserted = bank::insert_line(
        tx,
        fund,
        &bank::NewLine {
            id: &line_id,
            statement_id,
            booked_on: &booked_on,
            amount: line.amount,
            reference: &line.reference,
            counterparty: line.counterparty.as_deref(),
            bank_ref: line.bank_ref.as_deref(),
            end_to_end_id: line.end_to_end_id.as_deref(),
            dedupe_key: key,
            now: now.micros(),
        },
    )
    .await?;
    Ok(inserted.then_some(line_id))
}

/// A debit whose EndToEndId (or, from a CSV, a word of its text) is an unpaid settlement line
/// of the same amount: the line is paid, 401 shop / 512.
async fn match_payout(
    tx: &mut Tx,
    fund: &FundId,
    line_id: &str,
    line: &Line,
    now: Instant,
) -> Result<bool, ServiceError> {
    let mut candidates: Vec<&str> = line.end_to_end_id.iter().map(String::as_str).collect();
    candidates.extend(
        line.reference
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| w.len() >= 10 && w.len() <= 35),
    );
    let debit = Debit {
        line_id,
        amount: line.amount,
        booked_on: line.booked_on,
    };
    for e2e in candidates {
        // Same id, another amount: a human must look (the reconciliation lists both).
        if pay(tx, fund, &debit, e2e, now).await? == Paid::Yes {
            return Ok(true);
        }
    }
    Ok(false)
}

#[derive(Debug, PartialEq, Eq)]
enum Paid {
    Yes,
    /// No unpaid settlement line has this EndToEndId.
    NoSuchLine,
    /// The settlement line is for another amount than the debit.
    OtherAmount(i64),
}

/// A bank line taking money out of the fund's account.
struct Debit<'a> {
    line_id: &'a str,
    /// Negative.
    amount: i64,
    booked_on: NaiveDate,
}

/// Books `debit` as the payment of the unpaid settlement line `e2e` when the amounts agree:
/// 401 shop / 512, the line paid, the bank line matched.
async fn pay(
    tx: &mut Tx,
    fund: &FundId,
    debit: &Debit<'_>,
    e2e: &str,
    now: Instant,
) -> Result<Paid, ServiceError> {
    let Some(found) = store::unpaid_line_for_update(tx, fund, e2e).await? else {
        return Ok(Paid::NoSuchLine);
    };
    if found.amount != -debit.amount {
        return Ok(Paid::OtherAmount(found.amount));
    }
    let amount = owed(found.amount)?;
    let entry = EntryBuilder::new(
        Journal::Bank,
        "shop_payout",
        debit.booked_on,
        &format!("Paiement commerce — {}", found.shop_name),
    )
    .reference(found.end_to_end_id.clone())
    .debit(
        AccountCode::auxiliary(General::Shops, &found.shop_id),
        amount,
    )
    .credit(AccountCode::general(General::Bank), amount)
    .build()
    .map_err(ServiceError::internal)?;
    let posted = ledger::post(tx, fund, &entry).await?;
    let paid = store::mark_paid(
        tx,
        fund,
        &found.end_to_end_id,
        posted.entry_id,
        debit.line_id,
        now.micros(),
    )
    .await?;
    if !paid {
        return Err(ServiceError::internal(
            "locked settlement line was paid meanwhile",
        ));
    }
    bank::set_match(
        tx,
        fund,
        debit.line_id,
        "payout",
        &found.end_to_end_id,
        posted.entry_id,
    )
    .await?;
    Ok(Paid::Yes)
}

/// A credit whose text holds a member's payment reference: a contribution payment by transfer,
/// recorded by the same service as a payment entered by hand.
async fn match_contribution(
    tx: &mut Tx,
    fund: &FundId,
    line_id: &str,
    line: &Line,
) -> Result<bool, ServiceError> {
    for reference in find_payment_references(&line.reference) {
        let Some(member) = bank::member_by_payment_reference(tx, fund, &reference).await? else {
            continue;
        };
        let credit = Credit {
            line_id,
            amount: line.amount,
            booked_on: line.booked_on,
            bank_reference: bank_reference(line.bank_ref.as_deref(), &line.reference),
        };
        contribution(tx, fund, &credit, &MemberId::new(member)).await?;
        return Ok(true);
    }
    Ok(false)
}

/// What a contribution payment quotes of its bank line: the bank's reference, else the
/// transfer's text (140 characters at most).
fn bank_reference(bank_ref: Option<&str>, text: &str) -> String {
    bank_ref.map_or_else(|| text.chars().take(140).collect(), str::to_string)
}

/// A bank line bringing money into the fund's account.
struct Credit<'a> {
    line_id: &'a str,
    /// Positive.
    amount: i64,
    booked_on: NaiveDate,
    bank_reference: String,
}

/// Books `credit` as `member`'s contribution paid by transfer.
async fn contribution(
    tx: &mut Tx,
    fund: &FundId,
    credit: &Credit<'_>,
    member: &MemberId,
) -> Result<(), ServiceError> {
    let payment = super::contributions::record_payment(
        tx,
        fund,
        member,
        owed(credit.amount)?,
        "transfer",
        credit.booked_on,
        Some(credit.bank_reference.clone()),
    )
    .await?;
    bank::set_match(
        tx,
        fund,
        credit.line_id,
        "contribution",
        &payment.id,
        payment.entry_id,
    )
    .await?;
    Ok(())
}

// ---- Matching by hand -------------------------------------------------------------------------

/// What the treasurer says a bank line is, when the automatic matching found nothing (a
/// member who mistyped the payment reference, a payout the bank showed before the settlement
/// was recorded...).
#[derive(Clone, Debug)]
pub enum ManualMatch {
    /// A debit: the payment of this settlement line (EndToEndId).
    Payout(String),
    /// A credit: this member's contribution.
    Contribution(MemberId),
    /// A credit: the contribution of the member a person names by number (`42`) or payment
    /// reference (`RF47M000042`, any case, spaces ignored); `member_not_found` when nobody has
    /// it.
    NamedMember(String),
}

/// What a bank line was matched to: the API's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Matched {
    pub bank_line_id: String,
    /// `payout` or `contribution`.
    pub matched_kind: String,
    /// The EndToEndId paid, or the contribution payment's id.
    pub matched_id: String,
    pub entry_id: i64,
}

/// Matches an unmatched bank line by hand, booking what the automatic matching would have.
pub async fn match_line(
    db: &Db,
    fund: &FundId,
    line_id: &str,
    target: ManualMatch,
) -> Result<Matched, ServiceError> {
    let mut tx = db.begin().await?;
    let result = match_line_in(&mut tx, fund, line_id, target).await;
    match result {
        Ok(m) => {
            tx.commit().await?;
            Ok(m)
        }
        Err(e) => {
            tx.rollback().await?;
            Err(e)
        }
    }
}

async fn match_line_in(
    tx: &mut Tx,
    fund: &FundId,
    line_id: &str,
    target: ManualMatch,
) -> Result<Matched, ServiceError> {
    let (line, matched) = bank::line_for_update(tx, fund, line_id)
        .await?
        .ok_or_else(|| ServiceError::not_found("bank line"))?;
    if let Some((kind, id, _)) = matched {
        return Err(ServiceError::refused(
            ErrorCode::BankLineAlreadyMatched,
            format!("this bank line is already matched ({kind} {id})"),
        ));
    }
    let booked_on: NaiveDate = line
        .booked_on
        .parse()
        .map_err(|_| ServiceError::internal(format!("bank line {line_id} date")))?;
    match target {
        ManualMatch::Payout(e2e) => {
            let debit = Debit {
                line_id,
                amount: line.amount,
                booked_on,
            };
            pay_by_hand(tx, fund, &debit, &e2e).await?;
        }
        ManualMatch::Contribution(member) => {
            contribution_by_hand(tx, fund, &line, booked_on, &member).await?;
        }
        ManualMatch::NamedMember(text) => {
            let member = bank::member_by_number_or_reference(tx, fund, &text)
                .await?
                .ok_or_else(|| {
                    ServiceError::field(
                        ErrorCode::MemberNotFound,
                        "member_id",
                        "no member has this number or payment reference",
                    )
                })?;
            contribution_by_hand(tx, fund, &line, booked_on, &MemberId::new(member)).await?;
        }
    }
    let (_, matched) = bank::line_for_update(tx, fund, line_id)
        .await?
        .ok_or_else(|| ServiceError::internal("bank line vanished"))?;
    let (matched_kind, matched_id, entry_id) =
        matched.ok_or_else(|| ServiceError::internal("bank line not matched after its match"))?;
    Ok(Matched {
        bank_line_id: line_id.to_string(),
        matched_kind,
        matched_id,
        entry_id,
    })
}

/// A debit said to pay the settlement line `e2e`: refused unless it is a debit of that line's
/// amount.
async fn pay_by_hand(
    tx: &mut Tx,
    fund: &FundId,
    debit: &Debit<'_>,
    e2e: &str,
) -> Result<(), ServiceError> {
    if debit.amount >= 0 {
        return Err(ServiceError::field(
            ErrorCode::WrongDirection,
            "end_to_end_id",
            "this line is a credit: a payout to a shop is a debit",
        ));
    }
    match pay(tx, fund, debit, e2e, Instant::now()).await? {
        Paid::Yes => Ok(()),
        Paid::NoSuchLine => Err(ServiceError::field(
            ErrorCode::SettlementLineNotFound,
            "end_to_end_id",
            "no unpaid settlement line has this EndToEndId",
        )),
        Paid::OtherAmount(owed_cents) => Err(ServiceError::field(
            ErrorCode::AmountMismatch,
            "end_to_end_id",
            format!(
                "this settlement line is for {}, the bank line for {}",
                owed(owed_cents)?,
                owed(-debit.amount)?
            ),
        )),
    }
}

/// A credit said to be `member`'s contribution: refused unless it is a credit.
async fn contribution_by_hand(
    tx: &mut Tx,
    fund: &FundId,
    line: &bank::BankLine,
    booked_on: NaiveDate,
    member: &MemberId,
) -> Result<(), ServiceError> {
    if line.amount <= 0 {
        return Err(ServiceError::field(
            ErrorCode::WrongDirection,
            "member_id",
            "this line is a debit: a contribution is a credit",
        ));
    }
    let credit = Credit {
        line_id: &line.id,
        amount: line.amount,
        booked_on,
        bank_reference: bank_reference(line.bank_ref.as_deref(), &line.reference),
    };
    contribution(tx, fund, &credit, member).await
}

// ---- Reconciliation ---------------------------------------------------------------------------

/// A bank line as the reconciliation shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct BankLine {
    pub id: String,
    pub statement_id: String,
    #[schema(value_type = String, example = "2026-11-30")]
    pub booked_on: String,
    /// Signed: negative is money out of the fund's account.
    pub amount: SignedCents,
    pub reference: String,
    pub counterparty: Option<String>,
    pub bank_ref: Option<String>,
    pub end_to_end_id: Option<String>,
}

/// A settlement line not yet seen on a statement, with its settlement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct UnpaidLine {
    pub settlement_id: String,
    #[serde(flatten)]
    pub line: SettlementLine,
}

/// What is left to reconcile on both sides: the API's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Reconciliation {
    /// Bank lines no payout or member payment was found for.
    pub unmatched_bank_lines: Vec<BankLine>,
    /// Transfers to shops not yet seen on a statement.
    pub unpaid_settlement_lines: Vec<UnpaidLine>,
    /// Sum of the unmatched bank lines (signed).
    pub unmatched_total: SignedCents,
    pub unpaid_total: Cents,
}

pub async fn reconciliation(db: &Db, fund: &FundId) -> Result<Reconciliation, ServiceError> {
    let bank_lines = bank::unmatched(db, fund).await?;
    let unpaid = store::unpaid_lines(db, fund).await?;
    let unmatched_total = SignedCents::from_cents(bank_lines.iter().map(|l| l.amount).sum());
    let unpaid_total = owed(unpaid.iter().map(|l| l.amount).sum())?;
    Ok(Reconciliation {
        unmatched_bank_lines: bank_lines
            .into_iter()
            .map(|l| BankLine {
                amount: SignedCents::from_cents(l.amount),
                id: l.id,
                statement_id: l.statement_id,
                booked_on: l.booked_on,
                reference: l.reference,
                counterparty: l.counterparty,
                bank_ref: l.bank_ref,
                end_to_end_id: l.end_to_end_id,
            })
            .collect(),
        unpaid_settlement_lines: unpaid
            .into_iter()
            .map(|l| {
                Ok(UnpaidLine {
                    settlement_id: l.settlement_id.clone(),
                    line: SettlementLine::from_store(l)?,
                })
            })
            .collect::<Result<_, ServiceError>>()?,
        unmatched_total,
        unpaid_total,
    })
}

/// A camt.053 statement (version .001.02 or .001.08) showing the payment of `lines` from the
/// fund's account: one booked debit per line, with its EndToEndId. The demo imports one to fill
/// the reconciliation screen; tests build theirs the same way.
pub fn camt053_for_payouts(
    version: &str,
    iban: &str,
    statement_id: &str,
    opening: i64,
    booked_on: NaiveDate,
    lines: &[(String, String, i64)],
) -> String {
    use std::fmt::Write;
    let v08 = version == "08";
    let money = |c: i64| crate::domain::money::format_signed_cents(c.abs());
    let side = |c: i64| if c < 0 { "DBIT" } else { "CRDT" };
    let date = booked_on.format("%Y-%m-%d");
    let total: i64 = lines.iter().map(|l| l.2).sum();
    let closing = opening - total;
    let status = if v08 {
        "<Sts><Cd>BOOK</Cd></Sts>"
    } else {
        "<Sts>BOOK</Sts>"
    };
    let mut x = String::new();
    let _ = write!(
        x,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version}\">\n\
         <BkToCstmrStmt>\n<GrpHdr><MsgId>{statement_id}</MsgId><CreDtTm>{date}T18:00:00</CreDtTm></GrpHdr>\n\
         <Stmt>\n<Id>{statement_id}</Id><ElctrncSeqNb>1</ElctrncSeqNb><CreDtTm>{date}T18:00:00</CreDtTm>\n\
         <Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>EUR</Ccy></Acct>\n"
    );
    for (code, amount) in [("OPBD", opening), ("CLBD", closing)] {
        let _ = writeln!(
            x,
            "<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy=\"EUR\">{}</Amt>\
             <CdtDbtInd>{}</CdtDbtInd><Dt><Dt>{date}</Dt></Dt></Bal>",
            money(amount),
            side(amount)
        );
    }
    for (i, (e2e, name, amount)) in lines.iter().enumerate() {
        let name = crate::domain::sepa::sepa_text(name, 70);
        let party = if v08 {
            format!("<Cdtr><Pty><Nm>{name}</Nm></Pty></Cdtr>")
        } else {
            format!("<Cdtr><Nm>{name}</Nm></Cdtr>")
        };
        let _ = writeln!(
            x,
            "<Ntry><Amt Ccy=\"EUR\">{}</Amt><CdtDbtInd>DBIT</CdtDbtInd>{status}\
             <BookgDt><Dt>{date}</Dt></BookgDt><ValDt><Dt>{date}</Dt></ValDt>\
             <AcctSvcrRef>{statement_id}-{}</AcctSvcrRef>\
             <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>\
             <NtryDtls><TxDtls><Refs><EndToEndId>{e2e}</EndToEndId></Refs>\
             <RltdPties>{party}</RltdPties><RmtInf><Ustrd>Reglement caisse alimentaire</Ustrd></RmtInf>\
             </TxDtls></NtryDtls></Ntry>",
            money(*amount),
            i + 1
        );
    }
    x.push_str("</Stmt>\n</BkToCstmrStmt>\n</Document>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(amount: i64, reference: &str, bank_ref: Option<&str>) -> Line {
        Line {
            booked_on: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
            amount,
            reference: reference.into(),
            counterparty: None,
            bank_ref: bank_ref.map(str::to_string),
            end_to_end_id: None,
        }
    }

    #[test]
    fn two_equal_lines_of_one_statement_are_two_movements() {
        let lines = [
            line(-500, "Frais", None),
            line(-500, "Frais ", None),
            line(-500, "Frais", Some("B-1")),
            line(-500, "Frais", None),
        ];
        let keys = dedupe_keys(&lines);
        assert_eq!(
            keys,
            [
                "dar:2026-11-30|-500|Frais",
                "dar:2026-11-30|-500|Frais#2",
                "ref:B-1",
                "dar:2026-11-30|-500|Frais#3",
            ]
        );
        // The same file again gives the same keys: nothing is imported twice.
        assert_eq!(dedupe_keys(&lines), keys);
    }

    #[test]
    fn a_settlement_reads_back_what_it_stores_for_a_replay() {
        let s = Settlement {
            id: "stl_1".into(),
            cutoff: Instant::from_micros(1_764_543_600_000_000),
            total: Cents::from_cents(1_840).unwrap(),
            created_at: Instant::from_micros(1_764_543_600_000_000),
            lines: vec![SettlementLine {
                shop_id: ShopId::new("shop_1"),
                shop_name: "Primeur".into(),
                amount: Cents::from_cents(1_840).unwrap(),
                end_to_end_id: "CC01".into(),
                status: LineStatus::Unpaid,
                redemptions: 1,
                refunds: 0,
                reversals: 0,
                paid_at: None,
            }],
        };
        let wire = serde_json::to_value(&s).unwrap();
        assert_eq!(wire["total"], "18.40");
        assert_eq!(wire["lines"][0]["status"], "unpaid");
        assert_eq!(wire["cutoff"], "2025-11-30T23:00:00Z");
        let back: Settlement = serde_json::from_value(wire).unwrap();
        assert_eq!(back, s);
    }
}
