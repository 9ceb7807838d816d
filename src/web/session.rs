//! Cookie sessions, the language, and CSRF protection of the web interface.
//!
//! - The session cookie `caisse_sid` holds 256 random bits; the database keeps its SHA-256.
//!   It is `HttpOnly`, `SameSite=Lax`, and `Secure` when the request came over TLS (directly or
//!   through a proxy that says `X-Forwarded-Proto: https`). A login always makes a new id.
//! - Every form carries a CSRF token: for a session, a hash of the session id (so an attacker
//!   who cannot read the cookie cannot make it); before login, a hash of a random pre-session
//!   cookie (`caisse_pre`, double-submit). [`Form`] checks it on every POST: 403 otherwise.

use std::collections::BTreeMap;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::i18n::{Lang, M};
use crate::app::AppState;
use crate::auth::token_hash;
use crate::caller::Caller;
use crate::domain::Role;
use crate::domain::{Cents, ErrorCode};
use crate::service::error::ServiceError;
use crate::service::sessions;

pub const SESSION_COOKIE: &str = "caisse_sid";
pub const PRE_COOKIE: &str = "caisse_pre";
pub const LANG_COOKIE: &str = "caisse_lang";

/// A signed-in browser.
#[derive(Clone, Debug)]
pub struct Session {
    pub id_hash: String,
    pub csrf: String,
    pub caller: Caller,
}

/// What every page needs to know about the request.
#[derive(Clone, Debug)]
pub struct Web {
    pub lang: Lang,
    /// Came over TLS: cookies get `Secure`.
    pub secure: bool,
    pub session: Option<Session>,
    /// The pre-session cookie's value, when the browser has one.
    pre: Option<String>,
    /// The path asked for, to come back to it after a language switch.
    pub path: String,
}

fn derive(purpose: &str, secret: &str) -> String {
    hex::encode(Sha256::digest(
        format!("caisse-web:{purpose}:{secret}").as_bytes(),
    ))
}

pub fn cookies(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for value in headers.get_all(header::COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for pair in value.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=') {
                out.entry(k.trim().to_string())
                    .or_insert_with(|| v.trim().to_string());
            }
        }
    }
    out
}

/// A `Set-Cookie` value with the flags every cookie of ours has.
pub fn set_cookie(web: &Web, name: &str, value: &str, max_age_secs: i64) -> String {
    format!(
        "{name}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax{}",
        if web.secure { "; Secure" } else { "" }
    )
}

fn over_tls(headers: &HeaderMap) -> bool {
    let forwarded_https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').next().unwrap_or("").trim() == "https");
    let forwarded = headers
        .get(header::FORWARDED)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("proto=https"));
    forwarded_https || forwarded
}

impl Web {
    /// The token forms must carry: the session's, else the pre-session's.
    pub fn csrf(&self) -> Option<String> {
        match (&self.session, &self.pre) {
            (Some(s), _) => Some(s.csrf.clone()),
            (None, Some(pre)) => Some(derive("pre", pre)),
            (None, None) => None,
        }
    }

    pub fn has_pre(&self) -> bool {
        self.pre.is_some()
    }

    /// Gives this request a pre-session (before login) and answers the cookie to set.
    pub fn start_pre(&mut self) -> Option<String> {
        if self.session.is_some() || self.pre.is_some() {
            return None;
        }
        let value = crate::auth::new_token("wp");
        let cookie = set_cookie(self, PRE_COOKIE, &value, 2 * 3600);
        self.pre = Some(value);
        Some(cookie)
    }

    pub fn t(&self, m: M) -> &'static str {
        self.lang.t(m)
    }

    pub fn caller(&self) -> Option<&Caller> {
        self.session.as_ref().map(|s| &s.caller)
    }

    pub fn role(&self) -> Option<Role> {
        self.caller().map(|c| c.role())
    }

    /// The caller when signed in with one of these roles; else the answer to give (the login
    /// page, or 403).
    // The error is the page to answer, built at most once per request: boxing it buys nothing.
    #[allow(clippy::result_large_err)]
    pub fn require(&self, roles: &[Role]) -> Result<Caller, Response> {
        match self.caller() {
            None => Err(axum::response::Redirect::to("/connexion").into_response()),
            Some(c) if roles.contains(&c.role()) => Ok(c.clone()),
            Some(_) => Err(super::layout::error_page(
                self,
                axum::http::StatusCode::FORBIDDEN,
                self.t(M::Forbidden),
            )),
        }
    }
}

impl FromRequestParts<AppState> for Web {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let jar = cookies(&parts.headers);
        let lang = jar
            .get(LANG_COOKIE)
            .and_then(|l| Lang::parse(l))
            .unwrap_or_else(|| {
                parts
                    .headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok())
                    .map_or(Lang::Fr, Lang::from_accept_language)
            });
        let mut web = Web {
            lang,
            secure: over_tls(&parts.headers),
            session: None,
            pre: jar.get(PRE_COOKIE).filter(|v| !v.is_empty()).cloned(),
            path: parts.uri.path().to_string(),
        };
        if let Some(sid) = jar.get(SESSION_COOKIE).filter(|v| !v.is_empty()) {
            let id_hash = token_hash(sid);
            let caller = sessions::of_web_session(&state.db, &id_hash)
                .await
                .map_err(|e| super::layout::internal_error(&web, e))?;
            web.session = caller.map(|caller| Session {
                csrf: derive("csrf", sid),
                id_hash,
                caller,
            });
        }
        Ok(web)
    }
}

/// A posted form whose CSRF token was checked; its fields by name (the last value wins).
pub struct Form {
    pub web: Web,
    pub fields: BTreeMap<String, String>,
}

impl Form {
    /// A field, trimmed; empty is `None`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().to_string()
    }

    /// An amount typed by a person (`12,50`, `12.50`, `12,50 €`, `1 200`), required and above
    /// zero; a refusal names `field` with `amount_invalid`, and the page keeps what was typed.
    pub fn amount(&self, field: &str) -> Result<Cents, ServiceError> {
        let typed = typed_amount(self.get(field).unwrap_or_default());
        match Cents::parse_positive(&typed) {
            Ok(c) => Ok(c),
            Err(e) => Err(ServiceError::field(
                ErrorCode::AmountInvalid,
                field,
                e.to_string(),
            )),
        }
    }

    /// An amount that may be left empty (`None`), or zero.
    pub fn optional_amount(&self, field: &str) -> Result<Option<Cents>, ServiceError> {
        let Some(raw) = self.get(field) else {
            return Ok(None);
        };
        typed_amount(raw)
            .parse::<Cents>()
            .map(Some)
            .map_err(|e| ServiceError::field(ErrorCode::AmountInvalid, field, e.to_string()))
    }

    /// A whole number (a count, a member number), or a refusal naming `field`.
    pub fn number(&self, field: &str) -> Result<Option<i64>, ServiceError> {
        let Some(raw) = self.get(field) else {
            return Ok(None);
        };
        raw.replace(['\u{a0}', '\u{202f}', ' '], "")
            .parse()
            .map(Some)
            .map_err(|_| ServiceError::field(ErrorCode::InvalidField, field, "a whole number"))
    }

    /// A date typed in a date field (`2026-12-01`) or the French way (`01/12/2026`).
    pub fn date(&self, field: &str) -> Result<Option<chrono::NaiveDate>, ServiceError> {
        let Some(raw) = self.get(field) else {
            return Ok(None);
        };
        chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .or_else(|_| chrono::NaiveDate::parse_from_str(raw, "%d/%m/%Y"))
            .map(Some)
            .map_err(|_| ServiceError::field(ErrorCode::InvalidField, field, "a date"))
    }
}

/// Amounts typed by people: `12,50` is `12.50`; spaces, thin spaces and the euro sign are
/// dropped.
pub fn typed_amount(s: &str) -> String {
    s.trim()
        .replace(',', ".")
        .replace(['\u{a0}', '\u{202f}', ' ', '€'], "")
}

impl FromRequest<AppState> for Form {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let web = Web::from_request_parts(&mut parts, state).await?;
        let req = Request::from_parts(parts, body);
        let forbidden = |web: &Web| {
            super::layout::error_page(web, axum::http::StatusCode::FORBIDDEN, web.t(M::CsrfFailed))
        };
        let axum::Form(pairs) = axum::Form::<Vec<(String, String)>>::from_request(req, state)
            .await
            .map_err(|_| forbidden(&web))?;
        let fields: BTreeMap<String, String> = pairs.into_iter().collect();
        let sent = fields.get("csrf").map(String::as_str).unwrap_or_default();
        let good = web
            .csrf()
            .is_some_and(|expected| bool::from(expected.as_bytes().ct_eq(sent.as_bytes())));
        if !good {
            return Err(forbidden(&web));
        }
        // PostgreSQL refuses NUL in text: no field carries one further than here.
        if let Some(name) = fields
            .keys()
            .find(|k| fields[*k].contains('\0') || k.contains('\0'))
        {
            let name = name.replace('\0', "\\0");
            let message = web.lang.f(M::FieldHasNul, &[&name]);
            return Err(super::layout::error_page(
                &web,
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                &message,
            ));
        }
        Ok(Form { web, fields })
    }
}
