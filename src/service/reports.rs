//! The treasurer's figures: does the fund hold? A summary over a date range and a monthly
//! series for the dashboard's charts, both computed from the journal (never from the
//! operational tables), so they always agree with the trial balance and the FEC.
//!
//! How entries count:
//! - contributions called: `contribution_call` entries (411 member / 756);
//! - contributions received: `contribution_payment` entries (512 / 411 member);
//! - allowances issued: `allowance` entries minus `allowance_cap_return` entries (the part of a
//!   month's credit that the balance cap sent straight back to the pot was never spendable);
//!   money handed back when a member leaves (`allowance_return`) is reported apart as
//!   `allowances_returned`: it was issued, then not spent;
//! - redeemed, refunded: `redemption` and `refund` entries; paid to shops: `shop_payout`
//!   (401 shop / 512, posted when the bank statement shows the transfer); subsidies: `subsidy`;
//! - a reversal counts under the kind of the entry it cancels, as a negative amount, on the
//!   date of the reversal (the day the books were corrected): a range that holds both the
//!   entry and its reversal nets to zero;
//! - owed to shops, outstanding allowance balances, bank: the balances of 401, 467 and 512
//!   over every entry dated on or before the end of the range.
//!
//! Coverage ratio: contributions *received* over allowances issued — what the members
//! actually paid in against what the fund granted ("does the fund hold?"); the contribution
//! simulator gives the ratio of what is *due*. `None` when nothing was issued.

use std::collections::BTreeMap;

use chrono::{Datelike, Months, NaiveDate};
use rust_decimal::Decimal;
use serde::{Serialize, Serializer};
use utoipa::ToSchema;

use crate::domain::member::Period;
use crate::domain::{ErrorCode, FundId, SignedCents};
use crate::service::error::ServiceError;
use crate::store::reports::{self, BalanceMoves, KindFlow};
use crate::store::{dashboard, Db, StoreError};

/// Adds `cents` to a running figure (sums of a fund's entries stay far inside `i64`).
fn bump(figure: &mut SignedCents, cents: i64) {
    *figure = SignedCents::from_cents(figure.cents() + cents);
}

/// Amounts moved by kind of entry over a range, net of reversals: a figure can be negative
/// when a reversal in the range cancels an entry dated before it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Flows {
    pub contributions_called: SignedCents,
    pub contributions_received: SignedCents,
    /// Allowances credited, net of what the balance cap sent back to the pot.
    pub allowances_issued: SignedCents,
    /// Balances handed back to the pot by members who left.
    pub allowances_returned: SignedCents,
    pub redeemed: SignedCents,
    pub refunded: SignedCents,
    /// Payouts to shops seen on the bank statements.
    pub paid_to_shops: SignedCents,
    #[serde(rename = "subsidies_received")]
    pub subsidies: SignedCents,
}

impl Flows {
    fn add(&mut self, kind: &str, amount: i64) {
        let figure = match kind {
            "contribution_call" => &mut self.contributions_called,
            "contribution_payment" => &mut self.contributions_received,
            "allowance" => &mut self.allowances_issued,
            "allowance_cap_return" => return bump(&mut self.allowances_issued, -amount),
            "allowance_return" => &mut self.allowances_returned,
            "redemption" => &mut self.redeemed,
            "refund" => &mut self.refunded,
            "shop_payout" => &mut self.paid_to_shops,
            "subsidy" => &mut self.subsidies,
            _ => return,
        };
        bump(figure, amount);
    }

    /// Contributions received over allowances issued, to four decimals.
    pub fn coverage_ratio(&self) -> Option<Ratio> {
        let issued = self.allowances_issued.cents();
        (issued > 0).then(|| {
            Ratio(
                (Decimal::from(self.contributions_received.cents()) / Decimal::from(issued))
                    .round_dp(4),
            )
        })
    }

    /// What the members spent at the shops: redeemed less refunded.
    pub fn spent(&self) -> SignedCents {
        SignedCents::from_cents(self.redeemed.cents() - self.refunded.cents())
    }
}

/// A ratio to four decimals; on the wire a decimal string (`"0.2556"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ToSchema)]
#[schema(value_type = String, example = "0.2556")]
pub struct Ratio(pub Decimal);

impl Serialize for Ratio {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:.4}", self.0))
    }
}

/// Balances at a date, each in its normal sense.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Balances {
    /// 401: what the fund owes the shops.
    pub owed_to_shops: SignedCents,
    /// 467: what the members can still spend.
    pub outstanding_allowance_balances: SignedCents,
    /// 512.
    #[serde(rename = "bank_balance")]
    pub bank: SignedCents,
}

impl Balances {
    fn add(&mut self, m: &BalanceMoves) {
        bump(&mut self.owed_to_shops, m.shops);
        bump(&mut self.outstanding_allowance_balances, m.allowances);
        bump(&mut self.bank, m.bank);
    }
}

/// The answer of `GET /reports/summary`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Summary {
    /// First day counted (`null`: from the first entry).
    pub from: Option<NaiveDate>,
    /// Last day counted, inclusive.
    pub to: NaiveDate,
    #[serde(flatten)]
    pub flows: Flows,
    /// At the end of `to`.
    #[serde(flatten)]
    pub balances: Balances,
    /// Contributions received / allowances issued; `null` when nothing was issued.
    pub coverage_ratio: Option<Ratio>,
}

/// The summary of `GET /reports/summary`: entries dated within `[from, to]` (from the first
/// entry when `from` is `None`, up to today when `to` is); `to` before `from` is
/// `validation_failed` on `to`.
pub async fn summary(
    db: &Db,
    fund: &FundId,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Summary, ServiceError> {
    if let (Some(f), Some(t)) = (from, to) {
        if t < f {
            return Err(ServiceError::field(
                ErrorCode::ValidationFailed,
                "to",
                "must not be before from",
            ));
        }
    }
    let to = to.unwrap_or_else(crate::domain::today);
    Ok(summary_at(db, fund, from, to).await?)
}

/// The figures of [`summary`] for a range already checked.
pub async fn summary_at(
    db: &Db,
    fund_id: &FundId,
    from: Option<NaiveDate>,
    to: NaiveDate,
) -> Result<Summary, StoreError> {
    let from_s = from.map(|d| d.to_string()).unwrap_or_default();
    let to_s = to.to_string();
    let mut flows = Flows::default();
    for f in reports::flows(db, fund_id, &from_s, &to_s).await? {
        flows.add(&f.kind, f.amount);
    }
    let mut balances = Balances::default();
    for m in reports::balance_moves(db, fund_id, &to_s).await? {
        balances.add(&m);
    }
    Ok(Summary {
        from,
        to,
        coverage_ratio: flows.coverage_ratio(),
        flows,
        balances,
    })
}

/// One month of `GET /reports/monthly`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Month {
    pub month: Period,
    #[serde(flatten)]
    pub flows: Flows,
    /// At the end of the month.
    #[serde(flatten)]
    pub balances: Balances,
    pub coverage_ratio: Option<Ratio>,
}

/// At most ten years in one request.
pub const MAX_MONTHS: i64 = 120;

/// The answer of `GET /reports/monthly`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Monthly {
    pub months: Vec<Month>,
}

/// Month by month from `from` to `to` inclusive; `to` defaults to this month, `from` to 11
/// months before `to`. `to` before `from`, or more than [`MAX_MONTHS`], is
/// `validation_failed`.
pub async fn monthly(
    db: &Db,
    fund: &FundId,
    from: Option<Period>,
    to: Option<Period>,
) -> Result<Monthly, ServiceError> {
    let to = to.unwrap_or_else(|| Period::of(crate::domain::today()));
    let from = from.unwrap_or_else(|| {
        to.first_day()
            .checked_sub_months(Months::new(11))
            .map(Period::of)
            .unwrap_or(to)
    });
    if to < from {
        return Err(ServiceError::field(
            ErrorCode::ValidationFailed,
            "to",
            "must not be before from",
        ));
    }
    let index = |p: Period| {
        let d = p.first_day();
        i64::from(d.year()) * 12 + i64::from(d.month0())
    };
    if index(to) - index(from) + 1 > MAX_MONTHS {
        return Err(ServiceError::field(
            ErrorCode::ValidationFailed,
            "from",
            format!("at most {MAX_MONTHS} months at once"),
        ));
    }
    let months = months_between(db, fund, from, to).await?;
    Ok(Monthly { months })
}

/// What the dashboard's charts draw besides the months of [`monthly`]: every month with a
/// movement, and what was spent at each shop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Charts {
    pub months: Vec<dashboard::Month>,
    /// Shop name, cents spent (net of refunds), largest first.
    pub shops: Vec<(String, i64)>,
}

pub async fn charts(db: &Db, fund: &FundId) -> Result<Charts, StoreError> {
    Ok(Charts {
        months: dashboard::months(db, fund).await?,
        shops: dashboard::spending_per_shop(db, fund).await?,
    })
}

/// Every month from `from` to `to` inclusive (months without entries included, with zeros).
pub async fn months_between(
    db: &Db,
    fund_id: &FundId,
    from: Period,
    to: Period,
) -> Result<Vec<Month>, StoreError> {
    let first = from.first_day().to_string();
    let last = to
        .next()
        .first_day()
        .pred_opt()
        .unwrap_or_else(|| to.first_day())
        .to_string();
    let mut flows: BTreeMap<String, Flows> = BTreeMap::new();
    for KindFlow {
        month,
        kind,
        amount,
    } in reports::flows(db, fund_id, &first, &last).await?
    {
        flows.entry(month).or_default().add(&kind, amount);
    }
    let moves = reports::balance_moves(db, fund_id, &last).await?;
    let mut running = Balances::default();
    let mut moves = moves.iter().peekable();
    let mut months = Vec::new();
    let mut p = from;
    while p <= to {
        let key = p.to_string();
        // Everything dated up to the end of this month (earlier months included).
        while let Some(m) = moves.next_if(|m| m.month <= key) {
            running.add(m);
        }
        let month_flows = flows.remove(&key).unwrap_or_default();
        months.push(Month {
            month: p,
            coverage_ratio: month_flows.coverage_ratio(),
            flows: month_flows,
            balances: running.clone(),
        });
        p = p.next();
    }
    Ok(months)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_ratio() {
        let mut f = Flows::default();
        assert_eq!(f.coverage_ratio(), None);
        f.add("allowance", 30_000);
        f.add("allowance_cap_return", 1_000);
        f.add("contribution_payment", 9_667);
        f.add("unknown_kind", 5);
        assert_eq!(f.allowances_issued, SignedCents::from_cents(29_000));
        assert_eq!(f.coverage_ratio(), Some(Ratio(Decimal::new(3333, 4))));
        let wire = serde_json::to_value(Ratio(Decimal::new(5, 1))).unwrap();
        assert_eq!(wire, "0.5000");
    }
}
