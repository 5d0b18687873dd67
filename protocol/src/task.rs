//! The task protocol between invokers and workers, the same in every execution mode
//! (embedded pool, Redis queue, Lambda): requests name a part and carry everything a worker
//! needs; results carry a partial result or an error classified for retries.

use crate::dataset::DatasetId;
use crate::result::PartialResult;
use serde::{Deserialize, Serialize};

/// One part of one registered dataset.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetPartId {
    pub dataset_id: DatasetId,
    /// Full path of the part file (local path or `s3://bucket/key`).
    pub path: String,
    pub part_idx: usize,
}

/// Run an (expanded, validated) query on one part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryTaskRequest {
    pub request_id: String,
    /// Unix seconds when the invoker created the request (workers reject stale requests).
    pub invoke_time: f64,
    pub attempt_no: u32,
    pub task_index: usize,
    pub part: DatasetPartId,
    pub group_id_column: String,
    pub timestamp_column: String,
    /// Columns to load (group, timestamp, then referenced columns).
    pub used_columns: Vec<String>,
    /// The canonical expanded query JSON (re-validated by the worker).
    pub query: serde_json::Value,
    /// Worker self-selection (reference §3.6): the worker picks the part (preferring parts it
    /// has cached) from the request's published part set; `part` and `task_index` are then
    /// replaced by the selected part. Only first attempts self-select; retries are set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub select_part: bool,
    /// Filled by a self-selecting worker: how it chose, and how long it waited (seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_how: Option<String>,
    #[serde(default)]
    pub preflight_sleep: f64,
}

/// Describe one part for registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationTaskRequest {
    pub request_id: String,
    pub invoke_time: f64,
    pub attempt_no: u32,
    pub task_index: usize,
    pub part: DatasetPartId,
    pub group_id_column: String,
    pub timestamp_column: String,
    /// Return the part's distinct group ids (for the cross-part uniqueness check).
    pub return_group_ids: bool,
}

/// Group ids of a part, for the uniqueness check across sampled parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type", content = "values")]
pub enum GroupIds {
    Int(Vec<i64>),
    Str(Vec<String>),
}

/// What a worker found in one part at registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartDescription {
    pub schema: crate::dataset::DatasetFullSchema,
    pub rows: u64,
    /// Distinct group ids, sorted, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_ids: Option<GroupIds>,
}

/// How a task ended badly: retrying helps only for transient faults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskError {
    pub message: String,
    pub retryable: bool,
}

/// Where a worker got the part's data from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadSource {
    /// Read in place (local files) or downloaded now.
    Source,
    DiskCache,
    MemoryCache,
}

/// Per-task timings and counters (reference §3.8 names, in seconds).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskMetrics {
    pub task_total_run_seconds: f64,
    pub task_total_load_seconds: f64,
    pub task_download_seconds: f64,
    pub task_run_query_seconds: f64,
    pub scanned_rows: u64,
    pub scanned_groups: u64,
    pub load_from: Option<LoadSource>,
    /// How the part was chosen: set_by_invoker, specific_candidate, random_candidates_taken,
    /// random_no_candidates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_select_method: Option<String>,
    #[serde(default)]
    pub task_preflight_sleep_seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryTaskResult {
    pub request_id: String,
    pub task_index: usize,
    pub attempt_no: u32,
    pub outcome: Result<PartialResult, TaskError>,
    pub metrics: TaskMetrics,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationTaskResult {
    pub request_id: String,
    pub task_index: usize,
    pub attempt_no: u32,
    pub outcome: Result<PartDescription, TaskError>,
    pub metrics: TaskMetrics,
}

/// What travels on a work queue (and as a Lambda payload).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "request")]
pub enum TaskEnvelope {
    Query(QueryTaskRequest),
    Registration(RegistrationTaskRequest),
}

impl TaskEnvelope {
    /// (request id, task index, attempt, invoke time).
    pub fn ids(&self) -> (&str, usize, u32, f64) {
        match self {
            TaskEnvelope::Query(r) => (&r.request_id, r.task_index, r.attempt_no, r.invoke_time),
            TaskEnvelope::Registration(r) => (&r.request_id, r.task_index, r.attempt_no, r.invoke_time),
        }
    }
}

/// What a worker sends back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "result")]
pub enum ResultEnvelope {
    Query(QueryTaskResult),
    Registration(RegistrationTaskResult),
}

impl ResultEnvelope {
    /// (task index, attempt, succeeded).
    pub fn ids(&self) -> (usize, u32, bool) {
        match self {
            ResultEnvelope::Query(r) => (r.task_index, r.attempt_no, r.outcome.is_ok()),
            ResultEnvelope::Registration(r) => (r.task_index, r.attempt_no, r.outcome.is_ok()),
        }
    }
}
