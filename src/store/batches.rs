//! The monthly batches that reach every member, the contribution call and the allowance
//! issuance: one row per period, claimed first, then moved chunk by chunk. Each chunk's
//! transaction records the batch's running figures and the last member id done with the
//! chunk's own rows, so a batch cut short resumes exactly where it stopped.

use sqlx::Row;

use super::{StoreError, Tx};
use crate::domain::member::Period;
use crate::domain::now_micros;

/// A batch that goes through the members in chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Batch {
    /// Contribution calls (`contribution_periods`).
    Call,
    /// Allowance issuances (`allowance_periods`).
    Issuance,
}

impl Batch {
    fn table(self) -> &'static str {
        match self {
            Batch::Call => "contribution_periods",
            Batch::Issuance => "allowance_periods",
        }
    }

    /// The batch's running figures, in the order of [`BatchState::figures`].
    pub fn figure_columns(self) -> &'static [&'static str] {
        match self {
            Batch::Call => &["members_called", "total"],
            Batch::Issuance => &["members_credited", "total", "returned_by_cap"],
        }
    }
}

/// Where a batch stands.
#[derive(Clone, Debug)]
pub struct BatchState {
    /// The running figures, in the order of [`Batch::figure_columns`].
    pub figures: Vec<i64>,
    /// The last member id done (members are taken in id order); empty at the start.
    pub resume_after: String,
    /// The rules (JSON) read when the period was claimed.
    pub settings: Option<String>,
    pub completed: bool,
    /// When the period was claimed: members who joined after it wait for the next period.
    pub claimed_at: i64,
}

/// Claims a period with the rules it will run by; `false` when it was claimed before, by this
/// or another process: then [`lock`] tells how far it went.
pub async fn claim(
    tx: &mut Tx,
    batch: Batch,
    fund_id: &str,
    period: Period,
    settings_json: &str,
) -> Result<bool, StoreError> {
    let columns = batch.figure_columns();
    let done = sqlx::query(&format!(
        "INSERT INTO {} (fund_id, period, {}, created_at, resume_after, settings) \
         VALUES ($1, $2, {}, $3, '', $4) ON CONFLICT (fund_id, period) DO NOTHING",
        batch.table(),
        columns.join(", "),
        vec!["0"; columns.len()].join(", ")
    ))
    .bind(fund_id)
    .bind(period.to_string())
    .bind(now_micros())
    .bind(settings_json)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Reads a period's batch and, on PostgreSQL, locks it until the end of the transaction: the
/// chunks of a batch are taken one at a time, whoever runs them.
pub async fn lock(
    tx: &mut Tx,
    batch: Batch,
    fund_id: &str,
    period: Period,
) -> Result<Option<BatchState>, StoreError> {
    let lock = tx.for_update();
    let columns = batch.figure_columns();
    let row = sqlx::query(&format!(
        "SELECT {}, resume_after, settings, completed_at, created_at FROM {} \
         WHERE fund_id = $1 AND period = $2{lock}",
        columns.join(", "),
        batch.table()
    ))
    .bind(fund_id)
    .bind(period.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| {
        let settings: Option<String> = r.try_get("settings")?;
        Ok(BatchState {
            figures: columns
                .iter()
                .map(|c| r.try_get::<i64, _>(*c))
                .collect::<Result<_, _>>()?,
            resume_after: r.try_get("resume_after")?,
            // A period without kept rules was claimed by a version that ran the whole batch
            // in one transaction: once visible, it is complete.
            completed: r.try_get::<Option<i64>, _>("completed_at")?.is_some() || settings.is_none(),
            settings,
            claimed_at: r.try_get("created_at")?,
        })
    })
    .transpose()
}

/// Records a chunk's progress: the running figures and the last member id done.
pub async fn advance(
    tx: &mut Tx,
    batch: Batch,
    fund_id: &str,
    period: Period,
    figures: &[i64],
    resume_after: &str,
) -> Result<(), StoreError> {
    let columns = batch.figure_columns();
    if figures.len() != columns.len() {
        return Err(StoreError::Corrupt(format!(
            "{} figures for {batch:?}",
            figures.len()
        )));
    }
    let sets: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = ${}", i + 4))
        .collect();
    let sql = format!(
        "UPDATE {} SET resume_after = $3, {} WHERE fund_id = $1 AND period = $2",
        batch.table(),
        sets.join(", ")
    );
    let mut q = sqlx::query(&sql)
        .bind(fund_id)
        .bind(period.to_string())
        .bind(resume_after);
    for f in figures {
        q = q.bind(*f);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

/// Marks the batch complete: every member it was for has been seen.
pub async fn complete(
    tx: &mut Tx,
    batch: Batch,
    fund_id: &str,
    period: Period,
) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "UPDATE {} SET completed_at = $3 WHERE fund_id = $1 AND period = $2",
        batch.table()
    ))
    .bind(fund_id)
    .bind(period.to_string())
    .bind(now_micros())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
