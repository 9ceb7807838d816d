//! The journal and the account balances, written together in one transaction.
//!
//! Posting an entry: (1) each account's cached totals move by a conditional `UPDATE`, in
//! account order, and an allowance balance that would go below zero matches no row and fails
//! the entry; (2) the entry and its postings are inserted; (3) the entry joins the hash chain:
//! the fund's journal head gives it the next number and chains its content hash onto the
//! previous one, in `journal_chain`. On PostgreSQL step 3 is a deferred trigger that runs at
//! commit, so the head (the one lock every writer shares) is held only while committing; on
//! SQLite, whose writers are serialised anyway, it is done inline.
//!
//! One room per job: `post` (one entry, its reversal), `bulk` (the monthly batches) and
//! `verify` (`caisse ledger verify`, whose pure checks are in `domain::ledger::verify`); here
//! the accounts and the reads.

mod bulk;
mod post;
mod verify;

pub use bulk::Bulk;
pub use post::{post, reverse};
pub use verify::{tamper_for_tests, verify, VerifyReport};

use std::collections::BTreeMap;

use sqlx::Row;

use super::{Db, StoreError, Tx};
use crate::domain::ledger::{AccountCode, EntryContent, EntryError, General, NewEntry, Posting};
use crate::domain::{now_micros, Cents};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("insufficient balance on account {0}")]
    InsufficientBalance(AccountCode),
    #[error("unknown account {0}")]
    UnknownAccount(AccountCode),
    #[error("entry {0} does not exist")]
    EntryNotFound(i64),
    #[error("the fund's journal has no head")]
    NoJournalHead,
    #[error("entry {0} was already reversed")]
    AlreadyReversed(i64),
    #[error(transparent)]
    Entry(#[from] EntryError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for LedgerError {
    fn from(e: sqlx::Error) -> Self {
        LedgerError::Store(StoreError::Db(e))
    }
}

/// What [`post`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostedEntry {
    /// The entry's id. Its gapless number in the journal is given when it joins the chain
    /// (see [`entry_number`]).
    pub entry_id: i64,
    pub created_at: i64,
    /// Each touched account's balance after the entry, in its normal sense.
    pub balances: BTreeMap<AccountCode, i64>,
}

/// An entry as it is stored and hashed: its date as text, its lines as (account, debit cents,
/// credit cents), and the content hash over them. One function for [`post`] and [`Bulk`], so
/// both write what `verify` recomputes.
struct Hashed {
    date: String,
    lines: Vec<(String, i64, i64)>,
    content_hash: String,
}

impl Hashed {
    fn of(fund_id: &str, entry: &NewEntry, created_at: i64) -> Hashed {
        let date = entry.date().format("%Y-%m-%d").to_string();
        let lines: Vec<(String, i64, i64)> = entry
            .postings()
            .iter()
            .map(|p| (p.account.to_string(), p.debit.cents(), p.credit.cents()))
            .collect();
        let content_hash = EntryContent {
            fund_id,
            journal: entry.journal().code(),
            kind: entry.kind(),
            entry_date: &date,
            label: entry.label(),
            reference: entry.reference(),
            reverses: entry.reverses(),
            created_at,
            postings: &lines,
        }
        .hash();
        Hashed {
            date,
            lines,
            content_hash,
        }
    }
}

/// Creates an account if it does not exist yet.
pub async fn open_account(
    tx: &mut Tx,
    fund_id: &str,
    code: &AccountCode,
    label: &str,
) -> Result<(), StoreError> {
    let g = code.general_account();
    sqlx::query(
        "INSERT INTO accounts (fund_id, code, general, label, normal_side, may_go_negative, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (fund_id, code) DO NOTHING",
    )
    .bind(fund_id)
    .bind(code.as_str())
    .bind(g.code())
    .bind(label)
    .bind(g.normal_side().as_str())
    .bind(i64::from(g.may_go_negative()))
    .bind(now_micros())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Creates many accounts at once (member imports, bulk creation); existing ones are left.
pub async fn open_accounts(
    tx: &mut Tx,
    fund_id: &str,
    codes: &[AccountCode],
    label: &str,
) -> Result<(), StoreError> {
    use super::{json_col as c, json_rows};
    let b = tx.backend();
    let rows: Vec<serde_json::Value> = codes
        .iter()
        .map(|code| {
            let g = code.general_account();
            serde_json::json!([
                code.as_str(),
                g.code(),
                g.normal_side().as_str(),
                i64::from(g.may_go_negative())
            ])
        })
        .collect();
    sqlx::query(&format!(
        "INSERT INTO accounts (fund_id, code, general, label, normal_side, may_go_negative, \
         created_at) SELECT $2, {}, {}, $3, {}, {}, $4 FROM {} WHERE true \
         ON CONFLICT (fund_id, code) DO NOTHING",
        c(b, 0, "TEXT"),
        c(b, 1, "TEXT"),
        c(b, 2, "TEXT"),
        c(b, 3, "BIGINT"),
        json_rows(b, 1)
    ))
    .bind(serde_json::Value::Array(rows).to_string())
    .bind(fund_id)
    .bind(label)
    .bind(now_micros())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The gapless number of a committed entry in its fund's journal.
pub async fn entry_number(db: &Db, entry_id: i64) -> Result<Option<i64>, StoreError> {
    let row = sqlx::query("SELECT seq FROM journal_chain WHERE entry_id = $1")
        .bind(entry_id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|r| r.try_get("seq")).transpose()?)
}

/// The postings of an entry, in line order.
pub async fn postings(
    tx: &mut Tx,
    fund_id: &str,
    entry_id: i64,
) -> Result<Vec<Posting>, LedgerError> {
    let rows = sqlx::query(
        "SELECT account, debit, credit FROM postings WHERE fund_id = $1 AND entry_id = $2 \
         ORDER BY line",
    )
    .bind(fund_id)
    .bind(entry_id)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|r| {
            let account: String = r.try_get("account")?;
            Ok(Posting {
                account: AccountCode::parse(&account)
                    .ok_or_else(|| StoreError::Corrupt(format!("account code {account}")))?,
                debit: cents(r.try_get("debit")?)?,
                credit: cents(r.try_get("credit")?)?,
            })
        })
        .collect()
}

fn cents(v: i64) -> Result<Cents, StoreError> {
    Cents::from_cents(v).map_err(|_| StoreError::Corrupt(format!("negative amount {v}")))
}

/// One account's balance in its normal sense (what a member can spend, for a 467 account).
pub async fn balance(db: &Db, fund_id: &str, code: &AccountCode) -> Result<i64, StoreError> {
    let row = sqlx::query("SELECT balance FROM accounts WHERE fund_id = $1 AND code = $2")
        .bind(fund_id)
        .bind(code.as_str())
        .fetch_optional(db.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(row.try_get("balance")?)
}

/// The same, inside a transaction.
pub async fn balance_in(tx: &mut Tx, fund_id: &str, code: &AccountCode) -> Result<i64, StoreError> {
    let row = sqlx::query("SELECT balance FROM accounts WHERE fund_id = $1 AND code = $2")
        .bind(fund_id)
        .bind(code.as_str())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(row.try_get("balance")?)
}

/// The same, locking the account's row until the end of the transaction (PostgreSQL).
pub async fn balance_for_update(
    tx: &mut Tx,
    fund_id: &str,
    code: &AccountCode,
) -> Result<i64, StoreError> {
    let lock = tx.for_update();
    let row = sqlx::query(&format!(
        "SELECT balance FROM accounts WHERE fund_id = $1 AND code = $2{lock}"
    ))
    .bind(fund_id)
    .bind(code.as_str())
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(StoreError::NotFound)?;
    Ok(row.try_get("balance")?)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrialLine {
    pub account: String,
    pub label: String,
    pub debit: i64,
    pub credit: i64,
}

/// Debit and credit totals per general account (auxiliaries summed into 411, 401, 467).
pub async fn trial_balance(db: &Db, fund_id: &str) -> Result<Vec<TrialLine>, StoreError> {
    let rows = sqlx::query(
        "SELECT general, CAST(SUM(debit_total) AS BIGINT) AS debit, \
         CAST(SUM(credit_total) AS BIGINT) AS credit FROM accounts WHERE fund_id = $1 \
         GROUP BY general ORDER BY general",
    )
    .bind(fund_id)
    .fetch_all(db.pool())
    .await?;
    let mut lines = Vec::new();
    for r in rows {
        let code: String = r.try_get("general")?;
        let label = General::from_code(&code)
            .map(|g| g.label_fr().to_string())
            .unwrap_or_default();
        lines.push(TrialLine {
            account: code,
            label,
            debit: r.try_get("debit")?,
            credit: r.try_get("credit")?,
        });
    }
    Ok(lines)
}
