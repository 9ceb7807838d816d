//! The resumable chunk driver of the monthly batches that reach every member (contribution
//! calls, allowance issuance). The period is claimed with the rules it will run by; then each
//! chunk, in a transaction of its own, locks the batch, takes the next members after the last
//! one done, writes them and records the running figures and how far it went. The tills keep
//! working meanwhile (a chunk holds its members' accounts for a fraction of a second, not the
//! whole fund for the whole batch); a batch cut short (crash, restart) is finished by the next
//! run for the period, by the rules it started with; concurrent runs take the chunks in turn
//! and all answer the final figures.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::domain::member::Period;
use crate::domain::settings::FundSettings;
use crate::service::error::ServiceError;
use crate::store::batches::{self, Batch};
use crate::store::{funds, Db, Tx};

/// One kind of monthly batch: where its members come from and how a chunk of them is written.
pub(crate) trait ChunkedBatch {
    const BATCH: Batch;
    /// The internal error when a started batch has lost its rules.
    const WITHOUT_RULES: &'static str;
    /// The rules the batch runs by, kept with the period until it completes.
    type Rules: Serialize + DeserializeOwned;
    type Member;
    /// The running figures, stored as the columns of [`Batch::figure_columns`].
    type Figures;

    fn rules(settings: &FundSettings) -> &Self::Rules;
    fn figures(columns: &[i64]) -> Self::Figures;
    fn columns(figures: &Self::Figures) -> Vec<i64>;
    fn member_id(member: &Self::Member) -> &str;

    /// Runs in the claim's transaction, whether or not this run claimed the period.
    async fn claimed(&mut self, _tx: &mut Tx) -> Result<(), ServiceError> {
        Ok(())
    }

    /// Up to `limit` members after `after` (in id order) who were members at `claimed_at`.
    async fn page(
        &self,
        tx: &mut Tx,
        after: &str,
        claimed_at: i64,
        limit: i64,
    ) -> Result<Vec<Self::Member>, ServiceError>;

    /// Writes one chunk in the caller's transaction and adds it to `figures`.
    async fn write(
        &self,
        tx: &mut Tx,
        rules: &Self::Rules,
        page: &[Self::Member],
        figures: &mut Self::Figures,
    ) -> Result<(), ServiceError>;

    /// After each committed chunk: `done` members written by this run so far.
    fn progress(&self, _done: u64) {}
}

/// Runs `job` for `period` in chunks of `chunk` members, stopping after `max_chunks` chunks
/// when given (`None` is then the answer unless the batch completed): how the tests cut a
/// batch short, as a crash would.
pub(crate) async fn run<J: ChunkedBatch>(
    db: &Db,
    fund_id: &str,
    period: Period,
    mut job: J,
    chunk: i64,
    max_chunks: Option<usize>,
) -> Result<Option<J::Figures>, ServiceError> {
    let settings = funds::settings(db, fund_id).await?;
    let rules_json = serde_json::to_string(J::rules(&settings)).map_err(ServiceError::internal)?;
    let mut tx = db.begin().await?;
    batches::claim(&mut tx, J::BATCH, fund_id, period, &rules_json).await?;
    job.claimed(&mut tx).await?;
    tx.commit().await?;
    let mut done = 0u64;
    let mut chunks = 0usize;
    loop {
        if max_chunks.is_some_and(|max| chunks >= max) {
            return Ok(None);
        }
        chunks += 1;
        let mut tx = db.begin().await?;
        let state = batches::lock(&mut tx, J::BATCH, fund_id, period)
            .await?
            .ok_or_else(|| ServiceError::internal("claimed period disappeared"))?;
        if state.completed {
            tx.rollback().await?;
            return Ok(Some(J::figures(&state.figures)));
        }
        // The rules the batch started with (kept with every period it did not finish).
        let rules: J::Rules = state
            .settings
            .as_deref()
            .map(serde_json::from_str)
            .ok_or_else(|| ServiceError::internal(J::WITHOUT_RULES))?
            .map_err(ServiceError::internal)?;
        let page = job
            .page(&mut tx, &state.resume_after, state.claimed_at, chunk)
            .await?;
        let Some(last) = page.last() else {
            batches::complete(&mut tx, J::BATCH, fund_id, period).await?;
            tx.commit().await?;
            return Ok(Some(J::figures(&state.figures)));
        };
        let last = J::member_id(last).to_string();
        let mut figures = J::figures(&state.figures);
        job.write(&mut tx, &rules, &page, &mut figures).await?;
        let columns = J::columns(&figures);
        batches::advance(&mut tx, J::BATCH, fund_id, period, &columns, &last).await?;
        tx.commit().await?;
        done += page.len() as u64;
        job.progress(done);
    }
}
