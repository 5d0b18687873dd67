//! The local disk cache of remote parts: LRU by bytes, keyed by (dataset name, registeredAt,
//! path, part index) so re-registration invalidates; files are written atomically, concurrent
//! requests for the same part download it once, and entries survive restarts.

use crate::WorkerError;
use protocol::task::DatasetPartId;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use storage::StorageError;

#[derive(Debug)]
struct Entry {
    size: u64,
    last_used: u64,
}

#[derive(Debug, Default)]
struct Index {
    entries: HashMap<String, Entry>,
    total: u64,
    clock: u64,
}

#[derive(Debug)]
pub struct DiskCache {
    dir: PathBuf,
    capacity: u64,
    index: Mutex<Index>,
    /// One async lock per key being fetched, so a part is downloaded once.
    fetching: tokio::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Cache key of a part (stable across processes and versions: xxh3 of the identity).
pub fn cache_key(part: &DatasetPartId) -> String {
    let id = format!(
        "{}\u{0}{}\u{0}{}\u{0}{}",
        part.dataset_id.name, part.dataset_id.registered_at, part.path, part.part_idx
    );
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(id.as_bytes()))
}

impl DiskCache {
    /// Opens the cache in `dir` (created if needed), adopting files already there.
    pub fn open(dir: &Path, capacity_bytes: u64) -> Result<DiskCache, WorkerError> {
        let cfg = |e: std::io::Error| WorkerError::Config(format!("disk cache directory {}: {e}", dir.display()));
        std::fs::create_dir_all(dir).map_err(cfg)?;
        // Fail fast when the directory is not writable.
        let probe = dir.join(format!(".probe-{}", std::process::id()));
        std::fs::write(&probe, b"").map_err(cfg)?;
        let _ = std::fs::remove_file(&probe);
        let mut index = Index::default();
        for e in std::fs::read_dir(dir).map_err(cfg)? {
            let e = e.map_err(cfg)?;
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(key) = name.strip_suffix(".parquet") {
                let size = e.metadata().map(|m| m.len()).unwrap_or(0);
                index.total += size;
                index.entries.insert(key.to_string(), Entry { size, last_used: 0 });
            } else if name.contains(".download") {
                // Leftover of an interrupted download.
                let _ = std::fs::remove_file(e.path());
            }
        }
        Ok(DiskCache {
            dir: dir.to_path_buf(),
            capacity: capacity_bytes,
            index: Mutex::new(index),
            fetching: Default::default(),
        })
    }

    fn path_of(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.parquet"))
    }

    fn lock_index(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks `key` used and opens its file, under the index lock so that no eviction can
    /// remove it in between (an open file stays readable after it is unlinked).
    fn touch(&self, key: &str) -> Option<(std::fs::File, PathBuf)> {
        let mut ix = self.lock_index();
        ix.clock += 1;
        let now = ix.clock;
        let e = ix.entries.get_mut(key)?;
        e.last_used = now;
        let p = self.path_of(key);
        std::fs::File::open(&p).ok().map(|f| (f, p))
    }

    /// Records a new file and evicts least-recently-used files (never `keep`) over capacity.
    fn insert(&self, key: &str, size: u64) {
        let mut ix = self.lock_index();
        ix.clock += 1;
        let now = ix.clock;
        if let Some(old) = ix.entries.insert(key.to_string(), Entry { size, last_used: now }) {
            ix.total -= old.size;
        }
        ix.total += size;
        while ix.total > self.capacity {
            let victim = ix
                .entries
                .iter()
                .filter(|(k, _)| k.as_str() != key)
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone());
            let Some(v) = victim else { break };
            if let Some(e) = ix.entries.remove(&v) {
                ix.total -= e.size;
                let _ = std::fs::remove_file(self.path_of(&v));
            }
        }
    }

    /// Removes every entry but `keep`; returns the bytes freed.
    fn evict_all_but(&self, keep: &str) -> u64 {
        let mut ix = self.lock_index();
        let victims: Vec<String> = ix.entries.keys().filter(|k| k.as_str() != keep).cloned().collect();
        let mut freed = 0;
        for v in victims {
            if let Some(e) = ix.entries.remove(&v) {
                ix.total -= e.size;
                freed += e.size;
                let _ = std::fs::remove_file(self.path_of(&v));
            }
        }
        freed
    }

    /// Returns the cached file for `part`, fetching it with `fetch(dest)` on a miss. When the
    /// disk is full, evicts every other entry and fetches once more.
    /// The boolean says whether it was a cache hit.
    pub async fn get_or_fetch<F, Fut>(
        &self,
        part: &DatasetPartId,
        fetch: F,
    ) -> Result<(std::fs::File, PathBuf, bool), WorkerError>
    where
        F: Fn(PathBuf) -> Fut,
        Fut: std::future::Future<Output = Result<u64, WorkerError>>,
    {
        let key = cache_key(part);
        if let Some((f, p)) = self.touch(&key) {
            return Ok((f, p, true));
        }
        let lock = self.fetching.lock().await.entry(key.clone()).or_default().clone();
        let _guard = lock.lock().await;
        if let Some((f, p)) = self.touch(&key) {
            return Ok((f, p, true));
        }
        let dest = self.path_of(&key);
        let size = match fetch(dest.clone()).await {
            Err(WorkerError::Storage { source: StorageError::DiskFull(msg), context }) => {
                // Disk full: make room by evicting every other cached part, then try once more.
                let freed = self.evict_all_but(&key);
                tracing::warn!(part = %part.path, freed_bytes = freed, "disk full while caching a part ({msg}); evicted the cache and retrying");
                let _ = std::fs::remove_file(&dest);
                match fetch(dest.clone()).await {
                    Err(WorkerError::Storage { source: StorageError::DiskFull(again), .. }) => {
                        return Err(WorkerError::Storage {
                            context: format!("{context} (disk cache full even after evicting {freed} bytes)"),
                            source: StorageError::DiskFull(again),
                        });
                    }
                    other => other?,
                }
            }
            other => other?,
        };
        // Open before inserting: the insert may evict, and other inserts may follow.
        let file = std::fs::File::open(&dest).map_err(|e| WorkerError::Storage {
            context: format!("open cached part {}", dest.display()),
            source: StorageError::from_io(&e, &dest.display().to_string()),
        })?;
        self.insert(&key, size);
        self.fetching.lock().await.remove(&key);
        Ok((file, dest, false))
    }

    /// Cached entries and their total size.
    pub fn usage(&self) -> (usize, u64) {
        let ix = self.lock_index();
        (ix.entries.len(), ix.total)
    }

    pub fn contains(&self, part: &DatasetPartId) -> bool {
        self.lock_index().entries.contains_key(&cache_key(part))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::dataset::DatasetId;

    fn part(i: usize, at: &str) -> DatasetPartId {
        DatasetPartId {
            dataset_id: DatasetId { name: "d".into(), registered_at: at.into() },
            path: format!("s3://b/p{i}.parquet"),
            part_idx: i,
        }
    }

    async fn put(c: &DiskCache, p: &DatasetPartId, bytes: usize) -> bool {
        c.get_or_fetch(p, |dest| async move {
            std::fs::write(&dest, vec![0u8; bytes]).unwrap();
            Ok(bytes as u64)
        })
        .await
        .unwrap()
        .2
    }

    #[tokio::test]
    async fn lru_by_bytes_keeps_recent_parts_and_the_newest_always() {
        let dir = tempfile::tempdir().unwrap();
        let c = DiskCache::open(dir.path(), 250).unwrap();
        for i in 0..3 {
            assert!(!put(&c, &part(i, "t1"), 100).await);
        }
        // 300 bytes > 250: part 0 (least recent) was evicted.
        assert!(!c.contains(&part(0, "t1")) && c.contains(&part(1, "t1")) && c.contains(&part(2, "t1")));
        assert!(put(&c, &part(1, "t1"), 100).await, "hit");
        put(&c, &part(3, "t1"), 100).await;
        assert!(c.contains(&part(1, "t1")) && !c.contains(&part(2, "t1")), "1 was used more recently than 2");
        // Capacity 0 still keeps the file just fetched.
        let dir0 = tempfile::tempdir().unwrap();
        let c0 = DiskCache::open(dir0.path(), 0).unwrap();
        put(&c0, &part(0, "t1"), 10).await;
        put(&c0, &part(1, "t1"), 10).await;
        assert_eq!(c0.usage().0, 1);
    }

    #[tokio::test]
    async fn an_evicted_file_stays_readable_by_whoever_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let c = DiskCache::open(dir.path(), 0).unwrap();
        let (mut held, path, _) = c
            .get_or_fetch(&part(0, "t"), |dest| async move {
                std::fs::write(&dest, b"part zero").unwrap();
                Ok(9)
            })
            .await
            .unwrap();
        put(&c, &part(1, "t"), 10).await; // capacity 0: evicts part 0's file
        assert!(!path.exists(), "evicted from disk");
        let mut text = String::new();
        std::io::Read::read_to_string(&mut held, &mut text).unwrap();
        assert_eq!(text, "part zero", "the open handle still reads it");
    }

    #[tokio::test]
    async fn reregistration_changes_the_key_and_entries_survive_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let c = DiskCache::open(dir.path(), 1000).unwrap();
            put(&c, &part(0, "t1"), 10).await;
            assert!(!put(&c, &part(0, "t2"), 10).await, "new registeredAt is a miss");
        }
        let c = DiskCache::open(dir.path(), 1000).unwrap();
        assert_eq!(c.usage(), (2, 20));
        assert!(put(&c, &part(0, "t1"), 10).await);
    }

    #[tokio::test]
    async fn concurrent_requests_download_once() {
        let dir = tempfile::tempdir().unwrap();
        let c = Arc::new(DiskCache::open(dir.path(), 1000).unwrap());
        let fetches = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut hs = Vec::new();
        for _ in 0..8 {
            let (c, f) = (c.clone(), fetches.clone());
            hs.push(tokio::spawn(async move {
                c.get_or_fetch(&part(0, "t"), |dest| {
                    let f = f.clone();
                    async move {
                        f.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        std::fs::write(&dest, b"x").unwrap();
                        Ok(1)
                    }
                })
                .await
                .unwrap()
            }));
        }
        for h in hs {
            h.await.unwrap();
        }
        assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn disk_full_evicts_the_cache_and_retries_once() {
        let dir = tempfile::tempdir().unwrap();
        let c = DiskCache::open(dir.path(), 1000).unwrap();
        put(&c, &part(0, "t"), 100).await;
        put(&c, &part(1, "t"), 100).await;
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let full = || WorkerError::Storage {
            context: "download".into(),
            source: StorageError::DiskFull("No space left on device (os error 28)".into()),
        };
        let (_f, p, hit) = c
            .get_or_fetch(&part(2, "t"), |dest| {
                let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async move {
                    if n == 0 {
                        return Err(full());
                    }
                    std::fs::write(&dest, vec![0u8; 50]).unwrap();
                    Ok(50)
                }
            })
            .await
            .unwrap();
        assert!(!hit && p.exists());
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert!(!c.contains(&part(0, "t")) && !c.contains(&part(1, "t")), "older parts evicted");
        assert_eq!(c.usage(), (1, 50));
        // Still full after evicting: a clear error, nothing cached.
        let e = c.get_or_fetch(&part(3, "t"), |_| async { Err::<u64, _>(full()) }).await.unwrap_err();
        assert!(e.to_string().contains("disk cache full even after evicting"), "{e}");
        assert!(!c.contains(&part(3, "t")));
    }

    #[test]
    fn unwritable_directory_is_a_config_error() {
        let e = DiskCache::open(Path::new("/proc/frocket-cache"), 10).unwrap_err();
        assert!(matches!(e, WorkerError::Config(_)), "{e}");
    }
}
