//! Signing in with an email and a password, for the API (`POST /api/v1/sessions`) and the web
//! login page alike, behind one limiter of failed attempts per email address and per client
//! address.
//!
//! The limiter counts failures in a fixed window (a minute by default): past the limit for the
//! email or for the address, every attempt is refused until the window ends, the right password
//! included, so that guessing cannot go faster than the limit. An attempt is counted when it
//! starts and handed back when it succeeds, so that a burst of simultaneous guesses cannot all
//! pass the check before the first failure is recorded. Its memory is bounded: keys are SHA-256
//! hashes (32 bytes whatever the email), ended windows are pruned when the table is full, and a
//! full table of live windows refuses new keys (the attempts of keys already in it go on): an
//! attacker flooding it with made-up addresses holds logins up for one window, and memory does
//! not grow.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::service::error::ServiceError;
use crate::store::users::User;
use crate::store::Db;

/// How many failures, over how long, and how many keys are remembered.
#[derive(Clone, Copy, Debug)]
pub struct LoginLimits {
    pub per_email: u32,
    pub per_address: u32,
    pub window: Duration,
    /// Keys (emails and addresses together) kept at most: about 100 bytes each.
    pub capacity: usize,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            per_email: 5,
            per_address: 20,
            window: Duration::from_secs(60),
            capacity: 100_000,
        }
    }
}

#[derive(Debug)]
struct Window {
    started: Instant,
    failures: u32,
}

type Key = [u8; 32];

pub struct LoginLimiter {
    limits: LoginLimits,
    windows: Mutex<Windows>,
}

struct Windows {
    map: HashMap<Key, Window>,
    last_prune: Option<Instant>,
}

/// An attempt let through: counted as a failure unless [`Attempt::succeeded`] is called.
#[must_use]
pub struct Attempt<'a> {
    limiter: &'a LoginLimiter,
    keys: Vec<Key>,
}

impl Attempt<'_> {
    /// The password was right: the attempt is not a failure.
    pub fn succeeded(self) {
        let mut w = self.limiter.lock();
        for key in &self.keys {
            if let Some(window) = w.map.get_mut(key) {
                window.failures = window.failures.saturating_sub(1);
            }
        }
    }
}

fn key(kind: &str, value: &str) -> Key {
    Sha256::digest(format!("{kind}:{value}").as_bytes()).into()
}

/// The address a limit is kept for: IPv4 as it is, IPv6 by its /64 (one subscriber's
/// network, which hands its owner 2^64 addresses).
fn address_key(ip: IpAddr) -> Key {
    match ip {
        IpAddr::V4(v4) => key("ip", &v4.to_string()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => key("ip", &v4.to_string()),
            None => {
                let s = v6.segments();
                key(
                    "ip6",
                    &format!("{:x}:{:x}:{:x}:{:x}", s[0], s[1], s[2], s[3]),
                )
            }
        },
    }
}

impl LoginLimiter {
    pub fn new(limits: LoginLimits) -> LoginLimiter {
        LoginLimiter {
            limits,
            windows: Mutex::new(Windows {
                map: HashMap::new(),
                last_prune: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Windows> {
        // A panic while holding the lock leaves counters, never a broken invariant.
        self.windows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keys remembered now (for tests and metrics).
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lets an attempt through, or says how long to wait.
    pub fn begin(&self, email: &str, client: Option<IpAddr>) -> Result<Attempt<'_>, Duration> {
        self.begin_at(email, client, Instant::now())
    }

    fn begin_at(
        &self,
        email: &str,
        client: Option<IpAddr>,
        now: Instant,
    ) -> Result<Attempt<'_>, Duration> {
        let mut keys = vec![(key("email", email), self.limits.per_email)];
        if let Some(ip) = client {
            keys.push((address_key(ip), self.limits.per_address));
        }
        let window = self.limits.window;
        let mut w = self.lock();
        // First every check, then every count: a refused attempt counts for nothing.
        let mut wait = Duration::ZERO;
        for (k, max) in &keys {
            if let Some(win) = w.map.get(k) {
                let ends = win.started + window;
                if now < ends && win.failures >= *max {
                    wait = wait.max(ends - now);
                }
            }
        }
        if wait > Duration::ZERO {
            return Err(wait);
        }
        let new_keys = keys.iter().filter(|(k, _)| !w.map.contains_key(k)).count();
        if w.map.len() + new_keys > self.limits.capacity {
            w.prune(now, window);
            if w.map.len() + new_keys > self.limits.capacity {
                tracing::warn!(
                    keys = w.map.len(),
                    "login limiter full of live windows: new emails and addresses wait"
                );
                return Err(window);
            }
        }
        for (k, _) in &keys {
            let win = w.map.entry(*k).or_insert(Window {
                started: now,
                failures: 0,
            });
            if now >= win.started + window {
                *win = Window {
                    started: now,
                    failures: 0,
                };
            }
            win.failures += 1;
        }
        Ok(Attempt {
            limiter: self,
            keys: keys.into_iter().map(|(k, _)| k).collect(),
        })
    }
}

impl Windows {
    /// Drops ended windows, at most once a second (each pass reads the whole table).
    fn prune(&mut self, now: Instant, window: Duration) {
        if self
            .last_prune
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            return;
        }
        self.map.retain(|_, w| now < w.started + window);
        self.map.shrink_to_fit();
        self.last_prune = Some(now);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("wrong email or password")]
    WrongCredentials,
    /// Too many failures for this email or this address: wait this long.
    #[error("too many failed attempts; retry in {} s", .0.as_secs())]
    TooManyAttempts(Duration),
    #[error(transparent)]
    Other(ServiceError),
}

/// `Retry-After` of a refused login: whole seconds, at least one.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// The session a person gets for a good login, for the API: a bearer token (shown once, only
/// its hash is kept) and when it expires.
pub async fn open_api_session(
    db: &Db,
    user: &User,
    hours: i64,
) -> Result<(String, crate::domain::Instant), ServiceError> {
    let token = crate::auth::new_token("cs");
    let expires_at = crate::domain::now_micros() + hours * 3600 * 1_000_000;
    crate::store::users::create_session(db, user, &crate::auth::token_hash(&token), expires_at)
        .await?;
    Ok((token, crate::domain::Instant::from_micros(expires_at)))
}

impl From<ServiceError> for LoginError {
    fn from(e: ServiceError) -> Self {
        LoginError::Other(e)
    }
}

/// Checks an email and a password behind the limiter: the user, or why not.
#[tracing::instrument(skip_all)]
pub async fn sign_in(
    db: &Db,
    limiter: &LoginLimiter,
    client: Option<IpAddr>,
    email: &str,
    password: &str,
    fund_id: Option<&str>,
) -> Result<User, LoginError> {
    let email = crate::store::users::normalize_email(email);
    let attempt = limiter
        .begin(&email, client)
        .map_err(LoginError::TooManyAttempts)?;
    match super::users::authenticate(db, &email, password, fund_id).await? {
        Some(user) => {
            attempt.succeeded();
            Ok(user)
        }
        None => Err(LoginError::WrongCredentials),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(capacity: usize) -> LoginLimiter {
        LoginLimiter::new(LoginLimits {
            per_email: 3,
            per_address: 5,
            window: Duration::from_secs(60),
            capacity,
        })
    }

    #[test]
    fn failures_past_the_limit_wait_for_the_window() {
        let l = limiter(100);
        let t0 = Instant::now();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..3 {
            drop(l.begin_at("a@x.fr", Some(ip), t0).unwrap());
        }
        let wait = l.begin_at("a@x.fr", Some(ip), t0).err().unwrap();
        assert_eq!(wait, Duration::from_secs(60));
        let later = t0 + Duration::from_secs(45);
        assert_eq!(
            l.begin_at("a@x.fr", None, later).err(),
            Some(Duration::from_secs(15))
        );
        // A success hands its attempt back.
        l.begin_at("b@x.fr", Some(ip), t0).unwrap().succeeded();
        // The address: 3 failures for a@ and 0 left for b@ (its success was handed back).
        drop(l.begin_at("c@x.fr", Some(ip), t0).unwrap());
        drop(l.begin_at("d@x.fr", Some(ip), t0).unwrap());
        assert!(l.begin_at("e@x.fr", Some(ip), t0).is_err());
        // Once the window has passed, the email may try again.
        assert!(l
            .begin_at("a@x.fr", None, t0 + Duration::from_secs(60))
            .is_ok());
    }

    #[test]
    fn ipv6_addresses_of_one_network_share_a_limit() {
        let l = limiter(100);
        let t0 = Instant::now();
        for i in 0..5 {
            let ip: IpAddr = format!("2001:db8:1:2::{i:x}").parse().unwrap();
            drop(l.begin_at(&format!("{i}@x.fr"), Some(ip), t0).unwrap());
        }
        let ip: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        assert!(l.begin_at("z@x.fr", Some(ip), t0).is_err());
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(l.begin_at("z@x.fr", Some(other), t0).is_ok());
    }

    #[test]
    fn memory_is_bounded_by_the_capacity() {
        let l = limiter(1_000);
        let t0 = Instant::now();
        // An attacker's made-up emails, from made-up addresses, all in one window.
        let mut refused = 0;
        for i in 0..5_000u32 {
            let ip = IpAddr::from(i.to_be_bytes());
            match l.begin_at(&format!("victim{i}@x.fr"), Some(ip), t0) {
                Ok(a) => drop(a),
                Err(_) => refused += 1,
            }
            assert!(l.len() <= 1_000);
        }
        assert!(refused >= 4_000, "{refused}");
        // Once those windows have ended, the table is pruned and new keys come in.
        let later = t0 + Duration::from_secs(61);
        assert!(l.begin_at("new@x.fr", None, later).is_ok());
        assert!(l.len() <= 2, "{}", l.len());
    }
}
