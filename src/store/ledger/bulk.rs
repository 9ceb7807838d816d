//! Writing many entries in one transaction, a chunk at a time, for the monthly batches.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{Hashed, LedgerError};
use crate::domain::ledger::{chain_hash, AccountCode, NewEntry};
use crate::domain::now_micros;
use crate::store::{json_col as c, json_rows, Backend, StoreError, Tx};

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

/// A journal entry row: id, journal, kind, date, label, reference, reverses, content hash.
type EntryRow<'e> = (
    i64,
    &'e str,
    &'e str,
    String,
    &'e str,
    Option<&'e str>,
    Option<i64>,
    String,
);

/// A chunk's rows as tuples, serialised straight to JSON text (no intermediate value tree).
struct ChunkRows<'e> {
    entries: Vec<EntryRow<'e>>,
    /// (entry id, line, account, debit, credit).
    postings: Vec<(i64, usize, String, i64, i64)>,
    /// Each account's (debit, credit) over the chunk.
    movements: BTreeMap<&'e str, (i64, i64)>,
}

/// The fund's journal head while a batch is chained under it.
struct Head {
    seq: i64,
    last_hash: String,
}

impl Head {
    /// Gives the entry the next number and chains its content hash: a chain row (entry
    /// number, entry id, chain hash).
    fn chain(&mut self, id: i64, content_hash: &str) -> (i64, i64, String) {
        self.seq += 1;
        self.last_hash = chain_hash(&self.last_hash, content_hash);
        (self.seq, id, self.last_hash.clone())
    }
}

/// Entry ids reserved up front, so that the postings can name them.
async fn reserve_ids(tx: &mut Tx, n: i64) -> Result<Vec<i64>, LedgerError> {
    match tx.backend() {
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
            Ok(ids
                .trim_matches(|c| c == '{' || c == '}')
                .split(',')
                .map(|v| {
                    v.parse::<i64>()
                        .map_err(|_| StoreError::Corrupt(format!("entry id {v}")))
                })
                .collect::<Result<_, _>>()?)
        }
        Backend::Sqlite => {
            let max: i64 = sqlx::query("SELECT COALESCE(MAX(id), 0) AS m FROM journal_entries")
                .fetch_one(&mut **tx)
                .await?
                .try_get("m")?;
            Ok((max + 1..=max + n).collect())
        }
    }
}

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
        let ids = reserve_ids(tx, entries.len() as i64).await?;
        let lowest = ids.iter().copied().min().unwrap_or_default();
        self.first_id = Some(self.first_id.map_or(lowest, |f| f.min(lowest)));
        let rows = self.rows(entries, &ids);

        // Member and shop accounts first (general accounts wait for `finish`). An account
        // that does not exist shows as a missing row before anything else is written (a
        // failed statement would abort a PostgreSQL transaction before it could be named).
        let mut auxiliary: Vec<(String, i64, i64)> = Vec::with_capacity(rows.movements.len());
        for (code, (d, k)) in &rows.movements {
            if code.contains('.') {
                auxiliary.push((code.to_string(), *d, *k));
            } else {
                let g = self.general.entry(code.to_string()).or_default();
                g.0 += d;
                g.1 += k;
            }
        }
        self.apply_movements(tx, &auxiliary).await?;
        self.insert_rows(tx, &rows).await?;

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

    /// The chunk's rows, and each account's movement; keeps the hashes for `finish`.
    fn rows<'e>(&mut self, entries: &'e [NewEntry], ids: &[i64]) -> ChunkRows<'e> {
        let mut rows = ChunkRows {
            entries: Vec::with_capacity(entries.len()),
            postings: Vec::new(),
            movements: BTreeMap::new(),
        };
        for (entry, id) in entries.iter().zip(ids) {
            let Hashed {
                date,
                lines,
                content_hash,
            } = Hashed::of(&self.fund_id, entry, self.created_at);
            if let Some(written) = &mut self.written {
                written.push((*id, content_hash.clone()));
            }
            for (line, (account, debit, credit)) in lines.into_iter().enumerate() {
                rows.postings.push((*id, line + 1, account, debit, credit));
            }
            for p in entry.postings() {
                let m = rows.movements.entry(p.account.as_str()).or_default();
                m.0 += p.debit.cents();
                m.1 += p.credit.cents();
            }
            rows.entries.push((
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
        rows
    }

    /// Inserts the chunk's entries (marked `batch_chained`) and postings.
    async fn insert_rows(&self, tx: &mut Tx, rows: &ChunkRows<'_>) -> Result<(), LedgerError> {
        let b = tx.backend();
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
        .bind(serde_json::to_string(&rows.entries).map_err(StoreError::from_json)?)
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
        .bind(serde_json::to_string(&rows.postings).map_err(StoreError::from_json)?)
        .bind(&self.fund_id)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Moves the cached totals of these accounts, one set-based statement; each account
    /// must appear once. The CHECK constraints refuse a negative allowance balance.
    async fn apply_movements(
        &self,
        tx: &mut Tx,
        movements: &[(String, i64, i64)],
    ) -> Result<(), LedgerError> {
        if movements.is_empty() {
            return Ok(());
        }
        let movement_json = serde_json::to_string(movements).map_err(StoreError::from_json)?;
        let updated = match tx.backend() {
            Backend::Postgres => move_accounts_postgres(tx, &self.fund_id, &movement_json).await,
            Backend::Sqlite => move_accounts_sqlite(tx, &self.fund_id, &movement_json).await,
        }
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_check_violation() => LedgerError::Store(
                StoreError::Corrupt("a bulk entry would leave a balance below zero".into()),
            ),
            _ => LedgerError::from(e),
        })?;
        if updated != movements.len() as u64 {
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
        let mut head = Head {
            seq: head.try_get("seq")?,
            last_hash: head.try_get("last_hash")?,
        };
        if let Some(mut written) = self.written.take() {
            written.sort_unstable_by_key(|(id, _)| *id);
            for page in written.chunks(CHAIN_PAGE as usize) {
                let rows = page
                    .iter()
                    .map(|(id, content)| head.chain(*id, content))
                    .collect::<Vec<_>>();
                self.insert_chain(tx, &rows).await?;
            }
        } else {
            self.chain_read_back(tx, first_id, &mut head).await?;
        }
        sqlx::query("UPDATE ledger_heads SET seq = $2, last_hash = $3 WHERE fund_id = $1")
            .bind(&self.fund_id)
            .bind(head.seq)
            .bind(&head.last_hash)
            .execute(&mut **tx)
            .await?;
        Ok(self.entries)
    }

    /// Chains the batch's entries from `first_id` on, read back from the journal page by page
    /// (a batch too large to keep its hashes).
    async fn chain_read_back(
        &self,
        tx: &mut Tx,
        first_id: i64,
        head: &mut Head,
    ) -> Result<(), LedgerError> {
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
                return Ok(());
            }
            let mut rows = Vec::with_capacity(page.len());
            for r in &page {
                let id: i64 = r.try_get("id")?;
                let content: String = r.try_get("content_hash")?;
                rows.push(head.chain(id, &content));
                after = id;
            }
            self.insert_chain(tx, &rows).await?;
        }
    }

    /// Writes chain rows: (entry number, entry id, chain hash).
    async fn insert_chain(
        &self,
        tx: &mut Tx,
        rows: &[(i64, i64, String)],
    ) -> Result<(), LedgerError> {
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

/// PostgreSQL: one `UPDATE ... FROM` the movements (JSON rows `[code, debit, credit]`);
/// answers the rows updated.
async fn move_accounts_postgres(
    tx: &mut Tx,
    fund_id: &str,
    movement_json: &str,
) -> Result<u64, sqlx::Error> {
    let b = Backend::Postgres;
    let done = sqlx::query(&format!(
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
    .bind(movement_json)
    .bind(fund_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

/// SQLite: the same through a keyed temporary table. Without statistics SQLite guesses that
/// `fund_id = ?` matches ten accounts and would walk every account of the fund for each
/// chunk; the temporary table makes the plan one index lookup per moved account.
async fn move_accounts_sqlite(
    tx: &mut Tx,
    fund_id: &str,
    movement_json: &str,
) -> Result<u64, sqlx::Error> {
    let b = Backend::Sqlite;
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
    .bind(movement_json)
    .execute(&mut **tx)
    .await?;
    let done = sqlx::query(
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
    .bind(fund_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}
