//! The till: an amount, a code (typed by a USB/Bluetooth scanner ending with Enter, by hand, or
//! read by the camera), a big approved/declined answer with the reason and the remaining
//! balance, and the day's sales and refunds. It never shows who the member is.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde_json::{json, Value};

use super::call::{self, s, typed_amount};
use super::i18n::M;
use super::layout::{csrf_field, notice, page, respond};
use super::problem::problem_text;
use super::session::{Form, Web};
use crate::api::extract::{IdempotencyKey, TerminalOnly};
use crate::api::page::QueryParams;
use crate::api::redemptions;
use crate::app::AppState;
use crate::domain::Role;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/caisse", get(till_page))
        .route("/caisse/paiement", post(pay))
        .route("/caisse/remboursement/{id}", post(refund))
}

async fn till_page(State(state): State<AppState>, web: Web) -> Response {
    render(&state, &web, None).await
}

async fn render(state: &AppState, web: &Web, outcome: Option<Markup>) -> Response {
    let caller = match web.require(&[Role::Terminal]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let today = crate::domain::today().to_string();
    let sales = call::json(
        redemptions::list(
            State(state.clone()),
            caller,
            QueryParams::from_pairs([("from", today.as_str()), ("limit", "200")]),
        )
        .await,
    )
    .await;
    let sales: Vec<Value> = match sales {
        Ok(v) => v["items"].as_array().cloned().unwrap_or_default(),
        Err(e) => return super::layout::internal_error(web, e.detail),
    };
    let l = web.lang;
    let cents = |v: &Value, k: &str| super::i18n::parse_cents(s(v, k)).unwrap_or(0);
    // A sale the treasurer reversed is not a sale any more.
    let reversed = |r: &Value| r["reversed"].as_bool().unwrap_or(false);
    let total: i64 = sales
        .iter()
        .filter(|r| !reversed(r))
        .map(|r| cents(r, "amount"))
        .sum();
    let refunded: i64 = sales.iter().map(|r| cents(r, "refunded")).sum();
    let body = html! {
        @if let Some(o) = outcome { (o) }
        section.card aria-labelledby="pay-h" {
            h2 id="pay-h" { (web.t(M::Pay)) }
            p { (web.t(M::TillHelp)) }
            // The key drawn with this page is also in `data-idem`, which no browser restores:
            // till.js binds the key to the sale it was sent with (see there). `autocomplete`
            // off: a browser restoring the form after Back must not restore an old key.
            @let key = super::form_key();
            form method="post" action="/caisse/paiement" id="pay" autocomplete="off" data-idem=(key) {
                (csrf_field(web))
                input type="hidden" name="idem" value=(key) id="idem";
                label for="amount" { (web.t(M::AmountEuros)) }
                input.big id="amount" name="amount" type="text" inputmode="decimal" required autofocus
                    pattern="[0-9]+([.,][0-9]{1,2})?";
                label for="code" { (web.t(M::Code)) }
                input id="code" name="code" type="text" autocapitalize="off" spellcheck="false";
                div id="camera" hidden {
                    button type="button" id="camera-start" { (web.t(M::ScanCamera)) }
                    button type="button" id="camera-stop" hidden { (web.t(M::StopCamera)) }
                    video id="camera-video" muted playsinline hidden {}
                    p id="camera-msg" role="status" {}
                }
                template id="camera-unavailable" { (web.t(M::CameraUnavailable)) }
                label for="pin" { (web.t(M::Pin)) }
                input id="pin" name="pin" type="password" inputmode="numeric" pattern="[0-9]{4,6}" autocomplete="off";
                details {
                    summary { (web.t(M::ManualEntry)) }
                    label for="card" { (web.t(M::CardId)) }
                    input id="card" name="card" type="text" autocapitalize="off" spellcheck="false";
                    label for="mcode" { (web.t(M::CardCode)) }
                    input id="mcode" name="mcode" type="text" inputmode="numeric" pattern="[0-9]{8}";
                }
                button.big type="submit" { (web.t(M::Pay)) }
            }
        }
        section aria-labelledby="sales-h" {
            h2 id="sales-h" { (web.t(M::TodaySales)) }
            dl.figures {
                dt { (web.t(M::TotalSales)) } dd id="total-sales" { (l.money(total)) }
                dt { (web.t(M::TotalRefunds)) } dd id="total-refunds" { (l.money(refunded)) }
            }
            @if sales.is_empty() {
                p { (web.t(M::NoSales)) }
            } @else {
                div.scroll {
                    table {
                        thead { tr {
                            th scope="col" { (web.t(M::TillTime)) }
                            th scope="col" class="num" { (web.t(M::Amount)) }
                            th scope="col" class="num" { (web.t(M::Refunded)) }
                            th scope="col" { (web.t(M::Refund)) }
                        } }
                        tbody {
                            @for r in &sales {
                                @let id = s(r, "id");
                                tr {
                                    td { (crate::domain::local_clock(s(r, "created_at")).unwrap_or_default()) }
                                    td class="num" { (l.money_str(s(r, "amount"))) }
                                    td class="num" { (l.money_str(s(r, "refunded"))) }
                                    td {
                                        @if reversed(r) {
                                            (web.t(M::SaleReversed))
                                        } @else if cents(r, "refunded") < cents(r, "amount") {
                                            form.inline method="post" action=(format!("/caisse/remboursement/{id}")) {
                                                (csrf_field(web))
                                                input type="hidden" name="idem" value=(super::form_key());
                                                label for=(format!("refund-{id}")) class="sr" { (web.t(M::RefundAmount)) }
                                                input id=(format!("refund-{id}")) name="amount" type="text" inputmode="decimal" size="6" required;
                                                button type="submit" { (web.t(M::Refund)) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    respond(
        StatusCode::OK,
        page(web, web.t(M::TillTitle), &["till.js"], body),
    )
}

/// What the form's fields make as the QR payload: the scanned code, else the manual entry.
fn token_of(form: &Form) -> String {
    if let Some(code) = form.get("code") {
        return code.to_string();
    }
    match (form.get("card"), form.get("mcode")) {
        (Some(card), Some(code)) => format!("caisse1:{card}:{code}"),
        (Some(card), None) => format!("caisse1:{card}"),
        _ => String::new(),
    }
}

/// When the answer was first given, on the till's clock (the fund's time zone).
fn till_clock(answer: &Value) -> String {
    crate::domain::local_clock(s(answer, "created_at")).unwrap_or_else(|| "--:--".into())
}

fn idempotency_key(form: &Form) -> String {
    form.get("idem")
        .map(String::from)
        .unwrap_or_else(super::form_key)
}

async fn pay(State(state): State<AppState>, form: Form) -> Response {
    let web = &form.web;
    let caller = match web.require(&[Role::Terminal]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut request =
        json!({"token": token_of(&form), "amount": typed_amount(&form.text("amount"))});
    if let Some(pin) = form.get("pin") {
        request["pin"] = json!(pin);
    }
    let answer = async {
        let auth = call::authorized::<TerminalOnly>(&caller)?;
        let body = call::body(request)?;
        call::json_replayed(
            redemptions::redeem(
                State(state.clone()),
                auth,
                IdempotencyKey::from_form(Some(&idempotency_key(&form))),
                body,
            )
            .await,
        )
        .await
    }
    .await;
    let l = web.lang;
    let outcome = match answer {
        // The same key and sale again (Back, a reload, a second click): the first answer,
        // said to be one, so that goods never leave on a payment that did not happen now.
        Ok((v, true)) => html! {
            div.outcome.replayed role="alert" id="outcome" data-status="replayed" {
                p.verdict { "⚠ " (l.f(M::AlreadyRecorded, &[&till_clock(&v)])) }
                p.amount { (l.money_str(s(&v, "amount"))) }
                p { (web.t(M::AlreadyRecordedHelp)) }
            }
        },
        Ok((v, false)) => html! {
            div.outcome.approved role="status" aria-live="assertive" id="outcome" data-status="approved" {
                p.verdict { "✔ " (web.t(M::Approved)) }
                p.amount { (l.money_str(s(&v, "amount"))) }
                p { (web.t(M::RemainingBalance)) " : " strong id="remaining" { (l.money_str(s(&v, "remaining_balance"))) } }
            }
        },
        Err(e) => html! {
            div.outcome.declined role="alert" id="outcome" data-status="declined" data-code=(e.code) {
                p.verdict { "✖ " (web.t(M::Declined)) }
                p id="reason" { (problem_text(web, &e)) }
            }
        },
    };
    render(&state, web, Some(outcome)).await
}

async fn refund(State(state): State<AppState>, Path(id): Path<String>, form: Form) -> Response {
    let web = &form.web;
    let caller = match web.require(&[Role::Terminal]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let answer = async {
        let auth = call::authorized::<TerminalOnly>(&caller)?;
        let body = call::body(json!({"amount": typed_amount(&form.text("amount"))}))?;
        call::json_replayed(
            redemptions::refund(
                State(state.clone()),
                auth,
                Path(id),
                IdempotencyKey::from_form(Some(&idempotency_key(&form))),
                body,
            )
            .await,
        )
        .await
    }
    .await;
    let outcome = match answer {
        Ok((v, true)) => html! {
            p.notice.replayed role="alert" id="refund-replayed" {
                (web.lang.f(M::RefundAlreadyRecorded, &[&till_clock(&v)]))
            }
        },
        Ok((_, false)) => notice(true, web.t(M::RefundDone)),
        Err(e) => notice(false, &problem_text(web, &e)),
    };
    render(&state, web, Some(outcome)).await
}
