//! The refusal of a use case that has no `thiserror` enum of its own yet (`RedeemError`,
//! `ReverseError` and `ShopError` have theirs): a stable [`ErrorCode`] and the fields at fault,
//! and nothing of HTTP. `api::error` gives it its status (`impl From<ServiceError> for
//! ApiError`); the pages give it its words (`web::problem`); the CLI prints it.

use crate::domain::{ErrorCode, FieldError};
use crate::store::ledger::LedgerError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A request the fund's rules or state refuse.
    #[error("{code}: {detail}")]
    Refused {
        code: ErrorCode,
        /// In English, for programs and logs; pages say it from the code.
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// Something that should not happen (a broken invariant): logged, answered opaquely.
    #[error("{0}")]
    Internal(String),
}

impl ServiceError {
    pub fn refused(code: ErrorCode, detail: impl Into<String>) -> ServiceError {
        ServiceError::Refused {
            code,
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    pub fn not_found(what: &str) -> ServiceError {
        ServiceError::refused(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// One field at fault, under `code`.
    pub fn field(code: ErrorCode, field: &str, message: impl Into<String>) -> ServiceError {
        let message = message.into();
        ServiceError::Refused {
            code,
            detail: format!("{field}: {message}"),
            errors: vec![FieldError::new(field, message)],
        }
    }

    /// `validation_failed`, listing each field at fault.
    pub fn invalid(errors: Vec<FieldError>) -> ServiceError {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        ServiceError::Refused {
            code: ErrorCode::ValidationFailed,
            detail,
            errors,
        }
    }

    pub fn internal(cause: impl std::fmt::Display) -> ServiceError {
        ServiceError::Internal(cause.to_string())
    }

    /// The fields at fault, for a refusal that names them.
    pub fn fields(&self) -> &[FieldError] {
        match self {
            ServiceError::Refused { errors, .. } => errors,
            _ => &[],
        }
    }

    /// Whether this is a failure of ours (logged, answered opaquely), not a refusal.
    pub fn is_internal(&self) -> bool {
        self.code() == ErrorCode::InternalError
    }

    /// The code a client sees.
    pub fn code(&self) -> ErrorCode {
        match self {
            ServiceError::Refused { code, .. } => *code,
            ServiceError::Store(StoreError::Conflict(_)) => ErrorCode::AlreadyExists,
            ServiceError::Store(StoreError::NotFound) => ErrorCode::NotFound,
            ServiceError::Ledger(LedgerError::InsufficientBalance(_)) => {
                ErrorCode::InsufficientBalance
            }
            ServiceError::Ledger(LedgerError::AlreadyReversed(_)) => ErrorCode::AlreadyReversed,
            ServiceError::Ledger(LedgerError::EntryNotFound(_)) => ErrorCode::NotFound,
            _ => ErrorCode::InternalError,
        }
    }
}

impl From<sqlx::Error> for ServiceError {
    fn from(e: sqlx::Error) -> Self {
        ServiceError::Store(StoreError::Db(e))
    }
}

/// A key used with another request, or the store failing under it.
impl From<crate::service::idempotent::IdempotencyError> for ServiceError {
    fn from(e: crate::service::idempotent::IdempotencyError) -> Self {
        use crate::service::idempotent::IdempotencyError;
        match e {
            e @ IdempotencyError::Reused => {
                ServiceError::refused(ErrorCode::IdempotencyKeyReused, e.to_string())
            }
            IdempotencyError::Store(s) => ServiceError::Store(s),
        }
    }
}

/// A caller without the role.
impl From<crate::caller::Forbidden> for ServiceError {
    fn from(e: crate::caller::Forbidden) -> Self {
        ServiceError::refused(ErrorCode::Forbidden, e.to_string())
    }
}
