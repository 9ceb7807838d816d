//! Pure rules of a food fund. Nothing in here knows about HTTP or SQL.

pub mod bank;
pub mod bounds;
pub mod card;
pub mod error_code;
pub mod export;
pub mod household;
pub mod ids;
pub mod import;
pub mod ledger;
pub mod member;
pub mod money;
pub mod sepa;
pub mod settings;
pub mod shop;
pub mod statement;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use error_code::ErrorCode;
pub use ids::{CardId, FundId, Instant, MemberId, ShopId, TerminalId, UserId};
pub use money::{Cents, SignedCents};

/// One invalid field of a request, reported as `errors: [{field, message}]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Who is calling: what each may see and do is decided by the route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Treasurer,
    Committee,
    Member,
    /// One shop's till, authenticated by a terminal API key.
    Terminal,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Treasurer => "treasurer",
            Role::Committee => "committee",
            Role::Member => "member",
            Role::Terminal => "terminal",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ();
    fn from_str(s: &str) -> Result<Role, ()> {
        match s {
            "admin" => Ok(Role::Admin),
            "treasurer" => Ok(Role::Treasurer),
            "committee" => Ok(Role::Committee),
            "member" => Ok(Role::Member),
            "terminal" => Ok(Role::Terminal),
            _ => Err(()),
        }
    }
}

/// A new opaque id: a short prefix naming the kind of object, then 26 characters that sort by
/// creation time (milliseconds, then randomness), so lists can page on the id.
pub fn new_id(prefix: &str) -> String {
    use rand::Rng;
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let millis = chrono::Utc::now().timestamp_millis() as u128;
    let random: u128 = rand::thread_rng().gen::<u128>() >> 48; // 80 bits
    let mut value = (millis << 80) | random;
    let mut out = [0u8; 26];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value & 31) as usize];
        value >>= 5;
    }
    format!("{prefix}_{}", std::str::from_utf8(&out).expect("ascii"))
}

/// The time zone a fund lives in, unless configured otherwise (`timezone`).
pub const DEFAULT_TIMEZONE: &str = "Europe/Paris";

static TIMEZONE: std::sync::OnceLock<chrono_tz::Tz> = std::sync::OnceLock::new();

/// Sets the time zone of dates (today, a sale's entry date, a day's bounds) once, at start;
/// later calls change nothing.
pub fn set_timezone(zone: chrono_tz::Tz) {
    let _ = TIMEZONE.set(zone);
}

/// The time zone of dates: the configured one, or Europe/Paris.
pub fn timezone() -> chrono_tz::Tz {
    TIMEZONE.get().copied().unwrap_or(chrono_tz::Europe::Paris)
}

/// Today in the fund's time zone: a sale at 00:30 in Paris on 1 December is a December sale,
/// although it is still 30 November in UTC.
pub fn today() -> chrono::NaiveDate {
    chrono::Utc::now().with_timezone(&timezone()).date_naive()
}

/// The date of an instant (microseconds) in the fund's time zone.
pub fn local_date(micros: i64) -> chrono::NaiveDate {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .with_timezone(&timezone())
        .date_naive()
}

/// The wall-clock time (`HH:MM`) of an RFC 3339 instant in the fund's time zone: what the
/// till's clock showed then. `None` when the text is not an instant.
pub fn local_clock(instant: &str) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc3339(instant).ok()?;
    Some(t.with_timezone(&timezone()).format("%H:%M").to_string())
}

/// The first instant (microseconds) of a date in the fund's time zone.
pub fn day_start_micros(date: chrono::NaiveDate) -> i64 {
    use chrono::TimeZone;
    let midnight = date.and_time(chrono::NaiveTime::MIN);
    let zone = timezone();
    // A zone whose clocks jump over midnight starts that day an hour later.
    [0, 1]
        .into_iter()
        .find_map(|h| {
            zone.from_local_datetime(&(midnight + chrono::Duration::hours(h)))
                .earliest()
        })
        .map_or_else(
            || midnight.and_utc().timestamp_micros(),
            |t| t.timestamp_micros(),
        )
}

/// Microseconds since the Unix epoch: how instants are stored.
pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// An instant as the API prints it: RFC 3339 UTC.
pub fn format_instant(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(rfc3339: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .timestamp_micros()
    }

    #[test]
    fn dates_are_the_funds_dates() {
        // Nothing sets another zone in these tests: Europe/Paris.
        let d = |s: &str| s.parse::<chrono::NaiveDate>().unwrap();
        // 00:30 in Paris on 1 December (winter, UTC+1) is still 30 November in UTC.
        assert_eq!(local_date(micros("2026-11-30T23:30:00Z")), d("2026-12-01"));
        assert_eq!(local_date(micros("2026-11-30T22:59:59Z")), d("2026-11-30"));
        // A day starts at its midnight in Paris: 23:00 UTC in winter, 22:00 UTC in summer.
        assert_eq!(
            day_start_micros(d("2026-12-01")),
            micros("2026-11-30T23:00:00Z")
        );
        assert_eq!(
            day_start_micros(d("2026-07-01")),
            micros("2026-06-30T22:00:00Z")
        );
        // The days the clocks change keep their midnight.
        assert_eq!(
            day_start_micros(d("2026-03-29")),
            micros("2026-03-28T23:00:00Z")
        );
        assert_eq!(
            day_start_micros(d("2026-10-25")),
            micros("2026-10-24T22:00:00Z")
        );
    }

    #[test]
    fn ids_are_unique_and_sortable() {
        let a = new_id("mem");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_id("mem");
        assert!(a.starts_with("mem_") && a.len() == 30);
        assert!(a < b);
    }
}
