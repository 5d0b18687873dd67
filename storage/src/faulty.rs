//! A failure-injecting blob store for tests: wraps another store and fails the next N calls
//! of chosen operations with a chosen error.

use crate::blob::{BlobStore, ObjectMeta};
use crate::{Location, StorageError};
use async_trait::async_trait;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug)]
pub struct FaultyStore {
    inner: Arc<dyn BlobStore>,
    fail_list: AtomicUsize,
    fail_download: AtomicUsize,
    error: StorageError,
    /// Calls that reached the wrapped store.
    pub calls: AtomicUsize,
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn BlobStore>, error: StorageError) -> FaultyStore {
        FaultyStore {
            inner,
            fail_list: AtomicUsize::new(0),
            fail_download: AtomicUsize::new(0),
            error,
            calls: AtomicUsize::new(0),
        }
    }
    pub fn fail_next_lists(&self, n: usize) {
        self.fail_list.store(n, Ordering::SeqCst);
    }
    pub fn fail_next_downloads(&self, n: usize) {
        self.fail_download.store(n, Ordering::SeqCst);
    }
    fn take(counter: &AtomicUsize) -> bool {
        counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }
}

#[async_trait]
impl BlobStore for FaultyStore {
    async fn list(&self, dir: &Location) -> Result<Vec<ObjectMeta>, StorageError> {
        if Self::take(&self.fail_list) {
            return Err(self.error.clone());
        }
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.list(dir).await
    }
    async fn size(&self, path: &Location) -> Result<u64, StorageError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.size(path).await
    }
    async fn download(&self, path: &Location, dest: &Path) -> Result<u64, StorageError> {
        if Self::take(&self.fail_download) {
            return Err(self.error.clone());
        }
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.download(path, dest).await
    }
}
