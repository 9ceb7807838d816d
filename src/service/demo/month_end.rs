//! The demo's past months at the tills and their month ends: purchases at the approved shops,
//! one settlement per month, and one bank statement (camt.053) that shows every transfer but
//! the last, imported through the same service as an uploaded one. The treasurer's
//! reconciliation screen then has one payout waiting for the bank.

use sqlx::Row;

use super::Dice;
use crate::domain::ledger::{AccountCode, EntryBuilder, General, Journal};
use crate::domain::member::Period;
use crate::domain::statement::parse_camt053;
use crate::domain::Cents;
use crate::service::settlements as settle;
use crate::store::ledger;
use crate::store::redemptions::{self as store, NewRedemption};
use crate::store::{funds, members, Db};

/// What the demo month end did, for the banner.
pub struct MonthEnd {
    pub purchases: usize,
    pub settlements: usize,
    pub unpaid: Option<(String, String)>,
}

/// Purchases of the three months before this one, then their settlements and statement.
pub async fn fill(
    db: &Db,
    fund_id: &str,
    member_ids: &[String],
    treasurer: &str,
) -> anyhow::Result<MonthEnd> {
    let shops: Vec<(String, String, String)> = sqlx::query(
        "SELECT s.id, s.name, MIN(t.id) AS till FROM shops s JOIN terminals t \
         ON t.fund_id = s.fund_id AND t.shop_id = s.id \
         WHERE s.fund_id = $1 AND s.status = 'approved' GROUP BY s.id, s.name ORDER BY s.name",
    )
    .bind(fund_id)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| Ok((r.try_get("id")?, r.try_get("name")?, r.try_get("till")?)))
    .collect::<Result<_, sqlx::Error>>()?;
    anyhow::ensure!(!shops.is_empty(), "the demo has no approved shop");
    let mut dice = Dice(7);
    let current = Period::of(crate::domain::today());
    let periods = [
        current.previous().previous().previous(),
        current.previous().previous(),
        current.previous(),
    ];
    let mut purchases = 0;
    let mut settlements = Vec::new();
    // A purchase of the first month to refund in the second: (redemption, shop, till, member).
    let mut refundable: Option<(String, String, String, members::Member)> = None;
    for (month, period) in periods.into_iter().enumerate() {
        // A purchase of the first month partly refunded after it was settled: the shop's next
        // payout is lower by as much.
        if let (1, Some((red_id, shop_id, till, member))) = (month, refundable.take()) {
            let amount = Cents::from_cents(500)?;
            let mut tx = db.begin().await?;
            if store::add_refund(&mut tx, fund_id, &shop_id, &red_id, amount.cents())
                .await?
                .is_some()
            {
                let date = period.first_day() + chrono::Days::new(4);
                let refund_at = date
                    .and_hms_opt(11, 0, 0)
                    .unwrap_or_default()
                    .and_utc()
                    .timestamp_micros();
                let entry = EntryBuilder::new(
                    Journal::Purchases,
                    "refund",
                    date,
                    "Remboursement d'un achat",
                )
                .reference(red_id.clone())
                .debit(AccountCode::auxiliary(General::Shops, &shop_id), amount)
                .credit(member.allowance_account(), amount)
                .build()?;
                let posted = ledger::post(&mut tx, fund_id, &entry).await?;
                store::insert_refund(
                    &mut tx,
                    fund_id,
                    &crate::domain::new_id("ref"),
                    &red_id,
                    &shop_id,
                    &till,
                    amount.cents(),
                    posted.entry_id,
                    refund_at,
                )
                .await?;
                tx.commit().await?;
            }
        }
        let mut tx = db.begin().await?;
        for id in member_ids {
            let Some(member) = members::get(&mut tx, fund_id, id).await? else {
                continue;
            };
            if member.status != crate::domain::member::MemberStatus::Active {
                continue;
            }
            for _ in 0..(2 + dice.roll(4)) {
                let (shop_id, shop_name, till) = &shops[dice.roll(shops.len() as u64) as usize];
                let day = period.first_day() + chrono::Days::new(dice.roll(27));
                let at = day
                    .and_hms_opt(9 + dice.roll(9) as u32, dice.roll(60) as u32, 0)
                    .unwrap_or_default()
                    .and_utc()
                    .timestamp_micros();
                let amount = Cents::from_cents(800 + dice.roll(3_700) as i64)?;
                let red_id = crate::domain::new_id("red");
                let entry = EntryBuilder::new(
                    Journal::Purchases,
                    "redemption",
                    day,
                    &format!("Achat — {shop_name}"),
                )
                .reference(red_id.clone())
                .debit(member.allowance_account(), amount)
                .credit(AccountCode::auxiliary(General::Shops, shop_id), amount)
                .build()?;
                // The member has spent their allowance: no more purchases this month. (Checked
                // first: a refused entry must not be posted half-way in a transaction that goes
                // on.)
                let balance =
                    ledger::balance_in(&mut tx, fund_id, &member.allowance_account()).await?;
                if balance < amount.cents() {
                    break;
                }
                let posted = ledger::post(&mut tx, fund_id, &entry).await?;
                store::insert(
                    &mut tx,
                    fund_id,
                    &NewRedemption {
                        id: &red_id,
                        shop_id,
                        terminal_id: till,
                        // Past purchases are made up for the demo: no real card paid them.
                        card_id: "card_demo_history",
                        member_id: id,
                        amount: amount.cents(),
                        entry_id: posted.entry_id,
                        created_at: at,
                    },
                )
                .await?;
                purchases += 1;
                if refundable.is_none() && amount.cents() > 1_000 {
                    refundable = Some((red_id, shop_id.clone(), till.clone(), member.clone()));
                }
            }
        }
        tx.commit().await?;
        // The month is settled on the first of the next one, at midnight UTC.
        let cutoff = period
            .next()
            .first_day()
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc()
            .timestamp_micros();
        match settle::settle(
            db,
            &crate::domain::FundId::new(fund_id),
            crate::domain::Instant::from_micros(cutoff),
            &crate::domain::UserId::new(treasurer),
        )
        .await
        {
            Ok(s) => settlements.push(s),
            Err(e) if e.code() == crate::domain::ErrorCode::NothingToSettle => {}
            Err(e) => anyhow::bail!("demo settlement: {}", e),
        }
    }
    // The bank's statement of this month's first days: every transfer but the last one.
    let mut lines: Vec<(String, String, i64)> = Vec::new();
    for s in &settlements {
        for l in &s.lines {
            lines.push((
                l.end_to_end_id.clone(),
                l.shop_name.clone(),
                l.amount.cents(),
            ));
        }
    }
    let unpaid = lines.pop().map(|(e2e, name, _)| (e2e, name));
    if !lines.is_empty() {
        let settings = funds::settings(db, fund_id).await?;
        let opening = ledger::balance(db, fund_id, &AccountCode::general(General::Bank)).await?;
        let xml = settle::camt053_for_payouts(
            "02",
            &crate::domain::bank::normalize_iban(&settings.iban),
            &format!("RELEVE-{current}"),
            opening,
            current.first_day() + chrono::Days::new(2),
            &lines,
        );
        let statement = parse_camt053(&xml).map_err(|e| anyhow::anyhow!("demo statement: {e}"))?;
        settle::import_statement(
            db,
            &crate::domain::FundId::new(fund_id),
            &crate::domain::UserId::new(treasurer),
            &statement,
        )
        .await
        .map_err(|e| anyhow::anyhow!("demo statement import: {}", e))?;
    }
    Ok(MonthEnd {
        purchases,
        settlements: settlements.len(),
        unpaid,
    })
}
