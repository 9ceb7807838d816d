//! Contribution calls (dues per period) and payments.

use sqlx::Row;

use super::{json_col as c, json_rows, Db, StoreError, Tx};
use crate::domain::member::Period;
use crate::domain::now_micros;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeriodFigures {
    pub members_called: i64,
    pub total: i64,
}

impl PeriodFigures {
    /// From the figures of a [`super::batches::Batch::Call`], in their column order.
    pub fn from_columns(f: &[i64]) -> PeriodFigures {
        let at = |i: usize| f.get(i).copied().unwrap_or_default();
        PeriodFigures {
            members_called: at(0),
            total: at(1),
        }
    }

    pub fn columns(&self) -> [i64; 2] {
        [self.members_called, self.total]
    }
}

/// Records what each member was called for: (member id, amount in cents, ledger entry id).
pub async fn insert_calls(
    tx: &mut Tx,
    fund_id: &str,
    period: Period,
    calls: &[(String, i64, Option<i64>)],
) -> Result<(), StoreError> {
    if calls.is_empty() {
        return Ok(());
    }
    let b = tx.backend();
    let rows: Vec<serde_json::Value> = calls
        .iter()
        .map(|(m, a, e)| serde_json::json!([m, a, e]))
        .collect();
    sqlx::query(&format!(
        "INSERT INTO contribution_calls (fund_id, period, member_id, amount, entry_id) \
         SELECT $2, $3, {}, {}, {} FROM {}",
        c(b, 0, "TEXT"),
        c(b, 1, "BIGINT"),
        c(b, 2, "BIGINT"),
        json_rows(b, 1)
    ))
    .bind(serde_json::Value::Array(rows).to_string())
    .bind(fund_id)
    .bind(period.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[derive(Clone, Debug)]
pub struct Payment {
    pub id: String,
    pub member_id: String,
    pub amount: i64,
    pub method: String,
    pub paid_on: String,
    pub reference: Option<String>,
    pub entry_id: i64,
}

pub async fn insert_payment(tx: &mut Tx, fund_id: &str, p: &Payment) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO contribution_payments (fund_id, id, member_id, amount, method, paid_on, \
         reference, entry_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(fund_id)
    .bind(&p.id)
    .bind(&p.member_id)
    .bind(p.amount)
    .bind(&p.method)
    .bind(&p.paid_on)
    .bind(&p.reference)
    .bind(p.entry_id)
    .bind(now_micros())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A member's dues: everything called, called before `current`, and paid.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dues {
    pub called: i64,
    pub called_before: i64,
    pub paid: i64,
}

impl Dues {
    /// Still owed, all periods included (negative: a credit that the next dues will use).
    pub fn outstanding(&self) -> i64 {
        self.called - self.paid
    }
    /// Owed for periods before the current one: payments settle the oldest dues first.
    pub fn arrears(&self) -> i64 {
        (self.called_before - self.paid).max(0)
    }
    pub fn credit(&self) -> i64 {
        (self.paid - self.called).max(0)
    }
}

pub async fn dues(
    db: &Db,
    fund_id: &str,
    member_id: &str,
    current: Period,
) -> Result<Dues, StoreError> {
    let row = sqlx::query(
        "SELECT \
           (SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM contribution_calls \
              WHERE fund_id = $1 AND member_id = $2 AND reversed_entry_id IS NULL) AS called, \
           (SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM contribution_calls \
              WHERE fund_id = $1 AND member_id = $2 AND period < $3 \
              AND reversed_entry_id IS NULL) AS called_before, \
           (SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM contribution_payments \
              WHERE fund_id = $1 AND member_id = $2 AND reversed_entry_id IS NULL) AS paid",
    )
    .bind(fund_id)
    .bind(member_id)
    .bind(current.to_string())
    .fetch_one(db.pool())
    .await?;
    Ok(Dues {
        called: row.try_get("called")?,
        called_before: row.try_get("called_before")?,
        paid: row.try_get("paid")?,
    })
}

#[derive(Clone, Debug)]
pub struct Arrear {
    pub member_id: String,
    pub number: i64,
    pub payment_reference: String,
    pub full_name: Option<String>,
    pub status: String,
    pub dues: Dues,
    /// Periods called before the current one, oldest first, that payments have not covered.
    pub oldest_unpaid: Option<String>,
}

/// Members who owe dues for periods before `current`, largest arrears first.
pub async fn arrears(db: &Db, fund_id: &str, current: Period) -> Result<Vec<Arrear>, StoreError> {
    let rows = sqlx::query(
        "SELECT m.id, m.number, m.payment_reference, m.full_name, m.status, \
           COALESCE(c.called, 0) AS called, COALESCE(c.called_before, 0) AS called_before, \
           COALESCE(p.paid, 0) AS paid \
         FROM members m \
         JOIN (SELECT member_id, CAST(SUM(amount) AS BIGINT) AS called, \
                 CAST(SUM(CASE WHEN period < $2 THEN amount ELSE 0 END) AS BIGINT) AS called_before \
               FROM contribution_calls WHERE fund_id = $1 AND reversed_entry_id IS NULL \
               GROUP BY member_id) c \
           ON c.member_id = m.id \
         LEFT JOIN (SELECT member_id, CAST(SUM(amount) AS BIGINT) AS paid \
               FROM contribution_payments WHERE fund_id = $1 AND reversed_entry_id IS NULL \
               GROUP BY member_id) p \
           ON p.member_id = m.id \
         WHERE m.fund_id = $1 AND COALESCE(c.called_before, 0) > COALESCE(p.paid, 0) \
         ORDER BY COALESCE(c.called_before, 0) - COALESCE(p.paid, 0) DESC, m.number",
    )
    .bind(fund_id)
    .bind(current.to_string())
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let member_id: String = r.try_get("id")?;
        let dues = Dues {
            called: r.try_get("called")?,
            called_before: r.try_get("called_before")?,
            paid: r.try_get("paid")?,
        };
        // The oldest period not covered: walk the calls in order against what was paid.
        let calls = sqlx::query(
            "SELECT period, amount FROM contribution_calls WHERE fund_id = $1 AND member_id = $2 \
             AND period < $3 AND reversed_entry_id IS NULL ORDER BY period",
        )
        .bind(fund_id)
        .bind(&member_id)
        .bind(current.to_string())
        .fetch_all(db.pool())
        .await?;
        let mut left = dues.paid;
        let mut oldest_unpaid = None;
        for call in calls {
            let amount: i64 = call.try_get("amount")?;
            if left >= amount {
                left -= amount;
            } else {
                oldest_unpaid = Some(call.try_get("period")?);
                break;
            }
        }
        out.push(Arrear {
            member_id,
            number: r.try_get("number")?,
            payment_reference: r.try_get("payment_reference")?,
            full_name: r.try_get("full_name")?,
            status: r.try_get("status")?,
            dues,
            oldest_unpaid,
        });
    }
    Ok(out)
}

/// One movement on a member's accounts, newest first.
#[derive(Clone, Debug)]
pub struct Movement {
    pub entry_id: i64,
    /// The entry's number in the journal: the order in which entries were committed.
    pub seq: i64,
    pub date: String,
    pub created_at: i64,
    pub kind: String,
    pub label: String,
    /// "allowance" (467) or "contribution" (411).
    pub account: &'static str,
    /// Signed, in cents: for the allowance, + credited and − spent; for contributions,
    /// + called (owed) and − paid.
    pub amount: i64,
}

/// Movements before journal number `before_seq` (all when `None`), newest first. Entry ids
/// are not in time order across connections; journal numbers are.
pub async fn movements(
    db: &Db,
    fund_id: &str,
    contribution_account: &str,
    allowance_account: &str,
    before_seq: Option<i64>,
    limit: i64,
) -> Result<Vec<Movement>, StoreError> {
    let rows = sqlx::query(
        "SELECT e.id, c.seq, e.entry_date, e.created_at, e.kind, e.label, p.account, p.debit, \
         p.credit FROM postings p JOIN journal_entries e ON e.id = p.entry_id \
         JOIN journal_chain c ON c.entry_id = e.id \
         WHERE p.fund_id = $1 AND p.account IN ($2, $3) AND c.seq < $4 \
         ORDER BY c.seq DESC, p.line LIMIT $5",
    )
    .bind(fund_id)
    .bind(contribution_account)
    .bind(allowance_account)
    .bind(before_seq.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let account: String = r.try_get("account")?;
            let debit: i64 = r.try_get("debit")?;
            let credit: i64 = r.try_get("credit")?;
            let (account, amount) = if account == allowance_account {
                ("allowance", credit - debit)
            } else {
                ("contribution", debit - credit)
            };
            Ok(Movement {
                entry_id: r.try_get("id")?,
                seq: r.try_get("seq")?,
                date: r.try_get("entry_date")?,
                created_at: r.try_get("created_at")?,
                kind: r.try_get("kind")?,
                label: r.try_get("label")?,
                account,
                amount,
            })
        })
        .collect()
}
