//! Black-box tests of the API skeleton, each on SQLite and PostgreSQL.

mod common;

use caisse::domain::Role;
use common::{TestApp, PASSWORD};
use serde_json::{json, Value};

both_backends!(
    health_and_openapi,
    sessions,
    auth_is_enforced,
    users,
    settings,
    bad_input_is_a_clear_problem,
    idempotency_replays_and_conflicts,
    idempotency_under_concurrency,
    trial_balance_and_reversal,
    users_are_listed_to_admins,
);

async fn health_and_openapi(app: TestApp) {
    let r = app.get("/healthz", None).await;
    assert_eq!(r.ok(200), &json!({"status": "ok"}));

    let doc = app.get("/api/openapi.json", None).await;
    let doc = doc.ok(200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/healthz", "get"),
        ("/api/v1/sessions", "post"),
        ("/api/v1/users", "post"),
        ("/api/v1/settings", "get"),
        ("/api/v1/settings", "put"),
        ("/api/v1/ledger/trial-balance", "get"),
        ("/api/v1/subsidies", "post"),
        ("/api/v1/users", "get"),
        ("/api/v1/shops/{id}", "patch"),
        ("/api/v1/bank-lines/{id}/match", "post"),
        ("/api/v1/settlements", "post"),
        ("/api/v1/redemptions", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from OpenAPI"
        );
    }
    // New routes document their errors and parameters.
    let op = |path: &str, method: &str| paths[path][method].clone();
    for (path, method, status) in [
        ("/api/v1/bank-lines/{id}/match", "post", "409"),
        ("/api/v1/bank-lines/{id}/match", "post", "422"),
        ("/api/v1/shops/{id}", "patch", "422"),
        ("/api/v1/users", "get", "403"),
        ("/api/v1/sessions/current", "delete", "409"),
    ] {
        assert!(
            op(path, method)["responses"][status].is_object(),
            "{method} {path}: no {status} in OpenAPI"
        );
    }
    let params = |path: &str, method: &str| -> Vec<String> {
        op(path, method)["parameters"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| p["name"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(params("/api/v1/redemptions", "get").contains(&"cursor".to_string()));
    assert!(params("/api/v1/settlements", "post").contains(&"Idempotency-Key".to_string()));
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    // Every error of every operation is documented as the server sends it: RFC 9457
    // application/problem+json with the Problem schema, never application/json; and each
    // operation has a `default` problem answer for the statuses it does not list.
    let problem = &doc["components"]["schemas"]["Problem"];
    for field in ["type", "title", "status", "detail", "code"] {
        assert!(
            problem["properties"][field].is_object(),
            "Problem schema: {field}"
        );
    }
    let mut errors_seen = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.contains_key("default"),
                "{method} {path}: no default (problem) answer"
            );
            for (status, r) in responses {
                if !(status.starts_with('4') || status.starts_with('5') || status == "default") {
                    continue;
                }
                errors_seen += 1;
                let content = r["content"]
                    .as_object()
                    .unwrap_or_else(|| panic!("{method} {path} {status}: no content"));
                assert_eq!(
                    content.keys().collect::<Vec<_>>(),
                    vec!["application/problem+json"],
                    "{method} {path} {status}"
                );
                assert_eq!(
                    content["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{method} {path} {status}"
                );
            }
        }
    }
    assert!(errors_seen > 100, "{errors_seen} error answers checked");
}

async fn sessions(app: TestApp) {
    let email = "tresorier@test.caisse.fr";
    caisse::service::users::create(&app.db, &app.fund(), email, PASSWORD, Role::Treasurer, None)
        .await
        .unwrap();

    // Emails are matched without case.
    let r = app
        .post(
            "/api/v1/sessions",
            None,
            json!({"email": "Tresorier@Test.Caisse.fr", "password": PASSWORD}),
        )
        .await;
    let body = r.ok(201).clone();
    assert_eq!(body["role"], "treasurer");
    let token = body["token"].as_str().unwrap().to_string();
    let expires = chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap())
        .expect("RFC 3339 expiry");
    assert!(expires > chrono::Utc::now());
    app.get("/api/v1/ledger/trial-balance", Some(&token))
        .await
        .ok(200);

    // A wrong password and an unknown email look the same.
    let wrong = app
        .post(
            "/api/v1/sessions",
            None,
            json!({"email": email, "password": "wrong-password-1"}),
        )
        .await;
    let unknown = app
        .post(
            "/api/v1/sessions",
            None,
            json!({"email": "nobody@test.caisse.fr", "password": PASSWORD}),
        )
        .await;
    wrong.problem(401, "invalid_credentials");
    unknown.problem(401, "invalid_credentials");
    assert_eq!(wrong.body["detail"], unknown.body["detail"]);

    // Signing out ends the token.
    let r = app
        .send(
            app.client
                .delete(app.url("/api/v1/sessions/current"))
                .bearer_auth(&token),
        )
        .await;
    assert_eq!(r.status.as_u16(), 204);
    app.get("/api/v1/ledger/trial-balance", Some(&token))
        .await
        .problem(401, "unauthenticated");
}

async fn auth_is_enforced(app: TestApp) {
    let protected = [
        ("GET", "/api/v1/settings"),
        ("PUT", "/api/v1/settings"),
        ("POST", "/api/v1/users"),
        ("GET", "/api/v1/ledger/trial-balance"),
        ("GET", "/api/v1/ledger/verification"),
        ("POST", "/api/v1/subsidies"),
        ("POST", "/api/v1/ledger/entries/1/reversal"),
        ("DELETE", "/api/v1/sessions/current"),
    ];
    for (method, path) in protected {
        let method: reqwest::Method = method.parse().unwrap();
        // No token.
        let r = app
            .send(
                app.client
                    .request(method.clone(), app.url(path))
                    .json(&json!({})),
            )
            .await;
        r.problem(401, "unauthenticated");
        assert_eq!(r.headers.get("www-authenticate").unwrap(), "Bearer");
        // A made-up token, and a header that is not Bearer.
        let r = app
            .send(
                app.client
                    .request(method.clone(), app.url(path))
                    .bearer_auth("cs_forged"),
            )
            .await;
        r.problem(401, "unauthenticated");
        let r = app
            .send(
                app.client
                    .request(method, app.url(path))
                    .header("authorization", "Basic YWRtaW46YWRtaW4="),
            )
            .await;
        r.problem(401, "unauthenticated");
    }

    // Wrong roles are 403, and checked before the body is looked at.
    let committee = app.login(Role::Committee).await;
    let treasurer = app.login(Role::Treasurer).await;
    let member = app.login(Role::Member).await;
    app.get("/api/v1/settings", Some(&committee))
        .await
        .problem(403, "forbidden");
    app.get("/api/v1/settings", Some(&member))
        .await
        .problem(403, "forbidden");
    app.put("/api/v1/settings", Some(&treasurer), json!({"junk": true}))
        .await
        .problem(403, "forbidden");
    app.post("/api/v1/users", Some(&treasurer), json!({}))
        .await
        .problem(403, "forbidden");
    app.get("/api/v1/ledger/trial-balance", Some(&member))
        .await
        .problem(403, "forbidden");
    app.get("/api/v1/ledger/trial-balance", Some(&committee))
        .await
        .problem(403, "forbidden");
    app.post_idem("/api/v1/subsidies", &committee, "k", json!({}))
        .await
        .problem(403, "forbidden");
}

async fn users(app: TestApp) {
    let admin = app.login(Role::Admin).await;
    let r = app
        .post(
            "/api/v1/users",
            Some(&admin),
            json!({"email": "Comite@Test.Caisse.fr", "password": "long enough pass", "role": "committee"}),
        )
        .await;
    let body = r.ok(201);
    assert_eq!(body["email"], "comite@test.caisse.fr");
    assert_eq!(body["role"], "committee");
    assert!(body["id"].as_str().unwrap().starts_with("usr_"));
    assert!(body.get("password").is_none() && body.get("password_hash").is_none());

    // The new user can sign in.
    app.post(
        "/api/v1/sessions",
        None,
        json!({"email": "comite@test.caisse.fr", "password": "long enough pass"}),
    )
    .await
    .ok(201);

    let dup = app
        .post(
            "/api/v1/users",
            Some(&admin),
            json!({"email": "comite@test.caisse.fr", "password": "long enough pass", "role": "admin"}),
        )
        .await;
    dup.problem(409, "already_exists");

    let short = app
        .post(
            "/api/v1/users",
            Some(&admin),
            json!({"email": "x@test.caisse.fr", "password": "123456789", "role": "treasurer"}),
        )
        .await;
    short.problem(422, "validation_failed");
    assert_eq!(short.fields(), vec!["password"]);

    let r = app
        .post(
            "/api/v1/users",
            Some(&admin),
            json!({"email": "not-an-email", "password": "long enough pass", "role": "terminal"}),
        )
        .await;
    r.problem(422, "validation_failed");
    assert_eq!(r.fields(), vec!["role"]);

    let r = app
        .post(
            "/api/v1/users",
            Some(&admin),
            json!({"email": "m@test.caisse.fr", "password": "long enough pass", "role": "member"}),
        )
        .await;
    assert_eq!(r.fields(), vec!["member_id"]);
    // A member id only for the member role, and of a member of this fund.
    for (role, member) in [
        ("treasurer", app.new_member("Un").await),
        ("member", "mem_nope".into()),
    ] {
        let r = app
            .post(
                "/api/v1/users",
                Some(&admin),
                json!({"email": "m@test.caisse.fr", "password": "long enough pass",
                       "role": role, "member_id": member}),
            )
            .await;
        r.problem(422, "validation_failed");
        assert_eq!(r.fields(), vec!["member_id"], "{role}");
    }

    let r = app
        .post(
            "/api/v1/users",
            Some(&admin),
            json!({"email": "m@test.caisse.fr", "password": "long enough pass", "role": "boss"}),
        )
        .await;
    r.problem(422, "invalid_field");
    assert_eq!(r.fields(), vec!["role"]);
}

async fn settings(app: TestApp) {
    let admin = app.login(Role::Admin).await;
    let treasurer = app.login(Role::Treasurer).await;
    let mut s = app
        .get("/api/v1/settings", Some(&treasurer))
        .await
        .ok(200)
        .clone();
    assert_eq!(s["allowance"]["first_person"], "150.00");
    assert_eq!(s["contribution_scale"]["kind"], "brackets");

    // A valid change is kept, with the IBAN normalised.
    s["fund_name"] = json!("Caisse alimentaire du 8e");
    s["iban"] = json!("fr76 3000 6000 0112 3456 7890 189");
    s["allowance"] = json!({"first_person": "100.00", "additional_adult": "100.00",
                            "child": "100.00", "balance_cap": null});
    s["contribution_scale"] = json!({"kind": "linear", "rate": "0.04", "minimum": "1.00",
                                     "maximum": "250.00"});
    let put = app.put("/api/v1/settings", Some(&admin), s.clone()).await;
    assert_eq!(put.ok(200)["iban"], "FR7630006000011234567890189");
    let again = app.get("/api/v1/settings", Some(&admin)).await;
    let again = again.ok(200);
    assert_eq!(again["fund_name"], "Caisse alimentaire du 8e");
    assert_eq!(again["allowance"]["balance_cap"], Value::Null);
    assert_eq!(again["contribution_scale"]["rate"], "0.04");

    // Each kind of mistake names its field, and changes nothing.
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"iban": "FR7630006000011234567890188"}),
            "validation_failed",
            "iban",
        ),
        (
            json!({"pin_attempts": 0}),
            "validation_failed",
            "pin_attempts",
        ),
        (
            json!({"contribution_scale": {"kind": "brackets", "brackets": [
                {"up_to": "800.00", "amount": "10.00"}, {"up_to": "700.00", "amount": "20.00"},
                {"up_to": null, "amount": "30.00"}]}}),
            "validation_failed",
            "contribution_scale.brackets[1].up_to",
        ),
        (
            json!({"contribution_scale": {"kind": "brackets", "brackets": [
                {"up_to": "800.00", "amount": "10.00"}]}}),
            "validation_failed",
            "contribution_scale.brackets[0].up_to",
        ),
        (
            json!({"contribution_scale": {"kind": "linear", "rate": "1.5", "minimum": "1.00",
                   "maximum": "2.00"}}),
            "invalid_field",
            "contribution_scale",
        ),
        (
            json!({"contribution_scale": {"kind": "lottery"}}),
            "invalid_field",
            "contribution_scale.kind",
        ),
        (
            json!({"allowance": {"first_person": "-1.00", "additional_adult": "1.00",
                   "child": "1.00"}}),
            "amount_invalid",
            "allowance.first_person",
        ),
        (json!({"colour": "green"}), "unknown_field", "colour"),
    ];
    for (patch, code, field) in cases {
        let mut bad = s.clone();
        for (k, v) in patch.as_object().unwrap() {
            bad[k] = v.clone();
        }
        let r = app.put("/api/v1/settings", Some(&admin), bad).await;
        r.problem(422, code);
        assert!(
            r.fields().iter().any(|f| f == field),
            "expected field {field}, got {:?} ({})",
            r.fields(),
            r.body
        );
    }
    let unchanged = app.get("/api/v1/settings", Some(&admin)).await;
    assert_eq!(unchanged.ok(200), again);
}

async fn bad_input_is_a_clear_problem(app: TestApp) {
    let treasurer = app.login(Role::Treasurer).await;
    let send_raw = |body: Vec<u8>, ct: &'static str| {
        app.client
            .post(app.url("/api/v1/subsidies"))
            .bearer_auth(&treasurer)
            .header("idempotency-key", "raw")
            .header("content-type", ct)
            .body(body)
    };
    app.send(send_raw(b"{\"amount\": ".to_vec(), "application/json"))
        .await
        .problem(400, "malformed_json");
    app.send(send_raw(b"".to_vec(), "application/json"))
        .await
        .problem(400, "malformed_json");
    app.send(send_raw(vec![0xff, 0xfe, 0x00], "application/json"))
        .await
        .problem(400, "malformed_json");
    app.send(send_raw(b"amount=12".to_vec(), "text/plain"))
        .await
        .problem(415, "unsupported_media_type");
    // Just over the limit: a clear 413.
    let mut big = b"{\"label\": \"".to_vec();
    big.extend(std::iter::repeat_n(b'a', 66 * 1024));
    big.extend(b"\"}");
    app.send(send_raw(big, "application/json"))
        .await
        .problem(413, "payload_too_large");
    // Far over it: the server answers 413 from the Content-Length and may close the connection
    // before the client has finished writing; either way nothing fails on the server.
    let mut huge = b"{\"label\": \"".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 10 * 1024 * 1024));
    huge.extend(b"\"}");
    match send_raw(huge, "application/json").send().await {
        Ok(r) => assert_eq!(r.status().as_u16(), 413),
        Err(e) => assert!(e.is_request(), "{e}"),
    }
    app.get("/healthz", None).await.ok(200);

    let ok = json!({"amount": "10.00", "received_on": "2026-11-02", "label": "Subvention"});
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({"amount": 10.5}), "amount_invalid", "amount"),
        (json!({"amount": 10}), "amount_invalid", "amount"),
        (json!({"amount": "10.505"}), "amount_invalid", "amount"),
        (json!({"amount": "-10.00"}), "amount_invalid", "amount"),
        (json!({"amount": "0.00"}), "amount_invalid", "amount"),
        (
            json!({"amount": "99999999999999999999.00"}),
            "amount_invalid",
            "amount",
        ),
        (json!({"amount": "1e3"}), "amount_invalid", "amount"),
        (json!({"amount": null}), "amount_invalid", "amount"),
        (
            json!({"received_on": "2026-13-01"}),
            "invalid_field",
            "received_on",
        ),
        (
            json!({"received_on": 20261101}),
            "invalid_field",
            "received_on",
        ),
        (json!({"label": ["x"]}), "invalid_field", "label"),
        (json!({"label": ""}), "validation_failed", "label"),
        (json!({"extra": 1}), "unknown_field", "extra"),
    ];
    for (patch, code, field) in cases {
        let mut body = ok.clone();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = app
            .post_idem("/api/v1/subsidies", &treasurer, "bad", body)
            .await;
        r.problem(422, code);
        assert_eq!(r.fields(), vec![field.to_string()], "{}", r.body);
    }
    let mut missing = ok.clone();
    missing.as_object_mut().unwrap().remove("label");
    let r = app
        .post_idem("/api/v1/subsidies", &treasurer, "bad", missing)
        .await;
    r.problem(422, "missing_field");
    assert_eq!(r.fields(), vec!["label"]);
    let r = app
        .post_idem("/api/v1/subsidies", &treasurer, "bad", json!([1, 2]))
        .await;
    r.problem(422, "invalid_body");

    // Idempotency-Key is required and bounded.
    app.post("/api/v1/subsidies", Some(&treasurer), ok.clone())
        .await
        .problem(400, "idempotency_key_missing");
    app.post_idem(
        "/api/v1/subsidies",
        &treasurer,
        &"k".repeat(256),
        ok.clone(),
    )
    .await
    .problem(400, "idempotency_key_invalid");

    // Unknown routes and methods.
    app.get("/api/v1/nothing-here", None)
        .await
        .problem(404, "not_found");
    app.send(app.client.delete(app.url("/healthz")))
        .await
        .problem(405, "method_not_allowed");
    app.get("/api/v1/ledger/entries/x/reversal", None).await;

    // None of that moved money.
    let tb = app
        .get("/api/v1/ledger/trial-balance", Some(&treasurer))
        .await;
    assert_eq!(tb.ok(200)["total_debit"], "0.00");

    // Random junk never makes a 500 (`send` asserts it).
    let junk = [
        json!(null),
        json!(true),
        json!("string"),
        json!({"amount": {"nested": []}}),
        json!({"amount": "١٠"}),
        json!({"amount": "10.00", "received_on": "0000-00-00", "label": "x"}),
        json!({"amount": "10.00", "received_on": "2026-11-02", "label": "x".repeat(5000)}),
    ];
    for body in junk {
        for path in ["/api/v1/subsidies", "/api/v1/users", "/api/v1/sessions"] {
            let r = app
                .send_json(
                    reqwest::Method::POST,
                    path,
                    Some(&treasurer),
                    Some("j"),
                    body.clone(),
                )
                .await;
            assert!(r.status.is_client_error(), "{path} {body}: {}", r.status);
        }
        let r = app
            .put("/api/v1/settings", Some(&treasurer), body.clone())
            .await;
        assert!(r.status.is_client_error());
    }
}

async fn subsidy(app: &TestApp, token: &str, key: &str, amount: &str) -> common::Reply {
    app.post_idem(
        "/api/v1/subsidies",
        token,
        key,
        json!({"amount": amount, "received_on": "2026-11-02", "label": "Subvention Métropole"}),
    )
    .await
}

async fn bank_balance(app: &TestApp, token: &str) -> String {
    let tb = app.get("/api/v1/ledger/trial-balance", Some(token)).await;
    tb.ok(200)["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["account"] == "512")
        .unwrap()["balance"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn idempotency_replays_and_conflicts(app: TestApp) {
    let treasurer = app.login(Role::Treasurer).await;
    let first = subsidy(&app, &treasurer, "sub-1", "1000.00").await;
    let first_body = first.ok(201).clone();
    assert!(first.headers.get("idempotent-replayed").is_none());

    // Same key, same body (keys in another order): same status, same body, no new money.
    let replay = app
        .post_idem(
            "/api/v1/subsidies",
            &treasurer,
            "sub-1",
            json!({"label": "Subvention Métropole", "received_on": "2026-11-02", "amount": "1000.00"}),
        )
        .await;
    assert_eq!(replay.ok(201), &first_body);
    assert_eq!(replay.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(bank_balance(&app, &treasurer).await, "1000.00");

    // Same key, another body: 409, nothing moves.
    subsidy(&app, &treasurer, "sub-1", "999.00")
        .await
        .problem(409, "idempotency_key_reused");
    assert_eq!(bank_balance(&app, &treasurer).await, "1000.00");

    // Keys belong to their caller: another treasurer's "sub-1" is a new request.
    let other = app.login(Role::Treasurer).await;
    subsidy(&app, &other, "sub-1", "1000.00").await.ok(201);
    assert_eq!(bank_balance(&app, &treasurer).await, "2000.00");

    // A request refused by validation does not burn the key.
    subsidy(&app, &treasurer, "sub-2", "0.00")
        .await
        .problem(422, "amount_invalid");
    subsidy(&app, &treasurer, "sub-2", "5.00").await.ok(201);
    assert_eq!(bank_balance(&app, &treasurer).await, "2005.00");
}

async fn idempotency_under_concurrency(app: TestApp) {
    let treasurer = app.login(Role::Treasurer).await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let app_base = app.base.clone();
        let token = treasurer.clone();
        tasks.push(tokio::spawn(async move {
            let r = reqwest::Client::new()
                .post(format!("{app_base}/api/v1/subsidies"))
                .bearer_auth(token)
                .header("Idempotency-Key", "race")
                .json(&json!({"amount": "250.00", "received_on": "2026-11-02", "label": "Race"}))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    assert_eq!(answers[0].0, 201);
    assert_eq!(bank_balance(&app, &treasurer).await, "250.00");
    let v = app
        .get("/api/v1/ledger/verification", Some(&treasurer))
        .await;
    assert_eq!(v.ok(200)["entries"], 1);
}

async fn trial_balance_and_reversal(app: TestApp) {
    let treasurer = app.login(Role::Treasurer).await;
    let a = subsidy(&app, &treasurer, "a", "1200.50")
        .await
        .ok(201)
        .clone();
    subsidy(&app, &treasurer, "b", "300.25").await.ok(201);
    let tb = app
        .get("/api/v1/ledger/trial-balance", Some(&treasurer))
        .await;
    let tb = tb.ok(200);
    assert_eq!(tb["total_debit"], "1500.75");
    assert_eq!(tb["total_credit"], "1500.75");
    let line = |code: &str| {
        tb["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["account"] == code)
            .unwrap()
            .clone()
    };
    assert_eq!(line("512")["debit"], "1500.75");
    assert_eq!(line("741")["credit"], "1500.75");
    assert_eq!(line("741")["balance"], "-1500.75");
    assert!(line("741")["label"]
        .as_str()
        .unwrap()
        .contains("Subvention"));

    // A correction is a reversing entry; the original stays, and cannot be reversed twice.
    let id = a["entry_id"].as_i64().unwrap();
    let path = format!("/api/v1/ledger/entries/{id}/reversal");
    let r = app
        .post(
            &path,
            Some(&treasurer),
            json!({"reason": "Saisie en double"}),
        )
        .await;
    assert!(r.ok(201)["entry_id"].as_i64().unwrap() > id);
    app.post(&path, Some(&treasurer), json!({"reason": "Encore"}))
        .await
        .problem(409, "already_reversed");
    app.post(
        "/api/v1/ledger/entries/99/reversal",
        Some(&treasurer),
        json!({"reason": "x"}),
    )
    .await
    .problem(404, "not_found");
    app.post(&path, Some(&treasurer), json!({"reason": ""}))
        .await
        .problem(422, "validation_failed");
    assert_eq!(bank_balance(&app, &treasurer).await, "300.25");
    let tb = app
        .get("/api/v1/ledger/trial-balance", Some(&treasurer))
        .await;
    assert_eq!(tb.body["total_debit"], tb.body["total_credit"]);
    assert_eq!(tb.body["total_debit"], "2701.25");

    let v = app
        .get("/api/v1/ledger/verification", Some(&treasurer))
        .await;
    let v = v.ok(200);
    assert_eq!(v["clean"], true, "{v}");
    assert_eq!(v["entries"], 3);
}

/// An admin sees who can sign in: every user, oldest first, a role's only on demand, paged;
/// never a password hash; nobody else may look.
async fn users_are_listed_to_admins(app: TestApp) {
    let admin = app.login(Role::Admin).await;
    let treasurer = app.login(Role::Treasurer).await;
    app.login(Role::Committee).await;
    let all = app.get("/api/v1/users", Some(&admin)).await.ok(200).clone();
    let items = all["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{all}");
    let roles: Vec<&str> = items.iter().map(|u| u["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["admin", "treasurer", "committee"]);
    assert!(!all.to_string().contains("argon2"), "{all}");
    assert!(items.iter().all(|u| u["created_at"].is_string()));

    let only = app
        .get("/api/v1/users?role=treasurer", Some(&admin))
        .await
        .ok(200)
        .clone();
    assert_eq!(only["items"].as_array().unwrap().len(), 1);
    assert_eq!(only["next_cursor"], Value::Null);

    let mut seen = Vec::new();
    let mut url = "/api/v1/users?limit=2".to_string();
    loop {
        let page = app.get(&url, Some(&admin)).await.ok(200).clone();
        for u in page["items"].as_array().unwrap() {
            seen.push(u["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => url = format!("/api/v1/users?limit=2&cursor={c}"),
            None => break,
        }
    }
    let ids: Vec<String> = items
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, ids);

    app.get("/api/v1/users?role=terminal", Some(&admin))
        .await
        .problem(422, "validation_failed");
    app.get("/api/v1/users", Some(&treasurer))
        .await
        .problem(403, "forbidden");
}
