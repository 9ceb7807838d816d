//! Black-box tests of members' cards: issuing per role, secrets shown once and sealed at rest,
//! PINs, revocation, QR images read back by an independent decoder, and the token check the
//! redemption relies on, each on SQLite and PostgreSQL.

mod common;

use caisse::domain::card::{secret_from_base32, step_at, totp};
use caisse::domain::now_micros;
use caisse::domain::{FundId, Instant, Role};
use caisse::service::cards::{self, VerifiedCard, VerifyError};
use caisse::service::pins;
use caisse::store::funds;
use common::TestApp;
use serde_json::{json, Value};
use sqlx::Row;

both_backends!(
    card_routes_are_in_openapi,
    who_may_issue_cards,
    pins_are_validated,
    secret_is_shown_once_and_sealed_at_rest,
    revocation,
    qr_images_decode_to_the_current_payload,
    app_tokens,
    printed_card_pins_and_lock,
);

const SECOND: i64 = 1_000_000;

async fn issue(app: &TestApp, token: &str, member: &str, body: Value) -> Value {
    app.post(
        &format!("/api/v1/members/{member}/cards"),
        Some(token),
        body,
    )
    .await
    .ok(201)
    .clone()
}

/// Runs the check as the redemption will: its own transaction, committed on success; a wrong
/// PIN is counted after the rollback. Answers the decline code on refusal.
async fn verify(
    app: &TestApp,
    token: &str,
    pin: Option<&str>,
    now: i64,
) -> Result<VerifiedCard, &'static str> {
    let fund = FundId::new(&app.fund_id);
    let proof = pins::prove(&app.db, &app.card_key, &fund, token, pin)
        .await
        .unwrap();
    let mut tx = app.db.begin().await.unwrap();
    let verified = cards::verify_token(
        &mut tx,
        &app.card_key,
        &fund,
        token,
        proof.as_ref(),
        Instant::from_micros(now),
    );
    match verified.await {
        Ok(card) => {
            tx.commit().await.unwrap();
            Ok(card)
        }
        Err(VerifyError::Declined(d)) => Err(d.code().as_str()),
        Err(VerifyError::WrongPin { card_id }) => {
            tx.rollback().await.unwrap();
            let d = cards::record_wrong_pin(&app.db, &fund, &card_id)
                .await
                .unwrap();
            Err(d.code().as_str())
        }
        Err(VerifyError::Store(e)) => panic!("store error: {e}"),
    }
}

async fn card_routes_are_in_openapi(app: TestApp) {
    let doc = app.get("/api/openapi.json", None).await;
    let paths = &doc.ok(200)["paths"];
    for (path, method) in [
        ("/api/v1/members/{id}/cards", "post"),
        ("/api/v1/members/{id}/cards", "get"),
        ("/api/v1/cards/{card_id}/revoke", "post"),
        ("/api/v1/cards/{card_id}/unlock", "post"),
        ("/api/v1/cards/{card_id}/qr.svg", "get"),
    ] {
        let op = &paths[path][method];
        assert!(op.is_object(), "{method} {path} missing");
        assert!(op["responses"]["404"].is_object(), "{method} {path}");
    }
}

async fn who_may_issue_cards(app: TestApp) {
    let admin = app.login(Role::Admin).await;
    let treasurer = app.login(Role::Treasurer).await;
    let committee = app.login(Role::Committee).await;
    let member_id = app.new_member("Awa Diallo").await;
    let member = app.login_as(Role::Member, Some(&member_id)).await;
    let other = app.login(Role::Member).await;
    let (_, till) = app.terminal_login().await;
    let path = format!("/api/v1/members/{member_id}/cards");

    // The member: an app card for themself, not a printed one.
    let own = issue(&app, &member, &member_id, json!({"kind": "app"})).await;
    assert_eq!(own["kind"], "app");
    assert!(own["card_id"].as_str().unwrap().starts_with("card_"));
    let secret = own["secret"].as_str().unwrap();
    assert_eq!(secret_from_base32(secret).unwrap().len(), 32);
    assert!(!secret.contains('='));
    app.post(
        &path,
        Some(&member),
        json!({"kind": "printed", "pin": "1234"}),
    )
    .await
    .problem(403, "forbidden");
    // Someone else's member: not found; committee and tills: forbidden.
    app.post(&path, Some(&other), json!({"kind": "app"}))
        .await
        .problem(404, "not_found");
    app.get(&path, Some(&other)).await.problem(404, "not_found");
    for token in [&committee, &till] {
        app.post(&path, Some(token), json!({"kind": "app"}))
            .await
            .problem(403, "forbidden");
        app.get(&path, Some(token)).await.problem(403, "forbidden");
    }
    app.post(&path, None, json!({"kind": "app"}))
        .await
        .problem(401, "unauthenticated");

    // Staff: both kinds.
    let printed = issue(
        &app,
        &treasurer,
        &member_id,
        json!({"kind": "printed", "pin": "4821"}),
    )
    .await;
    let id = printed["card_id"].as_str().unwrap();
    assert_eq!(printed["qr_payload"], format!("caisse1:{id}"));
    assert!(printed.get("secret").is_none());
    issue(&app, &admin, &member_id, json!({"kind": "app"})).await;

    let listed = app.get(&path, Some(&member)).await;
    let items = listed.ok(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|c| c["status"] == "active"));

    // No card for a member who is not active, nor for a member who does not exist.
    app.post(
        &format!("/api/v1/members/{member_id}/suspend"),
        Some(&admin),
        json!({}),
    )
    .await
    .ok(200);
    app.post(&path, Some(&admin), json!({"kind": "app"}))
        .await
        .problem(409, "member_not_active");
    app.post(
        "/api/v1/members/mem_nope/cards",
        Some(&admin),
        json!({"kind": "app"}),
    )
    .await
    .problem(404, "not_found");
}

async fn pins_are_validated(app: TestApp) {
    let admin = app.login(Role::Admin).await;
    let member_id = app.new_member("Jean Martin").await;
    let path = format!("/api/v1/members/{member_id}/cards");
    for body in [
        json!({"kind": "printed"}),
        json!({"kind": "printed", "pin": "123"}),
        json!({"kind": "printed", "pin": "1234567"}),
        json!({"kind": "printed", "pin": "12a4"}),
        json!({"kind": "printed", "pin": 1234}),
        json!({"kind": "app", "pin": "1234"}),
    ] {
        let r = app.post(&path, Some(&admin), body.clone()).await;
        assert_eq!(r.status.as_u16(), 422, "{body}: {}", r.body);
        assert_eq!(r.fields(), vec!["pin".to_string()], "{body}: {}", r.body);
    }
    let r = app
        .post(&path, Some(&admin), json!({"kind": "badge"}))
        .await;
    assert_eq!(r.status.as_u16(), 422);
    assert_eq!(r.fields(), vec!["kind".to_string()]);
    for pin in ["0000", "123456"] {
        issue(
            &app,
            &admin,
            &member_id,
            json!({"kind": "printed", "pin": pin}),
        )
        .await;
    }
}

async fn secret_is_shown_once_and_sealed_at_rest(app: TestApp) {
    let admin = app.login(Role::Admin).await;
    let member_id = app.new_member("Lina Haddad").await;
    let card = issue(&app, &admin, &member_id, json!({"kind": "app"})).await;
    let id = card["card_id"].as_str().unwrap();
    let secret_b32 = card["secret"].as_str().unwrap();
    let secret = secret_from_base32(secret_b32).unwrap();

    let listed = app
        .get(&format!("/api/v1/members/{member_id}/cards"), Some(&admin))
        .await;
    let text = listed.ok(200).to_string();
    assert!(text.contains(id));
    assert!(
        !text.contains(secret_b32) && !text.contains("secret"),
        "{text}"
    );
    let revoked = app
        .post(
            &format!("/api/v1/cards/{id}/revoke"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert!(revoked.ok(200).get("secret").is_none());

    let row = sqlx::query("SELECT * FROM cards WHERE fund_id = $1 AND id = $2")
        .bind(&app.fund_id)
        .bind(id)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let sealed: String = row.try_get("secret_enc").unwrap();
    let pin_hash: Option<String> = row.try_get("pin_hash").unwrap();
    assert!(pin_hash.is_none());
    for plain in [
        secret_b32.to_string(),
        secret_b32.to_lowercase(),
        hex::encode(&secret),
    ] {
        assert!(!sealed.contains(&plain), "the secret is stored in clear");
    }
    // It is the secret, sealed with the configured key, and bound to this card.
    let context = format!("{}:{id}", app.fund_id);
    assert_eq!(app.card_key.open(&sealed, &context).unwrap(), secret);
    assert!(app.card_key.open(&sealed, "other:card").is_none());

    // A printed card's PIN is an Argon2id hash.
    let printed = issue(
        &app,
        &admin,
        &member_id,
        json!({"kind": "printed", "pin": "918273"}),
    )
    .await;
    let hash: String =
        sqlx::query_scalar("SELECT pin_hash FROM cards WHERE fund_id = $1 AND id = $2")
            .bind(&app.fund_id)
            .bind(printed["card_id"].as_str().unwrap())
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    // The PIN is kept only as its keyed MAC (tests/pins.rs checks the key and the card bind it).
    assert!(
        hash.starts_with("pinmac1:") && !hash.contains("918273"),
        "{hash}"
    );
    assert_eq!(hash.len(), "pinmac1:".len() + 64);
}

async fn revocation(app: TestApp) {
    let admin = app.login(Role::Admin).await;
    let treasurer = app.login(Role::Treasurer).await;
    let committee = app.login(Role::Committee).await;
    let member_id = app.new_member("Paul Girard").await;
    let member = app.login_as(Role::Member, Some(&member_id)).await;
    let other = app.login(Role::Member).await;
    let a = issue(&app, &member, &member_id, json!({"kind": "app"})).await;
    let a_id = a["card_id"].as_str().unwrap().to_string();
    let secret = secret_from_base32(a["secret"].as_str().unwrap()).unwrap();
    let p = issue(
        &app,
        &admin,
        &member_id,
        json!({"kind": "printed", "pin": "2468"}),
    )
    .await;
    let p_id = p["card_id"].as_str().unwrap().to_string();

    app.post(
        &format!("/api/v1/cards/{a_id}/revoke"),
        Some(&other),
        json!({}),
    )
    .await
    .problem(404, "not_found");
    app.post(
        &format!("/api/v1/cards/{a_id}/revoke"),
        Some(&committee),
        json!({}),
    )
    .await
    .problem(403, "forbidden");
    app.post("/api/v1/cards/card_nope/revoke", Some(&admin), json!({}))
        .await
        .problem(404, "not_found");

    let r = app
        .post(
            &format!("/api/v1/cards/{a_id}/revoke"),
            Some(&member),
            json!({}),
        )
        .await;
    let v = r.ok(200);
    assert_eq!(v["status"], "revoked");
    assert_eq!(v["card_id"], a_id.as_str());
    assert!(v["revoked_at"].is_string());
    let again = app
        .post(
            &format!("/api/v1/cards/{a_id}/revoke"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(again.ok(200)["revoked_at"], v["revoked_at"]);
    app.post(
        &format!("/api/v1/cards/{p_id}/revoke"),
        Some(&treasurer),
        json!({}),
    )
    .await
    .ok(200);

    let now = now_micros();
    let code = totp(&secret, step_at(now / SECOND));
    assert_eq!(
        verify(&app, &format!("caisse1:{a_id}:{code}"), None, now).await,
        Err("card_revoked")
    );
    assert_eq!(
        verify(&app, &format!("caisse1:{p_id}"), Some("2468"), now).await,
        Err("card_revoked")
    );
    app.get(&format!("/api/v1/cards/{a_id}/qr.svg"), Some(&member))
        .await
        .problem(409, "card_revoked");
}

/// The dark modules of the SVG that `qrcode` draws: one `M x y h w v h H x V y` per rectangle.
fn rasterise(svg: &str) -> (usize, usize, Vec<bool>) {
    let attr = |name: &str| -> usize {
        let start = svg.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        svg[start..].split('"').next().unwrap().parse().unwrap()
    };
    let (w, h) = (attr("width"), attr("height"));
    let d_start = svg.find(" d=\"").unwrap() + 4;
    let d = svg[d_start..].split('"').next().unwrap();
    let mut pixels = vec![false; w * h];
    for rect in d.split('M').filter(|s| !s.is_empty()) {
        let n: Vec<usize> = rect
            .split(|c: char| c.is_ascii_alphabetic() || c == ' ')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect();
        let (x, y, rw, rh) = (n[0], n[1], n[2], n[3]);
        for yy in y..y + rh {
            for xx in x..x + rw {
                pixels[yy * w + xx] = true;
            }
        }
    }
    (w, h, pixels)
}

/// Reads the QR code back with `rqrr`, an independent decoder: (payload, ECC level bits).
fn decode(svg: &str) -> (String, u16) {
    let (w, h, pixels) = rasterise(svg);
    // The quiet zone: four light modules of 8 px on every side.
    for y in 0..h {
        for x in 0..w {
            if x < 32 || y < 32 || x >= w - 32 || y >= h - 32 {
                assert!(
                    !pixels[y * w + x],
                    "dark pixel in the quiet zone at {x},{y}"
                );
            }
        }
    }
    let mut img = rqrr::PreparedImage::prepare_from_bitmap(w, h, |x, y| pixels[y * w + x]);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    let (meta, content) = grids[0].decode().expect("decodable");
    (content, meta.ecc_level)
}

async fn qr_images_decode_to_the_current_payload(app: TestApp) {
    let admin = app.login(Role::Admin).await;
    let treasurer = app.login(Role::Treasurer).await;
    let member_id = app.new_member("Nour Benali").await;
    let member = app.login_as(Role::Member, Some(&member_id)).await;
    let other = app.login(Role::Member).await;
    let a = issue(&app, &member, &member_id, json!({"kind": "app"})).await;
    let a_id = a["card_id"].as_str().unwrap().to_string();
    let secret = secret_from_base32(a["secret"].as_str().unwrap()).unwrap();

    let before = now_micros();
    let r = app
        .get(&format!("/api/v1/cards/{a_id}/qr.svg"), Some(&member))
        .await;
    let after = now_micros();
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    assert_eq!(r.headers["content-type"], "image/svg+xml");
    let svg = r.body.as_str().unwrap();
    let (payload, ecc) = decode(svg);
    assert_eq!(ecc, 0, "error correction level M");
    let codes: Vec<String> = [before, after]
        .iter()
        .map(|t| format!("caisse1:{a_id}:{}", totp(&secret, step_at(t / SECOND))))
        .collect();
    assert!(codes.contains(&payload), "{payload} not in {codes:?}");
    // What the image shows is accepted at the till.
    let card = verify(&app, &payload, None, after).await.unwrap();
    assert_eq!(card.card_id.as_str(), a_id);
    assert_eq!(card.member_id.as_str(), member_id);

    let p = issue(
        &app,
        &treasurer,
        &member_id,
        json!({"kind": "printed", "pin": "1357"}),
    )
    .await;
    let p_id = p["card_id"].as_str().unwrap();
    let r = app
        .get(&format!("/api/v1/cards/{p_id}/qr.svg"), Some(&admin))
        .await;
    assert_eq!(r.status.as_u16(), 200);
    assert_eq!(
        decode(r.body.as_str().unwrap()).0,
        format!("caisse1:{p_id}")
    );
    assert_eq!(p["qr_payload"], format!("caisse1:{p_id}"));

    app.get(&format!("/api/v1/cards/{a_id}/qr.svg"), Some(&other))
        .await
        .problem(404, "not_found");
    app.get(&format!("/api/v1/cards/{a_id}/qr.svg"), Some(&treasurer))
        .await
        .problem(403, "forbidden");
    app.get("/api/v1/cards/card_nope/qr.svg", Some(&admin))
        .await
        .problem(404, "not_found");
}

async fn app_tokens(app: TestApp) {
    let admin = app.login(Role::Admin).await;
    let member_id = app.new_member("Chloé Petit").await;
    let a = issue(&app, &admin, &member_id, json!({"kind": "app"})).await;
    let id = a["card_id"].as_str().unwrap().to_string();
    let secret = secret_from_base32(a["secret"].as_str().unwrap()).unwrap();
    // A fixed instant in the middle of a step.
    let now = (now_micros() / SECOND / 30 * 30 + 10) * SECOND;
    let step = step_at(now / SECOND);
    let token = |s: i64| format!("caisse1:{id}:{}", totp(&secret, s));

    // The current step, once.
    let ok = verify(&app, &token(step), None, now).await.unwrap();
    assert_eq!(ok.member_id.as_str(), member_id);
    assert_eq!(
        verify(&app, &token(step), None, now).await,
        Err("token_reused")
    );
    // The step before, once, even 29 seconds into the next one.
    assert!(verify(&app, &token(step - 1), None, now).await.is_ok());
    assert_eq!(
        verify(&app, &token(step - 1), None, now + 15 * SECOND).await,
        Err("token_reused")
    );
    // Two steps old or more: expired. A step still to come, or a made-up code: invalid.
    assert_eq!(
        verify(&app, &token(step - 2), None, now).await,
        Err("token_expired")
    );
    assert_eq!(
        verify(&app, &token(step - 60), None, now).await,
        Err("token_expired")
    );
    assert_eq!(
        verify(&app, &token(step + 1), None, now).await,
        Err("token_invalid")
    );
    let real = totp(&secret, step + 1);
    let forged = if real == "12345678" {
        "87654321"
    } else {
        "12345678"
    };
    let forged_ok = (step - 120..=step + 1).all(|s| totp(&secret, s) != forged);
    if forged_ok {
        assert_eq!(
            verify(&app, &format!("caisse1:{id}:{forged}"), None, now).await,
            Err("token_invalid")
        );
    }
    // Someone else's secret gives nothing.
    let wrong_secret = [9u8; 32];
    let stolen = format!("caisse1:{id}:{}", totp(&wrong_secret, step + 2));
    let d = verify(&app, &stolen, None, now + 60 * SECOND).await;
    assert!(
        matches!(d, Err("token_invalid") | Err("token_expired")),
        "{d:?}"
    );
    for junk in [
        "",
        "caisse1",
        "caisse1:card_nope:12345678",
        "caisse2:x:12345678",
        &format!("caisse1:{id}:1234"),
        &format!("caisse1:{id}"),
        &format!("caisse1:{id}:{}:1", totp(&secret, step + 2)),
    ] {
        assert_eq!(
            verify(&app, junk, None, now).await,
            Err("token_invalid"),
            "{junk}"
        );
    }

    // A redemption that rolls back does not spend the code.
    let next = now + 30 * SECOND;
    let mut tx = app.db.begin().await.unwrap();
    cards::verify_token(
        &mut tx,
        &app.card_key,
        &FundId::new(&app.fund_id),
        &token(step + 1),
        None,
        Instant::from_micros(next),
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    assert!(verify(&app, &token(step + 1), None, next).await.is_ok());
    assert_eq!(
        verify(&app, &token(step + 1), None, next).await,
        Err("token_reused")
    );
}

async fn printed_card_pins_and_lock(app: TestApp) {
    let admin = app.login(Role::Admin).await;
    let treasurer = app.login(Role::Treasurer).await;
    let mut settings = funds::settings(&app.db, &app.fund_id).await.unwrap();
    settings.pin_attempts = 3;
    let mut tx = app.db.begin().await.unwrap();
    funds::put_settings(&mut tx, &app.fund_id, &settings)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let member_id = app.new_member("Marc Roux").await;
    let p = issue(
        &app,
        &admin,
        &member_id,
        json!({"kind": "printed", "pin": "4821"}),
    )
    .await;
    let id = p["card_id"].as_str().unwrap().to_string();
    let token = p["qr_payload"].as_str().unwrap().to_string();
    let now = now_micros();
    let wrong_pins = || async {
        sqlx::query_scalar::<_, i64>("SELECT wrong_pins FROM cards WHERE fund_id = $1 AND id = $2")
            .bind(&app.fund_id)
            .bind(&id)
            .fetch_one(app.db.pool())
            .await
            .unwrap()
    };

    assert_eq!(verify(&app, &token, None, now).await, Err("pin_required"));
    let ok = verify(&app, &token, Some("4821"), now).await.unwrap();
    assert_eq!(
        (ok.card_id.as_str(), ok.member_id.as_str()),
        (id.as_str(), member_id.as_str())
    );
    // A printed card's payload is static: it can be used again.
    assert!(verify(&app, &token, Some("4821"), now).await.is_ok());

    // Wrong PINs count across rolled-back attempts; a right one starts the count again.
    assert_eq!(
        verify(&app, &token, Some("0000"), now).await,
        Err("pin_wrong")
    );
    assert_eq!(verify(&app, &token, Some("1"), now).await, Err("pin_wrong"));
    assert_eq!(wrong_pins().await, 2);
    assert!(verify(&app, &token, Some("4821"), now).await.is_ok());
    assert_eq!(wrong_pins().await, 0);

    // pin_attempts wrong PINs in a row lock the card, even for the right PIN.
    assert_eq!(
        verify(&app, &token, Some("1111"), now).await,
        Err("pin_wrong")
    );
    assert_eq!(
        verify(&app, &token, Some("2222"), now).await,
        Err("pin_wrong")
    );
    assert_eq!(
        verify(&app, &token, Some("3333"), now).await,
        Err("card_locked")
    );
    assert_eq!(
        verify(&app, &token, Some("4821"), now).await,
        Err("card_locked")
    );
    let listed = app
        .get(&format!("/api/v1/members/{member_id}/cards"), Some(&admin))
        .await;
    let card = listed.ok(200)["items"][0].clone();
    assert_eq!(card["status"], "locked");
    assert_eq!(card["wrong_pins"], 3);

    // Only an admin unlocks; unlocking resets the count.
    app.post(
        &format!("/api/v1/cards/{id}/unlock"),
        Some(&treasurer),
        json!({}),
    )
    .await
    .problem(403, "forbidden");
    let r = app
        .post(
            &format!("/api/v1/cards/{id}/unlock"),
            Some(&admin),
            json!({}),
        )
        .await;
    let v = r.ok(200);
    assert_eq!(v["status"], "active");
    assert_eq!(v["wrong_pins"], 0);
    assert_eq!(
        verify(&app, &token, Some("9999"), now).await,
        Err("pin_wrong")
    );
    assert!(verify(&app, &token, Some("4821"), now).await.is_ok());
    app.post("/api/v1/cards/card_nope/unlock", Some(&admin), json!({}))
        .await
        .problem(404, "not_found");
}
