//! What a job returns to its caller (the CLI, the HTTP API, Lambda-mode invokers): the typed
//! results of query, registration and unregistration jobs, with their stats. Serializing them
//! gives the documented result JSON (docs/results.md), byte for byte what `frocket run --json`
//! printed before these types existed (golden files in `frocket/tests/golden`); JSON is made
//! only where a result is printed or sent.

use crate::dataset::DatasetInfo;
use crate::result::QueryResult;
use crate::task::PartSelection;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A successful query job: the merged result plus its request id and stats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryJobResult {
    /// Always `true` here; failed jobs are errors (`{"success": false, "errors": [...]}`).
    pub success: bool,
    pub request_id: String,
    /// `query`, `funnel` and, for seed-format queries, `counters`.
    #[serde(flatten)]
    pub result: QueryResult,
    /// For seed-format queries: the canonical query they were translated to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub translated_query: Option<serde_json::Value>,
    pub stats: QueryJobStats,
}

/// `{min, mean, max, 50%}` of a series of seconds; quartiles and the 95th percentile from 20
/// values on, the 99th from 100 on (nearest-rank on the sorted series).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimingSummary {
    pub min: f64,
    pub mean: f64,
    pub max: f64,
    #[serde(rename = "50%")]
    pub p50: f64,
    #[serde(rename = "25%", default, skip_serializing_if = "Option::is_none")]
    pub p25: Option<f64>,
    #[serde(rename = "75%", default, skip_serializing_if = "Option::is_none")]
    pub p75: Option<f64>,
    #[serde(rename = "95%", default, skip_serializing_if = "Option::is_none")]
    pub p95: Option<f64>,
    #[serde(rename = "99%", default, skip_serializing_if = "Option::is_none")]
    pub p99: Option<f64>,
}

impl TimingSummary {
    /// The summary of `xs` (`None` when empty).
    pub fn of(xs: &[f64]) -> Option<TimingSummary> {
        if xs.is_empty() {
            return None;
        }
        let mut v = xs.to_vec();
        v.sort_by(f64::total_cmp);
        let pct = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
        let from = |n: usize, p: f64| (v.len() >= n).then(|| pct(p));
        Some(TimingSummary {
            min: v[0],
            mean: v.iter().sum::<f64>() / v.len() as f64,
            max: v[v.len() - 1],
            p50: pct(0.5),
            p25: from(20, 0.25),
            p75: from(20, 0.75),
            p95: from(20, 0.95),
            p99: from(100, 0.99),
        })
    }
}

/// The dataset a job ran on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetStats {
    /// Bytes of all parts (as listed at registration).
    pub total_size: u64,
    pub parts: usize,
}

/// What the invoker launched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvokerStats {
    /// Attempts launched (first attempts and retries).
    pub total_tasks: u32,
    /// Attempts that failed (retried or not), lost ones included.
    pub failed_tasks: usize,
}

/// Where the successful attempts found their parts' data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheStats {
    /// Read in place or downloaded by this attempt.
    pub source: usize,
    pub disk_cache: usize,
    pub memory_cache: usize,
}

/// The successful attempts' work, summed or summarised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerStats {
    pub load_time: Option<TimingSummary>,
    pub total_time: Option<TimingSummary>,
    pub scanned_rows: u64,
    pub scanned_groups: u64,
    /// How many parts were chosen each way (keys in the order of [`PartSelection`]).
    pub part_selection: BTreeMap<PartSelection, u64>,
    /// Seconds self-selecting workers waited in the preflight window, summed.
    pub preflight_sleep: f64,
    pub cache: CacheStats,
    /// Lambda mode only: the invocations that reported back, and what they are billed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda: Option<LambdaStats>,
}

/// What a job's Lambda invocations used (every attempt that reported, failed ones included).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LambdaStats {
    pub invocations: u64,
    pub cold_starts: u64,
    /// Billed seconds, summed.
    pub billed_seconds: f64,
    /// Billed seconds × configured memory in GB (1 GB = 1,024 MB, as AWS bills), summed.
    pub gb_seconds: f64,
}

/// Stats of a query job (docs/results.md "Stats").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryJobStats {
    /// Wall-clock seconds of the whole job, validation to merge.
    pub total_time: f64,
    /// Estimated cost in dollars where the transport has one (Lambda); `null` otherwise.
    pub cost: Option<f64>,
    pub dataset: DatasetStats,
    pub invoker: InvokerStats,
    pub worker: WorkerStats,
    /// Attempts launched, as `invoker.totalTasks`.
    pub attempts: u32,
    /// Attempts beyond the first of each task.
    pub retries: usize,
}

/// Stats of a registration job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationJobStats {
    pub total_time: f64,
    pub dataset: DatasetStats,
    pub attempts: u32,
    pub retries: usize,
}

/// A successful registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationJobResult {
    pub success: bool,
    pub request_id: String,
    pub dataset: DatasetInfo,
    /// Indexes of the parts that were read and cross-checked.
    pub validated_parts: Vec<usize>,
    pub stats: RegistrationJobStats,
}

/// What unregistering did (a refusal is `success: false` with its reason, not an error).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnregisterOutcome {
    pub success: bool,
    pub dataset_found: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_last_used: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_summaries_add_percentiles_as_the_series_grows() {
        assert_eq!(TimingSummary::of(&[]), None);
        let t = TimingSummary::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((t.min, t.mean, t.max, t.p50, t.p25), (1.0, 2.0, 3.0, 2.0, None));
        let xs: Vec<f64> = (1..=20).map(f64::from).collect();
        let t = TimingSummary::of(&xs).unwrap();
        // Nearest rank on 0-based positions: round(19 × p).
        assert_eq!((t.p25, t.p75, t.p95, t.p99), (Some(6.0), Some(15.0), Some(19.0), None));
        let xs: Vec<f64> = (0..100).map(f64::from).collect();
        assert_eq!(TimingSummary::of(&xs).unwrap().p99, Some(98.0));
        let keys: Vec<String> = serde_json::to_value(TimingSummary::of(&[1.0; 20]).unwrap())
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys, ["min", "mean", "max", "50%", "25%", "75%", "95%"]);
    }
}
