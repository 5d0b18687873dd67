//! The transport-independent way the invoker gets tasks done.

use crate::InvokerError;
use crate::cost::LambdaPrices;
use crate::job::{JobPolicy, JobState, Verdict};
use crate::metrics::Metrics;
use async_trait::async_trait;
use futures::stream::{FuturesUnordered, StreamExt};
use protocol::task::{
    DatasetPartId, QueryTaskRequest, QueryTaskResult, RegistrationTaskRequest, RegistrationTaskResult, TaskError,
};
use std::sync::Arc;
use std::time::Duration;

/// Runs tasks somewhere (in-process pool, Redis queue workers, Lambda). Implementations never
/// return errors: a task that could not run comes back as a failed result, classified for
/// retries.
#[async_trait]
pub trait TaskExecutor: Send + Sync {
    async fn run_query(&self, req: QueryTaskRequest) -> QueryTaskResult;
    async fn run_registration(&self, req: RegistrationTaskRequest) -> RegistrationTaskResult;
    /// How many tasks it makes sense to have in flight at once.
    fn concurrency(&self) -> usize;
    /// Shown by `frocket config`.
    fn describe(&self) -> String;
    /// Called once before a query job's tasks run, with every part (self-selecting transports
    /// publish them). An error fails the job before any task runs.
    async fn prepare_request(&self, _request_id: &str, _parts: &[DatasetPartId]) -> Result<(), InvokerError> {
        Ok(())
    }
    /// Called once when a job ends (successfully or not): release per-request resources
    /// (e.g. delete the request's Redis keys).
    async fn finish_request(&self, _request_id: &str) {}
}

/// How a job runs: attempts per task, the deadline, where metrics go. The same for query and
/// registration jobs (configured once: `FROCKET_INVOKER_RETRY_MAX_ATTEMPTS`,
/// `FROCKET_INVOKER_RUN_TIMEOUT`).
#[derive(Clone)]
pub struct JobOptions {
    /// Attempts per task for retryable failures (at least 1).
    pub max_attempts: u32,
    /// From the job's start until it fails as timed out.
    pub timeout: Duration,
    /// Where to record job and task metrics.
    pub metrics: Option<Arc<Metrics>>,
    /// Prices of Lambda invocations, for the job's estimated cost.
    pub prices: LambdaPrices,
}

impl Default for JobOptions {
    fn default() -> Self {
        let p = JobPolicy::default();
        JobOptions::new(p.max_attempts, Duration::from_secs_f64(p.timeout))
    }
}

impl JobOptions {
    pub fn new(max_attempts: u32, timeout: Duration) -> JobOptions {
        JobOptions { max_attempts, timeout, metrics: None, prices: LambdaPrices::default() }
    }

    pub(crate) fn policy(&self) -> JobPolicy {
        JobPolicy { max_attempts: self.max_attempts.max(1), timeout: self.timeout.as_secs_f64() }
    }
}

/// Turns a task outcome into the runner's view: (task, attempt, ok or (message, retryable)).
pub(crate) fn view<T>(task: usize, attempt: u32, o: &Result<T, TaskError>) -> (usize, u32, Result<(), (&str, bool)>) {
    (task, attempt, o.as_ref().map(|_| ()).map_err(|e| (e.message.as_str(), e.retryable)))
}

/// Job progress: tasks done and failed out of the total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub total: usize,
    pub succeeded: usize,
    pub failed_attempts: usize,
}

pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// The outcome of running all tasks of a job.
pub(crate) struct Ran<Res> {
    /// Per task: the accepted result, or the last failure.
    pub results: Vec<Res>,
    pub attempts: u32,
    pub failed_attempts: usize,
    /// Set when the job timed out (results are then incomplete).
    pub timed_out: Option<Vec<usize>>,
}

/// Runs every task through `run` with at most `concurrency` in flight, following the pure
/// [`JobState`] rules (retries, exactly-once results, timeout). `seen` is shown every result
/// that arrives, duplicates and failures included (e.g. to meter what every attempt cost).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_all<Req, Res, Run, Fut>(
    n: usize,
    concurrency: usize,
    policy: JobPolicy,
    make: impl Fn(usize, u32) -> Req,
    run: Run,
    outcome: impl Fn(&Res) -> (usize, u32, Result<(), (&str, bool)>),
    mut seen: impl FnMut(&Res),
    progress: Option<ProgressFn>,
) -> Ran<Res>
where
    Run: Fn(Req) -> Fut,
    Fut: std::future::Future<Output = Res>,
{
    use std::collections::VecDeque;
    let clock = std::time::Instant::now();
    let now = || clock.elapsed().as_secs_f64();
    let mut state = JobState::new(n, policy, now());
    let mut queue: VecDeque<(usize, u32)> = state.initial().into();
    let mut kept: Vec<Option<Res>> = (0..n).map(|_| None).collect();
    let mut in_flight = FuturesUnordered::new();
    let mut p = Progress { total: n, succeeded: 0, failed_attempts: 0 };
    if let Some(f) = &progress {
        f(p);
    }
    while !state.is_finished() {
        while in_flight.len() < concurrency.max(1) {
            let Some((i, a)) = queue.pop_front() else { break };
            in_flight.push(run(make(i, a)));
        }
        let left = std::time::Duration::from_secs_f64(state.remaining(now()));
        let res = match tokio::time::timeout(left, in_flight.next()).await {
            Ok(Some(res)) => res,
            Ok(None) => break,
            Err(_) => {
                return Ran {
                    results: Vec::new(),
                    attempts: state.attempts(),
                    failed_attempts: p.failed_attempts,
                    timed_out: Some(state.pending()),
                };
            }
        };
        seen(&res);
        let (i, a, o) = outcome(&res);
        let failed = o.is_err();
        match state.on_result(i, a, o) {
            Verdict::Accepted => {
                p.succeeded += 1;
                kept[i] = Some(res);
            }
            Verdict::Retry { attempt } => queue.push_back((i, attempt)),
            Verdict::GaveUp => kept[i] = Some(res),
            Verdict::Duplicate => {}
        }
        if failed {
            p.failed_attempts += 1;
        }
        if let Some(f) = &progress {
            f(p);
        }
    }
    Ran {
        results: kept.into_iter().flatten().collect(),
        attempts: state.attempts(),
        failed_attempts: p.failed_attempts,
        timed_out: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A scripted transport: `(task, attempt)` → outcome (ok, or error with retryable flag).
    type Outcome = Result<(), (&'static str, bool)>;

    async fn run_script(
        n: usize,
        script: impl Fn(usize, u32) -> Outcome,
        policy: JobPolicy,
        delay_ms: u64,
    ) -> (Ran<(usize, u32, Outcome)>, Vec<(usize, u32)>) {
        let launched = Mutex::new(Vec::new());
        let ran = run_all(
            n,
            2,
            policy,
            |i, a| (i, a),
            |(i, a)| {
                launched.lock().unwrap().push((i, a));
                let o = script(i, a);
                async move {
                    tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
                    (i, a, o)
                }
            },
            |r: &(usize, u32, Outcome)| (r.0, r.1, r.2),
            |_| {},
            None,
        )
        .await;
        let l = launched.into_inner().unwrap();
        (ran, l)
    }

    #[tokio::test]
    async fn retries_transient_failures_and_gives_up_on_permanent_ones() {
        let script = |i: usize, a: u32| match (i, a) {
            (0, 0) => Err(("reset", true)),
            (1, _) => Err(("corrupt", false)),
            _ => Ok(()),
        };
        let (ran, launched) = run_script(3, script, JobPolicy::default(), 1).await;
        assert!(ran.timed_out.is_none());
        assert_eq!(ran.results.len(), 3, "one result per task");
        assert_eq!(ran.attempts, 4);
        assert!(launched.contains(&(0, 1)), "task 0 retried");
        assert!(!launched.contains(&(1, 1)), "task 1 not retried");
        let r1 = ran.results.iter().find(|r| r.0 == 1).unwrap();
        assert_eq!(r1.2, Err(("corrupt", false)));
        assert_eq!(ran.failed_attempts, 2);
    }

    #[tokio::test]
    async fn retries_stop_at_max_attempts() {
        let (ran, launched) =
            run_script(1, |_, _| Err(("reset", true)), JobPolicy { max_attempts: 3, timeout: 60.0 }, 1).await;
        assert_eq!(launched, vec![(0, 0), (0, 1), (0, 2)]);
        assert_eq!(ran.results, vec![(0, 2, Err(("reset", true)))]);
    }

    #[tokio::test]
    async fn a_job_that_outlives_its_timeout_reports_the_pending_tasks() {
        let (ran, _) = run_script(3, |_, _| Ok(()), JobPolicy { max_attempts: 3, timeout: 0.05 }, 500).await;
        assert_eq!(ran.timed_out, Some(vec![0, 1, 2]));
    }
}
