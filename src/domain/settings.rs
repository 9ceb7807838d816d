//! The fund's rules: allowance amounts, the contribution scale, approval criteria.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::household::Household;
use super::money::Cents;
use super::FieldError;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FundSettings {
    pub fund_name: String,
    /// The fund's bank account, debtor of the transfers to shops.
    #[schema(example = "FR7630006000011234567890189")]
    pub iban: String,
    #[serde(default)]
    pub bic: Option<String>,
    /// SIREN of the association, used in the FEC file name.
    #[serde(default)]
    pub siren: Option<String>,
    pub allowance: AllowanceSettings,
    pub contribution_scale: ContributionScale,
    /// Wrong PINs in a row before a printed card is locked.
    pub pin_attempts: u32,
    /// Categories a shop may declare.
    #[serde(default = "default_categories")]
    pub categories: Vec<String>,
    /// The committee's approval criteria.
    #[serde(default = "default_criteria")]
    pub criteria: Vec<Criterion>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllowanceSettings {
    pub first_person: Cents,
    pub additional_adult: Cents,
    pub child: Cents,
    /// A member's balance never exceeds this after an issuance; `null` for no cap.
    #[serde(default)]
    pub balance_cap: Option<Cents>,
}

impl AllowanceSettings {
    /// The monthly allowance of a household: first person, each other person of 14 and over,
    /// each child under 14.
    pub fn monthly_amount(&self, h: Household) -> Option<Cents> {
        let others = i64::from(h.adults().saturating_sub(1));
        self.first_person
            .checked_add(self.additional_adult.checked_mul(others)?)?
            .checked_add(self.child.checked_mul(i64::from(h.children()))?)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Criterion {
    pub id: String,
    pub label: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ContributionScale {
    /// A fixed amount per bracket of monthly income per consumption unit.
    Brackets {
        #[serde(default)]
        minimum: Cents,
        brackets: Vec<Bracket>,
    },
    /// `rate` × monthly income per consumption unit, rounded to the cent, clamped.
    Linear {
        #[schema(value_type = String, example = "0.04")]
        rate: Rate,
        minimum: Cents,
        maximum: Cents,
    },
    /// The member chooses, at least `minimum`.
    Free { minimum: Cents },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Bracket {
    /// Inclusive upper bound of monthly income per consumption unit; `null` for the last one.
    pub up_to: Option<Cents>,
    pub amount: Cents,
}

/// A rate between 0 and 1, as a decimal string (`"0.04"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate(Decimal);

impl Rate {
    pub fn value(self) -> Decimal {
        self.0
    }
}

impl Serialize for Rate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let ok_shape = s.bytes().all(|b| b.is_ascii_digit() || b == b'.') && !s.is_empty();
        let v = Decimal::from_str_exact(&s)
            .ok()
            .filter(|v| ok_shape && *v >= Decimal::ZERO && *v <= Decimal::ONE && v.scale() <= 6)
            .ok_or_else(|| {
                serde::de::Error::custom("must be a decimal string between \"0\" and \"1\"")
            })?;
        Ok(Rate(v))
    }
}

impl ContributionScale {
    /// The monthly contribution for a household with this income, or `chosen` under a free
    /// scale. `None` income counts as zero income.
    pub fn contribution(
        &self,
        household: Household,
        monthly_income: Option<Cents>,
        chosen: Option<Cents>,
    ) -> Cents {
        let income = monthly_income.unwrap_or(Cents::ZERO).to_decimal();
        let per_unit = income / household.consumption_units();
        match self {
            ContributionScale::Brackets { minimum, brackets } => {
                let amount = brackets
                    .iter()
                    .find(|b| b.up_to.is_none_or(|u| per_unit <= u.to_decimal()))
                    .map(|b| b.amount)
                    .unwrap_or(*minimum);
                amount.max(*minimum)
            }
            ContributionScale::Linear {
                rate,
                minimum,
                maximum,
            } => {
                let raw = (rate.value() * per_unit)
                    .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
                let cents = (raw * Decimal::ONE_HUNDRED).to_i64().unwrap_or(i64::MAX);
                Cents::from_cents(cents)
                    .unwrap_or(Cents::ZERO)
                    .clamp(*minimum, *maximum)
            }
            ContributionScale::Free { minimum } => chosen.unwrap_or(*minimum).max(*minimum),
        }
    }

    pub fn minimum(&self) -> Cents {
        match self {
            ContributionScale::Brackets { minimum, .. }
            | ContributionScale::Linear { minimum, .. }
            | ContributionScale::Free { minimum } => *minimum,
        }
    }

    pub fn validate(&self, field: &str, errors: &mut Vec<FieldError>) {
        match self {
            ContributionScale::Brackets { brackets, .. } => {
                if brackets.is_empty() {
                    errors.push(FieldError::new(
                        format!("{field}.brackets"),
                        "at least one bracket is needed",
                    ));
                }
                let mut previous: Option<Cents> = None;
                for (i, b) in brackets.iter().enumerate() {
                    let last = i + 1 == brackets.len();
                    match (b.up_to, last) {
                        (None, false) => errors.push(FieldError::new(
                            format!("{field}.brackets[{i}].up_to"),
                            "only the last bracket may be open-ended (null)",
                        )),
                        (Some(_), true) => errors.push(FieldError::new(
                            format!("{field}.brackets[{i}].up_to"),
                            "the last bracket must be open-ended (null)",
                        )),
                        _ => {}
                    }
                    if let (Some(p), Some(u)) = (previous, b.up_to) {
                        if u <= p {
                            errors.push(FieldError::new(
                                format!("{field}.brackets[{i}].up_to"),
                                "brackets must be in ascending order",
                            ));
                        }
                    }
                    previous = b.up_to.or(previous);
                }
            }
            ContributionScale::Linear {
                minimum, maximum, ..
            } => {
                if maximum < minimum {
                    errors.push(FieldError::new(
                        format!("{field}.maximum"),
                        "must be at least the minimum",
                    ));
                }
            }
            ContributionScale::Free { .. } => {}
        }
    }
}

fn default_categories() -> Vec<String> {
    [
        "fruits_legumes",
        "boulangerie",
        "epicerie",
        "produits_laitiers",
        "viande_poisson",
        "amap",
        "restauration",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

fn default_criteria() -> Vec<Criterion> {
    [
        ("locality", "Production ou approvisionnement local"),
        (
            "working_conditions",
            "Conditions de travail et rémunération",
        ),
        ("price_transparency", "Transparence des prix"),
        ("sustainable_practice", "Pratiques agricoles durables"),
        ("accessibility", "Accessibilité (lieu, horaires, accueil)"),
    ]
    .into_iter()
    .map(|(id, label)| Criterion {
        id: id.into(),
        label: label.into(),
    })
    .collect()
}

impl FundSettings {
    /// Settings a new fund starts with: Lyon 8e's allowance and a Gironde-like bracket scale.
    pub fn example() -> FundSettings {
        let c = |s: &str| s.parse::<Cents>().expect("constant amount");
        FundSettings {
            fund_name: "Caisse alimentaire commune".into(),
            iban: "FR7630006000011234567890189".into(),
            bic: Some("AGRIFRPP".into()),
            siren: None,
            allowance: AllowanceSettings {
                first_person: c("150.00"),
                additional_adult: c("75.00"),
                child: c("45.00"),
                balance_cap: Some(c("300.00")),
            },
            contribution_scale: ContributionScale::Brackets {
                minimum: c("1.00"),
                brackets: vec![
                    Bracket {
                        up_to: Some(c("800.00")),
                        amount: c("10.00"),
                    },
                    Bracket {
                        up_to: Some(c("1500.00")),
                        amount: c("40.00"),
                    },
                    Bracket {
                        up_to: None,
                        amount: c("120.00"),
                    },
                ],
            },
            pin_attempts: 5,
            categories: default_categories(),
            criteria: default_criteria(),
        }
    }

    /// Every problem with the settings, each naming its field.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let name_len = self.fund_name.trim().chars().count();
        if name_len == 0 || name_len > 140 {
            errors.push(FieldError::new("fund_name", "must be 1 to 140 characters"));
        }
        if let Err(e) = super::bank::validate_iban(&self.iban) {
            errors.push(FieldError::new("iban", e));
        }
        if let Some(bic) = &self.bic {
            if !super::bank::is_valid_bic(bic) {
                errors.push(FieldError::new("bic", "must be 8 or 11 letters and digits"));
            }
        }
        if let Some(siren) = &self.siren {
            if siren.len() != 9 || !siren.bytes().all(|b| b.is_ascii_digit()) {
                errors.push(FieldError::new("siren", "must be 9 digits"));
            }
        }
        if let Some(cap) = self.allowance.balance_cap {
            if cap < self.allowance.first_person {
                errors.push(FieldError::new(
                    "allowance.balance_cap",
                    "must be at least the first person's allowance (or null for no cap)",
                ));
            }
        }
        if !(1..=20).contains(&self.pin_attempts) {
            errors.push(FieldError::new("pin_attempts", "must be between 1 and 20"));
        }
        self.contribution_scale
            .validate("contribution_scale", &mut errors);
        for (i, c) in self.categories.iter().enumerate() {
            if c.trim().is_empty() || c.len() > 60 {
                errors.push(FieldError::new(
                    format!("categories[{i}]"),
                    "must be 1 to 60 characters",
                ));
            }
        }
        for (i, c) in self.criteria.iter().enumerate() {
            if c.id.trim().is_empty() || c.label.trim().is_empty() {
                errors.push(FieldError::new(
                    format!("criteria[{i}]"),
                    "id and label are required",
                ));
            }
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cents {
        s.parse().unwrap()
    }

    #[test]
    fn example_settings_are_valid() {
        assert_eq!(FundSettings::example().validate(), vec![]);
    }

    #[test]
    fn brackets_must_ascend_and_end_open() {
        let mut s = FundSettings::example();
        s.contribution_scale = ContributionScale::Brackets {
            minimum: Cents::ZERO,
            brackets: vec![
                Bracket {
                    up_to: Some(c("900")),
                    amount: c("10"),
                },
                Bracket {
                    up_to: Some(c("800")),
                    amount: c("20"),
                },
            ],
        };
        let fields: Vec<_> = s.validate().into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            vec![
                "contribution_scale.brackets[1].up_to",
                "contribution_scale.brackets[1].up_to"
            ]
        );
    }

    #[test]
    fn bracket_boundaries_are_inclusive() {
        let s = FundSettings::example().contribution_scale;
        let one = Household::new(1, 0).unwrap();
        assert_eq!(s.contribution(one, Some(c("800.00")), None), c("10.00"));
        assert_eq!(s.contribution(one, Some(c("800.01")), None), c("40.00"));
        assert_eq!(s.contribution(one, Some(c("0")), None), c("10.00"));
        assert_eq!(s.contribution(one, Some(c("99999")), None), c("120.00"));
    }

    #[test]
    fn linear_rounds_half_away_from_zero_and_clamps() {
        let s = ContributionScale::Linear {
            rate: Rate(Decimal::new(5, 2)),
            minimum: c("1.00"),
            maximum: c("200.00"),
        };
        let one = Household::new(1, 0).unwrap();
        // 0.05 × 10.10 = 0.505 → 0.51
        assert_eq!(s.contribution(one, Some(c("10.10")), None), c("1.00"));
        assert_eq!(s.contribution(one, Some(c("30.10")), None), c("1.51"));
        assert_eq!(s.contribution(one, Some(c("1000000")), None), c("200.00"));
    }

    #[test]
    fn table_of_contributions() {
        let brackets = FundSettings::example().contribution_scale;
        let linear = ContributionScale::Linear {
            rate: Rate(Decimal::new(4, 2)),
            minimum: c("1.00"),
            maximum: c("250.00"),
        };
        let free = ContributionScale::Free {
            minimum: c("10.00"),
        };
        let h = |a, k| Household::new(a, k).unwrap();
        // (scale, household, income, chosen, expected)
        let cases = [
            (&brackets, h(1, 0), None, None, "10.00"),
            (&brackets, h(1, 0), Some("0"), None, "10.00"),
            (&brackets, h(1, 0), Some("800.00"), None, "10.00"),
            (&brackets, h(1, 0), Some("800.01"), None, "40.00"),
            (&brackets, h(1, 0), Some("1500.00"), None, "40.00"),
            (&brackets, h(1, 0), Some("1500.01"), None, "120.00"),
            (&brackets, h(1, 0), Some("1000000000.00"), None, "120.00"),
            // One adult and five children: 2.5 units; 2000 / 2.5 = 800 → first bracket.
            (&brackets, h(1, 5), Some("2000.00"), None, "10.00"),
            (&brackets, h(1, 5), Some("2000.03"), None, "40.00"),
            (&linear, h(1, 0), Some("0"), None, "1.00"),
            (&linear, h(1, 0), Some("1000.00"), None, "40.00"),
            (&linear, h(2, 1), Some("1000.00"), None, "22.22"),
            (&linear, h(1, 5), Some("2000.00"), None, "32.00"),
            (&linear, h(1, 0), Some("1000000000.00"), None, "250.00"),
            (&free, h(1, 0), Some("5000.00"), None, "10.00"),
            (&free, h(1, 0), None, Some("60.00"), "60.00"),
            (&free, h(1, 0), None, Some("2.00"), "10.00"),
        ];
        for (scale, household, income, chosen, expected) in cases {
            let got = scale.contribution(household, income.map(c), chosen.map(c));
            assert_eq!(
                got,
                c(expected),
                "{scale:?} {household:?} {income:?} {chosen:?}"
            );
        }
    }

    proptest::proptest! {
        /// A richer household never pays less (same composition, same scale).
        #[test]
        fn contribution_never_decreases_with_income(
            a in 0i64..200_000_000,
            b in 0i64..200_000_000,
            adults in 1u32..6,
            children in 0u32..6,
            rate in 0i64..=1000,
            min in 0i64..5_000,
            span in 0i64..50_000,
            bounds in proptest::collection::btree_set(1i64..500_000, 1..6),
        ) {
            let household = Household::new(adults, children).unwrap();
            let (low, high) = (a.min(b), a.max(b));
            let cents = |v| Cents::from_cents(v).unwrap();
            let mut brackets: Vec<Bracket> = bounds
                .iter()
                .enumerate()
                .map(|(i, up)| Bracket { up_to: Some(cents(*up)), amount: cents(100 * i as i64) })
                .collect();
            brackets.push(Bracket { up_to: None, amount: cents(100 * bounds.len() as i64) });
            let scales = [
                ContributionScale::Brackets { minimum: cents(min), brackets },
                ContributionScale::Linear {
                    rate: Rate(Decimal::new(rate, 3)),
                    minimum: cents(min),
                    maximum: cents(min + span),
                },
            ];
            for scale in &scales {
                let mut errors = Vec::new();
                scale.validate("s", &mut errors);
                proptest::prop_assert!(errors.is_empty(), "{errors:?}");
                let l = scale.contribution(household, Some(cents(low)), None);
                let h = scale.contribution(household, Some(cents(high)), None);
                proptest::prop_assert!(l <= h, "{scale:?}: {low} → {l}, {high} → {h}");
            }
        }
    }

    #[test]
    fn allowance_by_household() {
        let a = FundSettings::example().allowance;
        let h = Household::new(2, 3).unwrap();
        assert_eq!(a.monthly_amount(h), Some(c("360.00")));
    }
}
