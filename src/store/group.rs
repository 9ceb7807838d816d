//! Group commit for SQLite (see [`Db::write`]).
//!
//! SQLite has one writer, and with `synchronous=FULL` each commit waits for an fsync of the WAL:
//! one payment per commit caps a fund at about a thousand payments a second on a good disk,
//! whatever the CPU. Here one writer task takes the work queued by concurrent callers, runs
//! each piece in a SAVEPOINT of a single `BEGIN IMMEDIATE` transaction and commits once for all
//! of them. A caller is answered only after that commit, so an acknowledged payment is as
//! durable as before; a piece of work that fails is rolled back to its savepoint and leaves the
//! others untouched. Nothing waits for company: the writer takes whatever queued up while the
//! previous commit was syncing, so a lone request is committed at once.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot};

use super::{Db, Tx};

/// The most callers one commit answers: bounds what a batch adds to its first caller's wait.
const MAX_BATCH: usize = 64;
/// Work waiting for the writer; beyond this, callers wait to queue (back pressure).
const QUEUE: usize = 1024;

/// How a job ended inside the shared transaction.
pub(super) struct Ran {
    /// False when the shared transaction can no longer be trusted (a savepoint statement
    /// failed): the whole batch is rolled back and every caller gets an error.
    healthy: bool,
    /// Answers the caller once the outcome of the commit is known.
    answer: Box<dyn FnOnce(Result<(), String>) + Send>,
}

pub(super) type Job = Box<dyn for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Ran> + Send>;

/// What the writer has done so far: commits, and pieces of work they carried.
#[derive(Default)]
pub struct Stats {
    commits: AtomicU64,
    jobs: AtomicU64,
}

impl Stats {
    /// `(commits, jobs)`.
    pub fn read(&self) -> (u64, u64) {
        (
            self.commits.load(Ordering::Relaxed),
            self.jobs.load(Ordering::Relaxed),
        )
    }
}

/// The writer's queue, and its figures.
#[derive(Clone)]
pub(super) struct Group {
    pub(super) queue: mpsc::Sender<Job>,
    pub(super) stats: Arc<Stats>,
}

/// Starts the writer task of `db` (whose own `group` is empty: the writer writes directly).
pub(super) fn spawn(db: Db) -> Group {
    let (queue, jobs) = mpsc::channel(QUEUE);
    let stats = Arc::new(Stats::default());
    tokio::spawn(writer(db, jobs, stats.clone()));
    Group { queue, stats }
}

async fn writer(db: Db, mut jobs: mpsc::Receiver<Job>, stats: Arc<Stats>) {
    while let Some(first) = jobs.recv().await {
        let mut tx = match db.begin().await {
            Ok(tx) => tx,
            Err(e) => {
                // Dropping the job answers its caller with an error.
                tracing::error!(error = %e, "group commit: cannot begin a transaction");
                drop(first);
                continue;
            }
        };
        let mut answers = Vec::new();
        let mut healthy = true;
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match AssertUnwindSafe(job(&mut tx)).catch_unwind().await {
                Ok(ran) => {
                    healthy &= ran.healthy;
                    answers.push(ran.answer);
                }
                Err(_) => {
                    tracing::error!("group commit: a job panicked; its batch is rolled back");
                    healthy = false;
                }
            }
            if !healthy || answers.len() >= MAX_BATCH {
                break;
            }
            next = jobs.try_recv().ok();
        }
        let outcome = if healthy {
            tx.commit().await.map_err(|e| e.to_string())
        } else {
            if let Err(e) = tx.rollback().await {
                tracing::error!(error = %e, "group commit: rollback failed");
            }
            Err("the shared transaction was rolled back".to_string())
        };
        match &outcome {
            Ok(()) => {
                stats.commits.fetch_add(1, Ordering::Relaxed);
                stats
                    .jobs
                    .fetch_add(answers.len() as u64, Ordering::Relaxed);
            }
            Err(e) => tracing::error!(error = %e, batch = answers.len(), "group commit failed"),
        }
        for answer in answers {
            answer(outcome.clone());
        }
    }
}

fn job<F>(f: F) -> Job
where
    F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Ran> + Send + 'static,
{
    Box::new(f)
}

async fn savepoint(tx: &mut Tx, sql: &str) -> Result<(), sqlx::Error> {
    sqlx::query(sql).execute(&mut **tx).await.map(|_| ())
}

/// Queues `work` for the writer and waits for its answer, given after the commit.
pub(super) async fn submit<T, E, F>(queue: &mpsc::Sender<Job>, work: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<sqlx::Error> + Send + 'static,
    F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Result<T, E>> + Send + 'static,
{
    let (send, answer) = oneshot::channel::<Result<T, E>>();
    let job = job(move |tx| {
        async move {
            if let Err(e) = savepoint(tx, "SAVEPOINT caisse_job").await {
                let _ = send.send(Err(E::from(e)));
                return Ran {
                    healthy: false,
                    answer: Box::new(|_| {}),
                };
            }
            let result = work(&mut *tx).await;
            let closed = match &result {
                Ok(_) => savepoint(tx, "RELEASE caisse_job").await,
                Err(_) => match savepoint(tx, "ROLLBACK TO caisse_job").await {
                    Ok(()) => savepoint(tx, "RELEASE caisse_job").await,
                    Err(e) => Err(e),
                },
            };
            let healthy = match closed {
                Ok(()) => true,
                Err(e) => {
                    tracing::error!(error = %e, "group commit: savepoint failed");
                    false
                }
            };
            Ran {
                healthy,
                answer: Box::new(move |outcome: Result<(), String>| {
                    let reply = match (result, outcome) {
                        (Err(e), _) => Err(e),
                        (Ok(value), Ok(())) => Ok(value),
                        (Ok(_), Err(why)) => Err(E::from(sqlx::Error::Io(std::io::Error::other(
                            format!("group commit failed: {why}"),
                        )))),
                    };
                    let _ = send.send(reply);
                }),
            }
        }
        .boxed()
    });
    if queue.send(job).await.is_err() {
        return Err(E::from(sqlx::Error::WorkerCrashed));
    }
    answer
        .await
        .unwrap_or_else(|_| Err(E::from(sqlx::Error::WorkerCrashed)))
}
