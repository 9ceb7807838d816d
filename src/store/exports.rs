//! The journal read page by page for the exports (FEC, journal CSV), in journal order.
//!
//! Pages are ranges of the gapless entry number (`journal_chain.seq`): entries `after+1 ..=
//! upto` of the fund, so a page is a primary-key range scan however large the journal, and no
//! page ever has to be skipped by an offset. The caller reads the journal head once, before the
//! first page, and never pages past it: entries committed during an export are not in it.

use std::collections::HashMap;

use sqlx::Row;

use super::{Db, StoreError};

/// One posting with its entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportRow {
    pub seq: i64,
    pub entry_id: i64,
    pub journal: String,
    pub kind: String,
    pub entry_date: String,
    pub label: String,
    pub reference: Option<String>,
    pub created_at: i64,
    pub account: String,
    pub debit: i64,
    pub credit: i64,
}

/// The number of the fund's last chained entry: what an export started now will cover.
pub async fn journal_head(db: &Db, fund_id: &str) -> Result<i64, StoreError> {
    let row = sqlx::query("SELECT seq FROM ledger_heads WHERE fund_id = $1")
        .bind(fund_id)
        .fetch_optional(db.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(row.try_get("seq")?)
}

/// The postings of entries numbered `after+1 ..= upto` dated within `[from, to]`
/// (`YYYY-MM-DD`), in journal order then line order. One query on a connection of its own.
#[tracing::instrument(skip(db))]
pub async fn page(
    db: &Db,
    fund_id: &str,
    after: i64,
    upto: i64,
    from: &str,
    to: &str,
) -> Result<Vec<ExportRow>, StoreError> {
    let mut conn = super::begin_scan(db).await?;
    let rows = sqlx::query(
        "SELECT c.seq, e.id, e.journal, e.kind, e.entry_date, e.label, e.reference, \
         e.created_at, p.account, p.debit, p.credit \
         FROM journal_chain c \
         JOIN journal_entries e ON e.id = c.entry_id \
         JOIN postings p ON p.entry_id = c.entry_id \
         WHERE c.fund_id = $1 AND c.seq > $2 AND c.seq <= $3 \
           AND e.entry_date >= $4 AND e.entry_date <= $5 \
         ORDER BY c.seq, p.line",
    )
    .bind(fund_id)
    .bind(after)
    .bind(upto)
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await;
    super::end_scan(db, conn).await;
    let rows = rows?;
    rows.iter()
        .map(|r| {
            Ok(ExportRow {
                seq: r.try_get("seq")?,
                entry_id: r.try_get("id")?,
                journal: r.try_get("journal")?,
                kind: r.try_get("kind")?,
                entry_date: r.try_get("entry_date")?,
                label: r.try_get("label")?,
                reference: r.try_get("reference")?,
                created_at: r.try_get("created_at")?,
                account: r.try_get("account")?,
                debit: r.try_get("debit")?,
                credit: r.try_get("credit")?,
            })
        })
        .collect()
}

/// The labels of the shops' auxiliary accounts (`401.<shop id>` → the shop's name), a few
/// dozen rows: the FEC names each shop's account.
pub async fn shop_account_labels(
    db: &Db,
    fund_id: &str,
) -> Result<HashMap<String, String>, StoreError> {
    let rows =
        sqlx::query("SELECT code, label FROM accounts WHERE fund_id = $1 AND general = '401'")
            .bind(fund_id)
            .fetch_all(db.pool())
            .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("code")?, r.try_get("label")?)))
        .collect()
}

/// Whether any entry numbered up to `upto` is dated within `[from, to]`.
pub async fn any_entry_dated(
    db: &Db,
    fund_id: &str,
    from: &str,
    to: &str,
    upto: i64,
) -> Result<bool, StoreError> {
    let mut conn = super::begin_scan(db).await?;
    let row = sqlx::query(
        "SELECT 1 AS one FROM journal_entries e JOIN journal_chain c ON c.entry_id = e.id \
         WHERE e.fund_id = $1 AND e.entry_date >= $2 AND e.entry_date <= $3 AND c.seq <= $4 \
         LIMIT 1",
    )
    .bind(fund_id)
    .bind(from)
    .bind(to)
    .bind(upto)
    .fetch_optional(&mut *conn)
    .await;
    super::end_scan(db, conn).await;
    let row = row?;
    Ok(row.is_some())
}

/// Each account's debit minus credit over the entries numbered up to `upto` and dated before
/// `before` (`YYYY-MM-DD`), accounts whose postings net to zero left out, by account code.
#[tracing::instrument(skip(db))]
pub async fn balances_before(
    db: &Db,
    fund_id: &str,
    before: &str,
    upto: i64,
) -> Result<Vec<(String, i64)>, StoreError> {
    let mut conn = super::begin_scan(db).await?;
    let rows = sqlx::query(
        "SELECT p.account, CAST(SUM(p.debit - p.credit) AS BIGINT) AS net \
         FROM postings p JOIN journal_entries e ON e.id = p.entry_id \
         JOIN journal_chain c ON c.entry_id = p.entry_id \
         WHERE p.fund_id = $1 AND e.entry_date < $2 AND c.seq <= $3 \
         GROUP BY p.account HAVING SUM(p.debit - p.credit) <> 0 ORDER BY p.account",
    )
    .bind(fund_id)
    .bind(before)
    .bind(upto)
    .fetch_all(&mut *conn)
    .await;
    super::end_scan(db, conn).await;
    let rows = rows?;
    rows.iter()
        .map(|r| Ok((r.try_get("account")?, r.try_get("net")?)))
        .collect()
}
