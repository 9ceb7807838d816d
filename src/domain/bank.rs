//! Bank identifiers: IBAN (structure by country and mod-97, via `iban_validate`) and BIC.

/// Checks an IBAN given in electronic or printed form (spaces allowed).
pub fn validate_iban(iban: &str) -> Result<(), String> {
    normalize_iban(iban)
        .parse::<iban::Iban>()
        .map(|_| ())
        .map_err(|e| format!("not a valid IBAN: {e}"))
}

/// The IBAN in electronic form: no spaces, upper case.
pub fn normalize_iban(iban: &str) -> String {
    iban.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// ISO 9362: 4 letters (institution), 2 letters (country), 2 letters or digits (location),
/// optionally 3 letters or digits (branch).
pub fn is_valid_bic(bic: &str) -> bool {
    let b = bic.as_bytes();
    (b.len() == 8 || b.len() == 11)
        && b[..6].iter().all(u8::is_ascii_uppercase)
        && b[6..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iban_checks() {
        assert!(validate_iban("FR7630006000011234567890189").is_ok());
        assert!(validate_iban("FR76 3000 6000 0112 3456 7890 189").is_ok());
        assert!(validate_iban("FR7630006000011234567890188").is_err());
        assert!(validate_iban("XX00").is_err());
        assert_eq!(normalize_iban("fr76 3000"), "FR763000");
    }

    #[test]
    fn bic_checks() {
        assert!(is_valid_bic("AGRIFRPP"));
        assert!(is_valid_bic("AGRIFRPP882"));
        assert!(!is_valid_bic("AGRIFRP"));
        assert!(!is_valid_bic("agrifrpp"));
    }
}
