//! A shop as its caller may see it, and the other answers of the shop use cases. Each is typed
//! (ids, instants, dates) and its serde form is the API's JSON answer, field for field; the
//! pages read the same structs.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::shop::{Decision, ShopStatus, Sight, StatusChange, Tally, VoteChoice};
use crate::domain::{Instant, ShopId, TerminalId, UserId};
use crate::store::shops::{Shop, StatusRecord, Vote};
use crate::store::terminals::Terminal;

/// A shop as the caller may see it: fields the caller may not see are absent.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ShopView {
    pub id: ShopId,
    pub name: String,
    #[schema(example = "12 rue Saint-Maurice, 69008 Lyon")]
    pub address: String,
    pub categories: Vec<String>,
    pub status: ShopStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legal_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub siret: Option<String>,
    /// Admins and treasurers only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iban: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bic: Option<String>,
    /// `YYYY-MM-DD` of the next review.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review_on: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Instant>,
    /// Each of the fund's criteria with the shop's answer (`null`: not answered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub criteria: Option<Vec<CriterionAnswer>>,
    /// The committee's votes as they stand (admins and committee members).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tally: Option<Tally>,
    /// The latest decision (approved or rejected), with the tally it was taken on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<StatusRecordView>,
    /// Every decision, suspension and reinstatement, oldest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<StatusRecordView>>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CriterionAnswer {
    #[schema(example = "locality")]
    pub id: String,
    #[schema(example = "Production ou approvisionnement local")]
    pub label: String,
    pub answer: Option<String>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct StatusRecordView {
    pub kind: StatusChange,
    pub note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review_on: Option<NaiveDate>,
    /// The votes when the decision was taken (decisions only; admins and committee members).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tally: Option<Tally>,
    /// The admin's user id.
    pub decided_by: UserId,
    pub decided_at: Instant,
}

impl StatusRecordView {
    pub(super) fn new(r: StatusRecord, sight: Sight) -> StatusRecordView {
        StatusRecordView {
            kind: r.kind,
            note: r.note,
            review_on: r.review_on,
            tally: r.tally.filter(|_| sight.tally),
            decided_by: UserId::new(r.decided_by),
            decided_at: Instant::from_micros(r.decided_at),
        }
    }

    pub fn is_decision(&self) -> bool {
        matches!(self.kind, StatusChange::Approved | StatusChange::Rejected)
    }
}

impl ShopView {
    /// The fields a list shows, as far as `sight` goes.
    pub(super) fn summary(shop: Shop, sight: Sight) -> ShopView {
        let d = sight.details;
        ShopView {
            legal_name: Some(shop.legal_name).filter(|_| d),
            siret: shop.siret.filter(|_| d),
            iban: Some(shop.iban).filter(|_| sight.iban),
            bic: shop.bic.filter(|_| d),
            review_on: shop.review_on.filter(|_| d),
            created_at: Some(Instant::from_micros(shop.created_at)).filter(|_| d),
            id: ShopId::new(shop.id),
            name: shop.name,
            address: shop.address,
            categories: shop.categories,
            status: shop.status,
            criteria: None,
            tally: None,
            decision: None,
            history: None,
        }
    }
}

/// A committee member's vote.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoteRequest {
    pub choice: VoteChoice,
    /// At most 1000 characters.
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct VoteView {
    /// The committee member's user id.
    pub voter_id: UserId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voter_email: Option<String>,
    pub choice: VoteChoice,
    pub comment: Option<String>,
    pub voted_at: Instant,
}

impl From<Vote> for VoteView {
    fn from(v: Vote) -> VoteView {
        VoteView {
            voter_id: UserId::new(v.voter_id),
            voter_email: Some(v.voter_email),
            choice: v.choice,
            comment: v.comment,
            voted_at: Instant::from_micros(v.voted_at),
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct VoteRecorded {
    pub shop_id: ShopId,
    pub vote: VoteView,
    /// The voter had voted before: this vote replaced it.
    pub replaced: bool,
    pub tally: Tally,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct VoteList {
    pub shop_id: ShopId,
    pub status: ShopStatus,
    pub tally: Tally,
    /// Every vote for an admin; a committee member's own vote only.
    pub votes: Vec<VoteView>,
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    pub decision: Decision,
    /// Next review of an approval, `YYYY-MM-DD`, after today. Not for a rejection.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "2027-11-01")]
    pub review_on: Option<NaiveDate>,
    /// At most 2000 characters.
    #[serde(default)]
    pub note: Option<String>,
}

/// Why a shop is suspended or reinstated.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusNote {
    /// Why (at most 2000 characters).
    #[serde(default)]
    pub note: Option<String>,
}

/// What an admin may change in a shop's record once it applied: each field given replaces
/// the current one; the whole record is checked again as an application would be.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShopDetailsChange {
    pub name: Option<String>,
    pub legal_name: Option<String>,
    pub siret: Option<String>,
    /// The account the next settlements pay; settlements made before keep theirs.
    pub iban: Option<String>,
    pub bic: Option<String>,
    pub address: Option<String>,
    pub categories: Option<Vec<String>>,
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTerminal {
    /// Which till, e.g. "Caisse 1" or "Marché du jeudi" (1 to 80 characters).
    #[schema(example = "Caisse 1")]
    pub label: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TerminalCreated {
    pub id: TerminalId,
    pub shop_id: ShopId,
    pub label: String,
    /// The till's bearer token (`ct_` and 64 hex digits). Shown this once: only its hash is kept.
    #[schema(example = "ct_9f2c…")]
    pub api_key: String,
    pub created_at: Instant,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TerminalView {
    pub id: TerminalId,
    pub shop_id: ShopId,
    pub label: String,
    pub created_at: Instant,
    /// To the minute.
    pub last_used_at: Option<Instant>,
    pub revoked_at: Option<Instant>,
}

impl From<Terminal> for TerminalView {
    fn from(t: Terminal) -> Self {
        TerminalView {
            id: TerminalId::new(t.id),
            shop_id: ShopId::new(t.shop_id),
            label: t.label,
            created_at: Instant::from_micros(t.created_at),
            last_used_at: t.last_used_at.map(Instant::from_micros),
            revoked_at: t.revoked_at.map(Instant::from_micros),
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CurrentTerminal {
    pub id: TerminalId,
    pub label: String,
    pub shop: ShopView,
    /// Whether the shop is approved (not pending, suspended or rejected): a till can show it.
    pub accepting_payments: bool,
}
