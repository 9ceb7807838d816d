//! The web interface: server-rendered pages (maud), French first with English available, cookie
//! sessions with CSRF protection, and a little plain JavaScript served by caisse itself (the QR
//! code's refresh and countdown, the till's scanner and camera). Pages are the second face of
//! the same use cases as the API: they read a form into typed values, call `service::`, and
//! render the typed result; a refusal is said from its code (`problem`). Nothing here imports
//! `api`.
//!
//! Routes (all outside `/api/`): `/` (home by role), `/connexion`, `/connexion/caisse`,
//! `/deconnexion`, `/langue`, `/mot-de-passe/{lien}`, `/mot-de-passe-oublie`, `/membre…`,
//! `/caisse…`, `/comite…`, `/tresorerie…`, `/admin…`, `/static/…`.

pub mod admin;
pub mod charts;
pub mod committee;
pub mod i18n;
pub mod import;
pub mod layout;
pub mod member;
pub mod password;
pub mod people;
pub mod problem;
pub mod session;
pub mod till;
pub mod treasurer;

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use serde::Deserialize;

use crate::app::AppState;
use crate::app::ClientAddr;
use crate::auth::new_token;
use crate::domain::Role;
use crate::service::login::{self, LoginError};
use crate::service::sessions::{self, SessionFor};
use i18n::M;
use layout::{csrf_field, notice, page, respond};
use session::{set_cookie, Form, Web, LANG_COOKIE, PRE_COOKIE, SESSION_COOKIE};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/connexion", get(login_page).post(login))
        .route("/connexion/caisse", post(till_login))
        .route("/deconnexion", post(logout))
        .route("/langue", get(language))
        .route("/static/{file}", get(static_file))
        .merge(member::routes())
        .merge(till::routes())
        .merge(committee::routes())
        .merge(treasurer::routes())
        .merge(admin::routes())
        .merge(password::routes())
        .merge(people::routes())
        .merge(import::routes())
        .layer(axum::middleware::map_response(security_headers))
}

/// Headers every page gets: nothing from elsewhere may run, frame or be sniffed.
async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; \
             object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    r
}

/// Where each role starts.
pub fn home_of(role: Role) -> &'static str {
    match role {
        Role::Member => "/membre",
        Role::Terminal => "/caisse",
        Role::Committee => "/comite",
        Role::Treasurer => "/tresorerie",
        Role::Admin => "/admin",
    }
}

async fn home(web: Web) -> Response {
    match web.role() {
        Some(role) => Redirect::to(home_of(role)).into_response(),
        None => Redirect::to("/connexion").into_response(),
    }
}

/// The login page; after a refusal it keeps the email that was typed (never the password).
fn login_form(
    web: &Web,
    email: &str,
    error: Option<&str>,
    till_error: Option<&str>,
) -> maud::Markup {
    page(
        web,
        web.t(M::LoginTitle),
        &[],
        html! {
            section aria-labelledby="login-h" {
                h2 id="login-h" { (web.t(M::LoginTitle)) }
                p { (web.t(M::LoginIntro)) }
                @if let Some(e) = error { (notice(false, e)) }
                form method="post" action="/connexion" {
                    (csrf_field(web))
                    label for="email" { (web.t(M::Email)) }
                    input id="email" name="email" type="email" autocomplete="username" required value=(email);
                    label for="password" { (web.t(M::Password)) }
                    input id="password" name="password" type="password" autocomplete="current-password" required;
                    button type="submit" { (web.t(M::SignIn)) }
                }
                p { a href="/mot-de-passe-oublie" { (web.t(M::ForgotLink)) } }
            }
            section aria-labelledby="till-h" {
                h2 id="till-h" { (web.t(M::TillLoginTitle)) }
                p { (web.t(M::TillLoginIntro)) }
                @if let Some(e) = till_error { (notice(false, e)) }
                form method="post" action="/connexion/caisse" {
                    (csrf_field(web))
                    label for="till_key" { (web.t(M::TillKey)) }
                    input id="till_key" name="key" type="password" autocomplete="off" required;
                    button type="submit" { (web.t(M::OpenTill)) }
                }
            }
        },
    )
}

/// The login page also starts the pre-session that its forms' CSRF token comes from.
async fn login_page(mut web: Web) -> Response {
    if let Some(role) = web.role() {
        return Redirect::to(home_of(role)).into_response();
    }
    let cookie = web.start_pre();
    let mut r = respond(StatusCode::OK, login_form(&web, "", None, None));
    if let Some(c) = cookie {
        if let Ok(v) = HeaderValue::from_str(&c) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

/// A new session: always a fresh random id (never the one the browser came with), set as the
/// cookie; the pre-session cookie is cleared.
pub(crate) async fn open_session(
    state: &AppState,
    web: &Web,
    owner: SessionFor<'_>,
    to: &str,
) -> Response {
    let previous = web.session.as_ref().map(|s| s.id_hash.as_str());
    let hours = state.config.session_hours;
    match sessions::open_web_session(&state.db, previous, owner, hours).await {
        Ok(sid) => signed_in(web, &sid, hours, to),
        Err(e) => layout::internal_error(web, e),
    }
}

/// The answer that sets a new session's cookie (and clears the pre-session's), then goes `to`.
pub(crate) fn signed_in(web: &Web, sid: &str, hours: i64, to: &str) -> Response {
    let ttl = hours * 3600;
    let mut r = Redirect::to(to).into_response();
    for c in [
        set_cookie(web, SESSION_COOKIE, sid, ttl),
        set_cookie(web, PRE_COOKIE, "", 0),
    ] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

/// Email and password. A wrong email and a wrong password answer the same words, in the same
/// time (a dummy Argon2 check); failures are limited per email and per client address by the
/// same limiter as the API's logins (`service::login`).
async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    form: Form,
) -> Response {
    let web = &form.web;
    let email = form.text("email");
    let password = form.fields.get("password").cloned().unwrap_or_default();
    match login::sign_in(&state.db, &state.logins, client, &email, &password, None).await {
        Ok(user) => open_session(&state, web, SessionFor::Person(&user), home_of(user.role)).await,
        Err(LoginError::WrongCredentials) => respond(
            StatusCode::UNAUTHORIZED,
            login_form(web, &email, Some(web.t(M::WrongCredentials)), None),
        ),
        Err(LoginError::TooManyAttempts(wait)) => {
            let mut r = respond(
                StatusCode::TOO_MANY_REQUESTS,
                login_form(web, &email, Some(web.t(M::TooManyAttempts)), None),
            );
            let secs = login::retry_after_seconds(wait);
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            r
        }
        Err(LoginError::Other(e)) => layout::internal_error(web, e),
    }
}

/// A till signs in once with its terminal key; the session stays tied to that key. Not rate
/// limited: a key is 256 random bits, beyond guessing, and a shared limit would let anyone keep
/// every till out.
async fn till_login(State(state): State<AppState>, form: Form) -> Response {
    let web = &form.web;
    match sessions::till_by_key(&state.db, &form.text("key")).await {
        Ok(Some((fund, key_hash))) => {
            let till = SessionFor::Till {
                fund: &fund,
                key_hash,
            };
            open_session(&state, web, till, "/caisse").await
        }
        Ok(None) => respond(
            StatusCode::UNAUTHORIZED,
            login_form(web, "", None, Some(web.t(M::WrongTillKey))),
        ),
        Err(e) => layout::internal_error(web, e),
    }
}

async fn logout(State(state): State<AppState>, form: Form) -> Response {
    if let Some(s) = &form.web.session {
        if let Err(e) = sessions::close_web_session(&state.db, &s.id_hash).await {
            return layout::internal_error(&form.web, e);
        }
    }
    let mut r = Redirect::to("/connexion").into_response();
    if let Ok(v) = HeaderValue::from_str(&set_cookie(&form.web, SESSION_COOKIE, "", 0)) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

#[derive(Deserialize)]
struct LangQuery {
    l: String,
    #[serde(default)]
    retour: Option<String>,
}

/// Switches the language (a cookie for a year) and goes back where the person was.
async fn language(web: Web, Query(q): Query<LangQuery>) -> Response {
    let Some(lang) = i18n::Lang::parse(&q.l) else {
        return layout::error_page(&web, StatusCode::NOT_FOUND, web.t(M::NotFound));
    };
    // Only a path of this site: never `//elsewhere` or `/\elsewhere`.
    let back = q
        .retour
        .filter(|r| r.starts_with('/') && !r.starts_with("//") && !r.starts_with("/\\"))
        .unwrap_or_else(|| "/".into());
    let mut r = Redirect::to(&back).into_response();
    if let Ok(v) =
        HeaderValue::from_str(&set_cookie(&web, LANG_COOKIE, lang.code(), 365 * 24 * 3600))
    {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// Assets compiled into the binary: nothing is fetched from anywhere else.
/// (No session lookup here: an asset needs no one's identity.)
async fn static_file(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, mime): (&'static [u8], &str) = match file.as_str() {
        "style.css" => (
            include_bytes!("static/style.css"),
            "text/css; charset=utf-8",
        ),
        "member.js" => (
            include_bytes!("static/member.js"),
            "text/javascript; charset=utf-8",
        ),
        "till.js" => (
            include_bytes!("static/till.js"),
            "text/javascript; charset=utf-8",
        ),
        // jsQR 1.4.0 (Apache-2.0, from the npm registry): the camera's decoder where the
        // browser has no BarcodeDetector. Its licence is beside it.
        "jsQR.js" => (
            include_bytes!("static/vendor/jsQR.js"),
            "text/javascript; charset=utf-8",
        ),
        "statement.js" => (
            include_bytes!("static/statement.js"),
            "text/javascript; charset=utf-8",
        ),
        "import.js" => (
            include_bytes!("static/import.js"),
            "text/javascript; charset=utf-8",
        ),
        "print.js" => (
            include_bytes!("static/print.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return (StatusCode::NOT_FOUND, "not found").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// A random one-time key put in a money form when it is drawn: submitting the form twice pays
/// once (the API's idempotency).
pub fn form_key() -> String {
    new_token("web")
}
