//! `caisse backup FILE` while payments run on the server: the copy is private (0600), never
//! overwrites a file, verifies clean, and once restored it is exactly the source as it was at
//! one instant: its journal is a prefix of the source's (same chain head at its last number)
//! and its trial balance equals the source's postings up to that number. Both backends (on
//! PostgreSQL through pg_dump and pg_restore).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use caisse::domain::Role;
use caisse::store::{funds, ledger, Backend, Db};
use common::TestApp;
use serde_json::json;
use sqlx::Row;

both_backends!(a_backup_taken_during_payments_restores_a_consistent_instant);

fn caisse_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_caisse"))
}

/// Number and hash of the last entry of the chain.
async fn head(db: &Db, fund: &str) -> (i64, String) {
    let r = sqlx::query(
        "SELECT seq, chain_hash FROM journal_chain WHERE fund_id = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(fund)
    .fetch_one(db.pool())
    .await
    .unwrap();
    (r.get("seq"), r.get("chain_hash"))
}

async fn chain_hash_at(db: &Db, fund: &str, seq: i64) -> String {
    sqlx::query("SELECT chain_hash FROM journal_chain WHERE fund_id = $1 AND seq = $2")
        .bind(fund)
        .bind(seq)
        .fetch_one(db.pool())
        .await
        .unwrap()
        .get("chain_hash")
}

/// Debit and credit per general account from the postings of entries 1 to `seq`: the trial
/// balance as it was when entry `seq` was the last one.
async fn trial_balance_up_to(db: &Db, fund: &str, seq: i64) -> Vec<(String, i64, i64)> {
    let rows = sqlx::query(
        "SELECT a.general, CAST(SUM(p.debit) AS BIGINT) AS d, CAST(SUM(p.credit) AS BIGINT) AS c \
         FROM postings p JOIN journal_chain j ON j.entry_id = p.entry_id \
         JOIN accounts a ON a.fund_id = p.fund_id AND a.code = p.account \
         WHERE p.fund_id = $1 AND j.fund_id = $1 AND j.seq <= $2 \
         GROUP BY a.general ORDER BY a.general",
    )
    .bind(fund)
    .bind(seq)
    .fetch_all(db.pool())
    .await
    .unwrap();
    rows.iter()
        .map(|r| (r.get("general"), r.get("d"), r.get("c")))
        .collect()
}

/// The restored database's own trial balance (its cached account totals).
async fn trial_balance(db: &Db, fund: &str) -> Vec<(String, i64, i64)> {
    ledger::trial_balance(db, fund)
        .await
        .unwrap()
        .into_iter()
        .filter(|l| l.debit != 0 || l.credit != 0)
        .map(|l| (l.account, l.debit, l.credit))
        .collect()
}

async fn count(db: &Db, sql: &str, fund: &str) -> i64 {
    sqlx::query(sql)
        .bind(fund)
        .fetch_one(db.pool())
        .await
        .unwrap()
        .get(0)
}

/// Restores the backup file as a database of its own; answers its URL and a guard.
async fn restore(app: &TestApp, file: &std::path::Path) -> (String, Option<(String, String)>) {
    match app.backend {
        Backend::Sqlite => {
            let restored = file.with_extension("restored.db");
            std::fs::copy(file, &restored).unwrap();
            (format!("sqlite://{}", restored.display()), None)
        }
        Backend::Postgres => {
            let base = common::postgres_base_url();
            let name = format!(
                "caisse_restored_{}",
                caisse::domain::new_id("r").to_lowercase()
            );
            let admin = Db::connect(&base, 1).await.unwrap();
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(admin.pool())
                .await
                .unwrap();
            admin.close().await;
            let url = caisse::bench::with_database(&base, &name);
            let ok = Command::new("pg_restore")
                .args(["--no-owner", "--exit-on-error", "--dbname", &url])
                .arg(file)
                .status()
                .expect("pg_restore (apt-get install postgresql-client)");
            assert!(ok.success(), "pg_restore failed");
            (url, Some((base, name)))
        }
    }
}

async fn a_backup_taken_during_payments_restores_a_consistent_instant(app: TestApp) {
    let treasurer = app.login(Role::Treasurer).await;
    let member = app.new_member("Adhérente sauvegardée").await;
    app.post(
        "/api/v1/allowances/issuances",
        Some(&treasurer),
        json!({"period": caisse::domain::today().format("%Y-%m").to_string()}),
    )
    .await
    .ok(200);
    let card = app
        .post(
            &format!("/api/v1/members/{member}/cards"),
            Some(&treasurer),
            json!({"kind": "printed", "pin": "2468"}),
        )
        .await;
    let payload = card.ok(201)["qr_payload"].as_str().unwrap().to_string();
    let (_, till) = app.terminal_login().await;

    // Four tills' worth of payments of 0.01 € until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let approved = Arc::new(AtomicUsize::new(0));
    let mut payers = Vec::new();
    for t in 0..4 {
        let (url, till, payload) = (
            app.url("/api/v1/redemptions"),
            till.clone(),
            payload.clone(),
        );
        let (stop, approved) = (stop.clone(), approved.clone());
        payers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let r = client
                    .post(&url)
                    .bearer_auth(&till)
                    .header("Idempotency-Key", format!("backup-{t}-{i}"))
                    .json(&json!({"token": payload, "pin": "2468", "amount": "0.01"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap());
                approved.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    while approved.load(Ordering::SeqCst) < 20 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let dir = std::env::temp_dir().join("caisse-tests").join("backups");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!(
        "{}.backup",
        caisse::domain::new_id("b").to_lowercase()
    ));
    let url = app.database_url.clone();
    let before_backup = approved.load(Ordering::SeqCst);
    let backup = {
        let file = file.clone();
        tokio::task::spawn_blocking(move || {
            caisse_bin()
                .args(["--database-url", &url, "backup"])
                .arg(&file)
                .output()
                .unwrap()
        })
    };
    let out = backup.await.unwrap();
    let after_backup = approved.load(Ordering::SeqCst);
    // Payments keep flowing for a moment after the copy, then stop.
    while approved.load(Ordering::SeqCst) < after_backup + 20 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for p in payers {
        p.await.unwrap();
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "caisse backup: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("backup OK"), "{stdout}");
    assert!(stdout.contains("ledger verify on the copy"), "{stdout}");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the backup is readable by its owner only");

    // Never over an existing file: refused, the first backup untouched.
    let len = std::fs::metadata(&file).unwrap().len();
    let again = caisse_bin()
        .args(["--database-url", &app.database_url, "backup"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(std::fs::metadata(&file).unwrap().len(), len);

    // A database that is not there is not created to be backed up.
    let missing = dir.join("missing.db");
    let none = caisse_bin()
        .args([
            "--database-url",
            &format!("sqlite://{}", missing.display()),
            "backup",
        ])
        .arg(dir.join("never.backup"))
        .output()
        .unwrap();
    assert!(!none.status.success());
    assert!(!missing.exists() && !dir.join("never.backup").exists());

    // Restored: the source as it was at one instant during the payments.
    let (restored_url, pg_guard) = restore(&app, &file).await;
    let restored = Db::connect(&restored_url, 2).await.unwrap();
    let fund = funds::first(&restored).await.unwrap().unwrap();
    assert_eq!(fund, app.fund_id);
    let report = ledger::verify(&restored, &fund).await.unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    let (copy_seq, copy_hash) = head(&restored, &fund).await;
    let (source_seq, _) = head(&app.db, &fund).await;
    let copied_sales = count(
        &restored,
        "SELECT COUNT(*) FROM redemptions WHERE fund_id = $1",
        &fund,
    )
    .await;
    // Taken during the payments: some were in, some came after.
    // (A sale committed just before the copy ended may not be counted yet: four in flight.)
    assert!(copied_sales as usize >= before_backup, "{copied_sales}");
    assert!(
        (copied_sales as usize) <= after_backup + 4,
        "{copied_sales} > {after_backup}"
    );
    assert!(copy_seq < source_seq, "payments went on after the copy");
    // Its journal is the source's first `copy_seq` entries: the same chain head there.
    assert_eq!(copy_hash, chain_hash_at(&app.db, &fund, copy_seq).await);
    // Its trial balance (cached totals) is the source's postings up to that entry, balanced.
    let copy_tb = trial_balance(&restored, &fund).await;
    assert_eq!(copy_tb, trial_balance_up_to(&app.db, &fund, copy_seq).await);
    let (d, c) = copy_tb
        .iter()
        .fold((0, 0), |(d, c), (_, dd, cc)| (d + dd, c + cc));
    assert_eq!(d, c, "the copy's trial balance balances");
    // The tables that mirror the ledger came from the same instant: one sale row per sale
    // entry, and the member's balance is the allowance less those sales.
    let sale_entries = count(
        &restored,
        "SELECT COUNT(*) FROM journal_entries WHERE fund_id = $1 AND kind = 'redemption'",
        &fund,
    )
    .await;
    assert_eq!(sale_entries, copied_sales);
    // (The fund's only member account: 150.00 of allowance under the default settings.)
    let balance = count(
        &restored,
        "SELECT CAST(SUM(balance) AS BIGINT) FROM accounts WHERE fund_id = $1 AND general = '467'",
        &fund,
    )
    .await;
    assert_eq!(balance, 15_000 - copied_sales);
    // `caisse ledger verify` on the restored database agrees.
    let verify = caisse_bin()
        .args(["--database-url", &restored_url, "ledger", "verify"])
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    restored.close().await;
    match pg_guard {
        Some((base, name)) => {
            let admin = Db::connect(&base, 1).await.unwrap();
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(admin.pool())
                .await;
            admin.close().await;
        }
        None => {
            let restored = file.with_extension("restored.db");
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", restored.display()));
            }
        }
    }
    let _ = std::fs::remove_file(&file);
}
