//! The datastore: registered datasets' metadata and their "last used" marks.

use crate::StorageError;
use async_trait::async_trait;
use protocol::dataset::{DatasetInfo, DatasetRecord};

#[async_trait]
pub trait Datastore: Send + Sync + std::fmt::Debug {
    /// Writes (or replaces) a dataset's metadata atomically and clears its last-used mark.
    async fn write_dataset(&self, record: &DatasetRecord) -> Result<(), StorageError>;
    async fn dataset(&self, name: &str) -> Result<Option<DatasetRecord>, StorageError>;
    /// All registered datasets, most recently registered first.
    async fn datasets(&self) -> Result<Vec<DatasetInfo>, StorageError>;
    /// Removes a dataset's metadata (never its files). `false` if it was not registered.
    async fn remove_dataset(&self, name: &str) -> Result<bool, StorageError>;
    async fn set_last_used(&self, name: &str, unix_seconds: u64) -> Result<(), StorageError>;
    async fn last_used(&self, name: &str) -> Result<Option<u64>, StorageError>;
    /// A human description of where metadata lives (for `frocket config`).
    fn describe(&self) -> String;
}
