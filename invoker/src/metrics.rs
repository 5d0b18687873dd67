//! Job and task metrics for Prometheus (the names of docs/results.md "Stats", `frocket_` prefixed), as
//! histograms with 0.5.3's buckets by unit. A [`Metrics`] registry accumulates over
//! the life of a process (a long-running invoker or API server exposes it); the CLI writes the
//! last job's metrics to `FROCKET_METRICS_EXPORT_LASTRUN` in the Prometheus text format (the
//! node-exporter textfile-collector format).

use prometheus::{Encoder, HistogramOpts, HistogramVec, Registry, TextEncoder};
use protocol::task::{LoadSource, TaskMetrics};

const SECONDS: &[f64] = &[0.05, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0];
const COUNTS: &[f64] = &[100.0, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 5e8];

/// Task and job histograms, labelled by dataset, job type and success.
pub struct Metrics {
    registry: Registry,
    task: Vec<(&'static str, HistogramVec)>,
    invoker_total: HistogramVec,
}

const TASK_METRICS: &[&str] = &[
    "task_total_run_seconds",
    "task_total_load_seconds",
    "task_download_seconds",
    "task_run_query_seconds",
    "scanned_rows",
    "scanned_groups",
];

fn value(m: &TaskMetrics, name: &str) -> f64 {
    match name {
        "task_total_run_seconds" => m.task_total_run_seconds,
        "task_total_load_seconds" => m.task_total_load_seconds,
        "task_download_seconds" => m.task_download_seconds,
        "task_run_query_seconds" => m.task_run_query_seconds,
        "scanned_rows" => m.scanned_rows as f64,
        "scanned_groups" => m.scanned_groups as f64,
        _ => 0.0,
    }
}

fn load_from(m: &TaskMetrics) -> &'static str {
    match m.load_from {
        Some(LoadSource::Source) => "source",
        Some(LoadSource::DiskCache) => "disk_cache",
        Some(LoadSource::MemoryCache) => "memory_cache",
        None => "none",
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let hist = |name: &str, help: &str, labels: &[&str]| {
            let buckets = if name.ends_with("_seconds") { SECONDS } else { COUNTS };
            let h = HistogramVec::new(
                HistogramOpts::new(format!("frocket_{name}"), help).buckets(buckets.to_vec()),
                labels,
            )
            .expect("valid metric definition");
            registry.register(Box::new(h.clone())).expect("unique metric name");
            h
        };
        let task = TASK_METRICS
            .iter()
            .map(|n| {
                (
                    *n,
                    hist(
                        n,
                        &format!("Per task attempt: {n}"),
                        &["component", "dataset", "job_type", "success", "load_from"],
                    ),
                )
            })
            .collect();
        let invoker_total =
            hist("invoker_total_seconds", "Per job: total time", &["component", "dataset", "job_type", "success"]);
        Metrics { registry, task, invoker_total }
    }

    /// Records a finished job and the metrics of its task attempts.
    pub fn record_job(
        &self,
        dataset: &str,
        job_type: &str,
        success: bool,
        total_seconds: f64,
        tasks: &[(bool, &TaskMetrics)],
    ) {
        let ok = if success { "true" } else { "false" };
        self.invoker_total.with_label_values(&["invoker", dataset, job_type, ok]).observe(total_seconds);
        for (task_ok, m) in tasks {
            let task_ok = if *task_ok { "true" } else { "false" };
            for (name, h) in &self.task {
                h.with_label_values(&["worker", dataset, job_type, task_ok, load_from(m)]).observe(value(m, name));
            }
        }
    }

    /// The Prometheus text exposition of everything recorded.
    pub fn export(&self) -> String {
        let mut buf = Vec::new();
        // Encoding to memory cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_reference_names_buckets_and_labels() {
        let m = Metrics::new();
        let t1 = TaskMetrics {
            task_total_run_seconds: 0.3,
            scanned_rows: 5_000,
            load_from: Some(LoadSource::DiskCache),
            ..Default::default()
        };
        let t2 = TaskMetrics {
            task_total_run_seconds: 3.0,
            scanned_rows: 50,
            load_from: Some(LoadSource::DiskCache),
            ..Default::default()
        };
        m.record_job("retail", "query", true, 3.5, &[(true, &t1), (true, &t2)]);
        let text = m.export();
        let line = |prefix: &str| {
            text.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix} in\n{text}")).to_string()
        };
        // 0.3 s and 3.0 s: one observation <= 0.5, two <= 5.
        let labels = r#"component="worker",dataset="retail",job_type="query",load_from="disk_cache",success="true""#;
        assert!(line(&format!("frocket_task_total_run_seconds_bucket{{{labels},le=\"0.5\"}}")).ends_with(" 1"));
        assert!(line(&format!("frocket_task_total_run_seconds_bucket{{{labels},le=\"5\"}}")).ends_with(" 2"));
        assert!(line(&format!("frocket_scanned_rows_bucket{{{labels},le=\"100\"}}")).ends_with(" 1"));
        assert!(line(&format!("frocket_scanned_rows_sum{{{labels}}}")).ends_with(" 5050"));
        assert!(line("frocket_invoker_total_seconds_count{").ends_with(" 1"));
        assert!(text.contains("# TYPE frocket_task_download_seconds histogram"));
    }
}
