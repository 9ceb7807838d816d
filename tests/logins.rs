//! Logins for people: an invitation link to choose one's own password, "mot de passe oublié",
//! the links' expiry, replacement and single use, with the emails sent through a real SMTP
//! peer (aiosmtpd) and the pages posted as a browser would.

mod common;

use caisse::caller::Caller;
use caisse::domain::{FundId, Role, UserId};
use caisse::mail::Mailer;
use caisse::service::links;
use common::agent::Agent;
use common::smtp::{body_text, SmtpPeer};
use common::{spawn_app_with, TestApp, PASSWORD};
use serde_json::json;

both_backends!(
    an_invitation_by_email_lets_a_person_choose_their_password,
    a_forgotten_password_gets_a_link_by_email,
    links_expire_and_a_newer_one_replaces_the_older,
    a_link_works_once_even_opened_twice_at_once,
    without_a_mail_server_the_page_says_whom_to_ask,
);

const NEW_PASSWORD: &str = "une phrase facile à retenir";

/// The admin who invites (the links record who made them).
fn admin(app: &TestApp) -> Caller {
    Caller::User {
        fund: FundId::new(app.fund_id.clone()),
        user: UserId::new("usr_admin_of_the_test"),
        role: Role::Admin,
        member: None,
    }
}

/// The token in the link of an email.
fn token_in(raw: &str) -> String {
    let text = body_text(raw);
    let start = text
        .find(links::LINK_PATH)
        .unwrap_or_else(|| panic!("no link in {text}"))
        + links::LINK_PATH.len();
    text[start..]
        .split(|c: char| c.is_whitespace())
        .next()
        .unwrap()
        .to_string()
}

async fn api_login(app: &TestApp, email: &str, password: &str) -> u16 {
    app.post(
        "/api/v1/sessions",
        None,
        json!({"email": email, "password": password}),
    )
    .await
    .status
    .as_u16()
}

/// Posts the password form of a link, as the page's form would.
async fn choose(
    agent: &mut Agent,
    token: &str,
    password: &str,
    again: &str,
) -> common::agent::Page {
    let path = format!("{}{token}", links::LINK_PATH);
    let page = agent.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page.field("csrf");
    agent
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("password", password),
                ("password_confirmation", again),
            ],
        )
        .await
}

async fn an_invitation_by_email_lets_a_person_choose_their_password(app: TestApp) {
    let peer = SmtpPeer::start().await;
    let mailer = Mailer::from_config(Some(&peer.url()), Some("Caisse <caisse@test.caisse.fr>"))
        .unwrap()
        .unwrap();
    let email = "tresoriere@test.caisse.fr";
    let link = links::invite(&app.db, &admin(&app), email, Role::Treasurer, None)
        .await
        .unwrap();
    assert!(
        links::send(Some(&mailer), &link, "Caisse de Lyon", &app.base)
            .await
            .unwrap()
    );
    let mail = &peer.wait_for(1).await[0];
    assert!(mail.contains("To: tresoriere@test.caisse.fr"), "{mail}");
    let text = body_text(mail);
    assert!(text.contains("choisir votre mot de passe"), "{text}");
    assert!(text.contains("Caisse de Lyon"), "{text}");
    let token = token_in(mail);
    assert_eq!(token, link.token);

    // Nobody can sign in before the person chose a password.
    assert_eq!(api_login(&app, email, PASSWORD).await, 401);

    let mut agent = Agent::new(&app);
    let page = agent.get(&format!("{}{token}", links::LINK_PATH)).await;
    assert!(
        page.body.contains(email),
        "the page shows whose login it is"
    );
    assert!(page.body.contains("(heure de la caisse)"), "{}", page.body);

    // Two different passwords: refused, in French, naming the confirmation.
    let refused = choose(&mut agent, &token, NEW_PASSWORD, "autre chose encore").await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.body.contains("la confirmation du mot de passe"),
        "{}",
        refused.body
    );
    let short = choose(&mut agent, &token, "court", "court").await;
    assert_eq!(short.status, 422);
    assert!(short.body.contains("le mot de passe"), "{}", short.body);

    // The right form signs the person in, on their own home page.
    let done = choose(&mut agent, &token, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/tresorerie"));
    assert!(agent.get("/tresorerie").await.status == 200);
    assert_eq!(api_login(&app, email, NEW_PASSWORD).await, 201);

    // The link worked once.
    let again = agent.get(&format!("{}{token}", links::LINK_PATH)).await;
    assert_eq!(again.status, 410);
    assert!(
        again.body.contains("Ce lien ne marche plus"),
        "{}",
        again.body
    );
}

async fn a_forgotten_password_gets_a_link_by_email(app: TestApp) {
    let peer = SmtpPeer::start().await;
    let app = with_mail(app, &peer).await;
    let email = "membre-oublieux@test.caisse.fr";
    let member = app.new_member("Membre oublieux").await;
    caisse::service::users::create(
        &app.db,
        &app.fund(),
        email,
        PASSWORD,
        Role::Member,
        Some(&caisse::domain::MemberId::new(member.clone())),
    )
    .await
    .unwrap();

    let mut agent = Agent::new(&app);
    let login = agent.get("/connexion").await;
    assert!(
        login.body.contains("/mot-de-passe-oublie"),
        "the login page offers it"
    );
    let page = agent.get("/mot-de-passe-oublie").await;
    let csrf = page.field("csrf");
    let sent = agent
        .post(
            "/mot-de-passe-oublie",
            &[("csrf", &csrf), ("email", "Membre-Oublieux@test.caisse.fr")],
        )
        .await;
    assert_eq!(sent.status, 200);
    assert!(
        sent.body.contains("Si cette adresse a un compte"),
        "{}",
        sent.body
    );
    let mail = &peer.wait_for(1).await[0];
    assert!(body_text(mail).contains("nouveau mot de passe"));

    // An unknown address reads exactly the same, and nothing is sent.
    let unknown = agent
        .post(
            "/mot-de-passe-oublie",
            &[("csrf", &csrf), ("email", "personne@test.caisse.fr")],
        )
        .await;
    assert_eq!(unknown.status, 200);
    assert!(unknown.body.contains("Si cette adresse a un compte"));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(peer.messages().len(), 1);

    let done = choose(
        &mut Agent::new(&app),
        &token_in(mail),
        NEW_PASSWORD,
        NEW_PASSWORD,
    )
    .await;
    assert_eq!(done.status, 303);
    assert_eq!(done.location.as_deref(), Some("/membre"));
    assert_eq!(
        api_login(&app, email, PASSWORD).await,
        401,
        "the old password is gone"
    );
    assert_eq!(api_login(&app, email, NEW_PASSWORD).await, 201);
}

async fn links_expire_and_a_newer_one_replaces_the_older(app: TestApp) {
    let email = "comite@test.caisse.fr";
    let invitation = links::invite(&app.db, &admin(&app), email, Role::Committee, None)
        .await
        .unwrap();
    let user = UserId::new(invitation.user.id.clone());
    let first = links::reset_link(&app.db, &admin(&app), &user)
        .await
        .unwrap();
    let second = links::reset_link(&app.db, &admin(&app), &user)
        .await
        .unwrap();
    // Only the newest new-password link counts; the invitation is another purpose.
    assert!(matches!(
        links::open(&app.db, &first.token).await,
        Err(links::LinkError::Invalid)
    ));
    assert!(links::open(&app.db, &second.token).await.is_ok());
    assert!(links::open(&app.db, &invitation.token).await.is_ok());

    app.sql("UPDATE login_links SET expires_at = 1 WHERE fund_id = $1 AND purpose = 'reset'")
        .await;
    let mut agent = Agent::new(&app);
    let expired = agent
        .get(&format!("{}{}", links::LINK_PATH, second.token))
        .await;
    assert_eq!(expired.status, 410);
    assert!(expired.body.contains("il a expiré"), "{}", expired.body);
    let page = agent.get("/connexion").await;
    let forged = agent
        .post(
            &format!("{}{}", links::LINK_PATH, second.token),
            &[
                ("csrf", &page.field("csrf")),
                ("password", NEW_PASSWORD),
                ("password_confirmation", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(forged.status, 410, "an expired link sets nothing");
    assert_eq!(api_login(&app, email, NEW_PASSWORD).await, 401);
    let unknown = agent
        .get(&format!("{}lien_inconnu", links::LINK_PATH))
        .await;
    assert_eq!(unknown.status, 410);
}

async fn a_link_works_once_even_opened_twice_at_once(app: TestApp) {
    let email = "membre-double@test.caisse.fr";
    let member = app.new_member("Membre double").await;
    let m = caisse::domain::MemberId::new(member);
    let link = links::invite(&app.db, &admin(&app), email, Role::Member, Some(&m))
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        links::choose_password(
            &app.db,
            &link.token,
            "premier mot de passe",
            "premier mot de passe"
        ),
        links::choose_password(
            &app.db,
            &link.token,
            "second mot de passe",
            "second mot de passe"
        ),
    );
    let won = [a.is_ok(), b.is_ok()];
    assert_eq!(
        won.iter().filter(|w| **w).count(),
        1,
        "exactly one wins: {won:?}"
    );
    let (kept, lost) = if won[0] {
        ("premier mot de passe", "second mot de passe")
    } else {
        ("second mot de passe", "premier mot de passe")
    };
    assert_eq!(api_login(&app, email, kept).await, 201);
    assert_eq!(api_login(&app, email, lost).await, 401);
    // A member's login names its member; a till is not a person.
    let e = links::invite(
        &app.db,
        &admin(&app),
        "x@test.caisse.fr",
        Role::Member,
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(e.code().as_str(), "validation_failed");
    assert_eq!(e.fields()[0].field, "member_id");
    // Only an admin invites.
    let treasurer = Caller::User {
        fund: FundId::new(app.fund_id.clone()),
        user: UserId::new("usr_t"),
        role: Role::Treasurer,
        member: None,
    };
    let e = links::invite(&app.db, &treasurer, "y@test.caisse.fr", Role::Admin, None)
        .await
        .unwrap_err();
    assert_eq!(e.code().as_str(), "forbidden");
}

async fn without_a_mail_server_the_page_says_whom_to_ask(app: TestApp) {
    let email = "sans-mail@test.caisse.fr";
    caisse::service::users::create(&app.db, &app.fund(), email, PASSWORD, Role::Treasurer, None)
        .await
        .unwrap();
    let mut agent = Agent::new(&app);
    let page = agent.get("/mot-de-passe-oublie").await;
    assert!(
        page.body.contains("n'envoie pas d'e-mails"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("name=\"email\""),
        "no form for a mail nobody sends"
    );
    // A form posted anyway (an old page) reads the same and makes nothing.
    let csrf = agent.get("/connexion").await.field("csrf");
    let asked = agent
        .post("/mot-de-passe-oublie", &[("csrf", &csrf), ("email", email)])
        .await;
    assert_eq!(asked.status, 200);
    assert!(
        asked.body.contains("n'envoie pas d'e-mails"),
        "{}",
        asked.body
    );
    let made: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM login_links")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(made, 0, "no link nobody can receive");
}

/// The same fund served again, with the peer as its mail server.
async fn with_mail(app: TestApp, peer: &SmtpPeer) -> TestApp {
    let url = peer.url();
    let backend = app.backend;
    drop(app);
    spawn_app_with(backend, |c| {
        c.smtp_url = Some(url);
        c.mail_from = Some("Caisse <caisse@test.caisse.fr>".into());
    })
    .await
    .expect("the backend ran a moment ago")
}
