//! The till: an amount, a code (typed by a USB/Bluetooth scanner ending with Enter, by hand, or
//! read by the camera), a big approved/declined answer with the reason and the remaining
//! balance, and the day's sales and refunds. It never shows who the member is.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};

use super::i18n::M;
use super::layout::{csrf_field, notice, page, respond};
use super::problem::refused;
use super::session::{Form, Web};
use crate::app::AppState;
use crate::domain::Role;
use crate::service::error::ServiceError;
use crate::service::idempotent::IdempotencyKey;
use crate::service::redemptions::{self as service, PayRequest, RefundRequest, TillDay};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/caisse", get(till_page))
        .route("/caisse/paiement", post(pay))
        .route("/caisse/remboursement/{id}", post(refund))
}

async fn till_page(State(state): State<AppState>, web: Web) -> Response {
    render(&state, &web, None, "").await
}

/// The till's page; after a decline, `amount` keeps what the cashier typed, so the sale is
/// paid again with another card (or after fixing the code) without typing it twice.
async fn render(state: &AppState, web: &Web, outcome: Option<Markup>, amount: &str) -> Response {
    let caller = match web.require(&[Role::Terminal]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let day = match service::till_day(&state.db, &caller).await {
        Ok(day) => day,
        Err(e) => return super::layout::internal_error(web, e),
    };
    let till = match crate::service::shops::current_terminal(&state.db, &caller).await {
        Ok(t) => t,
        Err(e) => return super::layout::internal_error(web, e),
    };
    let now = crate::domain::Instant::now().local_clock();
    let body = html! {
        // Which shop and which till this is, and the fund's time the sales are kept in.
        p.till-of id="till-of" {
            strong { (till.shop.name) } " — " (till.label) " · "
            (web.lang.f(M::TillClock, &[&now]))
        }
        @if !till.accepting_payments {
            (notice(false, web.t(M::TillShopNotAccepting)))
        }
        @if let Some(o) = outcome { (o) }
        (pay_form(web, amount))
        (sales_of_the_day(web, &day))
    };
    respond(
        StatusCode::OK,
        page(web, web.t(M::TillTitle), &["till.js"], body),
    )
}

/// The sale's form: an amount, the card's code (scanner, camera or by hand) and a PIN.
fn pay_form(web: &Web, amount: &str) -> Markup {
    html! {
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
            // After a decline the amount is kept and the code field waits for the next card.
            input.big id="amount" name="amount" type="text" inputmode="decimal" required
                autofocus[amount.is_empty()] pattern="[0-9]+([.,][0-9]{1,2})?" value=(amount);
            label for="code" { (web.t(M::Code)) }
            input id="code" name="code" type="text" autocapitalize="off" spellcheck="false"
                autofocus[!amount.is_empty()];
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
    }
}

/// The day's totals and sales, each with its refund form while something is left to refund.
fn sales_of_the_day(web: &Web, day: &TillDay) -> Markup {
    let l = web.lang;
    html! {
    section aria-labelledby="sales-h" {
        h2 id="sales-h" { (web.t(M::TodaySales)) }
        dl.figures {
            dt { (web.t(M::TotalSales)) } dd id="total-sales" { (l.money(day.total.cents())) }
            dt { (web.t(M::TotalRefunds)) } dd id="total-refunds" { (l.money(day.refunded.cents())) }
        }
        @if day.sales.is_empty() {
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
                        @for r in &day.sales {
                            @let id = &r.id;
                            tr {
                                td { (r.created_at.local_clock()) }
                                td class="num" { (l.money(r.amount.cents())) }
                                td class="num" { (l.money(r.refunded.cents())) }
                                td {
                                    @if r.reversed {
                                        (web.t(M::SaleReversed))
                                    } @else if r.refundable() {
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
    }
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

async fn pay(State(state): State<AppState>, form: Form) -> Response {
    let web = &form.web;
    let caller = match web.require(&[Role::Terminal]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let key = IdempotencyKey::from_form(form.get("idem"));
    let answer = async {
        state.check_till_rate(caller.actor())?;
        let request = PayRequest {
            token: token_of(&form),
            amount: form.amount("amount")?,
            pin: form.get("pin").map(String::from),
        };
        Ok::<_, ServiceError>(service::pay(&state.db, &state.cards, &caller, &key, &request).await?)
    }
    .await;
    let l = web.lang;
    let declined = answer.is_err();
    let outcome = match answer {
        // The same key and sale again (Back, a reload, a second click): the first answer,
        // said to be one, so that goods never leave on a payment that did not happen now.
        Ok(paid) if paid.replayed => html! {
            div.outcome.replayed role="alert" id="outcome" data-status="replayed" {
                p.verdict { "⚠ " (l.f(M::AlreadyRecorded, &[&paid.value.created_at.local_clock()])) }
                p.amount { (l.money(paid.value.amount.cents())) }
                p { (web.t(M::AlreadyRecordedHelp)) }
            }
        },
        Ok(paid) => html! {
            div.outcome.approved role="status" aria-live="assertive" id="outcome" data-status="approved" {
                p.verdict { "✔ " (web.t(M::Approved)) }
                p.amount { (l.money(paid.value.amount.cents())) }
                p { (web.t(M::RemainingBalance)) " : " strong id="remaining" { (l.money(paid.value.remaining_balance.cents())) } }
            }
        },
        Err(e) => html! {
            div.outcome.declined role="alert" id="outcome" data-status="declined" data-code=(e.code().as_str()) {
                p.verdict { "✖ " (web.t(M::Declined)) }
                p id="reason" { (refused(web, &e)) }
            }
        },
    };
    let kept = if declined {
        form.text("amount")
    } else {
        String::new()
    };
    render(&state, web, Some(outcome), &kept).await
}

async fn refund(State(state): State<AppState>, Path(id): Path<String>, form: Form) -> Response {
    let web = &form.web;
    let caller = match web.require(&[Role::Terminal]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let key = IdempotencyKey::from_form(form.get("idem"));
    let answer = async {
        state.check_till_rate(caller.actor())?;
        let request = RefundRequest {
            amount: form.amount("amount")?,
        };
        Ok::<_, ServiceError>(service::refund(&state.db, &caller, &key, &id, &request).await?)
    }
    .await;
    let outcome = match answer {
        Ok(done) if done.replayed => html! {
            p.notice.replayed role="alert" id="refund-replayed" {
                (web.lang.f(M::RefundAlreadyRecorded, &[&done.value.created_at.local_clock()]))
            }
        },
        Ok(_) => notice(true, web.t(M::RefundDone)),
        Err(e) => notice(false, &refused(web, &e)),
    };
    render(&state, web, Some(outcome), "").await
}
