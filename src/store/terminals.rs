//! A shop's tills and their API keys. A key is 256 random bits shown once; only its SHA-256 is
//! kept, so a stolen database gives no working key.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Db, StoreError, Tx};
use crate::domain::{new_id, now_micros};

/// `last_used_at` is refreshed at most this often: the till path stays a read almost always.
pub const LAST_USED_RESOLUTION_MICROS: i64 = 60 * 1_000_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terminal {
    pub id: String,
    pub shop_id: String,
    pub label: String,
    pub created_by: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

fn terminal_from_row(row: &AnyRow) -> Result<Terminal, StoreError> {
    Ok(Terminal {
        id: row.try_get("id")?,
        shop_id: row.try_get("shop_id")?,
        label: row.try_get("label")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

const COLUMNS: &str = "id, shop_id, label, created_by, created_at, last_used_at, revoked_at";

/// Adds a till to a shop, under the shop's lock (`shops::lock`): the service checked the
/// shop's status allows one.
#[tracing::instrument(skip(tx, key_hash))]
pub async fn create(
    tx: &mut Tx,
    fund_id: &str,
    shop_id: &str,
    label: &str,
    key_hash: &str,
    created_by: &str,
) -> Result<Terminal, StoreError> {
    let id = new_id("term");
    let now = now_micros();
    sqlx::query(
        "INSERT INTO terminals (fund_id, id, shop_id, label, key_hash, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(fund_id)
    .bind(&id)
    .bind(shop_id)
    .bind(label)
    .bind(key_hash)
    .bind(created_by)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(|e| StoreError::on_unique(e, "a terminal with this key"))?;
    Ok(Terminal {
        id,
        shop_id: shop_id.to_string(),
        label: label.to_string(),
        created_by: created_by.to_string(),
        created_at: now,
        last_used_at: None,
        revoked_at: None,
    })
}

/// A page of a shop's terminals, in creation order.
pub async fn list(
    db: &Db,
    fund_id: &str,
    shop_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Terminal>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM terminals WHERE fund_id = $1 AND shop_id = $2 AND id > $3 \
         ORDER BY id LIMIT $4"
    ))
    .bind(fund_id)
    .bind(shop_id)
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(terminal_from_row).collect()
}

pub async fn get(
    db: &Db,
    fund_id: &str,
    terminal_id: &str,
) -> Result<Option<Terminal>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM terminals WHERE fund_id = $1 AND id = $2"
    ))
    .bind(fund_id)
    .bind(terminal_id)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(terminal_from_row).transpose()
}

/// Revokes a till's key at once. Revoking a revoked terminal changes nothing and answers it as
/// it is.
#[tracing::instrument(skip(tx))]
pub async fn revoke(
    tx: &mut Tx,
    fund_id: &str,
    shop_id: &str,
    terminal_id: &str,
    revoked_by: &str,
) -> Result<Terminal, StoreError> {
    sqlx::query(
        "UPDATE terminals SET revoked_at = $4, revoked_by = $5 \
         WHERE fund_id = $1 AND shop_id = $2 AND id = $3 AND revoked_at IS NULL",
    )
    .bind(fund_id)
    .bind(shop_id)
    .bind(terminal_id)
    .bind(now_micros())
    .bind(revoked_by)
    .execute(&mut **tx)
    .await?;
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM terminals WHERE fund_id = $1 AND shop_id = $2 AND id = $3"
    ))
    .bind(fund_id)
    .bind(shop_id)
    .bind(terminal_id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(StoreError::NotFound)?;
    terminal_from_row(&row)
}

/// Who a till key belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TerminalAuth {
    pub fund_id: String,
    pub terminal_id: String,
    pub shop_id: String,
}

/// The terminal behind a key hash, if the key exists, is not revoked and its shop exists.
/// Notes the time of use, to the minute.
pub async fn authenticate(db: &Db, key_hash: &str) -> Result<Option<TerminalAuth>, StoreError> {
    let row = sqlx::query(
        "SELECT t.fund_id, t.id, t.shop_id, t.last_used_at FROM terminals t \
         JOIN shops s ON s.fund_id = t.fund_id AND s.id = t.shop_id \
         WHERE t.key_hash = $1 AND t.revoked_at IS NULL",
    )
    .bind(key_hash)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let auth = TerminalAuth {
        fund_id: row.try_get("fund_id")?,
        terminal_id: row.try_get("id")?,
        shop_id: row.try_get("shop_id")?,
    };
    let last: Option<i64> = row.try_get("last_used_at")?;
    let now = now_micros();
    if last.is_none_or(|t| t < now - LAST_USED_RESOLUTION_MICROS) {
        // Bookkeeping only: a failure here must not turn a good key away.
        if let Err(e) = touch(db, &auth, now).await {
            tracing::warn!(error = %e, terminal = %auth.terminal_id, "could not note terminal use");
        }
    }
    Ok(Some(auth))
}

async fn touch(db: &Db, auth: &TerminalAuth, now: i64) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "UPDATE terminals SET last_used_at = $3 WHERE fund_id = $1 AND id = $2 \
         AND (last_used_at IS NULL OR last_used_at < $4)",
    )
    .bind(&auth.fund_id)
    .bind(&auth.terminal_id)
    .bind(now)
    .bind(now - LAST_USED_RESOLUTION_MICROS)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
