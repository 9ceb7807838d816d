//! Payments at the till: each test on SQLite and PostgreSQL.

mod common;

use caisse::domain::card::{app_payload, secret_from_base32, step_at, totp};
use caisse::domain::Role;
use common::TestApp;
use serde_json::{json, Value};

both_backends!(
    a_payment_and_its_refunds,
    declines_move_nothing,
    printed_cards_and_pins,
    parallel_payments_never_overspend,
    one_code_two_tills,
    the_list_pages_through_payments_of_the_same_instant,
    a_day_in_a_query_is_the_funds_day,
);

struct Fund {
    treasurer: String,
    member: String,
}

/// A member with one month's allowance (150.00 under the default settings).
async fn fund(app: &TestApp) -> Fund {
    let treasurer = app.login(Role::Treasurer).await;
    let member = app.new_member("Acheteuse").await;
    app.post(
        "/api/v1/allowances/issuances",
        Some(&treasurer),
        json!({"period": "2026-11"}),
    )
    .await
    .ok(200);
    Fund { treasurer, member }
}

async fn app_card(app: &TestApp, token: &str, member: &str) -> (String, Vec<u8>) {
    let r = app
        .post(
            &format!("/api/v1/members/{member}/cards"),
            Some(token),
            json!({"kind": "app"}),
        )
        .await;
    let b = r.ok(201);
    (
        b["card_id"].as_str().unwrap().to_string(),
        secret_from_base32(b["secret"].as_str().unwrap()).unwrap(),
    )
}

/// The payload the member's phone shows `steps_ago` steps ago.
fn code(card: &str, secret: &[u8], steps_ago: i64) -> String {
    let step = step_at(chrono::Utc::now().timestamp()) - steps_ago;
    app_payload(card, &totp(secret, step))
}

async fn pay(app: &TestApp, till: &str, key: &str, token: &str, amount: &str) -> common::Reply {
    app.post_idem(
        "/api/v1/redemptions",
        till,
        key,
        json!({"token": token, "amount": amount}),
    )
    .await
}

async fn balance(app: &TestApp, t: &str, member: &str) -> String {
    let r = app
        .get(&format!("/api/v1/members/{member}/account"), Some(t))
        .await;
    r.ok(200)["balance"].as_str().unwrap().to_string()
}

async fn verified_entries(app: &TestApp, t: &str) -> i64 {
    let v = app.get("/api/v1/ledger/verification", Some(t)).await;
    let v = v.ok(200);
    assert_eq!(v["clean"], true, "{v}");
    v["entries"].as_i64().unwrap()
}

async fn a_payment_and_its_refunds(app: TestApp) {
    let f = fund(&app).await;
    let (card, secret) = app_card(&app, &f.treasurer, &f.member).await;
    let (shop, till) = app.terminal_login().await;
    let token = code(&card, &secret, 0);
    let before = verified_entries(&app, &f.treasurer).await;

    let r = pay(&app, &till, "sale-1", &token, "12.50").await;
    let body = r.ok(201).clone();
    assert_eq!(body["status"], "approved");
    assert_eq!(body["amount"], "12.50");
    assert_eq!(body["remaining_balance"], "137.50");
    // Nothing in the answer names the member.
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        keys,
        vec!["amount", "created_at", "id", "remaining_balance", "status"]
    );
    assert!(!body.to_string().contains(&f.member));

    // A retry answers the same and pays once.
    let again = pay(&app, &till, "sale-1", &token, "12.50").await;
    assert_eq!(again.ok(201), &body);
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    pay(&app, &till, "sale-1", &token, "13.00")
        .await
        .problem(409, "idempotency_key_reused");
    assert_eq!(verified_entries(&app, &f.treasurer).await, before + 1);
    // The same code under a new key: already used.
    pay(&app, &till, "sale-2", &token, "1.00")
        .await
        .problem(422, "token_reused");
    assert_eq!(balance(&app, &f.treasurer, &f.member).await, "137.50");

    // Refunds by the same shop, never more than the payment.
    let id = body["id"].as_str().unwrap();
    let path = format!("/api/v1/redemptions/{id}/refunds");
    let r = app
        .post_idem(&path, &till, "refund-1", json!({"amount": "5.00"}))
        .await;
    assert_eq!(r.ok(201)["refundable"], "7.50");
    let r = app
        .post_idem(&path, &till, "refund-2", json!({"amount": "7.51"}))
        .await;
    r.problem(422, "refund_exceeds_redemption");
    assert_eq!(r.fields(), vec!["amount"]);
    let r = app
        .post_idem(&path, &till, "refund-3", json!({"amount": "7.50"}))
        .await;
    assert_eq!(r.ok(201)["refundable"], "0.00");
    assert_eq!(balance(&app, &f.treasurer, &f.member).await, "150.00");
    // Another shop's till cannot touch it.
    let (_other, other_till) = app.terminal_login().await;
    app.post_idem(&path, &other_till, "refund-4", json!({"amount": "1.00"}))
        .await
        .problem(404, "not_found");

    // The member sees the purchase with the shop's name; the till lists its own sales.
    let h = app
        .get(
            &format!("/api/v1/members/{}/transactions", f.member),
            Some(&f.treasurer),
        )
        .await;
    let labels: Vec<String> = h.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap().to_string())
        .collect();
    assert!(
        labels.iter().any(|l| l.starts_with("Achat — Épicerie")),
        "{labels:?}"
    );
    let mine = app.get("/api/v1/redemptions", Some(&till)).await;
    let items = mine.ok(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["shop_id"], shop);
    assert_eq!(items[0]["refunded"], "12.50");
    let theirs = app.get("/api/v1/redemptions", Some(&other_till)).await;
    assert_eq!(theirs.ok(200)["items"].as_array().unwrap().len(), 0);
    let member_token = app.login_as(Role::Member, Some(&f.member)).await;
    app.get("/api/v1/redemptions", Some(&member_token))
        .await
        .problem(403, "forbidden");
    assert_eq!(verified_entries(&app, &f.treasurer).await, before + 3);
}

async fn declines_move_nothing(app: TestApp) {
    let f = fund(&app).await;
    let (card, secret) = app_card(&app, &f.treasurer, &f.member).await;
    let (shop, till) = app.terminal_login().await;
    let before = verified_entries(&app, &f.treasurer).await;

    let cases = [
        (code(&card, &secret, 2), "1.00", "token_expired"),
        (format!("caisse1:{card}:00000000"), "1.00", "token_invalid"),
        (
            "caisse1:card_nope:12345678".to_string(),
            "1.00",
            "token_invalid",
        ),
        ("not a token".to_string(), "1.00", "token_invalid"),
        (code(&card, &secret, 0), "150.01", "insufficient_balance"),
    ];
    for (i, (token, amount, expected)) in cases.iter().enumerate() {
        pay(&app, &till, &format!("d{i}"), token, amount)
            .await
            .problem(422, expected);
    }
    // The refused code was not spent: it still pays.
    pay(&app, &till, "ok", &code(&card, &secret, 0), "1.00")
        .await
        .ok(201);
    let r = pay(&app, &till, "zero", &code(&card, &secret, 1), "0.00").await;
    r.problem(422, "amount_invalid");

    // A suspended member, a suspended shop, a revoked card (a second card: the first one's
    // current code is spent; each refusal leaves this one's unspent).
    let (card, secret) = app_card(&app, &f.treasurer, &f.member).await;
    app.post(
        &format!("/api/v1/members/{}/suspend", f.member),
        Some(&f.treasurer),
        json!({}),
    )
    .await
    .ok(200);
    pay(&app, &till, "s1", &code(&card, &secret, 0), "1.00")
        .await
        .problem(422, "member_inactive");
    app.post(
        &format!("/api/v1/members/{}/reactivate", f.member),
        Some(&f.treasurer),
        json!({}),
    )
    .await
    .ok(200);
    let admin = app.login(Role::Admin).await;
    app.post(
        &format!("/api/v1/shops/{shop}/suspend"),
        Some(&admin),
        json!({}),
    )
    .await
    .ok(200);
    pay(&app, &till, "s2", &code(&card, &secret, 0), "1.00")
        .await
        .problem(422, "shop_not_approved");
    app.post(
        &format!("/api/v1/shops/{shop}/reinstate"),
        Some(&admin),
        json!({}),
    )
    .await
    .ok(200);
    app.post(
        &format!("/api/v1/cards/{card}/revoke"),
        Some(&f.treasurer),
        json!({}),
    )
    .await
    .ok(200);
    pay(&app, &till, "s3", &code(&card, &secret, 0), "1.00")
        .await
        .problem(422, "card_revoked");

    assert_eq!(balance(&app, &f.treasurer, &f.member).await, "149.00");
    assert_eq!(verified_entries(&app, &f.treasurer).await, before + 1);
    // Every refusal is kept for the committee's fraud review.
    let n: i64 =
        sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM declines WHERE fund_id = $1")
            .bind(&app.fund_id)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(n, 8);
    // Only tills pay.
    pay(&app, &f.treasurer, "t", &code(&card, &secret, 0), "1.00")
        .await
        .problem(403, "forbidden");
}

async fn printed_cards_and_pins(app: TestApp) {
    let f = fund(&app).await;
    let r = app
        .post(
            &format!("/api/v1/members/{}/cards", f.member),
            Some(&f.treasurer),
            json!({"kind": "printed", "pin": "4821"}),
        )
        .await;
    let payload = r.ok(201)["qr_payload"].as_str().unwrap().to_string();
    let card = payload.rsplit(':').next().unwrap().to_string();
    let (_shop, till) = app.terminal_login().await;
    let with_pin = |pin: Option<&str>| match pin {
        Some(p) => json!({"token": payload, "amount": "2.00", "pin": p}),
        None => json!({"token": payload, "amount": "2.00"}),
    };
    app.post_idem("/api/v1/redemptions", &till, "p0", with_pin(None))
        .await
        .problem(422, "pin_required");
    app.post_idem("/api/v1/redemptions", &till, "p1", with_pin(Some("4821")))
        .await
        .ok(201);
    // pin_attempts is 5: four wrong PINs, then the fifth locks the card.
    for i in 0..4 {
        app.post_idem(
            "/api/v1/redemptions",
            &till,
            &format!("w{i}"),
            with_pin(Some("0000")),
        )
        .await
        .problem(422, "pin_wrong");
    }
    app.post_idem("/api/v1/redemptions", &till, "w4", with_pin(Some("0000")))
        .await
        .problem(422, "card_locked");
    app.post_idem("/api/v1/redemptions", &till, "p2", with_pin(Some("4821")))
        .await
        .problem(422, "card_locked");
    let admin = app.login(Role::Admin).await;
    app.post(
        &format!("/api/v1/cards/{card}/unlock"),
        Some(&admin),
        json!({}),
    )
    .await
    .ok(200);
    let r = app
        .post_idem("/api/v1/redemptions", &till, "p3", with_pin(Some("4821")))
        .await;
    assert_eq!(r.ok(201)["remaining_balance"], "146.00");
}

async fn parallel_payments_never_overspend(app: TestApp) {
    let f = fund(&app).await;
    // 100 cards of one member, 100 tills' worth of codes at once; 150.00 affords ten of 15.00.
    let mut tokens = Vec::new();
    for _ in 0..100 {
        let (card, secret) = app_card(&app, &f.treasurer, &f.member).await;
        tokens.push(code(&card, &secret, 0));
    }
    let (_shop, till) = app.terminal_login().await;
    let mut tasks = Vec::new();
    for (i, token) in tokens.into_iter().enumerate() {
        let (base, till) = (app.base.clone(), till.clone());
        tasks.push(tokio::spawn(async move {
            let r = reqwest::Client::new()
                .post(format!("{base}/api/v1/redemptions"))
                .bearer_auth(till)
                .header("Idempotency-Key", format!("p{i}"))
                .json(&json!({"token": token, "amount": "15.00"}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }));
    }
    let (mut approved, mut short) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            (201, _) => approved += 1,
            (422, b) if b["code"] == "insufficient_balance" => short += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!((approved, short), (10, 90));
    assert_eq!(balance(&app, &f.treasurer, &f.member).await, "0.00");
    verified_entries(&app, &f.treasurer).await;
}

async fn one_code_two_tills(app: TestApp) {
    let f = fund(&app).await;
    let (card, secret) = app_card(&app, &f.treasurer, &f.member).await;
    let (_a, till_a) = app.terminal_login().await;
    let (_b, till_b) = app.terminal_login().await;
    let token = code(&card, &secret, 0);
    let (ra, rb) = tokio::join!(
        pay(&app, &till_a, "a", &token, "3.00"),
        pay(&app, &till_b, "b", &token, "3.00")
    );
    let mut codes = vec![ra.status.as_u16(), rb.status.as_u16()];
    codes.sort();
    assert_eq!(codes, vec![201, 422]);
    let refused = if ra.status.as_u16() == 422 { &ra } else { &rb };
    assert_eq!(refused.body["code"], "token_reused");
    assert_eq!(balance(&app, &f.treasurer, &f.member).await, "147.00");
}

mod rate_limit {
    use super::*;

    /// A till that sends more than its rate gets 429 problem+json, and nothing is paid.
    async fn tills_are_rate_limited(app: TestApp) {
        let f = fund(&app).await;
        let (card, secret) = app_card(&app, &f.treasurer, &f.member).await;
        let (_shop, till) = app.terminal_login().await;
        let token = code(&card, &secret, 0);
        // Burst of 3: three requests pass (the first pays, the others are refused for the
        // spent code), the fourth is limited.
        pay(&app, &till, "r0", &token, "1.00").await.ok(201);
        pay(&app, &till, "r1", &token, "1.00")
            .await
            .problem(422, "token_reused");
        pay(&app, &till, "r2", &token, "1.00")
            .await
            .problem(422, "token_reused");
        let r = pay(&app, &till, "r3", &token, "1.00").await;
        r.problem(429, "rate_limited");
        assert_eq!(balance(&app, &f.treasurer, &f.member).await, "149.00");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        let app = common::spawn_app_with(caisse::store::Backend::Sqlite, |c| {
            c.till_rate_per_second = 1;
            c.till_burst = 3;
        })
        .await
        .unwrap();
        tills_are_rate_limited(app).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    #[cfg_attr(caisse_skip_postgres, ignore = "CAISSE_TEST_SKIP_POSTGRES=1")]
    async fn postgres() {
        let app = common::spawn_app_with(caisse::store::Backend::Postgres, |c| {
            c.till_rate_per_second = 1;
            c.till_burst = 3;
        })
        .await;
        if let Some(app) = app {
            tills_are_rate_limited(app).await;
        }
    }
}

/// Busy tills write several payments in the same microsecond: paging the list with
/// `next_cursor` shows each payment exactly once, newest first.
async fn the_list_pages_through_payments_of_the_same_instant(app: TestApp) {
    let t = app.login(Role::Treasurer).await;
    let now = caisse::domain::now_micros();
    // Seven sales: five of them in one microsecond, listed by id within it.
    let instants = [
        now - 10,
        now - 5,
        now - 5,
        now - 5,
        now - 5,
        now - 5,
        now - 1,
    ];
    for (i, at) in instants.iter().enumerate() {
        sqlx::query(
            "INSERT INTO redemptions (fund_id, id, shop_id, terminal_id, card_id, member_id, \
             amount, refunded, entry_id, created_at) \
             VALUES ($1, $2, 'shop_x', 'till_x', 'card_x', 'mem_x', 100, 0, 0, $3)",
        )
        .bind(&app.fund_id)
        .bind(format!("red_same_{i}"))
        .bind(*at)
        .execute(app.db.pool())
        .await
        .unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let url = match &cursor {
            None => "/api/v1/redemptions?limit=2".to_string(),
            Some(c) => format!("/api/v1/redemptions?limit=2&cursor={c}"),
        };
        let page = app.get(&url, Some(&t)).await.ok(200).clone();
        for item in page["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let expected: Vec<String> = [6, 5, 4, 3, 2, 1, 0]
        .iter()
        .map(|i| format!("red_same_{i}"))
        .collect();
    assert_eq!(seen, expected);

    // A cursor that names no payment of the fund is refused, not read as "from the start".
    let r = app
        .get("/api/v1/redemptions?cursor=red_nowhere", Some(&t))
        .await;
    r.problem(422, "validation_failed");
}

/// `from=` and `to=` as dates are days in the fund's time zone (Europe/Paris): a sale at 00:30
/// in Paris on 1 December is a December sale, although it is 23:30 UTC on 30 November.
async fn a_day_in_a_query_is_the_funds_day(app: TestApp) {
    let t = app.login(Role::Treasurer).await;
    let at = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_micros()
    };
    for (id, instant) in [
        ("red_nov", "2026-11-30T22:30:00Z"),
        ("red_dec", "2026-11-30T23:30:00Z"),
    ] {
        sqlx::query(
            "INSERT INTO redemptions (fund_id, id, shop_id, terminal_id, card_id, member_id, \
             amount, refunded, entry_id, created_at) \
             VALUES ($1, $2, 'shop_x', 'till_x', 'card_x', 'mem_x', 100, 0, 0, $3)",
        )
        .bind(&app.fund_id)
        .bind(id)
        .bind(at(instant))
        .execute(app.db.pool())
        .await
        .unwrap();
    }
    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    };
    let december = app
        .get(
            "/api/v1/redemptions?from=2026-12-01&to=2027-01-01",
            Some(&t),
        )
        .await
        .ok(200)
        .clone();
    assert_eq!(ids(&december), ["red_dec"]);
    let november = app
        .get(
            "/api/v1/redemptions?from=2026-11-01&to=2026-12-01",
            Some(&t),
        )
        .await
        .ok(200)
        .clone();
    assert_eq!(ids(&november), ["red_nov"]);
}
