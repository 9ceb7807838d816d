//! `caisse bench ...`: throughput figures measured on a scratch database on the configured
//! backend (a file beside the SQLite one, or a new database on the same PostgreSQL server),
//! removed afterwards.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Subcommand;

use crate::config::{redact_url, Config};
use crate::domain::ledger::{AccountCode, EntryBuilder, General, Journal};
use crate::domain::Cents;
use crate::store::{funds, ledger, Backend, Db};

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Durable ledger transfers per second: debit a member's allowance balance, credit a
    /// shop, one journal entry per transaction, several concurrent writers. On PostgreSQL it
    /// also runs pgbench TPC-B-like on the same server and prints the ratio.
    Ledger {
        /// Concurrent writers.
        #[arg(long, default_value_t = 8)]
        writers: usize,
        /// Seconds to run.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Skip pgbench on PostgreSQL.
        #[arg(long)]
        no_pgbench: bool,
    },
    /// Contribution calls: time to call one period for a fund of N active members (target:
    /// 100,000 in 5 s or less).
    Calls {
        #[arg(long, default_value_t = 100_000)]
        members: usize,
    },
    /// Allowance issuance: time to credit one period to N active members (target: 1,000,000
    /// in 20 s or less), with the process's peak memory before and after.
    Issue {
        #[arg(long, default_value_t = 1_000_000)]
        members: usize,
    },
}

pub async fn run(command: BenchCommand, config: &Config) -> anyhow::Result<()> {
    match command {
        BenchCommand::Ledger {
            writers,
            seconds,
            no_pgbench,
        } => {
            let scratch = Scratch::create(&config.database_url).await?;
            let result = ledger_bench(&scratch, writers, Duration::from_secs(seconds)).await;
            let pg = if scratch.backend == Backend::Postgres && !no_pgbench {
                Some(pgbench(&scratch.url, writers, seconds))
            } else {
                None
            };
            scratch.drop_it().await;
            let r = result?;
            println!(
                "caisse ledger: {:.0} transfers/s ({} in {:.1} s, {} writers, {}), \
                 latency p50 {:.2} ms, p99 {:.2} ms",
                r.per_second,
                r.count,
                r.elapsed.as_secs_f64(),
                writers,
                scratch.backend.name(),
                r.p50_ms,
                r.p99_ms
            );
            if let Some(pg) = pg {
                let tps = pg?;
                println!("pgbench TPC-B-like (-c {writers} -T {seconds}): {tps:.0} tps");
                println!("ratio caisse / pgbench: {:.2}", r.per_second / tps);
            }
            Ok(())
        }
        BenchCommand::Calls { members } => {
            let scratch = Scratch::create(&config.database_url).await?;
            let result = calls_bench(&scratch, members).await;
            scratch.drop_it().await;
            let (load, call) = result?;
            println!(
                "caisse calls: {members} members called in {:.2} s ({:.0} members/s, {}); \
                 loading them took {:.2} s",
                call.as_secs_f64(),
                members as f64 / call.as_secs_f64(),
                scratch.backend.name(),
                load.as_secs_f64()
            );
            Ok(())
        }
        BenchCommand::Issue { members } => {
            let scratch = Scratch::create(&config.database_url).await?;
            let result = issue_bench(&scratch, members).await;
            scratch.drop_it().await;
            result
        }
    }
}

/// Loads `n` members with varied households and incomes, then calls one period.
async fn calls_bench(scratch: &Scratch, n: usize) -> anyhow::Result<(Duration, Duration)> {
    let (db, fund, load) = load_members(scratch, n).await?;
    let started = Instant::now();
    let figures =
        crate::service::contributions::call(&db, &fund, "2026-11".parse().expect("period"))
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.detail))?;
    let call = started.elapsed();
    anyhow::ensure!(
        figures.members_called == n as i64,
        "called {} of {n}",
        figures.members_called
    );
    let report = ledger::verify(&db, &fund).await?;
    anyhow::ensure!(report.is_clean(), "ledger not clean: {:?}", report.problems);
    anyhow::ensure!(
        report.entries as usize == n,
        "{} entries for {n} members",
        report.entries
    );
    db.close().await;
    Ok((load, call))
}

/// The process's peak resident memory so far, in MiB (Linux), from /proc/self/status.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Loads `n` members, then issues one period's allowances.
async fn issue_bench(scratch: &Scratch, n: usize) -> anyhow::Result<()> {
    let (db, fund, load) = load_members(scratch, n).await?;
    let before = peak_rss_mib();
    let started = Instant::now();
    let figures =
        crate::service::allowances::issue(&db, &fund, "2026-11".parse().expect("period"), None)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.detail))?;
    let took = started.elapsed();
    let after = peak_rss_mib();
    anyhow::ensure!(
        figures.members_credited == n as i64,
        "credited {} of {n}",
        figures.members_credited
    );
    println!(
        "caisse issue: {n} members credited in {:.2} s ({:.0} members/s, {}); peak memory \
         {} MiB before, {} MiB after; loading them took {:.2} s",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        scratch.backend.name(),
        before
            .map(|m| format!("{m:.0}"))
            .unwrap_or_else(|| "?".into()),
        after
            .map(|m| format!("{m:.0}"))
            .unwrap_or_else(|| "?".into()),
        load.as_secs_f64()
    );
    let started = Instant::now();
    let report = ledger::verify(&db, &fund).await?;
    anyhow::ensure!(report.is_clean(), "ledger not clean: {:?}", report.problems);
    println!(
        "ledger verify: {} entries, {} postings checked in {:.2} s",
        report.entries,
        report.postings,
        started.elapsed().as_secs_f64()
    );
    db.close().await;
    Ok(())
}

/// A scratch fund of `n` active members with varied households and incomes.
async fn load_members(scratch: &Scratch, n: usize) -> anyhow::Result<(Db, String, Duration)> {
    use crate::domain::household::Household;
    use crate::store::members::{self, NewMember};
    let db = Db::connect(&scratch.url, 4).await?;
    db.migrate().await?;
    let fund = funds::ensure_default(&db).await?;
    let started = Instant::now();
    let mut tx = db.begin().await?;
    for chunk_start in (0..n).step_by(5_000) {
        let chunk: Vec<NewMember> = (chunk_start..(chunk_start + 5_000).min(n))
            .map(|i| NewMember {
                full_name: format!("Adhérent {i}"),
                email: None,
                phone: None,
                household: Household::new(1 + (i % 3) as u32, (i % 4) as u32).expect("household"),
                monthly_income: Some(
                    Cents::from_cents(((i * 7_919) % 400_000) as i64).expect("cents"),
                ),
                chosen_contribution: None,
                joined_on: "2026-01-01".into(),
            })
            .collect();
        members::create_many(&mut tx, &fund, &chunk).await?;
    }
    tx.commit().await?;
    Ok((db, fund, started.elapsed()))
}

pub struct BenchResult {
    pub count: u64,
    pub elapsed: Duration,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// A database made for one benchmark run.
pub struct Scratch {
    pub backend: Backend,
    pub url: String,
    admin_url: Option<String>,
    name: String,
}

impl Scratch {
    pub async fn create(base_url: &str) -> anyhow::Result<Scratch> {
        let name = format!("caisse_bench_{}", std::process::id());
        if base_url.starts_with("sqlite:") {
            let base = base_url
                .trim_start_matches("sqlite://")
                .trim_start_matches("sqlite:");
            let base = base.split('?').next().unwrap_or_default();
            let dir = std::path::Path::new(base)
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let path = dir.join(format!("{name}.db"));
            Ok(Scratch {
                backend: Backend::Sqlite,
                url: format!("sqlite://{}", path.display()),
                admin_url: None,
                name: path.display().to_string(),
            })
        } else {
            let admin = Db::connect(base_url, 1).await?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(admin.pool())
                .await
                .context("creating the scratch database")?;
            admin.close().await;
            Ok(Scratch {
                backend: Backend::Postgres,
                url: with_database(base_url, &name),
                admin_url: Some(base_url.to_string()),
                name,
            })
        }
    }

    /// Removes the scratch database, unless `CAISSE_BENCH_KEEP=1` asks to keep it for a look.
    pub async fn drop_it(&self) {
        if std::env::var("CAISSE_BENCH_KEEP").is_ok_and(|v| v == "1") {
            eprintln!("kept the scratch database {}", self.url);
            return;
        }
        match &self.admin_url {
            None => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", self.name));
                }
            }
            Some(admin) => {
                if let Ok(db) = Db::connect(admin, 1).await {
                    let _ = sqlx::query(&format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        self.name
                    ))
                    .execute(db.pool())
                    .await;
                    db.close().await;
                }
            }
        }
    }
}

/// The same server URL with another database name.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

async fn ledger_bench(
    scratch: &Scratch,
    writers: usize,
    duration: Duration,
) -> anyhow::Result<BenchResult> {
    let db = Db::connect(&scratch.url, writers as u32 + 2).await?;
    db.migrate().await?;
    let fund = funds::ensure_default(&db).await?;
    let members_per_writer = 50;
    let shops = 8;
    // Fund every member generously so no transfer is declined during the run.
    let mut tx = db.begin().await?;
    for s in 0..shops {
        let code = AccountCode::auxiliary(General::Shops, &format!("BENCHSHOP{s}"));
        ledger::open_account(&mut tx, &fund, &code, "bench shop").await?;
    }
    let today = chrono::Utc::now().date_naive();
    for m in 0..writers * members_per_writer {
        let code = AccountCode::auxiliary(General::AllowanceBalances, &format!("BENCH{m}"));
        ledger::open_account(&mut tx, &fund, &code, "bench member").await?;
        let entry = EntryBuilder::new(Journal::Allowances, "allowance", today, "bench allowance")
            .debit(
                AccountCode::general(General::AllowancesGranted),
                "1000000.00".parse()?,
            )
            .credit(code, "1000000.00".parse()?)
            .build()?;
        ledger::post(&mut tx, &fund, &entry).await?;
    }
    tx.commit().await?;

    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut handles = Vec::new();
    for w in 0..writers {
        let db = db.clone();
        let fund = fund.clone();
        let stop = stop.clone();
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let amount: Cents = "1.00".parse().expect("constant");
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let member = w * members_per_writer + i % members_per_writer;
                let shop = (w + i) % shops;
                i += 1;
                let entry = EntryBuilder::new(Journal::Purchases, "redemption", today, "bench")
                    .debit(
                        AccountCode::auxiliary(
                            General::AllowanceBalances,
                            &format!("BENCH{member}"),
                        ),
                        amount,
                    )
                    .credit(
                        AccountCode::auxiliary(General::Shops, &format!("BENCHSHOP{shop}")),
                        amount,
                    )
                    .build()?;
                let t = Instant::now();
                let mut tx = db.begin().await?;
                ledger::post(&mut tx, &fund, &entry).await?;
                tx.commit().await?;
                latencies.push(t.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await??);
    }
    let elapsed = started.elapsed();
    let report = ledger::verify(&db, &fund).await?;
    anyhow::ensure!(
        report.is_clean(),
        "ledger not clean after the run: {:?}",
        report.problems
    );
    db.close().await;
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    Ok(BenchResult {
        count: all.len() as u64,
        elapsed,
        per_second: all.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    })
}

/// pgbench's built-in TPC-B-like script on a fresh scale-1 database on the same server.
pub fn pgbench(url: &str, clients: usize, seconds: u64) -> anyhow::Result<f64> {
    let init = Command::new("pgbench")
        .args(["-i", "-q", "-s", "1", url])
        .output()
        .context("running pgbench (Debian package postgresql-contrib or postgresql-client)")?;
    anyhow::ensure!(
        init.status.success(),
        "pgbench -i failed on {}: {}",
        redact_url(url),
        String::from_utf8_lossy(&init.stderr)
    );
    let run = Command::new("pgbench")
        .args([
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
            &seconds.to_string(),
            url,
        ])
        .output()
        .context("running pgbench")?;
    let out = String::from_utf8_lossy(&run.stdout);
    anyhow::ensure!(
        run.status.success(),
        "pgbench failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    out.lines()
        .find_map(|l| {
            l.strip_prefix("tps = ")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<f64>().ok())
        })
        .context("no tps line in pgbench's output")
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_swap() {
        assert_eq!(
            super::with_database("postgres://u@h:5432/caisse?sslmode=disable", "x"),
            "postgres://u@h:5432/x?sslmode=disable"
        );
        assert_eq!(
            super::with_database("postgres://u@h", "x"),
            "postgres://u@h/x"
        );
    }
}
