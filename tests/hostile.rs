//! Input an attacker or a careless program sends: hostile statements (deep XML, entities,
//! DTDs, huge lines and field counts), deep JSON, NUL characters, broken bodies sent by the
//! wrong role, made-up cursors. Each is a 4xx problem with a stable code, changes nothing,
//! and the server keeps serving.

mod common;

use caisse::domain::Role;
use common::{TestApp, PASSWORD};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

both_backends!(
    hostile_statements_are_refused_and_the_server_keeps_serving,
    deep_json_is_refused_before_it_is_parsed,
    nul_in_a_body_is_422_naming_the_field,
    nul_in_a_path_is_404_and_in_a_query_422,
    the_role_is_checked_before_the_body,
    lists_refuse_cursors_they_did_not_hand_out,
    api_logins_are_limited_per_email,
    logins_are_limited_per_client_address,
    a_refused_request_never_breaks_a_kept_alive_connection,
);

async fn upload(app: &TestApp, token: &str, content_type: &str, body: String) -> common::Reply {
    app.send(
        app.client
            .post(app.url("/api/v1/bank-statements"))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body),
    )
    .await
}

/// The server still answers, and still reads the database.
async fn still_serving(app: &TestApp) {
    let r = app.get("/healthz", None).await;
    assert_eq!(r.ok(200)["status"], "ok");
}

async fn hostile_statements_are_refused_and_the_server_keeps_serving(app: TestApp) {
    let t = app.login(Role::Treasurer).await;
    for (what, content_type, body, status, code) in common::hostile::statements() {
        let r = upload(&app, &t, content_type, body).await;
        assert_eq!(r.status.as_u16(), status, "{what}: {}", r.body);
        r.problem(status, code);
        still_serving(&app).await;
    }
    // Nothing was imported, and a good statement still is.
    let rec = app.get("/api/v1/reconciliation", Some(&t)).await;
    assert_eq!(rec.ok(200)["unmatched_bank_lines"], json!([]));
    let good = "date,amount,reference,counterparty\n2026-11-02,12.00,Don,Awa\n".to_string();
    let r = upload(&app, &t, "text/csv", good).await;
    assert_eq!(r.ok(200)["imported"], 1);
}

async fn deep_json_is_refused_before_it_is_parsed(app: TestApp) {
    let t = app.login(Role::Treasurer).await;
    // Far beyond serde_json's own limit, and just beyond ours (32).
    for depth in [30_000usize, 33] {
        let body = format!(
            "{{\"full_name\":{}1{}}}",
            "[".repeat(depth - 1),
            "]".repeat(depth - 1)
        );
        for (path, token) in [
            ("/api/v1/members", Some(t.as_str())),
            ("/api/v1/sessions", None),
        ] {
            let mut req = app
                .client
                .post(app.url(path))
                .header("content-type", "application/json")
                .body(body.clone());
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            app.send(req).await.problem(422, "input_too_deep");
            still_serving(&app).await;
        }
    }
    // 32 levels is no longer a depth problem: the field is simply wrong.
    let body = format!("{{\"full_name\":{}1{}}}", "[".repeat(31), "]".repeat(31));
    let r = app
        .send(
            app.client
                .post(app.url("/api/v1/members"))
                .bearer_auth(&t)
                .header("content-type", "application/json")
                .body(body),
        )
        .await;
    assert_eq!(
        r.problem(422, "invalid_field")["errors"][0]["field"],
        "full_name"
    );
    let members = app.get("/api/v1/members", Some(&t)).await;
    assert_eq!(members.ok(200)["items"], json!([]));
}

/// Everyone a route family needs, and one object of each kind.
struct World {
    admin: String,
    treasurer: String,
    committee: String,
    till: String,
    shop: String,
    member: String,
}

async fn world(app: &TestApp) -> World {
    let (shop, till) = app.terminal_login().await;
    World {
        admin: app.login(Role::Admin).await,
        treasurer: app.login(Role::Treasurer).await,
        committee: app.login(Role::Committee).await,
        till,
        shop,
        member: app.new_member("Awa Diallo").await,
    }
}

/// (method, path, token, with an idempotency key, body, the field named)
type NulCase<'a> = (
    reqwest::Method,
    String,
    Option<&'a str>,
    bool,
    Value,
    &'a str,
);

async fn nul_in_a_body_is_422_naming_the_field(app: TestApp) {
    let w = world(&app).await;
    let settings = app.get("/api/v1/settings", Some(&w.admin)).await;
    let mut settings = settings.ok(200).clone();
    settings["fund_name"] = json!("Caisse\u{0}");
    let (shop, member) = (&w.shop, &w.member);
    let post = reqwest::Method::POST;
    let cases: Vec<NulCase> = vec![
        (
            post.clone(),
            "/api/v1/sessions".into(),
            None,
            false,
            json!({"email": "a\u{0}@x.fr", "password": "x"}),
            "email",
        ),
        (
            post.clone(),
            "/api/v1/users".into(),
            Some(&w.admin),
            false,
            json!({"email": "u\u{0}@x.fr", "password": "une longue phrase", "role": "committee"}),
            "email",
        ),
        (
            reqwest::Method::PUT,
            "/api/v1/settings".into(),
            Some(&w.admin),
            false,
            settings,
            "fund_name",
        ),
        (
            post.clone(),
            "/api/v1/members".into(),
            Some(&w.treasurer),
            false,
            json!({"full_name": "Awa\u{0}", "household": {"adults": 1, "children": 0}}),
            "full_name",
        ),
        (
            reqwest::Method::PATCH,
            format!("/api/v1/members/{member}"),
            Some(&w.treasurer),
            false,
            json!({"email": "\u{0}"}),
            "email",
        ),
        (
            post.clone(),
            "/api/v1/contributions/calls".into(),
            Some(&w.treasurer),
            false,
            json!({"period": "2026-1\u{0}"}),
            "period",
        ),
        (
            post.clone(),
            "/api/v1/contributions/payments".into(),
            Some(&w.treasurer),
            true,
            json!({"member_id": member, "amount": "10.00", "method": "cash",
                "paid_on": "2026-11-02", "reference": "reçu\u{0}12"}),
            "reference",
        ),
        (
            post.clone(),
            "/api/v1/allowances/issuances".into(),
            Some(&w.treasurer),
            false,
            json!({"period": "\u{0}"}),
            "period",
        ),
        (
            post.clone(),
            "/api/v1/shops".into(),
            Some(&w.committee),
            false,
            json!({"name": "Épicerie\u{0}", "legal_name": "SCOP", "iban": "FR76 3000 6000 0112 3456 7890 189",
                "address": "Lyon", "categories": ["epicerie"]}),
            "name",
        ),
        (
            post.clone(),
            "/api/v1/shops".into(),
            Some(&w.committee),
            false,
            json!({"name": "Épicerie", "legal_name": "SCOP", "iban": "FR76 3000 6000 0112 3456 7890 189",
                "address": "Lyon", "categories": ["epicerie"], "criteria": {"lo\u{0}cal": "oui"}}),
            "criteria.lo\\u0000cal",
        ),
        (
            post.clone(),
            format!("/api/v1/shops/{shop}/votes"),
            Some(&w.committee),
            false,
            json!({"choice": "for", "comment": "vu\u{0}"}),
            "comment",
        ),
        (
            post.clone(),
            format!("/api/v1/shops/{shop}/decision"),
            Some(&w.admin),
            false,
            json!({"decision": "approved", "note": "\u{0}"}),
            "note",
        ),
        (
            post.clone(),
            format!("/api/v1/shops/{shop}/terminals"),
            Some(&w.admin),
            false,
            json!({"label": "Caisse\u{0}2"}),
            "label",
        ),
        (
            post.clone(),
            format!("/api/v1/members/{member}/cards"),
            Some(&w.treasurer),
            false,
            json!({"kind": "printed", "pin": "12\u{0}34"}),
            "pin",
        ),
        (
            post.clone(),
            "/api/v1/redemptions".into(),
            Some(&w.till),
            true,
            json!({"token": "caisse1:\u{0}", "amount": "1.00"}),
            "token",
        ),
        (
            post.clone(),
            "/api/v1/redemptions/red_x/refunds".into(),
            Some(&w.till),
            true,
            json!({"amount": "1.00\u{0}"}),
            "amount",
        ),
        (
            post.clone(),
            "/api/v1/settlements".into(),
            Some(&w.treasurer),
            false,
            json!({"cutoff": "2026-11-30T23:00:00Z\u{0}"}),
            "cutoff",
        ),
        (
            post.clone(),
            "/api/v1/bank-lines/bkl_x/match".into(),
            Some(&w.treasurer),
            false,
            json!({"member_id": "mem\u{0}"}),
            "member_id",
        ),
        (
            post.clone(),
            "/api/v1/ledger/entries/1/reversal".into(),
            Some(&w.treasurer),
            false,
            json!({"reason": "Saisie\u{0}"}),
            "reason",
        ),
        (
            post.clone(),
            "/api/v1/subsidies".into(),
            Some(&w.treasurer),
            true,
            json!({"amount": "10.00", "received_on": "2026-11-05", "label": "Métropole\u{0}"}),
            "label",
        ),
        (
            post.clone(),
            "/api/v1/contributions/simulate".into(),
            Some(&w.treasurer),
            false,
            json!({"contribution_scale": {"kind": "free", "minimum": "1.00"},
                "members": [{"household": {"adults": 1, "children": 0}, "monthly_income": "1\u{0}"}]}),
            "members[0].monthly_income",
        ),
    ];
    for (method, path, token, idem, body, field) in cases {
        let key = idem.then(|| caisse::domain::new_id("k"));
        let r = app
            .send_json(method.clone(), &path, token, key.as_deref(), body)
            .await;
        let p = r.problem(422, "invalid_field");
        assert_eq!(r.fields(), vec![field.to_string()], "{method} {path}: {p}");
        assert!(p["detail"].as_str().unwrap().contains("NUL"), "{path}: {p}");
    }
    // Nothing was created on the way.
    let members = app.get("/api/v1/members", Some(&w.treasurer)).await;
    assert_eq!(members.ok(200)["items"].as_array().unwrap().len(), 1);
    let shops = app.get("/api/v1/shops", Some(&w.admin)).await;
    assert_eq!(shops.ok(200)["items"].as_array().unwrap().len(), 1);
    let tb = app
        .get("/api/v1/ledger/trial-balance", Some(&w.treasurer))
        .await;
    assert_eq!(tb.ok(200)["total_debit"], "0.00");
    still_serving(&app).await;
}

async fn nul_in_a_path_is_404_and_in_a_query_422(app: TestApp) {
    let w = world(&app).await;
    let paths = [
        ("GET", "/api/v1/members/mem_%00x", w.treasurer.as_str()),
        ("GET", "/api/v1/members/%00/account", w.treasurer.as_str()),
        ("POST", "/api/v1/members/%00/suspend", w.treasurer.as_str()),
        ("GET", "/api/v1/shops/shop%00", w.admin.as_str()),
        ("GET", "/api/v1/settlements/stl_%00", w.treasurer.as_str()),
        ("GET", "/api/v1/cards/card%00/qr.svg", w.admin.as_str()),
        ("POST", "/api/v1/cards/%00/revoke", w.admin.as_str()),
        ("POST", "/api/v1/redemptions/%00/refunds", w.till.as_str()),
        (
            "GET",
            "/tresorerie/reglements/%00/sepa.xml",
            w.treasurer.as_str(),
        ),
        // Not NUL, but not text or not a number: the same 404, never axum's plain-text 400.
        ("GET", "/api/v1/members/mem_%FF%FE", w.treasurer.as_str()),
    ];
    for (method, path, token) in paths {
        let req = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .bearer_auth(token)
            .header("Idempotency-Key", "k1");
        app.send(req).await.problem(404, "not_found");
    }
    let r = app
        .post(
            "/api/v1/ledger/entries/abc/reversal",
            Some(&w.treasurer),
            json!({"reason": "Saisie en double"}),
        )
        .await;
    r.problem(404, "not_found");
    // The same ids, of nothing, without the NUL: the routes answer as usual.
    app.get("/api/v1/members/mem_x", Some(&w.treasurer))
        .await
        .problem(404, "not_found");
    let queries = [
        ("/api/v1/members?status=%00", w.treasurer.as_str(), "status"),
        (
            "/api/v1/shops?category=bio%00",
            w.admin.as_str(),
            "category",
        ),
        (
            "/api/v1/redemptions?from=%00&to=2026-12-01",
            w.till.as_str(),
            "from",
        ),
        (
            "/api/v1/reports/summary?from=2026-01-01&to=x%00",
            w.treasurer.as_str(),
            "to",
        ),
        ("/api/v1/users?cursor=%00", w.admin.as_str(), "cursor"),
        (
            "/api/v1/exports/fec?year=2026%00",
            w.treasurer.as_str(),
            "year",
        ),
    ];
    for (path, token, field) in queries {
        let r = app.get(path, Some(token)).await;
        r.problem(422, "invalid_query");
        assert_eq!(r.fields(), vec![field.to_string()], "{path}");
    }
    still_serving(&app).await;
}

/// A route of the OpenAPI document with its path's ids filled with ones that exist nowhere.
fn operations(doc: &Value) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let concrete = path
                .split('/')
                .map(|seg| {
                    if seg.starts_with('{') {
                        if path.contains("entries") {
                            "999999"
                        } else {
                            "x_missing"
                        }
                    } else {
                        seg
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            out.push((
                method.to_uppercase(),
                concrete,
                op.get("requestBody").is_some(),
            ));
        }
    }
    out
}

async fn the_role_is_checked_before_the_body(app: TestApp) {
    let w = world(&app).await;
    let member_login = app.login(Role::Member).await;
    // The issue's case: issuing a card with a broken body as a committee member or a till.
    for token in [&w.committee, &w.till] {
        let r = app
            .send(
                app.client
                    .post(app.url(&format!("/api/v1/members/{}/cards", w.member)))
                    .bearer_auth(token)
                    .header("content-type", "application/json")
                    .body("{\"kind\":"),
            )
            .await;
        r.problem(403, "forbidden");
    }
    // A member asking for someone else's card with a broken body: not theirs, whatever the body.
    let r = app
        .send(
            app.client
                .post(app.url(&format!("/api/v1/members/{}/cards", w.member)))
                .bearer_auth(&member_login)
                .header("content-type", "application/json")
                .body("{\"kind\":"),
        )
        .await;
    assert!(matches!(r.status.as_u16(), 403 | 404), "{}", r.body);
    // Every route that takes a body: a role refused with an empty object is refused the same
    // way with a broken body (never a 400 or 422 that would tell it the route's schema).
    let doc = app.get("/api/openapi.json", None).await.ok(200).clone();
    let ops = operations(&doc);
    assert!(ops.iter().filter(|o| o.2).count() >= 20, "{ops:?}");
    let mut checked = 0;
    for (method, path, has_body) in ops.into_iter().filter(|o| o.2) {
        assert!(has_body);
        if path == "/api/v1/sessions" {
            continue;
        }
        for token in [&w.committee, &w.till, &member_login, &w.treasurer] {
            let send = |body: &'static str| {
                app.client
                    .request(method.parse().unwrap(), app.url(&path))
                    .bearer_auth(token)
                    .header("content-type", "application/json")
                    .header("Idempotency-Key", caisse::domain::new_id("k"))
                    .body(body)
            };
            let empty = app.send(send("{}")).await;
            if empty.status.as_u16() == 403 {
                let broken = app.send(send("{\"")).await;
                broken.problem(403, "forbidden");
                checked += 1;
            }
        }
    }
    assert!(checked >= 50, "only {checked} refusals checked");
}

async fn lists_refuse_cursors_they_did_not_hand_out(app: TestApp) {
    let w = world(&app).await;
    // A second of each, so that each list has a page after the first.
    let (other_shop, _) = app.terminal_login().await;
    app.new_member("Bruno Petit").await;
    app.login(Role::Committee).await;
    app.post(
        &format!("/api/v1/shops/{}/terminals", w.shop),
        Some(&w.admin),
        json!({"label": "Caisse 2"}),
    )
    .await
    .ok(201);
    for kind in ["printed", "printed"] {
        app.post(
            &format!("/api/v1/members/{}/cards", w.member),
            Some(&w.treasurer),
            json!({"kind": kind, "pin": "4821"}),
        )
        .await
        .ok(201);
    }
    let lists = [
        ("/api/v1/members".to_string(), w.treasurer.as_str()),
        ("/api/v1/users".to_string(), w.admin.as_str()),
        ("/api/v1/shops".to_string(), w.admin.as_str()),
        (
            format!("/api/v1/shops/{}/terminals", w.shop),
            w.admin.as_str(),
        ),
        (
            format!("/api/v1/members/{}/cards", w.member),
            w.treasurer.as_str(),
        ),
    ];
    for (list, token) in &lists {
        let first = app.get(&format!("{list}?limit=1"), Some(token)).await;
        let cursor = first.ok(200)["next_cursor"]
            .as_str()
            .unwrap_or_else(|| panic!("{list} has a second page: {}", first.body))
            .to_string();
        let next = app
            .get(&format!("{list}?limit=1&cursor={cursor}"), Some(token))
            .await;
        assert_eq!(next.ok(200)["items"].as_array().unwrap().len(), 1, "{list}");
        for garbage in ["garbage", "zzzzzzzz", "mem_0", &other_shop] {
            if list.contains("shops") && !list.contains("terminals") && garbage == other_shop {
                continue; // another shop of this fund is a row of the shop list
            }
            let r = app
                .get(&format!("{list}?cursor={garbage}"), Some(token))
                .await;
            r.problem(422, "validation_failed");
            assert_eq!(r.fields(), vec!["cursor".to_string()], "{list}");
        }
    }
    // Shops under review and settlements: no page needed to refuse a made-up cursor.
    for (list, token) in [
        ("/api/v1/shops/review-due", w.admin.as_str()),
        ("/api/v1/settlements", w.treasurer.as_str()),
    ] {
        let r = app
            .get(&format!("{list}?cursor=garbage"), Some(token))
            .await;
        r.problem(422, "validation_failed");
        assert_eq!(r.fields(), vec!["cursor".to_string()], "{list}");
    }
    // A cursor of another list is not one of this list's.
    let r = app
        .get(
            &format!("/api/v1/members?cursor={}", w.shop),
            Some(&w.treasurer),
        )
        .await;
    r.problem(422, "validation_failed");
}

async fn sign_in(app: &TestApp, email: &str, password: &str, from: Option<&str>) -> common::Reply {
    let mut req = app
        .client
        .post(app.url("/api/v1/sessions"))
        .json(&json!({"email": email, "password": password}));
    if let Some(address) = from {
        req = req.header("x-forwarded-for", format!("198.51.100.9, {address}"));
    }
    app.send(req).await
}

async fn new_user(app: &TestApp, role: Role) -> String {
    let email = format!(
        "{}@limit.caisse.fr",
        caisse::domain::new_id("u").to_lowercase()
    );
    caisse::service::users::create(&app.db, &app.fund(), &email, PASSWORD, role, None)
        .await
        .expect("user");
    email
}

#[track_caller]
fn retry_after(r: &common::Reply) -> u64 {
    r.problem(429, "too_many_attempts");
    r.headers["retry-after"].to_str().unwrap().parse().unwrap()
}

async fn api_logins_are_limited_per_email(app: TestApp) {
    let email = new_user(&app, Role::Treasurer).await;
    for i in 0..5 {
        sign_in(&app, &email, "wrong-password-1", None)
            .await
            .problem(401, "invalid_credentials");
        assert!(i < 5);
    }
    // The sixth, wrong or right, is refused until the window (a minute) has passed.
    let wait = retry_after(&sign_in(&app, &email, "wrong-password-1", None).await);
    assert!((1..=60).contains(&wait), "{wait}");
    let wait = retry_after(&sign_in(&app, &email, PASSWORD, None).await);
    assert!((1..=60).contains(&wait), "{wait}");
    // The same email typed another way is the same email.
    retry_after(&sign_in(&app, &email.to_uppercase(), PASSWORD, None).await);
    // Someone else, from the same address, is not held up.
    let other = new_user(&app, Role::Committee).await;
    sign_in(&app, &other, PASSWORD, None).await.ok(201);
    // Successes do not count: a script may sign in again and again.
    for _ in 0..8 {
        sign_in(&app, &other, PASSWORD, None).await.ok(201);
    }
}

async fn logins_are_limited_per_client_address(app: TestApp) {
    let backend = app.backend;
    drop(app);
    // Behind a trusted proxy: the address is the last entry of X-Forwarded-For.
    let app = common::spawn_app_with(backend, |c| {
        c.login_failures_per_address = 3;
        c.client_address_header = Some("X-Forwarded-For".into());
    })
    .await
    .expect("app");
    let victim = new_user(&app, Role::Admin).await;
    // An attacker trying one password on each of many emails, from one address.
    for i in 0..3 {
        let r = sign_in(
            &app,
            &format!("guess{i}@x.fr"),
            "123456",
            Some("203.0.113.7"),
        )
        .await;
        r.problem(401, "invalid_credentials");
    }
    retry_after(&sign_in(&app, &victim, "123456", Some("203.0.113.7")).await);
    retry_after(&sign_in(&app, &victim, PASSWORD, Some("203.0.113.7")).await);
    // Another client is not held up.
    sign_in(&app, &victim, PASSWORD, Some("203.0.113.8"))
        .await
        .ok(201);
    // Without the header configured, the socket's peer counts, whatever the client claims.
    let app = common::spawn_app_with(backend, |c| c.login_failures_per_address = 2)
        .await
        .expect("app");
    let victim = new_user(&app, Role::Admin).await;
    for (i, claimed) in ["203.0.113.1", "203.0.113.2"].into_iter().enumerate() {
        sign_in(&app, &format!("guess{i}@x.fr"), "123456", Some(claimed))
            .await
            .problem(401, "invalid_credentials");
    }
    retry_after(&sign_in(&app, &victim, PASSWORD, Some("203.0.113.3")).await);
    // Once the window has passed (two seconds here), the right password works again.
    let app = common::spawn_app_with(backend, |c| {
        c.login_failures_per_email = 1;
        c.login_window_seconds = 2;
    })
    .await
    .expect("app");
    let victim = new_user(&app, Role::Admin).await;
    sign_in(&app, &victim, "123456", None)
        .await
        .problem(401, "invalid_credentials");
    let wait = retry_after(&sign_in(&app, &victim, PASSWORD, None).await);
    assert!((1..=2).contains(&wait), "{wait}");
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    sign_in(&app, &victim, PASSWORD, None).await.ok(201);
}

/// One HTTP/1.1 exchange on a kept-alive connection: the status, the headers (lower case) and
/// the body; `None` if the server had closed the connection.
async fn exchange(
    stream: &mut tokio::net::TcpStream,
    request: &str,
) -> Option<(u16, String, String)> {
    if stream.write_all(request.as_bytes()).await.is_err() {
        return None;
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    while buf.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = String::from_utf8_lossy(&buf[head_end..head_end + length]).to_string();
    Some((status, head, body))
}

async fn a_refused_request_never_breaks_a_kept_alive_connection(app: TestApp) {
    let w = world(&app).await;
    let host = app.base.trim_start_matches("http://").to_string();
    let body = format!(
        "{{\"kind\":\"printed\",\"pin\":\"1234\",\"x\":\"{}\"}}",
        "y".repeat(20_000)
    );
    let refused = [
        // 401: no such token; 403: a till issuing a card; 415: not JSON; 413: too large.
        ("Bearer cs_nobody", "application/json", body.clone()),
        (
            &*format!("Bearer {}", w.till),
            "application/json",
            body.clone(),
        ),
        (
            &*format!("Bearer {}", w.treasurer),
            "text/plain",
            body.clone(),
        ),
        (
            &*format!("Bearer {}", w.treasurer),
            "application/json",
            "x".repeat(70_000),
        ),
    ]
    .map(|(auth, ct, body)| {
        let mut head = format!(
            "POST /api/v1/members/{}/cards HTTP/1.1\r\nhost: {host}\r\nauthorization: {auth}\r\n\
             content-type: {ct}\r\ncontent-length: {}\r\n\r\n",
            w.member,
            body.len()
        );
        // The 413 needs the first 64 KiB to be read: those go with the headers.
        let sent_early =
            body.len().saturating_sub(4_000).min(66_000) * usize::from(body.len() > 65_536);
        head.push_str(&body[..sent_early]);
        (head, body[sent_early..].to_string())
    });
    let good = format!("GET /healthz HTTP/1.1\r\nhost: {host}\r\n\r\n");
    for (head, body) in &refused {
        // The till sends the headers; the server answers before the body is there (as under
        // load, when the body's packets come later), then the body and the next request go
        // out on the same connection.
        let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
        let (status, answer, _) = exchange(&mut stream, head).await.expect("an early answer");
        assert!((400..500).contains(&status), "{answer}");
        // Either the server says it closes the connection, or the connection serves the next
        // request: never a silent close.
        if answer.contains("connection: close") {
            continue;
        }
        let next = exchange(&mut stream, &format!("{body}{good}")).await;
        assert_eq!(next.map(|n| n.0), Some(200), "after {answer}");
    }
    // An answer that read the whole body keeps the connection.
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    let bad_pin = r#"{"kind":"printed","pin":"12"}"#;
    let request = format!(
        "POST /api/v1/members/{}/cards HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{bad_pin}",
        w.member,
        w.treasurer,
        bad_pin.len()
    );
    let (status, head, _) = exchange(&mut stream, &request).await.unwrap();
    assert_eq!(status, 422, "{head}");
    assert!(!head.contains("connection: close"), "{head}");
    assert_eq!(exchange(&mut stream, &good).await.map(|n| n.0), Some(200));
    // A till's client with one pooled connection, refused again and again, never sees a
    // connection error.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    for i in 0..30 {
        let r = client
            .post(app.url(&format!("/api/v1/members/{}/cards", w.member)))
            .bearer_auth(&w.till)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("refused request {i}: {e}"));
        assert_eq!(r.status().as_u16(), 403);
        let r = client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("good request {i}: {e}"));
        assert_eq!(r.status().as_u16(), 200);
    }
}
