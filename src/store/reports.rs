//! What the treasurer's reports read from the journal: amounts moved per kind of entry and
//! per month, and the balances of the bank, the shops and the members' allowances per month.
//!
//! Both queries group by month (`substr(entry_date, 1, 7)`), so a summary over any date range
//! and the monthly series of the dashboard come from the same SQL, with the sums done here.

use sqlx::Row;

use super::{Db, StoreError};

/// The amount that entries of one kind moved in one month.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KindFlow {
    /// `YYYY-MM`.
    pub month: String,
    /// The entry's kind (`contribution_call`, `allowance`, `redemption`...). A reversal counts
    /// under the kind of the entry it cancels, negatively, on the reversal's own date.
    pub kind: String,
    /// Sum of the entries' debits (an entry's amount), net of reversals.
    pub amount: i64,
}

/// Net amounts per month and kind for entries dated within `[from, to]` (`YYYY-MM-DD`,
/// inclusive).
#[tracing::instrument(skip(db))]
pub async fn flows(
    db: &Db,
    fund_id: &str,
    from: &str,
    to: &str,
) -> Result<Vec<KindFlow>, StoreError> {
    let mut conn = super::begin_scan(db).await?;
    let rows = sqlx::query(
        "SELECT substr(e.entry_date, 1, 7) AS month, COALESCE(o.kind, e.kind) AS kind, \
         CAST(COALESCE(SUM(CASE WHEN e.reverses_id IS NULL THEN p.debit ELSE 0 - p.debit END), \
           0) AS BIGINT) AS amount \
         FROM journal_entries e \
         JOIN postings p ON p.entry_id = e.id \
         LEFT JOIN journal_entries o ON o.id = e.reverses_id \
         WHERE e.fund_id = $1 AND e.entry_date >= $2 AND e.entry_date <= $3 \
         GROUP BY substr(e.entry_date, 1, 7), COALESCE(o.kind, e.kind) \
         ORDER BY 1, 2",
    )
    .bind(fund_id)
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await;
    super::end_scan(db, conn).await;
    let rows = rows?;
    rows.iter()
        .map(|r| {
            Ok(KindFlow {
                month: r.try_get("month")?,
                kind: r.try_get("kind")?,
                amount: r.try_get("amount")?,
            })
        })
        .collect()
}

/// How three balances moved in one month, each in its normal sense.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BalanceMoves {
    /// `YYYY-MM`.
    pub month: String,
    /// 512 Banque (debit minus credit).
    pub bank: i64,
    /// 401 Commerces, every shop together (credit minus debit): owed to shops.
    pub shops: i64,
    /// 467 Soldes d'allocation, every member together (credit minus debit).
    pub allowances: i64,
}

/// Movements of 512, 401.* and 467.* per month, for entries dated on or before `to`; their
/// running sum is each balance at the end of each month.
#[tracing::instrument(skip(db))]
pub async fn balance_moves(
    db: &Db,
    fund_id: &str,
    to: &str,
) -> Result<Vec<BalanceMoves>, StoreError> {
    let mut conn = super::begin_scan(db).await?;
    let rows = sqlx::query(
        "SELECT substr(e.entry_date, 1, 7) AS month, \
         CAST(COALESCE(SUM(CASE WHEN p.account = '512' THEN p.debit - p.credit ELSE 0 END), 0) \
           AS BIGINT) AS bank, \
         CAST(COALESCE(SUM(CASE WHEN p.account LIKE '401.%' THEN p.credit - p.debit ELSE 0 END), \
           0) AS BIGINT) AS shops, \
         CAST(COALESCE(SUM(CASE WHEN p.account LIKE '467.%' THEN p.credit - p.debit ELSE 0 END), \
           0) AS BIGINT) AS allowances \
         FROM postings p JOIN journal_entries e ON e.id = p.entry_id \
         WHERE p.fund_id = $1 AND e.entry_date <= $2 \
           AND (p.account = '512' OR p.account LIKE '401.%' OR p.account LIKE '467.%') \
         GROUP BY substr(e.entry_date, 1, 7) ORDER BY 1",
    )
    .bind(fund_id)
    .bind(to)
    .fetch_all(&mut *conn)
    .await;
    super::end_scan(db, conn).await;
    let rows = rows?;
    rows.iter()
        .map(|r| {
            Ok(BalanceMoves {
                month: r.try_get("month")?,
                bank: r.try_get("bank")?,
                shops: r.try_get("shops")?,
                allowances: r.try_get("allowances")?,
            })
        })
        .collect()
}
