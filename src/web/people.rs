//! The people who sign in (admin): who has a login, with which role; an invitation to choose
//! one's own password (sent by email when the fund has a mail server, else shown here to hand
//! over); a new-password link for someone who forgot theirs; another person's role changed, or
//! their login disabled and enabled again, each after a confirmation that says what happens (a
//! page for a role, a `<details>` for a login; no JavaScript). One's own row has none of these:
//! nobody raises their own role. A member is named by their member number or payment
//! reference, never by an internal id.

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
        .route("/admin/personnes/{id}/role", post(change_role))
        .route("/admin/personnes/{id}/desactiver", post(disable))
        .route("/admin/personnes/{id}/reactiver", post(enable))
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

/// What the invitation form was sent with, kept when it is refused; and the role chosen for a
/// person (their id, the role) when the change is refused.
#[derive(Default)]
struct Typed {
    email: String,
    role: String,
    member: String,
    role_for: Option<(UserId, String)>,
}

/// The roles a person's login can be given from this page (a member's stays a member's).
const STAFF_ROLES: [(Role, M); 3] = [
    (Role::Committee, M::RoleCommittee),
    (Role::Treasurer, M::RoleTreasurer),
    (Role::Admin, M::RoleAdmin),
];

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
        (people_table(web, caller, &people, typed))
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

fn people_table(web: &Web, caller: &Caller, people: &[UserListItem], typed: &Typed) -> Markup {
    html! {
        section aria-labelledby="people-h" {
            h2 id="people-h" { (web.t(M::PeopleTitle)) }
            div.scroll {
                table.people {
                    thead { tr {
                        th scope="col" { (web.t(M::Email)) }
                        th scope="col" { (web.t(M::Role)) }
                        th scope="col" { (web.t(M::Since)) }
                        th scope="col" { (web.t(M::NewPasswordLink)) }
                        th scope="col" { (web.t(M::Access)) }
                    } }
                    tbody {
                        @for p in people {
                            @let mine = caller.user() == Some(&p.id);
                            tr {
                                td {
                                    (p.email)
                                    @if mine { " " span.muted { "(" (web.t(M::You)) ")" } }
                                    @if let Some(when) = p.disabled_at {
                                        br;
                                        strong.disabled {
                                            (web.lang.f(M::DisabledSince, &[&web.lang.date(when.local_date())]))
                                        }
                                    }
                                }
                                td data-label=(web.t(M::Role)) { (role_cell(web, p, mine, typed)) }
                                td data-label=(web.t(M::Since)) { (web.lang.date(p.created_at.local_date())) }
                                td data-label=(web.t(M::NewPasswordLink)) {
                                    @if p.disabled_at.is_none() {
                                        form method="post" action=(format!("/admin/personnes/{}/lien", p.id)) {
                                            (csrf_field(web))
                                            button type="submit" aria-label=(web.lang.f(M::NewPasswordLinkFor, &[&p.email])) {
                                                (web.t(M::NewPasswordLinkMake))
                                            }
                                        }
                                    }
                                }
                                td data-label=(web.t(M::Access)) { @if !mine { (access_cell(web, p)) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A person's role: a select and "Changer" for another person's staff login; words only for
/// one's own row and for a member's login (tied to its member).
fn role_cell(web: &Web, p: &UserListItem, mine: bool, typed: &Typed) -> Markup {
    if mine || p.role == Role::Member {
        return html! {
            (web.t(role_word(p.role)))
            @if p.role == Role::Member { br; span.muted { (web.t(M::MemberRoleFixed)) } }
        };
    }
    let chosen = match &typed.role_for {
        Some((id, role)) if *id == p.id => role.clone(),
        _ => p.role.as_str().to_string(),
    };
    let select = format!("r-{}", p.id);
    html! {
        form.inline method="post" action=(format!("/admin/personnes/{}/role", p.id)) {
            (csrf_field(web))
            label.sr for=(select) { (web.lang.f(M::RoleOf, &[&p.email])) }
            select id=(select) name="role" {
                @for (role, word) in STAFF_ROLES {
                    option value=(role.as_str()) selected[chosen == role.as_str()] { (web.t(word)) }
                }
            }
            button type="submit" aria-label=(web.lang.f(M::RoleChangeFor, &[&p.email])) {
                (web.t(M::RoleChange))
            }
        }
    }
}

/// "Désactiver" or "Réactiver", opened to say what happens, then confirmed by a second button.
fn access_cell(web: &Web, p: &UserListItem) -> Markup {
    let (open, what, confirm, confirm_for, action) = match p.disabled_at {
        None => (
            M::Disable,
            M::DisableWhat,
            M::DisableConfirm,
            M::DisableConfirmFor,
            "desactiver",
        ),
        Some(_) => (
            M::Enable,
            M::EnableWhat,
            M::EnableConfirm,
            M::EnableConfirmFor,
            "reactiver",
        ),
    };
    html! {
        details.confirm {
            summary { (web.t(open)) span.sr { " " (p.email) } }
            p { (web.lang.f(what, &[&p.email])) }
            form method="post" action=(format!("/admin/personnes/{}/{action}", p.id)) {
                (csrf_field(web))
                button type="submit" aria-label=(web.lang.f(confirm_for, &[&p.email])) {
                    (web.t(confirm))
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
        role_for: None,
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
        Err(e) => refusal(&state, web, &caller, &e, &typed).await,
    }
}

/// The page again with the refusal in words, what was typed or chosen kept.
async fn refusal(
    state: &AppState,
    web: &Web,
    caller: &Caller,
    e: &ServiceError,
    typed: &Typed,
) -> Response {
    let said = notice(false, &refused(web, e));
    let mut r = render(state, web, caller, Some(said), typed).await;
    *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    r
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

/// A new role for another person: first a page that says what it changes, then (with
/// `confirm=oui`) the change.
async fn change_role(
    State(state): State<AppState>,
    Path(id): Path<UserId>,
    form: Form,
) -> Response {
    let web = &form.web;
    let caller = match web.require(&[Role::Admin]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let chosen = form.text("role");
    let kept = Typed {
        role_for: Some((id.clone(), chosen.clone())),
        ..Typed::default()
    };
    let answer = async {
        let role = role_of(&chosen)?;
        let person = users::get(&state.db, &caller, &id).await?;
        if person.role == role {
            let same = web
                .lang
                .f(M::RoleUnchanged, &[&person.email, web.t(role_word(role))]);
            return Ok(RoleStep::Said(notice(true, &same)));
        }
        if form.get("confirm") != Some("oui") {
            return Ok(RoleStep::Confirm(confirm_role(web, &person, role)));
        }
        let changed = users::change_role(&state.db, &caller, &id, role).await?;
        let done = web
            .lang
            .f(M::RoleChanged, &[&changed.email, web.t(role_word(role))]);
        Ok(RoleStep::Said(notice(true, &done)))
    }
    .await;
    match answer {
        Ok(RoleStep::Confirm(confirmation)) => confirmation,
        Ok(RoleStep::Said(said)) => {
            render(&state, web, &caller, Some(said), &Typed::default()).await
        }
        Err(e) => refusal(&state, web, &caller, &e, &kept).await,
    }
}

/// Where a role change stands: to be confirmed, or done (or nothing to do), said in words.
enum RoleStep {
    Confirm(Response),
    Said(Markup),
}

/// "Changer le rôle de X ?": what the new role means for them, a button that confirms, and
/// the way back.
fn confirm_role(web: &Web, person: &UserListItem, role: Role) -> Response {
    let title = web.lang.f(M::RoleConfirmTitle, &[&person.email]);
    let what = web.lang.f(
        M::RoleConfirmText,
        &[
            &person.email,
            web.t(role_word(role)),
            web.t(role_word(person.role)),
        ],
    );
    let body = html! {
        section.card aria-labelledby="confirm-h" {
            h2 id="confirm-h" { (title) }
            p { (what) }
            form method="post" action=(format!("/admin/personnes/{}/role", person.id)) {
                (csrf_field(web))
                input type="hidden" name="role" value=(role.as_str());
                input type="hidden" name="confirm" value="oui";
                button type="submit" { (web.t(M::RoleConfirm)) }
            }
            p { a href="/admin/personnes" { (web.t(M::BackToPeople)) } }
        }
    };
    respond(StatusCode::OK, page(web, web.t(M::PeopleTitle), &[], body))
}

#[derive(Clone, Copy)]
enum Access {
    Disable,
    Enable,
}

async fn disable(state: State<AppState>, id: Path<UserId>, form: Form) -> Response {
    access(state, id, form, Access::Disable).await
}

async fn enable(state: State<AppState>, id: Path<UserId>, form: Form) -> Response {
    access(state, id, form, Access::Enable).await
}

/// Disables or enables another person's login (the `<details>` of their row said what it
/// does before its button was pressed).
async fn access(
    State(state): State<AppState>,
    Path(id): Path<UserId>,
    form: Form,
    change: Access,
) -> Response {
    let web = &form.web;
    let caller = match web.require(&[Role::Admin]) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (done, said) = match change {
        Access::Disable => (
            users::disable(&state.db, &caller, &id).await,
            M::DisabledDone,
        ),
        Access::Enable => (users::enable(&state.db, &caller, &id).await, M::EnabledDone),
    };
    match done {
        Ok(person) => {
            let told = notice(true, &web.lang.f(said, &[&person.email]));
            render(&state, web, &caller, Some(told), &Typed::default()).await
        }
        Err(e) => refusal(&state, web, &caller, &e, &Typed::default()).await,
    }
}
