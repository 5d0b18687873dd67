//! Errors of the protocol crate: validation errors (each with a kind and the JSON path of the
//! fault) and merge errors (partial results that do not belong to the same query).

use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of fault a validation error reports (docs/query-language.md "Validation"; names as in frocket 0.5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorKind {
    /// The query's structure is wrong: unknown keys, wrong JSON types, bad names, bad regex.
    Schema,
    /// A value does not fit the type of the column or target it is used with.
    TypeMismatch,
    /// The query names something the dataset does not have.
    DatasetMismatch,
    /// The relation expression is malformed or refers to undefined conditions.
    Relation,
    /// The request around the query is wrong (e.g. no dataset given where one is needed).
    InvalidArguments,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Schema => "SCHEMA",
            ErrorKind::TypeMismatch => "TYPE_MISMATCH",
            ErrorKind::DatasetMismatch => "DATASET_MISMATCH",
            ErrorKind::Relation => "RELATION",
            ErrorKind::InvalidArguments => "INVALID_ARGUMENTS",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One fault found in a query. `path` is the JSON path of the offending element, e.g.
/// `query.conditions[2].filter[1]`; the empty string means the whole document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationError {
    pub kind: ErrorKind,
    pub message: String,
    pub path: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.kind, self.message)
        } else {
            write!(f, "{}: {} (at {})", self.kind, self.message, self.path)
        }
    }
}

/// All the faults found in one query (never empty).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("query validation failed with {} error(s): {}", .errors.len(), summary(.errors))]
pub struct ValidationErrors {
    pub errors: Vec<ValidationError>,
}

fn summary(errors: &[ValidationError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

impl ValidationErrors {
    pub fn kinds(&self) -> Vec<ErrorKind> {
        self.errors.iter().map(|e| e.kind).collect()
    }
    /// Whether some error has this kind and exactly this path.
    pub fn has(&self, kind: ErrorKind, path: &str) -> bool {
        self.errors.iter().any(|e| e.kind == kind && e.path == path)
    }
}

/// Two partial results could not be merged: they were not computed for the same query.
/// This is always a bug in the caller (an internal error), never the user's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("partial results have a different shape at {path}: {detail}")]
    ShapeMismatch { path: String, detail: String },
}
