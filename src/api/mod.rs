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
pub mod query;
pub(crate) mod redemptions;
pub(crate) mod reports;
pub(crate) mod sessions;
pub(crate) mod settings;
pub(crate) mod settlements;
pub(crate) mod shops;
pub(crate) mod system;
pub(crate) mod users;

use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use crate::app::AppState;

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
        .routes(routes!(users::patch_user))
        .routes(routes!(users::disable_user))
        .routes(routes!(users::enable_user))
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
