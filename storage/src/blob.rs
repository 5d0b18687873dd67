//! The blob store abstraction: list, size and download objects, local or remote.

use crate::StorageError;
use crate::location::Location;
use async_trait::async_trait;
use std::path::Path;

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
