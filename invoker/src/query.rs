//! The query job: validate against the dataset's schema, one task per part, retries of
//! retryable failures, exactly one successful attempt merged per part, result with stats.

use crate::executor::{ProgressFn, TaskExecutor, run_all};
use crate::stats::job_stats;
use crate::{InvokerError, new_request_id, unix_now};
use protocol::PartialResult;
use protocol::task::{DatasetPartId, QueryTaskRequest, QueryTaskResult};
use protocol::validate_query_value;
use serde_json::Value;
use storage::{Datastore, Location};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueryJobOptions {
    /// Attempts per task for retryable failures (reference default 3).
    pub max_attempts: u32,
}

impl Default for QueryJobOptions {
    fn default() -> Self {
        QueryJobOptions { max_attempts: 3 }
    }
}

/// Runs `query` (JSON, canonical or seed format) on dataset `name`; returns the result JSON
/// (`success`, `requestId`, `query`, `funnel`, `stats`, and for seed queries `counters` and
/// `translatedQuery`).
pub async fn run_query_job(
    datastore: &dyn Datastore,
    executor: &dyn TaskExecutor,
    name: &str,
    query: &Value,
    opts: &QueryJobOptions,
    progress: Option<ProgressFn>,
) -> Result<Value, InvokerError> {
    let t0 = std::time::Instant::now();
    let storage_err = |source| InvokerError::Storage {
        context: format!("read dataset '{name}'"),
        source,
    };
    let record = datastore
        .dataset(name)
        .await
        .map_err(storage_err)?
        .ok_or_else(|| InvokerError::DatasetNotFound(name.into()))?;
    let vq = validate_query_value(query, Some(&record.schema.validation_schema()))?;
    datastore
        .set_last_used(name, unix_now() as u64)
        .await
        .map_err(storage_err)?;
    let base = Location::parse(&record.info.basepath)
        .map_err(|e| InvokerError::InvalidArguments(e.to_string()))?;
    let request_id = new_request_id();
    let used = vq.used_columns(&record.info.group_id_column, &record.info.timestamp_column);
    let expanded = vq.query.to_json();
    let invoke_time = unix_now();
    let make = |i: usize, attempt: u32| QueryTaskRequest {
        request_id: request_id.clone(),
        invoke_time,
        attempt_no: attempt,
        task_index: i,
        part: DatasetPartId {
            dataset_id: record.info.id.clone(),
            path: base.join(&record.parts.filenames[i]).to_string(),
            part_idx: i,
        },
        group_id_column: record.info.group_id_column.clone(),
        timestamp_column: record.info.timestamp_column.clone(),
        used_columns: used.clone(),
        query: expanded.clone(),
    };
    let n = record.parts.filenames.len();
    let failed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let f2 = failed.clone();
    let counting: ProgressFn = std::sync::Arc::new(move |p: crate::Progress| {
        f2.store(p.failed_attempts, std::sync::atomic::Ordering::SeqCst);
        if let Some(cb) = &progress {
            cb(p);
        }
    });
    let (results, attempts) = run_all(
        n,
        executor.concurrency(),
        opts.max_attempts,
        make,
        |req| executor.run_query(req),
        |r: &QueryTaskResult| r.outcome.as_ref(),
        Some(counting),
    )
    .await;
    let errors: Vec<String> = results
        .iter()
        .filter_map(|r| {
            r.outcome.as_ref().err().map(|e| {
                format!(
                    "part {} ({}): {}",
                    r.task_index, record.parts.filenames[r.task_index], e.message
                )
            })
        })
        .collect();
    if !errors.is_empty() {
        return Err(InvokerError::TasksFailed(format!(
            "{} of {n} tasks failed after retries: {}",
            errors.len(),
            errors.join("; ")
        )));
    }
    let ok_metrics: Vec<_> = results.iter().map(|r| &r.metrics).collect();
    let partials = results
        .iter()
        .filter_map(|r| r.outcome.as_ref().ok().cloned());
    let merged = PartialResult::merge_all(partials)
        .map_err(|e| InvokerError::Internal(e.to_string()))?
        .ok_or_else(|| InvokerError::Internal("no parts".into()))?;
    let mut out = serde_json::json!({"success": true, "requestId": request_id});
    let finalized = serde_json::to_value(merged.finalize(vq.is_legacy()))
        .map_err(|e| InvokerError::Internal(e.to_string()))?;
    if let (Value::Object(o), Value::Object(f)) = (&mut out, finalized) {
        o.extend(f);
    }
    if let Some(t) = &vq.translated_from_legacy {
        out["translatedQuery"] = t.clone();
    }
    out["stats"] = job_stats(
        t0.elapsed().as_secs_f64(),
        record.parts.total_size,
        n,
        attempts,
        failed.load(std::sync::atomic::Ordering::SeqCst),
        &ok_metrics,
    );
    Ok(out)
}
