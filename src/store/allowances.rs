//! Allowance issuances: one row per period, one row per member credited.

use sqlx::Row;

use super::{json_col as c, json_rows, Backend, StoreError, Tx};
use crate::domain::member::Period;
use crate::domain::now_micros;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IssuanceFigures {
    pub members_credited: i64,
    pub total: i64,
    pub returned_by_cap: i64,
}

/// Claims a period for issuance with the allowance rules it will credit by (JSON of
/// `AllowanceSettings`); `false` when it was claimed before, by this or another process: then
/// [`lock_period`] tells how far it went.
pub async fn claim_period(
    tx: &mut Tx,
    fund_id: &str,
    period: Period,
    settings_json: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO allowance_periods (fund_id, period, members_credited, total, \
         returned_by_cap, created_at, resume_after, settings) \
         VALUES ($1, $2, 0, 0, 0, $3, '', $4) ON CONFLICT (fund_id, period) DO NOTHING",
    )
    .bind(fund_id)
    .bind(period.to_string())
    .bind(now_micros())
    .bind(settings_json)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Where an issuance stands.
#[derive(Clone, Debug)]
pub struct PeriodState {
    pub figures: IssuanceFigures,
    /// The last member id credited (members are credited in id order); empty at the start.
    pub resume_after: String,
    /// The allowance rules (JSON) read when the period was claimed.
    pub settings: Option<String>,
    pub completed: bool,
    /// When the period was claimed: members who joined after it are not in this issuance.
    pub claimed_at: i64,
}

/// Reads a period's issuance and, on PostgreSQL, locks it until the end of the transaction:
/// the chunks of an issuance are taken one at a time, whoever runs them.
pub async fn lock_period(
    tx: &mut Tx,
    fund_id: &str,
    period: Period,
) -> Result<Option<PeriodState>, StoreError> {
    let lock = tx.for_update();
    let row = sqlx::query(&format!(
        "SELECT members_credited, total, returned_by_cap, resume_after, settings, \
         completed_at, created_at FROM allowance_periods WHERE fund_id = $1 AND period = $2{lock}"
    ))
    .bind(fund_id)
    .bind(period.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| {
        Ok(PeriodState {
            figures: IssuanceFigures {
                members_credited: r.try_get("members_credited")?,
                total: r.try_get("total")?,
                returned_by_cap: r.try_get("returned_by_cap")?,
            },
            resume_after: r.try_get("resume_after")?,
            settings: r.try_get::<Option<String>, _>("settings")?,
            // A period without kept rules was claimed by a version that issued in one
            // transaction: once visible, it is complete.
            completed: r.try_get::<Option<i64>, _>("completed_at")?.is_some()
                || r.try_get::<Option<String>, _>("settings")?.is_none(),
            claimed_at: r.try_get("created_at")?,
        })
    })
    .transpose()
}

/// Records a chunk's progress: the running figures and the last member id credited.
pub async fn advance(
    tx: &mut Tx,
    fund_id: &str,
    period: Period,
    figures: &IssuanceFigures,
    resume_after: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE allowance_periods SET members_credited = $3, total = $4, returned_by_cap = $5, \
         resume_after = $6 WHERE fund_id = $1 AND period = $2",
    )
    .bind(fund_id)
    .bind(period.to_string())
    .bind(figures.members_credited)
    .bind(figures.total)
    .bind(figures.returned_by_cap)
    .bind(resume_after)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks the issuance complete: every active member has been seen.
pub async fn complete(tx: &mut Tx, fund_id: &str, period: Period) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE allowance_periods SET completed_at = $3 WHERE fund_id = $1 AND period = $2",
    )
    .bind(fund_id)
    .bind(period.to_string())
    .bind(now_micros())
    .execute(&mut **tx)
    .await?;
    Ok(())
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
