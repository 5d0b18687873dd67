//! The blob store abstraction: list, size and download objects, local or remote.

use crate::location::Location;
use crate::{StorageError, local::LocalStore};
use async_trait::async_trait;
use std::path::Path;
use std::sync::Arc;

/// One object found by a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Path relative to the listed directory/prefix, `/`-separated.
    pub name: String,
    pub size: u64,
}

#[async_trait]
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    /// Every object under `dir`, recursively, names relative to `dir`, sorted by name.
    /// Listings paginate: there is no limit on the number of objects.
    async fn list(&self, dir: &Location) -> Result<Vec<ObjectMeta>, StorageError>;
    /// The size of one object in bytes.
    async fn size(&self, path: &Location) -> Result<u64, StorageError>;
    /// Copies one object to the local file `dest`, atomically (temp file, then rename).
    async fn download(&self, path: &Location, dest: &Path) -> Result<u64, StorageError>;
}

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
