//! The stable codes a client can see in a problem's `code` (README, "Errors"). A service names
//! the code of its refusal here, without knowing HTTP; `api::error` gives each its status and
//! the web pages their sentence (`web::i18n`), both by an exhaustive `match`, so a new code
//! cannot ship without a status and a French and an English sentence.

use std::fmt;

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident => $wire:literal,)*) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in the order of the README's table.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The spelling on the wire. Never change one: programs match on it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $wire,)*
                }
            }
        }
    };
}

error_codes! {
    // 400: the request cannot be read.
    MalformedJson => "malformed_json",
    BodyUnreadable => "body_unreadable",
    /// The query string cannot be decoded (bad percent-encoding).
    MalformedQuery => "malformed_query",
    IdempotencyKeyMissing => "idempotency_key_missing",
    IdempotencyKeyInvalid => "idempotency_key_invalid",
    StatementUnreadable => "statement_unreadable",
    // 401, 403, 404, 405, 413, 415.
    Unauthenticated => "unauthenticated",
    InvalidCredentials => "invalid_credentials",
    Forbidden => "forbidden",
    NotFound => "not_found",
    MethodNotAllowed => "method_not_allowed",
    PayloadTooLarge => "payload_too_large",
    UnsupportedMediaType => "unsupported_media_type",
    // 409: the state of the fund does not allow it.
    AlreadyExists => "already_exists",
    IdempotencyKeyReused => "idempotency_key_reused",
    AlreadyReversed => "already_reversed",
    ReversalNotReversible => "reversal_not_reversible",
    EntryNotReversible => "entry_not_reversible",
    RedemptionRefunded => "redemption_refunded",
    RedemptionReversed => "redemption_reversed",
    /// A status change the current status does not allow. The code for the future (members).
    InvalidStatusChange => "invalid_status_change",
    /// Old spelling of [`ErrorCode::InvalidStatusChange`], still answered for shops.
    WrongStatus => "wrong_status",
    MemberLeft => "member_left",
    /// Old spelling of [`ErrorCode::MemberInactive`], still answered (409) when a card is
    /// issued to a member who is not active.
    MemberNotActive => "member_not_active",
    BankLineAlreadyMatched => "bank_line_already_matched",
    TerminalKeyNotASession => "terminal_key_not_a_session",
    // 410: a login link (invitation, new password) unknown, used, replaced or expired.
    LinkInvalid => "link_invalid",
    // 422: invalid input.
    AmountInvalid => "amount_invalid",
    ValidationFailed => "validation_failed",
    InvalidField => "invalid_field",
    MissingField => "missing_field",
    UnknownField => "unknown_field",
    InvalidBody => "invalid_body",
    InvalidQuery => "invalid_query",
    InputTooDeep => "input_too_deep",
    PinInvalid => "pin_invalid",
    RefundExceedsRedemption => "refund_exceeds_redemption",
    MemberNotFound => "member_not_found",
    NothingToSettle => "nothing_to_settle",
    CutoffInFuture => "cutoff_in_future",
    FundIbanMissing => "fund_iban_missing",
    StatementInvalid => "statement_invalid",
    StatementUnbalanced => "statement_unbalanced",
    WrongDirection => "wrong_direction",
    AmountMismatch => "amount_mismatch",
    SettlementLineNotFound => "settlement_line_not_found",
    // 422: a payment declined at the till (API.md).
    TokenInvalid => "token_invalid",
    TokenExpired => "token_expired",
    TokenReused => "token_reused",
    /// 422 as a decline; 409 when revoking or showing a card already revoked.
    CardRevoked => "card_revoked",
    CardLocked => "card_locked",
    PinRequired => "pin_required",
    PinWrong => "pin_wrong",
    /// The member is not active (suspended or left). The code for the future.
    MemberInactive => "member_inactive",
    ShopNotApproved => "shop_not_approved",
    InsufficientBalance => "insufficient_balance",
    // 429, 500, 503.
    RateLimited => "rate_limited",
    TooManyAttempts => "too_many_attempts",
    InternalError => "internal_error",
    DatabaseUnavailable => "database_unavailable",
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    /// The wire spellings, written out once more by hand: a renamed variant or a typo in
    /// `as_str` fails here instead of breaking the programs that match on the code.
    #[test]
    fn every_spelling_is_the_published_one() {
        let wire: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            wire,
            [
                "malformed_json",
                "body_unreadable",
                "malformed_query",
                "idempotency_key_missing",
                "idempotency_key_invalid",
                "statement_unreadable",
                "unauthenticated",
                "invalid_credentials",
                "forbidden",
                "not_found",
                "method_not_allowed",
                "payload_too_large",
                "unsupported_media_type",
                "already_exists",
                "idempotency_key_reused",
                "already_reversed",
                "reversal_not_reversible",
                "entry_not_reversible",
                "redemption_refunded",
                "redemption_reversed",
                "invalid_status_change",
                "wrong_status",
                "member_left",
                "member_not_active",
                "bank_line_already_matched",
                "terminal_key_not_a_session",
                "link_invalid",
                "amount_invalid",
                "validation_failed",
                "invalid_field",
                "missing_field",
                "unknown_field",
                "invalid_body",
                "invalid_query",
                "input_too_deep",
                "pin_invalid",
                "refund_exceeds_redemption",
                "member_not_found",
                "nothing_to_settle",
                "cutoff_in_future",
                "fund_iban_missing",
                "statement_invalid",
                "statement_unbalanced",
                "wrong_direction",
                "amount_mismatch",
                "settlement_line_not_found",
                "token_invalid",
                "token_expired",
                "token_reused",
                "card_revoked",
                "card_locked",
                "pin_required",
                "pin_wrong",
                "member_inactive",
                "shop_not_approved",
                "insufficient_balance",
                "rate_limited",
                "too_many_attempts",
                "internal_error",
                "database_unavailable",
            ]
        );
    }

    #[test]
    fn spellings_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(
                s.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'),
                "{s}"
            );
        }
    }
}
