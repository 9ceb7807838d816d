//! Every route that takes an `Idempotency-Key`: the first answer carries no
//! `Idempotent-Replayed` header, the same key and body again answers the same status and body
//! with `Idempotent-Replayed: true` and moves nothing; the OpenAPI document says so on each of
//! them. Each test on SQLite and PostgreSQL.

mod common;

use caisse::domain::Role;
use common::{Reply, TestApp};
use serde_json::{json, Value};

both_backends!(every_money_route_marks_its_replays);

/// Sends the same request twice under one key: asserts the first is new, the second a replay
/// with the same status and body, and returns the first body.
async fn twice(app: &TestApp, path: &str, token: &str, key: &str, body: Value) -> Value {
    let first = app.post_idem(path, token, key, body.clone()).await;
    assert!(
        first.status.is_success(),
        "POST {path}: {} {}",
        first.status,
        first.body
    );
    assert!(
        first.headers.get("idempotent-replayed").is_none(),
        "POST {path}: a first answer is not a replay"
    );
    let again: Reply = app.post_idem(path, token, key, body).await;
    assert_eq!(again.status, first.status, "POST {path}");
    assert_eq!(again.body, first.body, "POST {path}: the same body");
    assert_eq!(
        again
            .headers
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap()),
        Some("true"),
        "POST {path}: a replay says it is one"
    );
    first.body
}

async fn entries(app: &TestApp, t: &str) -> i64 {
    let v = app.get("/api/v1/ledger/verification", Some(t)).await;
    let v = v.ok(200);
    assert_eq!(v["clean"], true, "{v}");
    v["entries"].as_i64().unwrap()
}

async fn every_money_route_marks_its_replays(app: TestApp) {
    let treasurer = app.login(Role::Treasurer).await;
    let member = app.new_member("Adhérente rejouée").await;
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
            json!({"kind": "printed", "pin": "4321"}),
        )
        .await;
    let payload = card.ok(201)["qr_payload"].as_str().unwrap().to_string();
    let (_, till) = app.terminal_login().await;
    let mut covered = Vec::new();

    let before = entries(&app, &treasurer).await;
    let sale = twice(
        &app,
        "/api/v1/redemptions",
        &till,
        "sale-1",
        json!({"token": payload, "pin": "4321", "amount": "12.50"}),
    )
    .await;
    covered.push("/api/v1/redemptions");
    let id = sale["id"].as_str().unwrap();
    twice(
        &app,
        &format!("/api/v1/redemptions/{id}/refunds"),
        &till,
        "refund-1",
        json!({"amount": "2.50"}),
    )
    .await;
    covered.push("/api/v1/redemptions/{id}/refunds");
    twice(
        &app,
        "/api/v1/contributions/payments",
        &treasurer,
        "pay-1",
        json!({"member_id": member, "amount": "40.00", "method": "cash",
               "paid_on": caisse::domain::today().to_string()}),
    )
    .await;
    covered.push("/api/v1/contributions/payments");
    twice(
        &app,
        "/api/v1/subsidies",
        &treasurer,
        "sub-1",
        json!({"amount": "500.00", "received_on": "2026-11-02", "label": "Subvention"}),
    )
    .await;
    covered.push("/api/v1/subsidies");
    // One sale, one refund, one payment, one subsidy: four entries, whatever the replays.
    assert_eq!(entries(&app, &treasurer).await, before + 4);
    let account = app
        .get(
            &format!("/api/v1/members/{member}/account"),
            Some(&treasurer),
        )
        .await;
    assert_eq!(account.ok(200)["balance"], "140.00");
    // A cutoff is to the second: wait for the sale's second to be over.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    twice(
        &app,
        "/api/v1/settlements",
        &treasurer,
        "settle-1",
        json!({"cutoff": caisse::domain::format_instant(caisse::domain::now_micros())}),
    )
    .await;
    covered.push("/api/v1/settlements");
    let list = app.get("/api/v1/settlements", Some(&treasurer)).await;
    assert_eq!(list.ok(200)["items"].as_array().unwrap().len(), 1);

    // Every operation that takes an Idempotency-Key is covered above, and documents the
    // header on its success answers.
    let doc = app.get("/api/openapi.json", None).await;
    let mut idempotent = Vec::new();
    for (path, item) in doc.ok(200)["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let takes_key = op["parameters"].as_array().is_some_and(|ps| {
                ps.iter()
                    .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header")
            });
            if !takes_key {
                continue;
            }
            idempotent.push(path.clone());
            let successes: Vec<_> = op["responses"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(s, _)| s.starts_with('2'))
                .collect();
            assert!(!successes.is_empty(), "{method} {path}");
            for (status, r) in successes {
                let h = &r["headers"]["Idempotent-Replayed"];
                assert_eq!(h["schema"]["type"], "string", "{method} {path} {status}");
                assert_eq!(h["schema"]["enum"], json!(["true"]), "{method} {path}");
            }
        }
    }
    idempotent.sort();
    covered.sort();
    assert_eq!(idempotent, covered, "every idempotent route is tested here");
}
