//! Login links (invitations and new-password links): only their token's SHA-256 is stored;
//! taking one marks it used in the same transaction that sets the password, so a link works
//! once even when it is opened twice at the same moment.

use sqlx::Row;

use super::users::{user_from_row, User};
use super::{Db, StoreError, Tx};

/// What a link is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A new person chooses their first password.
    Invitation,
    /// Someone who forgot their password chooses a new one.
    Reset,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Invitation => "invitation",
            Purpose::Reset => "reset",
        }
    }

    fn parse(s: &str) -> Result<Purpose, StoreError> {
        match s {
            "invitation" => Ok(Purpose::Invitation),
            "reset" => Ok(Purpose::Reset),
            other => Err(StoreError::Corrupt(format!("login link purpose {other}"))),
        }
    }
}

/// A link as found by its token.
#[derive(Clone, Debug)]
pub struct Link {
    pub user: User,
    pub purpose: Purpose,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// Stores a new link; earlier unused links of the same purpose for the same person stop
/// working (only the newest one sent counts).
#[allow(clippy::too_many_arguments)]
pub async fn create(
    db: &Db,
    token_hash: &str,
    fund_id: &str,
    user_id: &str,
    purpose: Purpose,
    created_by: Option<&str>,
    now: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "UPDATE login_links SET used_at = $4 \
         WHERE fund_id = $1 AND user_id = $2 AND purpose = $3 AND used_at IS NULL",
    )
    .bind(fund_id)
    .bind(user_id)
    .bind(purpose.as_str())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO login_links (token_hash, fund_id, user_id, purpose, created_by, \
         created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(token_hash)
    .bind(fund_id)
    .bind(user_id)
    .bind(purpose.as_str())
    .bind(created_by)
    .bind(now)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The link behind a token hash, used or not, expired or not (the caller says which); none
/// for a disabled login.
pub async fn find(db: &Db, token_hash: &str) -> Result<Option<Link>, StoreError> {
    let row = sqlx::query(
        "SELECT l.purpose, l.expires_at, l.used_at, u.fund_id, u.id, u.email, u.role, \
         u.member_id FROM login_links l \
         JOIN users u ON u.fund_id = l.fund_id AND u.id = l.user_id \
         WHERE l.token_hash = $1 AND u.disabled_at IS NULL",
    )
    .bind(token_hash)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let purpose: String = row.try_get("purpose")?;
    Ok(Some(Link {
        user: user_from_row(&row)?,
        purpose: Purpose::parse(&purpose)?,
        expires_at: row.try_get("expires_at")?,
        used_at: row.try_get("used_at")?,
    }))
}

/// Takes the link (once: `false` when it was used or expired meanwhile) and sets the person's
/// password, in one transaction. Every bearer and web session of the person ends: whoever
/// knew the old password is signed out.
pub async fn take(
    tx: &mut Tx,
    token_hash: &str,
    password_hash: &str,
    now: i64,
) -> Result<Option<User>, StoreError> {
    let row = sqlx::query(
        "UPDATE login_links SET used_at = $2 \
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
         AND EXISTS (SELECT 1 FROM users u WHERE u.fund_id = login_links.fund_id \
                     AND u.id = login_links.user_id AND u.disabled_at IS NULL) \
         RETURNING fund_id, user_id",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let fund_id: String = row.try_get("fund_id")?;
    let user_id: String = row.try_get("user_id")?;
    sqlx::query("UPDATE users SET password_hash = $3 WHERE fund_id = $1 AND id = $2")
        .bind(&fund_id)
        .bind(&user_id)
        .bind(password_hash)
        .execute(&mut **tx)
        .await?;
    for table in ["sessions", "web_sessions"] {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE fund_id = $1 AND user_id = $2"
        ))
        .bind(&fund_id)
        .bind(&user_id)
        .execute(&mut **tx)
        .await?;
    }
    let user = sqlx::query(
        "SELECT fund_id, id, email, role, member_id FROM users WHERE fund_id = $1 AND id = $2",
    )
    .bind(&fund_id)
    .bind(&user_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(Some(user_from_row(&user)?))
}
