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

/// What every task request carries: which attempt of which task of which request, on which
/// part of which dataset layout. Flattened into the requests (the JSON is unchanged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskHeader {
    pub request_id: String,
    /// Unix seconds when the invoker created the request (workers reject stale requests).
    pub invoke_time: f64,
    pub attempt_no: u32,
    pub task_index: usize,
    pub part: DatasetPartId,
    pub group_id_column: String,
    pub timestamp_column: String,
}

impl TaskHeader {
    /// (request id, task index, attempt, invoke time).
    pub fn ids(&self) -> (&str, usize, u32, f64) {
        (&self.request_id, self.task_index, self.attempt_no, self.invoke_time)
    }
}

/// Run an (expanded, validated) query on one part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryTaskRequest {
    #[serde(flatten)]
    pub header: TaskHeader,
    /// Columns to load (group, timestamp, then referenced columns).
    pub used_columns: Vec<String>,
    /// The canonical expanded query JSON (re-validated by the worker).
    pub query: serde_json::Value,
    /// Worker self-selection (docs/distributed.md, `FROCKET_PART_SELECTION_MODE`): the worker
    /// picks the part (preferring parts it has cached) from the request's published part set;
    /// `part` and `task_index` are then replaced by the selected part. Only first attempts
    /// self-select; retries are set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub select_part: bool,
    /// Filled by a self-selecting worker: how it chose, and how long it waited (seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_how: Option<PartSelection>,
    #[serde(default)]
    pub preflight_sleep: f64,
}

/// Describe one part for registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationTaskRequest {
    #[serde(flatten)]
    pub header: TaskHeader,
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

/// How the part of a query task was chosen (counted in the job's `stats.worker.partSelection`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartSelection {
    /// The invoker named the part (the default, and every retry).
    SetByInvoker,
    /// A self-selecting worker took a part it had in its disk cache.
    SpecificCandidate,
    /// It had cached parts of the request, but others took them; it took any part.
    RandomCandidatesTaken,
    /// It had no cached part of the request; it took any part after the preflight window.
    RandomNoCandidates,
}

/// Per-task timings and counters (names of 0.5.3's stats, docs/results.md "Stats"; seconds).
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
    /// How the part was chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_select_method: Option<PartSelection>,
    #[serde(default)]
    pub task_preflight_sleep_seconds: f64,
    /// Set by Lambda workers: the instance and what the invocation is billed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda: Option<LambdaInvocation>,
}

/// One Lambda invocation as its worker saw it (docs/lambda.md "Cost").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LambdaInvocation {
    /// The first invocation of a new instance (its init phase ran just before).
    pub cold_start: bool,
    /// The function's configured memory.
    pub memory_mb: u32,
    /// `arm64` or `x86_64`.
    pub architecture: String,
    /// The invocation's duration rounded up to the millisecond, plus the init phase on a cold
    /// start (billed for custom runtimes).
    pub billed_ms: u64,
    /// Where the function runs (`AWS_REGION`), for its price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
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

impl QueryTaskResult {
    /// The result of the attempt described by `h`.
    pub fn for_request(h: &TaskHeader, outcome: Result<PartialResult, TaskError>, metrics: TaskMetrics) -> Self {
        QueryTaskResult {
            request_id: h.request_id.clone(),
            task_index: h.task_index,
            attempt_no: h.attempt_no,
            outcome,
            metrics,
        }
    }
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
            TaskEnvelope::Query(r) => r.header.ids(),
            TaskEnvelope::Registration(r) => r.header.ids(),
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
    /// The attempt's metrics (transports stamp their own facts into them).
    pub fn metrics_mut(&mut self) -> &mut TaskMetrics {
        match self {
            ResultEnvelope::Query(r) => &mut r.metrics,
            ResultEnvelope::Registration(r) => &mut r.metrics,
        }
    }

    /// (task index, attempt, succeeded).
    pub fn ids(&self) -> (usize, u32, bool) {
        match self {
            ResultEnvelope::Query(r) => (r.task_index, r.attempt_no, r.outcome.is_ok()),
            ResultEnvelope::Registration(r) => (r.task_index, r.attempt_no, r.outcome.is_ok()),
        }
    }
}

impl RegistrationTaskResult {
    /// The result of the attempt described by `h`.
    pub fn for_request(h: &TaskHeader, outcome: Result<PartDescription, TaskError>, metrics: TaskMetrics) -> Self {
        RegistrationTaskResult {
            request_id: h.request_id.clone(),
            task_index: h.task_index,
            attempt_no: h.attempt_no,
            outcome,
            metrics,
        }
    }
}

/// The lifecycle of one task attempt, as the transports report it (Redis status hash, Lambda).
/// On the wire: `QUEUED`, `LOADING_DATA`, `RUNNING`, `ENDED_SUCCESS`, `ENDED_FAILED`, `REJECTED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AttemptStatus {
    /// Enqueued (or invoked) by the invoker; no worker has it yet.
    Queued,
    /// A worker is fetching the part (0.5.3 reported it; kept for its status readers).
    LoadingData,
    /// A worker runs it; heartbeats refresh the report's time.
    Running,
    EndedSuccess,
    EndedFailed,
    /// A worker refused it unrun because the request was older than its reject age.
    Rejected,
}

impl AttemptStatus {
    /// Whether the attempt is over (no result or heartbeat will follow from it).
    pub fn is_final(self) -> bool {
        matches!(self, AttemptStatus::EndedSuccess | AttemptStatus::EndedFailed | AttemptStatus::Rejected)
    }
}

/// One attempt's status as stored by the transport: what, when (unix seconds), and by whom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptReport {
    pub status: AttemptStatus,
    /// Unix seconds of the update (heartbeats refresh it).
    pub time: f64,
    /// The worker's name (`host:pid`), empty while queued.
    #[serde(default)]
    pub worker: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::DatasetId;

    #[test]
    fn the_header_is_flattened_on_the_wire_and_round_trips_in_envelopes() {
        let header = TaskHeader {
            request_id: "1-abc".into(),
            invoke_time: 12.5,
            attempt_no: 2,
            task_index: 7,
            part: DatasetPartId {
                dataset_id: DatasetId { name: "d".into(), registered_at: "t".into() },
                path: "s3://b/p.parquet".into(),
                part_idx: 7,
            },
            group_id_column: "u".into(),
            timestamp_column: "ts".into(),
        };
        let req = RegistrationTaskRequest { header: header.clone(), return_group_ids: true };
        let v = serde_json::to_value(&req).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "requestId",
                "invokeTime",
                "attemptNo",
                "taskIndex",
                "part",
                "groupIdColumn",
                "timestampColumn",
                "returnGroupIds"
            ]
        );
        let env = TaskEnvelope::Registration(req);
        let back: TaskEnvelope = serde_json::from_str(&serde_json::to_string(&env).unwrap()).unwrap();
        assert_eq!(back, env);
        assert_eq!(back.ids(), ("1-abc", 7, 2, 12.5));
        let r = RegistrationTaskResult::for_request(
            &header,
            Err(TaskError { message: "x".into(), retryable: true }),
            TaskMetrics::default(),
        );
        assert_eq!((r.request_id.as_str(), r.task_index, r.attempt_no), ("1-abc", 7, 2));
    }

    #[test]
    fn attempt_reports_keep_the_0_5_3_status_names_on_the_wire() {
        let r = AttemptReport { status: AttemptStatus::EndedSuccess, time: 1.5, worker: "h:1".into() };
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"status":"ENDED_SUCCESS","time":1.5,"worker":"h:1"}"#);
        for (s, wire) in [
            (AttemptStatus::Queued, "QUEUED"),
            (AttemptStatus::LoadingData, "LOADING_DATA"),
            (AttemptStatus::Running, "RUNNING"),
            (AttemptStatus::EndedFailed, "ENDED_FAILED"),
            (AttemptStatus::Rejected, "REJECTED"),
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(wire));
        }
        let old: AttemptReport = serde_json::from_str(r#"{"status":"QUEUED","time":2.0}"#).unwrap();
        assert_eq!((old.status, old.worker.as_str()), (AttemptStatus::Queued, ""));
        assert!(serde_json::from_str::<AttemptReport>(r#"{"status":"DONE","time":2.0}"#).is_err());
    }

    #[test]
    fn part_selection_methods_keep_their_wire_names() {
        let m = TaskMetrics { part_select_method: Some(PartSelection::RandomNoCandidates), ..TaskMetrics::default() };
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["partSelectMethod"], serde_json::json!("random_no_candidates"));
        assert_eq!(serde_json::to_value(PartSelection::SetByInvoker).unwrap(), serde_json::json!("set_by_invoker"));
    }
}
