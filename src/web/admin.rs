//! The admin's page: the fund's rules (allowance, scale, criteria), users, shops (decision)
//! and their tills (the new key is shown once).

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
use crate::api::error::ApiError;
use crate::api::extract::{AdminOnly, AdminTreasurer};
use crate::api::page::QueryParams;
use crate::api::{settings, shops, users};
use crate::app::AppState;
use crate::domain::ErrorCode;
use crate::domain::Role;

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

fn status_word(web: &Web, status: &str) -> &'static str {
    match status {
        "pending" => web.t(M::StatusPending),
        "approved" => web.t(M::StatusApproved),
        "rejected" => web.t(M::StatusRejected),
        _ => web.t(M::StatusSuspended),
    }
}

async fn render(state: &AppState, web: &Web, flash: Option<Markup>) -> Response {
    let caller = match web.require(&[Role::Admin]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let fund = match call::authorized::<AdminTreasurer>(&caller) {
        Ok(a) => call::json(settings::get_settings(State(state.clone()), a).await).await,
        Err(e) => Err(e),
    };
    let fund = match fund {
        Ok(v) => v,
        Err(e) => return super::layout::internal_error(web, e.detail),
    };
    let list = call::json(
        shops::list_shops(
            State(state.clone()),
            caller.clone(),
            QueryParams::from_pairs([("limit", "200")]),
        )
        .await,
    )
    .await;
    let shop_list: Vec<Value> = match list {
        Ok(v) => v["items"].as_array().cloned().unwrap_or_default(),
        Err(e) => return super::layout::internal_error(web, e.detail),
    };
    let a = &fund["allowance"];
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let body = html! {
        @if let Some(f) = flash { (f) }
        section.card aria-labelledby="set-h" {
            h2 id="set-h" { (web.t(M::Settings)) }
            form method="post" action="/admin/reglages" {
                (csrf_field(web))
                label for="fund_name" { (web.t(M::FundName)) }
                input id="fund_name" name="fund_name" type="text" value=(s(&fund, "fund_name")) required;
                label for="first_person" { (web.t(M::FirstPerson)) }
                input id="first_person" name="first_person" type="text" inputmode="decimal" value=(s(a, "first_person")) required;
                label for="additional_adult" { (web.t(M::AdditionalAdult)) }
                input id="additional_adult" name="additional_adult" type="text" inputmode="decimal" value=(s(a, "additional_adult")) required;
                label for="child" { (web.t(M::Child)) }
                input id="child" name="child" type="text" inputmode="decimal" value=(s(a, "child")) required;
                label for="balance_cap" { (web.t(M::BalanceCap)) }
                input id="balance_cap" name="balance_cap" type="text" inputmode="decimal" value=(s(a, "balance_cap"));
                label for="pin_attempts" { (web.t(M::PinAttempts)) }
                input id="pin_attempts" name="pin_attempts" type="number" min="1" max="20" value=(fund["pin_attempts"]) required;
                label for="scale" { (web.t(M::ScaleJson)) }
                textarea id="scale" name="contribution_scale" rows="8" spellcheck="false" { (pretty(&fund["contribution_scale"])) }
                label for="criteria" { (web.t(M::CriteriaJson)) }
                textarea id="criteria" name="criteria" rows="8" spellcheck="false" { (pretty(&fund["criteria"])) }
                button type="submit" { (web.t(M::Save)) }
            }
        }
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
                        @for shop in &shop_list {
                            @let id = s(shop, "id");
                            @let status = s(shop, "status");
                            tr {
                                td { (s(shop, "name")) br; span.muted { (s(shop, "address")) } }
                                td { (status_word(web, status)) }
                                td {
                                    @if status == "pending" {
                                        form.inline method="post" action=(format!("/admin/commerces/{id}/decision")) {
                                            (csrf_field(web))
                                            button type="submit" name="decision" value="approved" { (web.t(M::Approve)) }
                                            button type="submit" name="decision" value="rejected" { (web.t(M::Reject)) }
                                        }
                                    }
                                    @if status != "rejected" {
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
    };
    respond(StatusCode::OK, page(web, web.t(M::AdminTitle), &[], body))
}

fn parse_json_field(form: &Form, name: &str) -> Result<Value, ApiError> {
    let text = form.text(name);
    if crate::domain::bounds::json_too_deep(text.as_bytes(), crate::domain::bounds::MAX_JSON_DEPTH)
    {
        return Err(crate::api::extract::too_deep_json());
    }
    serde_json::from_str(&text).map_err(|e| {
        ApiError::field(
            ErrorCode::InvalidField,
            name,
            format!("not valid JSON: {e}"),
        )
    })
}

async fn save_settings(State(state): State<AppState>, form: Form) -> Response {
    let web = &form.web;
    let caller = match web.require(&[Role::Admin]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let answer = async {
        let current = call::json(
            settings::get_settings(
                State(state.clone()),
                call::authorized::<AdminTreasurer>(&caller)?,
            )
            .await,
        )
        .await?;
        let mut next = current;
        next["fund_name"] = json!(form.text("fund_name"));
        next["allowance"]["first_person"] = json!(typed_amount(&form.text("first_person")));
        next["allowance"]["additional_adult"] = json!(typed_amount(&form.text("additional_adult")));
        next["allowance"]["child"] = json!(typed_amount(&form.text("child")));
        next["allowance"]["balance_cap"] = match form.get("balance_cap") {
            Some(c) => json!(typed_amount(c)),
            None => Value::Null,
        };
        next["pin_attempts"] = json!(form.text("pin_attempts").parse::<i64>().unwrap_or(-1));
        next["contribution_scale"] = parse_json_field(&form, "contribution_scale")?;
        next["criteria"] = parse_json_field(&form, "criteria")?;
        let auth = call::authorized::<AdminOnly>(&caller)?;
        call::json(settings::put_settings(State(state.clone()), auth, call::body(next)?).await)
            .await
    }
    .await;
    let flash = match answer {
        Ok(_) => notice(true, web.t(M::Done)),
        Err(e) => notice(false, &problem_text(web, &e)),
    };
    render(&state, web, Some(flash)).await
}

async fn create_user(State(state): State<AppState>, form: Form) -> Response {
    let web = &form.web;
    let caller = match web.require(&[Role::Admin]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut req = json!({
        "email": form.text("email"),
        "password": form.fields.get("password").cloned().unwrap_or_default(),
        "role": form.text("role"),
    });
    if let Some(m) = form.get("member_id") {
        req["member_id"] = json!(m);
    }
    let answer = async {
        let auth = call::authorized::<AdminOnly>(&caller)?;
        call::json(users::create_user(State(state.clone()), auth, call::body(req)?).await).await
    }
    .await;
    let flash = match answer {
        Ok(v) => notice(true, &web.lang.f(M::UserCreated, &[s(&v, "email")])),
        Err(e) => notice(false, &problem_text(web, &e)),
    };
    render(&state, web, Some(flash)).await
}

async fn decide(State(state): State<AppState>, Path(id): Path<String>, form: Form) -> Response {
    let web = &form.web;
    let caller = match web.require(&[Role::Admin]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let answer = async {
        let auth = call::authorized::<AdminOnly>(&caller)?;
        let body = call::body(json!({"decision": form.text("decision")}))?;
        call::json(shops::decide(State(state.clone()), auth, Path(id), body).await).await
    }
    .await;
    let flash = match answer {
        Ok(_) => notice(true, web.t(M::Done)),
        Err(e) => notice(false, &problem_text(web, &e)),
    };
    render(&state, web, Some(flash)).await
}

/// A new till for a shop: its key is shown here once, never again.
async fn add_terminal(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: Form,
) -> Response {
    let web = &form.web;
    let caller = match web.require(&[Role::Admin]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let answer = async {
        let auth = call::authorized::<AdminOnly>(&caller)?;
        let body = call::body(json!({"label": form.text("label")}))?;
        call::json(shops::create_terminal(State(state.clone()), auth, Path(id), body).await).await
    }
    .await;
    let flash = match answer {
        Ok(v) => html! {
            div.notice.good role="status" {
                p { (web.lang.f(M::TerminalKeyOnce, &[s(&v, "label")])) }
                p.key id="terminal-key" { (s(&v, "api_key")) }
            }
        },
        Err(e) => notice(false, &problem_text(web, &e)),
    };
    render(&state, web, Some(flash)).await
}
