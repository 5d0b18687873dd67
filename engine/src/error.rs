//! Engine errors: always about the part's data not fitting the query (never retryable, since
//! running again on the same part gives the same error), or an internal bug.

/// Why the engine could not run a query on a part.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    #[error("column '{0}' not found in part")]
    MissingColumn(String),
    #[error("column '{column}' has type {found}, which cannot be used {usage}")]
    TypeMismatch { column: String, found: String, usage: String },
    #[error("column '{column}' has unsupported type {dtype}")]
    UnsupportedType { column: String, dtype: String },
    #[error("column '{column}': {problem}")]
    InvalidData { column: String, problem: String },
    #[error("internal engine error: {0}")]
    Internal(String),
}

impl EngineError {
    /// Engine errors are deterministic for a given part and query.
    pub fn is_retryable(&self) -> bool {
        false
    }
}
