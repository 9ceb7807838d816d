//! Every error the API answers is RFC 9457 `application/problem+json` with a stable `code`.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{ErrorCode, FieldError};
use crate::store::ledger::LedgerError;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Seconds to wait, sent as `Retry-After` (429).
    pub retry_after: Option<u64>,
}

/// The body of every error.
#[derive(Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable snake_case word a program can match on.
    pub code: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// The status each code is answered with: the one place where a code meets HTTP. Where a code
/// is answered with another status in one place, that place says so with
/// [`ApiError::with_status`] (only `card_revoked`: 409 on a revoked card's QR, 422 at the till).
pub fn status_of(code: ErrorCode) -> StatusCode {
    use ErrorCode as C;
    match code {
        C::MalformedJson
        | C::BodyUnreadable
        | C::MalformedQuery
        | C::IdempotencyKeyMissing
        | C::IdempotencyKeyInvalid
        | C::StatementUnreadable => StatusCode::BAD_REQUEST,
        C::Unauthenticated | C::InvalidCredentials => StatusCode::UNAUTHORIZED,
        C::Forbidden => StatusCode::FORBIDDEN,
        C::NotFound => StatusCode::NOT_FOUND,
        C::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        C::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        C::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        C::AlreadyExists
        | C::IdempotencyKeyReused
        | C::AlreadyReversed
        | C::ReversalNotReversible
        | C::EntryNotReversible
        | C::RedemptionRefunded
        | C::RedemptionReversed
        | C::InvalidStatusChange
        | C::WrongStatus
        | C::MemberLeft
        | C::MemberNotActive
        | C::BankLineAlreadyMatched
        | C::TerminalKeyNotASession => StatusCode::CONFLICT,
        C::LinkInvalid => StatusCode::GONE,
        C::AmountInvalid
        | C::ValidationFailed
        | C::InvalidField
        | C::MissingField
        | C::UnknownField
        | C::InvalidBody
        | C::InvalidQuery
        | C::InputTooDeep
        | C::PinInvalid
        | C::RefundExceedsRedemption
        | C::MemberNotFound
        | C::NothingToSettle
        | C::CutoffInFuture
        | C::FundIbanMissing
        | C::StatementInvalid
        | C::StatementUnbalanced
        | C::WrongDirection
        | C::AmountMismatch
        | C::SettlementLineNotFound
        | C::TokenInvalid
        | C::TokenExpired
        | C::TokenReused
        | C::CardRevoked
        | C::CardLocked
        | C::PinRequired
        | C::PinWrong
        | C::MemberInactive
        | C::ShopNotApproved
        | C::InsufficientBalance => StatusCode::UNPROCESSABLE_ENTITY,
        C::RateLimited | C::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
        C::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        C::DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl ApiError {
    /// A problem with its code's status ([`status_of`]).
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> ApiError {
        ApiError::with_status(status_of(code), code, detail)
    }

    /// A problem whose status is not its code's own: see [`status_of`].
    pub fn with_status(status: StatusCode, code: ErrorCode, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// 429 `too_many_attempts`: too many failed logins; try again after `wait`.
    pub fn too_many_attempts(wait: std::time::Duration) -> ApiError {
        let secs = crate::service::login::retry_after_seconds(wait);
        ApiError {
            retry_after: Some(secs),
            ..ApiError::new(
                ErrorCode::TooManyAttempts,
                format!(
                    "too many failed logins for this email address or from this address; \
                     every attempt, even with the right password, is refused for {} s",
                    secs
                ),
            )
        }
    }

    pub fn unauthenticated(detail: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Unauthenticated, detail)
    }

    pub fn forbidden() -> ApiError {
        ApiError::new(ErrorCode::Forbidden, "your role does not allow this")
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// 422 `validation_failed` listing each field at fault.
    pub fn invalid(errors: Vec<FieldError>) -> ApiError {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        ApiError {
            status: status_of(ErrorCode::ValidationFailed),
            code: ErrorCode::ValidationFailed,
            detail,
            errors,
            retry_after: None,
        }
    }

    pub fn field(code: ErrorCode, field: &str, message: impl Into<String>) -> ApiError {
        let message = message.into();
        ApiError {
            status: status_of(code),
            code,
            detail: format!("{field}: {message}"),
            errors: vec![FieldError::new(field, message)],
            retry_after: None,
        }
    }

    /// An unexpected failure: logged with its cause, answered without it.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "internal error");
        ApiError::new(
            ErrorCode::InternalError,
            "something went wrong on our side; nothing was changed",
        )
    }

    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("https://caisse.example/problems/{}", self.code.as_str()),
            title: self
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_string(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.as_str().to_string(),
            errors: self.errors.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).expect("problem serializes");
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => {
                ApiError::new(ErrorCode::AlreadyExists, format!("{what} already exists"))
            }
            StoreError::NotFound => ApiError::not_found("resource"),
            other => ApiError::internal(other),
        }
    }
}

/// A refused card token: 422 with the decline's code.
impl From<crate::domain::card::Decline> for ApiError {
    fn from(d: crate::domain::card::Decline) -> Self {
        ApiError::new(d.code(), d.message())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::from(StoreError::Db(e))
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::InsufficientBalance(_) => {
                ApiError::new(ErrorCode::InsufficientBalance, "the balance is not enough")
            }
            LedgerError::AlreadyReversed(id) => ApiError::new(
                ErrorCode::AlreadyReversed,
                format!("entry {id} was already reversed"),
            ),
            LedgerError::EntryNotFound(id) => ApiError::not_found(&format!("entry {id}")),
            LedgerError::Store(s) => s.into(),
            other => ApiError::internal(other),
        }
    }
}

/// A service's refusal, answered with its code's status.
impl From<crate::service::error::ServiceError> for ApiError {
    fn from(e: crate::service::error::ServiceError) -> Self {
        use crate::service::error::ServiceError;
        match e {
            ServiceError::Refused {
                code,
                detail,
                errors,
            } => ApiError {
                errors,
                ..ApiError::new(code, detail)
            },
            ServiceError::Store(s) => s.into(),
            ServiceError::Ledger(l) => l.into(),
            ServiceError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

/// The use cases' own refusals, answered as their `ServiceError`.
macro_rules! through_service_error {
    ($($error:ty),+ $(,)?) => {$(
        impl From<$error> for ApiError {
            fn from(e: $error) -> Self {
                crate::service::error::ServiceError::from(e).into()
            }
        }
    )+};
}

through_service_error!(
    crate::caller::Forbidden,
    crate::service::idempotent::IdempotencyError,
    crate::service::cards::IssueError,
    crate::service::redemptions::RedeemError,
    crate::service::redemptions::RefundError,
    crate::service::members::StatusChangeError,
    crate::service::contributions::PaymentError,
    crate::service::settlements::SettleError,
    crate::service::corrections::ReverseError,
);

pub type ApiResult<T> = Result<T, ApiError>;
