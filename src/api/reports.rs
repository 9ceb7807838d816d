//! The treasurer's reports: a summary over a date range and the monthly series the dashboard
//! draws. How each figure is computed is documented in `service::reports`.

use axum::extract::State;
use axum::Json;
use chrono::NaiveDate;
use serde::{Deserialize, Deserializer};

use super::error::{ApiResult, Problem};
use super::extract::{AdminTreasurer, Authorized};
use super::query::Query;
use super::AppState;
use crate::domain::member::Period;
use crate::service::reports;

pub use crate::service::reports::{Monthly as MonthlyView, Summary as SummaryView};

/// A day in a query string: `YYYY-MM-DD`, exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Day(pub NaiveDate);

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Day, D::Error> {
        let text = String::deserialize(d)?;
        match NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
            Ok(day) if text.len() == 10 => Ok(Day(day)),
            _ => Err(serde::de::Error::custom("must be a date YYYY-MM-DD")),
        }
    }
}

/// `?from=&to=`, days.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DayRange {
    pub from: Option<Day>,
    pub to: Option<Day>,
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
    Query(q): Query<DayRange>,
) -> ApiResult<Json<SummaryView>> {
    let (from, to) = (q.from.map(|d| d.0), q.to.map(|d| d.0));
    Ok(Json(
        reports::summary(&state.db, caller.fund(), from, to).await?,
    ))
}

/// A month in a query string: `YYYY-MM`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Month(pub Period);

impl<'de> Deserialize<'de> for Month {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Month, D::Error> {
        let text = String::deserialize(d)?;
        text.parse::<Period>()
            .map(Month)
            .map_err(serde::de::Error::custom)
    }
}

/// `?from=&to=`, months.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonthRange {
    from: Option<Month>,
    to: Option<Month>,
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
    Query(q): Query<MonthRange>,
) -> ApiResult<Json<MonthlyView>> {
    let (from, to) = (q.from.map(|m| m.0), q.to.map(|m| m.0));
    Ok(Json(
        reports::monthly(&state.db, caller.fund(), from, to).await?,
    ))
}
