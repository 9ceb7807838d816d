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

/// Loads `n` members with varied households and incomes, then calls one period.
async fn calls_bench(scratch: &Scratch, n: usize) -> anyhow::Result<(Duration, Duration)> {
    let (db, fund, load) = load_members(scratch, n).await?;
    let started = Instant::now();
    let figures = crate::service::contributions::call(
        &db,
        &crate::domain::FundId::new(fund.as_str()),
        "2026-11".parse().expect("period"),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{}", e))?;
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
    proc_status_mib("VmHWM:")
}

/// A memory figure of /proc/self/status (`VmHWM:` peak, `VmRSS:` now), in MiB.
fn proc_status_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Loads `n` members, then issues one period's allowances.
async fn issue_bench(scratch: &Scratch, n: usize) -> anyhow::Result<()> {
    let (db, fund, load) = load_members(scratch, n).await?;
    let before = peak_rss_mib();
    let started = Instant::now();
    let figures = crate::service::allowances::issue(
        &db,
        &crate::domain::FundId::new(fund.as_str()),
        "2026-11".parse().expect("period"),
        None,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{}", e))?;
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

/// Seeds `n` redemptions over `shops` shops (and n / 100 refunds), then settles them all.
async fn settle_bench(scratch: &Scratch, n: usize, shops: usize) -> anyhow::Result<()> {
    let db = Db::connect(&scratch.url, 4).await?;
    db.migrate().await?;
    let fund = funds::ensure_default(&db).await?;
    let started = Instant::now();
    let now = crate::domain::now_micros();
    // One microsecond apart, ending a second ago.
    let first = now - 1_000_000 - n as i64;
    let refunds = n / 100;
    let numbers = |count: usize| match scratch.backend {
        Backend::Postgres => format!("SELECT generate_series(0, {}) AS i", count as i64 - 1),
        Backend::Sqlite => format!(
            "WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i < {}) \
             SELECT i FROM g",
            count as i64 - 1
        ),
    };
    let mut tx = db.begin().await?;
    sqlx::query(&format!(
        "INSERT INTO shops (fund_id, id, name, legal_name, iban, bic, address, categories, \
         status, created_by, created_at, updated_at) \
         SELECT $1, 'shop_bench' || i, 'Commerce ' || i, 'SCOP Commerce ' || i, \
         'FR7630006000011234567890189', NULL, '1 rue du Marché', '[]', 'approved', 'bench', \
         $2, $2 FROM ({}) AS n",
        numbers(shops)
    ))
    .bind(&fund)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!(
        "INSERT INTO redemptions (fund_id, id, shop_id, terminal_id, card_id, member_id, \
         amount, refunded, entry_id, created_at) \
         SELECT $1, 'red_bench' || i, 'shop_bench' || (i % {shops}), 'till', 'card', \
         'mem' || (i % 1000), 100 + i % 4900, 0, i, $2 + i FROM ({}) AS n",
        numbers(n)
    ))
    .bind(&fund)
    .bind(first)
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!(
        "INSERT INTO refunds (fund_id, id, redemption_id, shop_id, terminal_id, amount, \
         entry_id, created_at) \
         SELECT $1, 'ref_bench' || i, 'red_bench' || (i * 100), 'shop_bench' || ((i * 100) % {shops}), \
         'till', 50, i, $2 + i * 100 + 1 FROM ({}) AS n",
        numbers(refunds.max(1))
    ))
    .bind(&fund)
    .bind(first)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    if scratch.backend == Backend::Postgres {
        sqlx::query("ANALYZE").execute(db.pool()).await?;
    }
    let seeded = started.elapsed();
    let expected: i64 = sqlx::query_scalar(
        "SELECT CAST((SELECT SUM(amount) FROM redemptions WHERE fund_id = $1) - \
         (SELECT SUM(amount) FROM refunds WHERE fund_id = $1) AS BIGINT)",
    )
    .bind(&fund)
    .fetch_one(db.pool())
    .await?;

    let started = Instant::now();
    let s = crate::service::settlements::settle(
        &db,
        &crate::domain::FundId::new(fund.clone()),
        crate::domain::Instant::from_micros(now),
        &crate::domain::UserId::new("bench"),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{}", e))?;
    let took = started.elapsed();
    anyhow::ensure!(
        s.lines.len() == shops,
        "{} lines for {shops} shops",
        s.lines.len()
    );
    anyhow::ensure!(
        s.total.cents() == expected,
        "settled {} of {expected}",
        s.total
    );
    let started = Instant::now();
    let xml = crate::service::settlements::sepa_file(
        &db,
        &crate::domain::FundId::new(fund.clone()),
        &s.id,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{}", e))?;
    let sepa = started.elapsed();
    println!(
        "caisse settle: {n} redemptions and {} refunds across {shops} shops settled in {:.2} s \
         ({:.0} rows/s, {}); total {}; SEPA file of {} transfers ({} KiB) in {:.2} s; seeding \
         took {:.2} s",
        refunds.max(1),
        took.as_secs_f64(),
        (n + refunds.max(1)) as f64 / took.as_secs_f64(),
        scratch.backend.name(),
        s.total,
        s.lines.len(),
        xml.xml.len() / 1024,
        sepa.as_secs_f64(),
        seeded.as_secs_f64()
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

/// What one phase of the redemption benchmark measured.
pub struct TillRun {
    pub count: u64,
    pub declined: u64,
    pub elapsed: Duration,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// SQLite: payments per commit of the group-commit writer during the phase.
    pub per_commit: Option<f64>,
    /// A till had no unused code left before the end: the phase was cut short.
    pub ran_out: bool,
}

/// One till's cards: (card id, secret) and which code of each it used last. A PIN till's
/// cards are printed ones, all with the PIN `pin`, paid with in turn.
#[derive(Default)]
struct TillCards {
    key: String,
    cards: Vec<(String, Vec<u8>)>,
    pin: Option<String>,
    next: usize,
    used: std::collections::HashSet<(usize, i64)>,
}

/// The PIN of the benchmark's printed cards.
const BENCH_PIN: &str = "2468";

impl TillCards {
    /// A code not used yet: the current step of the next card, else the previous step.
    fn next_token(&mut self) -> Option<String> {
        use crate::domain::card::{app_payload, printed_payload, step_at, totp};
        if self.pin.is_some() {
            let (card, _) = self.cards.get(self.next % self.cards.len().max(1))?;
            self.next += 1;
            return Some(printed_payload(card));
        }
        let now = step_at(chrono::Utc::now().timestamp());
        for _ in 0..self.cards.len() * 2 {
            let i = self.next % self.cards.len();
            self.next += 1;
            for step in [now, now - 1] {
                if self.used.insert((i, step)) {
                    let (card, secret) = &self.cards[i];
                    return Some(app_payload(card, &totp(secret, step)));
                }
            }
        }
        None
    }
}

async fn redeem_bench(
    scratch: &Scratch,
    terminals: usize,
    duration: Duration,
    cards_per_terminal: usize,
) -> anyhow::Result<(TillRun, TillRun)> {
    let (db, fund, base, mut tills) = till_setup(scratch, terminals, 0, cards_per_terminal).await?;
    let per_commit = |before: Option<(u64, u64)>, after: Option<(u64, u64)>| match (before, after) {
        (Some((c0, j0)), Some((c1, j1))) if c1 > c0 => Some((j1 - j0) as f64 / (c1 - c0) as f64),
        _ => None,
    };
    let before = db.group_commit_stats();
    let mut peak = till_phase(&base, &mut tills, duration, None).await?;
    let middle = db.group_commit_stats();
    peak.per_commit = per_commit(before, middle);
    let pace = if peak.per_second > 0.0 {
        Some(Duration::from_secs_f64(
            terminals as f64 / (peak.per_second / 2.0),
        ))
    } else {
        None
    };
    let mut half = till_phase(&base, &mut tills, duration, pace).await?;
    half.per_commit = per_commit(middle, db.group_commit_stats());
    let report = ledger::verify(&db, &fund).await?;
    anyhow::ensure!(report.is_clean(), "ledger not clean: {:?}", report.problems);
    db.close().await;
    Ok((peak, half))
}

/// What the mixed run measured: the app-card tills alone, then beside the PIN tills.
struct PinMix {
    alone: TillRun,
    mixed_app: TillRun,
    mixed_pin: TillRun,
    /// Peak resident memory of this process (server and load driver) over the two phases,
    /// and what was resident when they began (what the seeding left).
    peak_rss_mib: Option<f64>,
    start_rss_mib: Option<f64>,
}

impl PinMix {
    fn print(&self, terminals: usize, pin_tills: usize, backend: Backend) {
        let app_tills = terminals - pin_tills;
        let line = |what: &str, r: &TillRun| {
            if r.ran_out {
                println!(
                    "{what}: not measured, the tills ran out of unused codes; give more \
                     --cards-per-terminal"
                );
                return;
            }
            println!(
                "{what}: {:.0} payments/s ({} approved, {} declined in {:.1} s), latency p50 \
                 {:.2} ms, p99 {:.2} ms",
                r.per_second,
                r.count,
                r.declined,
                r.elapsed.as_secs_f64(),
                r.p50_ms,
                r.p99_ms
            );
        };
        println!(
            "caisse redeem, {app_tills} app-card tills and {pin_tills} PIN tills over HTTP ({})",
            backend.name()
        );
        line(&format!("app cards alone ({app_tills} tills)"), &self.alone);
        line(
            &format!("app cards beside {pin_tills} PIN tills"),
            &self.mixed_app,
        );
        line(
            &format!("printed cards + PIN ({pin_tills} tills)"),
            &self.mixed_pin,
        );
        if self.alone.per_second > 0.0 && !self.alone.ran_out && !self.mixed_app.ran_out {
            println!(
                "ratio app cards with PIN tills / alone: {:.2}",
                self.mixed_app.per_second / self.alone.per_second
            );
        }
        match self.peak_rss_mib {
            Some(mib) => println!(
                "peak resident memory over both phases: {mib:.0} MiB (this process: the server \
                 and its load driver; {:.0} MiB resident when they began, after the seeding)",
                self.start_rss_mib.unwrap_or(0.0)
            ),
            None => println!("peak resident memory: not measured (no /proc on this system)"),
        }
    }
}

/// `terminals` tills of which `pin_tills` pay with printed cards and a PIN: the app-card
/// tills alone for `duration`, then all of them together for `duration`.
async fn pin_mix_bench(
    scratch: &Scratch,
    terminals: usize,
    pin_tills: usize,
    duration: Duration,
    cards_per_terminal: usize,
) -> anyhow::Result<PinMix> {
    let (db, fund, base, mut tills) =
        till_setup(scratch, terminals, pin_tills, cards_per_terminal).await?;
    let (app, pin) = tills.split_at_mut(terminals - pin_tills);
    // The seeding's memory is not the payments': start the peak afresh (Linux).
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let start_rss_mib = proc_status_mib("VmRSS:");
    let alone = till_phase(&base, app, duration, None).await?;
    let (mixed_app, mixed_pin) = tokio::try_join!(
        till_phase(&base, app, duration, None),
        till_phase(&base, pin, duration, None)
    )?;
    let peak_rss_mib = if reset { peak_rss_mib() } else { None };
    let report = ledger::verify(&db, &fund).await?;
    anyhow::ensure!(report.is_clean(), "ledger not clean: {:?}", report.problems);
    db.close().await;
    Ok(PinMix {
        alone,
        mixed_app,
        mixed_pin,
        peak_rss_mib,
        start_rss_mib,
    })
}

/// The server in this process over a scratch fund: `terminals` shops with a till each, every
/// till with `cards_per_terminal` members' cards (app cards, printed cards with
/// [`BENCH_PIN`] for the last `pin_tills`). Answers the database, fund, base URL and tills.
async fn till_setup(
    scratch: &Scratch,
    terminals: usize,
    pin_tills: usize,
    cards_per_terminal: usize,
) -> anyhow::Result<(Db, String, String, Vec<TillCards>)> {
    use crate::domain::card::{secret_base32, CardKind};
    use crate::store::cards::{self as card_store, NewCard};
    use std::sync::Arc;

    let (db, fund, _) = load_members(scratch, terminals * cards_per_terminal).await?;
    crate::service::allowances::issue(
        &db,
        &crate::domain::FundId::new(fund.as_str()),
        "2026-11".parse().expect("period"),
        None,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{}", e))?;
    let key_path = std::env::temp_dir().join(format!("caisse-bench-{}.key", std::process::id()));
    let key = Arc::new(crate::card_key::CardKey::load_or_create(&key_path)?);
    let _ = std::fs::remove_file(&key_path);

    // The server, in this process, on a port of its own, without a till rate limit.
    let config = Config {
        database_url: scratch.url.clone(),
        till_rate_per_second: 0,
        ..Config::default()
    };
    let state = crate::api::AppState::new(db.clone(), config, fund.clone(), key.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, crate::app::app(state)).await;
    });

    // Shops with one till each, through the API.
    let admin = crate::service::users::create(
        &db,
        &fund,
        "bench-admin@caisse.invalid",
        "bench-admin-password",
        crate::domain::Role::Admin,
        None,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{}", e))?;
    let client = reqwest::Client::new();
    let session: serde_json::Value = client
        .post(format!("{base}/api/v1/sessions"))
        .json(&serde_json::json!({"email": admin.email, "password": "bench-admin-password"}))
        .send()
        .await?
        .json()
        .await?;
    let admin_token = session["token"].as_str().unwrap_or_default().to_string();
    let mut till_keys = Vec::new();
    for t in 0..terminals {
        let shop: serde_json::Value = client
            .post(format!("{base}/api/v1/shops"))
            .bearer_auth(&admin_token)
            .json(&serde_json::json!({
                "name": format!("Commerce {t}"), "legal_name": format!("Commerce {t} SARL"),
                "iban": "FR7630006000011234567890189", "address": "1 rue du Banc, 69008 Lyon",
                "categories": ["epicerie"]}))
            .send()
            .await?
            .json()
            .await?;
        let shop_id = shop["id"].as_str().unwrap_or_default().to_string();
        client
            .post(format!("{base}/api/v1/shops/{shop_id}/decision"))
            .bearer_auth(&admin_token)
            .json(&serde_json::json!({"decision": "approved"}))
            .send()
            .await?
            .error_for_status()?;
        let till: serde_json::Value = client
            .post(format!("{base}/api/v1/shops/{shop_id}/terminals"))
            .bearer_auth(&admin_token)
            .json(&serde_json::json!({"label": "Caisse"}))
            .send()
            .await?
            .json()
            .await?;
        till_keys.push(till["api_key"].as_str().unwrap_or_default().to_string());
    }

    // A card for every member, all in one transaction: app cards for the first tills,
    // printed ones (their PIN in the MAC form new cards get) for the PIN tills.
    let printed_from = (terminals - pin_tills) * cards_per_terminal.max(1);
    let members: Vec<String> =
        sqlx::query_scalar("SELECT id FROM members WHERE fund_id = $1 ORDER BY id")
            .bind(&fund)
            .fetch_all(db.pool())
            .await?;
    let mut all_cards = Vec::with_capacity(members.len());
    let mut tx = db.begin().await?;
    let now = crate::domain::now_micros();
    for (i, member) in members.iter().enumerate() {
        let id = crate::domain::new_id("card");
        if i >= printed_from {
            let pin = crate::service::pins::stored_form(&key, &fund, &id, BENCH_PIN);
            card_store::insert(
                &mut tx,
                &fund,
                &NewCard {
                    id: &id,
                    member_id: member,
                    kind: CardKind::Printed,
                    secret_enc: None,
                    pin_hash: Some(&pin),
                    created_by: &admin.id,
                    created_at: now,
                },
            )
            .await?;
            all_cards.push((id, Vec::new()));
            continue;
        }
        let mut secret = [0u8; crate::domain::card::SECRET_BYTES];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
        let sealed = key.seal(&secret, &crate::service::cards::seal_context(&fund, &id));
        card_store::insert(
            &mut tx,
            &fund,
            &NewCard {
                id: &id,
                member_id: member,
                kind: CardKind::App,
                secret_enc: Some(&sealed),
                pin_hash: None,
                created_by: &admin.id,
                created_at: now,
            },
        )
        .await?;
        debug_assert!(!secret_base32(&secret).is_empty());
        all_cards.push((id, secret.to_vec()));
    }
    tx.commit().await?;

    let tills: Vec<TillCards> = till_keys
        .into_iter()
        .zip(all_cards.chunks(cards_per_terminal.max(1)))
        .enumerate()
        .map(|(t, (key, cards))| TillCards {
            key,
            cards: cards.to_vec(),
            pin: (t >= terminals - pin_tills).then(|| BENCH_PIN.to_string()),
            ..Default::default()
        })
        .collect();
    Ok((db, fund, base, tills))
}

/// Every till pays 1.00 again and again (each at `pace` if given) until `duration` is over.
async fn till_phase(
    base: &str,
    tills: &mut [TillCards],
    duration: Duration,
    pace: Option<Duration>,
) -> anyhow::Result<TillRun> {
    let started = Instant::now();
    let mut handles = Vec::new();
    for till in tills.iter_mut() {
        let mut till = std::mem::take(till);
        let base = base.to_string();
        handles.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let (mut latencies, mut declined, mut ran_out) = (Vec::new(), 0u64, false);
            while started.elapsed() < duration {
                let Some(token) = till.next_token() else {
                    ran_out = true;
                    break;
                };
                let t = Instant::now();
                let r = client
                    .post(format!("{base}/api/v1/redemptions"))
                    .bearer_auth(&till.key)
                    // Unique across phases: a till pays again in the next phase.
                    .header("Idempotency-Key", crate::domain::new_id("bench"))
                    .json(&match &till.pin {
                        Some(pin) => {
                            serde_json::json!({"token": token, "amount": "1.00", "pin": pin})
                        }
                        None => serde_json::json!({"token": token, "amount": "1.00"}),
                    })
                    .send()
                    .await?;
                let ok = r.status().as_u16() == 201;
                let _ = r.bytes().await?;
                if ok {
                    latencies.push(t.elapsed());
                } else {
                    declined += 1;
                }
                if let Some(p) = pace {
                    if let Some(rest) = p.checked_sub(t.elapsed()) {
                        tokio::time::sleep(rest).await;
                    }
                }
            }
            anyhow::Ok((till, latencies, declined, ran_out))
        }));
    }
    let (mut all, mut declined, mut ran_out) = (Vec::new(), 0, false);
    for (slot, h) in tills.iter_mut().zip(handles) {
        let (till, latencies, d, out) = h.await??;
        *slot = till;
        all.extend(latencies);
        declined += d;
        ran_out |= out;
    }
    let elapsed = started.elapsed();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    Ok(TillRun {
        count: all.len() as u64,
        declined,
        elapsed,
        per_second: all.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        per_commit: None,
        ran_out,
    })
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
