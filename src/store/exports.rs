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
    .fetch_all(db.pool())
    .await?;
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
