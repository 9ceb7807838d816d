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
/// postings, streaming the journal so memory does not grow with its size; then checks that the
/// tables mirroring the ledger agree with it (see `corrections::mirror_problems`).
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

    // No posting or chain row points nowhere (these tables carry no foreign keys).
    let orphans: i64 = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM postings p WHERE p.fund_id = $1 AND NOT EXISTS \
         (SELECT 1 FROM journal_entries e WHERE e.id = p.entry_id AND e.fund_id = $1)",
    )
    .bind(fund_id)
    .fetch_one(db.pool())
    .await?
    .try_get("n")?;
    if orphans > 0 {
        report
            .problems
            .push(format!("{orphans} postings belong to no entry of the fund"));
    }
    let dangling = sqlx::query(
        "SELECT c.seq FROM journal_chain c WHERE c.fund_id = $1 AND NOT EXISTS \
         (SELECT 1 FROM journal_entries e WHERE e.id = c.entry_id) ORDER BY c.seq LIMIT 20",
    )
    .bind(fund_id)
    .fetch_all(db.pool())
    .await?;
    for r in dangling {
        let seq: i64 = r.try_get("seq")?;
        report.problems.push(format!(
            "chain number {seq} points to an entry that does not exist"
        ));
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
    // The tables that mirror the ledger agree with it (sales, refunds, dues, payouts...).
    report
        .problems
        .extend(super::corrections::mirror_problems(db, fund_id).await?);
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

/// Many entries at once, for the fund's monthly batches (contribution calls, allowance
/// issuance): a few statements per chunk of entries whatever its size, with the same
/// guarantees as [`post`] (balanced entries, cached balances moved in the same transaction,
/// every entry chained).
///
/// Entries are written by [`Bulk::add`] (marked `batch_chained`, which keeps the PostgreSQL
/// commit trigger off them) and chained by [`Bulk::finish`], which must be the last ledger
/// write before the commit. Locks come in the same order as for every other writer, so none
/// can deadlock with a batch: member and shop accounts as the chunks go, then the general
/// accounts (6571, 756...) in `finish`, then the journal head, which ordinary writers take in
/// their commit trigger.
pub struct Bulk {
    fund_id: String,
    created_at: i64,
    first_id: Option<i64>,
    entries: u64,
    /// Movements of general accounts (6571, 756...), applied once in `finish`: these rows
    /// are shared by every writer, so they are locked late, just before the journal head.
    general: BTreeMap<String, (i64, i64)>,
    /// The batch's (entry id, content hash) while it is small enough to keep them, so that
    /// `finish` chains them without reading them back; `None` past [`CHAIN_IN_MEMORY`].
    written: Option<Vec<(i64, String)>>,
}

/// Entries chained per statement in [`Bulk::finish`].
const CHAIN_PAGE: i64 = 5_000;

/// Entries whose hashes a batch keeps for `finish` (about 100 bytes each); a larger batch
/// reads them back from the journal instead, so memory stays bounded.
const CHAIN_IN_MEMORY: usize = 50_000;

impl Bulk {
    pub async fn begin(_tx: &mut Tx, fund_id: &str) -> Result<Bulk, LedgerError> {
        Ok(Bulk {
            fund_id: fund_id.to_string(),
            created_at: now_micros(),
            first_id: None,
            entries: 0,
            general: BTreeMap::new(),
            written: Some(Vec::new()),
        })
    }

    /// Chains by reading the entries back from the journal, as a batch past
    /// [`CHAIN_IN_MEMORY`] entries does, however small this one is (for the tests).
    pub fn reading_back(mut self) -> Bulk {
        self.written = None;
        self
    }

    /// Entries written so far.
    pub fn count(&self) -> u64 {
        self.entries
    }

    /// Writes a chunk of entries and returns their ids, in order. Keep chunks to a few
    /// thousand entries: each chunk is a handful of statements with one JSON parameter each.
    pub async fn add(
        &mut self,
        tx: &mut Tx,
        entries: &[NewEntry],
    ) -> Result<Vec<i64>, LedgerError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let backend = tx.backend();
        let n = entries.len() as i64;
        // Entry ids, reserved up front so that the postings can name them.
        let ids: Vec<i64> = match backend {
            Backend::Postgres => {
                // One text value rather than one row per id.
                let ids: String = sqlx::query(
                    "SELECT CAST(array_agg(nextval('journal_entries_id_seq')) AS TEXT) AS ids \
                     FROM generate_series(1, $1)",
                )
                .bind(n)
                .fetch_one(&mut **tx)
                .await?
                .try_get("ids")?;
                ids.trim_matches(|c| c == '{' || c == '}')
                    .split(',')
                    .map(|v| {
                        v.parse::<i64>()
                            .map_err(|_| StoreError::Corrupt(format!("entry id {v}")))
                    })
                    .collect::<Result<_, _>>()?
            }
            Backend::Sqlite => {
                let max: i64 = sqlx::query("SELECT COALESCE(MAX(id), 0) AS m FROM journal_entries")
                    .fetch_one(&mut **tx)
                    .await?
                    .try_get("m")?;
                (max + 1..=max + n).collect()
            }
        };
        let lowest = ids.iter().copied().min().unwrap_or_default();
        self.first_id = Some(self.first_id.map_or(lowest, |f| f.min(lowest)));

        // Rows as tuples, serialised straight to JSON text (no intermediate value tree).
        #[allow(clippy::type_complexity)]
        let mut entry_rows: Vec<(
            i64,
            &str,
            &str,
            String,
            &str,
            Option<&str>,
            Option<i64>,
            String,
        )> = Vec::with_capacity(entries.len());
        let mut posting_rows: Vec<(i64, usize, String, i64, i64)> = Vec::new();
        let mut movements: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for (entry, id) in entries.iter().zip(&ids) {
            let date = entry.date().format("%Y-%m-%d").to_string();
            let lines: Vec<(String, i64, i64)> = entry
                .postings()
                .iter()
                .map(|p| (p.account.to_string(), p.debit.cents(), p.credit.cents()))
                .collect();
            let content_hash = EntryContent {
                fund_id: &self.fund_id,
                journal: entry.journal().code(),
                kind: entry.kind(),
                entry_date: &date,
                label: entry.label(),
                reference: entry.reference(),
                reverses: entry.reverses(),
                created_at: self.created_at,
                postings: &lines,
            }
            .hash();
            if let Some(written) = &mut self.written {
                written.push((*id, content_hash.clone()));
            }
            for (line, (account, debit, credit)) in lines.into_iter().enumerate() {
                posting_rows.push((*id, line + 1, account, debit, credit));
            }
            for p in entry.postings() {
                let m = movements.entry(p.account.as_str()).or_default();
                m.0 += p.debit.cents();
                m.1 += p.credit.cents();
            }
            entry_rows.push((
                *id,
                entry.journal().code(),
                entry.kind(),
                date,
                entry.label(),
                entry.reference(),
                entry.reverses(),
                content_hash,
            ));
        }

        use super::{json_col as c, json_rows};
        let b = backend;
        // Member and shop accounts first (general accounts wait for `finish`). An account
        // that does not exist shows as a missing row before anything else is written (a
        // failed statement would abort a PostgreSQL transaction before it could be named).
        let mut auxiliary: Vec<(String, i64, i64)> = Vec::with_capacity(movements.len());
        for (code, (d, k)) in &movements {
            if code.contains('.') {
                auxiliary.push((code.to_string(), *d, *k));
            } else {
                let g = self.general.entry(code.to_string()).or_default();
                g.0 += d;
                g.1 += k;
            }
        }
        self.apply_movements(tx, &auxiliary).await?;
        sqlx::query(&format!(
            "INSERT INTO journal_entries (id, fund_id, journal, kind, entry_date, label, reference, \
             reverses_id, created_at, content_hash, batch_chained) \
             SELECT {}, $2, {}, {}, {}, {}, {}, {}, $3, {}, TRUE FROM {}",
            c(b, 0, "BIGINT"),
            c(b, 1, "TEXT"),
            c(b, 2, "TEXT"),
            c(b, 3, "TEXT"),
            c(b, 4, "TEXT"),
            c(b, 5, "TEXT"),
            c(b, 6, "BIGINT"),
            c(b, 7, "TEXT"),
            json_rows(b, 1)
        ))
        .bind(serde_json::to_string(&entry_rows).map_err(StoreError::from_json)?)
        .bind(&self.fund_id)
        .bind(self.created_at)
        .execute(&mut **tx)
        .await?;
        sqlx::query(&format!(
            "INSERT INTO postings (entry_id, line, fund_id, account, debit, credit) \
             SELECT {}, {}, $2, {}, {}, {} FROM {}",
            c(b, 0, "BIGINT"),
            c(b, 1, "BIGINT"),
            c(b, 2, "TEXT"),
            c(b, 3, "BIGINT"),
            c(b, 4, "BIGINT"),
            json_rows(b, 1)
        ))
        .bind(serde_json::to_string(&posting_rows).map_err(StoreError::from_json)?)
        .bind(&self.fund_id)
        .execute(&mut **tx)
        .await?;

        self.entries += entries.len() as u64;
        if self
            .written
            .as_ref()
            .is_some_and(|w| w.len() > CHAIN_IN_MEMORY)
        {
            self.written = None;
        }
        Ok(ids)
    }

    /// Moves the cached totals of these accounts, one set-based statement; each account
    /// must appear once. The CHECK constraints refuse a negative allowance balance.
    async fn apply_movements(
        &self,
        tx: &mut Tx,
        movements: &[(String, i64, i64)],
    ) -> Result<(), LedgerError> {
        use super::{json_col as c, json_rows};
        if movements.is_empty() {
            return Ok(());
        }
        let b = tx.backend();
        let movement_json = serde_json::to_string(movements).map_err(StoreError::from_json)?;
        let updated = match b {
            Backend::Postgres => {
                sqlx::query(&format!(
                    "WITH m AS MATERIALIZED (SELECT {} AS code, {} AS d, {} AS k FROM {}) \
                 UPDATE accounts SET debit_total = debit_total + m.d, \
                 credit_total = credit_total + m.k, \
                 balance = balance + CASE normal_side WHEN 'debit' THEN m.d - m.k \
                 ELSE m.k - m.d END \
                 FROM m WHERE accounts.fund_id = $2 AND accounts.code = m.code",
                    c(b, 0, "TEXT"),
                    c(b, 1, "BIGINT"),
                    c(b, 2, "BIGINT"),
                    json_rows(b, 1)
                ))
                .bind(&movement_json)
                .bind(&self.fund_id)
                .execute(&mut **tx)
                .await
            }
            Backend::Sqlite => {
                // Without statistics SQLite guesses that `fund_id = ?` matches ten accounts and
                // would walk every account of the fund for each chunk. A keyed temporary table
                // makes the plan one index lookup per moved account.
                sqlx::query(
                    "CREATE TEMP TABLE IF NOT EXISTS bulk_moves \
                     (code TEXT PRIMARY KEY, d BIGINT NOT NULL, k BIGINT NOT NULL)",
                )
                .execute(&mut **tx)
                .await?;
                sqlx::query("DELETE FROM temp.bulk_moves")
                    .execute(&mut **tx)
                    .await?;
                sqlx::query(&format!(
                    "INSERT INTO temp.bulk_moves (code, d, k) SELECT {}, {}, {} FROM {}",
                    c(b, 0, "TEXT"),
                    c(b, 1, "BIGINT"),
                    c(b, 2, "BIGINT"),
                    json_rows(b, 1)
                ))
                .bind(&movement_json)
                .execute(&mut **tx)
                .await?;
                sqlx::query(
                    "UPDATE accounts SET \
                     debit_total = debit_total + \
                       (SELECT d FROM temp.bulk_moves m WHERE m.code = accounts.code), \
                     credit_total = credit_total + \
                       (SELECT k FROM temp.bulk_moves m WHERE m.code = accounts.code), \
                     balance = balance + (SELECT CASE accounts.normal_side WHEN 'debit' \
                       THEN d - k ELSE k - d END FROM temp.bulk_moves m \
                       WHERE m.code = accounts.code) \
                     WHERE fund_id = $1 AND code IN (SELECT code FROM temp.bulk_moves)",
                )
                .bind(&self.fund_id)
                .execute(&mut **tx)
                .await
            }
        }
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_check_violation() => LedgerError::Store(
                StoreError::Corrupt("a bulk entry would leave a balance below zero".into()),
            ),
            _ => LedgerError::from(e),
        })?;
        if updated.rows_affected() != movements.len() as u64 {
            let codes = movements.iter().map(|m| m.0.clone()).collect();
            return Err(LedgerError::UnknownAccount(
                self.first_missing_account(tx, codes).await?,
            ));
        }
        Ok(())
    }

    async fn first_missing_account(
        &self,
        tx: &mut Tx,
        codes: Vec<String>,
    ) -> Result<AccountCode, LedgerError> {
        for code in codes {
            let found =
                sqlx::query("SELECT 1 AS one FROM accounts WHERE fund_id = $1 AND code = $2")
                    .bind(&self.fund_id)
                    .bind(&code)
                    .fetch_optional(&mut **tx)
                    .await?;
            if found.is_none() {
                return AccountCode::parse(&code).ok_or_else(|| {
                    StoreError::Corrupt(format!("posting to malformed account {code}")).into()
                });
            }
        }
        Err(StoreError::Corrupt("bulk account update missed a row".into()).into())
    }

    /// Chains the batch's entries under the journal head, in id order, page by page, from the
    /// hashes kept by `add` (or read back from the journal for a batch too large to keep
    /// them). Call it last, right before committing: the head stays locked until the commit.
    pub async fn finish(mut self, tx: &mut Tx) -> Result<u64, LedgerError> {
        let Some(first_id) = self.first_id else {
            return Ok(0);
        };
        let general: Vec<(String, i64, i64)> = self
            .general
            .iter()
            .map(|(code, (d, k))| (code.clone(), *d, *k))
            .collect();
        self.apply_movements(tx, &general).await?;
        let lock = tx.for_update();
        let head = sqlx::query(&format!(
            "SELECT seq, last_hash FROM ledger_heads WHERE fund_id = $1{lock}"
        ))
        .bind(&self.fund_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(LedgerError::NoJournalHead)?;
        let mut seq: i64 = head.try_get("seq")?;
        let mut last_hash: String = head.try_get("last_hash")?;
        if let Some(mut written) = self.written.take() {
            written.sort_unstable_by_key(|(id, _)| *id);
            for page in written.chunks(CHAIN_PAGE as usize) {
                let rows = page
                    .iter()
                    .map(|(id, content)| {
                        seq += 1;
                        last_hash = chain_hash(&last_hash, content);
                        (seq, *id, last_hash.clone())
                    })
                    .collect::<Vec<_>>();
                self.insert_chain(tx, &rows).await?;
            }
        } else {
            let mut after = first_id - 1;
            loop {
                // Batch entries of other transactions are either invisible or already chained.
                let page = sqlx::query(
                    "SELECT e.id, e.content_hash FROM journal_entries e \
                     WHERE e.id > $2 AND e.fund_id = $1 AND e.batch_chained AND NOT EXISTS \
                     (SELECT 1 FROM journal_chain c WHERE c.entry_id = e.id) \
                     ORDER BY e.id LIMIT $3",
                )
                .bind(&self.fund_id)
                .bind(after)
                .bind(CHAIN_PAGE)
                .fetch_all(&mut **tx)
                .await?;
                if page.is_empty() {
                    break;
                }
                let mut rows = Vec::with_capacity(page.len());
                for r in &page {
                    let id: i64 = r.try_get("id")?;
                    let content: String = r.try_get("content_hash")?;
                    seq += 1;
                    last_hash = chain_hash(&last_hash, &content);
                    rows.push((seq, id, last_hash.clone()));
                    after = id;
                }
                self.insert_chain(tx, &rows).await?;
            }
        }
        sqlx::query("UPDATE ledger_heads SET seq = $2, last_hash = $3 WHERE fund_id = $1")
            .bind(&self.fund_id)
            .bind(seq)
            .bind(&last_hash)
            .execute(&mut **tx)
            .await?;
        Ok(self.entries)
    }

    /// Writes chain rows: (entry number, entry id, chain hash).
    async fn insert_chain(
        &self,
        tx: &mut Tx,
        rows: &[(i64, i64, String)],
    ) -> Result<(), LedgerError> {
        use super::{json_col as c, json_rows};
        let b = tx.backend();
        sqlx::query(&format!(
            "INSERT INTO journal_chain (fund_id, seq, entry_id, chain_hash) \
             SELECT $2, {}, {}, {} FROM {}",
            c(b, 0, "BIGINT"),
            c(b, 1, "BIGINT"),
            c(b, 2, "TEXT"),
            json_rows(b, 1)
        ))
        .bind(serde_json::to_string(rows).map_err(StoreError::from_json)?)
        .bind(&self.fund_id)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}
