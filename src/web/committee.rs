//! The committee's page: pending applications with their answers to the fund's criteria,
//! voting (one vote per member, a new vote replaces the old), and the tally.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde_json::{json, Value};

use super::call::{self, s};
use super::i18n::M;
use super::layout::{csrf_field, notice, page, respond};
use super::problem::problem_text;
use super::session::{Form, Web};
use crate::api::extract::{AdminCommittee, CommitteeOnly};
use crate::api::page::QueryParams;
use crate::api::shops;
use crate::app::AppState;
use crate::domain::Role;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/comite", get(committee_page))
        .route("/comite/vote/{id}", post(vote))
}

async fn committee_page(State(state): State<AppState>, web: Web) -> Response {
    render(&state, &web, None).await
}

async fn render(state: &AppState, web: &Web, flash: Option<Markup>) -> Response {
    let caller = match web.require(&[Role::Committee, Role::Admin]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let pending = call::json(
        shops::list_shops(
            State(state.clone()),
            caller.clone(),
            QueryParams::from_pairs([("status", "pending"), ("limit", "200")]),
        )
        .await,
    )
    .await;
    let pending: Vec<Value> = match pending {
        Ok(v) => v["items"].as_array().cloned().unwrap_or_default(),
        Err(e) => return super::layout::internal_error(web, e.detail),
    };
    let mut shops_detail = Vec::new();
    for p in &pending {
        let id = s(p, "id").to_string();
        let detail = call::json(
            shops::get_shop(State(state.clone()), caller.clone(), Path(id.clone())).await,
        )
        .await;
        let votes = match call::authorized::<AdminCommittee>(&caller) {
            Ok(auth) => call::json(shops::list_votes(State(state.clone()), auth, Path(id)).await)
                .await
                .ok(),
            Err(_) => None,
        };
        if let Ok(d) = detail {
            shops_detail.push((d, votes));
        }
    }
    let can_vote = caller.role() == Role::Committee;
    let body = html! {
        @if let Some(f) = flash { (f) }
        @if shops_detail.is_empty() { p { (web.t(M::PendingNone)) } }
        @for (shop, votes) in &shops_detail {
            @let id = s(shop, "id");
            section.card aria-labelledby=(format!("h-{id}")) {
                h2 id=(format!("h-{id}")) { (s(shop, "name")) }
                dl.figures {
                    dt { (web.t(M::Address)) } dd { (s(shop, "address")) }
                    dt { (web.t(M::Siret)) } dd { (s(shop, "siret")) }
                    dt { (web.t(M::Categories)) } dd {
                        @let cats: Vec<&str> = shop["categories"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
                        (cats.join(", "))
                    }
                }
                h3 { (web.t(M::Criteria)) }
                dl.criteria {
                    @for c in shop["criteria"].as_array().cloned().unwrap_or_default() {
                        dt { (s(&c, "label")) }
                        dd { @match c["answer"].as_str() { Some(a) => (a), None => (web.t(M::NoAnswer)) } }
                    }
                }
                h3 { (web.t(M::Tally)) }
                @let tally = &shop["tally"];
                p.tally {
                    (web.t(M::VotesFor)) " : " strong { (tally["for"]) } " · "
                    (web.t(M::VotesAgainst)) " : " strong { (tally["against"]) } " · "
                    (web.t(M::VotesAbstain)) " : " strong { (tally["abstain"]) }
                }
                @let mine = votes.as_ref().and_then(|v| v["votes"].as_array().and_then(|a| a.iter().find(|x| s(x, "voter_id") == caller.actor()).cloned()));
                @if can_vote {
                    form method="post" action=(format!("/comite/vote/{id}")) {
                        (csrf_field(web))
                        fieldset {
                            legend { (web.t(M::YourVote)) }
                            @for (value, label) in [("for", M::VotesFor), ("against", M::VotesAgainst), ("abstain", M::VotesAbstain)] {
                                @let checked = mine.as_ref().is_some_and(|m| s(m, "choice") == value);
                                label.choice {
                                    input type="radio" name="choice" value=(value) required checked[checked];
                                    " " (web.t(label))
                                }
                            }
                        }
                        label for=(format!("comment-{id}")) { (web.t(M::Comment)) }
                        textarea id=(format!("comment-{id}")) name="comment" rows="2" maxlength="1000" {
                            (mine.as_ref().map(|m| s(m, "comment").to_string()).unwrap_or_default())
                        }
                        button type="submit" { (web.t(M::Vote)) }
                    }
                }
            }
        }
    };
    respond(
        StatusCode::OK,
        page(web, web.t(M::CommitteeTitle), &[], body),
    )
}

async fn vote(State(state): State<AppState>, Path(id): Path<String>, form: Form) -> Response {
    let web = &form.web;
    let caller = match web.require(&[Role::Committee]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut req = json!({"choice": form.text("choice")});
    if let Some(c) = form.get("comment") {
        req["comment"] = json!(c);
    }
    let answer = async {
        let auth = call::authorized::<CommitteeOnly>(&caller)?;
        let body = call::body(req)?;
        call::json(shops::vote(State(state.clone()), auth, Path(id), body).await).await
    }
    .await;
    let flash = match answer {
        Ok(_) => notice(true, web.t(M::VoteRecorded)),
        Err(e) => notice(false, &problem_text(web, &e)),
    };
    render(&state, web, Some(flash)).await
}
