//! Storage errors, classified by what the caller should do.

/// Why a storage operation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StorageError {
    /// The path, bucket or object does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The path is malformed or uses an unsupported scheme.
    #[error("invalid path: {0}")]
    InvalidPath(String),
    /// Access was refused (permissions, credentials).
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// The local disk is full (writing a download or a metadata file).
    #[error("no space left on device: {0}")]
    DiskFull(String),
    /// A fault that may go away when retried (network, throttling, 5xx).
    #[error("transient storage error: {0}")]
    Transient(String),
    /// Anything else (local IO errors such as a full disk, corrupt metadata).
    #[error("storage error: {0}")]
    Other(String),
}

impl StorageError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, StorageError::Transient(_))
    }

    /// Maps a local IO error on `what` to a storage error.
    pub fn from_io(e: &std::io::Error, what: &str) -> StorageError {
        use std::io::ErrorKind;
        match e.kind() {
            ErrorKind::NotFound => StorageError::NotFound(what.to_string()),
            ErrorKind::PermissionDenied => StorageError::AccessDenied(format!("{what}: {e}")),
            ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::FileTooLarge => {
                StorageError::DiskFull(format!("{what}: {e}"))
            }
            ErrorKind::Interrupted | ErrorKind::TimedOut | ErrorKind::WouldBlock => {
                StorageError::Transient(format!("{what}: {e}"))
            }
            _ => StorageError::Other(format!("{what}: {e}")),
        }
    }
}
