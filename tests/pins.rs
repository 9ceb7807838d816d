//! Printed cards' PINs through the running server, on SQLite and PostgreSQL: new PINs are a
//! keyed MAC, old Argon2 hashes still pay and are rewritten, wrong PINs count and lock as
//! before on both forms, the MAC depends on the card key and the card, and a slow (old) PIN
//! check does not hold up the other tills' payments.

mod common;

use std::time::{Duration, Instant};

use caisse::card_key::CardKey;
use caisse::domain::card::{app_payload, secret_from_base32, step_at, totp};
use caisse::domain::Role;
use caisse::service::pins;
use caisse::store::funds;
use common::TestApp;
use serde_json::{json, Value};

both_backends!(
    an_old_argon2_pin_pays_and_is_rewritten,
    wrong_pins_count_and_lock_on_both_forms,
    the_mac_depends_on_the_card_key_and_the_card,
    a_slow_pin_check_does_not_hold_up_other_tills,
);

const PIN: &str = "4821";

/// `n` members with one month's allowance (150.00 under the default settings).
async fn funded_members(app: &TestApp, n: usize) -> Vec<String> {
    let treasurer = app.login(Role::Treasurer).await;
    let mut members = Vec::new();
    for i in 0..n {
        members.push(app.new_member(&format!("Adhérente {i}")).await);
    }
    app.post(
        "/api/v1/allowances/issuances",
        Some(&treasurer),
        json!({"period": "2026-11"}),
    )
    .await
    .ok(200);
    members
}

/// A printed card with [`PIN`]: (card id, QR payload).
async fn printed(app: &TestApp, admin: &str, member: &str) -> (String, String) {
    let r = app
        .post(
            &format!("/api/v1/members/{member}/cards"),
            Some(admin),
            json!({"kind": "printed", "pin": PIN}),
        )
        .await;
    let b = r.ok(201);
    (
        b["card_id"].as_str().unwrap().to_string(),
        b["qr_payload"].as_str().unwrap().to_string(),
    )
}

async fn stored_pin(app: &TestApp, card: &str) -> String {
    sqlx::query_scalar("SELECT pin_hash FROM cards WHERE fund_id = $1 AND id = $2")
        .bind(&app.fund_id)
        .bind(card)
        .fetch_one(app.db.pool())
        .await
        .unwrap()
}

async fn wrong_pins(app: &TestApp, card: &str) -> i64 {
    sqlx::query_scalar("SELECT wrong_pins FROM cards WHERE fund_id = $1 AND id = $2")
        .bind(&app.fund_id)
        .bind(card)
        .fetch_one(app.db.pool())
        .await
        .unwrap()
}

/// Writes a PIN hash as a card issued before the MAC had it.
async fn set_stored_pin(app: &TestApp, card: &str, hash: &str) {
    sqlx::query("UPDATE cards SET pin_hash = $3 WHERE fund_id = $1 AND id = $2")
        .bind(&app.fund_id)
        .bind(card)
        .bind(hash)
        .execute(app.db.pool())
        .await
        .unwrap();
}

fn payment(token: &str, pin: &str) -> Value {
    json!({"token": token, "amount": "1.00", "pin": pin})
}

async fn set_pin_attempts(app: &TestApp, n: u32) {
    let mut settings = funds::settings(&app.db, &app.fund_id).await.unwrap();
    settings.pin_attempts = n;
    let mut tx = app.db.begin().await.unwrap();
    funds::put_settings(&mut tx, &app.fund_id, &settings)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

async fn an_old_argon2_pin_pays_and_is_rewritten(app: TestApp) {
    let admin = app.login(Role::Admin).await;
    let (_, till) = app.terminal_login().await;
    let member = funded_members(&app, 1).await.remove(0);
    let (card, token) = printed(&app, &admin, &member).await;
    // A new card stores the MAC form, which is exactly the keyed MAC of this card and PIN.
    let mac = pins::stored_form(&app.card_key, &app.fund_id, &card, PIN);
    assert!(mac.starts_with("pinmac1:"), "{mac}");
    assert_eq!(stored_pin(&app, &card).await, mac);

    // The card as issued before: an Argon2id hash of its PIN.
    let old = caisse::auth::hash_password(PIN);
    assert!(old.starts_with("$argon2id$"));
    set_stored_pin(&app, &card, &old).await;
    let r = app
        .post_idem("/api/v1/redemptions", &till, "old-1", payment(&token, PIN))
        .await;
    assert_eq!(r.ok(201)["remaining_balance"], "149.00");
    assert_eq!(
        stored_pin(&app, &card).await,
        mac,
        "rewritten by the payment"
    );
    // And it keeps paying, now on the MAC.
    let r = app
        .post_idem("/api/v1/redemptions", &till, "old-2", payment(&token, PIN))
        .await;
    assert_eq!(r.ok(201)["remaining_balance"], "148.00");
    assert_eq!(stored_pin(&app, &card).await, mac);

    // A payment declined after the PIN check (here: more than the balance) rewrites nothing:
    // the rewrite is part of the payment's transaction.
    set_stored_pin(&app, &card, &old).await;
    app.post_idem(
        "/api/v1/redemptions",
        &till,
        "old-3",
        json!({"token": token, "amount": "500.00", "pin": PIN}),
    )
    .await
    .problem(422, "insufficient_balance");
    assert_eq!(stored_pin(&app, &card).await, old);
}

async fn wrong_pins_count_and_lock_on_both_forms(app: TestApp) {
    set_pin_attempts(&app, 3).await;
    let admin = app.login(Role::Admin).await;
    let (_, till) = app.terminal_login().await;
    let members = funded_members(&app, 2).await;
    let old = caisse::auth::hash_password(PIN);
    for (i, legacy) in [(0, true), (1, false)] {
        let (card, token) = printed(&app, &admin, &members[i]).await;
        if legacy {
            set_stored_pin(&app, &card, &old).await;
        }
        let pay = |key: String, pin: &str| {
            let body = payment(&token, pin);
            let (app, till) = (&app, &till);
            async move { app.post_idem("/api/v1/redemptions", till, &key, body).await }
        };
        let k = |n: u32| format!("{card}-{n}");
        pay(k(0), "0000").await.problem(422, "pin_wrong");
        pay(k(1), "12345").await.problem(422, "pin_wrong");
        assert_eq!(wrong_pins(&app, &card).await, 2, "legacy: {legacy}");
        // A wrong PIN does not rewrite an old hash.
        if legacy {
            assert_eq!(stored_pin(&app, &card).await, old);
        }
        // The third wrong PIN locks the card and says so; then even the right one is refused.
        pay(k(2), "").await.problem(422, "card_locked");
        pay(k(3), PIN).await.problem(422, "card_locked");
        assert_eq!(wrong_pins(&app, &card).await, 3);
        let r = app
            .post(
                &format!("/api/v1/cards/{card}/unlock"),
                Some(&admin),
                json!({}),
            )
            .await;
        assert_eq!(r.ok(200)["wrong_pins"], 0);
        pay(k(4), "9999").await.problem(422, "pin_wrong");
        assert_eq!(wrong_pins(&app, &card).await, 1);
        // A right PIN pays and starts the count again; an old hash is now the MAC.
        pay(k(5), PIN).await.ok(201);
        assert_eq!(wrong_pins(&app, &card).await, 0);
        assert!(stored_pin(&app, &card).await.starts_with("pinmac1:"));
        // No PIN at all is still its own decline, and counts nothing.
        app.post_idem(
            "/api/v1/redemptions",
            &till,
            &k(6),
            json!({"token": token, "amount": "1.00"}),
        )
        .await
        .problem(422, "pin_required");
        assert_eq!(wrong_pins(&app, &card).await, 0);
        // The same limit on the MAC form.
        pay(k(7), "1111").await.problem(422, "pin_wrong");
        pay(k(8), "2222").await.problem(422, "pin_wrong");
        pay(k(9), "3333").await.problem(422, "card_locked");
        pay(k(10), PIN).await.problem(422, "card_locked");
        assert_eq!(wrong_pins(&app, &card).await, 3);
    }
}

async fn the_mac_depends_on_the_card_key_and_the_card(app: TestApp) {
    let admin = app.login(Role::Admin).await;
    let (_, till) = app.terminal_login().await;
    let members = funded_members(&app, 2).await;
    let (a, token_a) = printed(&app, &admin, &members[0]).await;
    let (b, token_b) = printed(&app, &admin, &members[1]).await;
    // Same PIN, different cards: different stored MACs.
    let (mac_a, mac_b) = (stored_pin(&app, &a).await, stored_pin(&app, &b).await);
    assert_ne!(mac_a, mac_b);

    // A server started with another key file refuses the right PIN (and counts it).
    let other = app.serve_with_key(CardKey::from_bytes(&[42; 32])).await;
    let req = app
        .client
        .post(format!("{other}/api/v1/redemptions"))
        .bearer_auth(&till)
        .header("Idempotency-Key", "other-key")
        .json(&payment(&token_a, PIN));
    app.send(req).await.problem(422, "pin_wrong");
    assert_eq!(wrong_pins(&app, &a).await, 1);
    // The right key still takes it.
    app.post_idem("/api/v1/redemptions", &till, "a-1", payment(&token_a, PIN))
        .await
        .ok(201);

    // Card A's MAC copied onto card B (same PIN) does not open B.
    set_stored_pin(&app, &b, &mac_a).await;
    app.post_idem("/api/v1/redemptions", &till, "b-1", payment(&token_b, PIN))
        .await
        .problem(422, "pin_wrong");
    set_stored_pin(&app, &b, &mac_b).await;
    app.post_idem("/api/v1/redemptions", &till, "b-2", payment(&token_b, PIN))
        .await
        .ok(201);
}

/// An Argon2id hash of `pin` with `passes` passes over 19 MiB, as slow as a test needs.
fn slow_argon2(pin: &str, passes: u32) -> String {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let params = argon2::Params::new(19 * 1024, passes, 1, None).unwrap();
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(pin.as_bytes(), &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string()
}

/// Two tills pay with old cards whose Argon2 check takes seconds; meanwhile a third till's
/// app-card payments must all be answered. When the check ran inside the shared write
/// transaction (SQLite's group commit), every other payment waited behind it, so the PIN
/// payments finished first. Not a timing test: the margin is the Argon2 check (made to last
/// about two seconds here, by its passes) against a few ordinary payments.
async fn a_slow_pin_check_does_not_hold_up_other_tills(app: TestApp) {
    let admin = app.login(Role::Admin).await;
    let members = funded_members(&app, 3).await;
    // How long two passes take in this build, to choose passes for about two seconds.
    let sample = slow_argon2(PIN, 2);
    let started = Instant::now();
    assert!(caisse::auth::verify_password(PIN, &sample));
    let per_pass = started.elapsed().as_secs_f64() / 2.0;
    let passes = ((2.0 / per_pass.max(1e-4)) as u32).clamp(4, 2_000);
    let slow = slow_argon2(PIN, passes);

    let mut pin_payments = Vec::new();
    for (i, member) in members[..2].iter().enumerate() {
        let (card, token) = printed(&app, &admin, member).await;
        set_stored_pin(&app, &card, &slow).await;
        let (_, till) = app.terminal_login().await;
        let req = app
            .client
            .post(app.url("/api/v1/redemptions"))
            .bearer_auth(&till)
            .header("Idempotency-Key", format!("slow-{i}"))
            .json(&payment(&token, PIN));
        pin_payments.push((card, tokio::spawn(req.send())));
    }
    // Give the PIN payments time to reach their check (where the old code held the writer).
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (_, till) = app.terminal_login().await;
    let mut answered = 0;
    for n in 0..4 {
        let r = app
            .post(
                &format!("/api/v1/members/{}/cards", members[2]),
                Some(&admin),
                json!({"kind": "app"}),
            )
            .await;
        let b = r.ok(201);
        let card = b["card_id"].as_str().unwrap();
        let secret = secret_from_base32(b["secret"].as_str().unwrap()).unwrap();
        let token = app_payload(
            card,
            &totp(&secret, step_at(chrono::Utc::now().timestamp())),
        );
        app.post_idem(
            "/api/v1/redemptions",
            &till,
            &format!("app-{n}"),
            json!({"token": token, "amount": "1.00"}),
        )
        .await
        .ok(201);
        answered += 1;
    }
    assert_eq!(answered, 4);
    for (_, handle) in &pin_payments {
        assert!(
            !handle.is_finished(),
            "a PIN payment ended before the app-card payments that came after it: its \
             check held the others up (check of {passes} passes)"
        );
    }
    for (card, handle) in pin_payments {
        let r = handle.await.unwrap().unwrap();
        assert_eq!(r.status().as_u16(), 201);
        assert!(stored_pin(&app, &card).await.starts_with("pinmac1:"));
    }
}
