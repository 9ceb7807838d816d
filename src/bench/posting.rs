//! `bench ledger`: entries posted by concurrent writers, beside pgbench on PostgreSQL.

use super::*;

pub(super) async fn ledger_bench(
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
