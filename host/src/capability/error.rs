//! [`StorageError`]: the expected failures of storage capabilities, which reach the guest
//! as the WIT `types.error` variant (never as traps). Backend details are logged by the
//! backend; the guest only sees the safe message.

use crate::bindings::plughost::plugin::types::Error as WitError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    #[error("not found")]
    NotFound,
    #[error("access denied")]
    AccessDenied,
    #[error("conflict")]
    Conflict,
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl From<StorageError> for WitError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::NotFound => WitError::NotFound,
            StorageError::AccessDenied => WitError::AccessDenied,
            StorageError::Conflict => WitError::Conflict,
            StorageError::InvalidInput(reason) => WitError::InvalidInput(reason),
            StorageError::LimitExceeded(what) => WitError::LimitExceeded(what),
            StorageError::Unavailable(what) => WitError::Unavailable(what),
        }
    }
}
