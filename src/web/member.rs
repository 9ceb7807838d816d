//! The member's pages: balance and figures, history, the live QR code of the phone card, the
//! printable card, and the directory of approved shops.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};

use super::i18n::M;
use super::layout::{csrf_field, inline_svg, notice, page, respond};
use super::problem::refused;
use super::session::{Form, Web};
use crate::app::AppState;
use crate::caller::Caller;
use crate::domain::card::{CardKind, CardStatus, STEP_SECONDS};
use crate::domain::shop::ShopStatus;
use crate::domain::{now_micros, CardId, MemberId, Role};
use crate::service::cards::{self, MemberCard, NewCardRequest};
use crate::service::error::ServiceError;
use crate::service::members::{Account, MemberAccount, MemberRecord, Transaction};
use crate::service::{self, shops::ShopFilter};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/membre", get(member_page))
        .route("/membre/carte", get(printable_card).post(create_card))
        .route("/membre/qr/{card_id}", get(qr))
        .route("/membre/commerces", get(directory))
}

/// Seconds left in the current 30-second step of the codes.
fn seconds_left() -> i64 {
    let now = now_micros().div_euclid(1_000_000);
    STEP_SECONDS - now.rem_euclid(STEP_SECONDS)
}

/// The member's cards, or the page to answer when they cannot be read.
async fn cards_of(
    state: &AppState,
    web: &Web,
    caller: &Caller,
    member_id: &str,
) -> Result<Vec<MemberCard>, Response> {
    let member = MemberId::new(member_id);
    cards::list(&state.db, caller, &member, MAX_CARDS, None)
        .await
        .map(|page| page.items)
        .map_err(|e| super::layout::internal_error(web, e))
}

/// More cards than a member ever holds (a list page's most).
const MAX_CARDS: i64 = 200;

async fn qr_markup(
    state: &AppState,
    caller: &Caller,
    card_id: &CardId,
) -> Result<String, ServiceError> {
    Ok(cards::qr(&state.db, &state.cards, caller, card_id).await?)
}

async fn member_page(State(state): State<AppState>, web: Web) -> Response {
    render(&state, &web, None).await
}

async fn render(state: &AppState, web: &Web, flash: Option<Markup>) -> Response {
    let caller = match web.require(&[Role::Member]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let me = match service::members::me(&state.db, &caller).await {
        Ok(me) => me,
        Err(e) => return super::layout::internal_error(web, e),
    };
    let Some((member, account)) = me.member else {
        return super::layout::internal_error(web, "a member's login without its member");
    };
    let member_id = member.id();
    let cards = match cards_of(state, web, &caller, &member_id).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let app_card = cards
        .iter()
        .find(|c| c.kind == CardKind::App && c.status == CardStatus::Active)
        .map(|c| c.card_id.clone());
    // The history is a part of the page: if it cannot be read, the rest still shows.
    let history = service::members::transactions(&state.db, &caller, &member_id, None, 30)
        .await
        .map(|list| list.items)
        .unwrap_or_default();
    let qr = match &app_card {
        Some(id) => Some(qr_markup(state, &caller, id).await),
        None => None,
    };
    let l = web.lang;
    let left = seconds_left();
    let body = html! {
        @if let Some(f) = flash { (f) }
        section.card aria-labelledby="qr-h" {
            h2 id="qr-h" { (web.t(M::QrTitle)) }
            @match (&app_card, &qr) {
                (Some(id), Some(Ok(svg))) => {
                    p { (web.t(M::QrHelp)) }
                    div.qr id="qr" role="img" aria-label=(web.t(M::QrAlt))
                        data-src=(format!("/membre/qr/{id}")) data-left=(left) { (inline_svg(svg)) }
                    p.countdown aria-live="off" {
                        span id="countdown" data-template=(web.t(M::QrCountdown)) {
                            (l.f(M::QrCountdown, &[&left.to_string()]))
                        }
                    }
                    noscript { p { (web.t(M::QrNoScript)) } }
                }
                (Some(_), Some(Err(e))) => { (notice(false, &refused(web, e))) }
                _ => {
                    p { (web.t(M::NoCard)) }
                    form method="post" action="/membre/carte" {
                        (csrf_field(web))
                        button type="submit" { (web.t(M::CreateAppCard)) }
                    }
                }
            }
        }
        (figures_section(web, &member, &account))
        (history_section(web, &history))
    };
    respond(
        StatusCode::OK,
        page(web, web.t(M::MemberTitle), &["member.js"], body),
    )
}

/// The balance and the monthly figures of the member, with the reference to quote on transfers.
fn figures_section(web: &Web, member: &MemberRecord, account: &Account) -> Markup {
    let l = web.lang;
    html! {
    section aria-labelledby="fig-h" {
        h2 id="fig-h" { (web.t(M::Balance)) }
        p.big id="balance" { (l.money(account.balance.cents())) }
        dl.figures {
            dt { (web.t(M::MonthlyAllowance)) } dd { (l.money(member.monthly_allowance.cents())) }
            dt { (web.t(M::MonthlyContribution)) } dd { (l.money(member.contribution.cents())) }
            dt { (web.t(M::ContributionsDue)) } dd { (l.money(account.contributions_due.cents())) }
            dt { (web.t(M::PaymentReference)) } dd { code { (member.member.payment_reference) } }
        }
    }
    }
}

/// The latest movements on the member's two accounts.
fn history_section(web: &Web, history: &[Transaction]) -> Markup {
    let l = web.lang;
    html! {
    section aria-labelledby="hist-h" {
        h2 id="hist-h" { (web.t(M::History)) }
        @if history.is_empty() {
            p { (web.t(M::NoHistory)) }
        } @else {
            div.scroll {
                table {
                    thead { tr {
                        th scope="col" { (web.t(M::Date)) }
                        th scope="col" { (web.t(M::Label)) }
                        th scope="col" { (web.t(M::Account)) }
                        th scope="col" class="num" { (web.t(M::Amount)) }
                    } }
                    tbody {
                        @for h in history {
                            tr {
                                td { (h.date) }
                                td { (h.label) }
                                td { @match h.account {
                                    MemberAccount::Allowance => (web.t(M::AccountAllowance)),
                                    MemberAccount::Contribution => (web.t(M::AccountContribution)),
                                } }
                                td class="num" { (l.money(h.amount.cents())) }
                            }
                        }
                    }
                }
            }
        }
    }
    }
}

/// The member makes their own phone card (an app card; printed cards come from the staff).
async fn create_card(State(state): State<AppState>, form: Form) -> Response {
    let web = &form.web;
    let caller = match web.require(&[Role::Member]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let request = NewCardRequest {
        kind: CardKind::App,
        pin: None,
    };
    let created = match caller.member() {
        Some(member) => cards::create(&state.db, &state.cards, &caller, member, request)
            .await
            .map_err(ServiceError::from),
        None => Err(ServiceError::not_found("member")),
    };
    let flash = match created {
        Ok(issued) => html! {
            (notice(true, web.t(M::CardCreated)))
            details { summary { (web.t(M::CardSecretHint)) } p { code { (issued.secret.unwrap_or_default()) } } }
        },
        Err(e) => notice(false, &refused(web, &e)),
    };
    render(&state, web, Some(flash)).await
}

/// The current code's QR image, for the page's script; `X-Step-Seconds-Left` says when the
/// next one comes.
async fn qr(State(state): State<AppState>, web: Web, Path(card_id): Path<CardId>) -> Response {
    let caller = match web.require(&[Role::Member]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match qr_markup(&state, &caller, &card_id).await {
        Ok(svg) => (
            [
                (header::CONTENT_TYPE, "image/svg+xml".to_string()),
                (header::CACHE_CONTROL, "no-store".to_string()),
                (
                    header::HeaderName::from_static("x-step-seconds-left"),
                    seconds_left().to_string(),
                ),
            ],
            svg,
        )
            .into_response(),
        Err(_) => super::layout::error_page(&web, StatusCode::NOT_FOUND, web.t(M::NotFound)),
    }
}

/// The printed cards of the member (static QR + PIN), ready to print.
async fn printable_card(State(state): State<AppState>, web: Web) -> Response {
    let caller = match web.require(&[Role::Member]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let member_id = caller.member().map(|m| m.to_string()).unwrap_or_default();
    let cards = match cards_of(&state, &web, &caller, &member_id).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut printed = Vec::new();
    for c in cards
        .into_iter()
        .filter(|c| c.kind == CardKind::Printed && c.status != CardStatus::Revoked)
    {
        if let Ok(svg) = qr_markup(&state, &caller, &c.card_id).await {
            printed.push((c.card_id, svg));
        }
    }
    let body = html! {
        @if printed.is_empty() {
            p { (web.t(M::PrintNone)) }
        } @else {
            p.noprint { (web.t(M::PrintHelp)) }
            @for (id, svg) in &printed {
                figure.printcard {
                    div.qr role="img" aria-label=(web.t(M::QrAlt)) { (inline_svg(svg)) }
                    figcaption { (web.t(M::AppName)) " — " (web.t(M::CardNumber)) " " code { (id) } }
                }
            }
            button.noprint type="button" id="print" { (web.t(M::Print)) }
        }
    };
    respond(
        StatusCode::OK,
        page(&web, web.t(M::PrintTitle), &["print.js"], body),
    )
}

/// As many shops as the directory lists.
const DIRECTORY_SHOWN: i64 = 200;

async fn directory(State(state): State<AppState>, web: Web) -> Response {
    let caller = match web.require(&[Role::Member, Role::Admin, Role::Treasurer, Role::Committee]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let approved = ShopFilter {
        status: Some(ShopStatus::Approved),
        category: None,
    };
    let items =
        match service::shops::list(&state.db, &caller, approved, None, DIRECTORY_SHOWN).await {
            Ok(items) => items,
            Err(e) => return super::layout::internal_error(&web, e),
        };
    let body = html! {
        @if items.is_empty() {
            p { (web.t(M::ShopsNone)) }
        } @else {
            ul.shops {
                @for shop in &items {
                    li {
                        h2 { (shop.name) }
                        p { (shop.address) }
                        p.muted {
                            (web.t(M::Categories)) " : " (shop.categories.join(", "))
                        }
                    }
                }
            }
        }
    };
    respond(StatusCode::OK, page(&web, web.t(M::ShopsTitle), &[], body))
}
