//! Cookie sessions of the web interface: a user's, or a till's (tied to its terminal key).

use sqlx::Row;

use super::users::{user_from_row, User};
use super::{Db, StoreError};
use crate::domain::now_micros;

/// Who a live web session belongs to.
#[derive(Clone, Debug)]
pub enum Owner {
    User(User),
    /// A till: the SHA-256 of its terminal key, checked against `terminals` on every request.
    Terminal {
        key_hash: String,
    },
}

/// Opens a session. Expired sessions go when new ones come, so the table stays small.
pub async fn create(
    db: &Db,
    id_hash: &str,
    fund_id: &str,
    user_id: Option<&str>,
    terminal_key_hash: Option<&str>,
    expires_at: i64,
) -> Result<(), StoreError> {
    let now = now_micros();
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM web_sessions WHERE expires_at < $1")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO web_sessions (id_hash, fund_id, user_id, terminal_key_hash, created_at, \
         expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id_hash)
    .bind(fund_id)
    .bind(user_id)
    .bind(terminal_key_hash)
    .bind(now)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The owner of a session that exists and has not expired (a person's, while their login is
/// not disabled).
pub async fn find(db: &Db, id_hash: &str) -> Result<Option<Owner>, StoreError> {
    let row = sqlx::query(
        "SELECT fund_id, user_id, terminal_key_hash FROM web_sessions \
         WHERE id_hash = $1 AND expires_at > $2",
    )
    .bind(id_hash)
    .bind(now_micros())
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let fund_id: String = row.try_get("fund_id")?;
    let user_id: Option<String> = row.try_get("user_id")?;
    if let Some(user_id) = user_id {
        let user = sqlx::query(
            "SELECT fund_id, id, email, role, member_id FROM users \
             WHERE fund_id = $1 AND id = $2 AND disabled_at IS NULL",
        )
        .bind(&fund_id)
        .bind(&user_id)
        .fetch_optional(db.pool())
        .await?;
        return user
            .as_ref()
            .map(|r| user_from_row(r).map(Owner::User))
            .transpose();
    }
    let key_hash: Option<String> = row.try_get("terminal_key_hash")?;
    Ok(key_hash.map(|key_hash| Owner::Terminal { key_hash }))
}

pub async fn delete(db: &Db, id_hash: &str) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
