//! Errors of data preparation, by what the caller should do about them.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DataprepError {
    /// The request itself is wrong (e.g. zero parts).
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// The output directory already holds a dataset and overwriting was not asked for.
    #[error("output directory {0} is not empty (use force to overwrite)")]
    OutputNotEmpty(PathBuf),
    #[error("{action} {path}: {source}")]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    #[error("write parquet {path}: {message}")]
    Parquet { path: PathBuf, message: String },
}

impl DataprepError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, DataprepError::Io { .. })
    }
}
