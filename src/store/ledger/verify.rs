//! `caisse ledger verify`: streams the journal and the accounts through the pure checks of
//! `domain::ledger::verify`, and adds those that need the database (rows pointing nowhere, the
//! tables that mirror the ledger).

use futures_util::TryStreamExt;
use sqlx::Row;

use crate::domain::ledger::verify::{AccountCheck, CachedAccount, ChainWalk, StoredEntry};
use crate::domain::ledger::Side;
use crate::store::{Backend, Db, StoreError};

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
    let mut walk = ChainWalk::new(fund_id);
    let mut accounts = AccountCheck::default();
    walk_journal(db, fund_id, &mut report, &mut walk, &mut accounts).await?;
    report.entries = walk.entries();
    report.problems.extend(pointing_nowhere(db, fund_id).await?);

    let head = sqlx::query("SELECT seq, last_hash FROM ledger_heads WHERE fund_id = $1")
        .bind(fund_id)
        .fetch_optional(db.pool())
        .await?;
    let head = match head {
        Some(h) => Some((
            h.try_get::<i64, _>("seq")?,
            h.try_get::<String, _>("last_hash")?,
        )),
        None => None,
    };
    report
        .problems
        .extend(walk.head_problem(head.as_ref().map(|(s, l)| (*s, l.as_str()))));

    check_accounts(db, fund_id, &mut report, &mut accounts).await?;
    report.problems.extend(accounts.finish());
    // The tables that mirror the ledger agree with it (sales, refunds, dues, payouts...).
    report
        .problems
        .extend(crate::store::corrections::mirror_problems(db, fund_id).await?);
    Ok(report)
}

/// Streams the journal in chain order, one row per posting, through the chain checks; the
/// postings also feed the recomputed account totals.
async fn walk_journal(
    db: &Db,
    fund_id: &str,
    report: &mut VerifyReport,
    walk: &mut ChainWalk<'_>,
    accounts: &mut AccountCheck,
) -> Result<(), StoreError> {
    let mut rows = sqlx::query(
        "SELECT c.seq, c.chain_hash, e.id, e.fund_id, e.journal, e.kind, e.entry_date, e.label, \
         e.reference, e.reverses_id, e.created_at, e.content_hash, p.account, p.debit, p.credit \
         FROM journal_chain c JOIN journal_entries e ON e.id = c.entry_id \
         LEFT JOIN postings p ON p.entry_id = e.id \
         WHERE c.fund_id = $1 ORDER BY c.seq, p.line",
    )
    .bind(fund_id)
    .fetch(db.pool());
    let mut current: Option<StoredEntry> = None;
    while let Some(r) = rows.try_next().await? {
        let seq: i64 = r.try_get("seq")?;
        if current.as_ref().is_none_or(|c| c.seq != seq) {
            if let Some(c) = current.take() {
                report.problems.extend(walk.check(c));
            }
            current = Some(StoredEntry {
                seq,
                id: r.try_get("id")?,
                fund_id: r.try_get("fund_id")?,
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
            accounts.posting(&account, debit, credit);
            report.postings += 1;
            if let Some(c) = current.as_mut() {
                c.lines.push((account, debit, credit));
            }
        }
    }
    drop(rows);
    if let Some(c) = current.take() {
        report.problems.extend(walk.check(c));
    }
    Ok(())
}

/// Postings and chain rows that point nowhere (these tables carry no foreign keys), and
/// committed entries missing from the chain.
async fn pointing_nowhere(db: &Db, fund_id: &str) -> Result<Vec<String>, StoreError> {
    let mut problems = Vec::new();
    let orphans: i64 = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM postings p WHERE p.fund_id = $1 AND NOT EXISTS \
         (SELECT 1 FROM journal_entries e WHERE e.id = p.entry_id AND e.fund_id = $1)",
    )
    .bind(fund_id)
    .fetch_one(db.pool())
    .await?
    .try_get("n")?;
    if orphans > 0 {
        problems.push(format!("{orphans} postings belong to no entry of the fund"));
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
        problems.push(format!(
            "chain number {seq} points to an entry that does not exist"
        ));
    }
    let unchained = sqlx::query(
        "SELECT e.id FROM journal_entries e WHERE e.fund_id = $1 AND NOT EXISTS \
         (SELECT 1 FROM journal_chain c WHERE c.entry_id = e.id) ORDER BY e.id LIMIT 20",
    )
    .bind(fund_id)
    .fetch_all(db.pool())
    .await?;
    for r in unchained {
        let id: i64 = r.try_get("id")?;
        problems.push(format!("entry id {id} is not in the hash chain"));
    }
    Ok(problems)
}

/// Streams the accounts through the comparison of cached and recomputed totals.
async fn check_accounts(
    db: &Db,
    fund_id: &str,
    report: &mut VerifyReport,
    check: &mut AccountCheck,
) -> Result<(), StoreError> {
    let mut accounts = sqlx::query(
        "SELECT code, normal_side, may_go_negative, debit_total, credit_total, balance \
         FROM accounts WHERE fund_id = $1 ORDER BY code",
    )
    .bind(fund_id)
    .fetch(db.pool());
    while let Some(r) = accounts.try_next().await? {
        report.accounts += 1;
        let code: String = r.try_get("code")?;
        let side: String = r.try_get("normal_side")?;
        let account = CachedAccount {
            code: &code,
            side: if side == Side::Debit.as_str() {
                Side::Debit
            } else {
                Side::Credit
            },
            may_go_negative: r.try_get::<i64, _>("may_go_negative")? != 0,
            debit_total: r.try_get("debit_total")?,
            credit_total: r.try_get("credit_total")?,
            balance: r.try_get("balance")?,
        };
        report.problems.extend(check.account(&account));
    }
    Ok(())
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
