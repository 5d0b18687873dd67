//! Job statistics (docs/results.md "Stats"): timings, task counts, cache use, scanned data,
//! computed from the successful attempts' metrics.

use protocol::job::{CacheStats, DatasetStats, InvokerStats, LambdaStats, QueryJobStats, TimingSummary, WorkerStats};
use protocol::task::{LoadSource, TaskMetrics};
use std::collections::BTreeMap;
use std::time::Duration;

/// What the runner counted while a job ran.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobCounts {
    pub elapsed: Duration,
    pub dataset: DatasetStats,
    /// Attempts launched.
    pub attempts: u32,
    pub failed_attempts: usize,
}

impl JobCounts {
    /// Every task has at least one attempt; the rest are retries.
    pub fn retries(&self) -> usize {
        (self.attempts as usize).saturating_sub(self.dataset.parts)
    }
}

/// Stats of a query job from its counts, its successful attempts' metrics, and (Lambda mode)
/// the usage and cost of every attempt.
pub fn query_job_stats(counts: JobCounts, ok: &[&TaskMetrics], lambda: Option<(LambdaStats, f64)>) -> QueryJobStats {
    let (lambda, cost) = lambda.map_or((None, None), |(s, dollars)| (Some(s), Some(dollars)));
    let count = |s: LoadSource| ok.iter().filter(|m| m.load_from == Some(s)).count();
    let mut part_selection = BTreeMap::new();
    for how in ok.iter().filter_map(|m| m.part_select_method) {
        *part_selection.entry(how).or_insert(0) += 1;
    }
    let timing = |f: fn(&TaskMetrics) -> f64| TimingSummary::of(&ok.iter().map(|m| f(m)).collect::<Vec<_>>());
    QueryJobStats {
        total_time: counts.elapsed.as_secs_f64(),
        cost,
        dataset: counts.dataset,
        invoker: InvokerStats { total_tasks: counts.attempts, failed_tasks: counts.failed_attempts },
        worker: WorkerStats {
            load_time: timing(|m| m.task_total_load_seconds),
            total_time: timing(|m| m.task_total_run_seconds),
            scanned_rows: ok.iter().map(|m| m.scanned_rows).sum(),
            scanned_groups: ok.iter().map(|m| m.scanned_groups).sum(),
            part_selection,
            preflight_sleep: ok.iter().map(|m| m.task_preflight_sleep_seconds).sum(),
            cache: CacheStats {
                source: count(LoadSource::Source),
                disk_cache: count(LoadSource::DiskCache),
                memory_cache: count(LoadSource::MemoryCache),
            },
            lambda,
        },
        attempts: counts.attempts,
        retries: counts.retries(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::task::PartSelection;

    #[test]
    fn stats_sum_the_successful_attempts_and_count_retries() {
        let m = |load: f64, from: LoadSource, how: PartSelection| TaskMetrics {
            task_total_load_seconds: load,
            task_total_run_seconds: load * 2.0,
            scanned_rows: 10,
            scanned_groups: 2,
            load_from: Some(from),
            part_select_method: Some(how),
            task_preflight_sleep_seconds: 0.25,
            ..TaskMetrics::default()
        };
        let a = m(1.0, LoadSource::Source, PartSelection::RandomNoCandidates);
        let b = m(3.0, LoadSource::DiskCache, PartSelection::SpecificCandidate);
        let c = m(2.0, LoadSource::DiskCache, PartSelection::SpecificCandidate);
        let counts = JobCounts {
            elapsed: Duration::from_millis(1500),
            dataset: DatasetStats { total_size: 99, parts: 3 },
            attempts: 5,
            failed_attempts: 2,
        };
        let s = query_job_stats(counts, &[&a, &b, &c], None);
        assert_eq!((s.total_time, s.attempts, s.retries), (1.5, 5, 2));
        assert_eq!(s.invoker, InvokerStats { total_tasks: 5, failed_tasks: 2 });
        assert_eq!((s.worker.scanned_rows, s.worker.scanned_groups, s.worker.preflight_sleep), (30, 6, 0.75));
        assert_eq!(s.worker.cache, CacheStats { source: 1, disk_cache: 2, memory_cache: 0 });
        let lt = s.worker.load_time.unwrap();
        assert_eq!((lt.min, lt.mean, lt.max, lt.p50), (1.0, 2.0, 3.0, 2.0));
        assert_eq!(s.worker.total_time.unwrap().max, 6.0);
        let sel: Vec<(PartSelection, u64)> = s.worker.part_selection.into_iter().collect();
        assert_eq!(sel, [(PartSelection::SpecificCandidate, 2), (PartSelection::RandomNoCandidates, 1)]);
        let none = query_job_stats(JobCounts { attempts: 0, ..counts }, &[], None);
        assert_eq!((none.worker.load_time, none.retries), (None, 0));
        assert_eq!((s.cost, &s.worker.lambda), (None, &None), "no Lambda attempt: no cost");
        let l = LambdaStats { invocations: 3, cold_starts: 1, billed_seconds: 0.5, gb_seconds: 1.0 };
        let with = query_job_stats(counts, &[&a], Some((l.clone(), 2e-6)));
        assert_eq!((with.cost, with.worker.lambda), (Some(2e-6), Some(l)));
    }
}
