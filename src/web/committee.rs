//! The committee's page: pending applications with their answers to the fund's criteria,
//! voting (one vote per member, a new vote replaces the old), and the tally.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};

use super::i18n::M;
use super::layout::{csrf_field, notice, page, respond};
use super::problem::refused;
use super::session::{Form, Web};
use crate::app::AppState;
use crate::caller::Caller;
use crate::domain::shop::{ShopStatus, VoteChoice};
use crate::domain::{ErrorCode, Role, ShopId};
use crate::service::error::ServiceError;
use crate::service::shops::{self, ShopFilter, ShopView, VoteList, VoteRequest, VoteView};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/comite", get(committee_page))
        .route("/comite/vote/{id}", post(vote))
}

/// As many applications as one page shows.
const PENDING_SHOWN: i64 = 200;

async fn committee_page(State(state): State<AppState>, web: Web) -> Response {
    render(&state, &web, None).await
}

/// The pending applications, each in full with the votes the caller may see.
async fn pending(
    state: &AppState,
    caller: &Caller,
) -> Result<Vec<(ShopView, VoteList)>, ServiceError> {
    let filter = ShopFilter {
        status: Some(ShopStatus::Pending),
        category: None,
    };
    let mut out = Vec::new();
    for s in shops::list(&state.db, caller, filter, None, PENDING_SHOWN).await? {
        let detail = shops::get(&state.db, caller, &s.id).await?;
        let votes = shops::votes(&state.db, caller, &s.id).await?;
        out.push((detail, votes));
    }
    Ok(out)
}

async fn render(state: &AppState, web: &Web, flash: Option<Markup>) -> Response {
    let caller = match web.require(&[Role::Committee, Role::Admin]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let applications = match pending(state, &caller).await {
        Ok(a) => a,
        Err(e) => return super::layout::internal_error(web, e),
    };
    let can_vote = caller.role() == Role::Committee;
    let body = html! {
        @if let Some(f) = flash { (f) }
        @if applications.is_empty() { p { (web.t(M::PendingNone)) } }
        @for (shop, votes) in &applications {
            @let mine = votes.votes.iter().find(|v| v.voter_id == caller.actor());
            (application(web, shop, mine, can_vote))
        }
    };
    respond(
        StatusCode::OK,
        page(web, web.t(M::CommitteeTitle), &[], body),
    )
}

fn application(web: &Web, shop: &ShopView, mine: Option<&VoteView>, can_vote: bool) -> Markup {
    let id = &shop.id;
    let tally = shop.tally.unwrap_or_default();
    html! {
        section.card aria-labelledby=(format!("h-{id}")) {
            h2 id=(format!("h-{id}")) { (shop.name) }
            dl.figures {
                dt { (web.t(M::Address)) } dd { (shop.address) }
                dt { (web.t(M::Siret)) } dd { (shop.siret.as_deref().unwrap_or_default()) }
                dt { (web.t(M::Categories)) } dd { (shop.categories.join(", ")) }
            }
            h3 { (web.t(M::Criteria)) }
            dl.criteria {
                @for c in shop.criteria.iter().flatten() {
                    dt { (c.label) }
                    dd { @match &c.answer { Some(a) => (a), None => (web.t(M::NoAnswer)) } }
                }
            }
            h3 { (web.t(M::Tally)) }
            p.tally {
                (web.t(M::VotesFor)) " : " strong { (tally.votes_for) } " · "
                (web.t(M::VotesAgainst)) " : " strong { (tally.against) } " · "
                (web.t(M::VotesAbstain)) " : " strong { (tally.abstain) }
            }
            @if can_vote { (vote_form(web, id, mine)) }
        }
    }
}

fn vote_form(web: &Web, id: &ShopId, mine: Option<&VoteView>) -> Markup {
    let choices = [
        (VoteChoice::For, M::VotesFor),
        (VoteChoice::Against, M::VotesAgainst),
        (VoteChoice::Abstain, M::VotesAbstain),
    ];
    html! {
        form method="post" action=(format!("/comite/vote/{id}")) {
            (csrf_field(web))
            fieldset {
                legend { (web.t(M::YourVote)) }
                @for (choice, label) in choices {
                    @let checked = mine.is_some_and(|m| m.choice == choice);
                    label.choice {
                        input type="radio" name="choice" value=(choice.as_str()) required checked[checked];
                        " " (web.t(label))
                    }
                }
            }
            label for=(format!("comment-{id}")) { (web.t(M::Comment)) }
            textarea id=(format!("comment-{id}")) name="comment" rows="2" maxlength="1000" {
                (mine.and_then(|m| m.comment.as_deref()).unwrap_or_default())
            }
            button type="submit" { (web.t(M::Vote)) }
        }
    }
}

/// The vote a form sent: a choice among the three, and an optional comment.
fn vote_request(form: &Form) -> Result<VoteRequest, ServiceError> {
    let choice = VoteChoice::parse(&form.text("choice")).ok_or_else(|| {
        ServiceError::field(ErrorCode::InvalidField, "choice", "for, against or abstain")
    })?;
    Ok(VoteRequest {
        choice,
        comment: form.get("comment").map(String::from),
    })
}

async fn vote(State(state): State<AppState>, Path(id): Path<ShopId>, form: Form) -> Response {
    let web = &form.web;
    let caller = match web.require(&[Role::Committee]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let answer = match vote_request(&form) {
        Ok(req) => shops::vote(&state.db, &caller, &id, req).await.map(|_| ()),
        Err(e) => Err(e),
    };
    let flash = match answer {
        Ok(()) => notice(true, web.t(M::VoteRecorded)),
        Err(e) => notice(false, &refused(web, &e)),
    };
    render(&state, web, Some(flash)).await
}
