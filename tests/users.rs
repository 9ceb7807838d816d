//! The admin's changes to people's logins through the API: a new role, disabling and enabling
//! a login; nobody acts on their own login, a member's login stays a member's, the fund keeps
//! an active admin even when two admins act at once, and a disabled person is signed out at
//! once, cannot sign in (the answer of a wrong password) and cannot use a link.

mod common;

use caisse::caller::Caller;
use caisse::domain::{ErrorCode, FundId, Role, UserId};
use caisse::service::links::{self, LinkError};
use common::agent::Agent;
use common::{Person, Reply, TestApp, PASSWORD};
use serde_json::{json, Value};

both_backends!(
    an_admin_changes_another_persons_role_never_their_own,
    a_member_login_stays_tied_to_its_member,
    the_fund_keeps_an_active_admin_when_two_admins_act_at_once,
    a_disabled_person_is_signed_out_and_cannot_sign_in_until_enabled,
    a_disabled_person_cannot_use_a_link,
    the_people_page_asks_before_it_changes_and_says_refusals_in_french,
);

async fn set_role(app: &TestApp, admin: &str, user: &str, role: &str) -> Reply {
    app.send_json(
        reqwest::Method::PATCH,
        &format!("/api/v1/users/{user}"),
        Some(admin),
        None,
        json!({"role": role}),
    )
    .await
}

async fn disable(app: &TestApp, admin: &str, user: &str) -> Reply {
    app.post(
        &format!("/api/v1/users/{user}/disable"),
        Some(admin),
        json!({}),
    )
    .await
}

async fn enable(app: &TestApp, admin: &str, user: &str) -> Reply {
    app.post(
        &format!("/api/v1/users/{user}/enable"),
        Some(admin),
        json!({}),
    )
    .await
}

/// The person as `GET /api/v1/users` lists them.
async fn listed(app: &TestApp, admin: &str, user: &str) -> Value {
    let page = app.get("/api/v1/users?limit=200", Some(admin)).await;
    page.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == user)
        .unwrap_or_else(|| panic!("{user} not listed"))
        .clone()
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> Reply {
    app.post(
        "/api/v1/sessions",
        None,
        json!({"email": email, "password": password}),
    )
    .await
}

async fn an_admin_changes_another_persons_role_never_their_own(app: TestApp) {
    let admin = app.person(Role::Admin).await;
    let other = app.person(Role::Committee).await;
    // A committee member cannot read the trial balance; a treasurer can, from the next request.
    app.get("/api/v1/ledger/trial-balance", Some(&other.token))
        .await
        .problem(403, "forbidden");
    let r = set_role(&app, &admin.token, &other.id, "treasurer").await;
    assert_eq!(r.ok(200)["role"], "treasurer");
    assert!(r.body.get("disabled_at").is_none(), "{}", r.body);
    app.get("/api/v1/ledger/trial-balance", Some(&other.token))
        .await
        .ok(200);
    assert_eq!(
        listed(&app, &admin.token, &other.id).await["role"],
        "treasurer"
    );
    // The role they have: nothing changes.
    set_role(&app, &admin.token, &other.id, "treasurer")
        .await
        .ok(200);
    // Their own role, or their own login: never, not even the admin's.
    set_role(&app, &admin.token, &admin.id, "committee")
        .await
        .problem(403, "forbidden");
    disable(&app, &admin.token, &admin.id)
        .await
        .problem(403, "forbidden");
    // Nobody raises their own role: a treasurer is refused before the body is read.
    set_role(&app, &other.token, &other.id, "admin")
        .await
        .problem(403, "forbidden");
    disable(&app, &other.token, &admin.id)
        .await
        .problem(403, "forbidden");
    assert_eq!(
        listed(&app, &admin.token, &other.id).await["role"],
        "treasurer"
    );
    assert_eq!(listed(&app, &admin.token, &admin.id).await["role"], "admin");
    // A till is not a person; an unknown role is unreadable; an unknown login is not found.
    let r = set_role(&app, &admin.token, &other.id, "terminal").await;
    r.problem(422, "validation_failed");
    assert_eq!(r.fields(), ["role"]);
    set_role(&app, &admin.token, &other.id, "boss")
        .await
        .problem(422, "invalid_field");
    set_role(&app, &admin.token, "usr_nobody", "committee")
        .await
        .problem(404, "not_found");
    // Another admin may be made, and made a treasurer again by the first.
    set_role(&app, &admin.token, &other.id, "admin")
        .await
        .ok(200);
    let r = set_role(&app, &admin.token, &other.id, "committee").await;
    assert_eq!(r.ok(200)["role"], "committee");
}

async fn a_member_login_stays_tied_to_its_member(app: TestApp) {
    let admin = app.person(Role::Admin).await;
    let member = app.person(Role::Member).await;
    let committee = app.person(Role::Committee).await;
    for role in ["committee", "treasurer", "admin"] {
        let r = set_role(&app, &admin.token, &member.id, role).await;
        r.problem(422, "validation_failed");
        assert_eq!(r.fields(), ["role"], "{}", r.body);
        assert!(
            r.body["detail"].as_str().unwrap().contains("one household"),
            "{}",
            r.body
        );
    }
    let r = set_role(&app, &admin.token, &committee.id, "member").await;
    r.problem(422, "validation_failed");
    assert_eq!(r.fields(), ["role"]);
    let listed_member = listed(&app, &admin.token, &member.id).await;
    assert_eq!(listed_member["role"], "member");
    assert!(listed_member["member_id"].is_string());
    assert_eq!(
        listed(&app, &admin.token, &committee.id).await["role"],
        "committee"
    );
}

/// Two admins demote, then disable, each other at the same moment, round after round: one of
/// the two wins each time, and the fund is never left without an active admin.
async fn the_fund_keeps_an_active_admin_when_two_admins_act_at_once(app: TestApp) {
    // Alone, an admin cannot step down: it would be their own role.
    let first = app.person(Role::Admin).await;
    set_role(&app, &first.token, &first.id, "treasurer")
        .await
        .problem(403, "forbidden");
    for round in 0..6 {
        let a = app.person(Role::Admin).await;
        let b = app.person(Role::Admin).await;
        // The first admin steps aside for the round: a and b are the fund's only active admins
        // (the winners of the rounds before were set aside).
        disable(&app, &a.token, &first.id).await.ok(200);
        assert_eq!(active_admins(&app).await, 2, "round {round}");
        let (ra, rb) = if round % 2 == 0 {
            tokio::join!(
                set_role(&app, &a.token, &b.id, "committee"),
                set_role(&app, &b.token, &a.id, "committee"),
            )
        } else {
            tokio::join!(
                disable(&app, &a.token, &b.id),
                disable(&app, &b.token, &a.id),
            )
        };
        let won: Vec<&Reply> = [&ra, &rb].into_iter().filter(|r| r.status == 200).collect();
        assert_eq!(won.len(), 1, "round {round}: {} / {}", ra.body, rb.body);
        for r in [&ra, &rb] {
            if r.status != 200 {
                // Demoted or disabled a moment ago: no longer an admin (or signed out).
                assert!(
                    [401, 403].contains(&r.status.as_u16()),
                    "round {round}: {}",
                    r.body
                );
            }
        }
        let admins = active_admins(&app).await;
        assert_eq!(admins, 1, "round {round}");
        // The admin left brings the first one back, who sets them aside for the next round.
        let left = if ra.status == 200 { &a } else { &b };
        enable(&app, &left.token, &first.id).await.ok(200);
        // Disabling ended the first admin's sessions: they sign in again.
        let token = sign_in(&app, &first.email, PASSWORD).await;
        let token = token.ok(201)["token"].as_str().unwrap().to_string();
        disable(&app, &token, &left.id).await.ok(200);
    }
}

async fn active_admins(app: &TestApp) -> i64 {
    use sqlx::Row;
    sqlx::query(
        "SELECT COUNT(*) AS n FROM users \
         WHERE fund_id = $1 AND role = 'admin' AND disabled_at IS NULL",
    )
    .bind(&app.fund_id)
    .fetch_one(app.db.pool())
    .await
    .unwrap()
    .try_get("n")
    .unwrap()
}

async fn a_disabled_person_is_signed_out_and_cannot_sign_in_until_enabled(app: TestApp) {
    let admin = app.person(Role::Admin).await;
    let treasurer = app.person(Role::Treasurer).await;
    let mut web = Agent::new(&app);
    assert_eq!(web.login(&treasurer.email, PASSWORD).await.status, 303);
    assert_eq!(web.get("/tresorerie").await.status, 200);
    app.get("/api/v1/ledger/trial-balance", Some(&treasurer.token))
        .await
        .ok(200);

    let r = disable(&app, &admin.token, &treasurer.id).await;
    let disabled_at = r.ok(200)["disabled_at"].as_str().unwrap().to_string();
    assert!(
        chrono::DateTime::parse_from_rfc3339(&disabled_at).is_ok(),
        "{disabled_at}"
    );
    assert_eq!(
        listed(&app, &admin.token, &treasurer.id).await["disabled_at"],
        disabled_at.as_str()
    );
    // The open bearer token and web session stop working at once.
    app.get("/api/v1/ledger/trial-balance", Some(&treasurer.token))
        .await
        .problem(401, "unauthenticated");
    let page = web.get("/tresorerie").await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some("/connexion"));
    // Signing in reads exactly as a wrong password, on the API and on the login page.
    let right = sign_in(&app, &treasurer.email, PASSWORD).await;
    let wrong = sign_in(&app, &treasurer.email, "not the password at all").await;
    right.problem(401, "invalid_credentials");
    assert_eq!(right.body, wrong.body);
    let mut again = Agent::new(&app);
    let said_right = again.login(&treasurer.email, PASSWORD).await;
    let said_wrong = again.login(&treasurer.email, "not the password").await;
    assert_eq!(said_right.status, said_wrong.status);
    assert_eq!(said_right.status, 401, "{}", said_right.body);
    assert!(said_right.body.contains("id=\"email\""));
    // Disabling twice is a status change the current status does not allow.
    disable(&app, &admin.token, &treasurer.id)
        .await
        .problem(409, "invalid_status_change");
    enable(&app, &admin.token, &admin.id)
        .await
        .problem(403, "forbidden");

    let r = enable(&app, &admin.token, &treasurer.id).await;
    assert!(r.ok(200).get("disabled_at").is_none(), "{}", r.body);
    assert!(listed(&app, &admin.token, &treasurer.id)
        .await
        .get("disabled_at")
        .is_none());
    enable(&app, &admin.token, &treasurer.id)
        .await
        .problem(409, "invalid_status_change");
    // The old token stays dead (its session was deleted); the password works again.
    app.get("/api/v1/ledger/trial-balance", Some(&treasurer.token))
        .await
        .problem(401, "unauthenticated");
    let token = sign_in(&app, &treasurer.email, PASSWORD).await;
    let token = token.ok(201)["token"].as_str().unwrap().to_string();
    app.get("/api/v1/ledger/trial-balance", Some(&token))
        .await
        .ok(200);
}

fn caller_of(app: &TestApp, admin: &Person) -> Caller {
    Caller::User {
        fund: FundId::new(app.fund_id.clone()),
        user: UserId::new(admin.id.clone()),
        role: Role::Admin,
        member: None,
    }
}

async fn a_disabled_person_cannot_use_a_link(app: TestApp) {
    let admin = app.person(Role::Admin).await;
    let caller = caller_of(&app, &admin);
    let invited = links::invite(
        &app.db,
        &caller,
        "invitee@test.caisse.fr",
        Role::Committee,
        None,
    )
    .await
    .expect("invitation");
    let person = app.person(Role::Committee).await;
    let id = UserId::new(person.id.clone());
    let reset = links::reset_link(&app.db, &caller, &id)
        .await
        .expect("reset link");

    disable(&app, &admin.token, &invited.user.id).await.ok(200);
    disable(&app, &admin.token, &person.id).await.ok(200);
    for link in [&invited, &reset] {
        assert!(matches!(
            links::open(&app.db, &link.token).await,
            Err(LinkError::Invalid)
        ));
        let chosen = links::choose_password(
            &app.db,
            &link.token,
            "une phrase assez longue",
            "une phrase assez longue",
        )
        .await;
        assert!(matches!(chosen, Err(LinkError::Invalid)), "{chosen:?}");
        let page = Agent::new(&app)
            .get(&format!("{}{}", links::LINK_PATH, link.token))
            .await;
        assert_eq!(page.status, 410, "{}", page.body);
    }
    // No new link for a disabled login, and "mot de passe oublié" sends it none.
    let refused = links::reset_link(&app.db, &caller, &id).await.unwrap_err();
    assert_eq!(refused.code(), ErrorCode::InvalidStatusChange);
    assert!(links::forgotten(&app.db, &person.email)
        .await
        .unwrap()
        .is_empty());

    // Enabled again, the links of before stay dead; a new one works.
    enable(&app, &admin.token, &person.id).await.ok(200);
    assert!(matches!(
        links::open(&app.db, &reset.token).await,
        Err(LinkError::Invalid)
    ));
    let fresh = links::reset_link(&app.db, &caller, &id)
        .await
        .expect("link");
    links::choose_password(
        &app.db,
        &fresh.token,
        "une phrase assez longue",
        "une phrase assez longue",
    )
    .await
    .expect("a new link works");
    sign_in(&app, &person.email, "une phrase assez longue")
        .await
        .ok(201);
}

async fn the_people_page_asks_before_it_changes_and_says_refusals_in_french(app: TestApp) {
    let admin = app.person(Role::Admin).await;
    let other = app.person(Role::Committee).await;
    let member = app.person(Role::Member).await;
    let mut web = Agent::new(&app);
    assert_eq!(web.login(&admin.email, PASSWORD).await.status, 303);
    let page = web.get("/admin/personnes").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let action = |id: &str, what: &str| format!("/admin/personnes/{id}/{what}");
    assert!(page.body.contains(&action(&other.id, "role")));
    assert!(page.body.contains(&action(&other.id, "desactiver")));
    // One's own row: no role, no login to disable; a member's login has no role select.
    assert!(!page.body.contains(&action(&admin.id, "role")));
    assert!(!page.body.contains(&action(&admin.id, "desactiver")));
    assert!(!page.body.contains(&action(&member.id, "role")));
    let csrf = page.field("csrf");

    // Choosing a role asks first, and changes nothing yet.
    let role = action(&other.id, "role");
    let ask = web
        .post(&role, &[("csrf", &csrf), ("role", "treasurer")])
        .await;
    assert_eq!(ask.status, 200, "{}", ask.body);
    assert!(
        ask.body.contains("« trésorerie » au lieu de « comité »"),
        "{}",
        ask.body
    );
    assert!(ask.body.contains("name=\"confirm\" value=\"oui\""));
    assert_eq!(
        listed(&app, &admin.token, &other.id).await["role"],
        "committee"
    );
    let done = web
        .post(
            &role,
            &[("csrf", &csrf), ("role", "treasurer"), ("confirm", "oui")],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(
        done.body.contains("a maintenant le rôle « trésorerie »"),
        "{}",
        done.body
    );
    assert_eq!(
        listed(&app, &admin.token, &other.id).await["role"],
        "treasurer"
    );

    // Forged forms: refused in French sentences, nothing changed.
    let forged = web
        .post(
            &role,
            &[("csrf", &csrf), ("role", "member"), ("confirm", "oui")],
        )
        .await;
    assert_eq!(forged.status, 422, "{}", forged.body);
    assert!(forged.body.contains("Vérifiez le rôle"), "{}", forged.body);
    let own = web
        .post(
            &action(&admin.id, "role"),
            &[("csrf", &csrf), ("role", "committee"), ("confirm", "oui")],
        )
        .await;
    assert_eq!(own.status, 422, "{}", own.body);
    assert!(
        own.body.contains("pas ouverte à votre rôle"),
        "{}",
        own.body
    );
    assert_eq!(listed(&app, &admin.token, &admin.id).await["role"], "admin");
    assert_eq!(
        listed(&app, &admin.token, &other.id).await["role"],
        "treasurer"
    );

    // Disabled: said, shown, and no new-password link offered; twice is refused.
    let off = web
        .post(&action(&other.id, "desactiver"), &[("csrf", &csrf)])
        .await;
    assert_eq!(off.status, 200, "{}", off.body);
    assert!(off
        .body
        .contains("est désactivé·e : ses sessions ouvertes sont fermées"));
    assert!(off.body.contains("désactivé·e depuis le"), "{}", off.body);
    assert!(!off.body.contains(&action(&other.id, "lien")));
    assert!(off.body.contains(&action(&other.id, "reactiver")));
    let again = web
        .post(&action(&other.id, "desactiver"), &[("csrf", &csrf)])
        .await;
    assert_eq!(again.status, 422, "{}", again.body);
    assert!(again
        .body
        .contains("Ce changement de statut n'est pas possible"));
    let on = web
        .post(&action(&other.id, "reactiver"), &[("csrf", &csrf)])
        .await;
    assert_eq!(on.status, 200, "{}", on.body);
    assert!(on.body.contains("peut de nouveau se connecter"));
    assert!(!on.body.contains("désactivé·e depuis le"));
    // A treasurer's session cannot post these forms.
    let mut treasurer = Agent::new(&app);
    assert_eq!(treasurer.login(&other.email, PASSWORD).await.status, 303);
    let page = treasurer.get("/tresorerie").await;
    let csrf = page.field("csrf");
    let refused = treasurer
        .post(
            &action(&other.id, "role"),
            &[("csrf", &csrf), ("role", "admin"), ("confirm", "oui")],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(
        listed(&app, &admin.token, &other.id).await["role"],
        "treasurer"
    );
}
