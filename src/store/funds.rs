//! Funds and their settings.

use sqlx::Row;

use super::{Db, StoreError, Tx};
use crate::domain::ledger::{AccountCode, General, GENESIS_HASH};
use crate::domain::settings::FundSettings;
use crate::domain::{new_id, now_micros};

/// Creates a fund with its general accounts and the head of its journal.
#[tracing::instrument(skip(tx, settings))]
pub async fn create(tx: &mut Tx, settings: &FundSettings) -> Result<String, StoreError> {
    let id = new_id("fund");
    let now = now_micros();
    let json = serde_json::to_string(settings).expect("settings serialize");
    sqlx::query("INSERT INTO funds (id, name, settings, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(&settings.fund_name)
        .bind(json)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    sqlx::query("INSERT INTO ledger_heads (fund_id, seq, last_hash) VALUES ($1, 0, $2)")
        .bind(&id)
        .bind(GENESIS_HASH)
        .execute(&mut **tx)
        .await?;
    for g in General::ALL.into_iter().filter(|g| !g.has_auxiliaries()) {
        super::ledger::open_account(tx, &id, &AccountCode::general(g), g.label_fr()).await?;
    }
    Ok(id)
}

/// The fund a single-fund deployment serves: the oldest one, created with example settings on
/// first start.
pub async fn ensure_default(db: &Db) -> Result<String, StoreError> {
    if let Some(id) = first(db).await? {
        return Ok(id);
    }
    let mut tx = db.begin().await?;
    // Checked again under the write lock: two processes starting at once create one fund.
    let existing = sqlx::query("SELECT id FROM funds ORDER BY created_at, id LIMIT 1")
        .fetch_optional(&mut *tx)
        .await?;
    let id = match existing {
        Some(row) => row.try_get("id")?,
        None => create(&mut tx, &FundSettings::example()).await?,
    };
    tx.commit().await?;
    Ok(id)
}

pub async fn first(db: &Db) -> Result<Option<String>, StoreError> {
    let row = sqlx::query("SELECT id FROM funds ORDER BY created_at, id LIMIT 1")
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|r| r.try_get("id")).transpose()?)
}

#[tracing::instrument(skip(db))]
pub async fn settings(db: &Db, fund_id: &str) -> Result<FundSettings, StoreError> {
    let row = sqlx::query("SELECT settings FROM funds WHERE id = $1")
        .bind(fund_id)
        .fetch_optional(db.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
    let json: String = row.try_get("settings")?;
    serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(format!("fund settings: {e}")))
}

#[tracing::instrument(skip(tx, settings))]
pub async fn put_settings(
    tx: &mut Tx,
    fund_id: &str,
    settings: &FundSettings,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(settings).expect("settings serialize");
    let done = sqlx::query("UPDATE funds SET settings = $1, name = $2 WHERE id = $3")
        .bind(json)
        .bind(&settings.fund_name)
        .bind(fund_id)
        .execute(&mut **tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
