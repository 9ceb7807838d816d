//! Monthly allowance issuance.

use crate::api::error::ApiError;
use crate::domain::household::Household;
use crate::domain::ledger::{AccountCode, EntryBuilder, General, Journal, NewEntry};
use crate::domain::member::Period;
use crate::domain::Cents;
use crate::store::allowances::{self, IssuanceFigures};
use crate::store::ledger::Bulk;
use crate::store::{funds, Db};

/// Members credited per chunk: bounded memory whatever the size of the fund.
const CHUNK: i64 = 10_000;

/// Progress of a long issuance: (members done, members in all).
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Send + Sync);

/// Credits every active member with the month's allowance under the fund's current settings:
/// one entry per member (6571 / 467 member). With a balance cap, a member's balance after the
/// credit never exceeds the cap: the excess goes back to the common pot by an entry of its own
/// (467 member / 6571), which can be more than the month's allowance if the cap was lowered.
/// Suspended and departed members get nothing. Issuing a period again credits nothing and
/// answers the first issuance's figures, also when two issuances race.
#[tracing::instrument(skip(db, progress))]
pub async fn issue(
    db: &Db,
    fund_id: &str,
    period: Period,
    progress: Option<Progress<'_>>,
) -> Result<IssuanceFigures, ApiError> {
    let settings = funds::settings(db, fund_id).await?;
    let rules = settings.allowance;
    let mut tx = db.begin().await?;
    if !allowances::claim_period(&mut tx, fund_id, period).await? {
        let figures = allowances::figures(&mut tx, fund_id, period).await?;
        tx.rollback().await?;
        return figures.ok_or_else(|| ApiError::internal("claimed period without figures"));
    }
    let total_members = allowances::count_active(&mut tx, fund_id).await?;
    let mut bulk = Bulk::begin(&mut tx, fund_id).await?;
    let date = period.first_day();
    let credit_label = format!("Allocation {period}");
    let cap_label = format!("Plafond de solde : retour à la caisse ({period})");
    let pot = AccountCode::general(General::AllowancesGranted);
    let mut figures = IssuanceFigures::default();
    let mut after = String::new();
    let mut done = 0u64;
    loop {
        let page = allowances::eligible_page(&mut tx, fund_id, &after, CHUNK).await?;
        let Some(last) = page.last() else { break };
        after = last.member_id.clone();
        let mut entries: Vec<NewEntry> = Vec::with_capacity(page.len());
        let mut rows = Vec::with_capacity(page.len());
        for m in &page {
            let household = u32::try_from(m.adults)
                .ok()
                .zip(u32::try_from(m.children).ok())
                .and_then(|(a, c)| Household::new(a, c))
                .ok_or_else(|| ApiError::internal(format!("member {} household", m.member_id)))?;
            let amount = rules.monthly_amount(household).unwrap_or(Cents::ZERO);
            let after_credit = m.balance + amount.cents();
            let returned = rules
                .balance_cap
                .map(|cap| (after_credit - cap.cents()).max(0))
                .unwrap_or(0);
            let account = AccountCode::auxiliary(General::AllowanceBalances, &m.account_ref);
            let credit_entry = !amount.is_zero();
            if credit_entry {
                entries.push(
                    EntryBuilder::new(Journal::Allowances, "allowance", date, &credit_label)
                        .reference(format!("{period}-{}", m.account_ref))
                        .debit(pot.clone(), amount)
                        .credit(account.clone(), amount)
                        .build()
                        .map_err(ApiError::internal)?,
                );
            }
            if returned > 0 {
                let back = Cents::from_cents(returned).map_err(ApiError::internal)?;
                entries.push(
                    EntryBuilder::new(
                        Journal::Allowances,
                        "allowance_cap_return",
                        date,
                        &cap_label,
                    )
                    .reference(format!("{period}-{}", m.account_ref))
                    .debit(account, back)
                    .credit(pot.clone(), back)
                    .build()
                    .map_err(ApiError::internal)?,
                );
            }
            rows.push((m.member_id.clone(), amount.cents(), returned, credit_entry));
            figures.members_credited += i64::from(credit_entry);
            figures.total += amount.cents();
            figures.returned_by_cap += returned;
        }
        // The credit entries' ids, in order, for the members who got one.
        let ids = bulk.add(&mut tx, &entries).await?;
        let mut credit_ids = entries
            .iter()
            .zip(ids)
            .filter(|(e, _)| e.kind() == "allowance")
            .map(|(_, id)| id);
        let credits: Vec<(String, i64, i64, Option<i64>)> = rows
            .into_iter()
            .map(|(member, amount, returned, credited)| {
                let entry = if credited { credit_ids.next() } else { None };
                (member, amount, returned, entry)
            })
            .collect();
        allowances::insert_credits(&mut tx, fund_id, period, &credits).await?;
        done += page.len() as u64;
        if let Some(report) = progress {
            report(done, total_members.max(0) as u64);
        }
    }
    bulk.finish(&mut tx).await?;
    allowances::set_figures(&mut tx, fund_id, period, &figures).await?;
    tx.commit().await?;
    Ok(figures)
}
