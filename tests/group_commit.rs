//! `Db::write`: on SQLite, concurrent writers share one commit (group commit). Each caller's
//! work must stay its own: a failure rolls back only that caller's changes, a success is
//! durable when it is answered, and a panic in one piece of work fails its batch cleanly.

mod common;

use common::TestApp;
use futures_util::FutureExt;

#[derive(Debug)]
enum ProbeError {
    Refused,
    Db(sqlx::Error),
}

impl From<sqlx::Error> for ProbeError {
    fn from(e: sqlx::Error) -> Self {
        ProbeError::Db(e)
    }
}

async fn probe_rows(app: &TestApp) -> Vec<i64> {
    let rows: Vec<(i64,)> = sqlx::query_as("SELECT n FROM gc_probe ORDER BY n")
        .fetch_all(app.db.pool())
        .await
        .unwrap();
    rows.into_iter().map(|r| r.0).collect()
}

async fn concurrent_work_is_isolated(app: TestApp) {
    sqlx::query("CREATE TABLE gc_probe (n BIGINT PRIMARY KEY)")
        .execute(app.db.pool())
        .await
        .unwrap();
    let mut handles = Vec::new();
    for n in 0..300i64 {
        let db = app.db.clone();
        handles.push(tokio::spawn(async move {
            db.write(move |tx| {
                async move {
                    sqlx::query("INSERT INTO gc_probe (n) VALUES ($1)")
                        .bind(n)
                        .execute(&mut **tx)
                        .await?;
                    match n % 3 {
                        // Fails after writing: its row must vanish, the others' stay.
                        1 => Err(ProbeError::Refused),
                        // A database error in the middle of the work (duplicate key).
                        2 => {
                            sqlx::query("INSERT INTO gc_probe (n) VALUES ($1)")
                                .bind(n)
                                .execute(&mut **tx)
                                .await?;
                            Ok(n)
                        }
                        _ => Ok(n),
                    }
                }
                .boxed()
            })
            .await
        }));
    }
    let mut approved = Vec::new();
    for h in handles {
        match h.await.unwrap() {
            Ok(n) => approved.push(n),
            Err(ProbeError::Refused) => {}
            Err(ProbeError::Db(e)) => {
                let unique = e
                    .as_database_error()
                    .is_some_and(|d| d.is_unique_violation());
                assert!(unique, "only the duplicate key may fail: {e}");
            }
        }
    }
    approved.sort();
    let expected: Vec<i64> = (0..300).filter(|n| n % 3 == 0).collect();
    assert_eq!(
        approved, expected,
        "exactly the good work is answered as done"
    );
    assert_eq!(probe_rows(&app).await, expected, "and exactly it is stored");
}

async fn a_panicking_job_fails_cleanly(app: TestApp) {
    sqlx::query("CREATE TABLE gc_probe (n BIGINT PRIMARY KEY)")
        .execute(app.db.pool())
        .await
        .unwrap();
    let db = app.db.clone();
    let panicked = tokio::spawn(async move {
        db.write(|tx| {
            async move {
                sqlx::query("INSERT INTO gc_probe (n) VALUES (1)")
                    .execute(&mut **tx)
                    .await?;
                if std::hint::black_box(true) {
                    panic!("a bug in one piece of work");
                }
                Ok::<_, ProbeError>(())
            }
            .boxed()
        })
        .await
    })
    .await;
    // On SQLite the writer task catches the panic and answers with an error; on PostgreSQL
    // the panic unwinds the caller's own task. Either way nothing is stored.
    match panicked {
        Ok(result) => assert!(result.is_err()),
        Err(join) => assert!(join.is_panic()),
    }
    // The writer keeps serving.
    let n = app
        .db
        .write(|tx| {
            async move {
                sqlx::query("INSERT INTO gc_probe (n) VALUES (2)")
                    .execute(&mut **tx)
                    .await?;
                Ok::<_, ProbeError>(2)
            }
            .boxed()
        })
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(probe_rows(&app).await, vec![2]);
}

both_backends!(concurrent_work_is_isolated, a_panicking_job_fails_cleanly);
