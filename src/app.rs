//! The application: its shared state, and the assembly of the API (`api/`), the pages (`web/`)
//! and the layers every request goes through. `api` and `web` are two faces of the same
//! services and neither imports the other; this module is where they meet.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::api::door;
use crate::api::error::ApiError;
use crate::config::Config;
use crate::domain::ErrorCode;
use crate::service::error::ServiceError;
use crate::store::Db;

/// The client's address: the socket's peer, or the last entry of the configured header of a
/// trusted reverse proxy (`client_address_header`). `None` when neither says.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(name) = &state.config.client_address_header {
            let forwarded = parts
                .headers
                .get_all(name.as_str())
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .last()
                .and_then(|a| a.trim().parse().ok());
            if forwarded.is_some() {
                return Ok(ClientAddr(forwarded));
            }
        }
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(ClientAddr(peer))
    }
}

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    /// The fund served when a request does not name one (single-fund deployments).
    pub default_fund: String,
    /// Seals and opens card secrets.
    pub cards: Arc<crate::card_key::CardKey>,
    /// Requests per till (terminal id), when the configuration sets a rate.
    pub till_limiter: Option<Arc<governor::DefaultKeyedRateLimiter<String>>>,
    /// Failed logins per email and per client address, for the API and the web alike.
    pub logins: Arc<crate::service::login::LoginLimiter>,
    /// The fund's mail server, when the deployment names one (`smtp_url`).
    pub mailer: Option<Arc<crate::mail::Mailer>>,
}

impl AppState {
    pub fn new(
        db: Db,
        config: Config,
        default_fund: String,
        cards: Arc<crate::card_key::CardKey>,
    ) -> AppState {
        let till_limiter = std::num::NonZeroU32::new(config.till_rate_per_second).map(|rate| {
            let burst = std::num::NonZeroU32::new(config.till_burst.max(1)).unwrap_or(rate);
            Arc::new(governor::RateLimiter::keyed(
                governor::Quota::per_second(rate).allow_burst(burst),
            ))
        });
        let logins = Arc::new(crate::service::login::LoginLimiter::new(
            config.login_limits(),
        ));
        // `Config::load` already refused a bad mail configuration; one built in code that is
        // wrong sends nothing, loudly.
        let mailer = match crate::mail::Mailer::from_config(
            config.smtp_url.as_deref(),
            config.mail_from.as_deref(),
        ) {
            Ok(m) => m.map(Arc::new),
            Err(e) => {
                tracing::error!(error = %e, "no email will be sent");
                None
            }
        };
        AppState {
            db,
            logins,
            mailer,
            config: Arc::new(config),
            default_fund,
            cards,
            till_limiter,
        }
    }

    /// The start of the links sent to people (`public_url`, else `http://` and the bind
    /// address).
    pub fn public_url(&self) -> String {
        match &self.config.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.config.bind),
        }
    }

    /// 429 `rate_limited` when this till sends more than its configured rate.
    pub fn check_till_rate(&self, terminal_id: &str) -> Result<(), ServiceError> {
        let Some(limiter) = &self.till_limiter else {
            return Ok(());
        };
        limiter.check_key(&terminal_id.to_string()).map_err(|_| {
            ServiceError::refused(
                ErrorCode::RateLimited,
                "this till sends too many requests; wait a moment and retry with the same \
                 Idempotency-Key",
            )
        })
    }
}

/// Nothing the service answers may be kept by a browser or a proxy (pages and API answers show
/// personal data and money, and a page from the cache carries an old form's key), except what
/// says otherwise: the static assets.
async fn no_store_by_default(mut r: Response) -> Response {
    r.headers_mut()
        .entry(axum::http::header::CACHE_CONTROL)
        .or_insert(axum::http::HeaderValue::from_static("no-store"));
    r
}

/// The whole application: API, OpenAPI document, web interface (`/`, outside `/api/`), and the
/// layers every request goes through.
pub fn app(state: AppState) -> Router {
    let (api, openapi) = crate::api::api_router();
    let openapi = Arc::new(openapi);
    let max_body = state.config.max_body_bytes;
    api.route(
        "/api/openapi.json",
        get(move || {
            let doc = openapi.clone();
            async move { Json(doc.as_ref().clone()) }
        }),
    )
    .merge(crate::web::router())
    .fallback(|| async { ApiError::not_found("route") })
    .method_not_allowed_fallback(|| async {
        ApiError::new(
            ErrorCode::MethodNotAllowed,
            "this route does not take that method",
        )
    })
    .layer(axum::middleware::map_response(no_store_by_default))
    .layer(DefaultBodyLimit::max(max_body))
    .layer(axum::middleware::from_fn(door::refuse_nul))
    .layer(axum::middleware::from_fn(door::close_unread))
    .layer(CatchPanicLayer::custom(|_| -> Response {
        ApiError::internal("a handler panicked").into_response()
    }))
    .layer(TraceLayer::new_for_http())
    .with_state(state)
}
