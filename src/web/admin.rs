//! The admin's page: the fund's rules (allowance, scale, criteria), users, shops (decision)
//! and their tills (the new key is shown once).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};

use super::i18n::M;
use super::layout::{csrf_field, notice, page, respond};
use super::problem::refused;
use super::session::{typed_amount, Form, Web};
use crate::app::AppState;
use crate::caller::Caller;
use crate::domain::bounds::{json_too_deep, MAX_JSON_DEPTH};
use crate::domain::settings::FundSettings;
use crate::domain::shop::{Decision, ShopStatus};
use crate::domain::{Cents, ErrorCode, MemberId, Role, ShopId};
use crate::service::error::ServiceError;
use crate::service::settings;
use crate::service::shops::{self, DecisionRequest, NewTerminal, ShopFilter, ShopView};
use crate::service::users::{self, NewUser};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(admin_page))
        .route("/admin/reglages", post(save_settings))
        .route("/admin/utilisateurs", post(create_user))
        .route("/admin/commerces/{id}/decision", post(decide))
        .route("/admin/commerces/{id}/caisses", post(add_terminal))
}

async fn admin_page(State(state): State<AppState>, web: Web) -> Response {
    render(&state, &web, None).await
}

fn status_word(web: &Web, status: ShopStatus) -> &'static str {
    match status {
        ShopStatus::Pending => web.t(M::StatusPending),
        ShopStatus::Approved => web.t(M::StatusApproved),
        ShopStatus::Rejected => web.t(M::StatusRejected),
        ShopStatus::Suspended => web.t(M::StatusSuspended),
    }
}

/// As many shops as the page lists.
const SHOPS_SHOWN: i64 = 200;

async fn load(
    state: &AppState,
    caller: &Caller,
) -> Result<(FundSettings, Vec<ShopView>), ServiceError> {
    let fund = settings::get(&state.db, caller.fund()).await?;
    let list = shops::list(&state.db, caller, ShopFilter::default(), None, SHOPS_SHOWN).await?;
    Ok((fund, list))
}

async fn render(state: &AppState, web: &Web, flash: Option<Markup>) -> Response {
    let caller = match web.require(&[Role::Admin]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (fund, shop_list) = match load(state, &caller).await {
        Ok(loaded) => loaded,
        Err(e) => return super::layout::internal_error(web, e),
    };
    let body = html! {
        @if let Some(f) = flash { (f) }
        p { a href="/admin/import" { (web.t(M::ImportLink)) } }
        (settings_form(web, &fund))
        (user_form(web))
        (shop_table(web, &shop_list))
    };
    respond(StatusCode::OK, page(web, web.t(M::AdminTitle), &[], body))
}

/// A value as indented JSON, for a textarea.
fn pretty<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn settings_form(web: &Web, fund: &FundSettings) -> Markup {
    let a = &fund.allowance;
    html! {
        section.card aria-labelledby="set-h" {
            h2 id="set-h" { (web.t(M::Settings)) }
            form method="post" action="/admin/reglages" {
                (csrf_field(web))
                label for="fund_name" { (web.t(M::FundName)) }
                input id="fund_name" name="fund_name" type="text" value=(fund.fund_name) required;
                label for="first_person" { (web.t(M::FirstPerson)) }
                input id="first_person" name="first_person" type="text" inputmode="decimal" value=(a.first_person) required;
                label for="additional_adult" { (web.t(M::AdditionalAdult)) }
                input id="additional_adult" name="additional_adult" type="text" inputmode="decimal" value=(a.additional_adult) required;
                label for="child" { (web.t(M::Child)) }
                input id="child" name="child" type="text" inputmode="decimal" value=(a.child) required;
                label for="balance_cap" { (web.t(M::BalanceCap)) }
                input id="balance_cap" name="balance_cap" type="text" inputmode="decimal" value=(a.balance_cap.map(|c| c.to_string()).unwrap_or_default());
                label for="pin_attempts" { (web.t(M::PinAttempts)) }
                input id="pin_attempts" name="pin_attempts" type="number" min="1" max="20" value=(fund.pin_attempts) required;
                label for="scale" { (web.t(M::ScaleJson)) }
                textarea id="scale" name="contribution_scale" rows="8" spellcheck="false" { (pretty(&fund.contribution_scale)) }
                label for="criteria" { (web.t(M::CriteriaJson)) }
                textarea id="criteria" name="criteria" rows="8" spellcheck="false" { (pretty(&fund.criteria)) }
                button type="submit" { (web.t(M::Save)) }
            }
        }
    }
}

fn user_form(web: &Web) -> Markup {
    html! {
        section.card aria-labelledby="users-h" {
            h2 id="users-h" { (web.t(M::Users)) }
            form method="post" action="/admin/utilisateurs" {
                (csrf_field(web))
                label for="u-email" { (web.t(M::Email)) }
                input id="u-email" name="email" type="email" required;
                label for="u-password" { (web.t(M::Password)) }
                input id="u-password" name="password" type="password" minlength="10" autocomplete="new-password" required;
                label for="u-role" { (web.t(M::Role)) }
                select id="u-role" name="role" {
                    option value="member" { (web.t(M::RoleMember)) }
                    option value="committee" { (web.t(M::RoleCommittee)) }
                    option value="treasurer" { (web.t(M::RoleTreasurer)) }
                    option value="admin" { (web.t(M::RoleAdmin)) }
                }
                label for="u-member" { (web.t(M::MemberId)) }
                input id="u-member" name="member_id" type="text";
                button type="submit" { (web.t(M::CreateUser)) }
            }
        }
    }
}

fn shop_table(web: &Web, shop_list: &[ShopView]) -> Markup {
    html! {
        section aria-labelledby="shops-h" {
            h2 id="shops-h" { (web.t(M::Shops)) }
            div.scroll {
                table {
                    thead { tr {
                        th scope="col" { (web.t(M::Name)) }
                        th scope="col" { (web.t(M::Status)) }
                        th scope="col" { (web.t(M::Actions)) }
                    } }
                    tbody {
                        @for shop in shop_list {
                            @let id = &shop.id;
                            tr {
                                td { (shop.name) br; span.muted { (shop.address) } }
                                td { (status_word(web, shop.status)) }
                                td {
                                    @if shop.status == ShopStatus::Pending {
                                        form.inline method="post" action=(format!("/admin/commerces/{id}/decision")) {
                                            (csrf_field(web))
                                            button type="submit" name="decision" value="approved" { (web.t(M::Approve)) }
                                            button type="submit" name="decision" value="rejected" { (web.t(M::Reject)) }
                                        }
                                    }
                                    @if shop.status != ShopStatus::Rejected {
                                        form.inline method="post" action=(format!("/admin/commerces/{id}/caisses")) {
                                            (csrf_field(web))
                                            label.sr for=(format!("t-{id}")) { (web.t(M::TerminalLabel)) }
                                            input id=(format!("t-{id}")) name="label" type="text" size="10" placeholder=(web.t(M::TerminalLabel)) required;
                                            button type="submit" { (web.t(M::AddTerminal)) }
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

/// A JSON field of the settings form (the scale, the criteria), bounded in depth like any
/// JSON the fund reads.
fn json_field<T: serde::de::DeserializeOwned>(form: &Form, name: &str) -> Result<T, ServiceError> {
    let text = form.text(name);
    if json_too_deep(text.as_bytes(), MAX_JSON_DEPTH) {
        return Err(ServiceError::refused(
            ErrorCode::InputTooDeep,
            format!("{name} is nested too deeply"),
        ));
    }
    serde_json::from_str(&text).map_err(|e| {
        ServiceError::field(
            ErrorCode::InvalidField,
            name,
            format!("not valid JSON: {e}"),
        )
    })
}

/// An allowance amount, typed the French way or not; zero is an amount.
fn allowance_amount(form: &Form, name: &str) -> Result<Option<Cents>, ServiceError> {
    let Some(raw) = form.get(name) else {
        return Ok(None);
    };
    let field = format!("allowance.{name}");
    typed_amount(raw)
        .parse::<Cents>()
        .map(Some)
        .map_err(|e| ServiceError::field(ErrorCode::InvalidField, &field, e.to_string()))
}

fn required_amount(form: &Form, name: &str) -> Result<Cents, ServiceError> {
    allowance_amount(form, name)?.ok_or_else(|| {
        ServiceError::field(
            ErrorCode::InvalidField,
            &format!("allowance.{name}"),
            "required",
        )
    })
}

/// The fund's settings as they are, with what the form changes.
fn settings_from_form(form: &Form, mut next: FundSettings) -> Result<FundSettings, ServiceError> {
    next.fund_name = form.text("fund_name");
    next.allowance.first_person = required_amount(form, "first_person")?;
    next.allowance.additional_adult = required_amount(form, "additional_adult")?;
    next.allowance.child = required_amount(form, "child")?;
    next.allowance.balance_cap = allowance_amount(form, "balance_cap")?;
    next.pin_attempts = form
        .number("pin_attempts")?
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| {
            ServiceError::field(ErrorCode::InvalidField, "pin_attempts", "a whole number")
        })?;
    next.contribution_scale = json_field(form, "contribution_scale")?;
    next.criteria = json_field(form, "criteria")?;
    Ok(next)
}

async fn save_settings(State(state): State<AppState>, form: Form) -> Response {
    let web = &form.web;
    let caller = match web.require(&[Role::Admin]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let answer = async {
        let current = settings::get(&state.db, caller.fund()).await?;
        let next = settings_from_form(&form, current)?;
        settings::put(&state.db, caller.fund(), next).await
    }
    .await;
    let flash = match answer {
        Ok(_) => notice(true, web.t(M::Done)),
        Err(e) => notice(false, &refused(web, &e)),
    };
    render(&state, web, Some(flash)).await
}

fn new_user(form: &Form) -> Result<NewUser, ServiceError> {
    let role = form
        .text("role")
        .parse::<Role>()
        .map_err(|()| ServiceError::field(ErrorCode::InvalidField, "role", "not a role"))?;
    Ok(NewUser {
        email: form.text("email"),
        // A password is taken as typed, spaces and all.
        password: form.fields.get("password").cloned().unwrap_or_default(),
        role,
        member_id: form.get("member_id").map(MemberId::new),
    })
}

async fn create_user(State(state): State<AppState>, form: Form) -> Response {
    let web = &form.web;
    let caller = match web.require(&[Role::Admin]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let answer = match new_user(&form) {
        Ok(req) => users::add(&state.db, &caller, req).await,
        Err(e) => Err(e),
    };
    let flash = match answer {
        Ok(user) => notice(true, &web.lang.f(M::UserCreated, &[&user.email])),
        Err(e) => notice(false, &refused(web, &e)),
    };
    render(&state, web, Some(flash)).await
}

async fn decide(State(state): State<AppState>, Path(id): Path<ShopId>, form: Form) -> Response {
    let web = &form.web;
    let caller = match web.require(&[Role::Admin]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let answer = match Decision::parse(&form.text("decision")) {
        Some(decision) => {
            let req = DecisionRequest {
                decision,
                review_on: None,
                note: None,
            };
            shops::decide(&state.db, &caller, &id, req)
                .await
                .map(|_| ())
        }
        None => Err(ServiceError::field(
            ErrorCode::InvalidField,
            "decision",
            "approved or rejected",
        )),
    };
    let flash = match answer {
        Ok(()) => notice(true, web.t(M::Done)),
        Err(e) => notice(false, &refused(web, &e)),
    };
    render(&state, web, Some(flash)).await
}

/// A new till for a shop: its key is shown here once, never again.
async fn add_terminal(
    State(state): State<AppState>,
    Path(id): Path<ShopId>,
    form: Form,
) -> Response {
    let web = &form.web;
    let caller = match web.require(&[Role::Admin]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let req = NewTerminal {
        label: form.text("label"),
    };
    let flash = match shops::create_terminal(&state.db, &caller, &id, req).await {
        Ok(created) => html! {
            div.notice.good role="status" {
                p { (web.lang.f(M::TerminalKeyOnce, &[&created.label])) }
                p.key id="terminal-key" { (created.api_key) }
            }
        },
        Err(e) => notice(false, &refused(web, &e)),
    };
    render(&state, web, Some(flash)).await
}
