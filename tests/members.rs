//! Members, households, contributions: each test on SQLite and PostgreSQL.

mod common;

use caisse::domain::member::is_valid_payment_reference;
use caisse::domain::Role;
use common::TestApp;
use serde_json::{json, Value};

both_backends!(
    member_lifecycle,
    member_input_is_validated,
    members_see_only_themselves,
    calls_are_idempotent_and_keep_past_amounts,
    calls_race_to_one,
    payments_arrears_and_credit,
    simulator_answers_does_the_fund_hold,
    tills_see_no_member_data,
    a_call_cut_short_is_finished_by_the_next_one,
    member_queries_are_read_strictly_and_history_pages,
);

/// A shop's till never sees a member, an income or a contribution, anywhere.
async fn tills_see_no_member_data(app: TestApp) {
    let t = app.login(Role::Treasurer).await;
    let m = create(
        &app,
        &t,
        json!({"full_name": "Privée", "household": {"adults": 1}, "monthly_income": "1234.56"}),
    )
    .await;
    let id = m["id"].as_str().unwrap();
    let (_shop, till) = app.terminal_login().await;
    for path in [
        format!("/api/v1/members/{id}"),
        format!("/api/v1/members/{id}/account"),
        format!("/api/v1/members/{id}/transactions"),
        "/api/v1/members".to_string(),
        "/api/v1/contributions/arrears".to_string(),
        "/api/v1/settings".to_string(),
    ] {
        app.get(&path, Some(&till)).await.problem(403, "forbidden");
    }
    for path in [
        "/api/v1/contributions/simulate",
        "/api/v1/contributions/calls",
    ] {
        app.post(path, Some(&till), json!({}))
            .await
            .problem(403, "forbidden");
    }
    // What a till may read says nothing of members.
    for path in ["/api/v1/me", "/api/v1/shops", "/api/v1/terminals/current"] {
        let r = app.get(path, Some(&till)).await;
        let text = r.ok(200).to_string();
        for secret in ["1234.56", "Privée", "monthly_income", "contribution", id] {
            assert!(!text.contains(secret), "{path} shows {secret}: {text}");
        }
    }
}

async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    app.post("/api/v1/members", Some(token), body)
        .await
        .ok(201)
        .clone()
}

async fn member_lifecycle(app: TestApp) {
    let t = app.login(Role::Treasurer).await;
    let m = create(
        &app,
        &t,
        json!({"full_name": "  Awa   Diallo ", "email": "Awa@Example.org", "phone": "06 12 34 56 78",
               "household": {"adults": 2, "children": 1}, "monthly_income": "2000.00"}),
    )
    .await;
    assert_eq!(m["status"], "active");
    assert_eq!(m["full_name"], "Awa Diallo");
    assert_eq!(m["email"], "awa@example.org");
    assert_eq!(m["consumption_units"], "1.8");
    // 2000 / 1.8 = 1111.11 per unit: the 800.01–1500 bracket of the default scale.
    assert_eq!(m["contribution"], "40.00");
    // Lyon 8e: 150 + 75 + 45.
    assert_eq!(m["monthly_allowance"], "270.00");
    let reference = m["payment_reference"].as_str().unwrap();
    assert!(is_valid_payment_reference(reference), "{reference}");
    assert!(reference.ends_with(m["account_ref"].as_str().unwrap()));
    let id = m["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/members/{id}");

    assert_eq!(
        app.get(&path, Some(&t)).await.ok(200)["number"],
        m["number"]
    );

    // A raise moves the contribution for the next calls.
    let r = app
        .send_json(
            reqwest::Method::PATCH,
            &path,
            Some(&t),
            None,
            json!({"monthly_income": "4000.00", "phone": null}),
        )
        .await;
    let patched = r.ok(200);
    assert_eq!(patched["contribution"], "120.00");
    assert_eq!(patched["phone"], Value::Null);
    assert_eq!(patched["email"], "awa@example.org");

    let s = app
        .post(&format!("{path}/suspend"), Some(&t), json!({}))
        .await;
    assert_eq!(s.ok(200)["status"], "suspended");
    app.post(&format!("{path}/suspend"), Some(&t), json!({}))
        .await
        .problem(409, "invalid_status_change");
    let r = app
        .post(&format!("{path}/reactivate"), Some(&t), json!({}))
        .await;
    assert_eq!(r.ok(200)["status"], "active");

    // The member's own login stops working when they leave, and personal data is erased.
    let member_token = app.login_as(Role::Member, Some(&id)).await;
    app.get("/api/v1/me", Some(&member_token)).await.ok(200);
    let left = app
        .post(&format!("{path}/leave"), Some(&t), json!({}))
        .await;
    let left = left.ok(200);
    assert_eq!(left["status"], "left");
    for field in ["full_name", "email", "phone", "monthly_income"] {
        assert_eq!(left[field], Value::Null, "{field}");
    }
    assert_eq!(left["payment_reference"], reference);
    assert!(left["left_on"].is_string());
    app.get("/api/v1/me", Some(&member_token))
        .await
        .problem(401, "unauthenticated");
    app.post(&format!("{path}/leave"), Some(&t), json!({}))
        .await
        .problem(409, "invalid_status_change");
    app.send_json(
        reqwest::Method::PATCH,
        &path,
        Some(&t),
        None,
        json!({"full_name": "X"}),
    )
    .await
    .problem(409, "member_left");
    // Nobody can sign a login onto a member who left.
    let admin = app.login(Role::Admin).await;
    let r = app
        .post(
            "/api/v1/users",
            Some(&admin),
            json!({"email": "x@test.caisse.fr", "password": "long enough pass", "role": "member",
                   "member_id": id}),
        )
        .await;
    assert_eq!(r.fields(), vec!["member_id"]);

    // The list pages by joining order.
    for n in 0..3 {
        create(
            &app,
            &t,
            json!({"full_name": format!("M{n}"), "household": {"adults": 1}}),
        )
        .await;
    }
    let page = app.get("/api/v1/members?limit=2", Some(&t)).await;
    let page = page.ok(200).clone();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = app
        .get(
            &format!("/api/v1/members?limit=2&cursor={cursor}"),
            Some(&t),
        )
        .await;
    assert_eq!(rest.ok(200)["items"].as_array().unwrap().len(), 2);
    let active = app.get("/api/v1/members?status=left", Some(&t)).await;
    assert_eq!(active.ok(200)["items"].as_array().unwrap().len(), 1);
    let r = app
        .get("/api/v1/members?limit=0&colour=red", Some(&t))
        .await;
    r.problem(422, "validation_failed");
    // Each bad parameter is named; the order of the list is not part of the answer.
    let mut named = r.fields();
    named.sort();
    assert_eq!(named, vec!["colour", "limit"]);
    let last = rest.body["next_cursor"].clone();
    assert_eq!(last, Value::Null, "no page after the last one");
}

async fn member_input_is_validated(app: TestApp) {
    let t = app.login(Role::Treasurer).await;
    let ok = json!({"full_name": "Jean Martin", "household": {"adults": 1, "children": 0},
                    "monthly_income": "900.00"});
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"household": {"adults": 0, "children": 2}}),
            "validation_failed",
            "household.adults",
        ),
        (
            json!({"household": {"adults": 1, "children": -1}}),
            "validation_failed",
            "household.children",
        ),
        (
            json!({"household": {"adults": 20, "children": 11}}),
            "validation_failed",
            "household",
        ),
        (
            json!({"household": {"adults": "two"}}),
            "invalid_field",
            "household.adults",
        ),
        (
            json!({"monthly_income": "-5.00"}),
            "amount_invalid",
            "monthly_income",
        ),
        (
            json!({"monthly_income": 900}),
            "amount_invalid",
            "monthly_income",
        ),
        (json!({"full_name": ""}), "validation_failed", "full_name"),
        (
            json!({"email": "not an email"}),
            "validation_failed",
            "email",
        ),
        (json!({"phone": "call me"}), "validation_failed", "phone"),
        (json!({"income": "900.00"}), "unknown_field", "income"),
    ];
    for (patch, code, field) in cases {
        let mut body = ok.clone();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = app.post("/api/v1/members", Some(&t), body.clone()).await;
        r.problem(422, code);
        assert!(
            r.fields().contains(&field.to_string()),
            "{body}: {}",
            r.body
        );
    }
    let mut no_name = ok.clone();
    no_name.as_object_mut().unwrap().remove("full_name");
    let r = app.post("/api/v1/members", Some(&t), no_name).await;
    r.problem(422, "missing_field");
    assert_eq!(r.fields(), vec!["full_name"]);

    // Under a free scale the chosen amount must reach the minimum.
    let admin = app.login(Role::Admin).await;
    let mut s = app
        .get("/api/v1/settings", Some(&admin))
        .await
        .ok(200)
        .clone();
    s["contribution_scale"] = json!({"kind": "free", "minimum": "10.00"});
    app.put("/api/v1/settings", Some(&admin), s).await.ok(200);
    let mut low = ok.clone();
    low["chosen_contribution"] = json!("5.00");
    let r = app.post("/api/v1/members", Some(&t), low).await;
    assert_eq!(r.fields(), vec!["chosen_contribution"]);
    let mut fine = ok.clone();
    fine["chosen_contribution"] = json!("25.00");
    assert_eq!(create(&app, &t, fine).await["contribution"], "25.00");
    // Nothing was created by the refused requests.
    let list = app.get("/api/v1/members", Some(&t)).await;
    assert_eq!(list.ok(200)["items"].as_array().unwrap().len(), 1);
}

async fn members_see_only_themselves(app: TestApp) {
    let t = app.login(Role::Treasurer).await;
    let mine = create(
        &app,
        &t,
        json!({"full_name": "Moi", "household": {"adults": 1}, "monthly_income": "1200.00"}),
    )
    .await;
    let other = create(
        &app,
        &t,
        json!({"full_name": "Autre", "household": {"adults": 1}, "monthly_income": "3100.00"}),
    )
    .await;
    let me_id = mine["id"].as_str().unwrap();
    let other_id = other["id"].as_str().unwrap();
    let member = app.login_as(Role::Member, Some(me_id)).await;

    let me = app.get("/api/v1/me", Some(&member)).await;
    let me = me.ok(200);
    assert_eq!(me["user"]["role"], "member");
    assert_eq!(me["member"]["id"], me_id);
    assert_eq!(me["member"]["monthly_income"], "1200.00");
    assert_eq!(me["account"]["balance"], "0.00");
    app.get(&format!("/api/v1/members/{me_id}"), Some(&member))
        .await
        .ok(200);
    app.get(&format!("/api/v1/members/{me_id}/account"), Some(&member))
        .await
        .ok(200);
    app.get(
        &format!("/api/v1/members/{me_id}/transactions"),
        Some(&member),
    )
    .await
    .ok(200);

    // Another member's data does not exist for them.
    for suffix in ["", "/account", "/transactions"] {
        app.get(
            &format!("/api/v1/members/{other_id}{suffix}"),
            Some(&member),
        )
        .await
        .problem(404, "not_found");
    }
    app.get("/api/v1/members", Some(&member))
        .await
        .problem(403, "forbidden");
    app.post("/api/v1/members", Some(&member), json!({}))
        .await
        .problem(403, "forbidden");

    // The committee never sees members, incomes included.
    let committee = app.login(Role::Committee).await;
    for path in [
        format!("/api/v1/members/{other_id}"),
        format!("/api/v1/members/{other_id}/account"),
        "/api/v1/members".to_string(),
        "/api/v1/contributions/arrears".to_string(),
    ] {
        app.get(&path, Some(&committee))
            .await
            .problem(403, "forbidden");
    }
    let me = app.get("/api/v1/me", Some(&committee)).await;
    assert!(me.ok(200).get("member").is_none());
    app.post(
        "/api/v1/contributions/calls",
        Some(&committee),
        json!({"period": "2026-09"}),
    )
    .await
    .problem(403, "forbidden");
}

async fn entries(app: &TestApp, token: &str) -> i64 {
    let v = app.get("/api/v1/ledger/verification", Some(token)).await;
    let v = v.ok(200);
    assert_eq!(v["clean"], true, "{v}");
    v["entries"].as_i64().unwrap()
}

async fn calls_are_idempotent_and_keep_past_amounts(app: TestApp) {
    let t = app.login(Role::Treasurer).await;
    let a = create(
        &app,
        &t,
        json!({"full_name": "A", "household": {"adults": 1}, "monthly_income": "700.00"}),
    )
    .await;
    let b = create(&app, &t, json!({"full_name": "B", "household": {"adults": 2, "children": 3}, "monthly_income": "5000.00"})).await;
    let c = create(
        &app,
        &t,
        json!({"full_name": "C", "household": {"adults": 1}}),
    )
    .await;
    app.post(
        &format!("/api/v1/members/{}/suspend", c["id"].as_str().unwrap()),
        Some(&t),
        json!({}),
    )
    .await
    .ok(200);

    let r = app
        .post(
            "/api/v1/contributions/calls",
            Some(&t),
            json!({"period": "2026-09"}),
        )
        .await;
    let first = r.ok(200).clone();
    // A: 700 per unit → 10.00; B: 5000 / 2.4 = 2083.33 → 120.00; C is suspended.
    assert_eq!(
        first,
        json!({"period": "2026-09", "members_called": 2, "total": "130.00"})
    );
    let n = entries(&app, &t).await;
    assert_eq!(n, 2);

    let again = app
        .post(
            "/api/v1/contributions/calls",
            Some(&t),
            json!({"period": "2026-09"}),
        )
        .await;
    assert_eq!(again.ok(200), &first);
    assert_eq!(entries(&app, &t).await, n);

    // A new scale changes the next call, never the past one.
    let admin = app.login(Role::Admin).await;
    let mut s = app
        .get("/api/v1/settings", Some(&admin))
        .await
        .ok(200)
        .clone();
    s["contribution_scale"] =
        json!({"kind": "linear", "rate": "0.03", "minimum": "2.00", "maximum": "100.00"});
    app.put("/api/v1/settings", Some(&admin), s).await.ok(200);
    let oct = app
        .post(
            "/api/v1/contributions/calls",
            Some(&t),
            json!({"period": "2026-10"}),
        )
        .await;
    // A: 0.03 × 700 = 21.00; B: 0.03 × 2083.333 = 62.50 (rounded half away from zero).
    assert_eq!(oct.ok(200)["total"], "83.50");
    assert_eq!(
        app.post(
            "/api/v1/contributions/calls",
            Some(&t),
            json!({"period": "2026-09"})
        )
        .await
        .ok(200),
        &first
    );

    // Each member sees each call in their history, with the amount of that period.
    let a_id = a["id"].as_str().unwrap();
    let tx = app
        .get(&format!("/api/v1/members/{a_id}/transactions"), Some(&t))
        .await;
    let items = tx.ok(200)["items"].as_array().unwrap().clone();
    let amounts: Vec<&str> = items
        .iter()
        .map(|i| i["amount"].as_str().unwrap())
        .collect();
    assert_eq!(amounts, vec!["21.00", "10.00"]);
    assert!(items
        .iter()
        .all(|i| i["kind"] == "contribution_call" && i["account"] == "contribution"));
    let b_id = b["id"].as_str().unwrap();
    let acct = app
        .get(&format!("/api/v1/members/{b_id}/account"), Some(&t))
        .await;
    assert_eq!(acct.ok(200)["contributions_due"], "182.50");

    for bad in [
        json!({"period": "2026-13"}),
        json!({"period": "2026-1"}),
        json!({"period": 202609}),
    ] {
        let r = app.post("/api/v1/contributions/calls", Some(&t), bad).await;
        r.problem(422, "invalid_field");
        assert_eq!(r.fields(), vec!["period"]);
    }
    let tb = app.get("/api/v1/ledger/trial-balance", Some(&t)).await;
    assert_eq!(tb.body["total_debit"], tb.body["total_credit"]);
}

async fn calls_race_to_one(app: TestApp) {
    let t = app.login(Role::Treasurer).await;
    for n in 0..5 {
        create(&app, &t, json!({"full_name": format!("R{n}"), "household": {"adults": 1}, "monthly_income": "1000.00"})).await;
    }
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (base, token) = (app.base.clone(), t.clone());
        tasks.push(tokio::spawn(async move {
            let r = reqwest::Client::new()
                .post(format!("{base}/api/v1/contributions/calls"))
                .bearer_auth(token)
                .json(&json!({"period": "2026-11"}))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }));
    }
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body,
            json!({"period": "2026-11", "members_called": 5, "total": "200.00"})
        );
    }
    assert_eq!(entries(&app, &t).await, 5);
}

async fn pay(app: &TestApp, t: &str, key: &str, member: &str, amount: &str) -> common::Reply {
    app.post_idem(
        "/api/v1/contributions/payments",
        t,
        key,
        json!({"member_id": member, "amount": amount, "method": "transfer", "paid_on": "2026-10-05"}),
    )
    .await
}

async fn payments_arrears_and_credit(app: TestApp) {
    let t = app.login(Role::Treasurer).await;
    let a = create(
        &app,
        &t,
        json!({"full_name": "Ana", "household": {"adults": 1}, "monthly_income": "1000.00"}),
    )
    .await;
    let b = create(
        &app,
        &t,
        json!({"full_name": "Bob", "household": {"adults": 1}, "monthly_income": "1000.00"}),
    )
    .await;
    let (a_id, b_id) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    for p in ["2026-09", "2026-10"] {
        app.post(
            "/api/v1/contributions/calls",
            Some(&t),
            json!({"period": p}),
        )
        .await
        .ok(200);
    }
    // Ana pays September only; Bob pays 100.00, more than both months.
    let first = pay(&app, &t, "ana-09", a_id, "40.00").await;
    let first_body = first.ok(201).clone();
    assert_eq!(first_body["method"], "transfer");
    // A retry answers the same and records nothing new.
    let retry = pay(&app, &t, "ana-09", a_id, "40.00").await;
    assert_eq!(retry.ok(201), &first_body);
    pay(&app, &t, "ana-09", a_id, "41.00")
        .await
        .problem(409, "idempotency_key_reused");
    pay(&app, &t, "bob-1", b_id, "100.00").await.ok(201);

    let arrears = app
        .get("/api/v1/contributions/arrears?period=2026-11", Some(&t))
        .await;
    let arrears = arrears.ok(200).clone();
    assert_eq!(arrears["members"], 1);
    assert_eq!(arrears["total"], "40.00");
    let item = &arrears["items"][0];
    assert_eq!(item["member_id"], a_id);
    assert_eq!(item["full_name"], "Ana");
    assert_eq!(item["arrears"], "40.00");
    assert_eq!(item["oldest_unpaid_period"], "2026-10");
    // In October itself, October's dues are due, not in arrears.
    let oct = app
        .get("/api/v1/contributions/arrears?period=2026-10", Some(&t))
        .await;
    assert_eq!(oct.ok(200)["members"], 0);

    let bob = app
        .get(&format!("/api/v1/members/{b_id}/account"), Some(&t))
        .await;
    let bob = bob.ok(200);
    assert_eq!(bob["contributions_due"], "0.00");
    assert_eq!(bob["credit"], "20.00");
    // The credit is used by the next dues.
    app.post(
        "/api/v1/contributions/calls",
        Some(&t),
        json!({"period": "2026-11"}),
    )
    .await
    .ok(200);
    let bob = app
        .get(&format!("/api/v1/members/{b_id}/account"), Some(&t))
        .await;
    assert_eq!(bob.ok(200)["contributions_due"], "20.00");

    let hist = app
        .get(&format!("/api/v1/members/{a_id}/transactions"), Some(&t))
        .await;
    let kinds: Vec<String> = hist.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{} {}",
                i["kind"].as_str().unwrap(),
                i["amount"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            "contribution_call 40.00",
            "contribution_payment -40.00",
            "contribution_call 40.00",
            "contribution_call 40.00"
        ]
    );

    // Refused payments change nothing.
    let bad: Vec<(Value, &str, &str)> = vec![
        (
            json!({"member_id": "mem_nope"}),
            "member_not_found",
            "member_id",
        ),
        (json!({"method": "bitcoin"}), "validation_failed", "method"),
        (json!({"amount": "0.00"}), "amount_invalid", "amount"),
        (json!({"amount": "-3.00"}), "amount_invalid", "amount"),
        (
            json!({"paid_on": "2099-01-01"}),
            "validation_failed",
            "paid_on",
        ),
    ];
    for (i, (patch, code, field)) in bad.into_iter().enumerate() {
        let mut body =
            json!({"member_id": a_id, "amount": "5.00", "method": "cash", "paid_on": "2026-10-05"});
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = app
            .post_idem(
                "/api/v1/contributions/payments",
                &t,
                &format!("bad-{i}"),
                body,
            )
            .await;
        r.problem(422, code);
        assert_eq!(r.fields(), vec![field]);
    }
    app.post("/api/v1/contributions/payments", Some(&t), json!({}))
        .await
        .problem(400, "idempotency_key_missing");
    assert_eq!(entries(&app, &t).await, 6 + 2);
}

async fn simulator_answers_does_the_fund_hold(app: TestApp) {
    let t = app.login(Role::Treasurer).await;
    let scale = json!({"kind": "brackets", "minimum": "1.00", "brackets": [
        {"up_to": "800.00", "amount": "10.00"}, {"up_to": null, "amount": "50.00"}]});
    let r = app
        .post(
            "/api/v1/contributions/simulate",
            Some(&t),
            json!({"contribution_scale": scale, "members": [
                {"household": {"adults": 1, "children": 0}, "monthly_income": "600.00"},
                {"household": {"adults": 2, "children": 2}, "monthly_income": "3000.00"}]}),
        )
        .await;
    // Contributions 10 + 50; allowances 150 + (150 + 75 + 2 × 45) = 465.
    assert_eq!(
        r.ok(200),
        &json!({"members": 2, "total_contributions": "60.00", "total_allowances": "465.00",
                "coverage_ratio": "0.1290", "subsidy_needed": "405.00"})
    );

    // Without a list: the fund's active members.
    create(
        &app,
        &t,
        json!({"full_name": "S", "household": {"adults": 1}, "monthly_income": "2000.00"}),
    )
    .await;
    let r = app
        .post(
            "/api/v1/contributions/simulate",
            Some(&t),
            json!({"contribution_scale": scale}),
        )
        .await;
    let r = r.ok(200);
    assert_eq!(r["members"], 1);
    assert_eq!(r["coverage_ratio"], "0.3333");

    let r = app
        .post("/api/v1/contributions/simulate", Some(&t),
              json!({"contribution_scale": {"kind": "brackets", "brackets": [{"up_to": "500.00", "amount": "1.00"}]}}))
        .await;
    assert_eq!(r.fields(), vec!["contribution_scale.brackets[0].up_to"]);
    let r = app
        .post(
            "/api/v1/contributions/simulate",
            Some(&t),
            json!({"contribution_scale": {"kind": "tax"}}),
        )
        .await;
    r.problem(422, "invalid_field");
    let r = app
        .post(
            "/api/v1/contributions/simulate",
            Some(&t),
            json!({"contribution_scale": scale, "members": [{"household": {"adults": 0}}]}),
        )
        .await;
    assert_eq!(r.fields(), vec!["members[0].household"]);
}

/// A call commits chunk by chunk. Cut short after its first chunk (as by a crash), the next
/// call for the period calls the members left, by the scale it started with, none twice.
async fn a_call_cut_short_is_finished_by_the_next_one(app: TestApp) {
    let t = app.login(Role::Treasurer).await;
    for n in 0..5 {
        create(
            &app,
            &t,
            json!({"full_name": format!("Coupure {n}"), "household": {"adults": 1},
                   "monthly_income": "700.00"}),
        )
        .await;
    }
    let period = "2026-10".parse().unwrap();
    let cut = caisse::service::contributions::call_in_chunks(
        &app.db,
        &caisse::domain::FundId::new(app.fund_id.as_str()),
        period,
        2,
        Some(1),
    )
    .await
    .unwrap();
    assert_eq!(cut, None, "one chunk of two members does not finish five");
    assert_eq!(entries(&app, &t).await, 2);

    // A new scale before the call is taken up again: it keeps the one it began with.
    let admin = app.login(Role::Admin).await;
    let mut s = app
        .get("/api/v1/settings", Some(&admin))
        .await
        .ok(200)
        .clone();
    s["contribution_scale"] =
        json!({"kind": "linear", "rate": "0.03", "minimum": "2.00", "maximum": "100.00"});
    app.put("/api/v1/settings", Some(&admin), s).await.ok(200);
    let r = app
        .post(
            "/api/v1/contributions/calls",
            Some(&t),
            json!({"period": "2026-10"}),
        )
        .await;
    // 700 per unit → 10.00 each on the bracket scale the call began with.
    assert_eq!(
        r.ok(200),
        &json!({"period": "2026-10", "members_called": 5, "total": "50.00"})
    );
    assert_eq!(entries(&app, &t).await, 5);
    // The next period is called by the new scale: 3 % of 700.00 = 21.00 each.
    let nov = app
        .post(
            "/api/v1/contributions/calls",
            Some(&t),
            json!({"period": "2026-11"}),
        )
        .await;
    assert_eq!(nov.ok(200)["total"], "105.00");
}

/// The list routes of members and contributions read their query strictly (each bad parameter
/// named, 422), and a member's history pages by journal number to its end.
async fn member_queries_are_read_strictly_and_history_pages(app: TestApp) {
    let t = app.login(Role::Treasurer).await;
    let m = create(
        &app,
        &t,
        json!({"full_name": "Pages", "household": {"adults": 1}, "monthly_income": "700.00"}),
    )
    .await;
    let id = m["id"].as_str().unwrap();
    let history = format!("/api/v1/members/{id}/transactions");
    for (path, field) in [
        ("/api/v1/members?status=gone".to_string(), "status"),
        (format!("{history}?cursor=abc"), "cursor"),
        (format!("{history}?limit=1&limit=2"), "limit"),
        (format!("{history}?page=2"), "page"),
        (
            "/api/v1/contributions/arrears?period=2026-13".to_string(),
            "period",
        ),
        (
            "/api/v1/contributions/arrears?period=2026-11&period=2026-12".to_string(),
            "period",
        ),
    ] {
        let r = app.get(&path, Some(&t)).await;
        r.problem(422, "validation_failed");
        assert_eq!(r.fields(), vec![field], "{path}");
    }
    // An empty cursor is none.
    let r = app.get(&format!("{history}?cursor="), Some(&t)).await;
    assert!(r.ok(200)["items"].as_array().unwrap().is_empty());

    // A call and an allowance: two movements, one per page.
    let period = caisse::domain::today().format("%Y-%m").to_string();
    app.post(
        "/api/v1/contributions/calls",
        Some(&t),
        json!({"period": period}),
    )
    .await
    .ok(200);
    app.post(
        "/api/v1/allowances/issuances",
        Some(&t),
        json!({"period": period}),
    )
    .await
    .ok(200);
    let first = app.get(&format!("{history}?limit=1"), Some(&t)).await;
    let first = first.ok(200).clone();
    assert_eq!(first["items"].as_array().unwrap().len(), 1);
    assert_eq!(first["items"][0]["kind"], "allowance");
    assert_eq!(first["items"][0]["amount"], "150.00");
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let second = app
        .get(&format!("{history}?limit=1&cursor={cursor}"), Some(&t))
        .await;
    let second = second.ok(200);
    assert_eq!(second["items"][0]["kind"], "contribution_call");
    assert_eq!(second["items"][0]["account"], "contribution");
    assert_eq!(
        second["next_cursor"],
        Value::Null,
        "no page after the last one"
    );
}
