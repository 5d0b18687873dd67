//! The embedded datastore: metadata as JSON files under a directory (default
//! `$FROCKET_HOME/datasets`). Survives restarts; safe for concurrent processes: writers take an
//! exclusive lock on `.lock`, and every file is replaced atomically (temp file + rename), so
//! readers never see a half-written file and need no lock.

use crate::{Datastore, StorageError};
use async_trait::async_trait;
use protocol::dataset::{DatasetInfo, DatasetRecord};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct EmbeddedDatastore {
    dir: PathBuf,
}

/// File-name-safe encoding of a dataset name (names may hold any character).
fn encode(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn io(e: std::io::Error, what: &Path) -> StorageError {
    StorageError::from_io(&e, &what.display().to_string())
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp-{}-{:?}", std::process::id(), std::thread::current().id()));
    let mut f = std::fs::File::create(&tmp).map_err(|e| io(e, &tmp))?;
    let written = f.write_all(bytes).and_then(|()| f.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e, &tmp));
    }
    std::fs::rename(&tmp, path).map_err(|e| io(e, path))
}

impl EmbeddedDatastore {
    /// Opens (creating if needed) a store in `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<EmbeddedDatastore, StorageError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| io(e, &dir))?;
        Ok(EmbeddedDatastore { dir })
    }

    fn record_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{}.json", encode(name)))
    }
    fn last_used_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{}.lastused", encode(name)))
    }

    /// Runs `f` holding the store's exclusive write lock.
    fn locked<T>(&self, f: impl FnOnce() -> Result<T, StorageError>) -> Result<T, StorageError> {
        let lock_path = self.dir.join(".lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io(e, &lock_path))?;
        lock.lock().map_err(|e| io(e, &lock_path))?;
        let out = f();
        let _ = lock.unlock();
        out
    }

    fn read_record(path: &Path) -> Result<Option<DatasetRecord>, StorageError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StorageError::Other(format!("corrupt metadata file {}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(e, path)),
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(EmbeddedDatastore) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || f(me))
            .await
            .map_err(|e| StorageError::Other(format!("datastore task failed: {e}")))?
    }
}

/// How an embedded datastore in `dir` describes itself (`frocket config`, without opening it).
pub fn describe(dir: &Path) -> String {
    format!("embedded ({})", dir.display())
}

#[async_trait]
impl Datastore for EmbeddedDatastore {
    async fn write_dataset(&self, record: &DatasetRecord) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec_pretty(record).map_err(|e| StorageError::Other(e.to_string()))?;
        let name = record.info.id.name.clone();
        self.blocking(move |me| {
            me.locked(|| {
                write_atomic(&me.record_path(&name), &bytes)?;
                match std::fs::remove_file(me.last_used_path(&name)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(e, &me.last_used_path(&name))),
                    _ => Ok(()),
                }
            })
        })
        .await
    }

    async fn dataset(&self, name: &str) -> Result<Option<DatasetRecord>, StorageError> {
        let name = name.to_string();
        self.blocking(move |me| Self::read_record(&me.record_path(&name))).await
    }

    async fn datasets(&self) -> Result<Vec<DatasetInfo>, StorageError> {
        self.blocking(|me| {
            let mut out = Vec::new();
            for e in std::fs::read_dir(&me.dir).map_err(|e| io(e, &me.dir))? {
                let p = e.map_err(|e| io(e, &me.dir))?.path();
                if p.extension().is_some_and(|x| x == "json")
                    && let Some(r) = Self::read_record(&p)?
                {
                    out.push(r.info);
                }
            }
            out.sort_by(|a, b| b.id.registered_at.cmp(&a.id.registered_at).then(a.id.name.cmp(&b.id.name)));
            Ok(out)
        })
        .await
    }

    async fn remove_dataset(&self, name: &str) -> Result<bool, StorageError> {
        let name = name.to_string();
        self.blocking(move |me| {
            me.locked(|| {
                let _ = std::fs::remove_file(me.last_used_path(&name));
                match std::fs::remove_file(me.record_path(&name)) {
                    Ok(()) => Ok(true),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                    Err(e) => Err(io(e, &me.record_path(&name))),
                }
            })
        })
        .await
    }

    async fn set_last_used(&self, name: &str, unix_seconds: u64) -> Result<(), StorageError> {
        let name = name.to_string();
        self.blocking(move |me| write_atomic(&me.last_used_path(&name), unix_seconds.to_string().as_bytes())).await
    }

    async fn last_used(&self, name: &str) -> Result<Option<u64>, StorageError> {
        let name = name.to_string();
        self.blocking(move |me| match std::fs::read_to_string(me.last_used_path(&name)) {
            Ok(s) => Ok(s.trim().parse().ok()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(e, &me.last_used_path(&name))),
        })
        .await
    }

    fn describe(&self) -> String {
        describe(&self.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::dataset::*;
    use std::collections::BTreeMap;

    fn record(name: &str, at: &str) -> DatasetRecord {
        DatasetRecord {
            info: DatasetInfo {
                basepath: "/data".into(),
                total_parts: 1,
                id: DatasetId { name: name.into(), registered_at: at.into() },
                group_id_column: "u".into(),
                timestamp_column: "ts".into(),
                revision: None,
            },
            parts: DatasetPartsInfo {
                naming_method: NamingMethod::List,
                total_parts: 1,
                total_size: 10,
                running_number_pattern: None,
                filenames: vec!["a.parquet".into()],
                sizes: vec![10],
            },
            schema: DatasetFullSchema {
                group_id_column: "u".into(),
                timestamp_column: "ts".into(),
                columns: BTreeMap::new(),
                unsupported_columns: BTreeMap::new(),
            },
        }
    }

    #[tokio::test]
    async fn records_survive_reopening_and_names_may_hold_anything() {
        let dir = tempfile::tempdir().unwrap();
        let s = EmbeddedDatastore::open(dir.path()).unwrap();
        let odd = "my data/set: v2 ü";
        s.write_dataset(&record(odd, "2026-01-01T00:00:00.000000Z")).await.unwrap();
        s.write_dataset(&record("b", "2026-02-01T00:00:00.000000Z")).await.unwrap();
        s.set_last_used(odd, 123).await.unwrap();
        let s2 = EmbeddedDatastore::open(dir.path()).unwrap();
        assert_eq!(s2.dataset(odd).await.unwrap().unwrap().info.id.name, odd);
        assert_eq!(s2.last_used(odd).await.unwrap(), Some(123));
        let names: Vec<String> = s2.datasets().await.unwrap().into_iter().map(|d| d.id.name).collect();
        assert_eq!(names, ["b", odd], "most recently registered first");
        // Re-registering clears the last-used mark.
        s2.write_dataset(&record(odd, "2026-03-01T00:00:00.000000Z")).await.unwrap();
        assert_eq!(s2.last_used(odd).await.unwrap(), None);
        assert!(s2.remove_dataset(odd).await.unwrap());
        assert!(!s2.remove_dataset(odd).await.unwrap());
        assert!(s2.dataset(odd).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn concurrent_writers_never_leave_a_torn_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut handles = Vec::new();
        for i in 0..16 {
            let p = dir.path().to_path_buf();
            handles.push(tokio::spawn(async move {
                let s = EmbeddedDatastore::open(p).unwrap();
                s.write_dataset(&record("same", &format!("2026-01-01T00:00:{i:02}.000000Z"))).await.unwrap();
                s.dataset("same").await.unwrap().unwrap()
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        let s = EmbeddedDatastore::open(dir.path()).unwrap();
        assert_eq!(s.datasets().await.unwrap().len(), 1);
        let leftovers = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains("tmp-"));
        assert_eq!(leftovers.count(), 0);
    }

    #[tokio::test]
    async fn corrupt_metadata_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let s = EmbeddedDatastore::open(dir.path()).unwrap();
        std::fs::write(dir.path().join("x.json"), b"{not json").unwrap();
        let e = s.dataset("x").await.unwrap_err();
        assert!(e.to_string().contains("corrupt metadata file"), "{e}");
    }

    #[tokio::test]
    async fn unwritable_directory_is_an_error_not_a_panic() {
        let e = EmbeddedDatastore::open("/proc/frocket-cannot-exist").unwrap_err();
        assert!(
            matches!(e, StorageError::Other(_) | StorageError::AccessDenied(_) | StorageError::NotFound(_)),
            "{e:?}"
        );
    }
}
