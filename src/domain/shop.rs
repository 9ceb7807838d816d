//! Approved shops and producers (*commerces conventionnés*): what an application must hold, the
//! statuses a shop goes through, the committee's votes, and the SIRET check.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::bank::{is_valid_bic, normalize_iban, validate_iban};
use super::settings::FundSettings;
use super::FieldError;

/// Where a shop stands. Only an `approved` shop takes payments.
///
/// `pending` → (decision) `approved` | `rejected`; `approved` ⇄ `suspended` (suspend,
/// reinstate, effective at once); an approved or suspended shop can be decided on again at its
/// review. `rejected` is final: a shop that wants to try again applies again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShopStatus {
    Pending,
    Approved,
    Rejected,
    Suspended,
}

impl ShopStatus {
    pub const ALL: [ShopStatus; 4] = [
        ShopStatus::Pending,
        ShopStatus::Approved,
        ShopStatus::Rejected,
        ShopStatus::Suspended,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ShopStatus::Pending => "pending",
            ShopStatus::Approved => "approved",
            ShopStatus::Rejected => "rejected",
            ShopStatus::Suspended => "suspended",
        }
    }

    pub fn parse(s: &str) -> Option<ShopStatus> {
        ShopStatus::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The committee may vote on an application, and again at a review; a rejected shop is
    /// closed.
    pub fn open_to_votes(self) -> bool {
        self != ShopStatus::Rejected
    }

    /// An admin may decide on an application, and again at a review (renew or end the approval).
    pub fn open_to_decision(self) -> bool {
        self != ShopStatus::Rejected
    }

    /// Only an approved shop's tills are accepted.
    pub fn accepts_payments(self) -> bool {
        self == ShopStatus::Approved
    }
}

impl fmt::Display for ShopStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A committee member's vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VoteChoice {
    For,
    Against,
    Abstain,
}

impl VoteChoice {
    pub fn as_str(self) -> &'static str {
        match self {
            VoteChoice::For => "for",
            VoteChoice::Against => "against",
            VoteChoice::Abstain => "abstain",
        }
    }

    pub fn parse(s: &str) -> Option<VoteChoice> {
        [VoteChoice::For, VoteChoice::Against, VoteChoice::Abstain]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// An admin's decision on an application (or at a review).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approved,
    Rejected,
}

impl Decision {
    pub fn status(self) -> ShopStatus {
        match self {
            Decision::Approved => ShopStatus::Approved,
            Decision::Rejected => ShopStatus::Rejected,
        }
    }
}

/// Every change of a shop's status, as kept in its history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusChange {
    Approved,
    Rejected,
    Suspended,
    Reinstated,
}

impl StatusChange {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusChange::Approved => "approved",
            StatusChange::Rejected => "rejected",
            StatusChange::Suspended => "suspended",
            StatusChange::Reinstated => "reinstated",
        }
    }

    pub fn parse(s: &str) -> Option<StatusChange> {
        [
            StatusChange::Approved,
            StatusChange::Rejected,
            StatusChange::Suspended,
            StatusChange::Reinstated,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

impl From<Decision> for StatusChange {
    fn from(d: Decision) -> StatusChange {
        match d {
            Decision::Approved => StatusChange::Approved,
            Decision::Rejected => StatusChange::Rejected,
        }
    }
}

/// Votes counted by choice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Tally {
    #[serde(rename = "for")]
    pub votes_for: i64,
    pub against: i64,
    pub abstain: i64,
}

impl Tally {
    pub fn add(&mut self, choice: VoteChoice, n: i64) {
        match choice {
            VoteChoice::For => self.votes_for += n,
            VoteChoice::Against => self.against += n,
            VoteChoice::Abstain => self.abstain += n,
        }
    }

    pub fn total(&self) -> i64 {
        self.votes_for + self.against + self.abstain
    }
}

/// A shop's or producer's application, as sent by the committee or an admin.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShopApplication {
    /// The name members know, e.g. "Boulangerie du Marché".
    #[schema(example = "Boulangerie Le Fournil du 8e")]
    pub name: String,
    /// The registered name of the business.
    #[schema(example = "SARL Le Fournil du 8e")]
    pub legal_name: String,
    /// 14 digits (spaces allowed), Luhn-checked.
    #[serde(default)]
    #[schema(example = "73282932000074")]
    pub siret: Option<String>,
    /// Where the fund pays the shop; checked by country structure and mod-97.
    #[schema(example = "FR7630006000011234567890189")]
    pub iban: String,
    #[serde(default)]
    #[schema(example = "AGRIFRPP")]
    pub bic: Option<String>,
    #[schema(example = "12 rue Saint-Maurice, 69008 Lyon")]
    pub address: String,
    /// At least one, each from the fund's list (settings `categories`).
    #[schema(example = json!(["boulangerie"]))]
    pub categories: Vec<String>,
    /// The shop's answer to each of the fund's criteria (settings `criteria`), by criterion id.
    #[serde(default)]
    #[schema(example = json!({"locality": "Farines du Rhône, moulin à 30 km"}))]
    pub criteria: BTreeMap<String, String>,
}

/// An application that passed every check, in normal form (IBAN without spaces, SIRET digits
/// only, BIC upper case).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidApplication {
    pub name: String,
    pub legal_name: String,
    pub siret: Option<String>,
    pub iban: String,
    pub bic: Option<String>,
    pub address: String,
    pub categories: Vec<String>,
    pub criteria: BTreeMap<String, String>,
}

const MAX_ANSWER_CHARS: usize = 2000;

fn text(field: &str, value: &str, max: usize, errors: &mut Vec<FieldError>) -> String {
    let v = value.trim();
    let n = v.chars().count();
    if n == 0 || n > max {
        errors.push(FieldError::new(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    v.to_string()
}

impl ShopApplication {
    /// Checks every field against the fund's settings; each problem names its field
    /// (`siret`, `iban`, `categories[1]`, `criteria.locality`...).
    pub fn validate(&self, settings: &FundSettings) -> Result<ValidApplication, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = text("name", &self.name, 140, &mut errors);
        let legal_name = text("legal_name", &self.legal_name, 140, &mut errors);
        let address = text("address", &self.address, 300, &mut errors);

        let siret = self.siret.as_deref().map(|s| {
            let digits: String = s.chars().filter(|c| !c.is_whitespace()).collect();
            if !is_valid_siret(&digits) {
                errors.push(FieldError::new(
                    "siret",
                    "must be 14 digits with a valid check digit (Luhn)",
                ));
            }
            digits
        });

        let iban = normalize_iban(&self.iban);
        if let Err(e) = validate_iban(&iban) {
            errors.push(FieldError::new("iban", e));
        }

        let bic = self.bic.as_deref().map(|b| {
            let b: String = b
                .chars()
                .filter(|c| !c.is_whitespace())
                .flat_map(char::to_uppercase)
                .collect();
            if !is_valid_bic(&b) {
                errors.push(FieldError::new("bic", "must be 8 or 11 letters and digits"));
            }
            b
        });

        if self.categories.is_empty() {
            errors.push(FieldError::new("categories", "give at least one category"));
        }
        let mut categories = Vec::new();
        for (i, c) in self.categories.iter().enumerate() {
            let c = c.trim();
            if !settings.categories.iter().any(|k| k == c) {
                errors.push(FieldError::new(
                    format!("categories[{i}]"),
                    format!(
                        "not one of the fund's categories: {}",
                        settings.categories.join(", ")
                    ),
                ));
            } else if categories.iter().any(|k| k == c) {
                errors.push(FieldError::new(format!("categories[{i}]"), "given twice"));
            } else {
                categories.push(c.to_string());
            }
        }

        let mut criteria = BTreeMap::new();
        for (id, answer) in &self.criteria {
            let field = format!("criteria.{id}");
            if !settings.criteria.iter().any(|c| &c.id == id) {
                let known: Vec<&str> = settings.criteria.iter().map(|c| c.id.as_str()).collect();
                errors.push(FieldError::new(
                    field,
                    format!("not one of the fund's criteria: {}", known.join(", ")),
                ));
                continue;
            }
            let answer = text(&field, answer, MAX_ANSWER_CHARS, &mut errors);
            criteria.insert(id.clone(), answer);
        }

        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ValidApplication {
            name,
            legal_name,
            siret,
            iban,
            bic,
            address,
            categories,
            criteria,
        })
    }
}

/// A SIRET: 14 digits whose Luhn sum is a multiple of 10. La Poste's establishments (SIREN
/// 356 000 000) are the one exception INSEE documents: the sum of their digits is a multiple of 5.
pub fn is_valid_siret(siret: &str) -> bool {
    if siret.len() != 14 || !siret.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let digits = digits_of(siret);
    if siret.starts_with("356000000") && siret != "35600000000048" {
        return digits.iter().sum::<u32>().is_multiple_of(5);
    }
    luhn_sum(&digits).is_multiple_of(10)
}

fn digits_of(s: &str) -> Vec<u32> {
    s.bytes().map(|b| u32::from(b - b'0')).collect()
}

/// The Luhn sum: from the right, every second digit doubled (minus 9 when over 9).
fn luhn_sum(digits: &[u32]) -> u32 {
    digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 {
                    d2 - 9
                } else {
                    d2
                }
            } else {
                d
            }
        })
        .sum()
}

/// The digit that completes 13 digits into a valid SIRET (used to build demo data).
pub fn siret_check_digit(first13: &str) -> Option<char> {
    if first13.len() != 13 || !first13.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    (0..=9u8)
        .map(|d| format!("{first13}{d}"))
        .find(|s| luhn_sum(&digits_of(s)).is_multiple_of(10))
        .and_then(|s| s.chars().last())
}

/// A review date must lie after today: a review "today or before" would be due at once.
pub fn validate_review_on(review_on: NaiveDate, today: NaiveDate) -> Result<(), FieldError> {
    if review_on <= today {
        return Err(FieldError::new("review_on", "must be a date in the future"));
    }
    Ok(())
}

/// A free-text note of a decision, suspension or vote: optional, bounded, trimmed.
pub fn validate_note(
    field: &str,
    note: Option<&str>,
    max: usize,
) -> Result<Option<String>, FieldError> {
    match note.map(str::trim) {
        None | Some("") => Ok(None),
        Some(n) if n.chars().count() > max => Err(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        )),
        Some(n) => Ok(Some(n.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> ShopApplication {
        ShopApplication {
            name: " Le Fournil ".into(),
            legal_name: "SARL Le Fournil".into(),
            siret: Some("732 829 320 00074".into()),
            iban: "fr76 3000 6000 0112 3456 7890 189".into(),
            bic: Some("agri frpp".into()),
            address: "12 rue Saint-Maurice, 69008 Lyon".into(),
            categories: vec!["boulangerie".into()],
            criteria: [("locality".to_string(), "Farines locales".to_string())].into(),
        }
    }

    #[test]
    fn siret_luhn() {
        assert!(is_valid_siret("73282932000074"));
        assert!(!is_valid_siret("73282932000075"));
        assert!(!is_valid_siret("7328293200007"));
        assert!(!is_valid_siret("7328293200007a"));
        // La Poste: digit sum a multiple of 5, Luhn or not.
        assert!(is_valid_siret("35600000049837"));
        assert_eq!(siret_check_digit("7328293200007"), Some('4'));
        assert_eq!(siret_check_digit("12"), None);
    }

    #[test]
    fn a_good_application_is_normalised() {
        let v = app().validate(&FundSettings::example()).unwrap();
        assert_eq!(v.name, "Le Fournil");
        assert_eq!(v.siret.as_deref(), Some("73282932000074"));
        assert_eq!(v.iban, "FR7630006000011234567890189");
        assert_eq!(v.bic.as_deref(), Some("AGRIFRPP"));
    }

    #[test]
    fn each_mistake_names_its_field() {
        let mut a = app();
        a.name = " ".into();
        a.siret = Some("73282932000075".into());
        a.iban = "FR7630006000011234567890188".into();
        a.bic = Some("AGRI".into());
        a.categories = vec![
            "boulangerie".into(),
            "bijouterie".into(),
            "boulangerie".into(),
        ];
        a.criteria.insert("colour".into(), "green".into());
        a.criteria.insert("accessibility".into(), "".into());
        let fields: Vec<String> = a
            .validate(&FundSettings::example())
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            vec![
                "name",
                "siret",
                "iban",
                "bic",
                "categories[1]",
                "categories[2]",
                "criteria.accessibility",
                "criteria.colour"
            ]
        );
    }

    #[test]
    fn review_dates_and_notes() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        assert!(validate_review_on(today, today).is_err());
        assert!(validate_review_on(today.succ_opt().unwrap(), today).is_ok());
        assert_eq!(validate_note("note", Some("  "), 10), Ok(None));
        assert_eq!(
            validate_note("note", Some(" ok "), 10),
            Ok(Some("ok".into()))
        );
        assert!(validate_note("note", Some(&"x".repeat(11)), 10).is_err());
    }

    #[test]
    fn tally_counts() {
        let mut t = Tally::default();
        t.add(VoteChoice::For, 2);
        t.add(VoteChoice::Abstain, 1);
        assert_eq!(t.total(), 3);
        assert_eq!(
            serde_json::to_value(t).unwrap(),
            serde_json::json!({"for": 2, "against": 0, "abstain": 1})
        );
    }
}
