//! Money: integer cents, parsed from and printed as decimal euro strings (`"12.50"`).
//!
//! An amount can only be built by parsing a string or by arithmetic on amounts that were
//! parsed, so a float never enters a money path.

use std::fmt;
use std::str::FromStr;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The largest amount a single field may carry: one billion euros, far above anything a food
/// fund sees, and far below `i64` so that sums of millions of amounts cannot overflow.
pub const MAX_CENTS: i64 = 100_000_000_000;

/// Prefix of every error message produced while deserializing money, so the API edge can answer
/// with the stable code `amount_invalid` rather than a generic field error.
pub const MONEY_ERROR_PREFIX: &str = "amount_invalid: ";

/// A non-negative amount of money in euro cents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cents(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("must be a decimal string in euros, such as \"12.50\"")]
    NotADecimalString,
    #[error("at most 2 decimals are allowed")]
    TooManyDecimals,
    #[error("must not be negative")]
    Negative,
    #[error("must be greater than zero")]
    NotPositive,
    #[error("is too large (at most 1000000000.00)")]
    TooLarge,
}

impl Cents {
    pub const ZERO: Cents = Cents(0);

    /// Builds an amount from a count of cents read back from storage or computed from amounts.
    pub fn from_cents(cents: i64) -> Result<Cents, MoneyError> {
        if cents < 0 {
            Err(MoneyError::Negative)
        } else {
            Ok(Cents(cents))
        }
    }

    pub const fn cents(self) -> i64 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn checked_add(self, other: Cents) -> Option<Cents> {
        self.0.checked_add(other.0).map(Cents)
    }

    pub fn checked_sub(self, other: Cents) -> Option<Cents> {
        self.0.checked_sub(other.0).filter(|c| *c >= 0).map(Cents)
    }

    pub fn checked_mul(self, n: i64) -> Option<Cents> {
        self.0.checked_mul(n).filter(|c| *c >= 0).map(Cents)
    }

    /// The amount as a decimal in euros, for display and for rates.
    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0, 2)
    }

    /// Parses an amount that must be strictly positive (a payment, a redemption, a refund).
    pub fn parse_positive(s: &str) -> Result<Cents, MoneyError> {
        let c: Cents = s.parse()?;
        if c.is_zero() {
            return Err(MoneyError::NotPositive);
        }
        Ok(c)
    }
}

/// Formats signed cents the way the API prints money: `-12.50`, `0.00`.
pub fn format_signed_cents(cents: i64) -> String {
    Decimal::new(cents, 2).to_string()
}

impl FromStr for Cents {
    type Err = MoneyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // rust_decimal accepts forms we do not want at a payments edge ("1_000", "+5", " 5",
        // "1e3"), so check the shape first: digits, optionally a dot and one or two digits.
        let (int_part, frac_part) = match s.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (s, None),
        };
        let unsigned = int_part.strip_prefix('-').unwrap_or(int_part);
        let digits_ok = !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit());
        let frac_ok = match frac_part {
            None => true,
            Some(f) => !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()),
        };
        if !digits_ok || !frac_ok {
            return Err(MoneyError::NotADecimalString);
        }
        if frac_part.is_some_and(|f| f.len() > 2) {
            return Err(MoneyError::TooManyDecimals);
        }
        if unsigned.len() > 15 {
            return Err(MoneyError::TooLarge);
        }
        let value = Decimal::from_str_exact(s).map_err(|_| MoneyError::NotADecimalString)?;
        if value.is_sign_negative() && !value.is_zero() {
            return Err(MoneyError::Negative);
        }
        let cents = (value * Decimal::ONE_HUNDRED)
            .to_i64()
            .ok_or(MoneyError::TooLarge)?;
        if cents > MAX_CENTS {
            return Err(MoneyError::TooLarge);
        }
        Ok(Cents(cents.abs()))
    }
}

impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_decimal())
    }
}

impl Serialize for Cents {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cents {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Cents;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a decimal string in euros such as \"12.50\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Cents, E> {
                v.parse()
                    .map_err(|e: MoneyError| E::custom(format!("{MONEY_ERROR_PREFIX}{e}")))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Cents, E> {
                Err(E::custom(format!(
                    "{MONEY_ERROR_PREFIX}must be a string such as \"12.50\", not a number"
                )))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Cents, E> {
                self.visit_i64(v as i64)
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Cents, E> {
                self.visit_i64(0)
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Cents, E> {
                Err(E::custom(format!(
                    "{MONEY_ERROR_PREFIX}is required, as a string such as \"12.50\""
                )))
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Cents, E> {
                self.visit_unit()
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, _: A) -> Result<Cents, A::Error> {
                self.visit_unit()
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<Cents, A::Error> {
                self.visit_unit()
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl utoipa::PartialSchema for Cents {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^\d{1,10}(\.\d{1,2})?$"))
            .description(Some(
                "Amount in euros, a decimal string with at most 2 decimals",
            ))
            .examples([serde_json::json!("12.50")])
            .into()
    }
}
impl utoipa::ToSchema for Cents {}

/// An amount that may be below zero: a balance of the fund's books (the bank account once a
/// payout has left, a trial balance's net), never a member's spending balance, which is a
/// [`Cents`]. On the wire it is a decimal string in euros with a sign: `-12.50`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SignedCents(i64);

impl SignedCents {
    pub const ZERO: SignedCents = SignedCents(0);

    pub fn from_cents(cents: i64) -> SignedCents {
        SignedCents(cents)
    }

    pub fn cents(self) -> i64 {
        self.0
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    pub fn checked_add(self, other: SignedCents) -> Option<SignedCents> {
        self.0.checked_add(other.0).map(SignedCents)
    }

    pub fn checked_sub(self, other: SignedCents) -> Option<SignedCents> {
        self.0.checked_sub(other.0).map(SignedCents)
    }
}

impl From<Cents> for SignedCents {
    fn from(c: Cents) -> SignedCents {
        SignedCents(c.cents())
    }
}

impl fmt::Display for SignedCents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_signed_cents(self.0))
    }
}

impl Serialize for SignedCents {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SignedCents {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let (negative, magnitude) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.as_str()),
        };
        let c: Cents = magnitude.parse().map_err(|e: MoneyError| {
            serde::de::Error::custom(format!("{MONEY_ERROR_PREFIX}{e}"))
        })?;
        Ok(SignedCents(if negative { -c.cents() } else { c.cents() }))
    }
}

impl utoipa::PartialSchema for SignedCents {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^-?\d{1,13}\.\d{2}$"))
            .description(Some(
                "Amount in euros that may be negative, a decimal string with 2 decimals",
            ))
            .examples([serde_json::json!("-12.50")])
            .into()
    }
}
impl utoipa::ToSchema for SignedCents {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_amount_reads_back_what_it_writes() {
        for cents in [-1_250, -1, 0, 5, 123_456] {
            let s = SignedCents::from_cents(cents);
            let wire = serde_json::to_string(&s).unwrap();
            assert_eq!(
                serde_json::from_str::<SignedCents>(&wire).unwrap(),
                s,
                "{wire}"
            );
        }
        assert_eq!(SignedCents::from_cents(-1_250).to_string(), "-12.50");
        assert_eq!(SignedCents::from_cents(-1).to_string(), "-0.01");
    }

    #[test]
    fn parses_valid_amounts() {
        assert_eq!("12.50".parse::<Cents>().unwrap().cents(), 1250);
        assert_eq!("12.5".parse::<Cents>().unwrap().cents(), 1250);
        assert_eq!("0".parse::<Cents>().unwrap().cents(), 0);
        assert_eq!("0.01".parse::<Cents>().unwrap().cents(), 1);
        assert_eq!("1000000000".parse::<Cents>().unwrap().cents(), MAX_CENTS);
        assert_eq!("-0.00".parse::<Cents>().unwrap().cents(), 0);
    }

    #[test]
    fn rejects_bad_amounts() {
        for (s, e) in [
            ("12.505", MoneyError::TooManyDecimals),
            ("12.500", MoneyError::TooManyDecimals),
            ("-1.00", MoneyError::Negative),
            ("1e3", MoneyError::NotADecimalString),
            ("1_000", MoneyError::NotADecimalString),
            ("+5", MoneyError::NotADecimalString),
            (" 5", MoneyError::NotADecimalString),
            ("", MoneyError::NotADecimalString),
            (".5", MoneyError::NotADecimalString),
            ("5.", MoneyError::NotADecimalString),
            ("1,50", MoneyError::NotADecimalString),
            ("1000000000.01", MoneyError::TooLarge),
            ("99999999999999999999999", MoneyError::TooLarge),
        ] {
            assert_eq!(s.parse::<Cents>(), Err(e), "{s}");
        }
        assert_eq!(Cents::parse_positive("0.00"), Err(MoneyError::NotPositive));
    }

    #[test]
    fn prints_two_decimals() {
        assert_eq!(Cents(1250).to_string(), "12.50");
        assert_eq!(Cents(5).to_string(), "0.05");
        assert_eq!(Cents(0).to_string(), "0.00");
        assert_eq!(format_signed_cents(-1250), "-12.50");
    }

    #[test]
    fn json_accepts_strings_only() {
        let ok: Cents = serde_json::from_str("\"3.20\"").unwrap();
        assert_eq!(ok.cents(), 320);
        let err = serde_json::from_str::<Cents>("3.2")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(MONEY_ERROR_PREFIX), "{err}");
        let err = serde_json::from_str::<Cents>("3").unwrap_err().to_string();
        assert!(err.starts_with(MONEY_ERROR_PREFIX), "{err}");
    }

    proptest::proptest! {
        #[test]
        fn round_trips(c in 0i64..=MAX_CENTS) {
            let s = Cents(c).to_string();
            proptest::prop_assert_eq!(s.parse::<Cents>().unwrap().cents(), c);
        }
    }
}
