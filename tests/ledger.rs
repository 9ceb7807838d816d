//! The ledger under random operations, concurrency and tampering, on both backends.

mod common;

use std::collections::HashMap;

use caisse::domain::ledger::{AccountCode, EntryBuilder, General, Journal, NewEntry};
use caisse::domain::{Cents, FundId};
use caisse::store::ledger::{self, LedgerError};
use caisse::store::{Backend, Db};
use chrono::NaiveDate;
use proptest::prelude::*;
use proptest::test_runner::{Config as PropConfig, TestRunner};

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
}

fn cents(c: i64) -> Cents {
    Cents::from_cents(c).unwrap()
}

fn member(case: u32, m: u8) -> AccountCode {
    AccountCode::auxiliary(General::AllowanceBalances, &format!("C{case}M{m}"))
}
fn receivable(case: u32, m: u8) -> AccountCode {
    AccountCode::auxiliary(General::Members, &format!("C{case}M{m}"))
}
fn shop(case: u32, s: u8) -> AccountCode {
    AccountCode::auxiliary(General::Shops, &format!("C{case}S{s}"))
}
fn general(g: General) -> AccountCode {
    AccountCode::general(g)
}

#[derive(Clone, Debug)]
enum Op {
    Allowance { m: u8, c: i64 },
    Spend { m: u8, s: u8, c: i64 },
    Call { m: u8, c: i64 },
    Pay { m: u8, c: i64 },
    Subsidy { c: i64 },
    Reverse { pick: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..4, 1i64..20_000).prop_map(|(m, c)| Op::Allowance { m, c }),
        (0u8..4, 0u8..2, 1i64..15_000).prop_map(|(m, s, c)| Op::Spend { m, s, c }),
        (0u8..4, 1i64..10_000).prop_map(|(m, c)| Op::Call { m, c }),
        (0u8..4, 1i64..10_000).prop_map(|(m, c)| Op::Pay { m, c }),
        (1i64..100_000).prop_map(|c| Op::Subsidy { c }),
        (0usize..64).prop_map(|pick| Op::Reverse { pick }),
    ]
}

fn entry_for(case: u32, op: &Op) -> Option<NewEntry> {
    let b = |kind| EntryBuilder::new(Journal::Miscellaneous, kind, day(), "test");
    Some(
        match *op {
            Op::Allowance { m, c } => b("allowance")
                .debit(general(General::AllowancesGranted), cents(c))
                .credit(member(case, m), cents(c)),
            Op::Spend { m, s, c } => b("redemption")
                .debit(member(case, m), cents(c))
                .credit(shop(case, s), cents(c)),
            Op::Call { m, c } => b("call")
                .debit(receivable(case, m), cents(c))
                .credit(general(General::Contributions), cents(c)),
            Op::Pay { m, c } => b("payment")
                .debit(general(General::Bank), cents(c))
                .credit(receivable(case, m), cents(c)),
            Op::Subsidy { c } => b("subsidy")
                .debit(general(General::Bank), cents(c))
                .credit(general(General::Subsidies), cents(c)),
            Op::Reverse { .. } => return None,
        }
        .build()
        .unwrap(),
    )
}

/// The simple model: (debit, credit) totals per account.
#[derive(Default)]
struct Model {
    totals: HashMap<String, (i64, i64)>,
}

impl Model {
    fn balance(&self, code: &AccountCode) -> i64 {
        let (d, c) = self.totals.get(code.as_str()).copied().unwrap_or_default();
        match code.general_account().normal_side() {
            caisse::domain::ledger::Side::Debit => d - c,
            caisse::domain::ledger::Side::Credit => c - d,
        }
    }

    /// Whether posting these (account, debit, credit) lines keeps every member balance ≥ 0.
    fn allows(&self, lines: &[(AccountCode, i64, i64)]) -> bool {
        let mut net: HashMap<&AccountCode, i64> = HashMap::new();
        for (a, d, c) in lines {
            *net.entry(a).or_default() += c - d;
        }
        net.iter().all(|(a, delta)| {
            a.general_account() != General::AllowanceBalances || self.balance(a) + delta >= 0
        })
    }

    fn apply(&mut self, lines: &[(AccountCode, i64, i64)]) {
        for (a, d, c) in lines {
            let t = self.totals.entry(a.to_string()).or_default();
            t.0 += d;
            t.1 += c;
        }
    }
}

/// (account, debit, credit) of each posting.
type Lines = Vec<(AccountCode, i64, i64)>;

fn lines(e: &NewEntry) -> Lines {
    e.postings()
        .iter()
        .map(|p| (p.account.clone(), p.debit.cents(), p.credit.cents()))
        .collect()
}

async fn open_case_accounts(db: &Db, fund: &str, case: u32) {
    let mut tx = db.begin().await.unwrap();
    for m in 0..4 {
        ledger::open_account(&mut tx, fund, &member(case, m), "member")
            .await
            .unwrap();
        ledger::open_account(&mut tx, fund, &receivable(case, m), "member")
            .await
            .unwrap();
    }
    for s in 0..2 {
        ledger::open_account(&mut tx, fund, &shop(case, s), "shop")
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

async fn run_case(db: &Db, fund: &str, case: u32, ops: Vec<Op>) -> Result<(), TestCaseError> {
    open_case_accounts(db, fund, case).await;
    let mut model = Model::default();
    // (entry id, lines, reversed?) of what this case posted.
    let mut posted: Vec<(i64, Lines, bool)> = Vec::new();
    for op in &ops {
        let mut tx = db.begin().await.unwrap();
        let (expected_ok, result, entry_lines, reversed_index) = match op {
            Op::Reverse { pick } => {
                if posted.is_empty() {
                    continue;
                }
                let i = pick % posted.len();
                let (seq, original, already) = posted[i].clone();
                let swapped: Vec<_> = original
                    .iter()
                    .map(|(a, d, c)| (a.clone(), *c, *d))
                    .collect();
                let ok = !already && model.allows(&swapped);
                let r = ledger::reverse(&mut tx, fund, seq, day(), "correction").await;
                if already {
                    prop_assert!(
                        matches!(r, Err(LedgerError::AlreadyReversed(s)) if s == seq),
                        "{r:?}"
                    );
                }
                (ok, r, swapped, Some(i))
            }
            other => {
                let e = entry_for(case, other).unwrap();
                let l = lines(&e);
                let ok = model.allows(&l);
                let r = ledger::post(&mut tx, fund, &e).await;
                (ok, r, l, None)
            }
        };
        match result {
            Ok(p) => {
                prop_assert!(expected_ok, "model refused {op:?} but the ledger took it");
                tx.commit().await.unwrap();
                model.apply(&entry_lines);
                // General accounts are shared by every case; the case's own accounts are not.
                for (code, balance) in p.balances.iter().filter(|(c, _)| c.aux().is_some()) {
                    prop_assert_eq!(
                        *balance,
                        model.balance(code),
                        "returned balance of {}",
                        code
                    );
                }
                if let Some(i) = reversed_index {
                    posted[i].2 = true;
                    // A reversal can itself be reversed (cancelling a cancellation).
                    posted.push((p.entry_id, entry_lines, false));
                } else {
                    posted.push((p.entry_id, entry_lines, false));
                }
            }
            Err(e) => {
                prop_assert!(
                    !expected_ok,
                    "model took {op:?} but the ledger refused: {e}"
                );
                prop_assert!(
                    matches!(
                        e,
                        LedgerError::InsufficientBalance(_) | LedgerError::AlreadyReversed(_)
                    ),
                    "unexpected error {e}"
                );
                tx.rollback().await.unwrap();
            }
        }
    }
    // Every cached balance equals the model, the trial balance is zero, the chain verifies.
    for m in 0..4 {
        for code in [member(case, m), receivable(case, m)] {
            let b = ledger::balance(db, fund, &code).await.unwrap();
            prop_assert_eq!(b, model.balance(&code), "balance of {}", code);
            if code.general_account() == General::AllowanceBalances {
                prop_assert!(b >= 0);
            }
        }
    }
    let tb = ledger::trial_balance(db, fund).await.unwrap();
    let (d, c) = tb
        .iter()
        .fold((0, 0), |(d, c), l| (d + l.debit, c + l.credit));
    prop_assert_eq!(d, c);
    let report = ledger::verify(db, fund).await.unwrap();
    prop_assert!(report.is_clean(), "{:?}", report.problems);
    Ok(())
}

fn property(backend: Backend) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some((db, fund, _url, _guard)) = rt.block_on(common::fresh_db(backend)) else {
        return;
    };
    let mut runner = TestRunner::new(PropConfig {
        cases: 24,
        failure_persistence: None,
        ..PropConfig::default()
    });
    let case = std::sync::atomic::AtomicU32::new(0);
    runner
        .run(&proptest::collection::vec(op(), 1..40), |ops| {
            let n = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            rt.block_on(run_case(&db, &fund, n, ops))
        })
        .unwrap();
}

#[test]
fn random_operations_keep_the_ledger_sound_sqlite() {
    property(Backend::Sqlite);
}

#[test]
#[cfg_attr(caisse_skip_postgres, ignore = "CAISSE_TEST_SKIP_POSTGRES=1")]
fn random_operations_keep_the_ledger_sound_postgres() {
    property(Backend::Postgres);
}

both_backends!(
    parallel_debits_never_overspend,
    journal_is_append_only_in_the_database,
    member_balance_cannot_go_negative_even_in_sql,
    verify_detects_tampering,
);

async fn parallel_debits_never_overspend(app: common::TestApp) {
    let (db, fund) = (app.db.clone(), app.fund_id.clone());
    let m = member(0, 0);
    let s = shop(0, 0);
    let mut tx = db.begin().await.unwrap();
    ledger::open_account(&mut tx, &fund, &m, "member")
        .await
        .unwrap();
    ledger::open_account(&mut tx, &fund, &s, "shop")
        .await
        .unwrap();
    let credit = EntryBuilder::new(Journal::Allowances, "allowance", day(), "Allocation")
        .debit(general(General::AllowancesGranted), cents(10_000))
        .credit(m.clone(), cents(10_000))
        .build()
        .unwrap();
    ledger::post(&mut tx, &fund, &credit).await.unwrap();
    tx.commit().await.unwrap();

    // 60 debits of 17.00 on 100.00: exactly 5 can succeed.
    let mut tasks = Vec::new();
    for _ in 0..60 {
        let (db, fund, m, s) = (db.clone(), fund.clone(), m.clone(), s.clone());
        tasks.push(tokio::spawn(async move {
            let e = EntryBuilder::new(Journal::Purchases, "redemption", day(), "Achat")
                .debit(m, cents(1_700))
                .credit(s, cents(1_700))
                .build()
                .unwrap();
            let mut tx = db.begin().await.unwrap();
            match ledger::post(&mut tx, &fund, &e).await {
                Ok(p) => {
                    tx.commit().await.unwrap();
                    Ok(p.entry_id)
                }
                Err(err) => {
                    tx.rollback().await.unwrap();
                    Err(err)
                }
            }
        }));
    }
    let mut approved = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => approved += 1,
            Err(LedgerError::InsufficientBalance(a)) => assert_eq!(a, m),
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(approved, 5);
    assert_eq!(
        ledger::balance(&db, &fund, &m).await.unwrap(),
        10_000 - 5 * 1_700
    );
    assert_eq!(ledger::balance(&db, &fund, &s).await.unwrap(), 5 * 1_700);
    let report = ledger::verify(&db, &fund).await.unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.entries, 6);
}

async fn post_subsidy(db: &Db, fund: &str, c: i64) -> i64 {
    let mut tx = db.begin().await.unwrap();
    let p = caisse::service::ledger::record_subsidy(
        &mut tx,
        &FundId::new(fund),
        cents(c),
        day(),
        "Subvention",
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    p.entry_id
}

async fn journal_is_append_only_in_the_database(app: common::TestApp) {
    let id = post_subsidy(&app.db, &app.fund_id, 5_000).await;
    for sql in [
        "UPDATE postings SET debit = 1 WHERE entry_id = $1",
        "DELETE FROM postings WHERE entry_id = $1",
        "UPDATE journal_entries SET label = 'forged' WHERE id = $1",
        "DELETE FROM journal_entries WHERE id = $1",
        "UPDATE journal_chain SET chain_hash = 'forged' WHERE entry_id = $1",
        "DELETE FROM journal_chain WHERE entry_id = $1",
    ] {
        let r = sqlx::query(sql).bind(id).execute(app.db.pool()).await;
        let err = r.expect_err(sql).to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    let report = ledger::verify(&app.db, &app.fund_id).await.unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}

async fn member_balance_cannot_go_negative_even_in_sql(app: common::TestApp) {
    let m = member(0, 1);
    let mut tx = app.db.begin().await.unwrap();
    ledger::open_account(&mut tx, &app.fund_id, &m, "member")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // Bypassing the code: the CHECK constraints refuse a negative member balance, and a cache
    // that disagrees with its own totals.
    let r = sqlx::query(
        "UPDATE accounts SET debit_total = 100, balance = -100 WHERE fund_id = $1 AND code = $2",
    )
    .bind(&app.fund_id)
    .bind(m.as_str())
    .execute(app.db.pool())
    .await;
    assert!(r.is_err(), "negative member balance accepted");
    let r = sqlx::query("UPDATE accounts SET balance = 5 WHERE fund_id = $1 AND code = $2")
        .bind(&app.fund_id)
        .bind(m.as_str())
        .execute(app.db.pool())
        .await;
    assert!(r.is_err(), "balance out of line with totals accepted");
    // Through the code: a clear refusal that moves nothing.
    let e = EntryBuilder::new(Journal::Purchases, "redemption", day(), "Achat")
        .debit(m.clone(), cents(1))
        .credit(general(General::Bank), cents(1))
        .build()
        .unwrap();
    let mut tx = app.db.begin().await.unwrap();
    let r = ledger::post(&mut tx, &app.fund_id, &e).await;
    assert!(
        matches!(r, Err(LedgerError::InsufficientBalance(ref a)) if *a == m),
        "{r:?}"
    );
    tx.rollback().await.unwrap();
    // An account that does not exist is named as such.
    let ghost = member(9, 9);
    let e = EntryBuilder::new(Journal::Purchases, "redemption", day(), "Achat")
        .debit(general(General::Bank), cents(1))
        .credit(ghost.clone(), cents(1))
        .build()
        .unwrap();
    let mut tx = app.db.begin().await.unwrap();
    let r = ledger::post(&mut tx, &app.fund_id, &e).await;
    assert!(
        matches!(r, Err(LedgerError::UnknownAccount(ref a)) if *a == ghost),
        "{r:?}"
    );
    tx.rollback().await.unwrap();
    assert!(ledger::verify(&app.db, &app.fund_id)
        .await
        .unwrap()
        .is_clean());
}

fn cli(url: &str, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_caisse"))
        .args(args)
        .arg("--database-url")
        .arg(url)
        .env("RUST_LOG", "error")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

async fn verify_detects_tampering(app: common::TestApp) {
    post_subsidy(&app.db, &app.fund_id, 5_000).await;
    let second = post_subsidy(&app.db, &app.fund_id, 7_000).await;
    post_subsidy(&app.db, &app.fund_id, 9_000).await;

    let url = app.database_url.clone();
    let ok = tokio::task::spawn_blocking(move || cli(&url, &["ledger", "verify"], None))
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{out} {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        out.contains("3 entries") && out.contains("ledger OK"),
        "{out}"
    );

    ledger::tamper_for_tests(&app.db, &app.fund_id, second)
        .await
        .unwrap();
    let report = ledger::verify(&app.db, &app.fund_id).await.unwrap();
    let text = report.problems.join("\n");
    assert!(
        text.contains(&format!("(id {second}): does not balance")),
        "{text}"
    );
    assert!(
        text.contains(&format!("(id {second}): content hash")),
        "{text}"
    );
    assert!(text.contains("account 512: cached totals"), "{text}");

    let url = app.database_url.clone();
    let bad = tokio::task::spawn_blocking(move || cli(&url, &["ledger", "verify"], None))
        .await
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stdout).contains("PROBLEM"));
}

both_backends!(cli_admin_create_and_migrate);

async fn cli_admin_create_and_migrate(app: common::TestApp) {
    let url = app.database_url.clone();
    let out = tokio::task::spawn_blocking(move || {
        let m = cli(&url, &["migrate"], None);
        assert!(m.status.success(), "{}", String::from_utf8_lossy(&m.stderr));
        let short = cli(
            &url,
            &[
                "admin",
                "create",
                "--email",
                "boss@test.caisse.fr",
                "--password-stdin",
            ],
            Some("short\n"),
        );
        assert!(!short.status.success());
        assert!(String::from_utf8_lossy(&short.stderr).contains("at least 10"));
        cli(
            &url,
            &[
                "admin",
                "create",
                "--email",
                "boss@test.caisse.fr",
                "--password-stdin",
            ],
            Some("a long admin password\n"),
        )
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = app
        .post(
            "/api/v1/sessions",
            None,
            serde_json::json!({"email": "boss@test.caisse.fr", "password": "a long admin password"}),
        )
        .await;
    assert_eq!(r.ok(201)["role"], "admin");
}

both_backends!(concurrent_writers_keep_the_chain_linear);

/// Entries committed by many writers at once are numbered 1..=N without gaps and each chains
/// onto the one committed before it (on PostgreSQL this happens in the commit-time trigger).
async fn concurrent_writers_keep_the_chain_linear(app: common::TestApp) {
    let mut tasks = Vec::new();
    for w in 0..8 {
        let (db, fund) = (app.db.clone(), app.fund_id.clone());
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..25 {
                // Some transactions hold two entries: both join the chain, in order.
                let mut tx = db.begin().await.unwrap();
                for _ in 0..(1 + (i + w) % 2) {
                    let p = caisse::service::ledger::record_subsidy(
                        &mut tx,
                        &FundId::new(fund.clone()),
                        cents(100 + i as i64),
                        day(),
                        "Subvention",
                    )
                    .await
                    .unwrap();
                    ids.push(p.entry_id);
                }
                tx.commit().await.unwrap();
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await.unwrap());
    }
    let report = ledger::verify(&app.db, &app.fund_id).await.unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.entries, ids.len() as i64);
    let mut numbers = Vec::new();
    for id in &ids {
        numbers.push(ledger::entry_number(&app.db, *id).await.unwrap().unwrap());
    }
    numbers.sort();
    assert_eq!(numbers, (1..=ids.len() as i64).collect::<Vec<_>>());
}

both_backends!(bulk_batches_chain_with_concurrent_writers);

/// A bulk batch (as contribution calls write it) and an ordinary entry in the same
/// transaction, while other writers post: every entry is chained exactly once, in order.
async fn bulk_batches_chain_with_concurrent_writers(app: common::TestApp) {
    let (db, fund) = (app.db.clone(), app.fund_id.clone());
    let mut tx = db.begin().await.unwrap();
    for m in 0..50 {
        ledger::open_account(&mut tx, &fund, &receivable(7, m), "member")
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();

    let writers: Vec<_> = (0..4)
        .map(|_| {
            let (db, fund) = (db.clone(), fund.clone());
            tokio::spawn(async move {
                for _ in 0..10 {
                    post_subsidy(&db, &fund, 100).await;
                }
            })
        })
        .collect();

    let mut tx = db.begin().await.unwrap();
    let mut bulk = ledger::Bulk::begin(&mut tx, &fund).await.unwrap();
    for chunk in 0..2u8 {
        if chunk == 1 {
            // An ordinary entry in the middle of the batch.
            caisse::service::ledger::record_subsidy(
                &mut tx,
                &FundId::new(fund.clone()),
                cents(5),
                day(),
                "Dans le lot",
            )
            .await
            .unwrap();
        }
        let entries: Vec<NewEntry> = (0..25u8)
            .map(|i| {
                EntryBuilder::new(
                    Journal::Contributions,
                    "contribution_call",
                    day(),
                    "Cotisation",
                )
                .debit(receivable(7, chunk * 25 + i), cents(1_000))
                .credit(general(General::Contributions), cents(1_000))
                .build()
                .unwrap()
            })
            .collect();
        let ids = bulk.add(&mut tx, &entries).await.unwrap();
        assert_eq!(ids.len(), 25);
    }
    assert_eq!(bulk.finish(&mut tx).await.unwrap(), 50);
    tx.commit().await.unwrap();
    for w in writers {
        w.await.unwrap();
    }

    let report = ledger::verify(&db, &fund).await.unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.entries, 50 + 1 + 40);
    assert_eq!(
        ledger::balance(&db, &fund, &receivable(7, 49))
            .await
            .unwrap(),
        1_000
    );
    assert_eq!(
        ledger::balance(&db, &fund, &general(General::Contributions))
            .await
            .unwrap(),
        50_000
    );

    // A batch too large to keep its entries' hashes reads them back to chain them.
    let mut tx = db.begin().await.unwrap();
    let mut bulk = ledger::Bulk::begin(&mut tx, &fund)
        .await
        .unwrap()
        .reading_back();
    let entries: Vec<NewEntry> = (0..10u8)
        .map(|i| {
            EntryBuilder::new(Journal::Contributions, "contribution_call", day(), "Relue")
                .debit(receivable(7, i), cents(100))
                .credit(general(General::Contributions), cents(100))
                .build()
                .unwrap()
        })
        .collect();
    bulk.add(&mut tx, &entries).await.unwrap();
    assert_eq!(bulk.finish(&mut tx).await.unwrap(), 10);
    tx.commit().await.unwrap();
    let report = ledger::verify(&db, &fund).await.unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.entries, 50 + 1 + 40 + 10);

    // A batch naming an account that does not exist fails whole.
    let mut tx = db.begin().await.unwrap();
    let mut bulk = ledger::Bulk::begin(&mut tx, &fund).await.unwrap();
    let ghost = EntryBuilder::new(Journal::Contributions, "contribution_call", day(), "x")
        .debit(receivable(8, 0), cents(1))
        .credit(general(General::Contributions), cents(1))
        .build()
        .unwrap();
    let r = bulk.add(&mut tx, &[ghost]).await;
    assert!(
        matches!(r, Err(LedgerError::UnknownAccount(ref a)) if *a == receivable(8, 0)),
        "{r:?}"
    );
    tx.rollback().await.unwrap();
    assert!(ledger::verify(&db, &fund).await.unwrap().is_clean());
}
