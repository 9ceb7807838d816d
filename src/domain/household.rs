//! Households and consumption units on the INSEE / modified-OECD scale.

use rust_decimal::Decimal;

/// People 14 and over (`adults`, at least one) and children under 14.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Household {
    adults: u32,
    children: u32,
}

impl Household {
    pub const MAX_PEOPLE: u32 = 30;

    pub fn new(adults: u32, children: u32) -> Option<Household> {
        (adults >= 1 && adults + children <= Self::MAX_PEOPLE)
            .then_some(Household { adults, children })
    }

    pub fn adults(self) -> u32 {
        self.adults
    }

    pub fn children(self) -> u32 {
        self.children
    }

    /// 1 for the first person, 0.5 for each other person of 14 or over, 0.3 per child under 14.
    pub fn consumption_units(self) -> Decimal {
        Decimal::ONE
            + Decimal::new(5, 1) * Decimal::from(self.adults - 1)
            + Decimal::new(3, 1) * Decimal::from(self.children)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        let units = |a, c| {
            Household::new(a, c)
                .unwrap()
                .consumption_units()
                .normalize()
                .to_string()
        };
        assert_eq!(units(1, 0), "1");
        assert_eq!(units(2, 1), "1.8");
        assert_eq!(units(1, 5), "2.5");
        assert_eq!(units(3, 2), "2.6");
        assert!(Household::new(0, 2).is_none());
    }
}
