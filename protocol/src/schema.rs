//! Dataset schema as the validator needs it: column names and their query types.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The query-level type of a column (docs/query-language.md "Column types").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ColumnType {
    Int,
    Float,
    Bool,
    String,
}

impl ColumnType {
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnType::Int => "INT",
            ColumnType::Float => "FLOAT",
            ColumnType::Bool => "BOOL",
            ColumnType::String => "STRING",
        }
    }
    pub fn is_numeric(self) -> bool {
        matches!(self, ColumnType::Int | ColumnType::Float)
    }
}

/// The short schema of a dataset: enough to validate a query against it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetSchema {
    pub group_id_column: String,
    pub timestamp_column: String,
    pub columns: BTreeMap<String, ColumnType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_timestamp: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_timestamp: Option<f64>,
}

impl DatasetSchema {
    pub fn new(
        group_id_column: impl Into<String>,
        timestamp_column: impl Into<String>,
        columns: impl IntoIterator<Item = (String, ColumnType)>,
    ) -> Self {
        DatasetSchema {
            group_id_column: group_id_column.into(),
            timestamp_column: timestamp_column.into(),
            columns: columns.into_iter().collect(),
            min_timestamp: None,
            max_timestamp: None,
        }
    }
    pub fn column_type(&self, name: &str) -> Option<ColumnType> {
        self.columns.get(name).copied()
    }
}
