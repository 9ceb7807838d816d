//! `caisse bench fec`: a FEC of N entries (default 1,000,000) downloaded over HTTP from a real
//! `caisse serve` process, with that server's memory sampled during the export (target: under
//! 200 MB, whatever the size of the year).

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::NaiveDate;

use super::Scratch;
use crate::config::Config;
use crate::domain::ledger::{AccountCode, EntryBuilder, General, Journal, NewEntry};
use crate::domain::Cents;
use crate::store::ledger::{self, Bulk};
use crate::store::{funds, Db};

const MEMBERS: usize = 2_000;
const SHOPS: usize = 20;
const CHUNK: usize = 5_000;
const PER_TRANSACTION: usize = 100_000;
const PASSWORD: &str = "bench-treasurer-password";

pub async fn run(config: &Config, entries: usize) -> anyhow::Result<()> {
    let scratch = Scratch::create(&config.database_url).await?;
    let result = bench(&scratch, entries.max(MEMBERS)).await;
    scratch.drop_it().await;
    result
}

/// Memory figures of a process, in MiB, from /proc/PID/status (Linux).
#[derive(Clone, Copy, Debug, Default)]
struct Memory {
    rss: f64,
    anon: f64,
    hwm: f64,
}

fn memory_of(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    };
    Some(Memory {
        rss: field("VmRSS:")?,
        anon: field("RssAnon:").unwrap_or(0.0),
        hwm: field("VmHWM:")?,
    })
}

/// The server child, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn bench(scratch: &Scratch, entries: usize) -> anyhow::Result<()> {
    let db = Db::connect(&scratch.url, 4).await?;
    db.migrate().await?;
    let fund = funds::ensure_default(&db).await?;
    let started = Instant::now();
    seed(&db, &fund, entries).await?;
    let seeding = started.elapsed();
    crate::service::users::create(
        &db,
        &crate::domain::FundId::new(fund.as_str()),
        "bench-treasurer@caisse.invalid",
        PASSWORD,
        crate::domain::Role::Treasurer,
        None,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{}", e))?;
    let postings: i64 =
        sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM postings WHERE fund_id = $1")
            .bind(&fund)
            .fetch_one(db.pool())
            .await?;
    db.close().await;
    println!(
        "seeded {entries} entries ({postings} postings) in {:.1} s ({})",
        seeding.as_secs_f64(),
        scratch.backend.name()
    );

    // A real server, in a process of its own, on a free port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let key = std::env::temp_dir().join(format!("caisse-bench-fec-{}.key", std::process::id()));
    let server = Server(
        Command::new(std::env::current_exe().context("the caisse executable")?)
            .args(["--database-url", &scratch.url, "serve", "--bind"])
            .arg(format!("127.0.0.1:{port}"))
            .env("CAISSE_CARD_KEY_FILE", &key)
            .env("RUST_LOG", "caisse=warn")
            .stdout(Stdio::null())
            .spawn()
            .context("starting caisse serve")?,
    );
    let pid = server.0.id();
    let client = reqwest::Client::new();
    let ready = Instant::now();
    loop {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await {
            if r.status().is_success() {
                break;
            }
        }
        anyhow::ensure!(
            ready.elapsed() < Duration::from_secs(60),
            "the server did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let session: serde_json::Value = client
        .post(format!("{base}/api/v1/sessions"))
        .json(&serde_json::json!({"email": "bench-treasurer@caisse.invalid", "password": PASSWORD}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = session["token"].as_str().unwrap_or_default().to_string();
    let before = memory_of(pid).unwrap_or_default();

    // Sample the server's memory while the FEC streams.
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut peak = Memory::default();
            while !stop.load(Ordering::Relaxed) {
                if let Some(m) = memory_of(pid) {
                    peak.rss = peak.rss.max(m.rss);
                    peak.anon = peak.anon.max(m.anon);
                    peak.hwm = m.hwm;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            peak
        })
    };
    let started = Instant::now();
    let mut response = client
        .get(format!("{base}/api/v1/exports/fec?year=2026"))
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?;
    let first_byte = started.elapsed();
    let (mut bytes, mut lines) = (0u64, 0u64);
    while let Some(chunk) = response.chunk().await? {
        bytes += chunk.len() as u64;
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
    }
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut peak = sampler.await?;
    if let Some(m) = memory_of(pid) {
        peak.hwm = peak.hwm.max(m.hwm);
    }
    drop(server);
    let _ = std::fs::remove_file(&key);
    anyhow::ensure!(
        lines == postings as u64 + 1,
        "the FEC has {lines} lines for {postings} postings and a header"
    );
    let mb = bytes as f64 / 1e6;
    println!(
        "caisse fec: {entries} entries, {lines} lines, {mb:.1} MB streamed in {:.2} s \
         ({:.1} MB/s, {:.0} lines/s, first byte after {:.0} ms, {})",
        took.as_secs_f64(),
        mb / took.as_secs_f64(),
        lines as f64 / took.as_secs_f64(),
        first_byte.as_secs_f64() * 1000.0,
        scratch.backend.name()
    );
    println!(
        "server memory: {:.0} MiB resident before; during the export peak resident {:.0} MiB \
         (of which anonymous, heap and stacks: {:.0} MiB); peak since start (VmHWM) {:.0} MiB; \
         target < 200 MB: {}",
        before.rss,
        peak.rss,
        peak.anon,
        peak.hwm,
        if peak.hwm * 1.048_576 < 200.0 {
            "met"
        } else {
            "NOT met"
        }
    );
    Ok(())
}

/// Member and shop accounts, an allowance for each member, then redemptions spread over 2026
/// until `entries` entries: written by the bulk writer, 100,000 entries per transaction.
async fn seed(db: &Db, fund: &str, entries: usize) -> anyhow::Result<()> {
    let member = |i: usize| {
        AccountCode::auxiliary(
            General::AllowanceBalances,
            &crate::domain::member::account_ref(i as i64 + 1),
        )
    };
    let shop = |i: usize| AccountCode::auxiliary(General::Shops, &format!("shop_bench{i:03}"));
    let mut tx = db.begin().await?;
    let codes: Vec<AccountCode> = (0..MEMBERS).map(member).collect();
    ledger::open_accounts(&mut tx, fund, &codes, "Adhérent").await?;
    for s in 0..SHOPS {
        ledger::open_account(
            &mut tx,
            fund,
            &shop(s),
            &format!("Commerce conventionné {s}"),
        )
        .await?;
    }
    tx.commit().await?;

    let year_start = NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
    let allowance: Cents = "100000.00".parse()?;
    let mut written = 0usize;
    while written < entries {
        let mut tx = db.begin().await?;
        let mut bulk = Bulk::begin(&mut tx, fund).await?;
        let end = (written + PER_TRANSACTION).min(entries);
        while written < end {
            let chunk_end = (written + CHUNK).min(end);
            let chunk: Vec<NewEntry> = (written..chunk_end)
                .map(|i| {
                    let date = year_start + chrono::Days::new((i * 365 / entries) as u64);
                    if i < MEMBERS {
                        EntryBuilder::new(Journal::Allowances, "allowance", date, "Allocation")
                            .reference(format!("2026-01-{}", i + 1))
                            .debit(AccountCode::general(General::AllowancesGranted), allowance)
                            .credit(member(i), allowance)
                            .build()
                    } else {
                        let amount = Cents::from_cents(100 + (i as i64 * 37) % 4_900)
                            .expect("positive amount");
                        EntryBuilder::new(Journal::Purchases, "redemption", date, "Achat")
                            .reference(format!("rdm_bench{i}"))
                            .debit(member(i % MEMBERS), amount)
                            .credit(shop(i % SHOPS), amount)
                            .build()
                    }
                })
                .collect::<Result<_, _>>()?;
            bulk.add(&mut tx, &chunk).await?;
            written = chunk_end;
        }
        bulk.finish(&mut tx).await?;
        tx.commit().await?;
    }
    Ok(())
}
