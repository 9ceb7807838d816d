//! Month end (treasurer): settlements, the SEPA transfer file, bank statements, reconciliation.
//! Each handler extracts, calls one function of `service::settlements` and answers its typed
//! result, whose serde form is the wire form.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, Problem};
use super::extract::{AdminTreasurer, ApiJson, Authorized, MaybeIdempotencyKey};
use super::page::Page;
use super::query::{Limit, Query};
use super::{idempotent, AppState};
use crate::domain::{ErrorCode, Instant, MemberId, UserId};
use crate::service::settlements::{self as service, ManualMatch, SettleRequest, StatementFormat};

pub use crate::service::settlements::{
    ImportOutcome as ImportView, Matched as MatchView, Reconciliation as ReconciliationView,
    Settlement as SettlementView, SettlementPage,
};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettlementRequest {
    /// Sales and refunds strictly before this instant are settled (RFC 3339, not in the
    /// future).
    #[schema(example = "2026-11-30T23:00:00Z")]
    cutoff: String,
}

/// The cutoff as typed: `invalid_field` on `cutoff` unless it is an RFC 3339 instant.
fn cutoff(text: &str) -> ApiResult<Instant> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|t| Instant::from_micros(t.timestamp_micros()))
        .map_err(|_| {
            ApiError::field(
                ErrorCode::InvalidField,
                "cutoff",
                "must be an RFC 3339 instant such as 2026-11-30T23:00:00Z",
            )
        })
}

/// Settles the shops (treasurer, admin): one line per shop owed something for its unsettled
/// sales less refunds before `cutoff`, each with a unique EndToEndId. A shop whose refunds
/// outweigh its sales is not paid: its sales and refunds wait for the next settlement. Nothing
/// to settle is 422 `nothing_to_settle`; a cutoff later than now is 422 `cutoff_in_future`.
/// Two settlements never include the same sale. An optional `Idempotency-Key` makes a retry
/// answer the first request's settlement (same key, same body) instead of settling again.
#[utoipa::path(post, path = "/api/v1/settlements", tag = "month end",
    request_body = SettlementRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = SettlementView), (status = 403, body = Problem),
              (status = 422, description = "nothing_to_settle, cutoff_in_future, invalid_field",
               body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn create_settlement(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurer>,
    key: MaybeIdempotencyKey,
    body: ApiJson<SettlementRequest>,
) -> ApiResult<Response> {
    let request = SettleRequest {
        cutoff: cutoff(&body.value.cutoff)?,
    };
    let recorded = service::create(&state.db, &caller.0, key.0.as_ref(), request).await?;
    Ok(idempotent::created(recorded))
}

/// `?limit=&cursor=`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<Limit>,
    cursor: Option<String>,
}

/// Settlements, newest first (treasurer, admin).
#[utoipa::path(get, path = "/api/v1/settlements", tag = "month end",
    params(("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)),
    security(("bearer" = [])),
    responses((status = 200, body = SettlementPage), (status = 403, body = Problem),
              (status = 422, description = "a cursor this list did not hand out", body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn list_settlements(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurer>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<SettlementPage>> {
    let page = Page::new(q.limit, q.cursor);
    let list = service::list(&state.db, caller.fund(), page.limit, page.after).await?;
    Ok(Json(list))
}

/// One settlement with its lines and their payment state (treasurer, admin).
#[utoipa::path(get, path = "/api/v1/settlements/{id}", tag = "month end",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = SettlementView), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn get_settlement(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurer>,
    Path(id): Path<String>,
) -> ApiResult<Json<SettlementView>> {
    Ok(Json(service::get(&state.db, caller.fund(), &id).await?))
}

/// The SEPA credit-transfer file (pain.001.001.03) paying a settlement's lines from the fund's
/// account (treasurer, admin); 422 `fund_iban_missing` if the fund has no IBAN.
#[utoipa::path(get, path = "/api/v1/settlements/{id}/sepa.xml", tag = "month end",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, content_type = "application/xml", body = String),
              (status = 404, body = Problem),
              (status = 422, description = "fund_iban_missing", body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn sepa_file(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurer>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let file = service::sepa_file(&state.db, caller.fund(), &id).await?;
    Ok(sepa_response(file))
}

/// A SEPA file as a download.
fn sepa_response(file: service::SepaFile) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/xml; charset=utf-8".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", file.file_name),
            ),
        ],
        file.xml,
    )
        .into_response()
}

/// The statement's format by its content type; 415 for anything else.
fn statement_format(headers: &HeaderMap) -> ApiResult<StatementFormat> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if matches!(essence, "application/xml" | "text/xml") || essence.ends_with("+xml") {
        Ok(StatementFormat::Camt053)
    } else if essence == "text/csv" {
        Ok(StatementFormat::Csv)
    } else {
        Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send a camt.053 statement as application/xml or a CSV as text/csv",
        ))
    }
}

/// Imports a bank statement (treasurer, admin): camt.053 (`application/xml`, versions .001.02
/// and .001.08) or CSV (`text/csv`, columns `date,amount,reference,counterparty`, negative =
/// money out). All or nothing. Lines already imported are skipped (by the bank's entry
/// reference, else date + amount + reference). Debits matching an unpaid settlement line by
/// EndToEndId pay it (401 shop / 512); credits quoting a member's payment reference are
/// recorded as contribution payments (512 / 411). A camt.053 whose opening balance + entries ≠
/// closing balance is 422 `statement_unbalanced`; an unreadable file is 400
/// `statement_unreadable`, an invalid one 422 `statement_invalid`; another content type 415.
/// Bounded before parsing: XML at most 64 levels deep (422 `input_too_deep`), no DTD or
/// entities (422 `statement_invalid`), at most 1,000,000 nodes or 100,000 lines (413).
#[utoipa::path(post, path = "/api/v1/bank-statements", tag = "month end",
    request_body(content = String, content_type = "application/xml",
                 description = "camt.053 XML, or CSV sent as text/csv"),
    security(("bearer" = [])),
    responses((status = 200, body = ImportView), (status = 400, body = Problem),
              (status = 403, body = Problem),
              (status = 413, description = "payload_too_large: over 16 MiB, 100,000 lines or \
               1,000,000 XML nodes", body = Problem),
              (status = 415, body = Problem),
              (status = 422, description = "statement_unbalanced, statement_invalid (also a \
               DTD or entity declaration), input_too_deep (XML nested over 64 levels)",
               body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn import_statement(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurer>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> ApiResult<Json<ImportView>> {
    let format = statement_format(&headers)?;
    // A month of statements is larger than the API's usual body limit: read up to 16 MiB.
    let bytes: Bytes = axum::body::to_bytes(body, service::STATEMENT_MAX_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                "a statement may be at most 16 MiB: split it",
            )
        })?;
    let by = UserId::new(caller.actor());
    let outcome = service::import_file(&state.db, caller.fund(), &by, format, &bytes).await?;
    Ok(Json(outcome))
}

/// What is left to reconcile (treasurer, admin): bank lines matched to nothing, and settlement
/// lines not yet paid.
#[utoipa::path(get, path = "/api/v1/reconciliation", tag = "month end",
    security(("bearer" = [])),
    responses((status = 200, body = ReconciliationView), (status = 403, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn reconciliation(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurer>,
) -> ApiResult<Json<ReconciliationView>> {
    Ok(Json(
        service::reconciliation(&state.db, caller.fund()).await?,
    ))
}

/// What a bank line is, said by hand: exactly one of the two.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchRequest {
    /// For a debit: the EndToEndId of the unpaid settlement line it pays.
    end_to_end_id: Option<String>,
    /// For a credit: the member whose contribution it is.
    member_id: Option<String>,
}

impl MatchRequest {
    /// The one target given; `validation_failed` on `end_to_end_id` for none or both.
    fn target(&self) -> ApiResult<ManualMatch> {
        fn pick(v: &Option<String>) -> Option<&str> {
            v.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        match (pick(&self.end_to_end_id), pick(&self.member_id)) {
            (Some(e2e), None) => Ok(ManualMatch::Payout(e2e.to_string())),
            (None, Some(member)) => Ok(ManualMatch::Contribution(MemberId::new(member))),
            _ => Err(ApiError::field(
                ErrorCode::ValidationFailed,
                "end_to_end_id",
                "give either end_to_end_id (a debit) or member_id (a credit)",
            )),
        }
    }
}

/// Matches a bank line the statement import could not (treasurer, admin): a debit to the
/// unpaid settlement line it pays (same amount; 401 shop / 512), or a credit to the member
/// whose contribution it is (the same booking as a payment by transfer). 409
/// `bank_line_already_matched` when it is matched already, so a retry books nothing twice.
#[utoipa::path(post, path = "/api/v1/bank-lines/{id}/match", tag = "month end",
    request_body = MatchRequest, security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = MatchView), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, description = "wrong_direction, settlement_line_not_found, \
               amount_mismatch, member_not_found, validation_failed", body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn match_bank_line(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurer>,
    Path(id): Path<String>,
    body: ApiJson<MatchRequest>,
) -> ApiResult<Json<MatchView>> {
    let target = body.value.target()?;
    Ok(Json(
        service::match_line(&state.db, caller.fund(), &id, target).await?,
    ))
}
