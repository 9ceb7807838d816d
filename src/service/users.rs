//! Who can sign in: an admin creates users and lists them; a login checks a password.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth;
use crate::caller::{AdminOnly, Caller, Forbidden, Roles};
use crate::domain::member::MemberStatus;
use crate::domain::{now_micros, ErrorCode, FieldError, FundId, Instant, MemberId, Role, UserId};
use crate::service::error::ServiceError;
use crate::store::users::{self, User};
use crate::store::{members, Db, Tx};

/// A user an admin creates.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub email: String,
    /// At least 10 characters.
    pub password: String,
    pub role: Role,
    /// Required for the `member` role: the member this login belongs to.
    #[serde(default)]
    pub member_id: Option<MemberId>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: UserId,
    pub email: String,
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_id: Option<MemberId>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct UserListItem {
    pub id: UserId,
    pub email: String,
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_id: Option<MemberId>,
    pub created_at: Instant,
    /// When an admin disabled the login (RFC 3339); absent while it is active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<Instant>,
}

impl From<users::Listed> for UserListItem {
    fn from(l: users::Listed) -> Self {
        UserListItem {
            id: UserId::new(l.user.id),
            email: l.user.email,
            role: l.user.role,
            member_id: l.user.member_id.map(MemberId::new),
            created_at: Instant::from_micros(l.created_at),
            disabled_at: l.disabled_at.map(Instant::from_micros),
        }
    }
}

/// An admin's new user (admins only): a role a person can hold (tills have terminal keys), and a member id
/// exactly for the member role, of a member who has not left; then [`create`]'s checks.
pub async fn add(db: &Db, caller: &Caller, req: NewUser) -> Result<UserView, ServiceError> {
    caller.require(AdminOnly::ALLOWED)?;
    let fund = caller.fund();
    let errors = role_errors(db, fund, &req).await?;
    if !errors.is_empty() {
        return Err(ServiceError::invalid(errors));
    }
    let member_id = req.member_id.as_ref();
    let user = create(db, fund, &req.email, &req.password, req.role, member_id).await?;
    Ok(UserView {
        id: UserId::new(user.id),
        email: user.email,
        role: user.role,
        member_id: user.member_id.map(MemberId::new),
    })
}

async fn role_errors(
    db: &Db,
    fund: &FundId,
    req: &NewUser,
) -> Result<Vec<FieldError>, ServiceError> {
    person_errors(db, fund, req.role, req.member_id.as_ref()).await
}

/// What a person's login must satisfy: a role a person can hold (tills have terminal keys), and
/// a member exactly for the member role, one who has not left.
pub(crate) async fn person_errors(
    db: &Db,
    fund: &FundId,
    role: Role,
    member_id: Option<&MemberId>,
) -> Result<Vec<FieldError>, ServiceError> {
    struct Req<'a> {
        role: Role,
        member_id: Option<&'a MemberId>,
    }
    let req = Req { role, member_id };
    let mut errors = Vec::new();
    if req.role == Role::Terminal {
        errors.push(FieldError::new(
            "role",
            "tills authenticate with terminal keys, not users",
        ));
    }
    if req.role == Role::Member && req.member_id.is_none() {
        errors.push(FieldError::new("member_id", "required for the member role"));
    }
    if req.role != Role::Member && req.member_id.is_some() {
        errors.push(FieldError::new("member_id", "only for the member role"));
    }
    if let Some(member_id) = req.member_id {
        match members::find(db, fund, member_id).await? {
            None => errors.push(FieldError::new("member_id", "no such member")),
            Some(m) if m.status == MemberStatus::Left => errors.push(FieldError::new(
                "member_id",
                "this member has left the fund",
            )),
            Some(_) => {}
        }
    }
    Ok(errors)
}

/// One page of the fund's users (`fetch` rows after `after`), oldest first, optionally one
/// role's. Password hashes never leave the store.
pub async fn list(
    db: &Db,
    caller: &Caller,
    role: Option<Role>,
    after: Option<&str>,
    fetch: i64,
) -> Result<Vec<UserListItem>, ServiceError> {
    caller.require(AdminOnly::ALLOWED)?;
    let rows = users::list(db, caller.fund(), role, after, fetch).await?;
    Ok(rows.into_iter().map(UserListItem::from).collect())
}

/// One person of the fund (admins only), disabled or not.
pub async fn get(db: &Db, caller: &Caller, user: &UserId) -> Result<UserListItem, ServiceError> {
    caller.require(AdminOnly::ALLOWED)?;
    users::find(db, caller.fund(), user)
        .await?
        .map(UserListItem::from)
        .ok_or_else(|| ServiceError::not_found("user"))
}

/// Opens the transaction of an admin's change to another person's login, under the fund's
/// lock of people: nobody changes their own role or login (so no page raises anyone's own
/// role, and the last admin cannot lock everyone out), and the caller is read again under the
/// lock, so an admin demoted or disabled by another a moment ago acts no more.
async fn begin_change(
    db: &Db,
    caller: &Caller,
    target: &UserId,
) -> Result<(Tx, users::Listed), ServiceError> {
    caller.require(AdminOnly::ALLOWED)?;
    let me = caller.user().ok_or(Forbidden)?;
    if me == target {
        return Err(ServiceError::refused(
            ErrorCode::Forbidden,
            "nobody changes their own role or disables their own login",
        ));
    }
    let fund = caller.fund();
    let mut tx = db.begin().await?;
    users::lock_people(&mut tx, fund).await?;
    match users::find_in(&mut tx, fund, me).await? {
        Some(c) if c.user.role == Role::Admin && c.disabled_at.is_none() => {}
        _ => return Err(Forbidden.into()),
    }
    let row = users::find_in(&mut tx, fund, target)
        .await?
        .ok_or_else(|| ServiceError::not_found("user"))?;
    Ok((tx, row))
}

/// Refuses taking away the fund's last active admin (by a new role or by disabling).
async fn keep_an_admin(
    tx: &mut Tx,
    fund: &FundId,
    target: &users::Listed,
    field: &str,
) -> Result<(), ServiceError> {
    let is_active_admin = target.user.role == Role::Admin && target.disabled_at.is_none();
    if is_active_admin && users::active_admins(tx, fund).await? <= 1 {
        return Err(ServiceError::field(
            ErrorCode::InvalidStatusChange,
            field,
            "the fund's last active admin stays one",
        ));
    }
    Ok(())
}

/// Why a login cannot take this role: tills are not people, and a member's login is for one
/// household (it names its member), so it neither becomes another role nor is made from one.
fn role_change_error(from: Role, to: Role) -> Option<&'static str> {
    match (from, to) {
        (_, Role::Terminal) => Some("tills authenticate with terminal keys, not users"),
        (Role::Member, r) if r != Role::Member => Some(
            "a member login is for one household: it takes no other role (invite the person \
             with another email)",
        ),
        (r, Role::Member) if r != Role::Member => {
            Some("a member login is for one household: invite the member by their number instead")
        }
        _ => None,
    }
}

/// Gives another person of the fund a new role (admins only); the change applies from their
/// next request. Giving the role they have changes nothing.
pub async fn change_role(
    db: &Db,
    caller: &Caller,
    user: &UserId,
    role: Role,
) -> Result<UserListItem, ServiceError> {
    let (mut tx, target) = begin_change(db, caller, user).await?;
    if let Some(why) = role_change_error(target.user.role, role) {
        return Err(ServiceError::invalid(vec![FieldError::new("role", why)]));
    }
    if target.user.role == role {
        return Ok(target.into());
    }
    if role != Role::Admin {
        keep_an_admin(&mut tx, caller.fund(), &target, "role").await?;
    }
    users::set_role(&mut tx, caller.fund(), user, role).await?;
    let changed = users::find_in(&mut tx, caller.fund(), user).await?;
    tx.commit().await?;
    changed
        .map(UserListItem::from)
        .ok_or_else(|| ServiceError::internal("a user changed in its transaction vanished"))
}

/// Disables another person's login (admins only): they can no longer sign in nor use a link,
/// and every session of theirs ends at once.
pub async fn disable(
    db: &Db,
    caller: &Caller,
    user: &UserId,
) -> Result<UserListItem, ServiceError> {
    let (mut tx, target) = begin_change(db, caller, user).await?;
    if target.disabled_at.is_some() {
        return Err(ServiceError::refused(
            ErrorCode::InvalidStatusChange,
            "this login is already disabled",
        ));
    }
    keep_an_admin(&mut tx, caller.fund(), &target, "id").await?;
    let by = caller.actor();
    let done = users::disable(&mut tx, caller.fund(), user, by, now_micros()).await?;
    if !done {
        // A member who left meanwhile takes their login away.
        return Err(ServiceError::not_found("user"));
    }
    let changed = users::find_in(&mut tx, caller.fund(), user).await?;
    tx.commit().await?;
    changed
        .map(UserListItem::from)
        .ok_or_else(|| ServiceError::internal("a user changed in its transaction vanished"))
}

/// Enables a disabled login again (admins only): the person signs in with their password, or
/// asks for a new-password link (the links of before stay dead).
pub async fn enable(db: &Db, caller: &Caller, user: &UserId) -> Result<UserListItem, ServiceError> {
    let (mut tx, target) = begin_change(db, caller, user).await?;
    if target.disabled_at.is_none() {
        return Err(ServiceError::refused(
            ErrorCode::InvalidStatusChange,
            "this login is not disabled",
        ));
    }
    let done = users::enable(&mut tx, caller.fund(), user).await?;
    if !done {
        return Err(ServiceError::not_found("user"));
    }
    let changed = users::find_in(&mut tx, caller.fund(), user).await?;
    tx.commit().await?;
    changed
        .map(UserListItem::from)
        .ok_or_else(|| ServiceError::internal("a user changed in its transaction vanished"))
}

/// Creates a user after checking the email and the password's length; hashes with Argon2id
/// off the async threads.
pub async fn create(
    db: &Db,
    fund_id: &FundId,
    email: &str,
    password: &str,
    role: Role,
    member_id: Option<&MemberId>,
) -> Result<User, ServiceError> {
    let mut errors = Vec::new();
    let email = users::normalize_email(email);
    let plausible = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'))
        && !email.contains(char::is_whitespace);
    if !plausible {
        errors.push(FieldError::new("email", "not a valid email address"));
    }
    if password.chars().count() < auth::MIN_PASSWORD_CHARS {
        errors.push(FieldError::new(
            "password",
            format!("must be at least {} characters", auth::MIN_PASSWORD_CHARS),
        ));
    }
    if password.len() > 1024 {
        errors.push(FieldError::new("password", "must be at most 1024 bytes"));
    }
    if !errors.is_empty() {
        return Err(ServiceError::invalid(errors));
    }
    let password = password.to_string();
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(ServiceError::internal)?;
    let mut tx = db.begin().await?;
    let member_id = member_id.map(|m| m.as_str());
    let user = users::create(&mut tx, fund_id, &email, &hash, role, member_id).await?;
    tx.commit().await?;
    Ok(user)
}

/// Checks an email and a password; the user when they match. An unknown email is checked
/// against a dummy hash so that both failures take the same time. `fund_id` narrows the
/// search when one deployment hosts several funds.
pub async fn authenticate(
    db: &Db,
    email: &str,
    password: &str,
    fund_id: Option<&str>,
) -> Result<Option<User>, ServiceError> {
    let candidates: Vec<_> = users::find_by_email(db, email)
        .await?
        .into_iter()
        .filter(|c| fund_id.is_none_or(|f| f == c.user.fund_id))
        .collect();
    // Argon2 is slow on purpose: off the async threads.
    let password = password.to_string();
    tokio::task::spawn_blocking(move || {
        if candidates.is_empty() {
            auth::verify_password(&password, auth::dummy_hash());
            return None;
        }
        candidates
            .into_iter()
            .find(|c| auth::verify_password(&password, &c.password_hash))
            .map(|c| c.user)
    })
    .await
    .map_err(ServiceError::internal)
}
