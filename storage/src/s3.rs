//! S3 (and S3-compatible stores via a custom endpoint) as a blob store.
//! Credentials come from the standard AWS chain unless given explicitly; listings paginate.
//!
//! Timeouts: a worker must never wait forever on a store it can no longer reach (a network cut
//! stalls a pooled connection silently; the worker keeps heartbeating, so the invoker would
//! never declare the task lost). Connecting is limited to [`CONNECT_TIMEOUT`], the first byte of
//! a response to [`FIRST_BYTE_TIMEOUT`], and a download fails when its body sends nothing for
//! [`BODY_IDLE_TIMEOUT`]; each is a transient error, retried by the SDK and then by the invoker
//! (docs/reliability.md "Network faults": the S3 server cut off for good).

use crate::blob::{BlobStore, ObjectMeta};
use crate::{Location, StorageError};
use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use std::path::Path;

/// Limit on opening a connection.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);
/// Limit on the first byte of a response.
pub const FIRST_BYTE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Limit on a download body sending nothing.
pub const BODY_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

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
        let timeouts = aws_sdk_s3::config::timeout::TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(FIRST_BYTE_TIMEOUT)
            .build();
        let mut b =
            aws_sdk_s3::config::Builder::from(&sdk).force_path_style(cfg.force_path_style).timeout_config(timeouts);
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
        let reader = resp.body.into_async_read();
        let copied = copy_with_idle_timeout(reader, &mut file, BODY_IDLE_TIMEOUT).await;
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

/// `tokio::io::copy` that fails with `TimedOut` when `from` yields nothing for `idle`.
async fn copy_with_idle_timeout(
    mut from: impl tokio::io::AsyncRead + Unpin,
    to: &mut (impl tokio::io::AsyncWrite + Unpin),
    idle: std::time::Duration,
) -> std::io::Result<u64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match tokio::time::timeout(idle, from.read(&mut buf)).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no data for {} s", idle.as_secs()),
                ));
            }
        };
        if n == 0 {
            return Ok(total);
        }
        to.write_all(&buf[..n]).await?;
        total += n as u64;
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

#[cfg(test)]
mod tests {
    use super::copy_with_idle_timeout;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_body_that_goes_silent_times_out_and_a_whole_one_is_copied() {
        let (mut tx, rx) = tokio::io::duplex(1024);
        tx.write_all(b"abc").await.unwrap();
        // The writer stays open and sends nothing more: a stalled connection.
        let mut out = Vec::new();
        let e = copy_with_idle_timeout(rx, &mut out, Duration::from_millis(100)).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(out, b"abc");

        let (mut tx, rx) = tokio::io::duplex(1024);
        let writer = tokio::spawn(async move {
            for chunk in [&b"hello "[..], b"world"] {
                tokio::time::sleep(Duration::from_millis(30)).await;
                tx.write_all(chunk).await.unwrap();
            }
        });
        let mut out = Vec::new();
        let n = copy_with_idle_timeout(rx, &mut out, Duration::from_millis(500)).await.unwrap();
        writer.await.unwrap();
        assert_eq!((n, out.as_slice()), (11, &b"hello world"[..]));
    }
}
