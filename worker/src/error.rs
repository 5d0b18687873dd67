//! Worker errors, classified for the invoker's retry decision.

use engine::EngineError;
use storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("{context}: {source}")]
    Storage { context: String, source: StorageError },
    #[error("{context}: {source}")]
    Engine { context: String, source: EngineError },
    /// The part file is not valid Parquet (truncated, not Parquet at all).
    #[error("read part {path}: {message}")]
    CorruptPart { path: String, message: String },
    #[error("invalid task request: {0}")]
    InvalidRequest(String),
    #[error("worker configuration: {0}")]
    Config(String),
    /// The task panicked (in the engine, off the async runtime): worth another attempt, which
    /// may run on another instance.
    #[error("task panicked: {0}")]
    Panicked(String),
    #[error("internal worker error: {0}")]
    Internal(String),
}

impl WorkerError {
    /// Storage faults that may go away, and panics, are worth a retry.
    pub fn is_retryable(&self) -> bool {
        match self {
            WorkerError::Storage { source, .. } => source.is_retryable(),
            WorkerError::Panicked(_) => true,
            _ => false,
        }
    }
    pub fn to_task_error(&self) -> protocol::task::TaskError {
        protocol::task::TaskError { message: self.to_string(), retryable: self.is_retryable() }
    }
}
