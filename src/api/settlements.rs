//! Month end (treasurer): settlements, the SEPA transfer file, bank statements, reconciliation.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, Problem};
use super::extract::{AdminTreasurer, ApiJson, Authorized, MaybeIdempotencyKey};
use super::page::QueryParams;
use super::{idempotent, AppState};
use crate::domain::money::format_signed_cents;
use crate::domain::statement::{parse_camt053, parse_csv};
use crate::domain::ErrorCode;
use crate::domain::{format_instant, Cents};
use crate::service::settlements as service;
use crate::store::cursors::Listed;
use crate::store::settlements as store;
use futures_util::FutureExt;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettlementRequest {
    /// Sales and refunds strictly before this instant are settled (RFC 3339, not in the
    /// future).
    #[schema(example = "2026-11-30T23:00:00Z")]
    cutoff: String,
}

#[derive(Serialize, ToSchema)]
pub struct SettlementLineView {
    shop_id: String,
    shop_name: String,
    /// Sales less refunds, less reversed sales, plus reversed refunds: what the transfer pays.
    amount: Cents,
    /// The transfer's EndToEndId (35 characters at most), which the bank statement shows.
    end_to_end_id: String,
    /// `unpaid` until a bank statement shows the transfer, then `paid`.
    status: String,
    redemptions: i64,
    refunds: i64,
    /// Reversals (by the treasurer) of sales and refunds that this line nets.
    reversals: i64,
    paid_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SettlementView {
    id: String,
    cutoff: String,
    total: Cents,
    created_at: String,
    lines: Vec<SettlementLineView>,
}

fn cents(v: i64) -> ApiResult<Cents> {
    Cents::from_cents(v).map_err(ApiError::internal)
}

fn view(s: store::Settlement) -> ApiResult<SettlementView> {
    Ok(SettlementView {
        total: cents(s.total)?,
        cutoff: format_instant(s.cutoff),
        created_at: format_instant(s.created_at),
        lines: s
            .lines
            .into_iter()
            .map(line_view)
            .collect::<ApiResult<_>>()?,
        id: s.id,
    })
}

fn line_view(l: store::SettlementLine) -> ApiResult<SettlementLineView> {
    Ok(SettlementLineView {
        amount: cents(l.amount)?,
        shop_id: l.shop_id,
        shop_name: l.shop_name,
        end_to_end_id: l.end_to_end_id,
        status: l.status,
        redemptions: l.redemptions,
        refunds: l.refunds,
        reversals: l.reversals,
        paid_at: l.paid_at.map(format_instant),
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
    let cutoff = chrono::DateTime::parse_from_rfc3339(body.value.cutoff.trim())
        .map_err(|_| {
            ApiError::field(
                ErrorCode::InvalidField,
                "cutoff",
                "must be an RFC 3339 instant such as 2026-11-30T23:00:00Z",
            )
        })?
        .timestamp_micros();
    let Some(key) = key.0 else {
        let s = service::settle(&state.db, caller.fund(), cutoff, caller.actor()).await?;
        return Ok((StatusCode::CREATED, Json(view(s)?)).into_response());
    };
    // With a key, a retry after a lost answer gets the same settlement back instead of
    // `nothing_to_settle`.
    let (fund_id, by) = (caller.fund().to_string(), caller.actor().to_string());
    idempotent::run(
        &state.db,
        &caller.0,
        &key,
        "POST /api/v1/settlements",
        &body.raw,
        move |tx| {
            async move {
                let s = service::settle_in(tx, &fund_id, cutoff, &by).await?;
                Ok((StatusCode::CREATED, view(s)?))
            }
            .boxed()
        },
    )
    .await
}

#[derive(Serialize, ToSchema)]
pub struct SettlementSummary {
    id: String,
    cutoff: String,
    total: Cents,
    created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct SettlementPage {
    items: Vec<SettlementSummary>,
    next_cursor: Option<String>,
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
    mut query: QueryParams,
) -> ApiResult<Json<SettlementPage>> {
    let page = query.page();
    query.finish()?;
    page.check_cursor(&state.db, caller.fund(), Listed::Settlements)
        .await?;
    let rows = store::list(
        &state.db,
        caller.fund(),
        page.after.as_deref(),
        page.fetch(),
    )
    .await?;
    let (rows, next_cursor) = page.split(rows, |s| &s.id);
    Ok(Json(SettlementPage {
        items: rows
            .into_iter()
            .map(|s| {
                Ok(SettlementSummary {
                    total: cents(s.total)?,
                    cutoff: format_instant(s.cutoff),
                    created_at: format_instant(s.created_at),
                    id: s.id,
                })
            })
            .collect::<ApiResult<_>>()?,
        next_cursor,
    }))
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
    let s = store::get(&state.db, caller.fund(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found("settlement"))?;
    Ok(Json(view(s)?))
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
    let xml = service::sepa_file(&state.db, caller.fund(), &id).await?;
    let disposition = format!(
        "attachment; filename=\"virements-{}.xml\"",
        crate::domain::sepa::sepa_id(&id)
    );
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/xml; charset=utf-8".to_string(),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        xml,
    )
        .into_response())
}

const STATEMENT_MAX_BYTES: usize = 16 * 1024 * 1024;

#[derive(Serialize, ToSchema)]
pub struct ImportView {
    /// The stored statement; null when every line had been imported before.
    statement_id: Option<String>,
    /// New lines stored.
    imported: i64,
    /// Lines already imported by an earlier statement (nothing done for them).
    duplicates: i64,
    /// New lines matched: payouts by EndToEndId, contributions by payment reference.
    matched: i64,
    unmatched: i64,
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
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let is_xml = matches!(essence, "application/xml" | "text/xml") || essence.ends_with("+xml");
    let is_csv = essence == "text/csv";
    if !is_xml && !is_csv {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send a camt.053 statement as application/xml or a CSV as text/csv",
        ));
    }
    // A month of statements is larger than the API's usual body limit: read up to 16 MiB.
    let bytes: Bytes = axum::body::to_bytes(body, STATEMENT_MAX_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                "a statement may be at most 16 MiB: split it",
            )
        })?;
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        ApiError::new(
            ErrorCode::StatementUnreadable,
            "the statement must be UTF-8 text",
        )
    })?;
    let statement = if is_xml {
        parse_camt053(text)
    } else {
        parse_csv(text)
    }
    .map_err(service::statement_error)?;
    let o = service::import_statement(&state.db, caller.fund(), caller.actor(), &statement).await?;
    Ok(Json(ImportView {
        statement_id: o.statement_id,
        imported: o.imported,
        duplicates: o.duplicates,
        matched: o.matched,
        unmatched: o.unmatched,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct BankLineView {
    id: String,
    statement_id: String,
    booked_on: String,
    /// Signed: negative is money out of the fund's account.
    #[schema(example = "-120.50")]
    amount: String,
    reference: String,
    counterparty: Option<String>,
    bank_ref: Option<String>,
    end_to_end_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ReconciliationView {
    /// Bank lines no payout or member payment was found for.
    unmatched_bank_lines: Vec<BankLineView>,
    /// Transfers to shops not yet seen on a statement.
    unpaid_settlement_lines: Vec<UnpaidLineView>,
    /// Sum of the unmatched bank lines (signed).
    unmatched_total: String,
    unpaid_total: Cents,
}

#[derive(Serialize, ToSchema)]
pub struct UnpaidLineView {
    settlement_id: String,
    #[serde(flatten)]
    line: SettlementLineView,
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
    let r = service::reconciliation(&state.db, caller.fund()).await?;
    let unmatched_total: i64 = r.unmatched_bank_lines.iter().map(|l| l.amount).sum();
    let unpaid_total: i64 = r.unpaid_settlement_lines.iter().map(|l| l.amount).sum();
    Ok(Json(ReconciliationView {
        unmatched_bank_lines: r
            .unmatched_bank_lines
            .into_iter()
            .map(|l| BankLineView {
                amount: format_signed_cents(l.amount),
                id: l.id,
                statement_id: l.statement_id,
                booked_on: l.booked_on,
                reference: l.reference,
                counterparty: l.counterparty,
                bank_ref: l.bank_ref,
                end_to_end_id: l.end_to_end_id,
            })
            .collect(),
        unpaid_settlement_lines: r
            .unpaid_settlement_lines
            .into_iter()
            .map(|l| {
                Ok(UnpaidLineView {
                    settlement_id: l.settlement_id.clone(),
                    line: line_view(l)?,
                })
            })
            .collect::<ApiResult<_>>()?,
        unmatched_total: format_signed_cents(unmatched_total),
        unpaid_total: cents(unpaid_total)?,
    }))
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

#[derive(Serialize, ToSchema)]
pub struct MatchView {
    bank_line_id: String,
    /// `payout` or `contribution`.
    matched_kind: String,
    /// The EndToEndId paid, or the contribution payment's id.
    matched_id: String,
    entry_id: i64,
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
    fn pick(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim).filter(|v| !v.is_empty())
    }
    let target = match (pick(&body.value.end_to_end_id), pick(&body.value.member_id)) {
        (Some(e2e), None) => service::ManualMatch::Payout(e2e.to_string()),
        (None, Some(member)) => service::ManualMatch::Contribution(member.to_string()),
        _ => {
            return Err(ApiError::field(
                ErrorCode::ValidationFailed,
                "end_to_end_id",
                "give either end_to_end_id (a debit) or member_id (a credit)",
            ))
        }
    };
    let m = service::match_line(&state.db, caller.fund(), &id, target).await?;
    Ok(Json(MatchView {
        bank_line_id: m.bank_line_id,
        matched_kind: m.kind,
        matched_id: m.matched_id,
        entry_id: m.entry_id,
    }))
}
