//! Accounting exports, streamed: the FEC of a year and the journal as CSV.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::Response;

use super::error::{ApiError, ApiResult, Problem};
use super::extract::{AdminTreasurer, Authorized};
use super::page::QueryParams;
use super::AppState;
use crate::service::exports;

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
    mut query: QueryParams,
) -> ApiResult<Response> {
    let year = match query.take("year") {
        None => {
            query.error("year", "required: the year to export, YYYY");
            None
        }
        Some(v) => match v.parse::<i32>() {
            Ok(y) if v.len() == 4 && (1900..=9999).contains(&y) => Some(y),
            _ => {
                query.error("year", "must be a year YYYY");
                None
            }
        },
    };
    query.finish()?;
    let year = year.ok_or_else(|| ApiError::internal("year checked above"))?;
    let (name, chunks) = exports::fec(&state.db, caller.fund(), year).await?;
    attachment(
        "text/plain; charset=utf-8",
        &name,
        Body::from_stream(chunks),
    )
}

fn date_param(query: &mut QueryParams, name: &str) -> Option<String> {
    let v = query.take(name)?;
    match chrono::NaiveDate::parse_from_str(&v, "%Y-%m-%d") {
        Ok(d) if v.len() == 10 => Some(d.to_string()),
        _ => {
            query.error(name, "must be a date YYYY-MM-DD");
            None
        }
    }
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
    mut query: QueryParams,
) -> ApiResult<Response> {
    let from = date_param(&mut query, "from");
    let to = date_param(&mut query, "to");
    if let (Some(f), Some(t)) = (&from, &to) {
        if t < f {
            query.error("to", "must not be before from");
        }
    }
    query.finish()?;
    let chunks =
        exports::journal_csv(&state.db, caller.fund(), from.as_deref(), to.as_deref()).await?;
    attachment(
        "text/csv; charset=utf-8; header=present",
        "journal.csv",
        Body::from_stream(chunks),
    )
}
