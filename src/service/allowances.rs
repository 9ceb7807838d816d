//! Monthly allowance issuance.

use crate::domain::household::Household;
use crate::domain::ledger::{AccountCode, EntryBuilder, General, Journal, NewEntry};
use crate::domain::member::Period;
use crate::domain::settings::{AllowanceSettings, FundSettings};
use crate::domain::{Cents, FundId};
use crate::service::chunked::{self, ChunkedBatch};
use crate::service::error::ServiceError;
use crate::store::allowances::{self, Eligible, IssuanceFigures};
use crate::store::batches::Batch;
use crate::store::ledger::Bulk;
use crate::store::{Db, Tx};
use chrono::NaiveDate;

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
///
/// The members are credited in chunks of [`CHUNK`], each in a transaction of its own that also
/// records how far the issuance went. The tills keep working meanwhile (a chunk holds its
/// members' accounts for a fraction of a second, not the whole fund for the whole issuance),
/// and an issuance cut short (crash, restart) is finished by the next call for the period,
/// by the rules it started with. Concurrent calls take the chunks in turn and all answer the
/// final figures.
#[tracing::instrument(skip(db, progress))]
pub async fn issue(
    db: &Db,
    fund_id: &FundId,
    period: Period,
    progress: Option<Progress<'_>>,
) -> Result<IssuanceFigures, ServiceError> {
    let done = issue_in_chunks(db, fund_id, period, CHUNK, None, progress).await?;
    done.ok_or_else(|| ServiceError::internal("issuance stopped before its end"))
}

/// [`issue`] with a chunk size of `chunk` members, stopping after `max_chunks` chunks when
/// given (`None` is then the answer unless the issuance completed): how the tests cut an
/// issuance short, as a crash would.
pub async fn issue_in_chunks(
    db: &Db,
    fund_id: &FundId,
    period: Period,
    chunk: i64,
    max_chunks: Option<usize>,
    progress: Option<Progress<'_>>,
) -> Result<Option<IssuanceFigures>, ServiceError> {
    let job = Issuance {
        fund_id,
        period,
        date: period.first_day(),
        labels: Labels {
            credit: format!("Allocation {period}"),
            cap: format!("Plafond de solde : retour à la caisse ({period})"),
        },
        total_members: 0,
        progress,
    };
    chunked::run(db, fund_id, period, job, chunk, max_chunks).await
}

/// What an issuance did (or, for a period issued before, what the first issuance did).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IssuanceSummary {
    pub period: Period,
    /// Active members who received an allowance.
    pub members_credited: i64,
    /// Allowances credited.
    pub total: Cents,
    /// Sent back to the common pot because balances would have passed the cap.
    pub returned_by_cap: Cents,
}

/// [`issue`] on a task of its own: a client that gives up waiting (a large fund takes a while)
/// does not stop the issuance half-way; asking again joins it and answers the final figures.
pub async fn issue_allowances(
    db: &Db,
    fund_id: &FundId,
    period: Period,
) -> Result<IssuanceSummary, ServiceError> {
    let (db, fund) = (db.clone(), fund_id.clone());
    let f = tokio::spawn(async move { issue(&db, &fund, period, None).await })
        .await
        .map_err(ServiceError::internal)??;
    let c = |v: i64| Cents::from_cents(v).map_err(ServiceError::internal);
    Ok(IssuanceSummary {
        period,
        members_credited: f.members_credited,
        total: c(f.total)?,
        returned_by_cap: c(f.returned_by_cap)?,
    })
}

/// One run of an issuance, for the chunk driver.
struct Issuance<'a> {
    fund_id: &'a str,
    period: Period,
    date: NaiveDate,
    labels: Labels,
    /// Active members when the run started, for the progress bar.
    total_members: u64,
    progress: Option<Progress<'a>>,
}

struct Labels {
    credit: String,
    cap: String,
}

impl ChunkedBatch for Issuance<'_> {
    const BATCH: Batch = Batch::Issuance;
    const WITHOUT_RULES: &'static str = "unfinished issuance without its rules";
    type Rules = AllowanceSettings;
    type Member = Eligible;
    type Figures = IssuanceFigures;

    fn rules(settings: &FundSettings) -> &AllowanceSettings {
        &settings.allowance
    }
    fn figures(columns: &[i64]) -> IssuanceFigures {
        IssuanceFigures::from_columns(columns)
    }
    fn columns(figures: &IssuanceFigures) -> Vec<i64> {
        figures.columns().to_vec()
    }
    fn member_id(member: &Eligible) -> &str {
        &member.member_id
    }

    async fn claimed(&mut self, tx: &mut Tx) -> Result<(), ServiceError> {
        self.total_members = allowances::count_active(tx, self.fund_id).await?.max(0) as u64;
        Ok(())
    }

    async fn page(
        &self,
        tx: &mut Tx,
        after: &str,
        claimed_at: i64,
        limit: i64,
    ) -> Result<Vec<Eligible>, ServiceError> {
        Ok(allowances::eligible_page(tx, self.fund_id, after, claimed_at, limit).await?)
    }

    async fn write(
        &self,
        tx: &mut Tx,
        rules: &AllowanceSettings,
        page: &[Eligible],
        figures: &mut IssuanceFigures,
    ) -> Result<(), ServiceError> {
        credit_chunk(tx, self, rules, page, figures).await
    }

    fn progress(&self, done: u64) {
        if let Some(report) = self.progress {
            report(done.min(self.total_members), self.total_members);
        }
    }
}

/// One member's credit under `rules`, and what the balance cap sends back to the pot (cents):
/// their entries (6571 / 467 member, then 467 member / 6571 for the excess) go onto `entries`.
fn credit_of(
    job: &Issuance<'_>,
    rules: &AllowanceSettings,
    m: &Eligible,
    entries: &mut Vec<NewEntry>,
) -> Result<(Cents, i64), ServiceError> {
    let (period, date, labels) = (job.period, job.date, &job.labels);
    let pot = AccountCode::general(General::AllowancesGranted);
    let household = u32::try_from(m.adults)
        .ok()
        .zip(u32::try_from(m.children).ok())
        .and_then(|(a, c)| Household::new(a, c))
        .ok_or_else(|| ServiceError::internal(format!("member {} household", m.member_id)))?;
    let amount = rules.monthly_amount(household).unwrap_or(Cents::ZERO);
    let after_credit = m.balance + amount.cents();
    let returned = rules
        .balance_cap
        .map(|cap| (after_credit - cap.cents()).max(0))
        .unwrap_or(0);
    let account = AccountCode::auxiliary(General::AllowanceBalances, &m.account_ref);
    if !amount.is_zero() {
        entries.push(
            EntryBuilder::new(Journal::Allowances, "allowance", date, &labels.credit)
                .reference(format!("{period}-{}", m.account_ref))
                .debit(pot.clone(), amount)
                .credit(account.clone(), amount)
                .build()
                .map_err(ServiceError::internal)?,
        );
    }
    if returned > 0 {
        let back = Cents::from_cents(returned).map_err(ServiceError::internal)?;
        entries.push(
            EntryBuilder::new(
                Journal::Allowances,
                "allowance_cap_return",
                date,
                &labels.cap,
            )
            .reference(format!("{period}-{}", m.account_ref))
            .debit(account, back)
            .credit(pot, back)
            .build()
            .map_err(ServiceError::internal)?,
        );
    }
    Ok((amount, returned))
}

/// Credits one chunk of members in the caller's transaction and adds them to `figures`.
async fn credit_chunk(
    tx: &mut Tx,
    job: &Issuance<'_>,
    rules: &AllowanceSettings,
    page: &[Eligible],
    figures: &mut IssuanceFigures,
) -> Result<(), ServiceError> {
    let (fund_id, period) = (job.fund_id, job.period);
    let mut entries: Vec<NewEntry> = Vec::with_capacity(page.len());
    let mut rows = Vec::with_capacity(page.len());
    for m in page {
        let (amount, returned) = credit_of(job, rules, m, &mut entries)?;
        let credit_entry = !amount.is_zero();
        rows.push((m.member_id.clone(), amount.cents(), returned, credit_entry));
        figures.members_credited += i64::from(credit_entry);
        figures.total += amount.cents();
        figures.returned_by_cap += returned;
    }
    let mut bulk = Bulk::begin(tx, fund_id).await?;
    // The credit entries' ids, in order, for the members who got one.
    let ids = bulk.add(tx, &entries).await?;
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
    allowances::insert_credits(tx, fund_id, period, &credits).await?;
    bulk.finish(tx).await?;
    Ok(())
}
