//! Members: status, numbering, payment references, contribution periods.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    Active,
    Suspended,
    /// Left the fund: personal data erased, ledger kept under the member number.
    Left,
}

impl MemberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Active => "active",
            MemberStatus::Suspended => "suspended",
            MemberStatus::Left => "left",
        }
    }
}

impl FromStr for MemberStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "active" => Ok(MemberStatus::Active),
            "suspended" => Ok(MemberStatus::Suspended),
            "left" => Ok(MemberStatus::Left),
            _ => Err(()),
        }
    }
}

/// How a member paid their dues.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    Transfer,
    Cash,
    Cheque,
    Card,
    DirectDebit,
}

impl PaymentMethod {
    pub const ALL: [PaymentMethod; 5] = [
        PaymentMethod::Transfer,
        PaymentMethod::Cash,
        PaymentMethod::Cheque,
        PaymentMethod::Card,
        PaymentMethod::DirectDebit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::Transfer => "transfer",
            PaymentMethod::Cash => "cash",
            PaymentMethod::Cheque => "cheque",
            PaymentMethod::Card => "card",
            PaymentMethod::DirectDebit => "direct_debit",
        }
    }

    /// The word in the ledger's French labels ("Cotisation M000042 (espèces)").
    pub fn label(self) -> &'static str {
        match self {
            PaymentMethod::Transfer => "virement",
            PaymentMethod::Cash => "espèces",
            PaymentMethod::Cheque => "chèque",
            PaymentMethod::Card => "carte",
            PaymentMethod::DirectDebit => "prélèvement",
        }
    }
}

impl FromStr for PaymentMethod {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        PaymentMethod::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or(())
    }
}

/// The member's pseudonymous code in the ledger and the FEC: `M000042`.
pub fn account_ref(number: i64) -> String {
    format!("M{number:06}")
}

/// ISO 11649 structured creditor reference for a member number: `RF` + 2 check digits + body.
/// Members quote it on their transfers; the check digits catch typing mistakes.
pub fn payment_reference(number: i64) -> String {
    let body = account_ref(number);
    let check = 98 - mod97(&format!("{body}RF00"));
    format!("RF{check:02}{body}")
}

/// Letters count as 10..35, digits as themselves; the result is the whole number mod 97.
fn mod97(s: &str) -> u32 {
    let mut r: u32 = 0;
    for ch in s.chars() {
        let v = ch.to_digit(36).unwrap_or(0);
        r = if v >= 10 {
            (r * 100 + v) % 97
        } else {
            (r * 10 + v) % 97
        };
    }
    r
}

/// Whether `s` is a well-formed ISO 11649 reference (checked with mod 97).
pub fn is_valid_payment_reference(s: &str) -> bool {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    s.len() >= 5
        && s.len() <= 25
        && s.starts_with("RF")
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && s[2..4].chars().all(|c| c.is_ascii_digit())
        && mod97(&format!("{}{}", &s[4..], &s[..4])) == 1
}

/// The member references found in a bank transfer's free text ("Cotisation RF47M000042").
pub fn find_payment_references(text: &str) -> Vec<String> {
    let upper: String = text.to_uppercase();
    let bytes = upper.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while let Some(pos) = upper[i..].find("RF") {
        let start = i + pos;
        let mut end = start + 2;
        while end < bytes.len() && bytes[end].is_ascii_alphanumeric() && end - start < 25 {
            end += 1;
        }
        let candidate = &upper[start..end];
        if is_valid_payment_reference(candidate) {
            found.push(candidate.to_string());
        }
        i = start + 2;
    }
    found
}

/// A month of contributions and allowances: `YYYY-MM`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    year: i32,
    month: u32,
}

impl Period {
    pub fn new(year: i32, month: u32) -> Option<Period> {
        ((2000..=2100).contains(&year) && (1..=12).contains(&month))
            .then_some(Period { year, month })
    }

    pub fn of(date: NaiveDate) -> Period {
        Period {
            year: date.year(),
            month: date.month(),
        }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("valid period")
    }

    pub fn next(self) -> Period {
        if self.month == 12 {
            Period {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Period {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    pub fn previous(self) -> Period {
        if self.month == 1 {
            Period {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Period {
                year: self.year,
                month: self.month - 1,
            }
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for Period {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Period, &'static str> {
        const MSG: &str = "must be a month YYYY-MM between 2000-01 and 2100-12";
        let b = s.as_bytes();
        if b.len() != 7
            || b[4] != b'-'
            || !s[..4]
                .bytes()
                .chain(s[5..].bytes())
                .all(|c| c.is_ascii_digit())
        {
            return Err(MSG);
        }
        Period::new(
            s[..4].parse().map_err(|_| MSG)?,
            s[5..].parse().map_err(|_| MSG)?,
        )
        .ok_or(MSG)
    }
}

impl Serialize for Period {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for Period {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^\d{4}-\d{2}$"))
            .examples([serde_json::json!("2026-11")])
            .into()
    }
}
impl ToSchema for Period {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_carry_valid_check_digits() {
        for n in [1, 42, 999_999, 1_000_000] {
            let r = payment_reference(n);
            assert!(is_valid_payment_reference(&r), "{r}");
            assert!(r.ends_with(&account_ref(n)));
        }
        // The ISO 11649 example.
        assert!(is_valid_payment_reference("RF18539007547034"));
        assert!(!is_valid_payment_reference("RF19539007547034"));
        let r = payment_reference(42);
        let typo = r.replace("42", "24");
        assert!(!is_valid_payment_reference(&typo));
    }

    #[test]
    fn references_are_found_in_free_text() {
        let r = payment_reference(42);
        let text = format!("VIR SEPA cotisation novembre {} merci", r.to_lowercase());
        assert_eq!(find_payment_references(&text), vec![r]);
        assert!(find_payment_references("REF INTERNE RF00XYZ").is_empty());
    }

    #[test]
    fn payment_methods_read_back_their_wire_word() {
        for m in PaymentMethod::ALL {
            assert_eq!(m.as_str().parse::<PaymentMethod>(), Ok(m));
            let wire = serde_json::to_string(&m).unwrap();
            assert_eq!(wire, format!("\"{}\"", m.as_str()));
        }
        assert!("bitcoin".parse::<PaymentMethod>().is_err());
    }

    #[test]
    fn periods() {
        let p: Period = "2026-11".parse().unwrap();
        assert_eq!(p.to_string(), "2026-11");
        assert_eq!(p.next().to_string(), "2026-12");
        assert_eq!(p.next().next().to_string(), "2027-01");
        assert_eq!(
            "2027-01".parse::<Period>().unwrap().previous(),
            "2026-12".parse().unwrap()
        );
        for bad in [
            "2026-13",
            "2026-00",
            "26-11",
            "2026-1",
            "1999-12",
            "2026/11",
            "２０２６-11",
        ] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
    }
}
