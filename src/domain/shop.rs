//! Approved shops and producers (*commerces conventionnés*): what an application must hold, the
//! statuses a shop goes through, the committee's votes, and the SIRET check.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::bank::{is_valid_bic, normalize_iban, validate_iban};
use super::settings::FundSettings;
use super::{FieldError, Role};

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

/// A change the shop's status does not allow (409 `wrong_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the shop is {status}: it cannot be {action}")]
pub struct WrongStatus {
    pub status: ShopStatus,
    pub action: &'static str,
}

impl ShopStatus {
    /// The status after `change`: a decision while the shop is open to one; a suspension of an
    /// approved shop; a reinstatement of a suspended one.
    pub fn after(self, change: StatusChange) -> Result<ShopStatus, WrongStatus> {
        let refused = |action| WrongStatus {
            status: self,
            action,
        };
        match change {
            StatusChange::Approved | StatusChange::Rejected if !self.open_to_decision() => {
                Err(refused("decided on again"))
            }
            StatusChange::Approved => Ok(ShopStatus::Approved),
            StatusChange::Rejected => Ok(ShopStatus::Rejected),
            StatusChange::Suspended if self == ShopStatus::Approved => Ok(ShopStatus::Suspended),
            StatusChange::Suspended => Err(refused("suspended")),
            StatusChange::Reinstated if self == ShopStatus::Suspended => Ok(ShopStatus::Approved),
            StatusChange::Reinstated => Err(refused("reinstated")),
        }
    }

    /// Whether the committee may vote now.
    pub fn check_vote(self) -> Result<(), WrongStatus> {
        if self.open_to_votes() {
            Ok(())
        } else {
            Err(WrongStatus {
                status: self,
                action: "voted on",
            })
        }
    }

    /// A rejected shop gets no till (it will never take payments); a pending one may, so the
    /// till is ready on the day of approval.
    pub fn check_new_terminal(self) -> Result<(), WrongStatus> {
        if self == ShopStatus::Rejected {
            Err(WrongStatus {
                status: self,
                action: "given a terminal",
            })
        } else {
            Ok(())
        }
    }
}

/// What a role may see of a shop. Admins and treasurers see IBANs, nobody else; admins and
/// committee members see the vote tally; members and tills see the public fields only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sight {
    /// Bank details: admin and treasurer.
    pub iban: bool,
    /// Legal name, SIRET, BIC, dates, criteria answers, history: everyone but members and tills.
    pub details: bool,
    /// The tally of the votes: admin and committee.
    pub tally: bool,
    /// Each voter's choice: the admin sees every vote, a committee member their own only.
    pub every_vote: bool,
}

impl Sight {
    pub fn of(role: Role) -> Sight {
        let (iban, details, tally) = match role {
            Role::Admin => (true, true, true),
            Role::Treasurer => (true, true, false),
            Role::Committee => (false, true, true),
            Role::Member | Role::Terminal => (false, false, false),
        };
        Sight {
            iban,
            details,
            tally,
            every_vote: role == Role::Admin,
        }
    }
}

/// Whether a caller of `role` (a till: of `own_shop`) may see this shop at all; if not, it is
/// answered as if it did not exist. Members see approved shops, a till its own shop.
pub fn visible(role: Role, own_shop: Option<&str>, shop_id: &str, status: ShopStatus) -> bool {
    match role {
        Role::Member => status == ShopStatus::Approved,
        Role::Terminal => own_shop == Some(shop_id),
        Role::Admin | Role::Treasurer | Role::Committee => true,
    }
}

/// The shops a role's list holds, given the status asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListScope {
    /// None at all (a member asking for pending shops).
    Nothing,
    /// Shops in these statuses (empty: any), only this one when `only` is given.
    Shops {
        statuses: Vec<ShopStatus>,
        only: Option<String>,
    },
}

pub fn list_scope(role: Role, own_shop: Option<&str>, asked: Option<ShopStatus>) -> ListScope {
    let statuses: Vec<ShopStatus> = asked.into_iter().collect();
    match role {
        Role::Member if statuses.iter().any(|s| *s != ShopStatus::Approved) => ListScope::Nothing,
        Role::Member => ListScope::Shops {
            statuses: vec![ShopStatus::Approved],
            only: None,
        },
        // A till lists its own shop (an empty id, matching nothing, if it somehow has none).
        Role::Terminal => ListScope::Shops {
            statuses,
            only: Some(own_shop.unwrap_or_default().to_string()),
        },
        Role::Admin | Role::Treasurer | Role::Committee => ListScope::Shops {
            statuses,
            only: None,
        },
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
    pub fn parse(s: &str) -> Option<Decision> {
        match s {
            "approved" => Some(Decision::Approved),
            "rejected" => Some(Decision::Rejected),
            _ => None,
        }
    }

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

        let siret = self.siret.as_deref().map(|s| siret_of(s, &mut errors));
        let iban = normalize_iban(&self.iban);
        if let Err(e) = validate_iban(&iban) {
            errors.push(FieldError::new("iban", e));
        }
        let bic = self.bic.as_deref().map(|b| bic_of(b, &mut errors));
        let categories = categories_of(&self.categories, settings, &mut errors);
        let criteria = criteria_of(&self.criteria, settings, &mut errors);
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

/// A SIRET as typed (spaces dropped), checked.
fn siret_of(typed: &str, errors: &mut Vec<FieldError>) -> String {
    let digits: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    if !is_valid_siret(&digits) {
        errors.push(FieldError::new(
            "siret",
            "must be 14 digits with a valid check digit (Luhn)",
        ));
    }
    digits
}

/// A BIC as typed (spaces dropped, capitals), checked.
fn bic_of(typed: &str, errors: &mut Vec<FieldError>) -> String {
    let b: String = typed
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect();
    if !is_valid_bic(&b) {
        errors.push(FieldError::new("bic", "must be 8 or 11 letters and digits"));
    }
    b
}

/// At least one of the fund's categories, none twice.
fn categories_of(
    typed: &[String],
    settings: &FundSettings,
    errors: &mut Vec<FieldError>,
) -> Vec<String> {
    if typed.is_empty() {
        errors.push(FieldError::new("categories", "give at least one category"));
    }
    let mut categories: Vec<String> = Vec::new();
    for (i, c) in typed.iter().enumerate() {
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
    categories
}

/// An answer to each of the fund's criteria that was answered, none to a criterion it lacks.
fn criteria_of(
    typed: &BTreeMap<String, String>,
    settings: &FundSettings,
    errors: &mut Vec<FieldError>,
) -> BTreeMap<String, String> {
    let mut criteria = BTreeMap::new();
    for (id, answer) in typed {
        let field = format!("criteria.{id}");
        if !settings.criteria.iter().any(|c| &c.id == id) {
            let known: Vec<&str> = settings.criteria.iter().map(|c| c.id.as_str()).collect();
            errors.push(FieldError::new(
                field,
                format!("not one of the fund's criteria: {}", known.join(", ")),
            ));
            continue;
        }
        let answer = text(&field, answer, MAX_ANSWER_CHARS, errors);
        criteria.insert(id.clone(), answer);
    }
    criteria
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

/// A decision's note and review date: only an approval has a review date, after today.
pub fn validate_decision(
    decision: Decision,
    note: Option<&str>,
    review_on: Option<NaiveDate>,
    today: NaiveDate,
) -> Result<(Option<String>, Option<NaiveDate>), Vec<FieldError>> {
    let mut errors = Vec::new();
    let note = validate_note("note", note, MAX_NOTE_CHARS).unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    if let Some(r) = review_on {
        if decision == Decision::Rejected {
            errors.push(FieldError::new(
                "review_on",
                "only an approval has a review date",
            ));
        } else if let Err(e) = validate_review_on(r, today) {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok((note, review_on))
    } else {
        Err(errors)
    }
}

/// A decision's, suspension's or reinstatement's note.
pub const MAX_NOTE_CHARS: usize = 2000;
/// A vote's comment.
pub const MAX_COMMENT_CHARS: usize = 1000;

/// A till's label ("Caisse 1", "Marché du jeudi"): 1 to 80 characters, trimmed.
pub fn validate_terminal_label(label: &str) -> Result<String, FieldError> {
    let label = label.trim();
    let n = label.chars().count();
    if n == 0 || n > 80 {
        return Err(FieldError::new("label", "must be 1 to 80 characters"));
    }
    Ok(label.to_string())
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
    fn status_transitions() {
        use ShopStatus::*;
        use StatusChange as C;
        for from in [Pending, Approved, Suspended] {
            assert_eq!(from.after(C::Approved), Ok(Approved));
            assert_eq!(from.after(C::Rejected), Ok(Rejected));
            assert!(from.check_vote().is_ok());
            assert!(from.check_new_terminal().is_ok());
        }
        fn wrong<T>(status: ShopStatus, action: &'static str) -> Result<T, WrongStatus> {
            Err(WrongStatus { status, action })
        }
        assert_eq!(
            Rejected.after(C::Approved),
            wrong(Rejected, "decided on again")
        );
        assert_eq!(Rejected.check_vote(), wrong(Rejected, "voted on"));
        assert_eq!(
            Rejected.check_new_terminal(),
            wrong(Rejected, "given a terminal")
        );
        assert_eq!(Approved.after(C::Suspended), Ok(Suspended));
        assert_eq!(Suspended.after(C::Reinstated), Ok(Approved));
        for from in [Pending, Rejected, Suspended] {
            assert_eq!(from.after(C::Suspended), wrong(from, "suspended"));
        }
        for from in [Pending, Rejected, Approved] {
            assert_eq!(from.after(C::Reinstated), wrong(from, "reinstated"));
        }
    }

    #[test]
    fn what_each_role_sees() {
        let admin = Sight::of(Role::Admin);
        assert!(admin.iban && admin.details && admin.tally && admin.every_vote);
        let treasurer = Sight::of(Role::Treasurer);
        assert!(treasurer.iban && treasurer.details && !treasurer.tally);
        let committee = Sight::of(Role::Committee);
        assert!(!committee.iban && committee.details && committee.tally && !committee.every_vote);
        for role in [Role::Member, Role::Terminal] {
            let s = Sight::of(role);
            assert!(!s.iban && !s.details && !s.tally && !s.every_vote);
        }
        assert!(visible(Role::Member, None, "s1", ShopStatus::Approved));
        assert!(!visible(Role::Member, None, "s1", ShopStatus::Suspended));
        assert!(visible(
            Role::Terminal,
            Some("s1"),
            "s1",
            ShopStatus::Pending
        ));
        assert!(!visible(
            Role::Terminal,
            Some("s2"),
            "s1",
            ShopStatus::Approved
        ));
        assert!(visible(Role::Committee, None, "s1", ShopStatus::Rejected));
    }

    #[test]
    fn what_each_role_lists() {
        use ShopStatus::*;
        assert_eq!(
            list_scope(Role::Member, None, Some(Pending)),
            ListScope::Nothing
        );
        let only = |statuses: Vec<ShopStatus>, only: Option<&str>| ListScope::Shops {
            statuses,
            only: only.map(String::from),
        };
        assert_eq!(
            list_scope(Role::Member, None, None),
            only(vec![Approved], None)
        );
        assert_eq!(
            list_scope(Role::Terminal, Some("s1"), None),
            only(vec![], Some("s1"))
        );
        assert_eq!(
            list_scope(Role::Terminal, None, None),
            only(vec![], Some(""))
        );
        assert_eq!(
            list_scope(Role::Admin, None, Some(Pending)),
            only(vec![Pending], None)
        );
    }

    #[test]
    fn decisions_and_labels_are_checked() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        let later = today.succ_opt();
        let fields = |r: Result<_, Vec<FieldError>>| -> Vec<String> {
            r.unwrap_err().into_iter().map(|e| e.field).collect()
        };
        assert_eq!(
            validate_decision(Decision::Approved, Some(" ok "), later, today),
            Ok((Some("ok".into()), later))
        );
        assert_eq!(
            fields(validate_decision(Decision::Rejected, None, later, today)),
            ["review_on"]
        );
        let long = "x".repeat(MAX_NOTE_CHARS + 1);
        assert_eq!(
            fields(validate_decision(
                Decision::Approved,
                Some(&long),
                Some(today),
                today
            )),
            ["note", "review_on"]
        );
        assert_eq!(validate_terminal_label(" Caisse 1 "), Ok("Caisse 1".into()));
        assert!(validate_terminal_label(" ").is_err());
        assert!(validate_terminal_label(&"x".repeat(81)).is_err());
        assert_eq!(Decision::parse("approved"), Some(Decision::Approved));
        assert_eq!(Decision::parse("maybe"), None);
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
