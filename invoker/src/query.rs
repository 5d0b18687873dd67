//! The query job: validate against the dataset's schema, one task per part, retries of
//! retryable failures, exactly one successful attempt merged per part, result with stats.

use crate::cost::UsageMeter;
use crate::executor::{JobOptions, ProgressFn, TaskExecutor, run_all, view};
use crate::stats::{JobCounts, query_job_stats};
use crate::{InvokerError, new_request_id};
use protocol::PartialResult;
use protocol::job::{DatasetStats, QueryJobResult};
use protocol::task::{DatasetPartId, QueryTaskRequest, QueryTaskResult, TaskHeader};
use protocol::validate_query_value;
use serde_json::Value;
use storage::clock::unix_now;
use storage::{Datastore, Location};

/// Runs `query` (JSON, canonical or seed format) on dataset `name`: the merged result with its
/// request id, stats, and for seed queries the seed counters and the translated query.
pub async fn run_query_job(
    datastore: &dyn Datastore,
    executor: &dyn TaskExecutor,
    name: &str,
    query: &Value,
    opts: &JobOptions,
    progress: Option<ProgressFn>,
) -> Result<QueryJobResult, InvokerError> {
    let t0 = std::time::Instant::now();
    let storage_err = |source| InvokerError::Storage { context: format!("read dataset '{name}'"), source };
    let record = datastore
        .dataset(name)
        .await
        .map_err(storage_err)?
        .ok_or_else(|| InvokerError::DatasetNotFound(name.into()))?;
    let vq = validate_query_value(query, Some(&record.schema.validation_schema()))?;
    datastore.set_last_used(name, unix_now() as u64).await.map_err(storage_err)?;
    let base = Location::parse(&record.info.basepath).map_err(|e| InvokerError::InvalidArguments(e.to_string()))?;
    let request_id = new_request_id();
    let used = vq.used_columns(&record.info.group_id_column, &record.info.timestamp_column);
    let expanded = vq.query.to_json();
    let invoke_time = unix_now();
    let make = |i: usize, attempt: u32| QueryTaskRequest {
        header: TaskHeader {
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
        },
        used_columns: used.clone(),
        query: expanded.clone(),
        select_part: false,
        selected_how: None,
        preflight_sleep: 0.0,
    };
    let n = record.parts.filenames.len();
    let parts: Vec<DatasetPartId> = (0..n).map(|i| make(i, 0).header.part).collect();
    executor.prepare_request(&request_id, &parts).await?;
    let mut usage = UsageMeter::new(opts.prices);
    let ran = run_all(
        n,
        executor.concurrency(),
        opts.policy(),
        make,
        |req| executor.run_query(req),
        |r: &QueryTaskResult| view(r.task_index, r.attempt_no, &r.outcome),
        |r: &QueryTaskResult| usage.add(&r.metrics),
        progress,
    )
    .await;
    executor.finish_request(&request_id).await;
    if let Some(m) = &opts.metrics {
        let tasks: Vec<(bool, &protocol::task::TaskMetrics)> =
            ran.results.iter().map(|r| (r.outcome.is_ok(), &r.metrics)).collect();
        let success = ran.timed_out.is_none() && ran.results.iter().all(|r| r.outcome.is_ok());
        m.record_job(name, "query", success, t0.elapsed().as_secs_f64(), &tasks);
    }
    if let Some(pending) = &ran.timed_out {
        return Err(InvokerError::TasksFailed(format!(
            "Query timed out after {} seconds ({} of {n} tasks without a result; are workers running?)",
            opts.timeout.as_secs_f64(),
            pending.len()
        )));
    }
    let results = ran.results;
    if results.len() != n {
        // Never merge a partial set of parts silently.
        return Err(InvokerError::Internal(format!("{} of {n} tasks ended without a result", n - results.len())));
    }
    let errors: Vec<String> = results
        .iter()
        .filter_map(|r| {
            r.outcome
                .as_ref()
                .err()
                .map(|e| format!("part {} ({}): {}", r.task_index, record.parts.filenames[r.task_index], e.message))
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
    let partials = results.iter().filter_map(|r| r.outcome.as_ref().ok().cloned());
    let merged = PartialResult::merge_all(partials)
        .map_err(|e| InvokerError::Internal(e.to_string()))?
        .ok_or_else(|| InvokerError::Internal("no parts".into()))?;
    let counts = JobCounts {
        elapsed: t0.elapsed(),
        dataset: DatasetStats { total_size: record.parts.total_size, parts: n },
        attempts: ran.attempts,
        failed_attempts: ran.failed_attempts,
    };
    Ok(QueryJobResult {
        success: true,
        request_id,
        result: merged.finalize(vq.is_legacy()),
        translated_query: vq.translated_from_legacy,
        stats: query_job_stats(counts, &ok_metrics, usage.finish()),
    })
}
