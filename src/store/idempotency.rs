//! Idempotency keys for the money routes.
//!
//! The key is claimed by an `INSERT` at the start of the request's transaction and completed
//! with the response before commit, so the effect and the key commit or vanish together. A
//! second request with the same key waits on the first one's row (PostgreSQL) or on the writer
//! lock (SQLite), then sees the stored answer.

use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{StoreError, Tx};
use crate::domain::now_micros;

/// How long a key is kept at least (API.md says 24 h; we keep two days).
pub const RETENTION_MICROS: i64 = 48 * 3600 * 1_000_000;

#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// First time this key is seen: do the work, then [`complete`].
    New,
    /// Seen before with the same request: answer this again, do nothing.
    Replay { status: u16, body: String },
    /// Seen before with another request: 409 `idempotency_key_reused`.
    Mismatch,
}

/// A fingerprint of the request: route and body, the body in canonical JSON so that key order
/// and white space do not make a retry look like another request.
pub fn request_hash(route: &str, body: &serde_json::Value) -> String {
    let mut h = Sha256::new();
    h.update(route.as_bytes());
    h.update([0]);
    h.update(body.to_string().as_bytes());
    hex::encode(h.finalize())
}

pub async fn claim(
    tx: &mut Tx,
    fund_id: &str,
    caller: &str,
    key: &str,
    request_hash: &str,
) -> Result<Claim, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (fund_id, caller, idem_key, request_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (fund_id, caller, idem_key) DO NOTHING",
    )
    .bind(fund_id)
    .bind(caller)
    .bind(key)
    .bind(request_hash)
    .bind(now_micros())
    .execute(&mut **tx)
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(Claim::New);
    }
    let row = sqlx::query(
        "SELECT request_hash, status, response FROM idempotency_keys \
         WHERE fund_id = $1 AND caller = $2 AND idem_key = $3",
    )
    .bind(fund_id)
    .bind(caller)
    .bind(key)
    .fetch_one(&mut **tx)
    .await?;
    let stored_hash: String = row.try_get("request_hash")?;
    if stored_hash != request_hash {
        return Ok(Claim::Mismatch);
    }
    let status: Option<i64> = row.try_get("status")?;
    let body: Option<String> = row.try_get("response")?;
    match (status, body) {
        (Some(s), Some(body)) => Ok(Claim::Replay {
            status: u16::try_from(s).unwrap_or(500),
            body,
        }),
        // A committed row is always complete: the first request completes it before commit.
        _ => Err(StoreError::Corrupt(format!(
            "idempotency key {key} committed without a response"
        ))),
    }
}

pub async fn complete(
    tx: &mut Tx,
    fund_id: &str,
    caller: &str,
    key: &str,
    status: u16,
    body: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE idempotency_keys SET status = $4, response = $5 \
         WHERE fund_id = $1 AND caller = $2 AND idem_key = $3",
    )
    .bind(fund_id)
    .bind(caller)
    .bind(key)
    .bind(i64::from(status))
    .bind(body)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Forgets keys older than the retention period.
pub async fn purge(db: &super::Db) -> Result<u64, StoreError> {
    let mut tx = db.begin().await?;
    let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(now_micros() - RETENTION_MICROS)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}
