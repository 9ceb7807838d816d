//! `caisse backup FILE`: a consistent copy of the live database, readable by its owner only,
//! checked by `ledger verify` before it is called good.
//!
//! The database holds members' personal data and password hashes: the file is created with
//! mode 0600 *before* anything is written into it, and an existing file is never overwritten
//! (a typo must not destroy yesterday's backup).
//!
//! - SQLite: `VACUUM INTO` copies one read snapshot while the server keeps writing (WAL mode
//!   lets it run beside the writer); the copy is then opened and verified.
//! - PostgreSQL: `pg_dump -Fc` (one repeatable-read snapshot) writes into the 0600 file; the
//!   copy is verified by restoring it into a scratch database on the same server, when the role
//!   may create one, and dropping it afterwards.

use std::fs::File;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use anyhow::{bail, Context};

use crate::config::{redact_url, Config};
use crate::store::{funds, ledger, Backend, Db};

pub async fn run(config: &Config, file: &Path) -> anyhow::Result<ExitCode> {
    // Opening a SQLite file that is not there would create an empty database to back up.
    let url = &config.database_url;
    if let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let source = rest.split('?').next().unwrap_or_default();
        if !Path::new(source).is_file() {
            bail!("no database at {source}: nothing to back up");
        }
    }
    let db = Db::connect(&config.database_url, 2)
        .await
        .with_context(|| format!("cannot open {}", redact_url(&config.database_url)))?;
    let result = match db.backend() {
        Backend::Sqlite => sqlite(&db, file).await,
        Backend::Postgres => postgres(&db, &config.database_url, file).await,
    };
    db.close().await;
    result
}

/// Creates `file` empty, mode 0600, refusing one that exists.
fn create_private(file: &Path) -> anyhow::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(file).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!(
                "{} already exists: caisse backup never overwrites a file",
                file.display()
            )
        } else {
            anyhow::anyhow!("cannot create {}: {e}", file.display())
        }
    })
}

async fn sqlite(db: &Db, file: &Path) -> anyhow::Result<ExitCode> {
    let out = create_private(file)?;
    // VACUUM INTO accepts an existing empty file and keeps its mode.
    let path = file.to_str().context("the backup path is not UTF-8")?;
    let copied = sqlx::query("VACUUM INTO $1")
        .bind(path)
        .execute(db.pool())
        .await;
    if let Err(e) = copied {
        drop(out);
        let _ = std::fs::remove_file(file);
        bail!("the copy failed (nothing kept): {e}");
    }
    out.sync_all().context("syncing the backup to disk")?;
    drop(out);
    let copy = Db::connect(&format!("sqlite://{path}"), 1)
        .await
        .context("opening the copy")?;
    let clean = verify_copy(&copy).await;
    copy.close().await;
    finish(file, clean?)
}

async fn verify_copy(copy: &Db) -> anyhow::Result<bool> {
    let Some(fund) = funds::first(copy).await? else {
        bail!("the copy holds no fund");
    };
    let report = ledger::verify(copy, &fund).await?;
    println!(
        "ledger verify on the copy: {} entries, {} postings, {} accounts checked",
        report.entries, report.postings, report.accounts
    );
    for p in &report.problems {
        println!("PROBLEM: {p}");
    }
    Ok(report.is_clean())
}

fn finish(file: &Path, clean: bool) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    if clean {
        println!(
            "backup OK: {} ({bytes} bytes, readable by its owner only)",
            file.display()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "backup FAILED verification: {} is kept for inspection, do not rely on it",
            file.display()
        );
        Ok(ExitCode::FAILURE)
    }
}

/// The URL without its password (which goes to the tools through `PGPASSWORD`, never on a
/// command line that `ps` shows), and the password.
fn split_password(url: &str) -> anyhow::Result<(String, Option<String>)> {
    let mut u = reqwest::Url::parse(url).context("unreadable PostgreSQL URL")?;
    let password = u.password().map(percent_decode);
    let _ = u.set_password(None);
    Ok((u.to_string(), password))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn pg_tool(name: &str, password: &Option<String>) -> Command {
    let mut c = Command::new(name);
    if let Some(p) = password {
        c.env("PGPASSWORD", p);
    }
    c
}

async fn postgres(db: &Db, url: &str, file: &Path) -> anyhow::Result<ExitCode> {
    let (plain, password) = split_password(url)?;
    if Command::new("pg_dump")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        eprintln!(
            "pg_dump is not installed (apt-get install postgresql-client). Run instead:\n  \
             umask 077; pg_dump -Fc --file {} '{}'",
            file.display(),
            redact_url(url)
        );
        return Ok(ExitCode::FAILURE);
    }
    let out = create_private(file)?;
    let dumped = pg_tool("pg_dump", &password)
        .args(["-Fc", "--no-password", "--dbname", &plain])
        .stdout(out.try_clone()?)
        .status()
        .context("running pg_dump")?;
    if !dumped.success() {
        drop(out);
        let _ = std::fs::remove_file(file);
        bail!("pg_dump failed ({dumped}); nothing kept");
    }
    out.sync_all().context("syncing the backup to disk")?;
    drop(out);
    // Verify by restoring into a scratch database, dropped afterwards.
    let scratch = format!(
        "caisse_backup_check_{}",
        crate::domain::new_id("")
            .trim_start_matches('_')
            .to_lowercase()
    );
    if let Err(e) = sqlx::query(&format!("CREATE DATABASE {scratch}"))
        .execute(db.pool())
        .await
    {
        println!(
            "backup written: {} (readable by its owner only), NOT verified: this role cannot \
             create a scratch database ({e}). To verify it: createdb check && pg_restore \
             --no-owner -d check {} && caisse --database-url postgres://.../check ledger verify \
             && dropdb check",
            file.display(),
            file.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let clean = restore_and_verify(&plain, &password, &scratch, file).await;
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {scratch} WITH (FORCE)"))
        .execute(db.pool())
        .await;
    finish(file, clean?)
}

async fn restore_and_verify(
    plain: &str,
    password: &Option<String>,
    scratch: &str,
    file: &Path,
) -> anyhow::Result<bool> {
    let target = crate::bench::with_database(plain, scratch);
    let restored = pg_tool("pg_restore", password)
        .args(["--no-owner", "--no-privileges", "--exit-on-error"])
        .args(["--no-password", "--dbname", &target])
        .arg(file)
        .status()
        .context("running pg_restore")?;
    if !restored.success() {
        println!("PROBLEM: pg_restore could not restore the copy ({restored})");
        return Ok(false);
    }
    let mut with_password = reqwest::Url::parse(&target)?;
    let _ = with_password.set_password(password.as_deref());
    let copy = Db::connect(with_password.as_str(), 1).await?;
    let clean = verify_copy(&copy).await;
    copy.close().await;
    clean
}
