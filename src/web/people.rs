//! The people who sign in (admin): who has a login, with which role; an invitation to choose
//! one's own password (sent by email when the fund has a mail server, else shown here to hand
//! over); a new-password link for someone who forgot theirs. A member is named by their member
//! number or payment reference, never by an internal id.

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
use crate::domain::{ErrorCode, Role, UserId};
use crate::service::error::ServiceError;
use crate::service::links::{self, IssuedLink};
use crate::service::users::{self, UserListItem};
use crate::store::login_links::Purpose;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/personnes", get(people_page).post(invite))
        .route("/admin/personnes/{id}/lien", post(reset_link))
}

/// The most logins one page lists (funds have 30 to 450 members; the API pages further).
const LISTED: i64 = 500;

pub fn role_word(role: Role) -> M {
    match role {
        Role::Admin => M::RoleAdmin,
        Role::Treasurer => M::RoleTreasurer,
        Role::Committee => M::RoleCommittee,
        Role::Member => M::RoleMember,
        Role::Terminal => M::NavTill,
    }
}

async fn people_page(State(state): State<AppState>, web: Web) -> Response {
    let caller = match web.require(&[Role::Admin]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    render(&state, &web, &caller, None, &Typed::default()).await
}

/// What the invitation form was sent with, kept when it is refused.
#[derive(Default)]
struct Typed {
    email: String,
    role: String,
    member: String,
}

async fn render(
    state: &AppState,
    web: &Web,
    caller: &Caller,
    outcome: Option<Markup>,
    typed: &Typed,
) -> Response {
    let people = match users::list(&state.db, caller, None, None, LISTED).await {
        Ok(p) => p,
        Err(e) => return super::layout::internal_error(web, e),
    };
    let body = html! {
        @if let Some(o) = outcome { (o) }
        (invite_form(web, state.mailer.is_some(), typed))
        (people_table(web, &people))
    };
    respond(StatusCode::OK, page(web, web.t(M::PeopleTitle), &[], body))
}

fn invite_form(web: &Web, mails: bool, typed: &Typed) -> Markup {
    let role = if typed.role.is_empty() {
        "member"
    } else {
        typed.role.as_str()
    };
    html! {
        section.card aria-labelledby="invite-h" {
            h2 id="invite-h" { (web.t(M::InviteTitle)) }
            p { (web.t(if mails { M::InviteHelpMail } else { M::InviteHelpNoMail })) }
            form method="post" action="/admin/personnes" {
                (csrf_field(web))
                label for="i-email" { (web.t(M::Email)) }
                input id="i-email" name="email" type="email" required autocomplete="off" value=(typed.email);
                label for="i-role" { (web.t(M::Role)) }
                select id="i-role" name="role" {
                    @for (value, word) in [("member", M::RoleMember), ("committee", M::RoleCommittee),
                                           ("treasurer", M::RoleTreasurer), ("admin", M::RoleAdmin)] {
                        option value=(value) selected[role == value] { (web.t(word)) }
                    }
                }
                label for="i-member" { (web.t(M::InviteMember)) }
                input id="i-member" name="member" type="text" value=(typed.member)
                    aria-describedby="i-member-help" autocomplete="off";
                p.help id="i-member-help" { (web.t(M::InviteMemberHelp)) }
                button type="submit" { (web.t(M::InviteSend)) }
            }
        }
    }
}

fn people_table(web: &Web, people: &[UserListItem]) -> Markup {
    html! {
        section aria-labelledby="people-h" {
            h2 id="people-h" { (web.t(M::PeopleTitle)) }
            div.scroll {
                table {
                    thead { tr {
                        th scope="col" { (web.t(M::Email)) }
                        th scope="col" { (web.t(M::Role)) }
                        th scope="col" { (web.t(M::Since)) }
                        th scope="col" { (web.t(M::NewPasswordLink)) }
                    } }
                    tbody {
                        @for p in people {
                            tr {
                                td { (p.email) }
                                td { (web.t(role_word(p.role))) }
                                td { (web.lang.date(p.created_at.local_date())) }
                                td {
                                    form method="post" action=(format!("/admin/personnes/{}/lien", p.id)) {
                                        (csrf_field(web))
                                        button type="submit" aria-label=(web.lang.f(M::NewPasswordLinkFor, &[&p.email])) {
                                            (web.t(M::NewPasswordLinkMake))
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

/// After a link is made: sent by email, or shown once to hand over.
async fn delivered(state: &AppState, web: &Web, caller: &Caller, link: &IssuedLink) -> Markup {
    let fund = crate::service::settings::get(&state.db, caller.fund())
        .await
        .map(|s| s.fund_name)
        .unwrap_or_default();
    let url = link.url(&state.public_url());
    let until = web.lang.f(
        M::LinkUntil,
        &[
            &web.lang.date(link.expires_at.local_date()),
            &link.expires_at.local_clock(),
        ],
    );
    match links::send(state.mailer.as_deref(), link, &fund, &state.public_url()).await {
        Ok(true) => notice(true, &web.lang.f(M::LinkSent, &[&link.user.email])),
        outcome => {
            if let Err(e) = outcome {
                tracing::error!(error = %e, "a link could not be sent; shown to hand over");
            }
            let what = match link.purpose {
                Purpose::Invitation => M::LinkHandOverInvitation,
                Purpose::Reset => M::LinkHandOverReset,
            };
            html! {
                div.notice.good role="status" {
                    p { (web.lang.f(what, &[&link.user.email])) }
                    label for="handover" { (web.t(M::LinkToHandOver)) }
                    input id="handover" type="text" readonly value=(url);
                    p.help { (until) }
                }
            }
        }
    }
}

fn role_of(text: &str) -> Result<Role, ServiceError> {
    match text.parse::<Role>() {
        Ok(r) if r != Role::Terminal => Ok(r),
        _ => Err(ServiceError::field(
            ErrorCode::InvalidField,
            "role",
            "not a role",
        )),
    }
}

async fn invite(State(state): State<AppState>, form: Form) -> Response {
    let web = &form.web;
    let caller = match web.require(&[Role::Admin]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let typed = Typed {
        email: form.text("email"),
        role: form.text("role"),
        member: form.text("member"),
    };
    let answer = async {
        let role = role_of(&typed.role)?;
        let member = match form.get("member") {
            None => None,
            Some(text) => Some(
                crate::service::members::find_by_number_or_reference(
                    &state.db,
                    caller.fund(),
                    text,
                )
                .await?
                .ok_or_else(|| {
                    ServiceError::field(ErrorCode::MemberNotFound, "member_id", "no such member")
                })?,
            ),
        };
        links::invite(&state.db, &caller, &typed.email, role, member.as_ref()).await
    }
    .await;
    match answer {
        Ok(link) => {
            let done = delivered(&state, web, &caller, &link).await;
            render(&state, web, &caller, Some(done), &Typed::default()).await
        }
        Err(e) => {
            let said = notice(false, &refused(web, &e));
            let mut r = render(&state, web, &caller, Some(said), &typed).await;
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            r
        }
    }
}

async fn reset_link(State(state): State<AppState>, Path(id): Path<UserId>, form: Form) -> Response {
    let web = &form.web;
    let caller = match web.require(&[Role::Admin]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match links::reset_link(&state.db, &caller, &id).await {
        Ok(link) => {
            let done = delivered(&state, web, &caller, &link).await;
            render(&state, web, &caller, Some(done), &Typed::default()).await
        }
        Err(e) => {
            let said = notice(false, &refused(web, &e));
            render(&state, web, &caller, Some(said), &Typed::default()).await
        }
    }
}
