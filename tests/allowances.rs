//! Monthly allowances: each test on SQLite and PostgreSQL.

mod common;

use caisse::domain::Role;
use common::TestApp;
use serde_json::{json, Value};

both_backends!(
    issuance_credits_active_members_once,
    issuances_race_to_one,
    balance_cap_at_the_edges,
    allowance_settings_are_validated,
    cli_issues_the_same_way,
    an_issuance_cut_short_is_finished_by_the_next_call,
);

async fn member(app: &TestApp, t: &str, name: &str, adults: i64, children: i64) -> String {
    let r = app
        .post(
            "/api/v1/members",
            Some(t),
            json!({"full_name": name, "household": {"adults": adults, "children": children}}),
        )
        .await;
    r.ok(201)["id"].as_str().unwrap().to_string()
}

async fn issue(app: &TestApp, t: &str, period: &str) -> Value {
    let r = app
        .post(
            "/api/v1/allowances/issuances",
            Some(t),
            json!({"period": period}),
        )
        .await;
    r.ok(200).clone()
}

async fn balance(app: &TestApp, t: &str, id: &str) -> String {
    let r = app
        .get(&format!("/api/v1/members/{id}/account"), Some(t))
        .await;
    r.ok(200)["balance"].as_str().unwrap().to_string()
}

async fn verified_entries(app: &TestApp, t: &str) -> i64 {
    let v = app.get("/api/v1/ledger/verification", Some(t)).await;
    let v = v.ok(200);
    assert_eq!(v["clean"], true, "{v}");
    v["entries"].as_i64().unwrap()
}

async fn set_allowance(app: &TestApp, allowance: Value) {
    let admin = app.login(Role::Admin).await;
    let mut s = app
        .get("/api/v1/settings", Some(&admin))
        .await
        .ok(200)
        .clone();
    s["allowance"] = allowance;
    app.put("/api/v1/settings", Some(&admin), s).await.ok(200);
}

async fn issuance_credits_active_members_once(app: TestApp) {
    let t = app.login(Role::Treasurer).await;
    let single = member(&app, &t, "Seul", 1, 0).await;
    let family = member(&app, &t, "Famille", 2, 2).await;
    let suspended = member(&app, &t, "Suspendu", 1, 0).await;
    let gone = member(&app, &t, "Parti", 1, 0).await;
    app.post(
        &format!("/api/v1/members/{suspended}/suspend"),
        Some(&t),
        json!({}),
    )
    .await
    .ok(200);
    app.post(
        &format!("/api/v1/members/{gone}/leave"),
        Some(&t),
        json!({}),
    )
    .await
    .ok(200);

    // Lyon 8e: 150; 150 + 75 + 2 × 45 = 315.
    let first = issue(&app, &t, "2026-10").await;
    assert_eq!(
        first,
        json!({"period": "2026-10", "members_credited": 2, "total": "465.00", "returned_by_cap": "15.00"})
    );
    // The family's 315.00 passes the 300.00 cap: 15.00 went back to the pot.
    assert_eq!(balance(&app, &t, &single).await, "150.00");
    assert_eq!(balance(&app, &t, &family).await, "300.00");
    assert_eq!(balance(&app, &t, &suspended).await, "0.00");
    let entries = verified_entries(&app, &t).await;
    assert_eq!(entries, 3);

    // Again: nothing new, the same answer.
    assert_eq!(issue(&app, &t, "2026-10").await, first);
    assert_eq!(verified_entries(&app, &t).await, entries);

    // The member sees the credit and the cap return in their history.
    let h = app
        .get(&format!("/api/v1/members/{family}/transactions"), Some(&t))
        .await;
    let kinds: Vec<String> = h.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{} {} {}",
                i["kind"].as_str().unwrap(),
                i["account"].as_str().unwrap(),
                i["amount"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            "allowance_cap_return allowance -15.00",
            "allowance allowance 315.00"
        ]
    );

    // A new amount applies from the next issuance; what was credited stays.
    set_allowance(
        &app,
        json!({"first_person": "100.00", "additional_adult": "100.00",
                               "child": "100.00", "balance_cap": null}),
    )
    .await;
    let nov = issue(&app, &t, "2026-11").await;
    assert_eq!(nov["total"], "500.00");
    assert_eq!(nov["returned_by_cap"], "0.00");
    assert_eq!(balance(&app, &t, &single).await, "250.00");
    assert_eq!(balance(&app, &t, &family).await, "700.00");
    assert_eq!(issue(&app, &t, "2026-10").await, first);

    for bad in [
        json!({"period": "2026-13"}),
        json!({"period": "novembre"}),
        json!({}),
    ] {
        let r = app
            .post("/api/v1/allowances/issuances", Some(&t), bad)
            .await;
        assert_eq!(r.status.as_u16(), 422, "{}", r.body);
    }
    let committee = app.login(Role::Committee).await;
    app.post(
        "/api/v1/allowances/issuances",
        Some(&committee),
        json!({"period": "2026-12"}),
    )
    .await
    .problem(403, "forbidden");
    let tb = app.get("/api/v1/ledger/trial-balance", Some(&t)).await;
    assert_eq!(tb.body["total_debit"], tb.body["total_credit"]);
}

async fn issuances_race_to_one(app: TestApp) {
    let t = app.login(Role::Treasurer).await;
    for n in 0..6 {
        member(&app, &t, &format!("R{n}"), 1, n % 3).await;
    }
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (base, token) = (app.base.clone(), t.clone());
        tasks.push(tokio::spawn(async move {
            let r = reqwest::Client::new()
                .post(format!("{base}/api/v1/allowances/issuances"))
                .bearer_auth(token)
                .json(&json!({"period": "2026-11"}))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    assert_eq!(answers[0].0, 200);
    assert_eq!(answers[0].1["members_credited"], 6);
    // 6 credits (the cap of 300 is never reached here).
    assert_eq!(verified_entries(&app, &t).await, 6);
}

async fn balance_cap_at_the_edges(app: TestApp) {
    let t = app.login(Role::Treasurer).await;
    let m = member(&app, &t, "Plafond", 1, 0).await;
    // 150 a month, cap 300.
    assert_eq!(issue(&app, &t, "2026-01").await["returned_by_cap"], "0.00");
    assert_eq!(balance(&app, &t, &m).await, "150.00");
    // Exactly at the cap: nothing goes back.
    assert_eq!(issue(&app, &t, "2026-02").await["returned_by_cap"], "0.00");
    assert_eq!(balance(&app, &t, &m).await, "300.00");
    // At the cap before the issuance: the whole allowance goes back.
    let r = issue(&app, &t, "2026-03").await;
    assert_eq!(
        (r["total"].as_str(), r["returned_by_cap"].as_str()),
        (Some("150.00"), Some("150.00"))
    );
    assert_eq!(balance(&app, &t, &m).await, "300.00");
    // Cap lowered below the balance: the return is larger than the month's allowance.
    set_allowance(
        &app,
        json!({"first_person": "150.00", "additional_adult": "75.00",
                               "child": "45.00", "balance_cap": "200.00"}),
    )
    .await;
    let r = issue(&app, &t, "2026-04").await;
    assert_eq!(r["returned_by_cap"], "250.00");
    assert_eq!(balance(&app, &t, &m).await, "200.00");
    // Cap a cent above what the balance reaches: nothing back.
    set_allowance(
        &app,
        json!({"first_person": "150.00", "additional_adult": "75.00",
                               "child": "45.00", "balance_cap": "350.01"}),
    )
    .await;
    assert_eq!(issue(&app, &t, "2026-05").await["returned_by_cap"], "0.00");
    assert_eq!(balance(&app, &t, &m).await, "350.00");
    assert_eq!(
        issue(&app, &t, "2026-06").await["returned_by_cap"],
        "149.99"
    );
    assert_eq!(balance(&app, &t, &m).await, "350.01");
    verified_entries(&app, &t).await;
}

async fn allowance_settings_are_validated(app: TestApp) {
    let admin = app.login(Role::Admin).await;
    let s = app
        .get("/api/v1/settings", Some(&admin))
        .await
        .ok(200)
        .clone();
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"first_person": "-1.00", "additional_adult": "0", "child": "0"}),
            "amount_invalid",
            "allowance.first_person",
        ),
        (
            json!({"first_person": "100.00", "additional_adult": 75, "child": "0"}),
            "amount_invalid",
            "allowance.additional_adult",
        ),
        (
            json!({"first_person": "100.00", "additional_adult": "0", "child": "4.999"}),
            "amount_invalid",
            "allowance.child",
        ),
        (
            json!({"first_person": "150.00", "additional_adult": "0", "child": "0", "balance_cap": "100.00"}),
            "validation_failed",
            "allowance.balance_cap",
        ),
        (
            json!({"first_person": "150.00", "additional_adult": "0"}),
            "missing_field",
            "allowance.child",
        ),
    ];
    for (allowance, code, field) in cases {
        let mut bad = s.clone();
        bad["allowance"] = allowance;
        let r = app.put("/api/v1/settings", Some(&admin), bad).await;
        r.problem(422, code);
        assert_eq!(r.fields(), vec![field], "{}", r.body);
    }
    // Zero amounts are allowed (a fund that gives nothing for children, say).
    let mut ok = s.clone();
    ok["allowance"] = json!({"first_person": "100.00", "additional_adult": "50.00", "child": "0.00", "balance_cap": null});
    app.put("/api/v1/settings", Some(&admin), ok).await.ok(200);
}

async fn cli_issues_the_same_way(app: TestApp) {
    let t = app.login(Role::Treasurer).await;
    let m = member(&app, &t, "Ligne de commande", 1, 1).await;
    let url = app.database_url.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_caisse"))
            .args([
                "allowances",
                "issue",
                "--period",
                "2026-11",
                "--database-url",
                &url,
            ])
            .env("RUST_LOG", "error")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("2026-11: 1 members credited, 195.00 €"),
        "{stdout}"
    );
    assert_eq!(balance(&app, &t, &m).await, "195.00");
    // The API sees the CLI's issuance as done.
    let again = issue(&app, &t, "2026-11").await;
    assert_eq!(again["total"], "195.00");
    assert_eq!(verified_entries(&app, &t).await, 1);
}

/// An issuance commits chunk by chunk. Cut short after its first chunk (as by a crash), the
/// next call for the period credits the members left, by the rules it started with, and no
/// member twice.
async fn an_issuance_cut_short_is_finished_by_the_next_call(app: TestApp) {
    let t = app.login(Role::Treasurer).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(member(&app, &t, &format!("Coupure {n}"), 1, 0).await);
    }
    ids.sort();
    let period = "2026-11".parse().unwrap();
    let cut = caisse::service::allowances::issue_in_chunks(
        &app.db,
        &caisse::domain::FundId::new(app.fund_id.as_str()),
        period,
        2,
        Some(1),
        None,
    )
    .await
    .unwrap();
    assert_eq!(cut, None, "one chunk of two members does not finish five");
    let mut balances = Vec::new();
    for id in &ids {
        balances.push(balance(&app, &t, id).await);
    }
    assert_eq!(balances, ["150.00", "150.00", "0.00", "0.00", "0.00"]);
    assert_eq!(verified_entries(&app, &t).await, 2);

    // Who joins after the issuance began is not in it (next month they are).
    let late = member(&app, &t, "Arrivée après", 1, 0).await;
    // The rules change before the issuance is taken up again: it keeps the ones it began with.
    set_allowance(
        &app,
        json!({"first_person": "100.00", "additional_adult": "75.00",
                               "child": "45.00", "balance_cap": "300.00"}),
    )
    .await;
    let r = issue(&app, &t, "2026-11").await;
    assert_eq!(
        (&r["members_credited"], &r["total"], &r["returned_by_cap"]),
        (&json!(5), &json!("750.00"), &json!("0.00")),
        "{r}"
    );
    for id in &ids {
        assert_eq!(balance(&app, &t, id).await, "150.00");
    }
    assert_eq!(issue(&app, &t, "2026-11").await, r, "issued once");
    assert_eq!(balance(&app, &t, &late).await, "0.00");
    assert_eq!(verified_entries(&app, &t).await, 5);
    // The next month is credited by the new rules, to all six.
    assert_eq!(issue(&app, &t, "2026-12").await["total"], "600.00");
    assert_eq!(balance(&app, &t, &late).await, "100.00");
}
