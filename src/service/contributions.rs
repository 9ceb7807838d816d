//! Contribution calls, payments and the coverage simulator.

use chrono::NaiveDate;
use futures_util::FutureExt;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::caller::Caller;
use crate::domain::household::Household;
use crate::domain::ledger::{AccountCode, EntryBuilder, General, Journal, NewEntry};
use crate::domain::member::{MemberStatus, PaymentMethod, Period};
use crate::domain::settings::{AllowanceSettings, ContributionScale, FundSettings};
use crate::domain::{new_id, Cents};
use crate::domain::{ErrorCode, FieldError, FundId, MemberId, Role};
use crate::service::chunked::{self, ChunkedBatch};
use crate::service::error::ServiceError;
use crate::service::idempotent::{self, IdempotencyError, IdempotencyKey, Recorded};
use crate::store::batches::Batch;
use crate::store::contributions::{self, Payment, PeriodFigures};
use crate::store::ledger::{self, Bulk};
use crate::store::members;
use crate::store::{funds, Db, Tx};

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
pub async fn call(
    db: &Db,
    fund_id: &FundId,
    period: Period,
) -> Result<PeriodFigures, ServiceError> {
    let done = call_in_chunks(db, fund_id, period, CHUNK, None).await?;
    done.ok_or_else(|| ServiceError::internal("call stopped before its end"))
}

/// [`call`] with chunks of `chunk` members, stopping after `max_chunks` chunks when given
/// (`None` is then the answer unless the call completed): how the tests cut a call short.
pub async fn call_in_chunks(
    db: &Db,
    fund_id: &FundId,
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

/// What a call did (or, for a period called before, what the first call did).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallSummary {
    pub period: Period,
    pub members_called: i64,
    pub total: Cents,
}

/// [`call`], on a task of its own, as an issuance: a client that stops waiting (an API client,
/// a browser) does not stop it half-way; asking again joins it and answers the final figures.
pub async fn call_contributions(
    db: &Db,
    fund_id: &FundId,
    period: Period,
) -> Result<CallSummary, ServiceError> {
    let (db, fund) = (db.clone(), fund_id.clone());
    let figures = tokio::spawn(async move { call(&db, &fund, period).await })
        .await
        .map_err(ServiceError::internal)??;
    Ok(CallSummary {
        period,
        members_called: figures.members_called,
        total: Cents::from_cents(figures.total).map_err(ServiceError::internal)?,
    })
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

/// A payment as the treasurer states it, before its checks: what the idempotency key is bound
/// to (its serde form is hashed with the route).
#[derive(Clone, Debug, Serialize)]
pub struct PaymentRequest {
    pub member_id: MemberId,
    pub amount: Cents,
    /// transfer, cash, cheque, card or direct_debit.
    pub method: String,
    pub paid_on: NaiveDate,
    /// The bank's or the receipt's reference.
    pub reference: Option<String>,
}

/// A recorded payment. Its serde form is the API's answer, stored with the key and replayed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = PaymentView)]
pub struct RecordedPayment {
    pub id: String,
    pub member_id: MemberId,
    pub amount: Cents,
    pub method: PaymentMethod,
    #[schema(value_type = String, example = "2026-11-05")]
    pub paid_on: NaiveDate,
    pub reference: Option<String>,
    pub entry_id: i64,
}

/// Why a payment is not recorded.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// A payment of nothing: `amount_invalid` on `amount`, alone.
    #[error("amount: must be greater than zero")]
    AmountNotPositive,
    /// The method, the day or the reference at fault, each named: `validation_failed`.
    #[error("{}", describe(.0))]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Idempotency(#[from] IdempotencyError),
    /// No such member (`member_not_found` on `member_id`), a caller without the role, or the
    /// store failing.
    #[error(transparent)]
    Other(#[from] ServiceError),
}

fn describe(errors: &[FieldError]) -> String {
    let parts: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect();
    parts.join("; ")
}

impl From<sqlx::Error> for PaymentError {
    fn from(e: sqlx::Error) -> Self {
        PaymentError::Other(e.into())
    }
}

/// A payment's refusal, with the codes the API has always answered for it.
impl From<PaymentError> for ServiceError {
    fn from(e: PaymentError) -> Self {
        match e {
            e @ PaymentError::AmountNotPositive => {
                ServiceError::field(ErrorCode::AmountInvalid, "amount", e.to_string())
            }
            PaymentError::Invalid(errors) => ServiceError::invalid(errors),
            PaymentError::Idempotency(e) => e.into(),
            PaymentError::Other(e) => e,
        }
    }
}

/// A payment that passed its checks.
#[derive(Debug)]
struct CheckedPayment {
    method: PaymentMethod,
    reference: Option<String>,
}

/// The references a bank or a receipt gives fit in 140 characters (SEPA's remittance field).
const MAX_REFERENCE: usize = 140;

/// An amount above zero, a known method, a day no later than tomorrow (a payment recorded
/// just after midnight elsewhere), a reference of at most 140 characters (blank is none).
fn check_payment(req: &PaymentRequest, today: NaiveDate) -> Result<CheckedPayment, PaymentError> {
    if req.amount.is_zero() {
        return Err(PaymentError::AmountNotPositive);
    }
    let mut errors = Vec::new();
    let method = req.method.parse::<PaymentMethod>().ok();
    if method.is_none() {
        errors.push(FieldError::new(
            "method",
            "one of transfer, cash, cheque, card, direct_debit",
        ));
    }
    if req.paid_on > today + chrono::Days::new(1) {
        errors.push(FieldError::new("paid_on", "must not be in the future"));
    }
    let reference = req
        .reference
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string);
    if reference
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_REFERENCE)
    {
        errors.push(FieldError::new("reference", "at most 140 characters"));
    }
    match method {
        Some(method) if errors.is_empty() => Ok(CheckedPayment { method, reference }),
        _ => Err(PaymentError::Invalid(errors)),
    }
}

/// The route a payment's key is bound to (the API's, for the pages as well: one key space).
const PAYMENT_ROUTE: &str = "POST /api/v1/contributions/payments";

/// Records a member's payment (admin, treasurer) once per idempotency key: the same key with
/// the same request answers the first payment again, marked as a replay, and records nothing.
pub async fn record_dues_payment(
    db: &Db,
    caller: &Caller,
    key: &IdempotencyKey,
    req: PaymentRequest,
) -> Result<Recorded<RecordedPayment>, PaymentError> {
    caller
        .require(&[Role::Admin, Role::Treasurer])
        .map_err(ServiceError::from)?;
    let checked = check_payment(&req, crate::domain::today())?;
    let fund = caller.fund().clone();
    let request = req.clone();
    idempotent::run(db, caller, key, PAYMENT_ROUTE, &request, move |tx| {
        async move {
            let p = record_payment(
                tx,
                &fund,
                &req.member_id,
                req.amount,
                checked.method.as_str(),
                req.paid_on,
                checked.reference,
            )
            .await?;
            Ok(RecordedPayment {
                amount: Cents::from_cents(p.amount).map_err(ServiceError::internal)?,
                id: p.id,
                member_id: MemberId::new(p.member_id),
                method: checked.method,
                paid_on: req.paid_on,
                reference: p.reference,
                entry_id: p.entry_id,
            })
        }
        .boxed()
    })
    .await
}

/// Records a member's payment in the caller's transaction: 512 Banque / 411 member. Paying
/// more than is due leaves a credit on 411 that the next dues use. `method` is one of
/// [`PaymentMethod`]'s words.
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
    let label = method
        .parse::<PaymentMethod>()
        .map_or("prélèvement", PaymentMethod::label);
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

/// One member owing dues of past periods.
#[derive(Clone, Debug)]
pub struct Arrear {
    pub member_id: MemberId,
    pub number: i64,
    pub payment_reference: String,
    /// `None` for a member who has left.
    pub full_name: Option<String>,
    pub status: MemberStatus,
    /// Owed for periods before the current one.
    pub arrears: Cents,
    /// Owed in all, the current period included.
    pub outstanding: Cents,
    /// The oldest period not covered by payments.
    pub oldest_unpaid_period: Option<Period>,
}

/// Who owes dues of periods before `period`, largest first.
#[derive(Clone, Debug)]
pub struct Arrears {
    pub period: Period,
    pub total: Cents,
    pub items: Vec<Arrear>,
}

/// Members with unpaid dues of periods before `period` (default: this month).
pub async fn arrears(
    db: &Db,
    fund_id: &FundId,
    period: Option<Period>,
) -> Result<Arrears, ServiceError> {
    let period = period.unwrap_or_else(|| Period::of(crate::domain::today()));
    let rows = contributions::arrears(db, fund_id, period).await?;
    let c = |v: i64| Cents::from_cents(v.max(0)).map_err(ServiceError::internal);
    let total = c(rows.iter().map(|r| r.dues.arrears()).sum())?;
    let items = rows
        .into_iter()
        .map(|r| {
            Ok(Arrear {
                arrears: c(r.dues.arrears())?,
                outstanding: c(r.dues.outstanding())?,
                member_id: MemberId::new(r.member_id),
                number: r.number,
                payment_reference: r.payment_reference,
                full_name: r.full_name,
                status: r.status.parse().map_err(|()| {
                    ServiceError::internal(format!("member status {:?}", r.status))
                })?,
                oldest_unpaid_period: r
                    .oldest_unpaid
                    .map(|p| p.parse().map_err(ServiceError::internal))
                    .transpose()?,
            })
        })
        .collect::<Result<Vec<_>, ServiceError>>()?;
    Ok(Arrears {
        period,
        total,
        items,
    })
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
pub async fn current_members(
    db: &Db,
    fund_id: &FundId,
) -> Result<Vec<SimulatedMember>, ServiceError> {
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

/// A household of a simulation as a client states it, before its checks.
#[derive(Clone, Debug)]
pub struct SimulatedHousehold {
    pub adults: i64,
    pub children: i64,
    pub monthly_income: Option<Cents>,
    pub chosen_contribution: Option<Cents>,
}

/// A scale to try, on given households or the fund's active members, with given allowance
/// settings or the fund's.
#[derive(Clone, Debug)]
pub struct ScaleTrial {
    pub contribution_scale: ContributionScale,
    pub members: Option<Vec<SimulatedHousehold>>,
    pub allowance: Option<AllowanceSettings>,
}

/// Does the fund hold? The month's figures of a [`ScaleTrial`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coverage {
    pub members: i64,
    pub total_contributions: Cents,
    pub total_allowances: Cents,
    /// Contributions ÷ allowances, 4 decimals; `None` when no allowance is paid.
    pub coverage_ratio: Option<Decimal>,
    /// What subsidies must bring each month for the allowances to be paid.
    pub subsidy_needed: Cents,
}

/// At most this many households in one simulation: a bound on a client's input.
const MAX_SIMULATED: usize = 100_000;

/// The households of a trial, each checked; the errors name `members[i].household`.
fn households(list: Vec<SimulatedHousehold>, errors: &mut Vec<FieldError>) -> Vec<SimulatedMember> {
    if list.len() > MAX_SIMULATED {
        errors.push(FieldError::new("members", "at most 100000 households"));
    }
    let mut out = Vec::with_capacity(list.len().min(MAX_SIMULATED));
    for (i, m) in list.into_iter().enumerate() {
        let h = u32::try_from(m.adults)
            .ok()
            .zip(u32::try_from(m.children).ok())
            .and_then(|(a, c)| Household::new(a, c));
        match h {
            Some(household) => out.push(SimulatedMember {
                household,
                monthly_income: m.monthly_income,
                chosen_contribution: m.chosen_contribution,
            }),
            None => errors.push(FieldError::new(
                format!("members[{i}].household"),
                "at least one adult, no negative count, at most 30 people",
            )),
        }
    }
    out
}

/// What a scale would raise against what the allowances cost, for the trial's households or
/// the fund's active members.
pub async fn try_scale(
    db: &Db,
    fund_id: &FundId,
    trial: ScaleTrial,
) -> Result<Coverage, ServiceError> {
    let mut errors = Vec::new();
    trial
        .contribution_scale
        .validate("contribution_scale", &mut errors);
    let members = match trial.members {
        Some(list) => households(list, &mut errors),
        None => current_members(db, fund_id).await?,
    };
    if !errors.is_empty() {
        return Err(ServiceError::invalid(errors));
    }
    let allowance = match trial.allowance {
        Some(a) => a,
        None => funds::settings(db, fund_id).await?.allowance,
    };
    let s = simulate(&trial.contribution_scale, &allowance, &members);
    let c = |v: i64| Cents::from_cents(v.max(0)).map_err(ServiceError::internal);
    Ok(Coverage {
        members: s.members,
        total_contributions: c(s.total_contributions)?,
        total_allowances: c(s.total_allowances)?,
        coverage_ratio: s.coverage_ratio,
        subsidy_needed: c(s.total_allowances - s.total_contributions)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(
        amount: &str,
        method: &str,
        paid_on: &str,
        reference: Option<&str>,
    ) -> PaymentRequest {
        PaymentRequest {
            member_id: MemberId::new("mem_1"),
            amount: amount.parse().unwrap(),
            method: method.to_string(),
            paid_on: paid_on.parse().unwrap(),
            reference: reference.map(str::to_string),
        }
    }

    fn fields(e: PaymentError) -> (ErrorCode, Vec<String>) {
        let e = ServiceError::from(e);
        let code = e.code();
        (code, e.fields().iter().map(|f| f.field.clone()).collect())
    }

    #[test]
    fn a_payment_is_checked_before_it_is_recorded() {
        let today: NaiveDate = "2026-11-10".parse().unwrap();
        let ok = check_payment(&request("5.00", "cash", "2026-11-11", Some("  ")), today).unwrap();
        assert_eq!(ok.method, PaymentMethod::Cash);
        assert_eq!(ok.reference, None, "a blank reference is none");
        let e = check_payment(&request("0.00", "bitcoin", "2099-01-01", None), today).unwrap_err();
        assert_eq!(fields(e), (ErrorCode::AmountInvalid, vec!["amount".into()]));
        let long = "x".repeat(141);
        let e = check_payment(
            &request("1.00", "bitcoin", "2026-11-12", Some(&long)),
            today,
        )
        .unwrap_err();
        assert_eq!(
            fields(e),
            (
                ErrorCode::ValidationFailed,
                vec!["method".into(), "paid_on".into(), "reference".into()]
            )
        );
    }

    #[test]
    fn a_recorded_payment_is_the_apis_answer_on_the_wire() {
        let p = RecordedPayment {
            id: "pay_1".into(),
            member_id: MemberId::new("mem_1"),
            amount: "40.00".parse().unwrap(),
            method: PaymentMethod::DirectDebit,
            paid_on: "2026-11-05".parse().unwrap(),
            reference: None,
            entry_id: 7,
        };
        let wire = serde_json::to_value(&p).unwrap();
        assert_eq!(
            wire,
            serde_json::json!({"id": "pay_1", "member_id": "mem_1", "amount": "40.00",
                "method": "direct_debit", "paid_on": "2026-11-05", "reference": null,
                "entry_id": 7})
        );
        assert_eq!(serde_json::from_value::<RecordedPayment>(wire).unwrap(), p);
    }
}
