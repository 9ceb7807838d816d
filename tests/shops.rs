//! Black-box tests of approved shops: applications, committee votes, decisions, suspension, the
//! directory and the tills' keys, each on SQLite and PostgreSQL.

mod common;

use caisse::domain::ledger::{AccountCode, General};
use caisse::domain::Role;
use caisse::store::{ledger, shops};
use common::{TestApp, PASSWORD};
use serde_json::{json, Value};
use sqlx::Row;

both_backends!(
    every_shop_route_is_in_openapi,
    applications_are_validated,
    what_each_role_sees_of_a_shop,
    role_matrix,
    votes_replace_and_stay_private,
    concurrent_votes_of_one_voter_leave_one_vote,
    decisions_record_the_tally_and_open_the_account,
    suspension_takes_effect_at_once,
    directory_filters_and_pages,
    terminal_keys,
    shops_due_for_review,
    another_funds_shops_are_not_found,
    demo_creates_shops,
    the_use_cases_check_the_role_and_the_status,
);

const IBAN: &str = "FR7630006000011234567890189";

fn application(name: &str) -> Value {
    json!({
        "name": name,
        "legal_name": format!("SARL {name}"),
        "siret": "732 829 320 00074",
        "iban": "FR76 3000 6000 0112 3456 7890 189",
        "bic": "AGRIFRPP",
        "address": "12 rue Saint-Maurice, 69008 Lyon",
        "categories": ["boulangerie", "epicerie"],
        "criteria": {"locality": "Farines d'un moulin à 60 km",
                     "price_transparency": "Prix affichés"},
    })
}

async fn create_shop(app: &TestApp, token: &str, name: &str) -> String {
    let r = app
        .post("/api/v1/shops", Some(token), application(name))
        .await;
    r.ok(201)["id"].as_str().unwrap().to_string()
}

async fn decide(app: &TestApp, admin: &str, id: &str, body: Value) -> common::Reply {
    app.post(&format!("/api/v1/shops/{id}/decision"), Some(admin), body)
        .await
}

async fn approved_shop(app: &TestApp, admin: &str, name: &str) -> String {
    let id = create_shop(app, admin, name).await;
    decide(app, admin, &id, json!({"decision": "approved"}))
        .await
        .ok(200);
    id
}

async fn vote(app: &TestApp, token: &str, id: &str, body: Value) -> common::Reply {
    app.post(&format!("/api/v1/shops/{id}/votes"), Some(token), body)
        .await
}

async fn new_terminal(app: &TestApp, admin: &str, shop: &str, label: &str) -> (String, String) {
    let r = app
        .post(
            &format!("/api/v1/shops/{shop}/terminals"),
            Some(admin),
            json!({"label": label}),
        )
        .await;
    let b = r.ok(201);
    (
        b["id"].as_str().unwrap().to_string(),
        b["api_key"].as_str().unwrap().to_string(),
    )
}

async fn accepting(app: &TestApp, shop: &str) -> bool {
    let mut conn = app.db.pool().acquire().await.unwrap();
    shops::is_accepting_payments(&mut conn, &app.fund_id, shop)
        .await
        .unwrap()
}

fn days_from_today(n: i64) -> String {
    (caisse::domain::today() + chrono::Duration::days(n))
        .format("%Y-%m-%d")
        .to_string()
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

async fn every_shop_route_is_in_openapi(app: TestApp) {
    let doc = app.get("/api/openapi.json", None).await;
    let paths = doc.ok(200)["paths"].as_object().unwrap().clone();
    for (path, method) in [
        ("/api/v1/shops", "post"),
        ("/api/v1/shops", "get"),
        ("/api/v1/shops/review-due", "get"),
        ("/api/v1/shops/{id}", "get"),
        ("/api/v1/shops/{id}/votes", "post"),
        ("/api/v1/shops/{id}/votes", "get"),
        ("/api/v1/shops/{id}/decision", "post"),
        ("/api/v1/shops/{id}/suspend", "post"),
        ("/api/v1/shops/{id}/reinstate", "post"),
        ("/api/v1/shops/{id}/terminals", "post"),
        ("/api/v1/shops/{id}/terminals", "get"),
        ("/api/v1/shops/{id}/terminals/{terminal_id}/revoke", "post"),
        ("/api/v1/terminals/current", "get"),
    ] {
        let op = paths.get(path).and_then(|p| p.get(method));
        assert!(op.is_some(), "{method} {path} missing from OpenAPI");
        let responses = op.unwrap()["responses"].as_object().unwrap();
        assert!(
            responses.contains_key("401"),
            "{method} {path} documents no 401"
        );
    }
    // The shop views live in the service now: each schema they name is in the document.
    let schemas = doc.ok(200)["components"]["schemas"].clone();
    for name in [
        "ShopView",
        "ShopList",
        "VoteRecorded",
        "VoteList",
        "TerminalCreated",
    ] {
        assert!(schemas.get(name).is_some(), "{name} missing");
    }
    let mut refs = Vec::new();
    collect_refs(doc.ok(200), &mut refs);
    for r in refs {
        let name = r.trim_start_matches("#/components/schemas/");
        assert!(schemas.get(name).is_some(), "{r} does not resolve");
    }
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v.as_str()) {
                    ("$ref", Some(r)) => out.push(r.to_string()),
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

async fn applications_are_validated(app: TestApp) {
    let committee = app.login(Role::Committee).await;
    let cases: Vec<(Value, &str, &str)> = vec![
        // mod-97 fails
        (
            json!({"iban": "FR7630006000011234567890188"}),
            "validation_failed",
            "iban",
        ),
        // wrong length for France
        (
            json!({"iban": "FR76300060000112345678901"}),
            "validation_failed",
            "iban",
        ),
        (json!({"iban": "not an iban"}), "validation_failed", "iban"),
        // Luhn fails
        (
            json!({"siret": "73282932000075"}),
            "validation_failed",
            "siret",
        ),
        (
            json!({"siret": "7328293200007"}),
            "validation_failed",
            "siret",
        ),
        (
            json!({"siret": "7328293200007A"}),
            "validation_failed",
            "siret",
        ),
        (json!({"bic": "AGRI"}), "validation_failed", "bic"),
        (json!({"name": "  "}), "validation_failed", "name"),
        (json!({"address": ""}), "validation_failed", "address"),
        (json!({"categories": []}), "validation_failed", "categories"),
        (
            json!({"categories": ["boulangerie", "bijouterie"]}),
            "validation_failed",
            "categories[1]",
        ),
        (
            json!({"categories": ["epicerie", "epicerie"]}),
            "validation_failed",
            "categories[1]",
        ),
        (
            json!({"criteria": {"locality": "ok", "colour": "vert"}}),
            "validation_failed",
            "criteria.colour",
        ),
        (
            json!({"criteria": {"locality": " "}}),
            "validation_failed",
            "criteria.locality",
        ),
        (json!({"iban": 76}), "invalid_field", "iban"),
        (json!({"status": "approved"}), "unknown_field", "status"),
    ];
    for (patch, code, field) in cases {
        let mut body = application("Le Fournil");
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = app.post("/api/v1/shops", Some(&committee), body).await;
        r.problem(422, code);
        assert_eq!(r.fields(), vec![field.to_string()], "{}", r.body);
    }
    let mut missing = application("Le Fournil");
    missing.as_object_mut().unwrap().remove("iban");
    let r = app.post("/api/v1/shops", Some(&committee), missing).await;
    r.problem(422, "missing_field");
    assert_eq!(r.fields(), vec!["iban"]);

    // Several mistakes at once are all named.
    let mut body = application("Le Fournil");
    body["iban"] = json!("FR7630006000011234567890188");
    body["siret"] = json!("12345678901234");
    let r = app.post("/api/v1/shops", Some(&committee), body).await;
    r.problem(422, "validation_failed");
    assert_eq!(r.fields(), vec!["siret", "iban"]);

    // None of that created a shop.
    let admin = app.login(Role::Admin).await;
    let list = app.get("/api/v1/shops", Some(&admin)).await;
    assert_eq!(list.ok(200)["items"], json!([]));

    // SIRET and BIC are optional; a good application is pending, normalised.
    let mut body = application("Le Fournil");
    body.as_object_mut().unwrap().remove("siret");
    body.as_object_mut().unwrap().remove("bic");
    let r = app.post("/api/v1/shops", Some(&admin), body).await;
    let shop = r.ok(201);
    assert_eq!(shop["status"], "pending");
    assert_eq!(shop["iban"], IBAN);
    assert!(shop.get("siret").is_none());
    assert!(shop["id"].as_str().unwrap().starts_with("shop_"));
}

async fn what_each_role_sees_of_a_shop(app: TestApp) {
    let committee = app.login(Role::Committee).await;
    let admin = app.login(Role::Admin).await;
    let treasurer = app.login(Role::Treasurer).await;
    let member = app.login(Role::Member).await;

    // The committee records the application but never sees the IBAN, even its own typing.
    let r = app
        .post("/api/v1/shops", Some(&committee), application("Le Fournil"))
        .await;
    let created = r.ok(201).clone();
    assert_eq!(created["status"], "pending");
    assert!(created.get("iban").is_none(), "{created}");
    assert!(!created.to_string().contains("30006000011234567890189"));
    assert_eq!(created["siret"], "73282932000074");
    assert_eq!(created["legal_name"], "SARL Le Fournil");
    assert_eq!(
        created["tally"],
        json!({"for": 0, "against": 0, "abstain": 0})
    );
    // Every criterion of the fund, answered or not, beside the application.
    let criteria = created["criteria"].as_array().unwrap();
    assert_eq!(criteria.len(), 5);
    let locality = criteria.iter().find(|c| c["id"] == "locality").unwrap();
    assert_eq!(locality["answer"], "Farines d'un moulin à 60 km");
    assert_eq!(locality["label"], "Production ou approvisionnement local");
    let access = criteria
        .iter()
        .find(|c| c["id"] == "accessibility")
        .unwrap();
    assert_eq!(access["answer"], Value::Null);
    let id = created["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/shops/{id}");

    // Admin: everything. Treasurer: IBAN but no tally.
    let a = app.get(&path, Some(&admin)).await.ok(200).clone();
    assert_eq!(a["iban"], IBAN);
    assert_eq!(a["bic"], "AGRIFRPP");
    assert!(a["tally"].is_object());
    let t = app.get(&path, Some(&treasurer)).await.ok(200).clone();
    assert_eq!(t["iban"], IBAN);
    assert!(t.get("tally").is_none(), "{t}");
    let c = app.get(&path, Some(&committee)).await.ok(200).clone();
    assert!(c.get("iban").is_none());

    // A member does not see a pending shop at all, then sees only the public fields.
    app.get(&path, Some(&member))
        .await
        .problem(404, "not_found");
    decide(&app, &admin, &id, json!({"decision": "approved"}))
        .await
        .ok(200);
    let m = app.get(&path, Some(&member)).await.ok(200).clone();
    let mut keys: Vec<&str> = m.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    keys.sort();
    assert_eq!(keys, vec!["address", "categories", "id", "name", "status"]);
    assert_eq!(m["categories"], json!(["boulangerie", "epicerie"]));

    app.get("/api/v1/shops/shop_nothing", Some(&admin))
        .await
        .problem(404, "not_found");
    app.get(&path, None).await.problem(401, "unauthenticated");
}

async fn role_matrix(app: TestApp) {
    let admin = app.login(Role::Admin).await;
    let shop = approved_shop(&app, &admin, "Le Fournil").await;
    let (_, till) = new_terminal(&app, &admin, &shop, "Caisse 1").await;
    let (spare, _) = new_terminal(&app, &admin, &shop, "Caisse 2").await;
    let mut tokens = vec![(Role::Admin, admin.clone())];
    for role in [Role::Treasurer, Role::Committee, Role::Member] {
        tokens.push((role, app.login(role).await));
    }
    tokens.push((Role::Terminal, till));

    use Role::*;
    let s = format!("/api/v1/shops/{shop}");
    let routes: Vec<(&str, String, Vec<Role>)> = vec![
        ("POST", "/api/v1/shops".into(), vec![Admin, Committee]),
        (
            "GET",
            "/api/v1/shops".into(),
            vec![Admin, Treasurer, Committee, Member, Terminal],
        ),
        (
            "GET",
            "/api/v1/shops/review-due".into(),
            vec![Admin, Committee],
        ),
        (
            "GET",
            s.clone(),
            vec![Admin, Treasurer, Committee, Member, Terminal],
        ),
        ("POST", format!("{s}/votes"), vec![Committee]),
        ("GET", format!("{s}/votes"), vec![Admin, Committee]),
        ("POST", format!("{s}/decision"), vec![Admin]),
        ("POST", format!("{s}/suspend"), vec![Admin]),
        ("POST", format!("{s}/reinstate"), vec![Admin]),
        ("POST", format!("{s}/terminals"), vec![Admin]),
        ("GET", format!("{s}/terminals"), vec![Admin]),
        ("POST", format!("{s}/terminals/{spare}/revoke"), vec![Admin]),
        ("GET", "/api/v1/terminals/current".into(), vec![Terminal]),
    ];
    for (method, path, allowed) in &routes {
        let method: reqwest::Method = method.parse().unwrap();
        let r = app
            .send_json(method.clone(), path, None, None, json!({}))
            .await;
        r.problem(401, "unauthenticated");
        for (role, token) in &tokens {
            // A body that is wrong for every route: the role is checked before it is read.
            let r = app
                .send_json(
                    method.clone(),
                    path,
                    Some(token),
                    None,
                    json!({"unexpected": true}),
                )
                .await;
            if allowed.contains(role) {
                assert!(
                    ![401, 403].contains(&r.status.as_u16()),
                    "{role} {method} {path}: {} {}",
                    r.status,
                    r.body
                );
            } else {
                r.problem(403, "forbidden");
            }
        }
    }

    // The three examples, spelled out with good bodies.
    let member = &tokens[3].1;
    let terminal = &tokens[4].1;
    let committee = &tokens[2].1;
    vote(&app, member, &shop, json!({"choice": "for"}))
        .await
        .problem(403, "forbidden");
    decide(&app, terminal, &shop, json!({"decision": "approved"}))
        .await
        .problem(403, "forbidden");
    app.post(
        &format!("{s}/terminals"),
        Some(committee),
        json!({"label": "Caisse 3"}),
    )
    .await
    .problem(403, "forbidden");
    let list = app.get(&format!("{s}/terminals"), Some(&admin)).await;
    assert_eq!(list.ok(200)["items"].as_array().unwrap().len(), 2);
}

async fn votes_replace_and_stay_private(app: TestApp) {
    let admin = app.login(Role::Admin).await;
    let alice = app.login(Role::Committee).await;
    let bob = app.login(Role::Committee).await;
    let shop = create_shop(&app, &alice, "Le Fournil").await;

    let r = vote(
        &app,
        &alice,
        &shop,
        json!({"choice": "for", "comment": "Visite faite"}),
    )
    .await;
    let first = r.ok(201).clone();
    assert_eq!(first["replaced"], false);
    assert_eq!(first["vote"]["choice"], "for");
    assert_eq!(first["vote"]["comment"], "Visite faite");
    assert_eq!(
        first["tally"],
        json!({"for": 1, "against": 0, "abstain": 0})
    );
    let alice_id = first["vote"]["voter_id"].as_str().unwrap().to_string();

    // A new vote replaces the old one.
    let r = vote(&app, &alice, &shop, json!({"choice": "against"})).await;
    let second = r.ok(200).clone();
    assert_eq!(second["replaced"], true);
    assert_eq!(
        second["tally"],
        json!({"for": 0, "against": 1, "abstain": 0})
    );
    let r = vote(
        &app,
        &bob,
        &shop,
        json!({"choice": "abstain", "comment": "Pas vu"}),
    )
    .await;
    assert_eq!(
        r.ok(201)["tally"],
        json!({"for": 0, "against": 1, "abstain": 1})
    );
    let rows = sqlx::query("SELECT voter_id, choice, comment FROM shop_votes WHERE shop_id = $1")
        .bind(&shop)
        .fetch_all(app.db.pool())
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let alice_row = rows
        .iter()
        .find(|r| r.get::<String, _>("voter_id") == alice_id)
        .unwrap();
    assert_eq!(alice_row.get::<String, _>("choice"), "against");
    assert_eq!(alice_row.get::<Option<String>, _>("comment"), None);

    // Alice sees the tally and her own vote only; the admin sees each vote.
    let path = format!("/api/v1/shops/{shop}/votes");
    let mine = app.get(&path, Some(&alice)).await.ok(200).clone();
    assert_eq!(mine["tally"], json!({"for": 0, "against": 1, "abstain": 1}));
    let votes = mine["votes"].as_array().unwrap();
    assert_eq!(votes.len(), 1);
    assert_eq!(votes[0]["voter_id"], alice_id);
    assert_eq!(votes[0]["choice"], "against");
    assert!(!mine.to_string().contains("Pas vu"));
    let all = app.get(&path, Some(&admin)).await.ok(200).clone();
    assert_eq!(all["votes"].as_array().unwrap().len(), 2);
    assert!(all.to_string().contains("Pas vu"));
    assert!(all["votes"][0]["voter_email"]
        .as_str()
        .unwrap()
        .starts_with("committee-"));
    // The tally is shown beside the application, to the committee.
    let detail = app.get(&format!("/api/v1/shops/{shop}"), Some(&bob)).await;
    assert_eq!(
        detail.ok(200)["tally"],
        json!({"for": 0, "against": 1, "abstain": 1})
    );

    // Wrong bodies and unknown shops.
    let r = vote(&app, &alice, &shop, json!({"choice": "maybe"})).await;
    r.problem(422, "invalid_field");
    assert_eq!(r.fields(), vec!["choice"]);
    let r = vote(
        &app,
        &alice,
        &shop,
        json!({"choice": "for", "comment": "x".repeat(1001)}),
    )
    .await;
    r.problem(422, "validation_failed");
    assert_eq!(r.fields(), vec!["comment"]);
    vote(&app, &alice, "shop_nothing", json!({"choice": "for"}))
        .await
        .problem(404, "not_found");
    app.get("/api/v1/shops/shop_nothing/votes", Some(&admin))
        .await
        .problem(404, "not_found");
    // Nothing of that changed the votes.
    let all = app.get(&path, Some(&admin)).await;
    assert_eq!(
        all.ok(200)["tally"],
        json!({"for": 0, "against": 1, "abstain": 1})
    );
}

async fn concurrent_votes_of_one_voter_leave_one_vote(app: TestApp) {
    let alice = app.login(Role::Committee).await;
    let shop = create_shop(&app, &alice, "Le Fournil").await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        let url = app.url(&format!("/api/v1/shops/{shop}/votes"));
        let token = alice.clone();
        let choice = ["for", "against", "abstain"][i % 3];
        tasks.push(tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&json!({"choice": choice}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    // Exactly one vote was first; every other one replaced it.
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        11,
        "{statuses:?}"
    );
    let tally = shops::current_tally(&app.db, &app.fund_id, &shop)
        .await
        .unwrap();
    assert_eq!(tally.total(), 1);
}

async fn decisions_record_the_tally_and_open_the_account(app: TestApp) {
    let admin = app.login(Role::Admin).await;
    let alice = app.login(Role::Committee).await;
    let bob = app.login(Role::Committee).await;
    let carol = app.login(Role::Committee).await;
    let shop = create_shop(&app, &alice, "Le Fournil").await;
    vote(&app, &alice, &shop, json!({"choice": "for"}))
        .await
        .ok(201);
    vote(&app, &bob, &shop, json!({"choice": "for"}))
        .await
        .ok(201);
    vote(&app, &carol, &shop, json!({"choice": "abstain"}))
        .await
        .ok(201);
    let account = AccountCode::auxiliary(General::Shops, &shop);
    assert!(ledger::balance(&app.db, &app.fund_id, &account)
        .await
        .is_err());

    // Bad decisions change nothing.
    let cases: Vec<(Value, &str, Vec<&str>)> = vec![
        (
            json!({"decision": "approved", "review_on": days_from_today(-1)}),
            "validation_failed",
            vec!["review_on"],
        ),
        (
            json!({"decision": "approved", "review_on": days_from_today(0)}),
            "validation_failed",
            vec!["review_on"],
        ),
        (
            json!({"decision": "rejected", "review_on": days_from_today(30)}),
            "validation_failed",
            vec!["review_on"],
        ),
        (
            json!({"decision": "approved", "review_on": "2027-02-30"}),
            "invalid_field",
            vec!["review_on"],
        ),
        (
            json!({"decision": "maybe"}),
            "invalid_field",
            vec!["decision"],
        ),
        (
            json!({"decision": "approved", "note": "x".repeat(2001)}),
            "validation_failed",
            vec!["note"],
        ),
        (json!({}), "missing_field", vec!["decision"]),
    ];
    for (body, code, fields) in cases {
        let r = decide(&app, &admin, &shop, body).await;
        r.problem(422, code);
        assert_eq!(r.fields(), fields, "{}", r.body);
    }
    decide(&app, &alice, &shop, json!({"decision": "approved"}))
        .await
        .problem(403, "forbidden");
    decide(
        &app,
        &admin,
        "shop_nothing",
        json!({"decision": "approved"}),
    )
    .await
    .problem(404, "not_found");
    let pending = app
        .get(&format!("/api/v1/shops/{shop}"), Some(&admin))
        .await;
    assert_eq!(pending.ok(200)["status"], "pending");
    assert_eq!(pending.body["decision"], Value::Null);

    // The decision answers the shop, its status and the tally it was taken on.
    let review = days_from_today(365);
    let r = decide(
        &app,
        &admin,
        &shop,
        json!({"decision": "approved", "review_on": review, "note": "Visite concluante"}),
    )
    .await;
    let decided = r.ok(200).clone();
    assert_eq!(decided["status"], "approved");
    assert_eq!(decided["review_on"], review);
    assert_eq!(
        decided["tally"],
        json!({"for": 2, "against": 0, "abstain": 1})
    );
    assert_eq!(decided["decision"]["kind"], "approved");
    assert_eq!(decided["decision"]["note"], "Visite concluante");
    assert_eq!(decided["decision"]["review_on"], review);
    assert_eq!(
        decided["decision"]["tally"],
        json!({"for": 2, "against": 0, "abstain": 1})
    );
    // The shop's payable account exists from the approval on.
    assert_eq!(
        ledger::balance(&app.db, &app.fund_id, &account)
            .await
            .unwrap(),
        0
    );
    let tb = app.get("/api/v1/ledger/trial-balance", Some(&admin)).await;
    assert!(tb.ok(200)["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["account"] == "401"));

    // Votes may change later (for the review); the decision keeps its own tally.
    vote(&app, &carol, &shop, json!({"choice": "against"}))
        .await
        .ok(200);
    let now = app
        .get(&format!("/api/v1/shops/{shop}"), Some(&alice))
        .await
        .ok(200)
        .clone();
    assert_eq!(now["tally"], json!({"for": 2, "against": 1, "abstain": 0}));
    assert_eq!(
        now["decision"]["tally"],
        json!({"for": 2, "against": 0, "abstain": 1})
    );
    // The treasurer sees the decision but not its tally.
    let t = app
        .get(
            &format!("/api/v1/shops/{shop}"),
            Some(&app.login(Role::Treasurer).await),
        )
        .await
        .ok(200)
        .clone();
    assert_eq!(t["decision"]["kind"], "approved");
    assert!(t["decision"].get("tally").is_none(), "{t}");

    // A review renews the approval with a new date; the history keeps both.
    let later = days_from_today(700);
    decide(
        &app,
        &admin,
        &shop,
        json!({"decision": "approved", "review_on": later}),
    )
    .await
    .ok(200);
    let after = app
        .get(&format!("/api/v1/shops/{shop}"), Some(&admin))
        .await
        .ok(200)
        .clone();
    assert_eq!(after["review_on"], later);
    let history = after["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(
        history[1]["tally"],
        json!({"for": 2, "against": 1, "abstain": 0})
    );

    // A rejected application is closed: no votes, no new decision, no till, no account.
    let other = create_shop(&app, &alice, "Le Snack").await;
    let r = decide(
        &app,
        &admin,
        &other,
        json!({"decision": "rejected", "note": "Hors critères"}),
    )
    .await;
    let rejected = r.ok(200).clone();
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(
        rejected["decision"]["tally"],
        json!({"for": 0, "against": 0, "abstain": 0})
    );
    vote(&app, &alice, &other, json!({"choice": "for"}))
        .await
        .problem(409, "wrong_status");
    decide(&app, &admin, &other, json!({"decision": "approved"}))
        .await
        .problem(409, "wrong_status");
    app.post(
        &format!("/api/v1/shops/{other}/terminals"),
        Some(&admin),
        json!({"label": "Caisse"}),
    )
    .await
    .problem(409, "wrong_status");
    assert!(ledger::balance(
        &app.db,
        &app.fund_id,
        &AccountCode::auxiliary(General::Shops, &other)
    )
    .await
    .is_err());
    assert!(!accepting(&app, &other).await);
}

async fn suspension_takes_effect_at_once(app: TestApp) {
    let admin = app.login(Role::Admin).await;
    let member = app.login(Role::Member).await;
    let shop = create_shop(&app, &admin, "Le Fournil").await;
    let path = format!("/api/v1/shops/{shop}");
    assert!(!accepting(&app, &shop).await);
    app.post(&format!("{path}/suspend"), Some(&admin), json!({}))
        .await
        .problem(409, "wrong_status");

    decide(&app, &admin, &shop, json!({"decision": "approved"}))
        .await
        .ok(200);
    assert!(accepting(&app, &shop).await);
    let (_, till) = new_terminal(&app, &admin, &shop, "Caisse 1").await;
    let current = app.get("/api/v1/terminals/current", Some(&till)).await;
    assert_eq!(current.ok(200)["accepting_payments"], true);

    let r = app
        .post(
            &format!("{path}/suspend"),
            Some(&admin),
            json!({"note": "Prix non affichés"}),
        )
        .await;
    assert_eq!(r.ok(200)["status"], "suspended");
    assert!(!accepting(&app, &shop).await);
    // The till still signs in (to see its sales) but knows it cannot take payments.
    let current = app.get("/api/v1/terminals/current", Some(&till)).await;
    assert_eq!(current.ok(200)["accepting_payments"], false);
    assert_eq!(current.body["shop"]["status"], "suspended");
    // Members no longer find it.
    app.get(&path, Some(&member))
        .await
        .problem(404, "not_found");
    let dir = app.get("/api/v1/shops", Some(&member)).await;
    assert_eq!(dir.ok(200)["items"], json!([]));
    app.post(&format!("{path}/suspend"), Some(&admin), json!({}))
        .await
        .problem(409, "wrong_status");

    // Reinstating needs no body at all.
    let r = app
        .send(
            app.client
                .post(app.url(&format!("{path}/reinstate")))
                .bearer_auth(&admin),
        )
        .await;
    assert_eq!(r.ok(200)["status"], "approved");
    assert!(accepting(&app, &shop).await);
    app.post(&format!("{path}/reinstate"), Some(&admin), json!({}))
        .await
        .problem(409, "wrong_status");
    let r = app
        .post(
            &format!("{path}/suspend"),
            Some(&admin),
            json!({"why": "x"}),
        )
        .await;
    r.problem(422, "unknown_field");

    let detail = app.get(&path, Some(&admin)).await.ok(200).clone();
    let kinds: Vec<&str> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["approved", "suspended", "reinstated"]);
    assert_eq!(detail["history"][1]["note"], "Prix non affichés");
    // The last decision is still the approval.
    assert_eq!(detail["decision"]["kind"], "approved");
}

async fn directory_filters_and_pages(app: TestApp) {
    let admin = app.login(Role::Admin).await;
    let member = app.login(Role::Member).await;
    let committee = app.login(Role::Committee).await;
    let treasurer = app.login(Role::Treasurer).await;
    let mut approved = Vec::new();
    for name in ["A", "B", "C"] {
        approved.push(approved_shop(&app, &admin, name).await);
    }
    let mut bakery = application("Fournil");
    bakery["categories"] = json!(["boulangerie"]);
    let r = app.post("/api/v1/shops", Some(&admin), bakery).await;
    let bakery = r.ok(201)["id"].as_str().unwrap().to_string();
    decide(&app, &admin, &bakery, json!({"decision": "approved"}))
        .await
        .ok(200);
    approved.push(bakery.clone());
    let mut veg = application("Primeur");
    veg["categories"] = json!(["fruits_legumes"]);
    let pending = app.post("/api/v1/shops", Some(&admin), veg).await;
    let pending = pending.ok(201)["id"].as_str().unwrap().to_string();

    // Members see the approved shops, public fields only.
    let dir = app
        .get("/api/v1/shops", Some(&member))
        .await
        .ok(200)
        .clone();
    assert_eq!(ids(&dir), approved);
    assert_eq!(dir["next_cursor"], Value::Null);
    for s in dir["items"].as_array().unwrap() {
        let mut keys: Vec<&str> = s.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        keys.sort();
        assert_eq!(keys, vec!["address", "categories", "id", "name", "status"]);
    }
    // The committee sees every status, without IBANs; the treasurer sees IBANs.
    let c = app
        .get("/api/v1/shops", Some(&committee))
        .await
        .ok(200)
        .clone();
    assert_eq!(ids(&c).len(), 5);
    assert!(!c.to_string().contains(IBAN));
    let t = app
        .get("/api/v1/shops", Some(&treasurer))
        .await
        .ok(200)
        .clone();
    assert!(t["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["iban"] == IBAN));

    // Filters.
    let p = app.get("/api/v1/shops?status=pending", Some(&admin)).await;
    assert_eq!(ids(p.ok(200)), vec![pending.clone()]);
    let p = app.get("/api/v1/shops?status=pending", Some(&member)).await;
    assert_eq!(p.ok(200)["items"], json!([]));
    let f = app
        .get("/api/v1/shops?category=fruits_legumes", Some(&admin))
        .await;
    assert_eq!(ids(f.ok(200)), vec![pending.clone()]);
    let f = app
        .get("/api/v1/shops?category=epicerie", Some(&member))
        .await;
    assert_eq!(ids(f.ok(200)), approved[..3].to_vec());

    // Pages of two, in creation order.
    let p1 = app
        .get("/api/v1/shops?limit=2", Some(&member))
        .await
        .ok(200)
        .clone();
    assert_eq!(ids(&p1), approved[..2].to_vec());
    let cursor = p1["next_cursor"].as_str().unwrap();
    let p2 = app
        .get(
            &format!("/api/v1/shops?limit=2&cursor={cursor}"),
            Some(&member),
        )
        .await
        .ok(200)
        .clone();
    assert_eq!(ids(&p2), approved[2..].to_vec());
    assert_eq!(p2["next_cursor"], Value::Null);

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        ("status=open", "status"),
        ("category=bijouterie", "category"),
        ("colour=green", "colour"),
        ("limit=2&limit=3", "limit"),
    ] {
        let r = app
            .get(&format!("/api/v1/shops?{query}"), Some(&admin))
            .await;
        r.problem(422, "validation_failed");
        assert_eq!(r.fields(), vec![field.to_string()], "{query}");
    }
}

async fn terminal_keys(app: TestApp) {
    let admin = app.login(Role::Admin).await;
    let shop = approved_shop(&app, &admin, "Le Fournil").await;
    let other = approved_shop(&app, &admin, "La Cagette").await;
    let s = format!("/api/v1/shops/{shop}");

    let r = app
        .post(
            &format!("{s}/terminals"),
            Some(&admin),
            json!({"label": " "}),
        )
        .await;
    r.problem(422, "validation_failed");
    assert_eq!(r.fields(), vec!["label"]);
    app.post(
        "/api/v1/shops/shop_nothing/terminals",
        Some(&admin),
        json!({"label": "Caisse"}),
    )
    .await
    .problem(404, "not_found");

    let r = app
        .post(
            &format!("{s}/terminals"),
            Some(&admin),
            json!({"label": "Caisse 1"}),
        )
        .await;
    let created = r.ok(201).clone();
    let tid = created["id"].as_str().unwrap().to_string();
    let key = created["api_key"].as_str().unwrap().to_string();
    assert_eq!(created["shop_id"], shop.as_str());
    assert_eq!(created["label"], "Caisse 1");
    // 256 random bits, in hex, after the prefix.
    assert_eq!(key.len(), 3 + 64);
    assert!(key.starts_with("ct_"));
    assert!(key[3..].bytes().all(|b| b.is_ascii_hexdigit()));
    let (_, key2) = new_terminal(&app, &admin, &shop, "Caisse 2").await;
    assert_ne!(key, key2);

    // Only the key's hash is stored.
    let rows = sqlx::query("SELECT key_hash FROM terminals WHERE id = $1")
        .bind(&tid)
        .fetch_all(app.db.pool())
        .await
        .unwrap();
    assert_eq!(
        rows[0].get::<String, _>("key_hash"),
        caisse::auth::token_hash(&key)
    );

    // The list shows labels and times, never a key; unused so far.
    let list = app
        .get(&format!("{s}/terminals"), Some(&admin))
        .await
        .ok(200)
        .clone();
    assert!(!list.to_string().contains(&key[3..]));
    assert_eq!(list["items"][0]["id"], tid.as_str());
    assert_eq!(list["items"][0]["last_used_at"], Value::Null);
    assert_eq!(list["items"][0]["revoked_at"], Value::Null);

    // The key authenticates as this shop's till, and only this shop.
    let me = app
        .get("/api/v1/terminals/current", Some(&key))
        .await
        .ok(200)
        .clone();
    assert_eq!(me["id"], tid.as_str());
    assert_eq!(me["shop"]["id"], shop.as_str());
    assert_eq!(me["accepting_payments"], true);
    assert!(me["shop"].get("iban").is_none());
    app.get(&s, Some(&key)).await.ok(200);
    app.get(&format!("/api/v1/shops/{other}"), Some(&key))
        .await
        .problem(404, "not_found");
    let dir = app.get("/api/v1/shops", Some(&key)).await;
    assert_eq!(ids(dir.ok(200)), vec![shop.clone()]);
    app.post(
        &format!("{s}/terminals"),
        Some(&key),
        json!({"label": "Caisse pirate"}),
    )
    .await
    .problem(403, "forbidden");
    decide(&app, &key, &shop, json!({"decision": "approved"}))
        .await
        .problem(403, "forbidden");
    app.get("/api/v1/settings", Some(&key))
        .await
        .problem(403, "forbidden");

    // Its use is noted, to the minute.
    let list = app
        .get(&format!("{s}/terminals"), Some(&admin))
        .await
        .ok(200)
        .clone();
    let used = list["items"][0]["last_used_at"].as_str().unwrap();
    let used = chrono::DateTime::parse_from_rfc3339(used).unwrap();
    assert!((chrono::Utc::now() - used.with_timezone(&chrono::Utc)).num_seconds() < 60);

    // Signing out does not apply to a till's key: it says so and the key keeps working.
    let r = app
        .send(
            app.client
                .delete(app.url("/api/v1/sessions/current"))
                .bearer_auth(&key),
        )
        .await;
    r.problem(409, "terminal_key_not_a_session");
    app.get("/api/v1/terminals/current", Some(&key))
        .await
        .ok(200);

    // Revoked: 401 at once, for every route; revoking again changes nothing.
    let revoke = format!("{s}/terminals/{tid}/revoke");
    let r = app.post(&revoke, Some(&admin), json!({})).await;
    let revoked = r.ok(200).clone();
    assert!(revoked["revoked_at"].is_string());
    app.get("/api/v1/terminals/current", Some(&key))
        .await
        .problem(401, "unauthenticated");
    app.get("/api/v1/shops", Some(&key))
        .await
        .problem(401, "unauthenticated");
    let again = app.post(&revoke, Some(&admin), json!({})).await;
    assert_eq!(again.ok(200)["revoked_at"], revoked["revoked_at"]);
    // The other till of the shop still works.
    app.get("/api/v1/terminals/current", Some(&key2))
        .await
        .ok(200);
    // A terminal is revoked through its own shop only.
    let (other_tid, other_key) = new_terminal(&app, &admin, &other, "Caisse 1").await;
    app.post(
        &format!("{s}/terminals/{other_tid}/revoke"),
        Some(&admin),
        json!({}),
    )
    .await
    .problem(404, "not_found");
    app.get("/api/v1/terminals/current", Some(&other_key))
        .await
        .ok(200);
    // Made-up keys.
    for forged in [
        format!("ct_{}", "0".repeat(64)),
        "ct_".to_string(),
        key[..40].to_string(),
    ] {
        app.get("/api/v1/shops", Some(&forged))
            .await
            .problem(401, "unauthenticated");
    }
}

async fn shops_due_for_review(app: TestApp) {
    let admin = app.login(Role::Admin).await;
    let committee = app.login(Role::Committee).await;
    let soon = create_shop(&app, &admin, "Soon").await;
    decide(
        &app,
        &admin,
        &soon,
        json!({"decision": "approved", "review_on": days_from_today(10)}),
    )
    .await
    .ok(200);
    let later = create_shop(&app, &admin, "Later").await;
    decide(
        &app,
        &admin,
        &later,
        json!({"decision": "approved", "review_on": days_from_today(400)}),
    )
    .await
    .ok(200);
    approved_shop(&app, &admin, "Never").await;
    create_shop(&app, &admin, "Pending").await;

    let due = |on: Option<i64>| {
        let path = match on {
            Some(d) => format!("/api/v1/shops/review-due?on={}", days_from_today(d)),
            None => "/api/v1/shops/review-due".to_string(),
        };
        let token = committee.clone();
        let app = &app;
        async move { ids(app.get(&path, Some(&token)).await.ok(200)) }
    };
    assert!(due(None).await.is_empty());
    assert_eq!(due(Some(9)).await, Vec::<String>::new());
    assert_eq!(due(Some(10)).await, vec![soon.clone()]);
    assert_eq!(due(Some(500)).await, vec![soon.clone(), later.clone()]);
    // A suspended shop is still due for its review.
    app.post(
        &format!("/api/v1/shops/{soon}/suspend"),
        Some(&admin),
        json!({}),
    )
    .await
    .ok(200);
    assert_eq!(due(Some(10)).await, vec![soon.clone()]);
    let r = app
        .get("/api/v1/shops/review-due?on=2026-13-01", Some(&admin))
        .await;
    r.problem(422, "validation_failed");
    assert_eq!(r.fields(), vec!["on"]);
    let item = app
        .get(
            &format!("/api/v1/shops/review-due?on={}", days_from_today(10)),
            Some(&admin),
        )
        .await
        .ok(200)
        .clone();
    assert_eq!(item["items"][0]["review_on"], days_from_today(10));
}

async fn another_funds_shops_are_not_found(app: TestApp) {
    let admin = app.login(Role::Admin).await;
    let shop = approved_shop(&app, &admin, "Le Fournil").await;
    let (tid, key) = new_terminal(&app, &admin, &shop, "Caisse 1").await;

    // A second fund on the same deployment, with its own admin and committee.
    let mut tx = app.db.begin().await.unwrap();
    let fund2 =
        caisse::store::funds::create(&mut tx, &caisse::domain::settings::FundSettings::example())
            .await
            .unwrap();
    tx.commit().await.unwrap();
    let mut tokens = Vec::new();
    for (email, role) in [
        ("admin@autre.caisse.fr", Role::Admin),
        ("comite@autre.caisse.fr", Role::Committee),
    ] {
        caisse::service::users::create(
            &app.db,
            &caisse::domain::FundId::new(fund2.clone()),
            email,
            PASSWORD,
            role,
            None,
        )
        .await
        .unwrap();
        let r = app
            .post(
                "/api/v1/sessions",
                None,
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        tokens.push(r.ok(201)["token"].as_str().unwrap().to_string());
    }
    let (admin2, committee2) = (&tokens[0], &tokens[1]);
    let s = format!("/api/v1/shops/{shop}");
    app.get(&s, Some(admin2)).await.problem(404, "not_found");
    app.get(&format!("{s}/votes"), Some(admin2))
        .await
        .problem(404, "not_found");
    app.get(&format!("{s}/terminals"), Some(admin2))
        .await
        .problem(404, "not_found");
    vote(&app, committee2, &shop, json!({"choice": "against"}))
        .await
        .problem(404, "not_found");
    decide(&app, admin2, &shop, json!({"decision": "rejected"}))
        .await
        .problem(404, "not_found");
    app.post(&format!("{s}/suspend"), Some(admin2), json!({}))
        .await
        .problem(404, "not_found");
    app.post(
        &format!("{s}/terminals"),
        Some(admin2),
        json!({"label": "x"}),
    )
    .await
    .problem(404, "not_found");
    app.post(
        &format!("{s}/terminals/{tid}/revoke"),
        Some(admin2),
        json!({}),
    )
    .await
    .problem(404, "not_found");
    let list = app.get("/api/v1/shops", Some(admin2)).await;
    assert_eq!(list.ok(200)["items"], json!([]));
    // Nothing changed for the first fund: still approved, its till still works.
    assert!(accepting(&app, &shop).await);
    app.get("/api/v1/terminals/current", Some(&key))
        .await
        .ok(200);
    let votes = app.get(&format!("{s}/votes"), Some(&admin)).await;
    assert_eq!(votes.ok(200)["votes"], json!([]));
}

async fn demo_creates_shops(app: TestApp) {
    caisse::service::demo::fill(
        &app.db,
        &app.fund_id,
        "127.0.0.1:8080".parse().unwrap(),
        &app.card_key,
    )
    .await
    .unwrap();
    let r = app
        .post(
            "/api/v1/sessions",
            None,
            json!({"email": "admin@demo.caisse.fr",
                   "password": caisse::service::demo::DEMO_PASSWORD}),
        )
        .await;
    let admin = r.ok(201)["token"].as_str().unwrap().to_string();
    let all = app.get("/api/v1/shops", Some(&admin)).await.ok(200).clone();
    let items = all["items"].as_array().unwrap();
    let count = |status: &str| items.iter().filter(|s| s["status"] == status).count();
    assert_eq!(count("approved"), 8);
    assert_eq!(count("pending"), 1);
    assert_eq!(count("suspended"), 1);
    for s in items {
        let id = s["id"].as_str().unwrap();
        let t = app
            .get(&format!("/api/v1/shops/{id}/terminals"), Some(&admin))
            .await;
        assert_eq!(
            t.ok(200)["items"].as_array().unwrap().len(),
            1,
            "{}",
            s["name"]
        );
        assert!(s["iban"].as_str().unwrap().starts_with("FR76"));
        if s["status"] == "approved" || s["status"] == "suspended" {
            // Every approved shop has its payable account.
            let account = AccountCode::auxiliary(General::Shops, id);
            assert!(ledger::balance(&app.db, &app.fund_id, &account)
                .await
                .is_ok());
        }
    }
    let pending = items.iter().find(|s| s["status"] == "pending").unwrap();
    let votes = app
        .get(
            &format!("/api/v1/shops/{}/votes", pending["id"].as_str().unwrap()),
            Some(&admin),
        )
        .await;
    assert_eq!(
        votes.ok(200)["tally"],
        json!({"for": 2, "against": 0, "abstain": 1})
    );
    let due = app.get("/api/v1/shops/review-due", Some(&admin)).await;
    assert_eq!(due.ok(200)["items"].as_array().unwrap().len(), 1);
    let v = app.get("/api/v1/ledger/verification", Some(&admin)).await;
    assert_eq!(v.ok(200)["clean"], true);
}

/// The pages and the API reach the same use cases: each checks the caller's role itself, and
/// a status change the shop's status does not allow is refused there, not by the handler.
async fn the_use_cases_check_the_role_and_the_status(app: TestApp) {
    use caisse::caller::Caller;
    use caisse::domain::shop::{Decision, StatusChange, VoteChoice};
    use caisse::domain::{ErrorCode, FundId, ShopId, UserId};
    use caisse::service::shops::{self as service, DecisionRequest, StatusNote, VoteRequest};

    let admin = app.login(Role::Admin).await;
    let shop = ShopId::new(create_shop(&app, &admin, "Le Fournil").await);
    let person = |role| Caller::User {
        fund: FundId::new(app.fund_id.clone()),
        user: UserId::new(format!("usr_{role}")),
        role,
        member: None,
    };
    let vote = || VoteRequest {
        choice: VoteChoice::For,
        comment: None,
    };
    let e = service::vote(&app.db, &person(Role::Admin), &shop, vote())
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Forbidden);
    let reject = DecisionRequest {
        decision: Decision::Rejected,
        review_on: None,
        note: None,
    };
    let e = service::decide(&app.db, &person(Role::Committee), &shop, reject.clone())
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Forbidden);
    let e = service::votes(&app.db, &person(Role::Treasurer), &shop)
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Forbidden);

    // A pending shop cannot be suspended; once rejected, nothing more happens to it.
    let real_admin = caisse::service::users::create(
        &app.db,
        &app.fund(),
        "admin2@test.caisse.fr",
        PASSWORD,
        Role::Admin,
        None,
    )
    .await
    .unwrap();
    let admin_caller = Caller::User {
        fund: FundId::new(app.fund_id.clone()),
        user: UserId::new(real_admin.id),
        role: Role::Admin,
        member: None,
    };
    let note = StatusNote::default();
    let e = service::change_status(&app.db, &admin_caller, &shop, StatusChange::Suspended, note)
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::WrongStatus);
    let view = service::decide(&app.db, &admin_caller, &shop, reject.clone())
        .await
        .unwrap();
    assert_eq!(view.status, caisse::domain::shop::ShopStatus::Rejected);
    let e = service::decide(&app.db, &admin_caller, &shop, reject)
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::WrongStatus);
    let users = shops::history(&app.db, &app.fund_id, &shop).await.unwrap();
    assert_eq!(
        users.len(),
        1,
        "one decision recorded, nothing for the refusals"
    );
}
