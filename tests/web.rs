//! The web interface: forms and sessions over plain HTTP (CSRF, cookie flags, session id
//! rotation, login rate limit, roles, what a till may not show, double submits), and a real
//! browser (Debian's headless `chromium` driven through `chromedriver`, W3C WebDriver) for the
//! member's QR code, a payment typed as a scanner would, a decline, and the treasurer's charts.
//! Screenshots of each page go to `target/screenshots/`.

mod common;

use caisse::domain::Role;
use common::agent::{Agent, Page};
use common::{TestApp, PASSWORD};
use serde_json::{json, Value};

both_backends!(
    till_pages_are_never_cached,
    forms_need_their_csrf_token,
    session_cookies_are_flagged_and_renewed_at_login,
    login_is_rate_limited_with_one_message,
    pages_are_closed_to_other_roles,
    till_page_pays_once_and_shows_no_member_data,
    language_switch_and_static_assets,
    committee_admin_and_treasurer_forms,
    treasurer_month_end_through_the_forms,
    form_refusals_read_as_french_sentences_naming_the_field,
);

/// The backend's name, for the screenshots' file names.
fn backend_tag(app: &TestApp) -> &'static str {
    match app.backend {
        caisse::store::Backend::Sqlite => "sqlite",
        caisse::store::Backend::Postgres => "postgres",
    }
}

// The tests that drive chromium: on both backends, reported as ignored (never as passed) when
// the machine chose to skip the browser at build time (`build.rs`).
macro_rules! browser_tests {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            #[cfg_attr(caisse_skip_browser, ignore = "CAISSE_TEST_SKIP_BROWSER=1")]
            async fn sqlite() {
                let app = $crate::common::spawn_app(caisse::store::Backend::Sqlite).await;
                super::$name(app.expect("sqlite always runs")).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            #[cfg_attr(
                any(caisse_skip_browser, caisse_skip_postgres),
                ignore = "CAISSE_TEST_SKIP_BROWSER=1 or CAISSE_TEST_SKIP_POSTGRES=1"
            )]
            async fn postgres() {
                let app = $crate::common::spawn_app(caisse::store::Backend::Postgres).await;
                super::$name(app.expect("postgres runs unless skipped at build time")).await;
            }
        }
    )+};
}

browser_tests!(
    browser_an_admin_invites_and_the_person_chooses_a_password,
    browser_an_admin_changes_a_role_and_disables_a_login,
    browser_an_admin_imports_a_member_list,
    browser_login_keeps_the_email_and_says_when_to_wait,
    browser_till_back_and_resubmit_is_no_new_sale,
    browser_member_till_and_treasurer,
    browser_demo_fund_pages,
    hostile_input_through_the_forms,
    web_and_api_logins_share_one_limiter,
);

/// A user with a known email and password (for a member, a new member of their own, given
/// this month's allowance when `funded`).
async fn user(app: &TestApp, role: Role, name: &str) -> (String, Option<String>) {
    let member = if role == Role::Member {
        Some(app.new_member(name).await)
    } else {
        None
    };
    let email = format!(
        "{}-{}@web.caisse.fr",
        role,
        caisse::domain::new_id("u").to_lowercase()
    );
    caisse::service::users::create(
        &app.db,
        &app.fund(),
        &email,
        PASSWORD,
        role,
        member
            .as_deref()
            .map(caisse::domain::MemberId::new)
            .as_ref(),
    )
    .await
    .expect("user");
    (email, member)
}

async fn issue_allowances(app: &TestApp) {
    let treasurer = app.login(Role::Treasurer).await;
    let period = caisse::domain::today().format("%Y-%m").to_string();
    app.post(
        "/api/v1/allowances/issuances",
        Some(&treasurer),
        json!({"period": period}),
    )
    .await
    .ok(200);
}

async fn forms_need_their_csrf_token(app: TestApp) {
    let (email, _) = user(&app, Role::Member, "Alice Martin").await;
    let mut a = Agent::new(&app);
    let page = a.get("/connexion").await;
    assert_eq!(page.status, 200);
    let csrf = page.field("csrf");
    // No token, a wrong token: 403, and no session.
    let p = a
        .post("/connexion", &[("email", &email), ("password", PASSWORD)])
        .await;
    assert_eq!(p.status, 403, "{}", p.body);
    let p = a
        .post(
            "/connexion",
            &[
                ("csrf", "forged"),
                ("email", &email),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.status, 403);
    assert!(!a.cookies.contains_key("caisse_sid"));
    // Another browser's token does not work with this browser's cookie.
    let mut other = Agent::new(&app);
    let theirs = other.get("/connexion").await.field("csrf");
    assert_ne!(theirs, csrf);
    let p = a
        .post(
            "/connexion",
            &[("csrf", &theirs), ("email", &email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(p.status, 403);
    // The right one signs in.
    let p = a
        .post(
            "/connexion",
            &[("csrf", &csrf), ("email", &email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(p.location.as_deref(), Some("/membre"));
    // Signed in, forms need the session's token (not the pre-session's).
    let page = a.get("/membre").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let session_csrf = page.field("csrf");
    assert_ne!(session_csrf, csrf);
    let p = a.post("/membre/carte", &[("csrf", &csrf)]).await;
    assert_eq!(p.status, 403);
    let p = a.post("/deconnexion", &[]).await;
    assert_eq!(p.status, 403);
    assert!(a.get("/membre").await.status == 200, "still signed in");
    let p = a.post("/deconnexion", &[("csrf", &session_csrf)]).await;
    assert_eq!(p.status, 303);
    let p = a.get("/membre").await;
    assert_eq!(p.status, 303, "signed out");
    assert_eq!(p.location.as_deref(), Some("/connexion"));
}

async fn session_cookies_are_flagged_and_renewed_at_login(app: TestApp) {
    let (email, _) = user(&app, Role::Treasurer, "").await;
    let mut a = Agent::new(&app);
    // A session id planted before login is never kept.
    a.cookies
        .insert("caisse_sid".into(), "ws_planted_by_someone".into());
    let p = a.login(&email, PASSWORD).await;
    assert_eq!(p.status, 303, "{}", p.body);
    let sid_cookie = p
        .set_cookies
        .iter()
        .find(|c| c.starts_with("caisse_sid="))
        .expect("session cookie")
        .clone();
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(sid_cookie.contains(flag), "{sid_cookie}");
    }
    assert!(!sid_cookie.contains("Secure"), "plain HTTP: {sid_cookie}");
    let first = a.cookies["caisse_sid"].clone();
    assert_ne!(first, "ws_planted_by_someone");
    assert_eq!(first.len(), 3 + 64, "256 random bits");
    // Signing in again gives a new id, and the old one stops working.
    let csrf = a.get("/tresorerie").await.field("csrf");
    let p = a
        .post(
            "/connexion",
            &[("csrf", &csrf), ("email", &email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(p.status, 303);
    let second = a.cookies["caisse_sid"].clone();
    assert_ne!(first, second);
    let mut old = Agent::new(&app);
    old.cookies.insert("caisse_sid".into(), first);
    assert_eq!(old.get("/tresorerie").await.status, 303, "old id is dead");
    assert_eq!(a.get("/tresorerie").await.status, 200);
    // Behind a TLS proxy the cookies are Secure.
    let mut tls = Agent::new(&app);
    let page = tls
        .send(
            tls.client
                .get(format!("{}/connexion", app.base))
                .header("x-forwarded-proto", "https"),
        )
        .await;
    let csrf = page.field("csrf");
    assert!(page.set_cookies.iter().all(|c| c.contains("; Secure")));
    let p = tls
        .send(
            tls.client
                .post(format!("{}/connexion", app.base))
                .header("x-forwarded-proto", "https")
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("email", email.as_str()),
                    ("password", PASSWORD),
                ]),
        )
        .await;
    assert_eq!(p.status, 303);
    assert!(p
        .set_cookies
        .iter()
        .any(|c| c.starts_with("caisse_sid=") && c.contains("; Secure") && c.contains("HttpOnly")));
}

async fn login_is_rate_limited_with_one_message(app: TestApp) {
    let (email, _) = user(&app, Role::Committee, "").await;
    let mut a = Agent::new(&app);
    let csrf = a.get("/connexion").await.field("csrf");
    let unknown = "nobody-at-all@web.caisse.fr";
    let mut bodies = Vec::new();
    for i in 0..5 {
        let wrong_password = a
            .post(
                "/connexion",
                &[
                    ("csrf", &csrf),
                    ("email", &email),
                    ("password", "wrong-password-1"),
                ],
            )
            .await;
        let wrong_email = a
            .post(
                "/connexion",
                &[("csrf", &csrf), ("email", unknown), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(wrong_password.status, 401, "attempt {i}");
        assert_eq!(wrong_email.status, 401);
        // The page keeps the email typed; apart from it, both must read the same.
        assert!(wrong_password.body.contains(&format!("value=\"{email}\"")));
        assert_eq!(
            wrong_password.body.replace(&email, "EMAIL"),
            wrong_email.body.replace(unknown, "EMAIL"),
            "a wrong email and a wrong password must read the same"
        );
        assert!(wrong_password
            .body
            .contains("Adresse e-mail ou mot de passe incorrect."));
        bodies.push(wrong_password.body);
    }
    // The sixth attempt within the minute is refused, even with the right password, and reads
    // the same for an unknown email.
    let right = a
        .post(
            "/connexion",
            &[("csrf", &csrf), ("email", &email), ("password", PASSWORD)],
        )
        .await;
    let unknown_page = a
        .post(
            "/connexion",
            &[("csrf", &csrf), ("email", unknown), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(right.status, 429);
    assert_eq!(unknown_page.status, 429);
    assert_eq!(
        right.body.replace(&email, "EMAIL"),
        unknown_page.body.replace(unknown, "EMAIL")
    );
    assert!(right.body.contains("Trop de tentatives"));
    assert!(!a.cookies.contains_key("caisse_sid"));
    // Another address is not held up.
    let (other, _) = user(&app, Role::Committee, "").await;
    let mut b = Agent::new(&app);
    assert_eq!(b.login(&other, PASSWORD).await.status, 303);
}

async fn pages_are_closed_to_other_roles(app: TestApp) {
    let mut anon = Agent::new(&app);
    for path in ["/membre", "/caisse", "/comite", "/tresorerie", "/admin"] {
        let p = anon.get(path).await;
        assert_eq!(p.status, 303, "{path}");
        assert_eq!(p.location.as_deref(), Some("/connexion"));
    }
    let cases = [
        (
            Role::Member,
            "/membre",
            &["/caisse", "/comite", "/tresorerie", "/admin"][..],
        ),
        (
            Role::Committee,
            "/comite",
            &["/membre", "/caisse", "/tresorerie", "/admin"][..],
        ),
        (
            Role::Treasurer,
            "/tresorerie",
            &["/membre", "/caisse", "/comite", "/admin"][..],
        ),
        (Role::Admin, "/admin", &["/membre", "/caisse"][..]),
    ];
    for (role, home, closed) in cases {
        let (email, _) = user(&app, role, "Quelqu'un").await;
        let mut a = Agent::new(&app);
        let p = a.login(&email, PASSWORD).await;
        assert_eq!(p.location.as_deref(), Some(home), "{role}");
        let page = a.get(home).await;
        assert_eq!(page.status, 200, "{role} {home}: {}", page.body);
        assert!(page.body.contains("<html lang=\"fr\""));
        for path in closed {
            let p = a.get(path).await;
            assert_eq!(p.status, 403, "{role} on {path}");
            assert!(p.body.contains("Accès refusé"));
        }
    }
    // A till sees the till only.
    let (_, key) = app.terminal_login().await;
    let mut till = Agent::new(&app);
    let p = till.till_login(&key).await;
    assert_eq!(p.location.as_deref(), Some("/caisse"), "{}", p.body);
    assert_eq!(till.get("/caisse").await.status, 200);
    for path in [
        "/membre",
        "/comite",
        "/tresorerie",
        "/admin",
        "/membre/commerces",
    ] {
        assert_eq!(till.get(path).await.status, 403, "till on {path}");
    }
    // A wrong key opens nothing.
    let mut bad = Agent::new(&app);
    let p = bad.till_login("ct_not_a_key").await;
    assert_eq!(p.status, 401);
    assert!(p.body.contains("Clé de caisse inconnue ou révoquée."));
}

/// The current code of an app card, computed from its secret like the member's phone does.
fn current_code(secret_b32: &str, card_id: &str) -> String {
    let secret = caisse::domain::card::secret_from_base32(secret_b32).unwrap();
    let step = caisse::domain::card::step_at(caisse::domain::now_micros() / 1_000_000);
    caisse::domain::card::app_payload(card_id, &caisse::domain::card::totp(&secret, step))
}

async fn till_page_pays_once_and_shows_no_member_data(app: TestApp) {
    let admin = app.login(Role::Admin).await;
    let member = app
        .post(
            "/api/v1/members",
            Some(&admin),
            json!({"full_name": "Nour Benali", "household": {"adults": 1, "children": 0},
                   "monthly_income": "2718.28"}),
        )
        .await;
    let member_id = member.ok(201)["id"].as_str().unwrap().to_string();
    issue_allowances(&app).await;
    let card = app
        .post(
            &format!("/api/v1/members/{member_id}/cards"),
            Some(&admin),
            json!({"kind": "app"}),
        )
        .await;
    let card = card.ok(201).clone();
    let card_id = card["card_id"].as_str().unwrap();
    let token = current_code(card["secret"].as_str().unwrap(), card_id);

    let (_, key) = app.terminal_login().await;
    let mut till = Agent::new(&app);
    till.till_login(&key).await;
    let page = till.get("/caisse").await;
    let (csrf, idem) = (page.field("csrf"), page.field("idem"));
    assert!(
        idem.starts_with("web_"),
        "a one-time key drawn with the form"
    );
    let fields = [
        ("csrf", csrf.as_str()),
        ("idem", idem.as_str()),
        ("amount", "12,50"),
        ("code", token.as_str()),
    ];
    let first = till.post("/caisse/paiement", &fields).await;
    assert_eq!(first.status, 200);
    assert!(
        first.body.contains("data-status=\"approved\""),
        "{}",
        first.body
    );
    assert!(first.body.contains("Paiement accepté"));
    assert!(first.body.contains("137,50\u{a0}€"), "{}", first.body);
    // The same form sent again (a double click): one payment only, and the page says so
    // rather than "Paiement accepté" (Idempotent-Replayed from the API).
    let again = till.post("/caisse/paiement", &fields).await;
    assert!(
        again.body.contains("data-status=\"replayed\""),
        "{}",
        again.body
    );
    assert!(again.body.contains("Déjà enregistré à "), "{}", again.body);
    assert!(again
        .body
        .contains("(heure de la caisse), ce n'est pas un nouveau paiement"));
    assert!(!again.body.contains("Paiement accepté"));
    let account = app
        .get(
            &format!("/api/v1/members/{member_id}/account"),
            Some(&admin),
        )
        .await;
    assert_eq!(account.ok(200)["balance"], "137.50");
    // The same code with a new form: declined, in plain words.
    let page = till.get("/caisse").await;
    let declined = till
        .post(
            "/caisse/paiement",
            &[
                ("csrf", &page.field("csrf")),
                ("idem", &page.field("idem")),
                ("amount", "1"),
                ("code", &token),
            ],
        )
        .await;
    assert!(
        declined.body.contains("data-code=\"token_reused\""),
        "{}",
        declined.body
    );
    assert!(declined.body.contains("Ce code a déjà servi."));
    assert!(
        declined.body.contains("name=\"amount\" type=\"text\"")
            && declined.body.contains("value=\"1\""),
        "a decline keeps the amount typed"
    );
    // The till says whose it is and the fund's time, and nothing names the member.
    let page = till.get("/caisse").await;
    assert!(page.body.contains("id=\"till-of\""), "{}", page.body);
    assert!(page.body.contains("Épicerie"), "the shop's name");
    assert!(page.body.contains("Caisse 1"), "the till's name");
    assert!(page.body.contains("(heure de la caisse)"));
    // Nothing on the till names the member or their income.
    for body in [
        &first.body,
        &again.body,
        &declined.body,
        &till.get("/caisse").await.body,
    ] {
        for secret in ["Nour", "Benali", "2718", "2\u{202f}718", "M0000"] {
            let at = body.find(secret);
            assert!(
                at.is_none(),
                "{secret} on the till page: {:?}",
                at.map(|i| &body[i.saturating_sub(200)..i + 50])
            );
        }
    }
    // The day's sales list the payment; a refund from the page.
    let page = till.get("/caisse").await;
    assert!(
        page.body.contains("id=\"total-sales\">12,50\u{a0}€"),
        "{}",
        page.body
    );
    let red = page.body.find("/caisse/remboursement/").unwrap();
    let action = page.body[red..].split('"').next().unwrap().to_string();
    let form_start = page.body[..red].rfind("<form").unwrap();
    let form = &page.body[form_start..];
    let field = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let s = form.find(&marker).unwrap() + marker.len();
        form[s..].split('"').next().unwrap().to_string()
    };
    let refund_fields = [
        ("csrf", field("csrf")),
        ("idem", field("idem")),
        ("amount", "2.50".to_string()),
    ];
    let refund_fields: Vec<(&str, &str)> = refund_fields
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    let refund = till.post(&action, &refund_fields).await;
    // The same refund form again: refunded once, and the page says it was already done.
    let refund_again = till.post(&action, &refund_fields).await;
    assert!(
        refund_again
            .body
            .contains("id=\"refund-replayed\">Remboursement déjà enregistré à "),
        "{}",
        refund_again.body
    );
    assert!(refund_again
        .body
        .contains("ce n'est pas un nouveau remboursement."));
    assert!(refund_again
        .body
        .contains("id=\"total-refunds\">2,50\u{a0}€"));
    // And in English, through the dictionary.
    till.get("/langue?l=en&retour=/caisse").await;
    let english = till.post("/caisse/paiement", &fields).await;
    assert!(
        english
            .body
            .contains("(till time): this is not a new payment"),
        "{}",
        english.body
    );
    assert!(english.body.contains("Already recorded at "));
    till.get("/langue?l=fr&retour=/caisse").await;
    assert!(
        refund.body.contains("Remboursement enregistré."),
        "{}",
        refund.body
    );
    assert!(refund.body.contains("id=\"total-refunds\">2,50\u{a0}€"));
    let account = app
        .get(
            &format!("/api/v1/members/{member_id}/account"),
            Some(&admin),
        )
        .await;
    assert_eq!(account.ok(200)["balance"], "140.00");
}

/// No page behind a login may come back from the browser's cache (an old till page would carry
/// an old payment's key), nor any answer the service gives; static assets may.
async fn till_pages_are_never_cached(app: TestApp) {
    let (_, key) = app.terminal_login().await;
    let mut till = Agent::new(&app);
    till.till_login(&key).await;
    let cache_control = |a: &Agent, path: &str| {
        let (client, url) = (a.client.clone(), format!("{}{path}", a.base));
        let cookie = a
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        async move {
            let r = client
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let cc = r
                .headers()
                .get("cache-control")
                .map(|v| v.to_str().unwrap().to_string());
            (status, cc)
        }
    };
    let page = till.get("/caisse").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        cache_control(&till, "/caisse").await,
        (200, Some("no-store".into()))
    );
    // The answer to a payment (here a decline) too.
    let r = till
        .client
        .post(format!("{}/caisse/paiement", till.base))
        .header(
            "cookie",
            till.cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
        .form(&[
            ("csrf", page.field("csrf").as_str()),
            ("idem", page.field("idem").as_str()),
            ("amount", "1"),
            ("code", "caisse1:nothing"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    // Every role's pages, redirects and the API.
    for role in [Role::Member, Role::Committee, Role::Treasurer, Role::Admin] {
        let (email, _) = user(&app, role, "Personne").await;
        let mut a = Agent::new(&app);
        let login = a.login(&email, PASSWORD).await;
        assert_eq!(login.status, 303, "{role}");
        let home = login.location.unwrap();
        assert_eq!(
            cache_control(&a, &home).await,
            (200, Some("no-store".into())),
            "{home}"
        );
        assert_eq!(
            cache_control(&a, "/").await,
            (303, Some("no-store".into())),
            "the redirect home of {role}"
        );
    }
    let admin = app.login(Role::Admin).await;
    let r = app.get("/api/v1/settings", Some(&admin)).await;
    assert_eq!(r.headers["cache-control"], "no-store");
    let a = Agent::new(&app);
    let (_, css) = cache_control(&a, "/static/style.css").await;
    assert_eq!(css.as_deref(), Some("public, max-age=3600"));
}

async fn language_switch_and_static_assets(app: TestApp) {
    let mut a = Agent::new(&app);
    let fr = a.get("/connexion").await;
    assert!(fr.body.contains("<html lang=\"fr\"") && fr.body.contains("Mot de passe"));
    // Accept-Language is honoured without a cookie.
    let en = a
        .send(
            a.client
                .get(format!("{}/connexion", app.base))
                .header("accept-language", "en-GB,en;q=0.8"),
        )
        .await;
    assert!(en.body.contains("<html lang=\"en\"") && en.body.contains("Password"));
    // The switch sets a cookie and goes back, only to a path of this site.
    let p = a.get("/langue?l=en&retour=/connexion").await;
    assert_eq!(p.location.as_deref(), Some("/connexion"));
    assert!(a.get("/connexion").await.body.contains("Sign in"));
    let p = a.get("/langue?l=fr&retour=//evil.example").await;
    assert_eq!(p.location.as_deref(), Some("/"));
    // Everything is served by caisse itself, with a strict policy.
    for (file, mime) in [
        ("style.css", "text/css"),
        ("member.js", "text/javascript"),
        ("till.js", "text/javascript"),
        ("jsQR.js", "text/javascript"),
    ] {
        let r = app
            .client
            .get(app.url(&format!("/static/{file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{file}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(mime));
    }
    let r = app.client.get(app.url("/connexion")).send().await.unwrap();
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert!(
        !r.text().await.unwrap().contains("http://"),
        "no outside resource"
    );
    // The API is untouched: its 404 is still problem+json.
    app.get("/api/v1/nothing-here", None)
        .await
        .problem(404, "not_found");
}

/// The form of `action` on a page: its CSRF token.
/// A refused form answers with a sentence of the dictionary naming the field in the reader's
/// words, never with the API's English detail or a serde message.
async fn form_refusals_read_as_french_sentences_naming_the_field(app: TestApp) {
    let (admin, _) = user(&app, Role::Admin, "").await;
    let mut a = Agent::new(&app);
    a.login(&admin, PASSWORD).await;
    let page = a.get("/admin").await;
    let short = a
        .post(
            "/admin/utilisateurs",
            &[
                ("csrf", &csrf_of(&page)),
                ("email", "court@web.caisse.fr"),
                ("password", "court"),
                ("role", "treasurer"),
            ],
        )
        .await;
    assert!(short.body.contains("notice bad"), "{}", short.body);
    assert!(
        short
            .body
            .contains("Vérifiez le mot de passe (10 caractères au moins)"),
        "{}",
        short.body
    );
    assert!(!short.body.contains("must be at least"), "{}", short.body);

    // A serde message (a contribution scale that is not JSON) stays off the page too.
    let page = a.get("/admin").await;
    let settings = a
        .post(
            "/admin/reglages",
            &[
                ("csrf", &csrf_of(&page)),
                ("fund_name", "X"),
                ("first_person", "1"),
                ("additional_adult", "1"),
                ("child", "1"),
                ("pin_attempts", "4"),
                ("contribution_scale", "{not json"),
                ("criteria", "[]"),
            ],
        )
        .await;
    assert!(
        settings.body.contains("Vérifiez le barème de cotisation"),
        "{}",
        settings.body
    );
    for english in ["not valid JSON", "key must be a string", "at line"] {
        assert!(
            !settings.body.contains(english),
            "{english}: {}",
            settings.body
        );
    }

    // In English, the same refusal reads in English.
    a.get("/langue?l=en&retour=/admin").await;
    let page = a.get("/admin").await;
    let short = a
        .post(
            "/admin/utilisateurs",
            &[
                ("csrf", &csrf_of(&page)),
                ("email", "court@web.caisse.fr"),
                ("password", "court"),
                ("role", "treasurer"),
            ],
        )
        .await;
    assert!(
        short
            .body
            .contains("Check the password (at least 10 characters)"),
        "{}",
        short.body
    );
}

fn csrf_of(page: &Page) -> String {
    page.field("csrf")
}

async fn committee_admin_and_treasurer_forms(app: TestApp) {
    let admin_token = app.login(Role::Admin).await;
    let shop = app
        .post(
            "/api/v1/shops",
            Some(&admin_token),
            json!({"name": "Fournil de la Croix-Rousse", "legal_name": "SARL Fournil",
                   "siret": "732 829 320 00074", "iban": "FR76 3000 6000 0112 3456 7890 189",
                   "address": "4 rue d'Austerlitz, 69004 Lyon", "categories": ["epicerie"],
                   "criteria": {"locality": "Farines du Rhône"}}),
        )
        .await;
    let shop_id = shop.ok(201)["id"].as_str().unwrap().to_string();

    // The committee sees the application with its answers, and votes.
    let (committee, _) = user(&app, Role::Committee, "").await;
    let mut c = Agent::new(&app);
    c.login(&committee, PASSWORD).await;
    let page = c.get("/comite").await;
    assert!(
        page.body.contains("Fournil de la Croix-Rousse"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Farines du Rhône"));
    let voted = c
        .post(
            &format!("/comite/vote/{shop_id}"),
            &[
                ("csrf", &csrf_of(&page)),
                ("choice", "for"),
                ("comment", "Local et bio"),
            ],
        )
        .await;
    assert!(voted.body.contains("Vote enregistré."), "{}", voted.body);
    assert!(
        voted.body.contains("Pour : <strong>1</strong>"),
        "{}",
        voted.body
    );
    assert!(voted.body.contains("value=\"for\" required checked"));
    let votes = app
        .get(
            &format!("/api/v1/shops/{shop_id}/votes"),
            Some(&admin_token),
        )
        .await;
    assert_eq!(votes.ok(200)["tally"]["for"], 1);
    // A bad choice changes nothing and says why.
    let bad = c
        .post(
            &format!("/comite/vote/{shop_id}"),
            &[("csrf", &csrf_of(&page)), ("choice", "maybe")],
        )
        .await;
    assert!(bad.body.contains("notice bad"), "{}", bad.body);

    // The admin approves it and gives it a till: the key is shown once and opens the till.
    let (admin, _) = user(&app, Role::Admin, "").await;
    let mut a = Agent::new(&app);
    a.login(&admin, PASSWORD).await;
    let page = a.get("/admin").await;
    let approved = a
        .post(
            &format!("/admin/commerces/{shop_id}/decision"),
            &[("csrf", &csrf_of(&page)), ("decision", "approved")],
        )
        .await;
    assert!(approved.body.contains("C'est fait."), "{}", approved.body);
    let shop = app
        .get(&format!("/api/v1/shops/{shop_id}"), Some(&admin_token))
        .await;
    assert_eq!(shop.ok(200)["status"], "approved");
    let added = a
        .post(
            &format!("/admin/commerces/{shop_id}/caisses"),
            &[("csrf", &csrf_of(&page)), ("label", "Comptoir")],
        )
        .await;
    let start = added.body.find("id=\"terminal-key\">").expect("key shown") + 18;
    let key = added.body[start..].split('<').next().unwrap().to_string();
    assert!(key.starts_with("ct_"), "{key}");
    assert!(
        !a.get("/admin").await.body.contains(&key),
        "shown once only"
    );
    let mut till = Agent::new(&app);
    assert_eq!(
        till.till_login(&key).await.location.as_deref(),
        Some("/caisse")
    );

    // Fund rules: amounts typed the French way.
    let page = a.get("/admin").await;
    let scale = app.get("/api/v1/settings", Some(&admin_token)).await;
    let settings = scale.ok(200).clone();
    let saved = a
        .post(
            "/admin/reglages",
            &[
                ("csrf", &csrf_of(&page)),
                ("fund_name", "Caisse commune du 8e"),
                ("first_person", "160,00"),
                ("additional_adult", "75"),
                ("child", "45.00"),
                ("balance_cap", ""),
                ("pin_attempts", "4"),
                (
                    "contribution_scale",
                    &settings["contribution_scale"].to_string(),
                ),
                ("criteria", &settings["criteria"].to_string()),
            ],
        )
        .await;
    assert!(saved.body.contains("C'est fait."), "{}", saved.body);
    let now = app.get("/api/v1/settings", Some(&admin_token)).await;
    let now = now.ok(200);
    assert_eq!(now["allowance"]["first_person"], "160.00");
    assert_eq!(now["allowance"]["balance_cap"], serde_json::Value::Null);
    assert_eq!(now["pin_attempts"], 4);
    assert_eq!(now["fund_name"], "Caisse commune du 8e");
    // Bad JSON is refused and nothing changes.
    let refused = a
        .post(
            "/admin/reglages",
            &[
                ("csrf", &csrf_of(&page)),
                ("fund_name", "X"),
                ("first_person", "1"),
                ("additional_adult", "1"),
                ("child", "1"),
                ("pin_attempts", "4"),
                ("contribution_scale", "{not json"),
                ("criteria", "[]"),
            ],
        )
        .await;
    assert!(refused.body.contains("notice bad"), "{}", refused.body);
    let after = app.get("/api/v1/settings", Some(&admin_token)).await;
    assert_eq!(after.ok(200)["fund_name"], "Caisse commune du 8e");

    // The treasurer calls the month, issues it, and tries a scale.
    app.new_member("Adhérent Un").await;
    let (treasurer, _) = user(&app, Role::Treasurer, "").await;
    let mut t = Agent::new(&app);
    t.login(&treasurer, PASSWORD).await;
    let page = t.get("/tresorerie").await;
    let period = caisse::domain::today().format("%Y-%m").to_string();
    let called = t
        .post(
            "/tresorerie/appel",
            &[("csrf", &csrf_of(&page)), ("period", &period)],
        )
        .await;
    assert!(called.body.contains("adhérents appelés"), "{}", called.body);
    let issued = t
        .post(
            "/tresorerie/allocations",
            &[("csrf", &csrf_of(&page)), ("period", &period)],
        )
        .await;
    assert!(
        issued.body.contains("1 adhérents crédités, total 160,00"),
        "{}",
        issued.body
    );
    assert!(issued.body.contains("figure class=\"chart\""));
    let sim = t
        .post(
            "/tresorerie/simulation",
            &[
                ("csrf", &csrf_of(&page)),
                ("minimum", "1"),
                ("up_to_1", "800"),
                ("amount_1", "10"),
                ("up_to_2", ""),
                ("amount_2", "40"),
            ],
        )
        .await;
    assert!(sim.body.contains("id=\"simulation\""), "{}", sim.body);
    assert!(sim.body.contains("allocations 160,00"), "{}", sim.body);

    // A scale or a month typed wrong is told in words; what was typed stays in the form.
    let bad = t
        .post(
            "/tresorerie/simulation",
            &[
                ("csrf", &csrf_of(&page)),
                ("minimum", "1"),
                ("up_to_1", "beaucoup"),
                ("amount_1", "10"),
            ],
        )
        .await;
    assert!(bad.body.contains("notice bad"), "{}", bad.body);
    assert!(bad.body.contains("value=\"beaucoup\""), "{}", bad.body);
    let bad = t
        .post(
            "/tresorerie/appel",
            &[("csrf", &csrf_of(&page)), ("period", "2026-13")],
        )
        .await;
    assert!(bad.body.contains("notice bad"), "{}", bad.body);
    for english in [&bad.body, &sim.body] {
        assert!(!english.contains("must be"), "{english}");
    }
}

/// A GET with the agent's cookies that keeps the headers: (status, content type,
/// content disposition, body).
async fn download(a: &Agent, path: &str) -> (u16, String, String, String) {
    let cookie = a
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let r = a
        .client
        .get(format!("{}{path}", a.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let header = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let (ct, cd) = (header("content-type"), header("content-disposition"));
    let status = r.status().as_u16();
    (status, ct, cd, r.text().await.unwrap())
}

/// The `href` of the first link whose address contains `part`.
fn link(page: &Page, part: &str) -> String {
    let at = page.body.find(part).unwrap_or_else(|| panic!("no {part}"));
    let start = page.body[..at].rfind('"').unwrap() + 1;
    let end = at + page.body[at..].find('"').unwrap();
    page.body[start..end].to_string()
}

async fn settlement_count(app: &TestApp, token: &str) -> usize {
    let r = app.get("/api/v1/settlements", Some(token)).await;
    r.ok(200)["items"].as_array().unwrap().len()
}

async fn treasurer_month_end_through_the_forms(app: TestApp) {
    // A member spends 18.40 at a shop.
    let token = app.login(Role::Treasurer).await;
    let member = app.new_member("Adhérente Règlement").await;
    let period = caisse::domain::today().format("%Y-%m").to_string();
    app.post(
        "/api/v1/allowances/issuances",
        Some(&token),
        json!({"period": period}),
    )
    .await
    .ok(200);
    let card = app
        .post(
            &format!("/api/v1/members/{member}/cards"),
            Some(&token),
            json!({"kind": "printed", "pin": "4821"}),
        )
        .await;
    let payload = card.ok(201)["qr_payload"].as_str().unwrap().to_string();
    let (_, till) = app.terminal_login().await;
    app.post_idem(
        "/api/v1/redemptions",
        &till,
        "web-settle-1",
        json!({"token": payload, "amount": "18.40", "pin": "4821"}),
    )
    .await
    .ok(201);

    let (treasurer, _) = user(&app, Role::Treasurer, "").await;
    let mut t = Agent::new(&app);
    t.login(&treasurer, PASSWORD).await;
    let page = t.get("/tresorerie").await;
    assert!(
        page.body.contains("Aucun règlement pour l'instant."),
        "{}",
        page.body
    );
    assert!(page.body.contains("id=\"unpaid-none\""));
    assert!(page.body.contains("id=\"fec-year\""));
    assert!(!page.body.contains("Pas encore disponible"));
    let csrf = csrf_of(&page);

    // The new forms need their token, and a wrong one changes nothing.
    for (path, fields) in [
        ("/tresorerie/reglements", vec![("cutoff", "")]),
        (
            "/tresorerie/releves",
            vec![("statement", "date,amount,reference,counterparty\n")],
        ),
    ] {
        assert_eq!(t.post(path, &fields).await.status, 403, "{path}");
        let mut forged = fields.clone();
        forged.push(("csrf", "forged"));
        assert_eq!(t.post(path, &forged).await.status, 403, "{path}");
    }
    assert_eq!(settlement_count(&app, &token).await, 0);

    // A cutoff in the future is refused in plain words.
    let later = (chrono::Utc::now() + chrono::Duration::days(2))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let refused = t
        .post(
            "/tresorerie/reglements",
            &[("csrf", &csrf), ("cutoff", &later)],
        )
        .await;
    assert!(
        refused.body.contains("La date limite est dans le futur"),
        "{}",
        refused.body
    );
    assert_eq!(settlement_count(&app, &token).await, 0);

    // The settlement: one transfer, shown with its shop, amount and EndToEndId, unpaid.
    // (The form's own key and cutoff, as the page draws them; a cutoff is to the second.)
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let cutoff = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let settle_form = [
        ("csrf", csrf.as_str()),
        ("cutoff", cutoff.as_str()),
        ("cle", "form_settle_1"),
    ];
    let settled = t.post("/tresorerie/reglements", &settle_form).await;
    assert_eq!(settled.status, 200);
    assert!(
        settled
            .body
            .contains("Règlement créé : 1 virements, total 18,40"),
        "{}",
        settled.body
    );
    let api = app.get("/api/v1/settlements", Some(&token)).await;
    let id = api.ok(200)["items"][0]["id"].as_str().unwrap().to_string();
    let s = app
        .get(&format!("/api/v1/settlements/{id}"), Some(&token))
        .await;
    let line = s.ok(200)["lines"][0].clone();
    let e2e = line["end_to_end_id"].as_str().unwrap().to_string();
    let shop_name = line["shop_name"].as_str().unwrap().to_string();
    assert!(settled.body.contains(&e2e));
    assert!(settled.body.contains(&shop_name));
    assert!(settled.body.contains("à payer"));
    assert!(
        settled.body.contains("id=\"unpaid\""),
        "in the reconciliation"
    );
    // The same form sent again (a reload): the same settlement, said to be no new one.
    let replayed = t.post("/tresorerie/reglements", &settle_form).await;
    assert!(
        replayed.body.contains("Règlement déjà créé à ")
            && replayed.body.contains("ce n'est pas un nouveau règlement"),
        "{}",
        replayed.body
    );
    assert!(!replayed.body.contains("Règlement créé :"));
    assert_eq!(settlement_count(&app, &token).await, 1);
    // Nothing left to settle: said in plain words.
    let again = t
        .post("/tresorerie/reglements", &[("csrf", &csrf), ("cutoff", "")])
        .await;
    assert!(again.body.contains("Rien à régler"), "{}", again.body);
    assert_eq!(settlement_count(&app, &token).await, 1);

    // The SEPA file of the settlement, from the page's link.
    let href = link(&again, "/sepa.xml");
    assert_eq!(href, format!("/tresorerie/reglements/{id}/sepa.xml"));
    let (status, ct, cd, xml) = download(&t, &href).await;
    assert_eq!(status, 200, "{xml}");
    assert!(ct.starts_with("application/xml"), "{ct}");
    assert!(cd.starts_with("attachment; filename=\"virements-"), "{cd}");
    assert!(xml.contains("pain.001.001.03"));
    assert!(xml.contains(&format!("<EndToEndId>{e2e}</EndToEndId>")));
    let (status, _, _, _) = download(&t, "/tresorerie/reglements/stl_nope/sepa.xml").await;
    assert_eq!(status, 404);

    // A garbage file and an unbalanced camt.053: plain words, nothing imported.
    let rec_before = app.get("/api/v1/reconciliation", Some(&token)).await;
    let rec_before = rec_before.ok(200).clone();
    let garbage = t
        .post(
            "/tresorerie/releves",
            &[("csrf", &csrf), ("statement", "<html>pas un relevé</html>")],
        )
        .await;
    assert!(
        garbage.body.contains("id=\"import-error\""),
        "{}",
        garbage.body
    );
    assert!(
        garbage.body.contains("rien n'a été importé"),
        "{}",
        garbage.body
    );
    // Statements are larger than the API's usual 64 KiB body limit: the form takes them.
    let big = format!(
        "date,amount,reference,counterparty\n{}",
        "x".repeat(200_000)
    );
    let big = t
        .post(
            "/tresorerie/releves",
            &[("csrf", &csrf), ("statement", &big)],
        )
        .await;
    assert_eq!(big.status, 200);
    assert!(big.body.contains("id=\"import-error\""), "{}", big.body);
    let camt = caisse::service::settlements::camt053_for_payouts(
        "02",
        "FR7630006000011234567890189",
        "S-WEB",
        100_000,
        caisse::domain::today(),
        &[(e2e.clone(), shop_name.clone(), 1840)],
    );
    assert!(camt.contains(">981.60<"), "{camt}");
    let unbalanced = t
        .post(
            "/tresorerie/releves",
            &[
                ("csrf", &csrf),
                ("statement", &camt.replace(">981.60<", ">982.60<")),
            ],
        )
        .await;
    assert!(
        unbalanced.body.contains("Le relevé ne tombe pas juste"),
        "{}",
        unbalanced.body
    );
    let empty = t
        .post(
            "/tresorerie/releves",
            &[("csrf", &csrf), ("statement", "  ")],
        )
        .await;
    assert!(
        empty.body.contains("Choisissez un fichier"),
        "{}",
        empty.body
    );
    let rec_after = app.get("/api/v1/reconciliation", Some(&token)).await;
    assert_eq!(rec_after.ok(200), &rec_before);

    // A CSV whose transfer quotes the EndToEndId pays the line; the bank fee stays unmatched.
    let today = caisse::domain::today().format("%Y-%m-%d").to_string();
    let csv = format!(
        "date,amount,reference,counterparty\r\n\
         {today},-18.40,Virement {e2e},{shop_name}\r\n\
         {today},-3.10,Frais bancaires,Banque\r\n"
    );
    let imported = t
        .post(
            "/tresorerie/releves",
            &[("csrf", &csrf), ("statement", &csv)],
        )
        .await;
    assert!(
        imported.body.contains(
            "2 lignes importées, 0 déjà importées, 1 rapprochées, 1 sans correspondance."
        ),
        "{}",
        imported.body
    );
    assert!(
        imported.body.contains("id=\"unpaid-none\""),
        "the unpaid table is gone"
    );
    assert!(imported.body.contains("id=\"unmatched\""));
    assert!(imported.body.contains("Frais bancaires"));
    let rec = app.get("/api/v1/reconciliation", Some(&token)).await;
    let rec = rec.ok(200);
    assert_eq!(rec["unpaid_settlement_lines"], json!([]));
    assert_eq!(rec["unmatched_bank_lines"].as_array().unwrap().len(), 1);
    // The same statement again imports nothing.
    let twice = t
        .post(
            "/tresorerie/releves",
            &[("csrf", &csrf), ("statement", &csv)],
        )
        .await;
    assert!(
        twice.body.contains("0 lignes importées, 2 déjà importées"),
        "{}",
        twice.body
    );
    // The figures now show the payout.
    assert!(twice.body.contains("id=\"paid\">18,40"), "{}", twice.body);
    // Nothing waits for the bank fee: its row says so instead of offering a transfer.
    assert!(
        twice
            .body
            .contains("Aucun virement en attente de ce montant."),
        "{}",
        twice.body
    );

    // A contribution sent with a mistyped reference is matched by hand, by member number.
    let csv = format!(
        "date,amount,reference,counterparty\r\n{today},5.00,Cotisation RF00FAUTE,Adhérente\r\n"
    );
    let imported = t
        .post(
            "/tresorerie/releves",
            &[("csrf", &csrf), ("statement", &csv)],
        )
        .await;
    assert!(
        imported.body.contains("1 sans correspondance"),
        "{}",
        imported.body
    );
    assert!(imported.body.contains("Adhérent (n° ou référence)"));
    let rec = app
        .get("/api/v1/reconciliation", Some(&token))
        .await
        .ok(200)
        .clone();
    let line = rec["unmatched_bank_lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["amount"] == "5.00")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let members = app
        .get("/api/v1/members", Some(&token))
        .await
        .ok(200)
        .clone();
    let number = members["items"][0]["number"].to_string();
    let unknown = t
        .post(
            "/tresorerie/rapprochement",
            &[("csrf", &csrf), ("ligne", &line), ("adherent", "987654")],
        )
        .await;
    assert!(
        unknown
            .body
            .contains("Aucun adhérent n&#39;a ce numéro ni cette référence de paiement.")
            || unknown
                .body
                .contains("Aucun adhérent n'a ce numéro ni cette référence de paiement."),
        "{}",
        unknown.body
    );
    let matched = t
        .post(
            "/tresorerie/rapprochement",
            &[("csrf", &csrf), ("ligne", &line), ("adherent", &number)],
        )
        .await;
    assert!(
        matched.body.contains("Ligne rapprochée et comptabilisée."),
        "{}",
        matched.body
    );
    let rec = app.get("/api/v1/reconciliation", Some(&token)).await;
    assert_eq!(
        rec.ok(200)["unmatched_bank_lines"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "only the bank fee is left"
    );
    // Without its CSRF token, nothing is matched.
    let refused = t
        .post(
            "/tresorerie/rapprochement",
            &[("ligne", &line), ("adherent", &number)],
        )
        .await;
    assert_eq!(refused.status, 403);

    // Exports: the FEC of the year and the journal.
    let year = caisse::domain::today().format("%Y").to_string();
    let (status, ct, cd, fec) = download(&t, &format!("/tresorerie/fec?annee={year}")).await;
    assert_eq!(status, 200, "{fec}");
    assert!(ct.starts_with("text/plain"), "{ct}");
    assert!(cd.contains("FEC"), "{cd}");
    assert!(
        fec.starts_with("JournalCode\tJournalLib\tEcritureNum\tEcritureDate"),
        "{fec}"
    );
    let (status, _, _, bad) = download(&t, "/tresorerie/fec?annee=deux").await;
    assert_eq!(status, 422, "{bad}");
    let (status, ct, _, journal) = download(&t, "/tresorerie/journal.csv").await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/csv"), "{ct}");
    assert!(journal.starts_with("entry_number,"), "{journal}");
    assert!(journal.contains("18.40"));

    // The same page in English.
    t.get("/langue?l=en&retour=/tresorerie").await;
    let en = t.get("/tresorerie").await;
    for words in [
        "Shop settlements",
        "Past settlements",
        "Bank statement",
        "Bank lines without a match",
        "Download the FEC",
        "Paid to shops",
    ] {
        assert!(en.body.contains(words), "{words}: {}", en.body);
    }

    // A member and a till get 403 on every new route, forms included.
    let (member_email, _) = user(&app, Role::Member, "Curieuse").await;
    let mut m = Agent::new(&app);
    m.login(&member_email, PASSWORD).await;
    let member_csrf = csrf_of(&m.get("/membre").await);
    let mut till_agent = Agent::new(&app);
    till_agent.till_login(&till).await;
    let till_csrf = csrf_of(&till_agent.get("/caisse").await);
    for (agent, csrf) in [(&mut m, member_csrf), (&mut till_agent, till_csrf)] {
        for path in [
            href.as_str(),
            "/tresorerie/fec?annee=2026",
            "/tresorerie/journal.csv",
        ] {
            assert_eq!(download(agent, path).await.0, 403, "{path}");
        }
        let p = agent
            .post("/tresorerie/reglements", &[("csrf", &csrf), ("cutoff", "")])
            .await;
        assert_eq!(p.status, 403);
        let p = agent
            .post(
                "/tresorerie/releves",
                &[("csrf", &csrf), ("statement", &csv)],
            )
            .await;
        assert_eq!(p.status, 403);
    }
    assert_eq!(settlement_count(&app, &token).await, 1);
}

// ---- The browser ----------------------------------------------------------------------------

mod webdriver {
    //! Enough of the W3C WebDriver protocol for these tests, over the project's own `reqwest`
    //! (a client crate would add a second HTTP stack to build for a dozen calls).
    use serde_json::{json, Value};

    const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

    pub struct Driver {
        child: std::process::Child,
        http: reqwest::Client,
        session: String,
        base: String,
    }

    impl Drop for Driver {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn find_program(names: &[&str]) -> Option<String> {
        let path = std::env::var("PATH").unwrap_or_default();
        for name in names {
            for dir in path.split(':').chain(["/usr/bin", "/usr/lib/chromium"]) {
                let p = std::path::Path::new(dir).join(name);
                if p.is_file() {
                    return Some(p.display().to_string());
                }
            }
        }
        None
    }

    /// Headless Chromium through chromedriver. A missing browser fails the test (the README's
    /// test command installs it); `CAISSE_TEST_SKIP_BROWSER=1` marks the browser tests ignored
    /// at build time instead (`browser_tests!`).
    pub async fn start() -> Driver {
        let driver = find_program(&["chromedriver"]);
        let browser = find_program(&["chromium", "chromium-browser"]);
        let (Some(driver), Some(browser)) = (driver, browser) else {
            panic!(
                "chromium and chromedriver are missing: run scripts/test (it installs them), \
                 apt-get install chromium chromium-driver, or set CAISSE_TEST_SKIP_BROWSER=1 \
                 to report the browser tests as skipped"
            );
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let mut driver = Driver {
            child,
            http,
            session: String::new(),
            base,
        };
        for _ in 0..100 {
            if let Ok(r) = driver
                .http
                .get(format!("{}/status", driver.base))
                .send()
                .await
            {
                if r.status().is_success() {
                    break;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let profile = std::env::temp_dir().join(format!(
            "caisse-chromium-{}",
            caisse::domain::new_id("p").to_lowercase()
        ));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": browser,
                "prefs": {"intl.accept_languages": "fr-FR,fr"},
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=412,915",
                         "--lang=fr-FR", format!("--user-data-dir={}", profile.display())]
            }
        }}});
        let v = driver.call("POST", "/session", Some(caps)).await;
        driver.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
            .to_string();
        driver
    }

    impl Driver {
        async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
            let url = format!("{}{path}", self.base);
            let req = match method {
                "GET" => self.http.get(url),
                "DELETE" => self.http.delete(url),
                _ => self.http.post(url).json(&body.unwrap_or(json!({}))),
            };
            let r = req.send().await.expect("WebDriver request");
            let v: Value = r.json().await.expect("WebDriver JSON");
            if v["value"].get("error").is_some() {
                panic!("WebDriver {method} {path}: {}", v["value"]);
            }
            v["value"].clone()
        }

        fn s(&self, rest: &str) -> String {
            format!("/session/{}{rest}", self.session)
        }

        pub async fn goto(&self, url: &str) {
            self.call("POST", &self.s("/url"), Some(json!({"url": url})))
                .await;
        }

        pub async fn url(&self) -> String {
            self.call("GET", &self.s("/url"), None)
                .await
                .as_str()
                .unwrap()
                .to_string()
        }

        pub async fn find(&self, css: &str) -> String {
            let v = self
                .call(
                    "POST",
                    &self.s("/element"),
                    Some(json!({"using": "css selector", "value": css})),
                )
                .await;
            v[ELEMENT]
                .as_str()
                .unwrap_or_else(|| panic!("{css}: {v}"))
                .to_string()
        }

        pub async fn count(&self, css: &str) -> usize {
            self.call(
                "POST",
                &self.s("/elements"),
                Some(json!({"using": "css selector", "value": css})),
            )
            .await
            .as_array()
            .map_or(0, Vec::len)
        }

        /// Types into an element, like a keyboard (or a scanner) would; `\u{E007}` is Enter.
        pub async fn type_in(&self, css: &str, text: &str) {
            let el = self.find(css).await;
            self.call(
                "POST",
                &self.s(&format!("/element/{el}/value")),
                Some(json!({"text": text})),
            )
            .await;
        }

        pub async fn click(&self, css: &str) {
            let el = self.find(css).await;
            self.call("POST", &self.s(&format!("/element/{el}/click")), None)
                .await;
        }

        pub async fn text(&self, css: &str) -> String {
            let el = self.find(css).await;
            self.call("GET", &self.s(&format!("/element/{el}/text")), None)
                .await
                .as_str()
                .unwrap_or_default()
                .to_string()
        }

        pub async fn property(&self, css: &str, name: &str) -> Value {
            let el = self.find(css).await;
            self.call(
                "GET",
                &self.s(&format!("/element/{el}/property/{name}")),
                None,
            )
            .await
        }

        pub async fn script(&self, script: &str) -> Value {
            self.call(
                "POST",
                &self.s("/execute/sync"),
                Some(json!({"script": script, "args": []})),
            )
            .await
        }

        /// Runs an asynchronous script: it ends by calling its last argument with the result.
        pub async fn script_async(&self, script: &str) -> Value {
            self.call(
                "POST",
                &self.s("/execute/async"),
                Some(json!({"script": script, "args": []})),
            )
            .await
        }

        /// Forgets every cookie: the next page is seen as by another person's browser.
        pub async fn delete_cookies(&self) {
            self.call("DELETE", &self.s("/cookie"), None).await;
        }

        /// The browser's Back button.
        pub async fn back(&self) {
            self.call("POST", &self.s("/back"), None).await;
        }

        /// Waits (up to 30 s: CI runs four browsers on two cores) for an element to be there.
        pub async fn wait_for(&self, css: &str) {
            for _ in 0..300 {
                if self.count(css).await > 0 {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            panic!("{css} never appeared on {}", self.url().await);
        }

        /// Saves a PNG of the whole window as `target/screenshots/NAME.png`.
        pub async fn screenshot(&self, name: &str) -> std::path::PathBuf {
            let v = self.call("GET", &self.s("/screenshot"), None).await;
            let png = data_encoding::BASE64
                .decode(v.as_str().unwrap().as_bytes())
                .expect("base64 PNG");
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(format!("{name}.png"));
            std::fs::write(&path, png).unwrap();
            path
        }

        /// The window's size in CSS pixels: a phone, a laptop.
        pub async fn resize(&self, width: u32, height: u32) {
            self.call(
                "POST",
                &self.s("/window/rect"),
                Some(json!({"width": width, "height": height})),
            )
            .await;
        }

        pub async fn close(&self) {
            self.call("DELETE", &self.s(""), None).await;
        }
    }
}

/// axe-core's script (`tests/browser/node_modules/axe-core/axe.min.js`), installed by
/// `npm ci` in `tests/browser` the first time a test needs it (one install for all the tests of
/// the run; `npm ci` installs no browser).
fn axe_source() -> &'static str {
    static AXE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    AXE.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
        let script = dir.join("node_modules/axe-core/axe.min.js");
        if !script.is_file() {
            let status = std::process::Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
                .current_dir(&dir)
                .status()
                .expect("npm (apt-get install npm) to install axe-core in tests/browser");
            assert!(status.success(), "npm ci in tests/browser failed");
        }
        std::fs::read_to_string(&script).expect("axe.min.js")
    })
}

/// Runs axe-core on the page the browser shows and fails on any serious or critical
/// violation (the lesser ones are printed). Any page test can call it.
async fn assert_accessible(browser: &webdriver::Driver, what: &str) {
    let blocking = axe_violations(browser, what).await;
    assert!(
        blocking.is_empty(),
        "{what}: accessibility violations (axe-core): {blocking:#?}"
    );
}

/// axe-core's serious and critical violations on the page the browser shows.
async fn axe_violations(browser: &webdriver::Driver, what: &str) -> Vec<Value> {
    browser
        .script(&format!("{}\n;return 1;", axe_source()))
        .await;
    let found = browser
        .script_async(
            "var done = arguments[arguments.length - 1];\n\
             axe.run(document, {resultTypes: ['violations']})\n\
               .then(function (r) { done(JSON.stringify(r.violations.map(function (v) {\n\
                 return {id: v.id, impact: v.impact, help: v.help,\n\
                         nodes: v.nodes.map(function (n) { return n.target.join(' '); })};\n\
               }))); })\n\
               .catch(function (e) { done('axe failed: ' + e); });",
        )
        .await;
    let text = found.as_str().unwrap_or_default();
    let violations: Vec<Value> = serde_json::from_str(text)
        .unwrap_or_else(|_| panic!("{what}: axe-core did not run: {found}"));
    let (blocking, minor): (Vec<&Value>, Vec<&Value>) = violations
        .iter()
        .partition(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")));
    for v in &minor {
        eprintln!("axe-core, {what}: {v}");
    }
    blocking.into_iter().cloned().collect()
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

/// Reads a QR code with `rqrr`, an independent decoder.
fn decode_qr(svg: &str) -> String {
    let (w, h, pixels) = rasterise(svg);
    let mut img = rqrr::PreparedImage::prepare_from_bitmap(w, h, |x, y| pixels[y * w + x]);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().expect("decodable").1
}

/// The page fits a 320 px wide screen: nothing sticks out sideways (tables scroll in their box).
async fn assert_fits_320(browser: &webdriver::Driver, what: &str) {
    browser.resize(320, 640).await;
    let width = browser
        .script("return document.documentElement.scrollWidth")
        .await;
    let inner = browser.script("return window.innerWidth").await;
    assert!(
        inner.as_u64().unwrap() <= 330,
        "the window is {inner} px wide"
    );
    assert!(
        width.as_u64().unwrap() <= inner.as_u64().unwrap(),
        "{what} is {width} px wide in a {inner} px window"
    );
    browser.resize(412, 915).await;
}

async fn browser_member_till_and_treasurer(app: TestApp) {
    let browser = webdriver::start().await;
    let tag = backend_tag(&app);
    let shot = |name: &str| format!("{tag}-{name}");
    let (member_email, member_id) = user(&app, Role::Member, "Camille Durand").await;
    let member_id = member_id.unwrap();
    issue_allowances(&app).await;
    let base = &app.base;

    // The member signs in, makes a phone card, and sees a QR code that decodes to a payload.
    browser.goto(&format!("{base}/connexion")).await;
    browser.screenshot(&shot("login")).await;
    browser.type_in("#email", &member_email).await;
    browser
        .type_in("#password", &format!("{PASSWORD}\u{E007}"))
        .await;
    browser.wait_for("#balance").await;
    assert!(browser.url().await.ends_with("/membre"));
    // (WebDriver's text turns the no-break space into a space.)
    assert_eq!(browser.text("#balance").await, "150,00 €");
    browser.click("form[action='/membre/carte'] button").await;
    browser.wait_for("#qr svg").await;
    let svg = browser.property("#qr", "innerHTML").await;
    let payload = decode_qr(svg.as_str().unwrap());
    let parts: Vec<&str> = payload.split(':').collect();
    assert_eq!(parts.len(), 3, "{payload}");
    assert_eq!(parts[0], "caisse1");
    assert!(parts[1].starts_with("card_"));
    assert!(parts[2].len() == 8 && parts[2].chars().all(|c| c.is_ascii_digit()));
    // The countdown runs (JavaScript on).
    let countdown = browser.text("#countdown").await;
    assert!(countdown.starts_with("Nouveau code dans "), "{countdown}");
    // The card is this member's.
    let admin = app.login(Role::Admin).await;
    let cards = app
        .get(&format!("/api/v1/members/{member_id}/cards"), Some(&admin))
        .await;
    assert_eq!(cards.ok(200)["items"][0]["card_id"], parts[1]);
    browser.screenshot(&shot("member")).await;
    assert_fits_320(&browser, "the member page").await;
    browser.goto(&format!("{base}/membre/commerces")).await;
    browser.screenshot(&shot("shops")).await;

    // A till pays with that payload typed as a scanner would (the code and Enter).
    let (_, key) = app.terminal_login().await;
    browser.click("form[action='/deconnexion'] button").await;
    browser.wait_for("#till_key").await;
    browser
        .type_in("#till_key", &format!("{key}\u{E007}"))
        .await;
    browser.wait_for("#amount").await;
    browser.type_in("#amount", "12,50\u{E007}").await;
    // Enter in the amount moved on to the code field instead of submitting.
    let active = browser.script("return document.activeElement.id").await;
    assert_eq!(active, "code");
    browser
        .type_in("#code", &format!("{payload}\u{E007}"))
        .await;
    browser.wait_for("#outcome").await;
    assert_eq!(
        browser.property("#outcome", "className").await,
        "outcome approved"
    );
    assert_eq!(browser.text("#remaining").await, "137,50 €");
    browser.screenshot(&shot("till")).await;
    assert_fits_320(&browser, "the till page").await;

    // The same code again: declined, with the reason in plain words.
    browser.type_in("#amount", "5\u{E007}").await;
    browser
        .type_in("#code", &format!("{payload}\u{E007}"))
        .await;
    for _ in 0..300 {
        if browser.count(".outcome.declined").await > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        browser.property("#outcome", "className").await,
        "outcome declined"
    );
    assert!(browser
        .text("#reason")
        .await
        .contains("Ce code a déjà servi"));
    assert_eq!(
        browser.property("#amount", "value").await,
        "5",
        "a decline keeps the amount the cashier typed"
    );
    browser.screenshot(&shot("till-declined")).await;
    let account = app
        .get(
            &format!("/api/v1/members/{member_id}/account"),
            Some(&admin),
        )
        .await;
    assert_eq!(account.ok(200)["balance"], "137.50");

    // The treasurer's dashboard draws its charts.
    let (treasurer_email, _) = user(&app, Role::Treasurer, "").await;
    browser.click("form[action='/deconnexion'] button").await;
    browser.wait_for("#email").await;
    browser.type_in("#email", &treasurer_email).await;
    browser
        .type_in("#password", &format!("{PASSWORD}\u{E007}"))
        .await;
    browser.wait_for("figure.chart svg").await;
    assert!(browser.count("figure.chart svg").await >= 4);
    assert!(browser.count("figure.chart svg rect.bar").await >= 1);
    browser.screenshot(&shot("treasurer")).await;
    assert_fits_320(&browser, "the treasurer's page").await;

    // Committee and admin pages, for the record.
    for (role, path, name) in [
        (Role::Committee, "/comite", "committee"),
        (Role::Admin, "/admin", "admin"),
    ] {
        let (email, _) = user(&app, role, "").await;
        browser.click("form[action='/deconnexion'] button").await;
        browser.wait_for("#email").await;
        browser.type_in("#email", &email).await;
        browser
            .type_in("#password", &format!("{PASSWORD}\u{E007}"))
            .await;
        browser.wait_for("main h1").await;
        assert!(browser.url().await.ends_with(path));
        browser.screenshot(&shot(name)).await;
    }
    browser.close().await;
}

/// The till, as the issue found it: a sale with a printed card, Back, the same sale again. The
/// page after Back is fresh (never cached) and the till saw the first answer, so the second
/// sale is a new one with a new key, and pays. Only a sale whose answer never arrived is sent
/// again with its key: the page then says "Déjà enregistré à HH:MM (heure de la caisse), ce
/// n'est pas un nouveau paiement", never "Paiement accepté", and nothing moves. axe-core at
/// 360 and 1280 px.
async fn browser_till_back_and_resubmit_is_no_new_sale(app: TestApp) {
    let browser = webdriver::start().await;
    let tag = backend_tag(&app);
    let (_, member) = user(&app, Role::Member, "Camille Printed").await;
    let member = member.unwrap();
    issue_allowances(&app).await;
    let admin = app.login(Role::Admin).await;
    let card = app
        .post(
            &format!("/api/v1/members/{member}/cards"),
            Some(&admin),
            json!({"kind": "printed", "pin": "1357"}),
        )
        .await;
    let payload = card.ok(201)["qr_payload"].as_str().unwrap().to_string();
    let balance = || async {
        let r = app
            .get(&format!("/api/v1/members/{member}/account"), Some(&admin))
            .await;
        r.ok(200)["balance"].as_str().unwrap().to_string()
    };
    let (_, key) = app.terminal_login().await;
    let base = &app.base;
    browser.resize(360, 800).await;
    browser.goto(&format!("{base}/connexion")).await;
    browser.wait_for("#till_key").await;
    browser
        .type_in("#till_key", &format!("{key}\u{E007}"))
        .await;
    browser.wait_for("#amount").await;
    assert_accessible(&browser, "the till page, 360 px").await;
    // A sale as the till types it: the amount, the PIN, the scanned card and Enter.
    let sell = |amount: &'static str| {
        let (browser, payload) = (&browser, payload.clone());
        async move {
            browser.wait_for("#amount").await;
            browser.type_in("#amount", amount).await;
            browser.type_in("#pin", "1357").await;
            browser
                .type_in("#code", &format!("{payload}\u{E007}"))
                .await;
            browser.wait_for("#outcome").await;
            browser
                .property("#outcome", "className")
                .await
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    assert_eq!(sell("4,20").await, "outcome approved");
    assert_eq!(balance().await, "145.80");
    let sent_key = browser
        .script("return document.getElementById('idem').value")
        .await;

    // Back to the till's form: a fresh page with a key of its own. The till saw the first
    // answer, so the same amount and card again are a new sale, and it pays.
    let back_to_the_form = || async {
        browser.back().await;
        for _ in 0..300 {
            if browser.count("#outcome").await == 0 && browser.count("#amount").await == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(browser.count("#outcome").await, 0, "Back shows the form");
    };
    assert!(
        browser.url().await.ends_with("/caisse"),
        "the answer took the till's address"
    );
    back_to_the_form().await;
    let drawn = browser
        .script("return document.getElementById('pay').getAttribute('data-idem')")
        .await;
    assert_ne!(drawn, sent_key, "the page after Back drew a key of its own");
    assert_eq!(sell("4,20").await, "outcome approved");
    assert_eq!(balance().await, "141.60");

    // A sale whose answer is lost: the form is sent (its submit handler picks the key) but the
    // page never shows the answer, as when the network drops it. The payment went through.
    browser.goto(&format!("{base}/caisse")).await;
    browser.wait_for("#amount").await;
    browser.type_in("#amount", "4,20").await;
    browser.type_in("#pin", "1357").await;
    browser.type_in("#code", &payload).await;
    let lost = browser
        .script_async(
            "var done = arguments[arguments.length - 1];\n\
             var f = document.getElementById('pay');\n\
             f.dispatchEvent(new Event('submit', {cancelable: true}));\n\
             fetch(f.action, {method: 'POST', credentials: 'same-origin',\n\
                              body: new URLSearchParams(new FormData(f))})\n\
               .then(function (r) { done(r.status); }, function (e) { done(String(e)); });",
        )
        .await;
    assert_eq!(lost, 200, "the lost answer's request went through");
    assert_eq!(balance().await, "137.40");
    // The cashier, who saw no answer, types the same sale again on a fresh till page: the same
    // key goes out, and the till says it was already recorded, at what time; nothing moves.
    browser.goto(&format!("{base}/caisse")).await;
    assert_eq!(sell("4,20").await, "outcome replayed");
    let sales = app.get("/api/v1/redemptions?limit=10", Some(&key)).await;
    let first_at = sales.ok(200)["items"][0]["created_at"]
        .as_str()
        .unwrap()
        .to_string();
    let clock = caisse::domain::local_clock(&first_at).unwrap();
    let said = browser.text("#outcome .verdict").await;
    assert_eq!(
        said,
        format!(
            "⚠ Déjà enregistré à {clock} (heure de la caisse), ce n'est pas un nouveau paiement"
        )
    );
    assert!(!browser.text("#outcome").await.contains("Paiement accepté"));
    assert_eq!(balance().await, "137.40", "a replay moves nothing");
    assert_eq!(sales.body["items"].as_array().unwrap().len(), 3);
    assert_accessible(&browser, "the till's replay answer, 360 px").await;
    browser
        .screenshot(&format!("{tag}-till-replayed-360"))
        .await;
    assert_fits_320(&browser, "the till's replay answer").await;
    browser.resize(1280, 900).await;
    assert_accessible(&browser, "the till's replay answer, 1280 px").await;
    browser
        .screenshot(&format!("{tag}-till-replayed-1280"))
        .await;

    // Once the till has said "déjà enregistré", the same sale typed again is a new sale.
    assert_eq!(sell("4,20").await, "outcome approved");
    assert_eq!(balance().await, "133.20");
    // Back, and another sale there has a new key and pays.
    back_to_the_form().await;
    assert_eq!(sell("1,00").await, "outcome approved");
    assert_eq!(balance().await, "132.20");
    assert_accessible(&browser, "the till's approved answer, 1280 px").await;
    browser.screenshot(&format!("{tag}-till-1280")).await;
    browser.resize(360, 800).await;
    browser.screenshot(&format!("{tag}-till-360")).await;
    assert_accessible(&browser, "the till's approved answer, 360 px").await;
    // The check can fail: a field without a label is a critical violation.
    browser
        .script(
            "document.getElementById('pay').appendChild(document.createElement('input')); return 1",
        )
        .await;
    let found = axe_violations(&browser, "a till page with an unlabelled field").await;
    assert!(found.iter().any(|v| v["id"] == "label"), "{found:?}");
    let v = app.get("/api/v1/ledger/verification", Some(&admin)).await;
    assert_eq!(v.ok(200)["clean"], true);
    browser.close().await;
}

/// The login page as a volunteer meets it: a wrong password keeps the email typed and says
/// so in French; five failures and the page says to wait, even for the right password. axe-core
/// and screenshots at 360 and 1280 px.
async fn browser_login_keeps_the_email_and_says_when_to_wait(app: TestApp) {
    let browser = webdriver::start().await;
    let tag = backend_tag(&app);
    let (email, _) = user(&app, Role::Treasurer, "").await;
    let base = &app.base;
    browser.resize(360, 800).await;
    browser.goto(&format!("{base}/connexion")).await;
    browser.wait_for("#email").await;
    assert_accessible(&browser, "the login page, 360 px").await;
    let attempt = |password: &'static str| {
        let (browser, email) = (&browser, email.clone());
        async move {
            browser.wait_for("#password").await;
            // The field keeps what was typed before: clear it as a person would.
            browser
                .script("document.getElementById('email').value = ''; return 1")
                .await;
            browser.type_in("#email", &email).await;
            browser
                .type_in("#password", &format!("{password}\u{E007}"))
                .await;
            for _ in 0..300 {
                if browser.count(".notice").await > 0 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            browser.text(".notice").await
        }
    };
    assert_eq!(
        attempt("not-the-password").await,
        "Adresse e-mail ou mot de passe incorrect."
    );
    assert_eq!(
        browser.property("#email", "value").await,
        email.as_str(),
        "the email typed is kept"
    );
    assert_eq!(browser.property("#password", "value").await, "");
    browser.screenshot(&format!("{tag}-login-wrong-360")).await;
    assert_accessible(&browser, "the login page after a wrong password, 360 px").await;
    for _ in 0..4 {
        attempt("not-the-password").await;
    }
    let said = attempt(PASSWORD).await;
    assert!(
        said.starts_with("Trop de tentatives de connexion."),
        "{said}"
    );
    assert_eq!(browser.property("#email", "value").await, email.as_str());
    assert_accessible(&browser, "the login page, too many attempts, 360 px").await;
    assert_fits_320(&browser, "the login page").await;
    browser
        .screenshot(&format!("{tag}-login-limited-360"))
        .await;
    browser.resize(1280, 900).await;
    assert_accessible(&browser, "the login page, too many attempts, 1280 px").await;
    browser
        .screenshot(&format!("{tag}-login-limited-1280"))
        .await;
    browser.close().await;
}

/// Waits until `css` is on the page (a form's answer arrived).
async fn wait_until(browser: &webdriver::Driver, css: &str) {
    for _ in 0..300 {
        if browser.count(css).await > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{css} never appeared");
}

/// The admin invites a member by number (no mail server: the page shows the link to hand
/// over), the member opens it on a phone, chooses a password and lands on their page; the
/// "mot de passe oublié" page says whom to ask. Each page at 360 px and 1280 px, with axe-core.
async fn browser_an_admin_invites_and_the_person_chooses_a_password(app: TestApp) {
    let browser = webdriver::start().await;
    let tag = backend_tag(&app);
    let base = &app.base;
    let (admin, _) = user(&app, Role::Admin, "").await;
    let member = app.new_member("Awa Diallo").await;
    let token = app.login(Role::Admin).await;
    let number = app
        .get(&format!("/api/v1/members/{member}"), Some(&token))
        .await
        .ok(200)["number"]
        .as_i64()
        .unwrap();

    browser.resize(1280, 900).await;
    browser.goto(&format!("{base}/connexion")).await;
    browser.wait_for("#email").await;
    browser.type_in("#email", &admin).await;
    browser
        .type_in("#password", &format!("{PASSWORD}\u{E007}"))
        .await;
    wait_until(&browser, "nav a[href='/admin/personnes']").await;
    browser.goto(&format!("{base}/admin/personnes")).await;
    browser.wait_for("#i-email").await;
    assert_accessible(&browser, "the people page, 1280 px").await;

    // A member number that does not exist: refused in words, what was typed kept.
    browser.type_in("#i-email", "awa@web.caisse.fr").await;
    browser.type_in("#i-member", "9999").await;
    browser
        .click("form[action='/admin/personnes'] button")
        .await;
    wait_until(&browser, ".notice.bad").await;
    let said = browser.text(".notice.bad").await;
    assert!(said.contains("adhérent"), "{said}");
    assert_eq!(
        browser.property("#i-email", "value").await,
        "awa@web.caisse.fr"
    );
    browser
        .script("document.getElementById('i-member').value = ''; return 1")
        .await;
    browser.type_in("#i-member", &number.to_string()).await;
    browser
        .click("form[action='/admin/personnes'] button")
        .await;
    wait_until(&browser, "#handover").await;
    let link = browser.property("#handover", "value").await;
    let link = link.as_str().unwrap().to_string();
    assert!(link.contains("/mot-de-passe/"), "{link}");
    assert!(browser.text("table").await.contains("awa@web.caisse.fr"));
    browser
        .screenshot(&format!("{tag}-people-invited-1280"))
        .await;
    browser.resize(360, 800).await;
    assert_accessible(&browser, "the people page with a link to hand over, 360 px").await;
    assert_fits_320(&browser, "the people page").await;
    browser
        .screenshot(&format!("{tag}-people-invited-360"))
        .await;

    // The member, on their phone: another browser session.
    browser.delete_cookies().await;
    let path = link.split_once("/mot-de-passe/").unwrap().1;
    browser.goto(&format!("{base}/mot-de-passe/{path}")).await;
    browser.wait_for("#password").await;
    assert_eq!(
        browser.property("#email", "value").await,
        "awa@web.caisse.fr"
    );
    assert_accessible(&browser, "choosing a password, 360 px").await;
    assert_fits_320(&browser, "choosing a password").await;
    browser
        .screenshot(&format!("{tag}-choose-password-360"))
        .await;
    browser
        .type_in("#password", "le marché du samedi matin")
        .await;
    browser
        .type_in("#password_confirmation", "le marché du dimanche\u{E007}")
        .await;
    wait_until(&browser, ".notice.bad").await;
    assert!(browser.text(".notice.bad").await.contains("confirmation"));
    browser
        .screenshot(&format!("{tag}-choose-password-mismatch-360"))
        .await;
    browser
        .type_in("#password", "le marché du samedi matin")
        .await;
    browser
        .type_in(
            "#password_confirmation",
            "le marché du samedi matin\u{E007}",
        )
        .await;
    wait_until(&browser, "#balance").await;
    assert!(browser.url().await.ends_with("/membre"));
    browser.resize(1280, 900).await;
    browser.goto(&format!("{base}/mot-de-passe/{path}")).await;
    wait_until(&browser, ".notice.bad").await;
    assert!(browser
        .text(".notice.bad")
        .await
        .starts_with("Ce lien ne marche plus"));
    assert_accessible(&browser, "a used link, 1280 px").await;

    browser.delete_cookies().await;
    browser.goto(&format!("{base}/mot-de-passe-oublie")).await;
    browser.wait_for("#no-mail").await;
    assert_accessible(&browser, "forgotten password, 1280 px").await;
    let said = browser.text("#no-mail").await;
    assert!(said.contains("n'envoie pas d'e-mails"), "{said}");
    browser.screenshot(&format!("{tag}-forgot-1280")).await;
    browser.resize(360, 800).await;
    assert_accessible(&browser, "forgotten password, 360 px").await;
    assert_fits_320(&browser, "forgotten password").await;
    browser.screenshot(&format!("{tag}-forgot-360")).await;
    browser.close().await;
}

/// The admin gives a committee member the treasurer's role (a page says what it changes
/// first), disables their login (the row's `<details>` says what happens; their open token
/// stops working) and enables it again; the admin's own row has none of these controls. Each
/// step at 360 px and 1280 px, with axe-core.
async fn browser_an_admin_changes_a_role_and_disables_a_login(app: TestApp) {
    let browser = webdriver::start().await;
    let tag = backend_tag(&app);
    let base = &app.base;
    let admin = app.person(Role::Admin).await;
    let other = app.person(Role::Committee).await;
    app.person(Role::Member).await;
    let id = &other.id;
    let row = |what: &str| format!("form[action='/admin/personnes/{id}/{what}'] button");

    browser.resize(1280, 900).await;
    browser.goto(&format!("{base}/connexion")).await;
    browser.wait_for("#email").await;
    browser.type_in("#email", &admin.email).await;
    browser
        .type_in("#password", &format!("{PASSWORD}\u{E007}"))
        .await;
    wait_until(&browser, "nav a[href='/admin/personnes']").await;
    browser.goto(&format!("{base}/admin/personnes")).await;
    browser.wait_for(&format!("#r-{id}")).await;
    // One's own row: no role to change, no login to disable.
    let mine = admin.id.as_str();
    for what in ["role", "desactiver"] {
        let css = format!("form[action='/admin/personnes/{mine}/{what}']");
        assert_eq!(browser.count(&css).await, 0, "{css} on one's own row");
    }
    assert_accessible(&browser, "the people page with role controls, 1280 px").await;
    show_people(&browser).await;
    browser
        .screenshot(&format!("{tag}-people-roles-1280"))
        .await;

    // A new role: a page says what it changes, then the change.
    browser
        .script(&format!(
            "document.getElementById('r-{id}').value = 'treasurer'; return 1"
        ))
        .await;
    browser.click(&row("role")).await;
    wait_until(&browser, "#confirm-h").await;
    let said = browser.text("main").await;
    assert!(
        said.contains("« trésorerie » au lieu de « comité »"),
        "{said}"
    );
    browser.resize(360, 800).await;
    assert_accessible(&browser, "confirming a new role, 360 px").await;
    assert_fits_320(&browser, "confirming a new role").await;
    browser
        .screenshot(&format!("{tag}-people-role-confirm-360"))
        .await;
    browser.click(&row("role")).await;
    wait_for_notice(&browser, "a maintenant le rôle « trésorerie »").await;
    assert_eq!(
        browser.property(&format!("#r-{id}"), "value").await,
        "treasurer"
    );
    app.get("/api/v1/ledger/trial-balance", Some(&other.token))
        .await
        .ok(200);

    // Disabling: the row's details say what happens; the open token dies at once.
    let summary = format!("details:has(form[action='/admin/personnes/{id}/desactiver']) summary");
    browser.click(&summary).await;
    let what = browser
        .text(&format!(
            "details:has(form[action='/admin/personnes/{id}/desactiver']) p"
        ))
        .await;
    assert!(
        what.contains("ne pourra plus se connecter ; ses sessions ouvertes sont fermées"),
        "{what}"
    );
    assert_accessible(&browser, "disabling a login, 360 px").await;
    assert_fits_320(&browser, "the people page").await;
    show_people(&browser).await;
    browser
        .screenshot(&format!("{tag}-people-disable-360"))
        .await;
    browser.click(&row("desactiver")).await;
    wait_for_notice(&browser, "est désactivé·e").await;
    let table = browser.text("table").await;
    assert!(table.contains("désactivé·e depuis le"), "{table}");
    app.get("/api/v1/ledger/trial-balance", Some(&other.token))
        .await
        .problem(401, "unauthenticated");
    assert_accessible(&browser, "a disabled login, 360 px").await;
    show_people(&browser).await;
    browser
        .screenshot(&format!("{tag}-people-disabled-360"))
        .await;
    browser.resize(1280, 900).await;
    assert_accessible(&browser, "a disabled login, 1280 px").await;
    show_people(&browser).await;
    browser
        .screenshot(&format!("{tag}-people-disabled-1280"))
        .await;

    // Enabled again: the person signs in with their password.
    browser
        .click(&format!(
            "details:has(form[action='/admin/personnes/{id}/reactiver']) summary"
        ))
        .await;
    browser.click(&row("reactiver")).await;
    wait_for_notice(&browser, "peut de nouveau se connecter").await;
    assert!(!browser.text("table").await.contains("désactivé·e depuis"));
    app.post(
        "/api/v1/sessions",
        None,
        json!({"email": other.email, "password": PASSWORD}),
    )
    .await
    .ok(201);
    browser.close().await;
}

/// Scrolls the list of people into view, for a screenshot.
async fn show_people(browser: &webdriver::Driver) {
    browser
        .script("document.getElementById('people-h').scrollIntoView(); return 1")
        .await;
}

/// Waits until the page says `words` in a good notice (the page before the form's answer may
/// show another one).
async fn wait_for_notice(browser: &webdriver::Driver, words: &str) {
    let mut said = Value::Null;
    for _ in 0..300 {
        said = browser
            .script("var n = document.querySelector('.notice.good'); return n ? n.textContent : ''")
            .await;
        if said.as_str().is_some_and(|s| s.contains(words)) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no notice saying {words:?}; the last one said {said}");
}

/// The demo fund (`caisse demo`) seen by its member, committee and treasurer: the pages the
/// README shows, with months of history.
async fn browser_demo_fund_pages(app: TestApp) {
    let browser = webdriver::start().await;
    let tag = backend_tag(&app);
    caisse::service::demo::fill(
        &app.db,
        &app.fund_id,
        "127.0.0.1:8080".parse().unwrap(),
        &app.card_key,
    )
    .await
    .expect("demo data");
    let base = &app.base;
    let password = caisse::service::demo::DEMO_PASSWORD;
    let mut first = true;
    for (email, role) in caisse::service::demo::DEMO_LOGINS {
        if first {
            browser.goto(&format!("{base}/connexion")).await;
            first = false;
        } else {
            browser.click("form[action='/deconnexion'] button").await;
        }
        browser.wait_for("#email").await;
        browser.type_in("#email", email).await;
        browser
            .type_in("#password", &format!("{password}\u{E007}"))
            .await;
        browser.wait_for("main h1").await;
        match role {
            Role::Member => {
                browser.wait_for("#qr svg").await;
                let svg = browser.property("#qr", "innerHTML").await;
                assert!(decode_qr(svg.as_str().unwrap()).starts_with("caisse1:card_"));
                assert!(browser.count("tbody tr").await > 0, "a history");
                browser.screenshot(&format!("{tag}-demo-member")).await;
                // The code refreshes itself as the 30-second step turns: a new code, same card.
                let before = decode_qr(svg.as_str().unwrap());
                let mut after = before.clone();
                for _ in 0..350 {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    let now = browser.property("#qr", "innerHTML").await;
                    after = decode_qr(now.as_str().unwrap());
                    if after != before {
                        break;
                    }
                }
                assert_ne!(after, before, "the QR code never changed");
                let (b, a): (Vec<&str>, Vec<&str>) =
                    (before.split(':').collect(), after.split(':').collect());
                assert_eq!(a[1], b[1], "the same card");
                assert_ne!(a[2], b[2], "a new code");
                // The printable card: a printed card's static payload.
                browser.goto(&format!("{base}/membre/carte")).await;
                browser.wait_for(".printcard svg").await;
                let svg = browser.property(".printcard .qr", "innerHTML").await;
                let printed = decode_qr(svg.as_str().unwrap());
                assert_eq!(printed.split(':').count(), 2, "{printed}");
                browser
                    .screenshot(&format!("{tag}-demo-printable-card"))
                    .await;
            }
            Role::Treasurer => {
                // The treasurer works on a laptop.
                browser.resize(1280, 1000).await;
                browser.wait_for("#coverage").await;
                let coverage = browser.text("#coverage").await;
                assert!(coverage.ends_with('%') && coverage != "0,0 %", "{coverage}");
                assert!(browser.count("figure.chart rect.bar").await > 4);
                browser.screenshot(&format!("{tag}-demo-treasurer")).await;
                // The demo's month end: a settlement with its SEPA link, and what is left to
                // reconcile.
                assert!(browser.count("#settlements a[href$='/sepa.xml']").await >= 1);
                assert!(
                    browser.count("#unmatched tbody tr, #unpaid tbody tr").await >= 1,
                    "the demo leaves something to reconcile"
                );
                // A statement file chosen in the picker is read into the text area.
                let file = std::env::temp_dir().join(format!("{tag}-releve.csv"));
                std::fs::write(&file, "date,amount,reference,counterparty\n").unwrap();
                browser
                    .type_in("#statement-file", file.to_str().unwrap())
                    .await;
                let mut read = serde_json::Value::Null;
                for _ in 0..50 {
                    read = browser.property("#statement", "value").await;
                    if read.as_str().is_some_and(|v| v.starts_with("date,amount")) {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                assert_eq!(read, "date,amount,reference,counterparty\n");
                browser
                    .script("document.getElementById('settle-h').scrollIntoView(); return 0")
                    .await;
                browser
                    .screenshot(&format!("{tag}-demo-treasurer-month-end"))
                    .await;
                browser.resize(412, 915).await;
            }
            Role::Committee => {
                browser.screenshot(&format!("{tag}-demo-committee")).await;
            }
            Role::Admin => {
                assert!(browser.count("form[action='/admin/reglages']").await == 1);
                browser.screenshot(&format!("{tag}-demo-admin")).await;
            }
            Role::Terminal => unreachable!("no till login in the demo logins"),
        }
    }
    browser.close().await;
}

/// The hostile statements of the API tests, pasted into the treasurer's form; a NUL in a login;
/// deep JSON in the fund's rules. Each is refused in French, nothing changes, and the pages
/// keep being served.
async fn hostile_input_through_the_forms(app: TestApp) {
    let token = app.login(Role::Treasurer).await;
    let (treasurer, _) = user(&app, Role::Treasurer, "").await;
    let mut t = Agent::new(&app);
    t.login(&treasurer, PASSWORD).await;
    let csrf = csrf_of(&t.get("/tresorerie").await);
    for (what, _, body, _, code) in common::hostile::statements() {
        let page = t
            .post(
                "/tresorerie/releves",
                &[("csrf", &csrf), ("statement", &body)],
            )
            .await;
        if body.contains('\0') {
            assert_eq!(page.status, 422, "{what}");
            assert!(
                page.body
                    .contains("Le champ « statement » contient un caractère interdit"),
                "{what}: {}",
                page.body
            );
        } else {
            let words = match code {
                "input_too_deep" => "imbrique beaucoup trop de niveaux",
                "statement_invalid" => "Le relevé contient une ligne invalide",
                "payload_too_large" => "Le relevé est trop grand",
                other => panic!("{other}"),
            };
            assert_eq!(page.status, 200, "{what}");
            assert!(page.body.contains("id=\"import-error\""), "{what}");
            assert!(page.body.contains(words), "{what}: {}", page.body);
        }
        assert_eq!(t.get("/tresorerie").await.status, 200, "after {what}");
    }
    let rec = app.get("/api/v1/reconciliation", Some(&token)).await;
    assert_eq!(rec.ok(200)["unmatched_bank_lines"], json!([]));

    // A NUL in the login form: 422 naming the field, no session.
    let mut anon = Agent::new(&app);
    let csrf = anon.get("/connexion").await.field("csrf");
    let page = anon
        .post(
            "/connexion",
            &[("csrf", &csrf), ("email", "a\u{0}@x.fr"), ("password", "x")],
        )
        .await;
    assert_eq!(page.status, 422);
    assert!(page
        .body
        .contains("Le champ « email » contient un caractère interdit"));
    assert!(!anon.cookies.contains_key("caisse_sid"));

    // Deep JSON in the fund's rules: refused in French, the rules unchanged.
    let (admin, _) = user(&app, Role::Admin, "").await;
    let mut a = Agent::new(&app);
    a.login(&admin, PASSWORD).await;
    let page = a.get("/admin").await;
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let refused = a
        .post(
            "/admin/reglages",
            &[
                ("csrf", &csrf_of(&page)),
                ("fund_name", "Caisse profonde"),
                ("first_person", "1"),
                ("additional_adult", "1"),
                ("child", "1"),
                ("pin_attempts", "4"),
                ("contribution_scale", &deep),
                ("criteria", "[]"),
            ],
        )
        .await;
    assert!(
        refused.body.contains("imbrique beaucoup trop de niveaux"),
        "{}",
        refused.body
    );
    let admin_token = app.login(Role::Admin).await;
    let settings = app.get("/api/v1/settings", Some(&admin_token)).await;
    assert_ne!(settings.ok(200)["fund_name"], "Caisse profonde");
    assert_eq!(a.get("/admin").await.status, 200);
}

/// The API and the login page count failures together: five wrong passwords, some through
/// each, and the sixth attempt is refused on both, the right password too, in French on the
/// page, with Retry-After.
async fn web_and_api_logins_share_one_limiter(app: TestApp) {
    let (email, _) = user(&app, Role::Treasurer, "").await;
    for _ in 0..3 {
        let r = app
            .post(
                "/api/v1/sessions",
                None,
                json!({"email": email, "password": "wrong-password-1"}),
            )
            .await;
        r.problem(401, "invalid_credentials");
    }
    let mut a = Agent::new(&app);
    for _ in 0..2 {
        assert_eq!(a.login(&email, "wrong-password-1").await.status, 401);
    }
    let page = a.login(&email, PASSWORD).await;
    assert_eq!(page.status, 429);
    assert!(
        page.body.contains("même le bon mot de passe est refusé"),
        "{}",
        page.body
    );
    assert!(!a.cookies.contains_key("caisse_sid"));
    let r = app
        .post(
            "/api/v1/sessions",
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    r.problem(429, "too_many_attempts");
    let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait));
}

/// Chooses `path` in the import form's file picker and waits for `import.js` to have read it.
async fn choose_import_file(browser: &webdriver::Driver, path: &str) {
    browser
        .script("document.getElementById('import-content').value = ''; return 1")
        .await;
    browser.type_in("#import-file", path).await;
    for _ in 0..100 {
        let read = browser
            .script("return document.getElementById('import-content').value.length")
            .await;
        if read.as_i64().unwrap_or(0) > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("import.js did not read {path}");
}

async fn browser_an_admin_imports_a_member_list(app: TestApp) {
    let browser = webdriver::start().await;
    let tag = backend_tag(&app);
    let base = &app.base;
    let (admin, _) = user(&app, Role::Admin, "").await;
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/import/");
    let bad = std::env::temp_dir().join(format!(
        "{}-membres-erreurs.csv",
        caisse::domain::new_id("t")
    ));
    std::fs::write(
        &bad,
        "Nom;Prénom;Adultes;Enfants;Revenu;Email\n\
         Diallo;Awa;2;3;1 234,50;awa@example.org\n\
         Petit;Jean;deux;0;beaucoup;jean@example\n",
    )
    .unwrap();

    browser.resize(1280, 900).await;
    browser.goto(&format!("{base}/connexion")).await;
    browser.wait_for("#email").await;
    browser.type_in("#email", &admin).await;
    browser
        .type_in("#password", &format!("{PASSWORD}\u{E007}"))
        .await;
    wait_until(&browser, "nav a[href='/admin/personnes']").await;
    browser.click("a[href='/admin/import']").await;
    wait_until(&browser, "#import-file").await;
    assert_accessible(&browser, "the import page, 1280 px").await;

    // A file with a bad line: every problem named in French, no button to import.
    choose_import_file(&browser, bad.to_str().unwrap()).await;
    browser.click("form[action='/admin/import'] button").await;
    wait_until(&browser, "ul.problems").await;
    let said = browser.text("table.stack").await;
    assert!(
        said.contains("Le nombre d'adultes : un nombre entier est attendu"),
        "{said}"
    );
    assert!(
        said.contains("Le revenu mensuel : un montant en euros est attendu"),
        "{said}"
    );
    assert!(said.contains("L'adresse e-mail : valeur refusée"), "{said}");
    assert_eq!(
        browser
            .count("form[action='/admin/import/confirmer']")
            .await,
        0
    );
    assert_accessible(&browser, "a dry run with problems, 1280 px").await;
    browser
        .screenshot(&format!("{tag}-import-problems-1280"))
        .await;
    browser.resize(360, 800).await;
    assert_accessible(&browser, "a dry run with problems, 360 px").await;
    browser
        .screenshot(&format!("{tag}-import-problems-360"))
        .await;
    assert_fits_320(&browser, "a dry run with problems").await;

    // The list saved by LibreOffice: three members, then imported once.
    choose_import_file(&browser, &format!("{fixtures}membres.ods")).await;
    browser.click("form[action='/admin/import'] button").await;
    wait_until(&browser, "form[action='/admin/import/confirmer']").await;
    assert!(browser
        .text("table.stack")
        .await
        .contains("2 adulte(s), 3 enfant(s)"));
    assert_accessible(&browser, "a dry run ready to import, 360 px").await;
    assert_fits_320(&browser, "a dry run ready to import").await;
    browser.screenshot(&format!("{tag}-import-ready-360")).await;
    browser.resize(1280, 900).await;
    assert_accessible(&browser, "a dry run ready to import, 1280 px").await;
    browser
        .screenshot(&format!("{tag}-import-ready-1280"))
        .await;
    let button = browser
        .text("form[action='/admin/import/confirmer'] button")
        .await;
    assert_eq!(button, "Importer les 3 adhérent·es");
    browser
        .click("form[action='/admin/import/confirmer'] button")
        .await;
    wait_until(&browser, ".notice.good").await;
    let done = browser.text(".notice.good").await;
    assert!(done.starts_with("3 adhérent·es importé·es"), "{done}");
    assert_accessible(&browser, "an import done, 1280 px").await;
    browser.screenshot(&format!("{tag}-import-done-1280")).await;

    // The same file again: its people are members now, the dry run says so and offers nothing.
    choose_import_file(&browser, &format!("{fixtures}membres.ods")).await;
    browser.click("form[action='/admin/import'] button").await;
    wait_until(&browser, "ul.problems").await;
    assert!(browser
        .text("table.stack")
        .await
        .contains("déjà adhérent·e"));
    assert_eq!(
        browser
            .count("form[action='/admin/import/confirmer']")
            .await,
        0
    );
    let token = app.login(Role::Admin).await;
    let listed = app.get("/api/v1/members?limit=100", Some(&token)).await;
    let members = listed.ok(200)["items"].as_array().map_or(0, Vec::len);
    assert_eq!(members, 3, "{:?}", listed.body);
    std::fs::remove_file(bad).ok();
    browser.close().await;
}
