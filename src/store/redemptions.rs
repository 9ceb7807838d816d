//! Redemptions (payments at the till), refunds and declines.

use futures_util::FutureExt;
use sqlx::Row;

use super::{Db, StoreError, Tx};

/// The shop as the till path needs it: can it take payments, and its name for the entry.
pub async fn shop_for_till(
    tx: &mut Tx,
    fund_id: &str,
    shop_id: &str,
) -> Result<Option<(String, String)>, StoreError> {
    let row = sqlx::query("SELECT status, name FROM shops WHERE fund_id = $1 AND id = $2")
        .bind(fund_id)
        .bind(shop_id)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(|r| Ok((r.try_get("status")?, r.try_get("name")?)))
        .transpose()
}

#[derive(Clone, Debug)]
pub struct NewRedemption<'a> {
    pub id: &'a str,
    pub shop_id: &'a str,
    pub terminal_id: &'a str,
    pub card_id: &'a str,
    pub member_id: &'a str,
    pub amount: i64,
    pub entry_id: i64,
    pub created_at: i64,
}

pub async fn insert(tx: &mut Tx, fund_id: &str, r: &NewRedemption<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO redemptions (fund_id, id, shop_id, terminal_id, card_id, member_id, amount, \
         entry_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(fund_id)
    .bind(r.id)
    .bind(r.shop_id)
    .bind(r.terminal_id)
    .bind(r.card_id)
    .bind(r.member_id)
    .bind(r.amount)
    .bind(r.entry_id)
    .bind(r.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Adds `amount` to what was refunded of a redemption of `shop_id`, if the total stays within
/// the redemption; answers the member and what is left to refund. `None`: no such redemption
/// for this shop, or too much (see [`refundable`]).
pub async fn add_refund(
    tx: &mut Tx,
    fund_id: &str,
    shop_id: &str,
    id: &str,
    amount: i64,
) -> Result<Option<(String, i64)>, StoreError> {
    let row = sqlx::query(
        "UPDATE redemptions SET refunded = refunded + $4 \
         WHERE fund_id = $1 AND id = $2 AND shop_id = $3 AND refunded + $4 <= amount \
         AND reversed_entry_id IS NULL RETURNING member_id, amount - refunded AS left_",
    )
    .bind(fund_id)
    .bind(id)
    .bind(shop_id)
    .bind(amount)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| Ok((r.try_get("member_id")?, r.try_get("left_")?)))
        .transpose()
}

/// What is left to refund of a redemption of this shop, and whether it was reversed (`None` if
/// there is none).
pub async fn refundable(
    tx: &mut Tx,
    fund_id: &str,
    shop_id: &str,
    id: &str,
) -> Result<Option<(i64, bool)>, StoreError> {
    let row = sqlx::query(
        "SELECT amount - refunded AS left_, reversed_entry_id FROM redemptions \
         WHERE fund_id = $1 AND id = $2 AND shop_id = $3",
    )
    .bind(fund_id)
    .bind(id)
    .bind(shop_id)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| {
        Ok((
            r.try_get("left_")?,
            r.try_get::<Option<i64>, _>("reversed_entry_id")?.is_some(),
        ))
    })
    .transpose()
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_refund(
    tx: &mut Tx,
    fund_id: &str,
    id: &str,
    redemption_id: &str,
    shop_id: &str,
    terminal_id: &str,
    amount: i64,
    entry_id: i64,
    created_at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO refunds (fund_id, id, redemption_id, shop_id, terminal_id, amount, entry_id, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(fund_id)
    .bind(id)
    .bind(redemption_id)
    .bind(shop_id)
    .bind(terminal_id)
    .bind(amount)
    .bind(entry_id)
    .bind(created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records a refused payment, in a transaction of its own (the payment's was rolled back).
#[allow(clippy::too_many_arguments)]
pub async fn record_decline(
    db: &Db,
    fund_id: &str,
    shop_id: &str,
    terminal_id: &str,
    card_id: Option<&str>,
    code: &str,
    amount: Option<i64>,
    now: i64,
) -> Result<(), StoreError> {
    let row = (
        fund_id.to_string(),
        crate::domain::new_id("dec"),
        shop_id.to_string(),
        terminal_id.to_string(),
        card_id.map(String::from),
        code.to_string(),
    );
    // Through the group commit: a burst of declines must not cost one fsync each.
    db.write(move |tx| {
        async move {
            let (fund_id, id, shop_id, terminal_id, card_id, code) = row;
            sqlx::query(
                "INSERT INTO declines (fund_id, id, shop_id, terminal_id, card_id, code, amount, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(fund_id)
            .bind(id)
            .bind(shop_id)
            .bind(terminal_id)
            .bind(card_id)
            .bind(code)
            .bind(amount)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }
        .boxed()
    })
    .await
}

#[derive(Clone, Debug)]
pub struct RedemptionRow {
    pub id: String,
    pub shop_id: String,
    pub amount: i64,
    pub refunded: i64,
    /// The treasurer reversed the sale's entry.
    pub reversed: bool,
    pub created_at: i64,
}

/// Where a page of redemptions resumes: after this row, in (created_at, id) order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct After {
    pub created_at: i64,
    pub id: String,
}

/// The position of a redemption in the list, for a cursor naming it; `None` when the fund (or
/// the shop, for a till) has no such redemption.
pub async fn position(
    db: &Db,
    fund_id: &str,
    shop_id: Option<&str>,
    id: &str,
) -> Result<Option<After>, StoreError> {
    let row = sqlx::query(
        "SELECT created_at FROM redemptions WHERE fund_id = $1 AND id = $2 \
         AND ($3 IS NULL OR shop_id = $3)",
    )
    .bind(fund_id)
    .bind(id)
    .bind(shop_id)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        Ok(After {
            created_at: r.try_get("created_at")?,
            id: id.to_string(),
        })
    })
    .transpose()
}

/// Redemptions between two instants (microseconds), newest first; one shop's or all; after
/// `after` when given (payments of the same microsecond are ordered by id, so none is skipped
/// or repeated from one page to the next).
pub async fn list(
    db: &Db,
    fund_id: &str,
    shop_id: Option<&str>,
    from: i64,
    to: i64,
    after: Option<&After>,
    limit: i64,
) -> Result<Vec<RedemptionRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, shop_id, amount, refunded, reversed_entry_id, created_at FROM redemptions \
         WHERE fund_id = $1 AND ($2 IS NULL OR shop_id = $2) AND created_at >= $3 \
         AND created_at < $4 \
         AND ($6 IS NULL OR created_at < $6 OR (created_at = $6 AND id < $7)) \
         ORDER BY created_at DESC, id DESC LIMIT $5",
    )
    .bind(fund_id)
    .bind(shop_id)
    .bind(from)
    .bind(to)
    .bind(limit)
    .bind(after.map(|a| a.created_at))
    .bind(after.map(|a| a.id.as_str()))
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(RedemptionRow {
                id: r.try_get("id")?,
                shop_id: r.try_get("shop_id")?,
                amount: r.try_get("amount")?,
                refunded: r.try_get("refunded")?,
                reversed: r.try_get::<Option<i64>, _>("reversed_entry_id")?.is_some(),
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}
