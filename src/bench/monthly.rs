//! `bench calls` and `bench issue`: a month's contribution call and allowance issuance over many
//! members, loaded in bulk first.

use super::*;

/// Loads `n` members with varied households and incomes, then calls one period.
pub(super) async fn calls_bench(
    scratch: &Scratch,
    n: usize,
) -> anyhow::Result<(Duration, Duration)> {
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

/// Loads `n` members, then issues one period's allowances.
pub(super) async fn issue_bench(scratch: &Scratch, n: usize) -> anyhow::Result<()> {
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

/// A scratch fund of `n` active members with varied households and incomes.
pub(super) async fn load_members(
    scratch: &Scratch,
    n: usize,
) -> anyhow::Result<(Db, String, Duration)> {
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
