//! Where a dataset or part lives: a local path or an S3 object/prefix.

use crate::StorageError;
use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Location {
    Local(PathBuf),
    S3 { bucket: String, key: String },
}

impl Location {
    /// Parses `file://path`, `s3://bucket/prefix` or a plain local path.
    pub fn parse(s: &str) -> Result<Location, StorageError> {
        if let Some(rest) = s.strip_prefix("file://") {
            return Ok(Location::Local(PathBuf::from(rest)));
        }
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            let ok =
                !bucket.is_empty() && bucket.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
            if !ok {
                return Err(StorageError::InvalidPath(format!(
                    "'{s}': an S3 path is s3://bucket/prefix with a valid bucket name"
                )));
            }
            return Ok(Location::S3 { bucket: bucket.to_string(), key: key.trim_start_matches('/').to_string() });
        }
        if let Some((scheme, _)) = s.split_once("://") {
            return Err(StorageError::InvalidPath(format!(
                "storage protocol '{scheme}' is not supported (use a local path, file:// or s3://)"
            )));
        }
        if s.is_empty() {
            return Err(StorageError::InvalidPath("empty path".into()));
        }
        Ok(Location::Local(PathBuf::from(s)))
    }

    /// The location of `name` under this directory/prefix.
    pub fn join(&self, name: &str) -> Location {
        match self {
            Location::Local(p) => Location::Local(p.join(name)),
            Location::S3 { bucket, key } => {
                let k = key.trim_end_matches('/');
                let key = if k.is_empty() { name.to_string() } else { format!("{k}/{name}") };
                Location::S3 { bucket: bucket.clone(), key }
            }
        }
    }

    pub fn is_remote(&self) -> bool {
        matches!(self, Location::S3 { .. })
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_local_file_and_s3_paths() {
        assert_eq!(Location::parse("data/x").unwrap(), Location::Local("data/x".into()));
        assert_eq!(Location::parse("file:///tmp/x").unwrap(), Location::Local("/tmp/x".into()));
        assert_eq!(
            Location::parse("s3://bucket/a/b/").unwrap(),
            Location::S3 { bucket: "bucket".into(), key: "a/b/".into() }
        );
        assert_eq!(Location::parse("s3://bucket").unwrap(), Location::S3 { bucket: "bucket".into(), key: "".into() });
        assert!(matches!(Location::parse("gs://b/x"), Err(StorageError::InvalidPath(m)) if m.contains("'gs'")));
        assert!(Location::parse("s3:///x").is_err());
        assert!(Location::parse("s3://bad bucket/x").is_err());
        assert!(Location::parse("").is_err());
    }

    #[test]
    fn join_and_display() {
        let s3 = Location::parse("s3://b/pre/").unwrap();
        assert_eq!(s3.join("part-0.parquet").to_string(), "s3://b/pre/part-0.parquet");
        assert_eq!(Location::parse("s3://b").unwrap().join("x").to_string(), "s3://b/x");
    }
}
