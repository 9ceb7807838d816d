//! The treasurer's reports: a summary over a date range and the monthly series the dashboard
//! draws. How each figure is computed is documented in `service::reports`.

use axum::extract::State;
use axum::Json;
use chrono::{Datelike, Months, NaiveDate};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiResult, Problem};
use super::extract::{AdminTreasurer, Authorized};
use super::page::QueryParams;
use super::AppState;
use crate::domain::member::Period;
use crate::domain::money::format_signed_cents;
use crate::service::reports::{self, Balances, Flows};

/// Money figures are decimal strings in euros; a figure can be negative when a reversal in
/// the range cancels an entry dated before it.
#[derive(Serialize, ToSchema)]
pub struct SummaryView {
    /// First day counted (`null`: from the first entry).
    #[schema(value_type = Option<String>, example = "2026-01-01")]
    from: Option<String>,
    /// Last day counted, inclusive (default: today).
    #[schema(value_type = String, example = "2026-12-31")]
    to: String,
    #[schema(example = "1200.00")]
    contributions_called: String,
    #[schema(example = "1150.00")]
    contributions_received: String,
    /// Allowances credited, net of what the balance cap sent back to the pot.
    #[schema(example = "4500.00")]
    allowances_issued: String,
    /// Balances handed back to the pot by members who left.
    #[schema(example = "0.00")]
    allowances_returned: String,
    #[schema(example = "3900.00")]
    redeemed: String,
    #[schema(example = "25.00")]
    refunded: String,
    /// 401 balance at the end of `to`: what the fund owes the shops.
    #[schema(example = "875.00")]
    owed_to_shops: String,
    /// Payouts to shops seen on the bank statements.
    #[schema(example = "3000.00")]
    paid_to_shops: String,
    /// 467 balance at the end of `to`: what members can still spend.
    #[schema(example = "625.00")]
    outstanding_allowance_balances: String,
    #[schema(example = "3000.00")]
    subsidies_received: String,
    /// 512 balance at the end of `to`.
    #[schema(example = "1150.00")]
    bank_balance: String,
    /// Contributions received / allowances issued, 4 decimals; `null` when nothing was issued.
    #[schema(example = "0.2556")]
    coverage_ratio: Option<String>,
}

fn flows_view(f: &Flows) -> [String; 8] {
    [
        f.contributions_called,
        f.contributions_received,
        f.allowances_issued,
        f.allowances_returned,
        f.redeemed,
        f.refunded,
        f.paid_to_shops,
        f.subsidies,
    ]
    .map(format_signed_cents)
}

fn date_param(query: &mut QueryParams, name: &str) -> Option<NaiveDate> {
    let v = query.take(name)?;
    match NaiveDate::parse_from_str(&v, "%Y-%m-%d") {
        Ok(d) if v.len() == 10 => Some(d),
        _ => {
            query.error(name, "must be a date YYYY-MM-DD");
            None
        }
    }
}

/// What the fund took in, granted, spent and owes between two dates (treasurer, admin):
/// entries dated within `[from, to]`, balances at the end of `to`.
#[utoipa::path(get, path = "/api/v1/reports/summary", tag = "accounting",
    params(("from" = Option<String>, Query, description = "YYYY-MM-DD, inclusive; default: the first entry"),
           ("to" = Option<String>, Query, description = "YYYY-MM-DD, inclusive; default: today")),
    security(("bearer" = [])),
    responses((status = 200, body = SummaryView), (status = 401, body = Problem),
              (status = 403, body = Problem),
              (status = 422, description = "a bad date, or `to` before `from`", body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn summary(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurer>,
    mut query: QueryParams,
) -> ApiResult<Json<SummaryView>> {
    let from = date_param(&mut query, "from");
    let to = date_param(&mut query, "to");
    if let (Some(f), Some(t)) = (from, to) {
        if t < f {
            query.error("to", "must not be before from");
        }
    }
    query.finish()?;
    let to = to.unwrap_or_else(crate::domain::today);
    let s = reports::summary(&state.db, caller.fund(), from, to).await?;
    let ratio = s.flows.coverage_ratio().map(|r| format!("{r:.4}"));
    let [called, received, issued, returned, redeemed, refunded, paid, subsidies] =
        flows_view(&s.flows);
    Ok(Json(SummaryView {
        from: s.from.map(|d| d.to_string()),
        to: s.to.to_string(),
        contributions_called: called,
        contributions_received: received,
        allowances_issued: issued,
        allowances_returned: returned,
        redeemed,
        refunded,
        owed_to_shops: format_signed_cents(s.balances.owed_to_shops),
        paid_to_shops: paid,
        outstanding_allowance_balances: format_signed_cents(
            s.balances.outstanding_allowance_balances,
        ),
        subsidies_received: subsidies,
        bank_balance: format_signed_cents(s.balances.bank),
        coverage_ratio: ratio,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct MonthView {
    #[schema(example = "2026-11")]
    month: String,
    contributions_called: String,
    contributions_received: String,
    allowances_issued: String,
    allowances_returned: String,
    redeemed: String,
    refunded: String,
    paid_to_shops: String,
    subsidies_received: String,
    /// Balances at the end of the month.
    bank_balance: String,
    owed_to_shops: String,
    outstanding_allowance_balances: String,
    coverage_ratio: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MonthlyView {
    months: Vec<MonthView>,
}

/// At most ten years in one request.
const MAX_MONTHS: usize = 120;

fn month_param(query: &mut QueryParams, name: &str) -> Option<Period> {
    let v = query.take(name)?;
    match v.parse::<Period>() {
        Ok(p) => Some(p),
        Err(m) => {
            query.error(name, m);
            None
        }
    }
}

/// Month by month (treasurer, admin): contributions called and received, allowances issued,
/// spending at the shops, payouts, and the bank, shops and allowance balances at each month's
/// end; every month of the range is listed. Default: the twelve months up to this one.
#[utoipa::path(get, path = "/api/v1/reports/monthly", tag = "accounting",
    params(("from" = Option<String>, Query, description = "YYYY-MM; default: 11 months before `to`"),
           ("to" = Option<String>, Query, description = "YYYY-MM; default: this month")),
    security(("bearer" = [])),
    responses((status = 200, body = MonthlyView), (status = 401, body = Problem),
              (status = 403, body = Problem),
              (status = 422, description = "a bad month, `to` before `from`, or more than 120 months",
               body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn monthly(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurer>,
    mut query: QueryParams,
) -> ApiResult<Json<MonthlyView>> {
    let from = month_param(&mut query, "from");
    let to = month_param(&mut query, "to");
    let to = to.unwrap_or_else(|| Period::of(crate::domain::today()));
    let from = from.unwrap_or_else(|| {
        to.first_day()
            .checked_sub_months(Months::new(11))
            .map(Period::of)
            .unwrap_or(to)
    });
    if to < from {
        query.error("to", "must not be before from");
    } else {
        let index = |p: Period| {
            let d = p.first_day();
            i64::from(d.year()) * 12 + i64::from(d.month0())
        };
        let months = index(to) - index(from) + 1;
        if months as usize > MAX_MONTHS {
            query.error("from", format!("at most {MAX_MONTHS} months at once"));
        }
    }
    query.finish()?;
    let months = reports::monthly(&state.db, caller.fund(), from, to).await?;
    Ok(Json(MonthlyView {
        months: months
            .into_iter()
            .map(|m| {
                let ratio = m.flows.coverage_ratio().map(|r| format!("{r:.4}"));
                let [called, received, issued, returned, redeemed, refunded, paid, subsidies] =
                    flows_view(&m.flows);
                let Balances {
                    owed_to_shops,
                    outstanding_allowance_balances,
                    bank,
                } = m.balances;
                MonthView {
                    month: m.month.to_string(),
                    contributions_called: called,
                    contributions_received: received,
                    allowances_issued: issued,
                    allowances_returned: returned,
                    redeemed,
                    refunded,
                    paid_to_shops: paid,
                    subsidies_received: subsidies,
                    bank_balance: format_signed_cents(bank),
                    owed_to_shops: format_signed_cents(owed_to_shops),
                    outstanding_allowance_balances: format_signed_cents(
                        outstanding_allowance_balances,
                    ),
                    coverage_ratio: ratio,
                }
            })
            .collect(),
    }))
}
