//! `bench settle`: a settlement over many sales, its SEPA file and its statement.

use super::*;

/// Seeds `n` redemptions over `shops` shops (and n / 100 refunds), then settles them all.
pub(super) async fn settle_bench(scratch: &Scratch, n: usize, shops: usize) -> anyhow::Result<()> {
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
