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

/// The fund's users in the order they were created (ids sort by creation time), after the
/// user id `after` when given; `limit` rows at most.
pub async fn list(
    db: &Db,
    fund_id: &str,
    role: Option<Role>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<(User, i64)>, StoreError> {
    let rows = sqlx::query(
        "SELECT fund_id, id, email, role, member_id, created_at FROM users \
         WHERE fund_id = $1 AND ($2 IS NULL OR role = $2) AND ($3 IS NULL OR id > $3) \
         ORDER BY id LIMIT $4",
    )
    .bind(fund_id)
    .bind(role.map(Role::as_str))
    .bind(after)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| Ok((user_from_row(r)?, r.try_get("created_at")?)))
        .collect()
}

/// Users with this email, in any fund (a login names no fund when the deployment has one).
pub async fn find_by_email(db: &Db, email: &str) -> Result<Vec<UserWithHash>, StoreError> {
    let rows = sqlx::query(
        "SELECT fund_id, id, email, role, member_id, password_hash FROM users WHERE email = $1",
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

/// The user behind a bearer token, if the session exists and has not expired.
pub async fn session_user(db: &Db, token_hash: &str) -> Result<Option<User>, StoreError> {
    let row = sqlx::query(
        "SELECT u.fund_id, u.id, u.email, u.role, u.member_id FROM sessions s \
         JOIN users u ON u.fund_id = s.fund_id AND u.id = s.user_id \
         WHERE s.token_hash = $1 AND s.expires_at > $2",
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
