//! Payment cards: what a member shows at the till. An `app` card shows a QR code that changes
//! every 30 seconds (`caisse1:CARD_ID:CODE`, CODE the RFC 6238 TOTP of the card's secret); a
//! `printed` card carries the static `caisse1:CARD_ID` and is used with a PIN.

use std::fmt;
use std::str::FromStr;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::ErrorCode;

/// The prefix of every QR payload, with the version of the format.
pub const PAYLOAD_PREFIX: &str = "caisse1";
/// RFC 6238 step, seconds from the Unix epoch.
pub const STEP_SECONDS: i64 = 30;
/// Digits of a code.
pub const DIGITS: usize = 8;
/// Bytes of an app card's secret (the size of the HMAC-SHA-256 output, as RFC 4226 advises).
pub const SECRET_BYTES: usize = 32;
/// How far back a code is still recognised, to tell "too old" (`token_expired`) from "wrong"
/// (`token_invalid`): one hour of steps. Only the current step and the one before are accepted.
pub const EXPIRED_LOOKBACK_STEPS: i64 = 120;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CardKind {
    /// Shown by the member's phone: a code that changes every 30 seconds.
    App,
    /// Printed once; needs the PIN at the till.
    Printed,
}

impl CardKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CardKind::App => "app",
            CardKind::Printed => "printed",
        }
    }
}

impl FromStr for CardKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "app" => Ok(CardKind::App),
            "printed" => Ok(CardKind::Printed),
            other => Err(format!("unknown card kind {other}")),
        }
    }
}

/// Where a card stands: it pays (`active`), waits for an admin after too many wrong PINs
/// (`locked`), or never pays again (`revoked`). Revoked wins over locked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CardStatus {
    Active,
    Locked,
    Revoked,
}

impl CardStatus {
    /// The status of a card from the instants it was locked and revoked at, if ever.
    pub fn of(locked_at: Option<i64>, revoked_at: Option<i64>) -> CardStatus {
        match (locked_at, revoked_at) {
            (_, Some(_)) => CardStatus::Revoked,
            (Some(_), None) => CardStatus::Locked,
            (None, None) => CardStatus::Active,
        }
    }
}

/// Why a card token is refused. Each maps to one of the API's decline codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decline {
    TokenInvalid,
    TokenExpired,
    TokenReused,
    CardRevoked,
    CardLocked,
    PinRequired,
    PinWrong,
}

impl Decline {
    /// The stable `code` of the problem answered.
    pub fn code(self) -> ErrorCode {
        match self {
            Decline::TokenInvalid => ErrorCode::TokenInvalid,
            Decline::TokenExpired => ErrorCode::TokenExpired,
            Decline::TokenReused => ErrorCode::TokenReused,
            Decline::CardRevoked => ErrorCode::CardRevoked,
            Decline::CardLocked => ErrorCode::CardLocked,
            Decline::PinRequired => ErrorCode::PinRequired,
            Decline::PinWrong => ErrorCode::PinWrong,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Decline::TokenInvalid => "the code is not a valid card code",
            Decline::TokenExpired => "the code has expired: show the current one",
            Decline::TokenReused => "this code was already used: wait for the next one",
            Decline::CardRevoked => "the card was revoked",
            Decline::CardLocked => "the card is locked after too many wrong PINs",
            Decline::PinRequired => "a printed card needs its PIN",
            Decline::PinWrong => "the PIN is wrong",
        }
    }
}

impl fmt::Display for Decline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code().as_str())
    }
}

/// A QR payload, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token {
    /// `caisse1:CARD_ID:CODE`
    App { card_id: String, code: String },
    /// `caisse1:CARD_ID`
    Printed { card_id: String },
}

impl Token {
    pub fn card_id(&self) -> &str {
        match self {
            Token::App { card_id, .. } | Token::Printed { card_id } => card_id,
        }
    }
}

/// Reads a QR payload; anything malformed is `None` (declined as `token_invalid`).
pub fn parse_token(token: &str) -> Option<Token> {
    let mut parts = token.trim().split(':');
    if parts.next()? != PAYLOAD_PREFIX {
        return None;
    }
    let card_id = parts.next()?;
    let id_ok = !card_id.is_empty()
        && card_id.len() <= 64
        && card_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !id_ok {
        return None;
    }
    let token = match parts.next() {
        None => Token::Printed {
            card_id: card_id.to_string(),
        },
        Some(code) if code.len() == DIGITS && code.bytes().all(|b| b.is_ascii_digit()) => {
            Token::App {
                card_id: card_id.to_string(),
                code: code.to_string(),
            }
        }
        Some(_) => return None,
    };
    parts.next().is_none().then_some(token)
}

pub fn printed_payload(card_id: &str) -> String {
    format!("{PAYLOAD_PREFIX}:{card_id}")
}

pub fn app_payload(card_id: &str, code: &str) -> String {
    format!("{PAYLOAD_PREFIX}:{card_id}:{code}")
}

/// The TOTP step of an instant in Unix seconds.
pub fn step_at(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

/// The RFC 6238 code (HMAC-SHA-256, 8 digits) of `secret` for a step, zero-padded.
pub fn totp(secret: &[u8], step: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(&step.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    // RFC 4226 §5.3 dynamic truncation.
    let offset = (hash[hash.len() - 1] & 0x0f) as usize;
    let binary = u32::from_be_bytes([
        hash[offset] & 0x7f,
        hash[offset + 1],
        hash[offset + 2],
        hash[offset + 3],
    ]);
    format!("{:0width$}", binary % 100_000_000, width = DIGITS)
}

/// Which step, among the current one and the `lookback` before it, `code` belongs to. The
/// comparison takes the same time whatever the digits, so timing tells nothing about the code.
pub fn matching_step(secret: &[u8], code: &str, current: i64, lookback: i64) -> Option<i64> {
    let mut found = None;
    for step in (current - lookback..=current).rev() {
        let same: bool = totp(secret, step).as_bytes().ct_eq(code.as_bytes()).into();
        if same && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// A printed card's PIN: 4 to 6 digits.
pub fn check_pin(pin: &str) -> Result<(), &'static str> {
    if (4..=6).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err("a PIN is 4 to 6 digits")
    }
}

/// A secret in base32 (RFC 4648, no padding), as authenticator apps read it.
pub fn secret_base32(secret: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(secret)
}

pub fn secret_from_base32(text: &str) -> Option<Vec<u8>> {
    data_encoding::BASE32_NOPAD.decode(text.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoked_card_is_revoked_even_when_locked() {
        assert_eq!(CardStatus::of(None, None), CardStatus::Active);
        assert_eq!(CardStatus::of(Some(1), None), CardStatus::Locked);
        assert_eq!(CardStatus::of(Some(1), Some(2)), CardStatus::Revoked);
        assert_eq!(
            serde_json::to_string(&CardStatus::Locked).unwrap(),
            "\"locked\""
        );
    }

    const SEED: &[u8] = b"12345678901234567890123456789012";

    #[test]
    fn rfc6238_sha256_vectors() {
        for (time, code) in [
            (59, "46119246"),
            (1111111109, "68084774"),
            (1111111111, "67062674"),
            (1234567890, "91819424"),
            (2000000000, "90698825"),
            (20000000000, "77737706"),
        ] {
            assert_eq!(totp(SEED, step_at(time)), code, "T={time}");
        }
    }

    #[test]
    fn steps_accepted() {
        let now = step_at(1234567890);
        let code = totp(SEED, now - 1);
        assert_eq!(matching_step(SEED, &code, now, 1), Some(now - 1));
        assert_eq!(matching_step(SEED, &totp(SEED, now), now, 1), Some(now));
        assert_eq!(matching_step(SEED, &totp(SEED, now - 2), now, 1), None);
        assert_eq!(matching_step(SEED, &totp(SEED, now + 1), now, 1), None);
    }

    #[test]
    fn payloads() {
        assert_eq!(
            parse_token("caisse1:card_01abc:12345678"),
            Some(Token::App {
                card_id: "card_01abc".into(),
                code: "12345678".into()
            })
        );
        assert_eq!(
            parse_token("caisse1:card_01abc"),
            Some(Token::Printed {
                card_id: "card_01abc".into()
            })
        );
        for bad in [
            "",
            "caisse1",
            "caisse1:",
            "caisse2:card_1:12345678",
            "caisse1:card_1:1234567",
            "caisse1:card_1:1234567a",
            "caisse1:card_1:12345678:9",
            "caisse1:card-1",
        ] {
            assert_eq!(parse_token(bad), None, "{bad}");
        }
    }

    #[test]
    fn pins_and_base32() {
        assert!(check_pin("1234").is_ok() && check_pin("123456").is_ok());
        for bad in ["123", "1234567", "12a4", " 1234", ""] {
            assert!(check_pin(bad).is_err(), "{bad}");
        }
        let s = secret_base32(SEED);
        assert!(!s.contains('='));
        assert_eq!(secret_from_base32(&s).unwrap(), SEED);
    }
}
