//! Contribution calls, payments and the coverage simulator.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::domain::household::Household;
use crate::domain::ledger::{AccountCode, EntryBuilder, General, Journal, NewEntry};
use crate::domain::member::{MemberStatus, Period};
use crate::domain::settings::{AllowanceSettings, ContributionScale, FundSettings};
use crate::domain::ErrorCode;
use crate::domain::{new_id, Cents};
use crate::service::chunked::{self, ChunkedBatch};
use crate::service::error::ServiceError;
use crate::store::batches::Batch;
use crate::store::contributions::{self, Payment, PeriodFigures};
use crate::store::ledger::{self, Bulk};
use crate::store::members;
use crate::store::{Db, Tx};

/// Members read and called per chunk: bounded memory whatever the size of the fund.
const CHUNK: i64 = 10_000;

/// Calls every active member's dues for `period`, at the amount the fund's current scale
/// gives them: one ledger entry per member (411 member / 756) and a row in
/// `contribution_calls` that never changes afterwards. Calling a period again creates
/// nothing and answers the first call's figures, also when two calls race.
///
/// Like an allowance issuance, the members are called in chunks of [`CHUNK`], each in a
/// transaction of its own that records how far the call went: the tills keep working during a
/// large call, and a call cut short is finished by the next one, by the scale it started with.
#[tracing::instrument(skip(db))]
pub async fn call(db: &Db, fund_id: &str, period: Period) -> Result<PeriodFigures, ServiceError> {
    let done = call_in_chunks(db, fund_id, period, CHUNK, None).await?;
    done.ok_or_else(|| ServiceError::internal("call stopped before its end"))
}

/// [`call`] with chunks of `chunk` members, stopping after `max_chunks` chunks when given
/// (`None` is then the answer unless the call completed): how the tests cut a call short.
pub async fn call_in_chunks(
    db: &Db,
    fund_id: &str,
    period: Period,
    chunk: i64,
    max_chunks: Option<usize>,
) -> Result<Option<PeriodFigures>, ServiceError> {
    let job = Call {
        fund_id,
        period,
        date: period.first_day(),
        label: format!("Cotisation {period}"),
    };
    chunked::run(db, fund_id, period, job, chunk, max_chunks).await
}

/// One run of a contribution call, for the chunk driver.
struct Call<'a> {
    fund_id: &'a str,
    period: Period,
    date: NaiveDate,
    label: String,
}

impl ChunkedBatch for Call<'_> {
    const BATCH: Batch = Batch::Call;
    const WITHOUT_RULES: &'static str = "unfinished call without its scale";
    type Rules = ContributionScale;
    type Member = members::Member;
    type Figures = PeriodFigures;

    fn rules(settings: &FundSettings) -> &ContributionScale {
        &settings.contribution_scale
    }
    fn figures(columns: &[i64]) -> PeriodFigures {
        PeriodFigures::from_columns(columns)
    }
    fn columns(figures: &PeriodFigures) -> Vec<i64> {
        figures.columns().to_vec()
    }
    fn member_id(member: &members::Member) -> &str {
        &member.id
    }

    async fn page(
        &self,
        tx: &mut Tx,
        after: &str,
        claimed_at: i64,
        limit: i64,
    ) -> Result<Vec<members::Member>, ServiceError> {
        Ok(members::active_page(tx, self.fund_id, after, claimed_at, limit).await?)
    }

    /// One entry per member owing something (411 member / 756) and a call row for each.
    async fn write(
        &self,
        tx: &mut Tx,
        scale: &ContributionScale,
        page: &[members::Member],
        figures: &mut PeriodFigures,
    ) -> Result<(), ServiceError> {
        let mut entries: Vec<NewEntry> = Vec::with_capacity(page.len());
        let mut amounts = Vec::with_capacity(page.len());
        for m in page {
            let amount = scale.contribution(m.household, m.monthly_income, m.chosen_contribution);
            amounts.push(amount);
            if !amount.is_zero() {
                entries.push(
                    EntryBuilder::new(
                        Journal::Contributions,
                        "contribution_call",
                        self.date,
                        &self.label,
                    )
                    .reference(format!("{}-{}", self.period, m.account_ref))
                    .debit(m.contribution_account(), amount)
                    .credit(AccountCode::general(General::Contributions), amount)
                    .build()
                    .map_err(ServiceError::internal)?,
                );
            }
        }
        let mut bulk = Bulk::begin(tx, self.fund_id).await?;
        let mut ids = bulk.add(tx, &entries).await?.into_iter();
        let calls: Vec<(String, i64, Option<i64>)> = page
            .iter()
            .zip(&amounts)
            .map(|(m, a)| {
                let entry = if a.is_zero() { None } else { ids.next() };
                (m.id.clone(), a.cents(), entry)
            })
            .collect();
        contributions::insert_calls(tx, self.fund_id, self.period, &calls).await?;
        bulk.finish(tx).await?;
        figures.members_called += page.len() as i64;
        figures.total += amounts.iter().map(|a| a.cents()).sum::<i64>();
        Ok(())
    }
}

pub const METHODS: [&str; 5] = ["transfer", "cash", "cheque", "card", "direct_debit"];

/// Records a member's payment: 512 Banque / 411 member. Paying more than is due leaves a
/// credit on 411 that the next dues use.
pub async fn record_payment(
    tx: &mut Tx,
    fund_id: &str,
    member_id: &str,
    amount: Cents,
    method: &str,
    paid_on: NaiveDate,
    reference: Option<String>,
) -> Result<Payment, ServiceError> {
    let member = members::get(tx, fund_id, member_id).await?.ok_or_else(|| {
        ServiceError::field(ErrorCode::MemberNotFound, "member_id", "no such member")
    })?;
    let label = match method {
        "transfer" => "virement",
        "cash" => "espèces",
        "cheque" => "chèque",
        "card" => "carte",
        _ => "prélèvement",
    };
    let entry = EntryBuilder::new(
        Journal::Bank,
        "contribution_payment",
        paid_on,
        &format!("Cotisation {} ({label})", member.account_ref),
    )
    .reference(
        reference
            .clone()
            .unwrap_or_else(|| member.payment_reference.clone()),
    )
    .debit(AccountCode::general(General::Bank), amount)
    .credit(member.contribution_account(), amount)
    .build()
    .map_err(ServiceError::internal)?;
    let posted = ledger::post(tx, fund_id, &entry).await?;
    let payment = Payment {
        id: new_id("pay"),
        member_id: member.id,
        amount: amount.cents(),
        method: method.to_string(),
        paid_on: paid_on.to_string(),
        reference,
        entry_id: posted.entry_id,
    };
    contributions::insert_payment(tx, fund_id, &payment).await?;
    Ok(payment)
}

/// One household in a simulation.
#[derive(Clone, Debug)]
pub struct SimulatedMember {
    pub household: Household,
    pub monthly_income: Option<Cents>,
    pub chosen_contribution: Option<Cents>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Simulation {
    pub members: i64,
    pub total_contributions: i64,
    pub total_allowances: i64,
    /// Contributions ÷ allowances, 4 decimals; `None` when no allowance is paid.
    pub coverage_ratio: Option<Decimal>,
}

/// What a scale would raise each month against what the allowances cost.
pub fn simulate(
    scale: &ContributionScale,
    allowance: &AllowanceSettings,
    members: &[SimulatedMember],
) -> Simulation {
    let (mut contributions, mut allowances) = (0i64, 0i64);
    for m in members {
        contributions += scale
            .contribution(m.household, m.monthly_income, m.chosen_contribution)
            .cents();
        allowances += allowance
            .monthly_amount(m.household)
            .map(Cents::cents)
            .unwrap_or(0);
    }
    let coverage_ratio = (allowances > 0)
        .then(|| (Decimal::from(contributions) / Decimal::from(allowances)).round_dp(4));
    Simulation {
        members: members.len() as i64,
        total_contributions: contributions,
        total_allowances: allowances,
        coverage_ratio,
    }
}

/// The fund's active members as simulation input.
pub async fn current_members(db: &Db, fund_id: &str) -> Result<Vec<SimulatedMember>, ServiceError> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = members::list(
            db,
            fund_id,
            Some(MemberStatus::Active),
            cursor.as_deref(),
            CHUNK,
        )
        .await?;
        let Some(last) = page.last() else { break };
        cursor = Some(last.id.clone());
        out.extend(page.into_iter().map(|m| SimulatedMember {
            household: m.household,
            monthly_income: m.monthly_income,
            chosen_contribution: m.chosen_contribution,
        }));
    }
    Ok(out)
}
