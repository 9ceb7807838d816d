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

mod fec;
mod monthly;
mod posting;
mod settle;
mod till;

use monthly::{calls_bench, issue_bench};
use posting::ledger_bench;
use settle::settle_bench;
pub use till::TillRun;
use till::{pin_mix_bench, redeem_bench};

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
    /// Payments at the till through the real HTTP API: N tills (each its own shop and its own
    /// members' app cards, paying with real TOTP codes) as fast as they can for T seconds,
    /// then at half that rate for the latency; on PostgreSQL also pgbench and the ratio.
    Redeem {
        #[arg(long, default_value_t = 8)]
        terminals: usize,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// App cards prepared per till (each pays at most once per 30-second code).
        #[arg(long, default_value_t = 1_500)]
        cards_per_terminal: usize,
        #[arg(long)]
        no_pgbench: bool,
        /// Of the tills, how many pay with printed cards and their PIN. When set, the run
        /// measures the app-card tills alone, then with the PIN tills beside them, and
        /// prints both, their ratio and the peak memory of the process serving them.
        #[arg(long, default_value_t = 0)]
        pin_tills: usize,
    },
    /// The FEC export of a year of N entries (two postings each), downloaded over HTTP from a
    /// real `caisse serve` process whose memory is sampled during the export (target: under
    /// 200 MB).
    Fec {
        #[arg(long, default_value_t = 1_000_000)]
        entries: usize,
    },
    /// Settlement: time to settle N unsettled redemptions (and 1 % as many refunds) across S
    /// shops (target: 1,000,000 across 500 shops in 10 s or less). The rows are seeded with
    /// set-based SQL first; only the settlement is timed.
    Settle {
        #[arg(long, default_value_t = 1_000_000)]
        redemptions: usize,
        #[arg(long, default_value_t = 500)]
        shops: usize,
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
        BenchCommand::Redeem {
            terminals,
            seconds,
            cards_per_terminal,
            no_pgbench,
            pin_tills,
        } if pin_tills > 0 => {
            anyhow::ensure!(
                pin_tills < terminals,
                "--pin-tills must leave at least one app-card till of the --terminals"
            );
            let scratch = Scratch::create(&config.database_url).await?;
            let result = pin_mix_bench(
                &scratch,
                terminals,
                pin_tills,
                Duration::from_secs(seconds),
                cards_per_terminal,
            )
            .await;
            scratch.drop_it().await;
            let _ = no_pgbench;
            result?.print(terminals, pin_tills, scratch.backend);
            Ok(())
        }
        BenchCommand::Redeem {
            terminals,
            seconds,
            cards_per_terminal,
            no_pgbench,
            ..
        } => {
            let scratch = Scratch::create(&config.database_url).await?;
            let result = redeem_bench(
                &scratch,
                terminals,
                Duration::from_secs(seconds),
                cards_per_terminal,
            )
            .await;
            let pg = if scratch.backend == Backend::Postgres && !no_pgbench && result.is_ok() {
                Some(pgbench(&scratch.url, terminals, seconds))
            } else {
                None
            };
            scratch.drop_it().await;
            let (peak, half) = result?;
            println!(
                "caisse redeem (peak): {:.0} redemptions/s ({} approved, {} declined in {:.1} s, \
                 {terminals} tills over HTTP, {}), latency p50 {:.2} ms, p99 {:.2} ms",
                peak.per_second,
                peak.count,
                peak.declined,
                peak.elapsed.as_secs_f64(),
                scratch.backend.name(),
                peak.p50_ms,
                peak.p99_ms
            );
            for (phase, run) in [("peak", &peak), ("half the peak", &half)] {
                if let Some(n) = run.per_commit {
                    println!("group commit ({phase}): {n:.1} payments per commit on average");
                }
            }
            println!(
                "caisse redeem (half the peak, {:.0}/s offered): {:.0} redemptions/s, latency \
                 p50 {:.2} ms, p99 {:.2} ms",
                peak.per_second / 2.0,
                half.per_second,
                half.p50_ms,
                half.p99_ms
            );
            if let Some(pg) = pg {
                let tps = pg?;
                println!("pgbench TPC-B-like (-c {terminals} -T {seconds}): {tps:.0} tps");
                println!(
                    "ratio caisse redeem / pgbench: {:.2}",
                    peak.per_second / tps
                );
            }
            Ok(())
        }
        BenchCommand::Settle { redemptions, shops } => {
            let scratch = Scratch::create(&config.database_url).await?;
            let result = settle_bench(&scratch, redemptions, shops.max(1)).await;
            scratch.drop_it().await;
            result
        }
        BenchCommand::Issue { members } => {
            let scratch = Scratch::create(&config.database_url).await?;
            let result = issue_bench(&scratch, members).await;
            scratch.drop_it().await;
            result
        }
        BenchCommand::Fec { entries } => fec::run(config, entries).await,
    }
}

/// The process's peak resident memory so far, in MiB (Linux), from /proc/self/status.
fn peak_rss_mib() -> Option<f64> {
    proc_status_mib("VmHWM:")
}

/// A memory figure of /proc/self/status (`VmHWM:` peak, `VmRSS:` now), in MiB.
fn proc_status_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
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
