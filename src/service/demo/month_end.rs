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

/// An approved shop of the demo and its first till.
struct Shop {
    id: String,
    name: String,
    till: String,
}

/// A purchase of the first month to refund in the second.
struct Refundable {
    redemption: String,
    shop: String,
    till: String,
    member: members::Member,
}

/// Purchases of the three months before this one, then their settlements and statement.
pub async fn fill(
    db: &Db,
    fund_id: &str,
    member_ids: &[String],
    treasurer: &str,
) -> anyhow::Result<MonthEnd> {
    let shops = approved_shops(db, fund_id).await?;
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
    let mut refundable: Option<Refundable> = None;
    for (month, period) in periods.into_iter().enumerate() {
        // A purchase of the first month partly refunded after it was settled: the shop's next
        // payout is lower by as much.
        if let (1, Some(r)) = (month, refundable.take()) {
            refund_part(db, fund_id, period, &r).await?;
        }
        purchases += month_of_purchases(
            db,
            fund_id,
            member_ids,
            &shops,
            period,
            &mut dice,
            &mut refundable,
        )
        .await?;
        if let Some(s) = settle_month(db, fund_id, treasurer, period).await? {
            settlements.push(s);
        }
    }
    // The bank's statement of this month's first days: every transfer but the last one.
    let mut lines: Vec<(String, String, i64)> = settlements
        .iter()
        .flat_map(|s| &s.lines)
        .map(|l| {
            (
                l.end_to_end_id.clone(),
                l.shop_name.clone(),
                l.amount.cents(),
            )
        })
        .collect();
    let unpaid = lines.pop().map(|(e2e, name, _)| (e2e, name));
    if !lines.is_empty() {
        import_statement(db, fund_id, treasurer, current, &lines).await?;
    }
    Ok(MonthEnd {
        purchases,
        settlements: settlements.len(),
        unpaid,
    })
}

async fn approved_shops(db: &Db, fund_id: &str) -> anyhow::Result<Vec<Shop>> {
    let rows = sqlx::query(
        "SELECT s.id, s.name, MIN(t.id) AS till FROM shops s JOIN terminals t \
         ON t.fund_id = s.fund_id AND t.shop_id = s.id \
         WHERE s.fund_id = $1 AND s.status = 'approved' GROUP BY s.id, s.name ORDER BY s.name",
    )
    .bind(fund_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Shop {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                till: r.try_get("till")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// 5 € of a purchase given back in the fifth day of `period`.
async fn refund_part(db: &Db, fund_id: &str, period: Period, r: &Refundable) -> anyhow::Result<()> {
    let amount = Cents::from_cents(500)?;
    let mut tx = db.begin().await?;
    if store::add_refund(&mut tx, fund_id, &r.shop, &r.redemption, amount.cents())
        .await?
        .is_none()
    {
        return Ok(());
    }
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
    .reference(r.redemption.clone())
    .debit(AccountCode::auxiliary(General::Shops, &r.shop), amount)
    .credit(r.member.allowance_account(), amount)
    .build()?;
    let posted = ledger::post(&mut tx, fund_id, &entry).await?;
    store::insert_refund(
        &mut tx,
        fund_id,
        &crate::domain::new_id("ref"),
        &r.redemption,
        &r.shop,
        &r.till,
        amount.cents(),
        posted.entry_id,
        refund_at,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Two to five purchases per active member in `period`, at shops drawn by the dice, until
/// their allowance runs out; the first one above 10 € becomes `refundable`. Returns how many.
async fn month_of_purchases(
    db: &Db,
    fund_id: &str,
    member_ids: &[String],
    shops: &[Shop],
    period: Period,
    dice: &mut Dice,
    refundable: &mut Option<Refundable>,
) -> anyhow::Result<usize> {
    let mut purchases = 0;
    let mut tx = db.begin().await?;
    for id in member_ids {
        let Some(member) = members::get(&mut tx, fund_id, id).await? else {
            continue;
        };
        if member.status != crate::domain::member::MemberStatus::Active {
            continue;
        }
        for _ in 0..(2 + dice.roll(4)) {
            let shop = &shops[dice.roll(shops.len() as u64) as usize];
            let day = period.first_day() + chrono::Days::new(dice.roll(27));
            let at = day
                .and_hms_opt(9 + dice.roll(9) as u32, dice.roll(60) as u32, 0)
                .unwrap_or_default()
                .and_utc()
                .timestamp_micros();
            let amount = Cents::from_cents(800 + dice.roll(3_700) as i64)?;
            // The member has spent their allowance: no more purchases this month. (Checked
            // first: a refused entry must not be posted half-way in a transaction that goes
            // on.)
            let balance = ledger::balance_in(&mut tx, fund_id, &member.allowance_account()).await?;
            if balance < amount.cents() {
                break;
            }
            let red_id = crate::domain::new_id("red");
            let entry = EntryBuilder::new(
                Journal::Purchases,
                "redemption",
                day,
                &format!("Achat — {}", shop.name),
            )
            .reference(red_id.clone())
            .debit(member.allowance_account(), amount)
            .credit(AccountCode::auxiliary(General::Shops, &shop.id), amount)
            .build()?;
            let posted = ledger::post(&mut tx, fund_id, &entry).await?;
            store::insert(
                &mut tx,
                fund_id,
                &NewRedemption {
                    id: &red_id,
                    shop_id: &shop.id,
                    terminal_id: &shop.till,
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
                *refundable = Some(Refundable {
                    redemption: red_id,
                    shop: shop.id.clone(),
                    till: shop.till.clone(),
                    member: member.clone(),
                });
            }
        }
    }
    tx.commit().await?;
    Ok(purchases)
}

/// The month is settled on the first of the next one, at midnight UTC (nothing to settle is
/// no settlement).
async fn settle_month(
    db: &Db,
    fund_id: &str,
    treasurer: &str,
    period: Period,
) -> anyhow::Result<Option<settle::Settlement>> {
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
        Ok(s) => Ok(Some(s)),
        Err(e) if e.code() == crate::domain::ErrorCode::NothingToSettle => Ok(None),
        Err(e) => anyhow::bail!("demo settlement: {}", e),
    }
}

/// The bank's camt.053 of this month's first days, showing `lines`, imported as an uploaded
/// one would be.
async fn import_statement(
    db: &Db,
    fund_id: &str,
    treasurer: &str,
    current: Period,
    lines: &[(String, String, i64)],
) -> anyhow::Result<()> {
    let settings = funds::settings(db, fund_id).await?;
    let opening = ledger::balance(db, fund_id, &AccountCode::general(General::Bank)).await?;
    let xml = settle::camt053_for_payouts(
        "02",
        &crate::domain::bank::normalize_iban(&settings.iban),
        &format!("RELEVE-{current}"),
        opening,
        current.first_day() + chrono::Days::new(2),
        lines,
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
    Ok(())
}
