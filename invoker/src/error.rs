//! Invoker errors, by who is at fault: the user's request, the data, or the system.

use protocol::ValidationErrors;
use storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum InvokerError {
    /// The query is invalid (every fault listed).
    #[error(transparent)]
    Validation(#[from] ValidationErrors),
    /// A request argument is wrong (bad path, pattern, unknown dataset...).
    #[error("{0}")]
    InvalidArguments(String),
    #[error("dataset '{0}' not found")]
    DatasetNotFound(String),
    /// Registration found the data unfit (missing columns, schema differences, shared groups).
    #[error("{0}")]
    DataValidation(String),
    #[error("{context}: {source}")]
    Storage { context: String, source: StorageError },
    /// Tasks failed beyond their retries.
    #[error("{0}")]
    TasksFailed(String),
    #[error("internal invoker error: {0}")]
    Internal(String),
}

impl InvokerError {
    /// Usage/validation errors (exit code 2) as opposed to failed jobs (exit code 1).
    pub fn is_usage_error(&self) -> bool {
        matches!(
            self,
            InvokerError::Validation(_) | InvokerError::InvalidArguments(_) | InvokerError::DatasetNotFound(_)
        )
    }
}
