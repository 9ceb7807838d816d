//! The HTTP API: axum routes, problem+json errors, and the OpenAPI document built from the
//! handlers' annotations (every route registered through `routes!` appears in it).

pub(crate) mod allowances;
pub(crate) mod cards;
pub(crate) mod contract;
pub(crate) mod contributions;
pub mod door;
pub mod error;
pub(crate) mod exports;
pub mod extract;
pub mod idempotent;
pub(crate) mod ledger;
pub(crate) mod members;
pub mod page;
pub(crate) mod redemptions;
pub(crate) mod reports;
pub(crate) mod sessions;
pub(crate) mod settings;
pub(crate) mod settlements;
pub(crate) mod shops;
pub(crate) mod system;
pub(crate) mod users;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::Config;
use crate::domain::ErrorCode;
use crate::store::Db;
use error::ApiError;

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
        AppState {
            db,
            logins,
            config: Arc::new(config),
            default_fund,
            cards,
            till_limiter,
        }
    }

    /// 429 `rate_limited` when this till sends more than its configured rate.
    pub fn check_till_rate(&self, terminal_id: &str) -> Result<(), ApiError> {
        let Some(limiter) = &self.till_limiter else {
            return Ok(());
        };
        limiter.check_key(&terminal_id.to_string()).map_err(|_| {
            ApiError::new(
                ErrorCode::RateLimited,
                "this till sends too many requests; wait a moment and retry with the same \
                 Idempotency-Key",
            )
        })
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "caisse",
        description = "API of a caisse citoyenne de l'alimentation (citizen food fund). \
                       Money is a decimal string in euros; errors are application/problem+json.",
        license(name = "AGPL-3.0-or-later")
    ),
    modifiers(&BearerAuth),
    components(schemas(error::Problem))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API routes and their OpenAPI document.
pub fn api_router() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(system::healthz))
        .routes(routes!(sessions::create_session))
        .routes(routes!(sessions::delete_session))
        .routes(routes!(users::create_user, users::list_users))
        .routes(routes!(settings::get_settings, settings::put_settings))
        .routes(routes!(ledger::trial_balance))
        .routes(routes!(ledger::verification))
        .routes(routes!(ledger::reverse_entry))
        .routes(routes!(ledger::record_subsidy))
        .routes(routes!(reports::summary))
        .routes(routes!(reports::monthly))
        .routes(routes!(exports::fec))
        .routes(routes!(exports::journal_csv))
        .routes(routes!(members::create_member, members::list_members))
        .routes(routes!(members::get_member, members::patch_member))
        .routes(routes!(members::suspend_member))
        .routes(routes!(members::reactivate_member))
        .routes(routes!(members::leave_member))
        .routes(routes!(members::member_account))
        .routes(routes!(members::member_transactions))
        .routes(routes!(members::me))
        .routes(routes!(contributions::call_contributions))
        .routes(routes!(contributions::record_payment))
        .routes(routes!(contributions::arrears))
        .routes(routes!(contributions::simulate))
        .routes(routes!(allowances::issue))
        .routes(routes!(redemptions::redeem, redemptions::list))
        .routes(routes!(redemptions::refund))
        .routes(routes!(shops::create_shop, shops::list_shops))
        .routes(routes!(shops::review_due))
        .routes(routes!(shops::get_shop, shops::update_shop))
        .routes(routes!(shops::vote, shops::list_votes))
        .routes(routes!(shops::decide))
        .routes(routes!(shops::suspend))
        .routes(routes!(shops::reinstate))
        .routes(routes!(shops::create_terminal, shops::list_terminals))
        .routes(routes!(shops::revoke_terminal))
        .routes(routes!(shops::current_terminal))
        .routes(routes!(cards::create_card, cards::list_cards))
        .routes(routes!(cards::revoke_card))
        .routes(routes!(cards::unlock_card))
        .routes(routes!(cards::card_qr))
        .routes(routes!(
            settlements::create_settlement,
            settlements::list_settlements
        ))
        .routes(routes!(settlements::get_settlement))
        .routes(routes!(settlements::sepa_file))
        .routes(routes!(settlements::import_statement))
        .routes(routes!(settlements::reconciliation))
        .routes(routes!(settlements::match_bank_line))
        .split_for_parts();
    contract::document(&mut openapi);
    (router, openapi)
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
    let (api, openapi) = api_router();
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
