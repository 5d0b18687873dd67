//! Dataset metadata as stored by the datastore and shown to users (docs/datasets.md "Registration", docs/results.md):
//! identity, parts, full and short schema.

use crate::schema::{ColumnType, DatasetSchema};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A dataset registration: its name and when it was registered. Re-registering a name gives a
/// new `registered_at`, which invalidates every cache keyed on the id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetId {
    pub name: String,
    /// ISO-8601 UTC with microseconds, e.g. `2026-11-26T07:00:00.123456Z`.
    pub registered_at: String,
}

/// `DatasetInfo` (0.5.3's, docs/results.md "Registration result"), plus the optional seed `revision`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetInfo {
    pub basepath: String,
    pub total_parts: usize,
    pub id: DatasetId,
    pub group_id_column: String,
    pub timestamp_column: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

/// How part files were named at registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NamingMethod {
    /// A glob over a listing (default `*.parquet`).
    List,
    /// The seed's running-number pattern, e.g. `part-{:05}.parquet`, with an explicit count.
    RunningNumber,
}

/// The parts of a dataset: file names relative to the base path, in part-index order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetPartsInfo {
    pub naming_method: NamingMethod,
    pub total_parts: usize,
    pub total_size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_number_pattern: Option<String>,
    pub filenames: Vec<String>,
    /// Size of each part in bytes (same order as `filenames`).
    #[serde(default)]
    pub sizes: Vec<u64>,
}

/// Attributes of one column found at registration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ColumnAttrs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numeric_min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numeric_max: Option<f64>,
    #[serde(default)]
    pub categorical: bool,
    /// Relative frequency of the most common values (categorical strings only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cat_top_values: Option<BTreeMap<String, f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cat_unique_ratio: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ColumnInfo {
    pub name: String,
    /// The physical type as the reader reports it (e.g. `i64`, `str`, `cat`).
    pub dtype_name: String,
    pub coltype: ColumnType,
    pub colattrs: ColumnAttrs,
}

/// The full schema of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetFullSchema {
    pub group_id_column: String,
    pub timestamp_column: String,
    pub columns: BTreeMap<String, ColumnInfo>,
    /// Columns of unsupported types: name → physical type.
    pub unsupported_columns: BTreeMap<String, String>,
}

/// The short schema: what the validator and the UI need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetShortSchema {
    pub columns: BTreeMap<String, ColumnType>,
    pub min_timestamp: Option<f64>,
    pub max_timestamp: Option<f64>,
    /// String columns stored as dictionaries/categoricals in the files.
    pub source_categoricals: Vec<String>,
    /// Plain string columns whose values repeat enough to be treated as categoricals.
    pub potential_categoricals: Vec<String>,
}

impl DatasetFullSchema {
    pub fn short(&self) -> DatasetShortSchema {
        let ts = self.columns.get(&self.timestamp_column).map(|c| &c.colattrs);
        let cat = |source: bool| {
            self.columns
                .values()
                .filter(|c| c.coltype == ColumnType::String && c.colattrs.categorical)
                .filter(|c| (c.dtype_name == "cat") == source)
                .map(|c| c.name.clone())
                .collect()
        };
        DatasetShortSchema {
            columns: self.columns.values().map(|c| (c.name.clone(), c.coltype)).collect(),
            min_timestamp: ts.and_then(|a| a.numeric_min),
            max_timestamp: ts.and_then(|a| a.numeric_max),
            source_categoricals: cat(true),
            potential_categoricals: cat(false),
        }
    }

    /// The schema the query validator checks against.
    pub fn validation_schema(&self) -> DatasetSchema {
        let short = self.short();
        DatasetSchema {
            group_id_column: self.group_id_column.clone(),
            timestamp_column: self.timestamp_column.clone(),
            columns: short.columns,
            min_timestamp: short.min_timestamp,
            max_timestamp: short.max_timestamp,
        }
    }
}

/// Everything the datastore keeps for a registered dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetRecord {
    pub info: DatasetInfo,
    pub parts: DatasetPartsInfo,
    pub schema: DatasetFullSchema,
}

impl DatasetRecord {
    /// Full path (as the storage layer understands it) of part `idx`.
    pub fn part_path(&self, idx: usize) -> Option<String> {
        let name = self.parts.filenames.get(idx)?;
        let base = self.info.basepath.trim_end_matches('/');
        Some(format!("{base}/{name}"))
    }
}
