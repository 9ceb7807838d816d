//! Accounting exports, streamed: the FEC of a year and the journal as CSV.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::Response;

use serde::{Deserialize, Deserializer};

use super::error::{ApiError, ApiResult, Problem};
use super::extract::{AdminTreasurer, Authorized};
use super::query::Query;
use super::reports::DayRange;
use super::AppState;
use crate::domain::FieldError;
use crate::service::exports;

/// A fiscal (calendar) year in a query string: `YYYY`, 1900 to 9999.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Year(pub i32);

impl<'de> Deserialize<'de> for Year {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Year, D::Error> {
        let text = String::deserialize(d)?;
        exports::parse_year("year", &text)
            .map(Year)
            .map_err(|_| serde::de::Error::custom("must be a year YYYY"))
    }
}

/// `?year=`, required. (Optional to serde, so that a bad year is named once: `Query` names a
/// value it took out for being bad again as missing.)
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YearQuery {
    year: Option<Year>,
}

fn attachment(content_type: &'static str, file_name: &str, body: Body) -> ApiResult<Response> {
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\""))
        .map_err(ApiError::internal)?;
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_DISPOSITION, disposition);
    Ok(response)
}

/// The *fichier des écritures comptables* of a calendar year (treasurer, admin), as article
/// A47 A-1 of the LPF describes it: the 18 columns in order with their exact header,
/// tab-separated, UTF-8, dates `AAAAMMJJ`, amounts with a decimal comma, one line per posting,
/// `EcritureNum` numbering the year's entries from 1 without gaps in the order they were
/// validated, each entry balanced. Member accounts are named by their pseudonymous reference.
/// File name `<SIREN or fund id>FEC<AAAA1231>.txt`. A year without entries gives the header
/// alone. Streamed: the journal is read 5,000 entries at a time.
#[utoipa::path(get, path = "/api/v1/exports/fec", tag = "accounting",
    params(("year" = i32, Query, description = "the fiscal (calendar) year, YYYY")),
    security(("bearer" = [])),
    responses((status = 200, content_type = "text/plain; charset=utf-8", body = String,
               description = "the FEC, with Content-Disposition: attachment"),
              (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 422, description = "year missing or not a year", body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn fec(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurer>,
    Query(q): Query<YearQuery>,
) -> ApiResult<Response> {
    let Some(Year(year)) = q.year else {
        return Err(ApiError::invalid(vec![FieldError::new(
            "year",
            "required: the year to export, YYYY",
        )]));
    };
    let (name, chunks) = exports::fec(&state.db, caller.fund(), year).await?;
    attachment(
        "text/plain; charset=utf-8",
        &name,
        Body::from_stream(chunks),
    )
}

/// The journal as CSV (treasurer, admin), RFC 4180 with a header row and CRLF line ends: one
/// row per posting, `entry_number,entry_id,date,journal,kind,label,reference,account,debit,
/// credit`, amounts with a decimal point, in journal order. Entries dated within
/// `[from, to]` (both optional, inclusive). Accounts are codes such as `467.M000042`: no
/// member's name. A label that a spreadsheet would read as a formula starts with `'`.
#[utoipa::path(get, path = "/api/v1/exports/journal.csv", tag = "accounting",
    params(("from" = Option<String>, Query, description = "YYYY-MM-DD, inclusive"),
           ("to" = Option<String>, Query, description = "YYYY-MM-DD, inclusive")),
    security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv; charset=utf-8", body = String),
              (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 422, description = "a bad date, or `to` before `from`", body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn journal_csv(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurer>,
    Query(q): Query<DayRange>,
) -> ApiResult<Response> {
    let (from, to) = (q.from.map(|d| d.0), q.to.map(|d| d.0));
    let chunks = exports::journal_csv(&state.db, caller.fund(), from, to).await?;
    attachment(
        "text/csv; charset=utf-8; header=present",
        "journal.csv",
        Body::from_stream(chunks),
    )
}
