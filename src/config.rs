//! Configuration, in layers: built-in defaults, then a TOML file (`--config` or
//! `CAISSE_CONFIG`), then environment variables (`CAISSE_*`, and `DATABASE_URL`), then
//! command-line flags. Secrets are redacted when the configuration is printed.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/caisse.db";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `sqlite://PATH` or `postgres://USER:PASSWORD@HOST/DB`.
    pub database_url: String,
    pub bind: SocketAddr,
    /// Connections in the pool.
    pub database_max_connections: u32,
    /// How long a bearer session lasts.
    pub session_hours: i64,
    /// Largest request body accepted, in bytes (bank statements have their own limit).
    pub max_body_bytes: usize,
    /// File holding the key that encrypts card secrets (64 hex digits). Default: `card.key`
    /// beside the SQLite database (or in `data/` on PostgreSQL), created on first start.
    pub card_key_file: Option<PathBuf>,
    /// Payments and refunds a till may send per second, sustained (0: no limit).
    pub till_rate_per_second: u32,
    /// Requests a till may send at once above the sustained rate.
    pub till_burst: u32,
    /// The IANA time zone of the fund's dates: today, a sale's entry date, a day's bounds in
    /// a query, the FEC's dates. Instants in the API stay UTC.
    pub timezone: String,
    /// Failed logins (API and web alike) allowed per email address, and per client address,
    /// in each window; past either, 429 until the window ends.
    pub login_failures_per_email: u32,
    pub login_failures_per_address: u32,
    pub login_window_seconds: u64,
    /// The header a trusted reverse proxy puts the client's address in (`X-Forwarded-For`:
    /// its last entry is read, the one the proxy added; or `X-Real-IP`). Unset: the socket's
    /// peer address. Set it only behind a proxy that overwrites the header, or anyone can
    /// choose their own address.
    pub client_address_header: Option<String>,
    /// The address people reach the service at (`https://caisse.example.org`): the start of
    /// the links sent by email (invitations, new passwords). Unset: `http://` and `bind`.
    pub public_url: Option<String>,
    /// The mail server that sends invitations and new-password links, as a URL:
    /// `smtp://user:password@mail.example.org:587` (STARTTLS, required),
    /// `smtps://user:password@mail.example.org` (TLS from the start, port 465), or
    /// `smtp://localhost:25?tls=none` for a relay on the same machine. Unset: no email; the
    /// admin's page shows each link to hand over.
    pub smtp_url: Option<String>,
    /// The sender of those emails (`Caisse alimentaire <caisse@example.org>`).
    pub mail_from: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: DEFAULT_DATABASE_URL.into(),
            bind: DEFAULT_BIND.parse().expect("valid default bind address"),
            database_max_connections: 16,
            session_hours: 12,
            max_body_bytes: 64 * 1024,
            card_key_file: None,
            till_rate_per_second: 20,
            till_burst: 40,
            timezone: crate::domain::DEFAULT_TIMEZONE.into(),
            login_failures_per_email: 5,
            login_failures_per_address: 20,
            login_window_seconds: 60,
            client_address_header: None,
            public_url: None,
            smtp_url: None,
            mail_from: None,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("bind", &self.bind)
            .field("database_max_connections", &self.database_max_connections)
            .field("session_hours", &self.session_hours)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("card_key_file", &self.card_key_path())
            .field("till_rate_per_second", &self.till_rate_per_second)
            .field("till_burst", &self.till_burst)
            .field("timezone", &self.timezone)
            .field("login_failures_per_email", &self.login_failures_per_email)
            .field(
                "login_failures_per_address",
                &self.login_failures_per_address,
            )
            .field("login_window_seconds", &self.login_window_seconds)
            .field("client_address_header", &self.client_address_header)
            .field("public_url", &self.public_url)
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("mail_from", &self.mail_from)
            .finish()
    }
}

/// `postgres://caisse:secret@db/caisse` → `postgres://caisse:***@db/caisse`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Config {
    /// Where the card key is read from (see `card_key_file`).
    pub fn card_key_path(&self) -> PathBuf {
        if let Some(path) = &self.card_key_file {
            return path.clone();
        }
        let sqlite_path = self
            .database_url
            .strip_prefix("sqlite://")
            .or_else(|| self.database_url.strip_prefix("sqlite:"))
            .map(|rest| rest.split('?').next().unwrap_or_default());
        match sqlite_path.map(Path::new).and_then(Path::parent) {
            Some(dir) => dir.join("card.key"),
            None => PathBuf::from("data").join("card.key"),
        }
    }

    /// The login limiter's limits.
    pub fn login_limits(&self) -> crate::service::login::LoginLimits {
        crate::service::login::LoginLimits {
            per_email: self.login_failures_per_email.max(1),
            per_address: self.login_failures_per_address.max(1),
            window: std::time::Duration::from_secs(self.login_window_seconds.max(1)),
            ..Default::default()
        }
    }

    /// Defaults, then the file if any, then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
                toml::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("invalid configuration {}: {e}", path.display()))?
            }
            None => Config::default(),
        };
        config.apply_env(|k| std::env::var(k).ok())?;
        config.zone()?;
        crate::mail::Mailer::from_config(config.smtp_url.as_deref(), config.mail_from.as_deref())?;
        Ok(config)
    }

    /// The configured time zone; an unknown name is an error naming it.
    pub fn zone(&self) -> anyhow::Result<chrono_tz::Tz> {
        self.timezone.parse().map_err(|_| {
            anyhow::anyhow!(
                "unknown time zone {:?} (an IANA name such as Europe/Paris or Indian/Reunion)",
                self.timezone
            )
        })
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(v) = var("DATABASE_URL").or_else(|| var("CAISSE_DATABASE_URL")) {
            self.database_url = v;
        }
        if let Some(v) = var("CAISSE_BIND") {
            self.bind = v.parse().map_err(|e| anyhow::anyhow!("CAISSE_BIND: {e}"))?;
        }
        if let Some(v) = var("CAISSE_DATABASE_MAX_CONNECTIONS") {
            self.database_max_connections = v
                .parse()
                .map_err(|e| anyhow::anyhow!("CAISSE_DATABASE_MAX_CONNECTIONS: {e}"))?;
        }
        if let Some(v) = var("CAISSE_SESSION_HOURS") {
            self.session_hours = v
                .parse()
                .map_err(|e| anyhow::anyhow!("CAISSE_SESSION_HOURS: {e}"))?;
        }
        if let Some(v) = var("CAISSE_CARD_KEY_FILE") {
            self.card_key_file = Some(PathBuf::from(v));
        }
        if let Some(v) = var("CAISSE_TILL_RATE_PER_SECOND") {
            self.till_rate_per_second = v
                .parse()
                .map_err(|e| anyhow::anyhow!("CAISSE_TILL_RATE_PER_SECOND: {e}"))?;
        }
        if let Some(v) = var("CAISSE_TIMEZONE") {
            self.timezone = v;
        }
        if let Some(v) = var("CAISSE_CLIENT_ADDRESS_HEADER") {
            self.client_address_header = Some(v).filter(|v| !v.is_empty());
        }
        for (name, slot) in [
            ("CAISSE_PUBLIC_URL", &mut self.public_url),
            ("CAISSE_SMTP_URL", &mut self.smtp_url),
            ("CAISSE_MAIL_FROM", &mut self.mail_from),
        ] {
            if let Some(v) = var(name) {
                *slot = Some(v).filter(|v| !v.is_empty());
            }
        }
        if let Some(v) = var("CAISSE_TILL_BURST") {
            self.till_burst = v
                .parse()
                .map_err(|e| anyhow::anyhow!("CAISSE_TILL_BURST: {e}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted() {
        let c = Config {
            database_url: "postgres://caisse:hunter22@db:5432/caisse".into(),
            ..Config::default()
        };
        let c = Config {
            smtp_url: Some("smtp://caisse:mailpass99@mail.example.org:587".into()),
            ..c
        };
        let printed = format!("{c:?}");
        assert!(!printed.contains("hunter22"), "{printed}");
        assert!(!printed.contains("mailpass99"), "{printed}");
        assert!(printed.contains("caisse:***@db"), "{printed}");
    }

    #[test]
    fn environment_overrides_file() {
        let mut c: Config = toml::from_str("bind = \"0.0.0.0:9000\"\nsession_hours = 4").unwrap();
        assert_eq!(c.session_hours, 4);
        c.apply_env(|k| (k == "DATABASE_URL").then(|| "postgres://x@y/z".to_string()))
            .unwrap();
        assert_eq!(c.database_url, "postgres://x@y/z");
        assert_eq!(c.bind.port(), 9000);
        assert!(toml::from_str::<Config>("nonsense = 1").is_err());
    }

    #[test]
    fn the_example_file_is_valid() {
        let c: Config = toml::from_str(include_str!("../deploy/caisse.toml")).unwrap();
        assert_eq!(c.zone().unwrap(), chrono_tz::Europe::Paris);
    }

    #[test]
    fn time_zone_is_checked() {
        let mut c = Config::default();
        assert_eq!(c.zone().unwrap(), chrono_tz::Europe::Paris);
        c.apply_env(|k| (k == "CAISSE_TIMEZONE").then(|| "Indian/Reunion".to_string()))
            .unwrap();
        assert_eq!(c.zone().unwrap(), chrono_tz::Indian::Reunion);
        c.timezone = "Europe/Lyon".into();
        assert!(c.zone().unwrap_err().to_string().contains("Europe/Lyon"));
    }

    #[test]
    fn card_key_beside_the_database() {
        let mut c = Config {
            database_url: "sqlite:///var/lib/caisse/caisse.db?mode=rwc".into(),
            ..Config::default()
        };
        assert_eq!(c.card_key_path(), Path::new("/var/lib/caisse/card.key"));
        c.database_url = "postgres://x@y/z".into();
        assert_eq!(c.card_key_path(), Path::new("data/card.key"));
        c.apply_env(|k| (k == "CAISSE_CARD_KEY_FILE").then(|| "/etc/caisse/card.key".into()))
            .unwrap();
        assert_eq!(c.card_key_path(), Path::new("/etc/caisse/card.key"));
    }
}
