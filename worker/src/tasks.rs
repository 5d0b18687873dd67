//! Running tasks: a query or registration request in, a result (partial result or classified
//! error, plus metrics) out. CPU-bound work runs on the blocking pool, never on the IO runtime.

use crate::WorkerError;
use crate::loader::{FrameNeeds, PartLoader};
use crate::parquet::read_parquet;
use engine::{DescribeOptions, EngineOptions, describe_part, execute};
use protocol::task::{
    PartSelection, QueryTaskRequest, QueryTaskResult, RegistrationTaskRequest, RegistrationTaskResult, TaskMetrics,
};
use protocol::validate_query_value;
use std::sync::Arc;
use std::time::Instant;
use tracing::{debug, warn};

/// Everything a worker needs to run tasks.
#[derive(Debug)]
pub struct Worker {
    pub loader: PartLoader,
    pub engine: EngineOptions,
    pub describe: DescribeOptions,
}

impl Worker {
    pub fn new(loader: PartLoader) -> Arc<Worker> {
        Arc::new(Worker { loader, engine: EngineOptions::default(), describe: DescribeOptions::default() })
    }

    async fn query(&self, req: &QueryTaskRequest, m: &mut TaskMetrics) -> Result<protocol::PartialResult, WorkerError> {
        let h = &req.header;
        let q = validate_query_value(&req.query, None)
            .map_err(|e| WorkerError::InvalidRequest(format!("query of request {}: {e}", req.header.request_id)))?;
        let (columns, needs_timestamps) = (q.query.referenced_columns(), q.query.needs_timestamps());
        let timeframe = q.query.timeframe.clone();
        let opts = self.engine;
        let path = h.part.path.clone();
        // Decoded and run in one closure on one task thread (`PartLoader::with_frame`).
        let loaded = self
            .loader
            .with_frame(
                &h.part,
                FrameNeeds::new(
                    &h.group_id_column,
                    &h.timestamp_column,
                    &columns,
                    needs_timestamps,
                    timeframe.as_ref(),
                ),
                move |frame| {
                    let t = Instant::now();
                    (execute(&frame, &q.query, &opts), t.elapsed().as_secs_f64())
                },
            )
            .await?;
        m.task_download_seconds = loaded.download_seconds;
        m.task_total_load_seconds = loaded.load_seconds;
        m.load_from = Some(loaded.source);
        let (result, run_seconds) = loaded.value;
        let result = result.map_err(|e| WorkerError::Engine { context: format!("query part {path}"), source: e })?;
        m.task_run_query_seconds = run_seconds;
        m.scanned_rows = result.scanned_rows;
        m.scanned_groups = result.scanned_groups;
        Ok(result)
    }

    /// Runs a query task. Never fails: errors are in the result, classified for retries.
    pub async fn run_query(&self, req: &QueryTaskRequest) -> QueryTaskResult {
        let t = Instant::now();
        let mut metrics = TaskMetrics::default();
        let outcome = self.query(req, &mut metrics).await;
        metrics.task_total_run_seconds = t.elapsed().as_secs_f64();
        metrics.part_select_method = Some(req.selected_how.unwrap_or(PartSelection::SetByInvoker));
        metrics.task_preflight_sleep_seconds = req.preflight_sleep;
        if let Err(e) = &outcome {
            let h = &req.header;
            warn!(request_id = %h.request_id, task_index = h.task_index, attempt = h.attempt_no, part = %h.part.path, "query task failed: {e}");
        } else {
            debug!(request_id = %req.header.request_id, task_index = req.header.task_index, "query task done");
        }
        QueryTaskResult::for_request(&req.header, outcome.map_err(|e| e.to_task_error()), metrics)
    }

    async fn register(
        &self,
        req: &RegistrationTaskRequest,
        m: &mut TaskMetrics,
    ) -> Result<protocol::task::PartDescription, WorkerError> {
        let t = Instant::now();
        let (path, source, download) = self.loader.local_file(&req.header.part).await?;
        m.task_download_seconds = download;
        m.load_from = Some(source);
        let (g, ts, ids, opts) = (
            req.header.group_id_column.clone(),
            req.header.timestamp_column.clone(),
            req.return_group_ids,
            self.describe,
        );
        let part_path = req.header.part.path.clone();
        let what = format!("describe part {}", req.header.part.path);
        let d = self
            .loader
            .threads()
            .run(&what, move || -> Result<_, WorkerError> {
                let df = read_parquet(path, None)?;
                describe_part(&df, &g, &ts, ids, &opts)
                    .map_err(|e| WorkerError::Engine { context: format!("part {part_path}"), source: e })
            })
            .await??;
        m.task_total_load_seconds = t.elapsed().as_secs_f64();
        m.scanned_rows = d.rows;
        Ok(d)
    }

    /// Runs a registration task (describe one part). Never fails: errors are in the result.
    pub async fn run_registration(&self, req: &RegistrationTaskRequest) -> RegistrationTaskResult {
        let t = Instant::now();
        let mut metrics = TaskMetrics::default();
        let outcome = self.register(req, &mut metrics).await;
        metrics.task_total_run_seconds = t.elapsed().as_secs_f64();
        RegistrationTaskResult::for_request(&req.header, outcome.map_err(|e| e.to_task_error()), metrics)
    }
}
