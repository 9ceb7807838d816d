//! The database: one module per aggregate, one set of SQL for both backends.
//!
//! Queries go through sqlx's `Any` driver with `$N` placeholders, which SQLite and PostgreSQL
//! both read. Where the dialects differ a module matches on [`Backend`]. Instants are stored
//! as microseconds, money as cents, both `BIGINT`; `SUM` results are cast back to `BIGINT`
//! because PostgreSQL widens them to `NUMERIC`.

pub mod allowances;
pub mod bank;
pub mod batches;
pub mod cards;
pub mod contributions;
pub mod corrections;
pub mod cursors;
pub mod dashboard;
pub mod exports;
pub mod funds;
pub mod idempotency;
pub mod ledger;
pub mod login_links;
pub mod members;
pub mod redemptions;
pub mod reports;
pub mod settlements;
pub mod shops;
pub mod terminals;
pub mod users;
pub mod web_sessions;

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyConnection, AnyPool, Executor, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

mod group;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("already exists: {0}")]
    Conflict(&'static str),
    #[error("not found")]
    NotFound,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn from_json(e: serde_json::Error) -> StoreError {
        StoreError::Corrupt(format!("cannot encode bulk rows: {e}"))
    }

    /// Turns a UNIQUE violation into a conflict that the API answers with 409.
    pub fn on_unique(e: sqlx::Error, what: &'static str) -> StoreError {
        match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(what),
            _ => StoreError::Db(e),
        }
    }
}

/// The connection pool and how to open write transactions on it.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// SQLite has one writer at a time: writers in this process queue here rather than spin on
    /// the busy handler. Other processes (the CLI beside a server) still meet `busy_timeout`.
    sqlite_writer: Arc<Mutex<()>>,
    /// SQLite: the queue of the group-commit writer behind [`Db::write`].
    group: Option<group::Group>,
}

/// A write transaction. On SQLite it holds the process's writer slot and began with
/// `BEGIN IMMEDIATE`, so it cannot fail later on a read-to-write upgrade. Dropped without
/// `commit`, it rolls back.
pub struct Tx {
    tx: Transaction<'static, Any>,
    backend: Backend,
    _writer: Option<OwnedMutexGuard<()>>,
}

impl Deref for Tx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

impl Tx {
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// `" FOR UPDATE"` to lock the rows a SELECT reads until the end of the transaction on
    /// PostgreSQL; nothing on SQLite, whose writer already holds the whole database.
    pub fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        }
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl Db {
    /// Opens the database named by `url` (`sqlite://PATH` or `postgres://...`), creating a
    /// SQLite file and its folder when missing.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!("unsupported database URL (use sqlite://PATH or postgres://...)");
        };
        let url = match backend {
            Backend::Sqlite => sqlite_url(url)?,
            Backend::Postgres => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the writer; synchronous=FULL makes every
                        // acknowledged commit survive a power cut. A 32 MiB page cache and
                        // memory-mapped reads keep a fund of 100,000 members in memory (the
                        // default 2 MiB cache thrashes on the monthly batches).
                        let pragmas = format!(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                             PRAGMA cache_size = {SQLITE_CACHE_KIB}; \
                             PRAGMA mmap_size = {SQLITE_MMAP_BYTES}; \
                             PRAGMA temp_store = MEMORY;"
                        );
                        conn.execute(pragmas.as_str()).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let mut db = Db {
            pool,
            backend,
            sqlite_writer: Arc::new(Mutex::new(())),
            group: None,
        };
        if backend == Backend::Sqlite {
            db.group = Some(group::spawn(db.clone()));
        }
        Ok(db)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&self.pool).await,
            Backend::Postgres => sqlx::migrate!("migrations/postgres").run(&self.pool).await,
        }
    }

    /// Begins a write transaction (see [`Tx`]).
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => {
                let guard = self.sqlite_writer.clone().lock_owned().await;
                let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
                Ok(Tx {
                    tx,
                    backend: Backend::Sqlite,
                    _writer: Some(guard),
                })
            }
            Backend::Postgres => Ok(Tx {
                tx: self.pool.begin().await?,
                backend: Backend::Postgres,
                _writer: None,
            }),
        }
    }

    /// Runs `work` in a write transaction and commits it when `work` succeeds; an error rolls
    /// everything it did back. The answer is returned only once the work is durable.
    ///
    /// On PostgreSQL this is an ordinary transaction. On SQLite, where every commit waits for
    /// an fsync of the WAL, concurrent callers share one: a single writer task runs each piece
    /// of work in a SAVEPOINT of one `BEGIN IMMEDIATE` transaction (released on success, rolled
    /// back to on error, so one caller's failure never touches another's work) and commits
    /// them all with a single fsync (group commit). `work` must not open another write
    /// transaction on this `Db`: the writer holds the database while it runs.
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<sqlx::Error> + Send + 'static,
        F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Result<T, E>> + Send + 'static,
    {
        match &self.group {
            None => {
                let mut tx = self.begin().await?;
                let value = work(&mut tx).await?;
                tx.commit().await?;
                Ok(value)
            }
            Some(group) => group::submit(&group.queue, work).await,
        }
    }

    /// SQLite's group commit so far: `(commits, pieces of work committed)`; `None` on
    /// PostgreSQL.
    pub fn group_commit_stats(&self) -> Option<(u64, u64)> {
        self.group.as_ref().map(|g| g.stats.read())
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// SQLite's memory map (`PRAGMA mmap_size`) on every pooled connection: 256 MiB.
const SQLITE_MMAP_BYTES: i64 = 268_435_456;
/// And its page cache: 32 MiB (negative: in KiB).
const SQLITE_CACHE_KIB: i64 = -32_768;

/// A pooled connection for a query that reads a large part of the journal (exports, reports).
/// On SQLite its memory map is turned off and its page cache cut to 4 MiB until
/// [`end_scan`]: pages read through the map stay mapped and count in the server's resident
/// memory, so a scan of a large journal would otherwise grow the process by up to the map's
/// 256 MiB, and each connection's 32 MiB cache would fill with pages a sequential scan never
/// reads twice. Memory then stays flat whatever the size of the journal.
pub async fn begin_scan(db: &Db) -> Result<sqlx::pool::PoolConnection<Any>, sqlx::Error> {
    let mut conn = db.pool.acquire().await?;
    if db.backend == Backend::Sqlite {
        conn.execute("PRAGMA mmap_size = 0; PRAGMA cache_size = -4096")
            .await?;
    }
    Ok(conn)
}

/// Gives the connection its memory map and cache back before it returns to the pool.
pub async fn end_scan(db: &Db, mut conn: sqlx::pool::PoolConnection<Any>) {
    if db.backend == Backend::Sqlite {
        let sql = format!(
            "PRAGMA mmap_size = {SQLITE_MMAP_BYTES}; PRAGMA cache_size = {SQLITE_CACHE_KIB}"
        );
        if conn.execute(sql.as_str()).await.is_err() {
            // Closed rather than returned without its map.
            let _ = conn.close().await;
        }
    }
}

/// Bulk rows travel as one JSON parameter (an array of arrays) and are expanded by the server:
/// sqlx's `Any` driver has no array binds, and one statement per row is too slow for a fund's
/// monthly batches. `json_rows(backend, n)` is the `FROM` source over parameter `$n`, and
/// `json_col(backend, i, ty)` the i-th column of a row cast to `ty`.
pub fn json_rows(backend: Backend, param: usize) -> String {
    match backend {
        Backend::Postgres => format!("jsonb_array_elements(CAST(${param} AS jsonb)) AS r"),
        Backend::Sqlite => format!("json_each(${param}) AS r"),
    }
}

pub fn json_col(backend: Backend, index: usize, ty: &str) -> String {
    match backend {
        Backend::Postgres => format!("CAST(r.value->>{index} AS {ty})"),
        Backend::Sqlite => format!("CAST(json_extract(r.value, '$[{index}]') AS {ty})"),
    }
}

/// `sqlite://data/caisse.db` → the same URL with `mode=rwc`, after creating `data/`.
fn sqlite_url(url: &str) -> anyhow::Result<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or_default();
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" {
        anyhow::bail!("an in-memory SQLite database cannot be shared by the pool: give a file");
    }
    if let Some(parent) = Path::new(path).parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent)?;
        }
    }
    // The database holds members' personal data and password hashes: a new one is readable
    // by its owner only (SQLite gives its -wal and -shm files the database file's mode). An
    // existing file keeps the mode its deployer chose.
    #[cfg(unix)]
    if !Path::new(path).exists() {
        use std::os::unix::fs::OpenOptionsExt;
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mode = if query.contains("mode=") {
        String::new()
    } else {
        "mode=rwc".to_string()
    };
    let query = [query, mode.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("&");
    Ok(format!("sqlite://{path}?{query}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn sqlite_urls() {
        let dir = std::env::temp_dir().join(format!("caisse-url-{}", std::process::id()));
        let url = format!("sqlite://{}/x.db", dir.display());
        assert_eq!(
            super::sqlite_url(&url).unwrap(),
            format!("sqlite://{}/x.db?mode=rwc", dir.display())
        );
        assert!(dir.exists());
        assert!(super::sqlite_url("sqlite::memory:").is_err());
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_new_sqlite_database_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("caisse-mode-{}", std::process::id()));
        let path = dir.join("private.db");
        let db = super::Db::connect(&format!("sqlite://{}", path.display()), 2)
            .await
            .unwrap();
        db.migrate().await.unwrap();
        for file in ["private.db", "private.db-wal", "private.db-shm"] {
            let mode = std::fs::metadata(dir.join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
        db.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
