//! The journal and the account balances, written together in one transaction.
//!
//! Posting an entry: (1) each account's cached totals move by a conditional `UPDATE`, in
//! account order, and an allowance balance that would go below zero matches no row and fails
//! the entry; (2) the entry and its postings are inserted; (3) the entry joins the hash chain:
//! the fund's journal head gives it the next number and chains its content hash onto the
//! previous one, in `journal_chain`. On PostgreSQL step 3 is a deferred trigger that runs at
//! commit, so the head (the one lock every writer shares) is held only while committing; on
//! SQLite, whose writers are serialised anyway, it is done inline.

use std::collections::BTreeMap;

use futures_util::TryStreamExt;
use sqlx::Row;

use super::{Backend, Db, StoreError, Tx};
use crate::domain::ledger::{
    chain_hash, AccountCode, EntryContent, EntryError, General, NewEntry, Posting, Side,
    GENESIS_HASH,
};
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

/// Writes a balanced entry and moves the cached balances, in the caller's transaction.
#[tracing::instrument(skip(tx, entry), fields(kind = entry.kind()))]
pub async fn post(
    tx: &mut Tx,
    fund_id: &str,
    entry: &NewEntry,
) -> Result<PostedEntry, LedgerError> {
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

    let created_at = now_micros();
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

    // The entry and its postings in one statement where the dialect allows it.
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
            posting_values(10, lines.len())
        ),
        Backend::Sqlite => insert_entry.to_string(),
    };
    let mut q = sqlx::query(&sql)
        .bind(fund_id)
        .bind(entry.journal().code())
        .bind(entry.kind())
        .bind(&date)
        .bind(entry.label())
        .bind(entry.reference())
        .bind(entry.reverses())
        .bind(created_at)
        .bind(&content_hash);
    if tx.backend() == Backend::Postgres {
        for (account, debit, credit) in &lines {
            q = q.bind(account).bind(*debit).bind(*credit);
        }
    }
    let entry_id: i64 = q
        .fetch_one(&mut **tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                LedgerError::AlreadyReversed(entry.reverses().unwrap_or_default())
            }
            _ => LedgerError::from(e),
        })?
        .try_get("id")?;

    if tx.backend() == Backend::Sqlite {
        let sql = format!(
            "INSERT INTO postings (entry_id, line, fund_id, account, debit, credit) \
             SELECT $1, column1, $2, column2, column3, column4 FROM (VALUES {})",
            posting_values(3, lines.len())
        );
        let mut q = sqlx::query(&sql).bind(entry_id).bind(fund_id);
        for (account, debit, credit) in &lines {
            q = q.bind(account).bind(*debit).bind(*credit);
        }
        q.execute(&mut **tx).await?;
        chain_inline(tx, fund_id, entry_id, &content_hash).await?;
    }

    Ok(PostedEntry {
        entry_id,
        created_at,
        balances,
    })
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

/// The gapless number of a committed entry in its fund's journal.
pub async fn entry_number(db: &Db, entry_id: i64) -> Result<Option<i64>, StoreError> {
    let row = sqlx::query("SELECT seq FROM journal_chain WHERE entry_id = $1")
        .bind(entry_id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|r| r.try_get("seq")).transpose()?)
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

/// What `caisse ledger verify` found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub entries: i64,
    pub postings: i64,
    pub accounts: i64,
    pub problems: Vec<String>,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Recomputes the hash chain, every entry's balance and every cached account total from the
/// postings, streaming the journal so memory does not grow with its size.
#[tracing::instrument(skip(db))]
pub async fn verify(db: &Db, fund_id: &str) -> Result<VerifyReport, StoreError> {
    let mut report = VerifyReport::default();
    let mut totals: BTreeMap<String, (i64, i64)> = BTreeMap::new();

    struct Current {
        seq: i64,
        id: i64,
        entry_fund: String,
        journal: String,
        kind: String,
        date: String,
        label: String,
        reference: Option<String>,
        reverses: Option<i64>,
        created_at: i64,
        content_hash: String,
        chain_hash: String,
        lines: Vec<(String, i64, i64)>,
    }
    let mut previous_hash = GENESIS_HASH.to_string();
    let mut expected_seq = 1i64;
    let mut finish = |c: Current, report: &mut VerifyReport, previous_hash: &mut String| {
        let name = format!("entry #{} (id {})", c.seq, c.id);
        if c.seq != expected_seq {
            report
                .problems
                .push(format!("{name}: expected number {expected_seq}"));
        }
        if c.entry_fund != fund_id {
            report
                .problems
                .push(format!("{name}: belongs to fund {}", c.entry_fund));
        }
        expected_seq = c.seq + 1;
        let (d, k): (i64, i64) = c.lines.iter().fold((0, 0), |(d, k), l| (d + l.1, k + l.2));
        if d != k || c.lines.len() < 2 {
            report.problems.push(format!(
                "{name}: does not balance (debit {d}, credit {k}, {} postings)",
                c.lines.len()
            ));
        }
        let content = EntryContent {
            fund_id,
            journal: &c.journal,
            kind: &c.kind,
            entry_date: &c.date,
            label: &c.label,
            reference: c.reference.as_deref(),
            reverses: c.reverses,
            created_at: c.created_at,
            postings: &c.lines,
        }
        .hash();
        if content != c.content_hash {
            report
                .problems
                .push(format!("{name}: content hash does not match"));
        }
        let chain = chain_hash(previous_hash, &c.content_hash);
        if chain != c.chain_hash {
            report
                .problems
                .push(format!("{name}: chain hash does not match"));
        }
        *previous_hash = c.chain_hash;
        report.entries += 1;
    };

    let mut rows = sqlx::query(
        "SELECT c.seq, c.chain_hash, e.id, e.fund_id, e.journal, e.kind, e.entry_date, e.label, \
         e.reference, e.reverses_id, e.created_at, e.content_hash, p.account, p.debit, p.credit \
         FROM journal_chain c JOIN journal_entries e ON e.id = c.entry_id \
         LEFT JOIN postings p ON p.entry_id = e.id \
         WHERE c.fund_id = $1 ORDER BY c.seq, p.line",
    )
    .bind(fund_id)
    .fetch(db.pool());
    let mut current: Option<Current> = None;
    while let Some(r) = rows.try_next().await? {
        let seq: i64 = r.try_get("seq")?;
        if current.as_ref().is_none_or(|c| c.seq != seq) {
            if let Some(c) = current.take() {
                finish(c, &mut report, &mut previous_hash);
            }
            current = Some(Current {
                seq,
                id: r.try_get("id")?,
                entry_fund: r.try_get("fund_id")?,
                journal: r.try_get("journal")?,
                kind: r.try_get("kind")?,
                date: r.try_get("entry_date")?,
                label: r.try_get("label")?,
                reference: r.try_get("reference")?,
                reverses: r.try_get("reverses_id")?,
                created_at: r.try_get("created_at")?,
                content_hash: r.try_get("content_hash")?,
                chain_hash: r.try_get("chain_hash")?,
                lines: Vec::new(),
            });
        }
        let account: Option<String> = r.try_get("account")?;
        if let Some(account) = account {
            let debit: i64 = r.try_get("debit")?;
            let credit: i64 = r.try_get("credit")?;
            let t = totals.entry(account.clone()).or_default();
            t.0 += debit;
            t.1 += credit;
            report.postings += 1;
            if let Some(c) = current.as_mut() {
                c.lines.push((account, debit, credit));
            }
        }
    }
    drop(rows);
    if let Some(c) = current.take() {
        finish(c, &mut report, &mut previous_hash);
    }

    // Every committed entry is in the chain.
    let unchained = sqlx::query(
        "SELECT e.id FROM journal_entries e WHERE e.fund_id = $1 AND NOT EXISTS \
         (SELECT 1 FROM journal_chain c WHERE c.entry_id = e.id) ORDER BY e.id LIMIT 20",
    )
    .bind(fund_id)
    .fetch_all(db.pool())
    .await?;
    for r in unchained {
        let id: i64 = r.try_get("id")?;
        report
            .problems
            .push(format!("entry id {id} is not in the hash chain"));
    }

    let head = sqlx::query("SELECT seq, last_hash FROM ledger_heads WHERE fund_id = $1")
        .bind(fund_id)
        .fetch_optional(db.pool())
        .await?;
    match head {
        Some(h) => {
            let seq: i64 = h.try_get("seq")?;
            let last: String = h.try_get("last_hash")?;
            if seq != report.entries || last != previous_hash {
                report.problems.push(format!(
                    "journal head says {seq} entries ending in {last}, the journal has {} \
                     ending in {previous_hash}",
                    report.entries
                ));
            }
        }
        None => report.problems.push("the fund has no journal head".into()),
    }

    let mut accounts = sqlx::query(
        "SELECT code, normal_side, may_go_negative, debit_total, credit_total, balance \
         FROM accounts WHERE fund_id = $1 ORDER BY code",
    )
    .bind(fund_id)
    .fetch(db.pool());
    let (mut sum_debit, mut sum_credit) = (0i64, 0i64);
    while let Some(r) = accounts.try_next().await? {
        report.accounts += 1;
        let code: String = r.try_get("code")?;
        let side: String = r.try_get("normal_side")?;
        let may_go_negative: i64 = r.try_get("may_go_negative")?;
        let cached = (
            r.try_get::<i64, _>("debit_total")?,
            r.try_get::<i64, _>("credit_total")?,
        );
        let balance: i64 = r.try_get("balance")?;
        let recomputed = totals.remove(&code).unwrap_or_default();
        sum_debit += cached.0;
        sum_credit += cached.1;
        if cached != recomputed {
            report.problems.push(format!(
                "account {code}: cached totals {cached:?} ≠ postings {recomputed:?}"
            ));
        }
        let expected = if side == Side::Debit.as_str() {
            recomputed.0 - recomputed.1
        } else {
            recomputed.1 - recomputed.0
        };
        if balance != expected {
            report.problems.push(format!(
                "account {code}: cached balance {balance} ≠ {expected} from postings"
            ));
        }
        if may_go_negative == 0 && balance < 0 {
            report
                .problems
                .push(format!("account {code}: negative balance {balance}"));
        }
    }
    for code in totals.keys() {
        report.problems.push(format!(
            "postings name account {code}, which does not exist"
        ));
    }
    if sum_debit != sum_credit {
        report.problems.push(format!(
            "trial balance: total debit {sum_debit} ≠ total credit {sum_credit}"
        ));
    }
    Ok(report)
}

/// The backend-specific part of the test suite's tamper check: rewrite a posting behind the
/// ledger's back, as an attacker with database access would (triggers disabled).
#[doc(hidden)]
pub async fn tamper_for_tests(db: &Db, fund_id: &str, entry_id: i64) -> Result<(), StoreError> {
    let mut conn = db.pool().acquire().await?;
    let (off, on) = match db.backend() {
        Backend::Sqlite => (
            "DROP TRIGGER postings_append_only_update",
            "CREATE TRIGGER postings_append_only_update BEFORE UPDATE ON postings \
             BEGIN SELECT RAISE(ABORT, 'postings is append-only'); END",
        ),
        Backend::Postgres => (
            "ALTER TABLE postings DISABLE TRIGGER postings_append_only",
            "ALTER TABLE postings ENABLE TRIGGER postings_append_only",
        ),
    };
    sqlx::query(off).execute(&mut *conn).await?;
    sqlx::query(
        "UPDATE postings SET debit = debit + 1 WHERE fund_id = $1 AND entry_id = $2 AND debit > 0",
    )
    .bind(fund_id)
    .bind(entry_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(on).execute(&mut *conn).await?;
    Ok(())
}
