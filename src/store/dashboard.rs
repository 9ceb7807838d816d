//! Monthly figures for the treasurer's dashboard, summed from the ledger's postings (so they
//! always agree with the accounts) and from the redemptions.

use sqlx::Row;

use super::{Db, StoreError};

/// One month's movements, in cents.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Month {
    /// `YYYY-MM`.
    pub month: String,
    /// Contributions called (756 credited).
    pub called: i64,
    /// Contributions received (members' 411 accounts credited by payments).
    pub received: i64,
    /// Allowances issued, net of what a balance cap sent back (6571).
    pub issued: i64,
    /// Allowances spent at shops, net of refunds (401 credited by redemptions).
    pub spent: i64,
    /// The bank account's (512) movement of the month.
    pub bank: i64,
}

/// Every month with a movement, oldest first. A reversing entry counts under the kind of the
/// entry it reverses, so a corrected mistake nets out.
#[tracing::instrument(skip(db))]
pub async fn months(db: &Db, fund_id: &str) -> Result<Vec<Month>, StoreError> {
    let rows = sqlx::query(
        "SELECT SUBSTR(e.entry_date, 1, 7) AS month, \
           CAST(SUM(CASE WHEN p.account = '756' THEN p.credit - p.debit ELSE 0 END) AS BIGINT) \
             AS called, \
           CAST(SUM(CASE WHEN p.account LIKE '411%' \
                          AND COALESCE(o.kind, e.kind) = 'contribution_payment' \
                         THEN p.credit - p.debit ELSE 0 END) AS BIGINT) AS received, \
           CAST(SUM(CASE WHEN p.account = '6571' THEN p.debit - p.credit ELSE 0 END) AS BIGINT) \
             AS issued, \
           CAST(SUM(CASE WHEN p.account LIKE '401%' \
                          AND COALESCE(o.kind, e.kind) IN ('redemption', 'refund') \
                         THEN p.credit - p.debit ELSE 0 END) AS BIGINT) AS spent, \
           CAST(SUM(CASE WHEN p.account = '512' THEN p.debit - p.credit ELSE 0 END) AS BIGINT) \
             AS bank \
         FROM postings p \
         JOIN journal_entries e ON e.id = p.entry_id \
         LEFT JOIN journal_entries o ON o.id = e.reverses_id \
         WHERE p.fund_id = $1 \
         GROUP BY SUBSTR(e.entry_date, 1, 7) \
         ORDER BY month",
    )
    .bind(fund_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Month {
                month: r.try_get("month")?,
                called: r.try_get("called")?,
                received: r.try_get("received")?,
                issued: r.try_get("issued")?,
                spent: r.try_get("spent")?,
                bank: r.try_get("bank")?,
            })
        })
        .collect()
}

/// What was spent at each shop (redemptions less refunds), largest first.
#[tracing::instrument(skip(db))]
pub async fn spending_per_shop(db: &Db, fund_id: &str) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = sqlx::query(
        "SELECT s.name AS name, CAST(SUM(r.amount - r.refunded) AS BIGINT) AS spent \
         FROM redemptions r JOIN shops s ON s.fund_id = r.fund_id AND s.id = r.shop_id \
         WHERE r.fund_id = $1 AND r.reversed_entry_id IS NULL \
         GROUP BY s.id, s.name \
         ORDER BY spent DESC, s.name",
    )
    .bind(fund_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("name")?, r.try_get("spent")?)))
        .collect()
}
