//! Input an attacker or a careless program sends: hostile statements (deep XML, entities,
//! DTDs, huge lines and field counts), deep JSON, NUL characters, broken bodies sent by the
//! wrong role, made-up cursors. Each is a 4xx problem with a stable code, changes nothing,
//! and the server keeps serving.

mod common;

use caisse::domain::Role;
use common::TestApp;
use serde_json::{json, Value};

both_backends!(
    hostile_statements_are_refused_and_the_server_keeps_serving,
    deep_json_is_refused_before_it_is_parsed,
    nul_in_a_body_is_422_naming_the_field,
    nul_in_a_path_is_404_and_in_a_query_422,
    the_role_is_checked_before_the_body,
    lists_refuse_cursors_they_did_not_hand_out,
);

const CAMT_NS: &str = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02";

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

/// The statements an attacker would send, with the answer each must get.
pub fn hostile_statements() -> Vec<(&'static str, &'static str, String, u16, &'static str)> {
    let deep = format!(
        "<?xml version=\"1.0\"?><Document xmlns=\"{CAMT_NS}\">{}{}</Document>",
        "<a>".repeat(5_000),
        "</a>".repeat(5_000)
    );
    assert!(deep.len() > 34_000, "the 34 KB file of the issue");
    let laughs = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">{}]>\
         <Document xmlns=\"{CAMT_NS}\">&lol9;</Document>",
        (1..10)
            .map(|i| format!(
                "<!ENTITY lol{i} \"{}\">",
                format!(
                    "&lol{};",
                    if i == 1 {
                        String::new()
                    } else {
                        (i - 1).to_string()
                    }
                )
                .repeat(10)
            ))
            .collect::<String>()
    );
    let external = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\
         <Document xmlns=\"{CAMT_NS}\">&x;</Document>"
    );
    let doctype = format!("<!DOCTYPE Document><Document xmlns=\"{CAMT_NS}\"/>");
    let wide = format!(
        "<Document xmlns=\"{CAMT_NS}\">{}</Document>",
        "<a/>".repeat(1_000_001)
    );
    let header = "date,amount,reference,counterparty\n";
    let long_line = format!("{header}2026-11-02,1.00,{},x\n", "r".repeat(10_000));
    let many_fields = format!("{header}2026-11-02,1.00{}\n", ",".repeat(100_000));
    let many_lines = format!("{header}{}", "2026-11-02,1.00,r,c\n".repeat(100_001));
    let nul_csv = format!("{header}2026-11-02,1.00,Cotisation\u{0}RF,x\n");
    let nul_xml = format!("<Document xmlns=\"{CAMT_NS}\">\u{0}</Document>");
    vec![
        (
            "5,000 nested levels",
            "application/xml",
            deep,
            422,
            "input_too_deep",
        ),
        (
            "billion laughs",
            "application/xml",
            laughs,
            422,
            "statement_invalid",
        ),
        (
            "external entity",
            "application/xml",
            external,
            422,
            "statement_invalid",
        ),
        (
            "a DOCTYPE",
            "application/xml",
            doctype,
            422,
            "statement_invalid",
        ),
        (
            "a million XML nodes",
            "application/xml",
            wide,
            413,
            "payload_too_large",
        ),
        (
            "NUL in XML",
            "application/xml",
            nul_xml,
            400,
            "statement_unreadable",
        ),
        (
            "a 10,000-character line",
            "text/csv",
            long_line,
            422,
            "statement_invalid",
        ),
        (
            "100,000 fields",
            "text/csv",
            many_fields,
            422,
            "statement_invalid",
        ),
        (
            "100,001 lines",
            "text/csv",
            many_lines,
            413,
            "payload_too_large",
        ),
        ("NUL in CSV", "text/csv", nul_csv, 422, "statement_invalid"),
    ]
}

async fn hostile_statements_are_refused_and_the_server_keeps_serving(app: TestApp) {
    let t = app.login(Role::Treasurer).await;
    for (what, content_type, body, status, code) in hostile_statements() {
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

async fn nul_in_a_body_is_422_naming_the_field(app: TestApp) {
    let w = world(&app).await;
    let settings = app.get("/api/v1/settings", Some(&w.admin)).await;
    let mut settings = settings.ok(200).clone();
    settings["fund_name"] = json!("Caisse\u{0}");
    let (shop, member) = (&w.shop, &w.member);
    let post = reqwest::Method::POST;
    // (method, path, token, idempotency key, body, the field named)
    let cases: Vec<(reqwest::Method, String, Option<&str>, bool, Value, &str)> = vec![
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
    ];
    for (method, path, token) in paths {
        let req = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .bearer_auth(token)
            .header("Idempotency-Key", "k1");
        app.send(req).await.problem(404, "not_found");
    }
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
        for token in [&w.committee, &w.till, &member_login] {
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
    assert!(checked >= 40, "only {checked} refusals checked");
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
