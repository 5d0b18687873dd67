//! S3 (and S3-compatible stores via a custom endpoint) as a blob store.
//! Credentials come from the standard AWS chain unless given explicitly; listings paginate.

use crate::blob::{BlobStore, ObjectMeta};
use crate::{Location, StorageError};
use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use std::path::Path;

/// How to reach S3.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct S3Config {
    /// Custom endpoint for S3-compatible stores (`http://127.0.0.1:9000`).
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), needed by most S3-compatible stores.
    pub force_path_style: bool,
    /// Explicit static credentials (access key id, secret); otherwise the standard chain.
    pub credentials: Option<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
}

fn s3_parts(loc: &Location) -> Result<(&str, &str), StorageError> {
    match loc {
        Location::S3 { bucket, key } => Ok((bucket, key)),
        other => Err(StorageError::InvalidPath(format!("{other} is not an S3 path"))),
    }
}

/// Classifies an SDK error: 404/NoSuchKey/NoSuchBucket → NotFound, 403 → AccessDenied,
/// network/timeouts/5xx/throttling → Transient.
fn classify<E, R>(err: SdkError<E, R>, what: &str) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let context = aws_sdk_s3::error::DisplayErrorContext(&err).to_string();
    if context.contains("loading credentials") {
        return StorageError::AccessDenied(format!(
            "{what}: no usable AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)"
        ));
    }
    match &err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            StorageError::Transient(format!("{what}: {}", aws_sdk_s3::error::DisplayErrorContext(&err)))
        }
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("");
            let status = format!("{:?}", se.raw());
            let message = format!("{what}: {}", aws_sdk_s3::error::DisplayErrorContext(&err));
            if matches!(code, "NoSuchKey" | "NoSuchBucket" | "NotFound") || status.contains("404") {
                StorageError::NotFound(message)
            } else if matches!(code, "AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch")
                || status.contains("403")
            {
                StorageError::AccessDenied(message)
            } else if matches!(code, "SlowDown" | "InternalError" | "ServiceUnavailable" | "RequestTimeout")
                || status.contains("StatusCode(5")
            {
                StorageError::Transient(message)
            } else {
                StorageError::Other(message)
            }
        }
        _ => StorageError::Other(format!("{what}: {}", aws_sdk_s3::error::DisplayErrorContext(&err))),
    }
}

impl S3Store {
    pub async fn new(cfg: &S3Config) -> S3Store {
        let sdk = crate::aws::sdk_config(cfg.region.as_deref(), cfg.credentials.as_ref(), true).await;
        let mut b = aws_sdk_s3::config::Builder::from(&sdk).force_path_style(cfg.force_path_style);
        if let Some(url) = &cfg.endpoint_url {
            b = b.endpoint_url(url);
        }
        S3Store { client: Client::from_conf(b.build()) }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Uploads a local file to `dest` (an S3 location).
    pub async fn upload_file(&self, src: &Path, dest: &Location) -> Result<(), StorageError> {
        let (bucket, key) = s3_parts(dest)?;
        let body = aws_sdk_s3::primitives::ByteStream::from_path(src)
            .await
            .map_err(|e| StorageError::Other(format!("read {}: {e}", src.display())))?;
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body)
            .send()
            .await
            .map_err(|e| classify(e, &format!("put {dest}")))?;
        Ok(())
    }
}

#[async_trait]
impl BlobStore for S3Store {
    async fn list(&self, dir: &Location) -> Result<Vec<ObjectMeta>, StorageError> {
        let (bucket, key) = s3_parts(dir)?;
        let prefix = if key.is_empty() || key.ends_with('/') { key.to_string() } else { format!("{key}/") };
        let mut pages = self.client.list_objects_v2().bucket(bucket).prefix(&prefix).into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify(e, &format!("list {dir}")))?;
            for obj in page.contents() {
                let Some(k) = obj.key() else { continue };
                let name = k.strip_prefix(&prefix).unwrap_or(k);
                if !name.is_empty() && !name.ends_with('/') {
                    out.push(ObjectMeta { name: name.to_string(), size: obj.size().unwrap_or(0).max(0) as u64 });
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn size(&self, path: &Location) -> Result<u64, StorageError> {
        let (bucket, key) = s3_parts(path)?;
        let head = self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| classify(e, &format!("head {path}")))?;
        Ok(head.content_length().unwrap_or(0).max(0) as u64)
    }

    async fn download(&self, path: &Location, dest: &Path) -> Result<u64, StorageError> {
        let (bucket, key) = s3_parts(path)?;
        let resp = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| classify(e, &format!("get {path}")))?;
        let tmp = dest.with_extension(format!("download-{}", std::process::id()));
        let io = |e: std::io::Error| StorageError::from_io(&e, &format!("write {}", tmp.display()));
        let mut file = tokio::fs::File::create(&tmp).await.map_err(io)?;
        let mut reader = resp.body.into_async_read();
        let copied = tokio::io::copy(&mut reader, &mut file).await;
        let n = match copied {
            Ok(n) => n,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                // A body cut short is a network fault; a local write error is not.
                return Err(
                    if e.kind() == std::io::ErrorKind::StorageFull || e.kind() == std::io::ErrorKind::PermissionDenied {
                        StorageError::from_io(&e, &format!("write {}", tmp.display()))
                    } else {
                        StorageError::Transient(format!("download {path}: {e}"))
                    },
                );
            }
        };
        tokio::io::AsyncWriteExt::flush(&mut file).await.map_err(io)?;
        drop(file);
        tokio::fs::rename(&tmp, dest)
            .await
            .map_err(|e| StorageError::from_io(&e, &format!("rename to {}", dest.display())))?;
        Ok(n)
    }
}

/// An S3 store created on first use, so processes that never touch S3 never load AWS config.
#[derive(Debug)]
pub struct LazyS3Store {
    cfg: S3Config,
    store: tokio::sync::OnceCell<S3Store>,
}

impl LazyS3Store {
    pub fn new(cfg: S3Config) -> LazyS3Store {
        LazyS3Store { cfg, store: tokio::sync::OnceCell::new() }
    }
    async fn get(&self) -> &S3Store {
        self.store.get_or_init(|| S3Store::new(&self.cfg)).await
    }
}

#[async_trait]
impl BlobStore for LazyS3Store {
    async fn list(&self, dir: &Location) -> Result<Vec<ObjectMeta>, StorageError> {
        self.get().await.list(dir).await
    }
    async fn size(&self, path: &Location) -> Result<u64, StorageError> {
        self.get().await.size(path).await
    }
    async fn download(&self, path: &Location, dest: &Path) -> Result<u64, StorageError> {
        self.get().await.download(path, dest).await
    }
}
