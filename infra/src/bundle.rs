//! The code the stack's functions run, packaged as Lambda wants it (`provided.al2023`: a zip
//! with an executable `bootstrap` at its root) and named by its content.
//!
//! Zips are built here, not by cargo-lambda, so that they are **deterministic**: fixed entry
//! order, timestamps and permissions, so the same binaries give the same bytes, the same
//! SHA-256 and the same S3 key, and a deploy of unchanged code is a no-op for CloudFormation.
//!
//! - the worker bundle: the `frocket-lambda` binary as `bootstrap`;
//! - the API bundle: the `frocket` binary and a `bootstrap` script that runs `frocket serve`
//!   (which answers function URL events when started by the Lambda runtime, docs/api.md).

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

/// The API function's entry point: `frocket serve` from the bundle's directory.
pub const API_BOOTSTRAP: &str = "#!/bin/sh\n\
# Funnel Rocket API under Lambda: `frocket serve` answers function URL events (docs/api.md).\n\
exec \"${LAMBDA_TASK_ROOT:-$(dirname \"$0\")}/frocket\" serve\n";

/// A zip ready to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub bytes: Vec<u8>,
    /// Lowercase hex SHA-256 of `bytes`.
    pub sha256: String,
}

impl Bundle {
    /// The content-addressed S3 key: `frocket/<kind>-<sha256>.zip`.
    pub fn key(&self, kind: &str) -> String {
        format!("frocket/{kind}-{}.zip", self.sha256)
    }
}

/// Why a bundle could not be made.
#[derive(Debug, thiserror::Error)]
#[error("package {path}: {message}")]
pub struct BundleError {
    pub path: String,
    pub message: String,
}

fn read(path: &Path) -> Result<Vec<u8>, BundleError> {
    let err = |message: String| BundleError { path: path.display().to_string(), message };
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    if bytes.get(..4) != Some(b"\x7fELF") {
        return Err(err("not a Linux executable (build it for Lambda: cargo xtask build-lambda)".into()));
    }
    Ok(bytes)
}

fn zip(entries: &[(&str, &[u8])]) -> Bundle {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(6))
        .unix_permissions(0o755)
        .last_modified_time(zip::DateTime::default());
    for (name, bytes) in entries {
        w.start_file(*name, opts).expect("a zip entry in memory");
        w.write_all(bytes).expect("write to memory");
    }
    let bytes = w.finish().expect("finish a zip in memory").into_inner();
    let sha256 = hex::encode(Sha256::digest(&bytes));
    Bundle { bytes, sha256 }
}

/// The worker bundle from the `frocket-lambda` executable.
pub fn worker_bundle(worker: &Path) -> Result<Bundle, BundleError> {
    Ok(zip(&[("bootstrap", &read(worker)?)]))
}

/// The API bundle from the `frocket` executable.
pub fn api_bundle(frocket: &Path) -> Result<Bundle, BundleError> {
    Ok(zip(&[("bootstrap", API_BOOTSTRAP.as_bytes()), ("frocket", &read(frocket)?)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundles_are_deterministic_and_executable() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("frocket-lambda");
        std::fs::write(&bin, b"\x7fELF pretend").unwrap();
        let a = worker_bundle(&bin).unwrap();
        let b = worker_bundle(&bin).unwrap();
        assert_eq!(a, b, "same input, same bytes");
        assert_eq!(a.sha256, hex::encode(Sha256::digest(&a.bytes)));
        assert_eq!(a.key("worker"), format!("frocket/worker-{}.zip", a.sha256));
        std::fs::write(&bin, b"\x7fELF changed").unwrap();
        assert_ne!(worker_bundle(&bin).unwrap().sha256, a.sha256, "changed input, new key");

        let api = api_bundle(&bin).unwrap();
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(api.bytes)).unwrap();
        let names: Vec<String> = (0..z.len()).map(|i| z.by_index(i).unwrap().name().to_string()).collect();
        assert_eq!(names, ["bootstrap", "frocket"]);
        let boot = z.by_name("bootstrap").unwrap();
        assert_eq!(boot.unix_mode().map(|m| m & 0o777), Some(0o755));
    }

    #[test]
    fn non_executables_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("bootstrap");
        std::fs::write(&f, b"#!/bin/sh\n").unwrap();
        let e = worker_bundle(&f).unwrap_err().to_string();
        assert!(e.contains("not a Linux executable"), "{e}");
        assert!(worker_bundle(&dir.path().join("missing")).is_err());
    }
}
