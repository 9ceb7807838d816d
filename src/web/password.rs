//! Choosing one's password from a link (an invitation, or a new password after "mot de passe
//! oublié"), and asking for such a link. Public pages: the link is the proof.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};

use super::i18n::M;
use super::layout::{csrf_field, notice, page, respond};
use super::problem::refused;
use super::session::{Form, Web};
use crate::app::AppState;
use crate::service::error::ServiceError;
use crate::service::links::{self, LinkError, OpenLink};
use crate::service::sessions::SessionFor;
use crate::store::login_links::Purpose;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            &format!("{}{{token}}", links::LINK_PATH),
            get(link_page).post(choose),
        )
        .route("/mot-de-passe-oublie", get(forgot_page).post(forgot))
}

/// A page reached before any login starts the pre-session its form's CSRF token comes from.
fn with_pre(mut web: Web, status: StatusCode, body: impl FnOnce(&Web) -> Markup) -> Response {
    let cookie = web.start_pre();
    let mut r = respond(status, body(&web));
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

fn dead_link(web: &Web) -> Markup {
    page(
        web,
        web.t(M::LinkTitle),
        &[],
        html! {
            section.card aria-labelledby="link-h" {
                h2 id="link-h" { (web.t(M::LinkDead)) }
                (notice(false, web.t(M::ErrLinkInvalid)))
                p { a href="/mot-de-passe-oublie" { (web.t(M::ForgotAsk)) } }
            }
        },
    )
}

fn password_form(web: &Web, token: &str, link: &OpenLink, error: Option<&str>) -> Markup {
    let intro = match link.purpose {
        Purpose::Invitation => M::LinkIntroInvitation,
        Purpose::Reset => M::LinkIntroReset,
    };
    let until = web.lang.f(
        M::LinkUntil,
        &[
            &web.lang.date(link.expires_at.local_date()),
            &link.expires_at.local_clock(),
        ],
    );
    page(
        web,
        web.t(M::LinkTitle),
        &[],
        html! {
            section.card aria-labelledby="link-h" {
                h2 id="link-h" { (web.t(M::YourAccount)) }
                p { (web.t(intro)) }
                @if let Some(e) = error { (notice(false, e)) }
                form method="post" action=(format!("{}{token}", links::LINK_PATH)) {
                    (csrf_field(web))
                    label for="email" { (web.t(M::Email)) }
                    input id="email" type="email" value=(link.email) readonly autocomplete="username";
                    label for="password" { (web.t(M::NewPassword)) }
                    input id="password" name="password" type="password" required minlength="10"
                        autocomplete="new-password" aria-describedby="password-help";
                    p.help id="password-help" { (web.t(M::PasswordHelp)) }
                    label for="password_confirmation" { (web.t(M::PasswordAgain)) }
                    input id="password_confirmation" name="password_confirmation" type="password"
                        required minlength="10" autocomplete="new-password";
                    button type="submit" { (web.t(M::SavePassword)) }
                }
                p.help { (until) }
            }
        },
    )
}

async fn link_page(State(state): State<AppState>, web: Web, Path(token): Path<String>) -> Response {
    match links::open(&state.db, &token).await {
        Ok(link) => with_pre(web, StatusCode::OK, |w| {
            password_form(w, &token, &link, None)
        }),
        Err(LinkError::Invalid) => with_pre(web, StatusCode::GONE, dead_link),
        Err(LinkError::Refused(e)) => super::layout::internal_error(&web, e),
    }
}

/// Sets the password, then signs the person in and takes them to their home page.
async fn choose(State(state): State<AppState>, Path(token): Path<String>, form: Form) -> Response {
    let web = &form.web;
    let password = form.fields.get("password").cloned().unwrap_or_default();
    let again = form
        .fields
        .get("password_confirmation")
        .cloned()
        .unwrap_or_default();
    match links::choose_password(&state.db, &token, &password, &again).await {
        Ok(user) => {
            let home = super::home_of(user.role);
            super::open_session(&state, web, SessionFor::Person(&user), home).await
        }
        Err(LinkError::Invalid) => respond(StatusCode::GONE, dead_link(web)),
        Err(LinkError::Refused(e)) if e.is_internal() => super::layout::internal_error(web, e),
        Err(LinkError::Refused(e)) => match links::open(&state.db, &token).await {
            Ok(link) => respond(
                StatusCode::UNPROCESSABLE_ENTITY,
                password_form(web, &token, &link, Some(&refused(web, &e))),
            ),
            Err(_) => respond(StatusCode::GONE, dead_link(web)),
        },
    }
}

/// Without a mail server there is nothing to send: the page says whom to ask, with no form.
fn forgot_form(web: &Web, mails: bool, email: &str, outcome: Option<Markup>) -> Markup {
    page(
        web,
        web.t(M::ForgotTitle),
        &[],
        html! {
            section.card aria-labelledby="forgot-h" {
                h2 id="forgot-h" { (web.t(M::ForgotHow)) }
                @if let Some(o) = outcome { (o) }
                @if mails {
                    p { (web.t(M::ForgotIntro)) }
                    form method="post" action="/mot-de-passe-oublie" {
                        (csrf_field(web))
                        label for="email" { (web.t(M::Email)) }
                        input id="email" name="email" type="email" autocomplete="username" required value=(email);
                        button type="submit" { (web.t(M::ForgotSend)) }
                    }
                } @else {
                    p id="no-mail" { (web.t(M::ForgotNoMail)) }
                }
                p { a href="/connexion" { (web.t(M::BackToLogin)) } }
            }
        },
    )
}

async fn forgot_page(State(state): State<AppState>, web: Web) -> Response {
    let mails = state.mailer.is_some();
    with_pre(web, StatusCode::OK, |w| forgot_form(w, mails, "", None))
}

/// The answer is the same whether the address is known or not: nobody learns from this page
/// who has a login. Without a mail server no link is made (nobody could receive it): the page
/// says to ask the fund's admin.
async fn forgot(State(state): State<AppState>, form: Form) -> Response {
    let web = &form.web;
    let email = form.text("email");
    let Some(mailer) = state.mailer.as_deref() else {
        return respond(StatusCode::OK, forgot_form(web, false, &email, None));
    };
    match send_reset_links(&state, mailer, &email).await {
        Ok(()) => {
            let note = notice(true, web.t(M::ForgotSent));
            respond(StatusCode::OK, forgot_form(web, true, &email, Some(note)))
        }
        Err(e) => super::layout::internal_error(web, e),
    }
}

async fn send_reset_links(
    state: &AppState,
    mailer: &crate::mail::Mailer,
    email: &str,
) -> Result<(), ServiceError> {
    for link in links::forgotten(&state.db, email).await? {
        let fund_id = crate::domain::FundId::new(link.user.fund_id.clone());
        let fund = crate::service::settings::get(&state.db, &fund_id).await?;
        let mail = links::mail(&link, &fund.fund_name, &state.public_url());
        // A server that refuses is logged; the person sees the same answer (and may ask again).
        if let Err(e) = mailer.send(&mail).await {
            tracing::error!(error = %e, "could not send a new-password link");
        }
    }
    Ok(())
}
