//! Users and their bearer sessions.

use sqlx::Row;

use super::{Db, StoreError, Tx};
use crate::domain::{new_id, now_micros, Role};

#[derive(Clone, Debug)]
pub struct User {
    pub fund_id: String,
    pub id: String,
    pub email: String,
    pub role: Role,
    pub member_id: Option<String>,
}

#[derive(Clone, Debug)]
pub struct UserWithHash {
    pub user: User,
    pub password_hash: String,
}

pub(crate) fn user_from_row(row: &sqlx::any::AnyRow) -> Result<User, StoreError> {
    let role: String = row.try_get("role")?;
    Ok(User {
        fund_id: row.try_get("fund_id")?,
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        role: role
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("unknown role {role}")))?,
        member_id: row.try_get("member_id")?,
    })
}

/// Emails are compared without case: people type them every which way.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

#[tracing::instrument(skip(tx, password_hash))]
pub async fn create(
    tx: &mut Tx,
    fund_id: &str,
    email: &str,
    password_hash: &str,
    role: Role,
    member_id: Option<&str>,
) -> Result<User, StoreError> {
    let id = new_id("usr");
    let email = normalize_email(email);
    sqlx::query(
        "INSERT INTO users (fund_id, id, email, password_hash, role, member_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(fund_id)
    .bind(&id)
    .bind(&email)
    .bind(password_hash)
    .bind(role.as_str())
    .bind(member_id)
    .bind(now_micros())
    .execute(&mut **tx)
    .await
    .map_err(|e| StoreError::on_unique(e, "a user with this email"))?;
    Ok(User {
        fund_id: fund_id.to_string(),
        id,
        email,
        role,
        member_id: member_id.map(String::from),
    })
}

/// A user as an admin sees them: since when, and whether their login is disabled.
#[derive(Clone, Debug)]
pub struct Listed {
    pub user: User,
    pub created_at: i64,
    /// When an admin disabled the login; `None` while it is active.
    pub disabled_at: Option<i64>,
}

const LISTED_COLUMNS: &str = "fund_id, id, email, role, member_id, created_at, disabled_at";

fn listed_from_row(row: &sqlx::any::AnyRow) -> Result<Listed, StoreError> {
    Ok(Listed {
        user: user_from_row(row)?,
        created_at: row.try_get("created_at")?,
        disabled_at: row.try_get("disabled_at")?,
    })
}

/// The fund's users in the order they were created (ids sort by creation time), after the
/// user id `after` when given; `limit` rows at most.
pub async fn list(
    db: &Db,
    fund_id: &str,
    role: Option<Role>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Listed>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {LISTED_COLUMNS} FROM users \
         WHERE fund_id = $1 AND ($2 IS NULL OR role = $2) AND ($3 IS NULL OR id > $3) \
         ORDER BY id LIMIT $4"
    ))
    .bind(fund_id)
    .bind(role.map(Role::as_str))
    .bind(after)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(listed_from_row).collect()
}

/// One user of the fund, disabled or not.
pub async fn find(db: &Db, fund_id: &str, user_id: &str) -> Result<Option<Listed>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {LISTED_COLUMNS} FROM users WHERE fund_id = $1 AND id = $2"
    ))
    .bind(fund_id)
    .bind(user_id)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(listed_from_row).transpose()
}

/// The same, inside a transaction that changes it.
pub async fn find_in(
    tx: &mut Tx,
    fund_id: &str,
    user_id: &str,
) -> Result<Option<Listed>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {LISTED_COLUMNS} FROM users WHERE fund_id = $1 AND id = $2"
    ))
    .bind(fund_id)
    .bind(user_id)
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(listed_from_row).transpose()
}

/// Serialises the changes of roles and logins of one fund (PostgreSQL; SQLite's writer already
/// does): two admins demoting or disabling each other at the same moment would otherwise both
/// see the other still an admin, and leave the fund with none.
pub async fn lock_people(tx: &mut Tx, fund_id: &str) -> Result<(), StoreError> {
    if tx.backend() == super::Backend::Postgres {
        sqlx::query("SELECT id FROM funds WHERE id = $1 FOR UPDATE")
            .bind(fund_id)
            .fetch_optional(&mut **tx)
            .await?;
    }
    Ok(())
}

/// How many admins of the fund can still sign in.
pub async fn active_admins(tx: &mut Tx, fund_id: &str) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM users \
         WHERE fund_id = $1 AND role = 'admin' AND disabled_at IS NULL",
    )
    .bind(fund_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.try_get("n")?)
}

#[tracing::instrument(skip(tx))]
pub async fn set_role(
    tx: &mut Tx,
    fund_id: &str,
    user_id: &str,
    role: Role,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET role = $3 WHERE fund_id = $1 AND id = $2")
        .bind(fund_id)
        .bind(user_id)
        .bind(role.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Disables a login (`false` if it already was): in the same transaction every bearer and
/// web session of the person ends and their unused links stop working, so that enabling the
/// login later revives none of them.
#[tracing::instrument(skip(tx))]
pub async fn disable(
    tx: &mut Tx,
    fund_id: &str,
    user_id: &str,
    by: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE users SET disabled_at = $3, disabled_by = $4 \
         WHERE fund_id = $1 AND id = $2 AND disabled_at IS NULL",
    )
    .bind(fund_id)
    .bind(user_id)
    .bind(now)
    .bind(by)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if done == 0 {
        return Ok(false);
    }
    for table in ["sessions", "web_sessions"] {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE fund_id = $1 AND user_id = $2"
        ))
        .bind(fund_id)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query(
        "UPDATE login_links SET used_at = $3 \
         WHERE fund_id = $1 AND user_id = $2 AND used_at IS NULL",
    )
    .bind(fund_id)
    .bind(user_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// Enables a disabled login again (`false` if it was not disabled); the person signs in with
/// the password they had.
#[tracing::instrument(skip(tx))]
pub async fn enable(tx: &mut Tx, fund_id: &str, user_id: &str) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE users SET disabled_at = NULL, disabled_by = NULL \
         WHERE fund_id = $1 AND id = $2 AND disabled_at IS NOT NULL",
    )
    .bind(fund_id)
    .bind(user_id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(done > 0)
}

/// Active users with this email, in any fund (a login names no fund when the deployment has
/// one). A disabled login is not found: signing in with it reads as a wrong password, and
/// "mot de passe oublié" sends it no link.
pub async fn find_by_email(db: &Db, email: &str) -> Result<Vec<UserWithHash>, StoreError> {
    let rows = sqlx::query(
        "SELECT fund_id, id, email, role, member_id, password_hash FROM users \
         WHERE email = $1 AND disabled_at IS NULL",
    )
    .bind(normalize_email(email))
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(UserWithHash {
                user: user_from_row(r)?,
                password_hash: r.try_get("password_hash")?,
            })
        })
        .collect()
}

pub async fn create_session(
    db: &Db,
    user: &User,
    token_hash: &str,
    expires_at: i64,
) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    // Expired sessions go when new ones come: the table never grows without bound.
    sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
        .bind(now_micros())
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO sessions (token_hash, fund_id, user_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(&user.fund_id)
    .bind(&user.id)
    .bind(now_micros())
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The user behind a bearer token, if the session exists, has not expired, and the login is
/// not disabled (disabling deletes the sessions too; this holds even against a session opened
/// at the same moment).
pub async fn session_user(db: &Db, token_hash: &str) -> Result<Option<User>, StoreError> {
    let row = sqlx::query(
        "SELECT u.fund_id, u.id, u.email, u.role, u.member_id FROM sessions s \
         JOIN users u ON u.fund_id = s.fund_id AND u.id = s.user_id \
         WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL",
    )
    .bind(token_hash)
    .bind(now_micros())
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(user_from_row).transpose()
}

pub async fn delete_session(db: &Db, token_hash: &str) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
