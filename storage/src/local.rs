//! The local filesystem as a blob store.

use crate::blob::{BlobStore, ObjectMeta};
use crate::{Location, StorageError};
use async_trait::async_trait;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, Default)]
pub struct LocalStore;

fn local(loc: &Location) -> Result<&PathBuf, StorageError> {
    match loc {
        Location::Local(p) => Ok(p),
        other => Err(StorageError::InvalidPath(format!("{other} is not a local path"))),
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<ObjectMeta>) -> Result<(), StorageError> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| StorageError::from_io(&e, &format!("directory {}", dir.display())))?;
    for e in entries {
        let e = e.map_err(|e| StorageError::from_io(&e, &format!("directory {}", dir.display())))?;
        let path = e.path();
        let meta = std::fs::metadata(&path).map_err(|e| StorageError::from_io(&e, &path.display().to_string()))?;
        if meta.is_dir() {
            walk(root, &path, out)?;
        } else if meta.is_file() {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let name = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            out.push(ObjectMeta { name, size: meta.len() });
        }
    }
    Ok(())
}

#[async_trait]
impl BlobStore for LocalStore {
    async fn list(&self, dir: &Location) -> Result<Vec<ObjectMeta>, StorageError> {
        let dir = local(dir)?.clone();
        tokio::task::spawn_blocking(move || {
            if !dir.is_dir() {
                return Err(if dir.exists() {
                    StorageError::InvalidPath(format!("{} is not a directory", dir.display()))
                } else {
                    StorageError::NotFound(format!("directory {}", dir.display()))
                });
            }
            let mut out = Vec::new();
            walk(&dir, &dir, &mut out)?;
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
        })
        .await
        .map_err(|e| StorageError::Other(format!("listing task failed: {e}")))?
    }

    async fn size(&self, path: &Location) -> Result<u64, StorageError> {
        let p = local(path)?;
        tokio::fs::metadata(p).await.map(|m| m.len()).map_err(|e| StorageError::from_io(&e, &p.display().to_string()))
    }

    async fn download(&self, path: &Location, dest: &Path) -> Result<u64, StorageError> {
        let src = local(path)?;
        let tmp = dest.with_extension("download");
        let n = tokio::fs::copy(src, &tmp).await.map_err(|e| StorageError::from_io(&e, &src.display().to_string()))?;
        tokio::fs::rename(&tmp, dest).await.map_err(|e| StorageError::from_io(&e, &dest.display().to_string()))?;
        Ok(n)
    }
}
