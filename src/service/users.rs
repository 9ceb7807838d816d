//! Who can sign in: an admin creates users and lists them; a login checks a password.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth;
use crate::caller::{AdminOnly, Caller, Roles};
use crate::domain::member::MemberStatus;
use crate::domain::{FieldError, FundId, Instant, MemberId, Role, UserId};
use crate::service::error::ServiceError;
use crate::store::users::{self, User};
use crate::store::{members, Db};

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
    Ok(rows
        .into_iter()
        .map(|(u, created_at)| UserListItem {
            id: UserId::new(u.id),
            email: u.email,
            role: u.role,
            member_id: u.member_id.map(MemberId::new),
            created_at: Instant::from_micros(created_at),
        })
        .collect())
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
