//! Members' cards, and the TOTP steps already used.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Db, StoreError, Tx};
use crate::domain::card::CardKind;

#[derive(Clone, Debug)]
pub struct Card {
    pub id: String,
    pub member_id: String,
    pub kind: CardKind,
    /// Sealed with the card key (app cards).
    pub secret_enc: Option<String>,
    /// Printed cards: `pinmac1:` + the PIN's keyed MAC, or, for cards whose PIN has not been
    /// used since, the Argon2id PHC string they were issued with (see `service::pins`).
    pub pin_hash: Option<String>,
    pub wrong_pins: i64,
    pub locked_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
}

const COLUMNS: &str =
    "id, member_id, kind, secret_enc, pin_hash, wrong_pins, locked_at, revoked_at, created_at";

fn from_row(r: &AnyRow) -> Result<Card, StoreError> {
    let kind: String = r.try_get("kind")?;
    Ok(Card {
        id: r.try_get("id")?,
        member_id: r.try_get("member_id")?,
        kind: kind.parse().map_err(StoreError::Corrupt)?,
        secret_enc: r.try_get("secret_enc")?,
        pin_hash: r.try_get("pin_hash")?,
        wrong_pins: r.try_get("wrong_pins")?,
        locked_at: r.try_get("locked_at")?,
        revoked_at: r.try_get("revoked_at")?,
        created_at: r.try_get("created_at")?,
    })
}

#[derive(Debug)]
pub struct NewCard<'a> {
    pub id: &'a str,
    pub member_id: &'a str,
    pub kind: CardKind,
    pub secret_enc: Option<&'a str>,
    pub pin_hash: Option<&'a str>,
    pub created_by: &'a str,
    pub created_at: i64,
}

#[tracing::instrument(skip_all, fields(card = c.id))]
pub async fn insert(tx: &mut Tx, fund_id: &str, c: &NewCard<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO cards (fund_id, id, member_id, kind, secret_enc, pin_hash, created_by, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(fund_id)
    .bind(c.id)
    .bind(c.member_id)
    .bind(c.kind.as_str())
    .bind(c.secret_enc)
    .bind(c.pin_hash)
    .bind(c.created_by)
    .bind(c.created_at)
    .execute(&mut **tx)
    .await
    .map_err(|e| StoreError::on_unique(e, "a card with this id"))?;
    Ok(())
}

pub async fn get(
    conn: &mut AnyConnection,
    fund_id: &str,
    id: &str,
) -> Result<Option<Card>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM cards WHERE fund_id = $1 AND id = $2"
    ))
    .bind(fund_id)
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn find(db: &Db, fund_id: &str, id: &str) -> Result<Option<Card>, StoreError> {
    let mut conn = db.pool().acquire().await?;
    get(&mut conn, fund_id, id).await
}

/// The card's row, locked for the rest of the transaction on PostgreSQL (SQLite's writer holds
/// the whole database already).
pub async fn get_for_update(
    tx: &mut Tx,
    fund_id: &str,
    id: &str,
) -> Result<Option<Card>, StoreError> {
    let lock = tx.for_update();
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM cards WHERE fund_id = $1 AND id = $2{lock}"
    ))
    .bind(fund_id)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// A page of a member's cards, in creation order.
pub async fn list_for_member(
    db: &Db,
    fund_id: &str,
    member_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Card>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM cards WHERE fund_id = $1 AND member_id = $2 AND id > $3 \
         ORDER BY id LIMIT $4"
    ))
    .bind(fund_id)
    .bind(member_id)
    .bind(after.unwrap_or(""))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Revokes a card for good; revoking a revoked card changes nothing.
#[tracing::instrument(skip(tx))]
pub async fn revoke(
    tx: &mut Tx,
    fund_id: &str,
    id: &str,
    by: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE cards SET revoked_at = $3, revoked_by = $4 \
         WHERE fund_id = $1 AND id = $2 AND revoked_at IS NULL",
    )
    .bind(fund_id)
    .bind(id)
    .bind(now)
    .bind(by)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Clears the lock and the count of wrong PINs.
#[tracing::instrument(skip(tx))]
pub async fn unlock(tx: &mut Tx, fund_id: &str, id: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE cards SET wrong_pins = 0, locked_at = NULL WHERE fund_id = $1 AND id = $2")
        .bind(fund_id)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A right PIN: the count of wrong ones starts again.
pub async fn reset_wrong_pins(tx: &mut Tx, fund_id: &str, id: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE cards SET wrong_pins = 0 WHERE fund_id = $1 AND id = $2 AND wrong_pins > 0",
    )
    .bind(fund_id)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Replaces a card's stored PIN by another form of the same PIN (an Argon2 hash by its MAC),
/// only if it is still `old`.
pub async fn replace_pin_hash(
    tx: &mut Tx,
    fund_id: &str,
    id: &str,
    old: &str,
    new: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE cards SET pin_hash = $4 WHERE fund_id = $1 AND id = $2 AND pin_hash = $3")
        .bind(fund_id)
        .bind(id)
        .bind(old)
        .bind(new)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Counts one more wrong PIN, locking the card when the count reaches `limit`, in one
/// statement so that concurrent wrong PINs all count. Returns whether the card is now locked.
#[tracing::instrument(skip(tx))]
pub async fn add_wrong_pin(
    tx: &mut Tx,
    fund_id: &str,
    id: &str,
    limit: i64,
    now: i64,
) -> Result<bool, StoreError> {
    sqlx::query(
        "UPDATE cards SET wrong_pins = wrong_pins + 1, \
         locked_at = CASE WHEN locked_at IS NULL AND wrong_pins + 1 >= $3 THEN $4 \
                          ELSE locked_at END \
         WHERE fund_id = $1 AND id = $2",
    )
    .bind(fund_id)
    .bind(id)
    .bind(limit)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let locked: Option<i64> =
        sqlx::query_scalar("SELECT locked_at FROM cards WHERE fund_id = $1 AND id = $2")
            .bind(fund_id)
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or(StoreError::NotFound)?;
    Ok(locked.is_some())
}

/// Records that a TOTP step of a card was used. `false` when it already was (by a committed
/// transaction, or by a concurrent one that commits first: PostgreSQL waits on the key).
pub async fn use_step(
    tx: &mut Tx,
    fund_id: &str,
    card_id: &str,
    step: i64,
    now: i64,
) -> Result<bool, StoreError> {
    // ON CONFLICT DO NOTHING rather than catching the violation: on PostgreSQL an error would
    // abort the caller's whole transaction.
    let done = sqlx::query(
        "INSERT INTO card_token_uses (fund_id, card_id, step, used_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (fund_id, card_id, step) DO NOTHING",
    )
    .bind(fund_id)
    .bind(card_id)
    .bind(step)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
