//! Test harness: the real server on port 0 against a fresh database, on either backend.
//!
//! PostgreSQL tests connect to `CAISSE_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and create one database per test, dropped
//! afterwards. If the server cannot be reached, the first test finds out within 2 s and every
//! PostgreSQL test fails at once with the same message. `CAISSE_TEST_SKIP_POSTGRES=1` at build
//! time marks them ignored (`build.rs`), so `cargo test` reports them as skipped; refused in CI.
#![allow(dead_code)]

pub mod agent;
pub mod hostile;
pub mod smtp;

use std::sync::Arc;

use caisse::api::AppState;
use caisse::card_key::CardKey;
use caisse::config::Config;
use caisse::domain::Role;
use caisse::store::{funds, Backend, Db};
use reqwest::StatusCode;
use serde_json::Value;

pub const PASSWORD: &str = "correct-horse-battery";

/// A person signed in through the API ([`TestApp::person`]).
pub struct Person {
    pub id: String,
    pub email: String,
    pub token: String,
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: Db,
    pub fund_id: String,
    pub backend: Backend,
    pub database_url: String,
    /// The key card secrets are sealed with (a file in the test's temp folder).
    pub card_key: Arc<CardKey>,
    guard: DbGuard,
}

/// Runs an `async fn(TestApp)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let app = $crate::common::spawn_app(caisse::store::Backend::Sqlite).await;
                super::$name(app.expect("sqlite always runs")).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            #[cfg_attr(caisse_skip_postgres, ignore = "CAISSE_TEST_SKIP_POSTGRES=1")]
            async fn postgres() {
                let app = $crate::common::spawn_app(caisse::store::Backend::Postgres).await;
                super::$name(app.expect("postgres runs unless skipped at build time")).await;
            }
        }
    )+};
}

pub fn postgres_base_url() -> String {
    std::env::var("CAISSE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn unique_name() -> String {
    caisse::domain::new_id("t").replace('_', "").to_lowercase()
}

/// Whether PostgreSQL answered the first test of this binary: asked once, within 2 s, so that
/// a server that is down fails every PostgreSQL test at once with one message instead of each
/// waiting for the pool's 30 s timeout.
static POSTGRES_REACHABLE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();

async fn postgres_admin(base: &str) -> Db {
    let unreachable = |e: &str| -> ! {
        panic!(
            "PostgreSQL is not reachable at {base}: {e}. Run the README's test command \
             (scripts/test), which starts one, or point CAISSE_TEST_POSTGRES_URL at a server"
        )
    };
    if let Some(Err(e)) = POSTGRES_REACHABLE.get() {
        unreachable(e);
    }
    let attempt = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        let db = Db::connect(base, 1).await.map_err(|e| e.to_string())?;
        sqlx::query("SELECT 1")
            .execute(db.pool())
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(db)
    })
    .await
    .unwrap_or_else(|_| Err("no answer within 2 s".into()));
    match attempt {
        Ok(db) => {
            let _ = POSTGRES_REACHABLE.set(Ok(()));
            db
        }
        Err(e) => {
            let _ = POSTGRES_REACHABLE.set(Err(e.clone()));
            unreachable(&e)
        }
    }
}

/// A fresh, migrated database with its fund. The `Option` is always `Some` (kept so that
/// callers need not change).
pub async fn fresh_db(backend: Backend) -> Option<(Db, String, String, DbGuard)> {
    let (url, guard) = match backend {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join("caisse-tests");
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(format!("{}.db", unique_name()));
            (
                format!("sqlite://{}", path.display()),
                DbGuard::Sqlite(path.display().to_string()),
            )
        }
        Backend::Postgres => {
            let base = postgres_base_url();
            let admin = postgres_admin(&base).await;
            let name = format!("caisse_{}", unique_name());
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(admin.pool())
                .await
                .expect("create test database");
            admin.close().await;
            (
                caisse::bench::with_database(&base, &name),
                DbGuard::Postgres { base, name },
            )
        }
    };
    let db = Db::connect(&url, 16).await.expect("connect test database");
    db.migrate().await.expect("migrations");
    let fund = funds::ensure_default(&db).await.expect("fund");
    Some((db, fund, url, guard))
}

pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}).await
}

/// The same, with the configuration adjusted first. Tills are not rate-limited unless a test
/// asks for it (the concurrency tests send a hundred payments from one till at once).
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Option<TestApp> {
    // Server logs go to the test's captured output: shown when a test fails.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "caisse=warn".into()),
        )
        .with_test_writer()
        .try_init();
    let (db, fund_id, database_url, guard) = fresh_db(backend).await?;
    let key_dir = std::env::temp_dir().join("caisse-tests").join("keys");
    let mut config = Config {
        database_url: database_url.clone(),
        card_key_file: Some(key_dir.join(format!("{}.key", unique_name()))),
        till_rate_per_second: 0,
        ..Config::default()
    };
    adjust(&mut config);
    let card_key = Arc::new(CardKey::load_or_create(&config.card_key_path()).expect("card key"));
    // The key is in memory now; the file (created 0600 like in production) is not needed.
    let _ = std::fs::remove_file(config.card_key_path());
    let state = AppState::new(db.clone(), config, fund_id.clone(), card_key.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let app =
            caisse::app::app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(listener, app).await.unwrap();
    });
    Some(TestApp {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        db,
        fund_id,
        backend,
        database_url,
        card_key,
        guard,
    })
}

impl TestApp {
    /// A second server on the same database and fund, with another card key: what a server
    /// started with the wrong key file would answer. Returns its base URL.
    pub async fn serve_with_key(&self, key: CardKey) -> String {
        let config = Config {
            database_url: self.database_url.clone(),
            till_rate_per_second: 0,
            ..Config::default()
        };
        let state = AppState::new(self.db.clone(), config, self.fund_id.clone(), Arc::new(key));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, caisse::app::app(state))
                .await
                .unwrap();
        });
        format!("http://{addr}")
    }
}

/// Removes the test database when the test ends.
pub enum DbGuard {
    Sqlite(String),
    Postgres { base: String, name: String },
}

impl Drop for DbGuard {
    fn drop(&mut self) {
        match self {
            DbGuard::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{path}{suffix}"));
                }
            }
            DbGuard::Postgres { base, name } => {
                let (base, name) = (base.clone(), name.clone());
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    rt.block_on(async {
                        if let Ok(db) = Db::connect(&base, 1).await {
                            let _ = sqlx::query(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .execute(db.pool())
                            .await;
                            db.close().await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// Asserts the reply is problem+json with this status and code, and returns it.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(
            self.headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "body: {}",
            self.body
        );
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        assert_eq!(self.body["status"], status);
        assert!(self.body["title"].is_string() && self.body["detail"].is_string());
        &self.body
    }

    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        &self.body
    }

    /// The field names listed in `errors`.
    pub fn fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["field"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let r = req.send().await.expect("request");
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        assert!(status.as_u16() < 500, "server error {status}: {body}");
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.send_json(reqwest::Method::POST, path, token, None, body)
            .await
    }

    pub async fn post_idem(&self, path: &str, token: &str, key: &str, body: Value) -> Reply {
        self.send_json(reqwest::Method::POST, path, Some(token), Some(key), body)
            .await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.send_json(reqwest::Method::PUT, path, token, None, body)
            .await
    }

    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: Value,
    ) -> Reply {
        let mut req = self.client.request(method, self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        self.send(req).await
    }

    /// Creates a user with this role directly in the store and signs in over HTTP. A
    /// `member` login gets a new member of its own.
    pub async fn login(&self, role: Role) -> String {
        let member = if role == Role::Member {
            Some(self.new_member("Membre de test").await)
        } else {
            None
        };
        self.login_as(role, member.as_deref()).await
    }

    /// Creates a member (one adult, no income) through the service; returns its id.
    pub async fn new_member(&self, name: &str) -> String {
        let input = caisse::service::members::MemberInput {
            full_name: Some(name.to_string()),
            adults: Some(1),
            children: Some(0),
            ..Default::default()
        };
        let fund = caisse::domain::FundId::new(self.fund_id.as_str());
        caisse::service::members::create(&self.db, &fund, &input)
            .await
            .expect("create member")
            .member
            .id
    }

    /// An approved shop with one till: returns (shop id, terminal API key).
    pub async fn terminal_login(&self) -> (String, String) {
        let admin = self.login(Role::Admin).await;
        let shop = self
            .post(
                "/api/v1/shops",
                Some(&admin),
                serde_json::json!({
                    "name": format!("Épicerie {}", unique_name()),
                    "legal_name": "SCOP Épicerie du quartier",
                    "siret": "732 829 320 00074",
                    "iban": "FR76 3000 6000 0112 3456 7890 189",
                    "address": "3 place du Marché, 69008 Lyon",
                    "categories": ["epicerie"],
                }),
            )
            .await;
        let shop = shop.ok(201)["id"].as_str().unwrap().to_string();
        self.post(
            &format!("/api/v1/shops/{shop}/decision"),
            Some(&admin),
            serde_json::json!({"decision": "approved"}),
        )
        .await
        .ok(200);
        let till = self
            .post(
                &format!("/api/v1/shops/{shop}/terminals"),
                Some(&admin),
                serde_json::json!({"label": "Caisse 1"}),
            )
            .await;
        let key = till.ok(201)["api_key"].as_str().unwrap().to_string();
        (shop, key)
    }

    /// A new person with this role (a member login gets a member of its own), signed in over
    /// HTTP: their id, email and bearer token.
    pub async fn person(&self, role: Role) -> Person {
        let member = if role == Role::Member {
            Some(self.new_member("Membre de test").await)
        } else {
            None
        };
        let email = format!("{}-{}@test.caisse.fr", role, unique_name());
        let user = caisse::service::users::create(
            &self.db,
            &self.fund(),
            &email,
            PASSWORD,
            role,
            member
                .as_deref()
                .map(caisse::domain::MemberId::new)
                .as_ref(),
        )
        .await
        .expect("create user");
        let r = self
            .post(
                "/api/v1/sessions",
                None,
                serde_json::json!({"email": email, "password": PASSWORD}),
            )
            .await;
        let token = r.ok(201)["token"].as_str().unwrap().to_string();
        Person {
            id: user.id,
            email,
            token,
        }
    }

    /// Signs in a new user with this role, tied to `member` for the member role.
    pub async fn login_as(&self, role: Role, member: Option<&str>) -> String {
        let email = format!("{}-{}@test.caisse.fr", role, unique_name());
        caisse::service::users::create(
            &self.db,
            &self.fund(),
            &email,
            PASSWORD,
            role,
            member.map(caisse::domain::MemberId::new).as_ref(),
        )
        .await
        .expect("create user");
        let r = self
            .post(
                "/api/v1/sessions",
                None,
                serde_json::json!({"email": email, "password": PASSWORD}),
            )
            .await;
        r.ok(201)["token"].as_str().unwrap().to_string()
    }
}

impl TestApp {
    /// Posts a raw body with its content type (a bank statement: `text/csv`, `application/xml`).
    pub async fn post_raw(
        &self,
        path: &str,
        token: &str,
        content_type: &str,
        body: String,
    ) -> Reply {
        let req = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body);
        self.send(req).await
    }
}

/// The PIN of the printed cards made by [`TestApp::printed_card`].
pub const CARD_PIN: &str = "4821";

/// Typed helpers for the money paths (sales, refunds, corrections, settlements), shared by the
/// test files.
impl TestApp {
    /// A printed card for `member` (PIN [`CARD_PIN`]); answers its QR payload.
    pub async fn printed_card(&self, staff: &str, member: &str) -> String {
        let r = self
            .post(
                &format!("/api/v1/members/{member}/cards"),
                Some(staff),
                serde_json::json!({"kind": "printed", "pin": CARD_PIN}),
            )
            .await;
        r.ok(201)["qr_payload"].as_str().unwrap().to_string()
    }

    /// Issues the allowances of `period`.
    pub async fn issue(&self, treasurer: &str, period: &str) -> Value {
        self.post(
            "/api/v1/allowances/issuances",
            Some(treasurer),
            serde_json::json!({"period": period}),
        )
        .await
        .ok(200)
        .clone()
    }

    /// A payment at `till` with a printed card (a fresh idempotency key).
    pub async fn redeem_printed(&self, till: &str, card: &str, amount: &str) -> Reply {
        self.post_idem(
            "/api/v1/redemptions",
            till,
            &caisse::domain::new_id("k"),
            serde_json::json!({"token": card, "amount": amount, "pin": CARD_PIN}),
        )
        .await
    }

    /// The same, which must be approved; answers the redemption id.
    pub async fn sale(&self, till: &str, card: &str, amount: &str) -> String {
        let r = self.redeem_printed(till, card, amount).await;
        r.ok(201)["id"].as_str().unwrap().to_string()
    }

    /// A refund of `redemption` at `till` (a fresh idempotency key).
    pub async fn refund(&self, till: &str, redemption: &str, amount: &str) -> Reply {
        self.post_idem(
            &format!("/api/v1/redemptions/{redemption}/refunds"),
            till,
            &caisse::domain::new_id("k"),
            serde_json::json!({"amount": amount}),
        )
        .await
    }

    /// `POST /ledger/entries/{entry}/reversal`.
    pub async fn reverse(&self, treasurer: &str, entry: i64, reason: &str) -> Reply {
        self.post(
            &format!("/api/v1/ledger/entries/{entry}/reversal"),
            Some(treasurer),
            serde_json::json!({"reason": reason}),
        )
        .await
    }

    /// A settlement of everything before now.
    pub async fn settle_now(&self, treasurer: &str) -> Reply {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        self.post(
            "/api/v1/settlements",
            Some(treasurer),
            serde_json::json!({"cutoff": now}),
        )
        .await
    }

    /// The journal entry a mirror row points at: `entry_id` of the row of `table` where
    /// `column` = `value` (white-box: the API does not show it for every kind).
    pub async fn entry_of(&self, table: &str, column: &str, value: &str) -> i64 {
        use sqlx::Row;
        sqlx::query(&format!(
            "SELECT entry_id FROM {table} WHERE fund_id = $1 AND {column} = $2"
        ))
        .bind(&self.fund_id)
        .bind(value)
        .fetch_one(self.db.pool())
        .await
        .unwrap_or_else(|e| panic!("no {table} row with {column} = {value}: {e}"))
        .try_get("entry_id")
        .unwrap()
    }

    /// A member's ledger account suffix (`M000042`).
    pub async fn account_ref(&self, member: &str) -> String {
        caisse::store::members::find(&self.db, &self.fund_id, member)
            .await
            .unwrap()
            .expect("member")
            .account_ref
    }

    /// An account's balance in cents, in its normal sense (0 for an account never opened).
    pub async fn balance_of(&self, code: &str) -> i64 {
        let code = caisse::domain::ledger::AccountCode::parse(code).expect("account code");
        caisse::store::ledger::balance(&self.db, &self.fund_id, &code)
            .await
            .unwrap_or(0)
    }

    /// A member's allowance balance (467), in cents.
    pub async fn allowance_balance(&self, member: &str) -> i64 {
        let r = self.account_ref(member).await;
        self.balance_of(&format!("467.{r}")).await
    }

    /// What `caisse ledger verify` finds wrong (empty: clean).
    pub async fn verify_problems(&self) -> Vec<String> {
        caisse::store::ledger::verify(&self.db, &self.fund_id)
            .await
            .expect("verify runs")
            .problems
    }

    /// Asserts that `ledger verify` is clean.
    #[track_caller]
    pub fn assert_clean(problems: &[String]) {
        assert!(problems.is_empty(), "ledger verify: {problems:#?}");
    }

    /// The fund's id, typed, for calling services directly.
    pub fn fund(&self) -> caisse::domain::FundId {
        caisse::domain::FundId::new(self.fund_id.clone())
    }

    /// Runs a statement on the test database behind the service's back (to break a mirror).
    pub async fn sql(&self, statement: &str) {
        sqlx::query(statement)
            .bind(&self.fund_id)
            .execute(self.db.pool())
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}

impl TestApp {
    /// An app card for `member`: (card id, its TOTP secret).
    pub async fn app_card(&self, staff: &str, member: &str) -> (String, Vec<u8>) {
        let r = self
            .post(
                &format!("/api/v1/members/{member}/cards"),
                Some(staff),
                serde_json::json!({"kind": "app"}),
            )
            .await;
        let r = r.ok(201);
        let secret = caisse::domain::card::secret_from_base32(r["secret"].as_str().unwrap())
            .expect("base32 secret");
        (r["card_id"].as_str().unwrap().to_string(), secret)
    }
}

/// The QR payload an app card shows now.
pub fn app_token(card_id: &str, secret: &[u8]) -> String {
    let now = caisse::domain::now_micros() / 1_000_000;
    let code = caisse::domain::card::totp(secret, caisse::domain::card::step_at(now));
    format!("caisse1:{card_id}:{code}")
}
