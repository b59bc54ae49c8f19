//! [`StorageError`]: how a labelled capability's call can fail. The expected failures
//! reach the guest as the WIT `types.error` variant, which it can handle; [`StorageError::Trap`]
//! is a guest that broke the rules (a handle it was never given) and traps the instance.
//! Backend details are logged by the backend; the guest only sees the safe message.
//!
//! WIT's `not-found` has no counterpart here: the storage capabilities report absence as
//! `none`, never as an error; it is for capabilities whose target itself can be missing.

use crate::bindings::plughost::plugin::types::Error as WitError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
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
    /// Not an error the guest receives: the call traps (a broken guest, see module docs).
    #[error("trap: {0}")]
    Trap(String),
}

impl StorageError {
    /// The WIT error the guest receives, or the trap.
    pub fn into_wit(self) -> wasmtime::Result<WitError> {
        Ok(match self {
            Self::AccessDenied => WitError::AccessDenied,
            Self::Conflict => WitError::Conflict,
            Self::InvalidInput(reason) => WitError::InvalidInput(reason),
            Self::LimitExceeded(what) => WitError::LimitExceeded(what),
            Self::Unavailable(what) => WitError::Unavailable(what),
            Self::Trap(why) => return Err(wasmtime::Error::msg(why)),
        })
    }

    /// A batch call's per-item results as the guest receives them (`list<result<T,
    /// error>>`); a trap among them traps the call.
    pub fn per_item<T>(results: Vec<Result<T, Self>>) -> Result<Vec<Result<T, WitError>>, Self> {
        results
            .into_iter()
            .map(|result| match result {
                Ok(value) => Ok(Ok(value)),
                Err(Self::Trap(why)) => Err(Self::Trap(why)),
                Err(error) => Ok(Err(error.into_wit().map_err(|e| Self::Trap(e.to_string()))?)),
            })
            .collect()
    }
}
