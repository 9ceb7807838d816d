//! Posting one entry (and its reversal): the cached balances move by conditional updates, the
//! entry and its postings are inserted, and the entry joins the hash chain.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{postings, Hashed, LedgerError, PostedEntry};
use crate::domain::ledger::{chain_hash, AccountCode, NewEntry};
use crate::domain::now_micros;
use crate::store::{Backend, Tx};

/// Writes a balanced entry and moves the cached balances, in the caller's transaction.
#[tracing::instrument(skip(tx, entry), fields(kind = entry.kind()))]
pub async fn post(
    tx: &mut Tx,
    fund_id: &str,
    entry: &NewEntry,
) -> Result<PostedEntry, LedgerError> {
    let balances = move_balances(tx, fund_id, entry).await?;
    let created_at = now_micros();
    let hashed = Hashed::of(fund_id, entry, created_at);
    let entry_id = insert_entry(tx, fund_id, entry, &hashed, created_at).await?;
    if tx.backend() == Backend::Sqlite {
        let sql = format!(
            "INSERT INTO postings (entry_id, line, fund_id, account, debit, credit) \
             SELECT $1, column1, $2, column2, column3, column4 FROM (VALUES {})",
            posting_values(3, hashed.lines.len())
        );
        let mut q = sqlx::query(&sql).bind(entry_id).bind(fund_id);
        for (account, debit, credit) in &hashed.lines {
            q = q.bind(account).bind(*debit).bind(*credit);
        }
        q.execute(&mut **tx).await?;
        chain_inline(tx, fund_id, entry_id, &hashed.content_hash).await?;
    }
    Ok(PostedEntry {
        entry_id,
        created_at,
        balances,
    })
}

/// Moves each account's cached totals, in account order, by a conditional update: an
/// allowance balance that would go below zero matches no row and fails the entry. Answers
/// the balances after the entry.
async fn move_balances(
    tx: &mut Tx,
    fund_id: &str,
    entry: &NewEntry,
) -> Result<BTreeMap<AccountCode, i64>, LedgerError> {
    let mut balances = BTreeMap::new();
    for (account, (debit, credit)) in entry.movements() {
        let row = sqlx::query(
            "UPDATE accounts SET debit_total = debit_total + $3, credit_total = credit_total + $4, \
             balance = balance + CASE normal_side WHEN 'debit' THEN $3 - $4 ELSE $4 - $3 END \
             WHERE fund_id = $1 AND code = $2 AND (may_go_negative = 1 OR \
             balance + CASE normal_side WHEN 'debit' THEN $3 - $4 ELSE $4 - $3 END >= 0) \
             RETURNING balance",
        )
        .bind(fund_id)
        .bind(account.as_str())
        .bind(debit)
        .bind(credit)
        .fetch_optional(&mut **tx)
        .await?;
        match row {
            Some(r) => {
                balances.insert(account.clone(), r.try_get::<i64, _>("balance")?);
            }
            None => return Err(missing_or_short(tx, fund_id, account).await),
        }
    }
    Ok(balances)
}

/// Inserts the entry, and on PostgreSQL its postings in the same statement; answers its id.
/// A second reversal of one entry breaks the unique index on `reverses_id`.
async fn insert_entry(
    tx: &mut Tx,
    fund_id: &str,
    entry: &NewEntry,
    hashed: &Hashed,
    created_at: i64,
) -> Result<i64, LedgerError> {
    let insert_entry = "INSERT INTO journal_entries (fund_id, journal, kind, entry_date, label, \
         reference, reverses_id, created_at, content_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";
    let sql = match tx.backend() {
        Backend::Postgres => format!(
            "WITH e AS ({insert_entry}), \
             p AS (INSERT INTO postings (entry_id, line, fund_id, account, debit, credit) \
               SELECT e.id, v.column1, $1, v.column2, v.column3, v.column4 \
               FROM e, (VALUES {}) AS v) \
             SELECT id FROM e",
            posting_values(10, hashed.lines.len())
        ),
        Backend::Sqlite => insert_entry.to_string(),
    };
    let mut q = sqlx::query(&sql)
        .bind(fund_id)
        .bind(entry.journal().code())
        .bind(entry.kind())
        .bind(&hashed.date)
        .bind(entry.label())
        .bind(entry.reference())
        .bind(entry.reverses())
        .bind(created_at)
        .bind(&hashed.content_hash);
    if tx.backend() == Backend::Postgres {
        for (account, debit, credit) in &hashed.lines {
            q = q.bind(account).bind(*debit).bind(*credit);
        }
    }
    Ok(q.fetch_one(&mut **tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                LedgerError::AlreadyReversed(entry.reverses().unwrap_or_default())
            }
            _ => LedgerError::from(e),
        })?
        .try_get("id")?)
}

/// `(1, $first, $first+1, $first+2), (2, ...)`: line number, account, debit, credit of each
/// posting, typed so that PostgreSQL need not guess.
fn posting_values(first: usize, rows: usize) -> String {
    (0..rows)
        .map(|i| {
            let b = first + i * 3;
            format!(
                "({}, CAST(${b} AS TEXT), CAST(${} AS BIGINT), CAST(${} AS BIGINT))",
                i + 1,
                b + 1,
                b + 2
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// SQLite: the entry joins the chain in the same transaction; the writer lock taken by
/// `BEGIN IMMEDIATE` already serialises writers, so reading the head then writing it is safe.
/// This is what the `caisse_chain_entry` trigger does on PostgreSQL.
async fn chain_inline(
    tx: &mut Tx,
    fund_id: &str,
    entry_id: i64,
    content_hash: &str,
) -> Result<(), LedgerError> {
    let head = sqlx::query("SELECT seq, last_hash FROM ledger_heads WHERE fund_id = $1")
        .bind(fund_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(LedgerError::NoJournalHead)?;
    let seq = head.try_get::<i64, _>("seq")? + 1;
    let chain = chain_hash(&head.try_get::<String, _>("last_hash")?, content_hash);
    sqlx::query("UPDATE ledger_heads SET seq = $2, last_hash = $3 WHERE fund_id = $1")
        .bind(fund_id)
        .bind(seq)
        .bind(&chain)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO journal_chain (fund_id, seq, entry_id, chain_hash) VALUES ($1, $2, $3, $4)",
    )
    .bind(fund_id)
    .bind(seq)
    .bind(entry_id)
    .bind(&chain)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn missing_or_short(tx: &mut Tx, fund_id: &str, account: &AccountCode) -> LedgerError {
    let exists = sqlx::query("SELECT 1 AS one FROM accounts WHERE fund_id = $1 AND code = $2")
        .bind(fund_id)
        .bind(account.as_str())
        .fetch_optional(&mut **tx)
        .await;
    match exists {
        Ok(Some(_)) => LedgerError::InsufficientBalance(account.clone()),
        Ok(None) => LedgerError::UnknownAccount(account.clone()),
        Err(e) => e.into(),
    }
}

/// Cancels an entry with one that swaps its debits and credits and points back at it.
#[tracing::instrument(skip(tx))]
pub async fn reverse(
    tx: &mut Tx,
    fund_id: &str,
    entry_id: i64,
    date: chrono::NaiveDate,
    label: &str,
) -> Result<PostedEntry, LedgerError> {
    let lines = postings(tx, fund_id, entry_id).await?;
    if lines.is_empty() {
        return Err(LedgerError::EntryNotFound(entry_id));
    }
    let already = sqlx::query("SELECT id FROM journal_entries WHERE reverses_id = $1")
        .bind(entry_id)
        .fetch_optional(&mut **tx)
        .await?;
    if already.is_some() {
        return Err(LedgerError::AlreadyReversed(entry_id));
    }
    let entry = NewEntry::reversal(entry_id, date, label, &lines)?;
    post(tx, fund_id, &entry).await
}
