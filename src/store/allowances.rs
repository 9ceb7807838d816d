//! Allowance issuances: one row per period, one row per member credited.

use sqlx::Row;

use super::{json_col as c, json_rows, Backend, StoreError, Tx};
use crate::domain::member::Period;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IssuanceFigures {
    pub members_credited: i64,
    pub total: i64,
    pub returned_by_cap: i64,
}

impl IssuanceFigures {
    /// From the figures of a [`super::batches::Batch::Issuance`], in their column order.
    pub fn from_columns(f: &[i64]) -> IssuanceFigures {
        let at = |i: usize| f.get(i).copied().unwrap_or_default();
        IssuanceFigures {
            members_credited: at(0),
            total: at(1),
            returned_by_cap: at(2),
        }
    }

    pub fn columns(&self) -> [i64; 3] {
        [self.members_credited, self.total, self.returned_by_cap]
    }
}

/// Active members counted for a progress bar.
pub async fn count_active(tx: &mut Tx, fund_id: &str) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM members WHERE fund_id = $1 AND status = 'active'",
    )
    .bind(fund_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.try_get("n")?)
}

/// One active member as the issuance sees them.
#[derive(Clone, Debug)]
pub struct Eligible {
    pub member_id: String,
    pub account_ref: String,
    pub adults: i64,
    pub children: i64,
    /// The allowance balance (467) now, locked until the end of the transaction on
    /// PostgreSQL so that no payment at the till moves it between this read and the credit.
    pub balance: i64,
}

/// The next page of members after `after`, by id, active and joined before `joined_before`
/// (the issuance's start), with their allowance balances.
pub async fn eligible_page(
    tx: &mut Tx,
    fund_id: &str,
    after: &str,
    joined_before: i64,
    limit: i64,
) -> Result<Vec<Eligible>, StoreError> {
    // On PostgreSQL the members' rows are locked with their accounts: a member who leaves or
    // is suspended while the page waits for a lock is read again, and dropped (the status
    // check runs on the row's new version); one who leaves after waits for the credit and
    // takes it back with the rest of the balance.
    let lock = match tx.backend() {
        Backend::Postgres => " FOR UPDATE OF m, a",
        Backend::Sqlite => "",
    };
    let rows = sqlx::query(&format!(
        "SELECT m.id, m.account_ref, m.adults, m.children, a.balance FROM members m \
         JOIN accounts a ON a.fund_id = m.fund_id AND a.code = '467.' || m.account_ref \
         WHERE m.fund_id = $1 AND m.status = 'active' AND m.id > $2 AND m.created_at < $4 \
         ORDER BY m.id LIMIT $3{lock}"
    ))
    .bind(fund_id)
    .bind(after)
    .bind(limit)
    .bind(joined_before)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Eligible {
                member_id: r.try_get("id")?,
                account_ref: r.try_get("account_ref")?,
                adults: r.try_get("adults")?,
                children: r.try_get("children")?,
                balance: r.try_get("balance")?,
            })
        })
        .collect()
}

/// Records what each member got: (member id, amount, returned by the cap, credit entry id).
pub async fn insert_credits(
    tx: &mut Tx,
    fund_id: &str,
    period: Period,
    credits: &[(String, i64, i64, Option<i64>)],
) -> Result<(), StoreError> {
    if credits.is_empty() {
        return Ok(());
    }
    let b = tx.backend();
    sqlx::query(&format!(
        "INSERT INTO allowance_credits (fund_id, member_id, period, amount, returned, entry_id) \
         SELECT $2, {}, $3, {}, {}, {} FROM {}",
        c(b, 0, "TEXT"),
        c(b, 1, "BIGINT"),
        c(b, 2, "BIGINT"),
        c(b, 3, "BIGINT"),
        json_rows(b, 1)
    ))
    .bind(serde_json::to_string(credits).map_err(StoreError::from_json)?)
    .bind(fund_id)
    .bind(period.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
