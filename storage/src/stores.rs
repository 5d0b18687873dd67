//! The set of blob stores one process can reach, dispatched by a location's scheme.

use crate::blob::BlobStore;
use crate::local::LocalStore;
use crate::{Location, StorageError};
use std::sync::Arc;

/// The stores a process can reach: local files always, S3 when configured. Dispatches by the
/// scheme of each location.
#[derive(Debug, Clone)]
pub struct Stores {
    pub local: Arc<dyn BlobStore>,
    pub s3: Option<Arc<dyn BlobStore>>,
}

impl Stores {
    pub fn local_only() -> Stores {
        Stores { local: Arc::new(LocalStore), s3: None }
    }

    pub fn with_s3(s3: Arc<dyn BlobStore>) -> Stores {
        Stores { local: Arc::new(LocalStore), s3: Some(s3) }
    }

    /// The store that serves `loc`.
    pub fn for_location(&self, loc: &Location) -> Result<&Arc<dyn BlobStore>, StorageError> {
        match loc {
            Location::Local(_) => Ok(&self.local),
            Location::S3 { .. } => self
                .s3
                .as_ref()
                .ok_or_else(|| StorageError::InvalidPath(format!("{loc}: S3 is not configured in this process"))),
        }
    }
}
