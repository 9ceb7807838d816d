//! What a person reads when a request is refused: a sentence chosen by the problem's
//! [`ErrorCode`], with the field at fault named in their words. The `match` below has no
//! wildcard arm: a new code does not compile until it has a French and an English sentence.
//! Neither the English `detail` of the API nor a serde message ever reaches a page.

use super::i18n::{Lang, M};
use super::session::Web;
use crate::domain::ErrorCode;
use crate::service::error::ServiceError;

/// The sentence of a code. A sentence with `{}` names the field(s) at fault.
pub fn code_message(code: ErrorCode) -> M {
    use ErrorCode as C;
    match code {
        C::MalformedJson => M::ErrMalformedJson,
        C::BodyUnreadable => M::ErrBodyUnreadable,
        C::MalformedQuery => M::ErrMalformedQuery,
        C::IdempotencyKeyMissing | C::IdempotencyKeyInvalid => M::ErrIdempotencyKey,
        C::StatementUnreadable => M::StatementUnreadable,
        C::Unauthenticated => M::ErrUnauthenticated,
        C::InvalidCredentials => M::WrongCredentials,
        C::Forbidden => M::Forbidden,
        C::NotFound => M::ErrNotFound,
        C::MethodNotAllowed => M::ErrMethodNotAllowed,
        // The one form that sends large bodies is the bank statement's.
        C::PayloadTooLarge => M::StatementTooLarge,
        C::UnsupportedMediaType => M::ErrUnsupportedMediaType,
        C::AlreadyExists => M::ErrAlreadyExists,
        C::IdempotencyKeyReused => M::ErrIdempotencyKeyReused,
        C::AlreadyReversed => M::ErrAlreadyReversed,
        C::ReversalNotReversible => M::ErrReversalNotReversible,
        C::EntryNotReversible => M::ErrEntryNotReversible,
        C::RedemptionRefunded => M::ErrRedemptionRefunded,
        C::RedemptionReversed => M::RefundSaleReversed,
        C::InvalidStatusChange | C::WrongStatus => M::ErrInvalidStatusChange,
        C::MemberLeft => M::ErrMemberLeft,
        C::MemberNotActive => M::ErrMemberNotActive,
        C::BankLineAlreadyMatched => M::ErrBankLineAlreadyMatched,
        C::TerminalKeyNotASession => M::ErrTerminalKeyNotASession,
        C::LinkInvalid => M::ErrLinkInvalid,
        C::AmountInvalid => M::DeclineAmountInvalid,
        C::ValidationFailed | C::InvalidField => M::ErrValidation,
        C::MissingField => M::ErrMissingField,
        C::UnknownField => M::ErrUnknownField,
        C::InvalidBody => M::ErrInvalidBody,
        C::InvalidQuery => M::ErrInvalidQuery,
        C::InputTooDeep => M::InputTooDeep,
        C::PinInvalid => M::ErrPinInvalid,
        C::RefundExceedsRedemption => M::RefundTooMuch,
        C::MemberNotFound => M::ErrMemberNotFound,
        C::NothingToSettle => M::NothingToSettle,
        C::CutoffInFuture => M::CutoffInFuture,
        C::FundIbanMissing => M::FundIbanMissing,
        C::StatementInvalid => M::StatementInvalid,
        C::StatementUnbalanced => M::StatementUnbalanced,
        C::WrongDirection => M::ErrWrongDirection,
        C::AmountMismatch => M::ErrAmountMismatch,
        C::SettlementLineNotFound => M::ErrSettlementLineNotFound,
        C::TokenInvalid => M::DeclineTokenInvalid,
        C::TokenExpired => M::DeclineTokenExpired,
        C::TokenReused => M::DeclineTokenReused,
        C::CardRevoked => M::DeclineCardRevoked,
        C::CardLocked => M::DeclineCardLocked,
        C::PinRequired => M::DeclinePinRequired,
        C::PinWrong => M::DeclinePinWrong,
        C::MemberInactive => M::DeclineMemberInactive,
        C::ShopNotApproved => M::DeclineShopNotApproved,
        C::InsufficientBalance => M::DeclineInsufficientBalance,
        C::RateLimited => M::DeclineRateLimited,
        C::TooManyAttempts => M::TooManyAttempts,
        C::InternalError => M::InternalError,
        C::DatabaseUnavailable => M::ErrDatabaseUnavailable,
    }
}

/// A field path of the API (`iban`, `allowance.first_person`, `members[2].household.adults`)
/// in the reader's words. Paths are strings: an unknown one reads "ce champ".
pub fn field_words(path: &str) -> M {
    let segments: Vec<&str> = path
        .split('.')
        .map(|s| s.split('[').next().unwrap_or_default())
        .filter(|s| !s.is_empty())
        .collect();
    // The most precise name first: the last segment, then the enclosing ones.
    segments
        .iter()
        .rev()
        .find_map(|s| segment_words(s))
        .unwrap_or(M::FieldGeneric)
}

fn segment_words(segment: &str) -> Option<M> {
    Some(match segment {
        "amount" | "minimum" | "maximum" | "rate" | "up_to" => M::FieldAmount,
        "iban" => M::FieldIban,
        "bic" => M::FieldBic,
        "siret" | "siren" => M::FieldSiret,
        "date" | "paid_on" | "received_on" | "review_on" | "from" | "to" => M::FieldDate,
        "period" | "year" => M::FieldPeriod,
        "cutoff" => M::FieldCutoff,
        "email" => M::FieldEmail,
        "password" => M::FieldPassword,
        "password_confirmation" => M::FieldPasswordConfirmation,
        "role" => M::FieldRole,
        "member_id" | "members" | "adherent" => M::FieldMember,
        "pin" => M::FieldPin,
        "name" | "full_name" => M::FieldName,
        "legal_name" => M::FieldLegalName,
        "address" => M::FieldAddress,
        "phone" => M::FieldPhone,
        "categories" => M::FieldCategories,
        "fund_name" => M::FieldFundName,
        "allowance" | "first_person" | "additional_adult" | "child" => M::FieldAllowance,
        "balance_cap" => M::FieldBalanceCap,
        "contribution_scale" | "brackets" => M::FieldScale,
        "criteria" => M::FieldCriteria,
        "pin_attempts" => M::FieldPinAttempts,
        "adults" => M::FieldAdults,
        "children" => M::FieldChildren,
        "monthly_income" => M::FieldIncome,
        "chosen_contribution" => M::FieldChosenContribution,
        "method" => M::FieldMethod,
        "reference" => M::FieldReference,
        "reason" | "note" => M::FieldReason,
        "label" => M::FieldLabel,
        "end_to_end_id" => M::FieldSettlementLine,
        "token" => M::FieldToken,
        "choice" => M::FieldChoice,
        "comment" => M::FieldComment,
        "decision" => M::FieldDecision,
        _ => return None,
    })
}

/// The sentence for a refusal, in the reader's language.
pub fn refusal_text(lang: Lang, code: ErrorCode, fields: &[&str]) -> String {
    let mut named: Vec<&str> = Vec::new();
    for f in fields {
        let words = lang.t(field_words(f));
        if !named.contains(&words) {
            named.push(words);
        }
    }
    let fields = if named.is_empty() {
        lang.t(M::FieldGeneric).to_string()
    } else {
        named.join(", ")
    };
    lang.f(code_message(code), &[&fields])
}

/// What to tell a person about a use case that refused (or failed: an internal failure is
/// logged with its cause and told as "something went wrong", never in its own words).
pub fn refused(web: &Web, e: &ServiceError) -> String {
    if e.is_internal() {
        tracing::error!(error = %e, "a page's use case failed");
    }
    let fields: Vec<&str> = e.fields().iter().map(|f| f.field.as_str()).collect();
    refusal_text(web.lang, e.code(), &fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Phrases of serde, of the API's English details and of our rules' English messages.
    const ENGLISH: &[&str] = &[
        "invalid type",
        "expected",
        "missing field",
        "unknown field",
        "at line",
        "column",
        "must be",
        "not found",
        "is required",
    ];

    #[test]
    fn every_code_has_a_french_and_an_english_sentence() {
        for &code in ErrorCode::ALL {
            let fr = refusal_text(Lang::Fr, code, &["amount"]);
            let en = refusal_text(Lang::En, code, &["amount"]);
            for (lang, text) in [("fr", &fr), ("en", &en)] {
                assert!(!text.trim().is_empty(), "{code} in {lang} is empty");
                assert!(!text.contains("{}"), "{code} in {lang} has a hole: {text}");
                assert!(
                    !text.contains(code.as_str()),
                    "{code} in {lang} shows the code"
                );
                for phrase in ENGLISH {
                    assert!(
                        !text.contains(phrase),
                        "{code} in {lang}: {phrase:?} in {text}"
                    );
                }
            }
            assert_ne!(fr, en, "{code} reads the same in French and English");
        }
    }

    #[test]
    fn a_field_is_named_in_the_readers_words() {
        let fr = |code, field| refusal_text(Lang::Fr, code, &[field]);
        assert!(fr(ErrorCode::ValidationFailed, "iban").contains("l'IBAN"));
        assert!(fr(ErrorCode::InvalidField, "allowance.first_person").contains("allocation"));
        assert!(fr(ErrorCode::MissingField, "members[3].household.adults").contains("adultes"));
        assert!(fr(ErrorCode::ValidationFailed, "password").contains("le mot de passe"));
        assert!(fr(ErrorCode::InvalidField, "no_such_field").contains("ce champ"));
        let en = refusal_text(Lang::En, ErrorCode::ValidationFailed, &["siret", "iban"]);
        assert!(en.contains("the SIRET, the IBAN"), "{en}");
    }
}
