//! The transport-independent way the invoker gets tasks done.

use async_trait::async_trait;
use futures::stream::{FuturesUnordered, StreamExt};
use protocol::task::{
    QueryTaskRequest, QueryTaskResult, RegistrationTaskRequest, RegistrationTaskResult,
};
use std::sync::Arc;

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
}

/// Job progress: tasks done and failed out of the total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub total: usize,
    pub succeeded: usize,
    pub failed_attempts: usize,
}

pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// Runs `make(i)` for every task index with at most `concurrency` in flight, retrying failed
/// attempts whose error is retryable up to `max_attempts`. Returns, per task, the first
/// successful result or the last failure, and the number of attempts made.
pub(crate) async fn run_all<Req, Res, Run, Fut, Ok>(
    n: usize,
    concurrency: usize,
    max_attempts: u32,
    make: impl Fn(usize, u32) -> Req,
    run: Run,
    outcome: impl Fn(&Res) -> Result<&Ok, &protocol::task::TaskError>,
    progress: Option<ProgressFn>,
) -> (Vec<Res>, u32)
where
    Run: Fn(Req) -> Fut,
    Fut: std::future::Future<Output = Res>,
{
    use std::collections::VecDeque;
    let mut queue: VecDeque<(usize, u32)> = (0..n).map(|i| (i, 0)).collect();
    let mut done: Vec<Option<Res>> = (0..n).map(|_| None).collect();
    let mut attempts = 0u32;
    let mut in_flight = FuturesUnordered::new();
    let mut p = Progress {
        total: n,
        succeeded: 0,
        failed_attempts: 0,
    };
    if let Some(f) = &progress {
        f(p);
    }
    loop {
        while in_flight.len() < concurrency.max(1) {
            let Some((i, a)) = queue.pop_front() else {
                break;
            };
            attempts += 1;
            let fut = run(make(i, a));
            in_flight.push(async move { (i, a, fut.await) });
        }
        let Some((i, a, res)) = in_flight.next().await else {
            break;
        };
        match outcome(&res) {
            Ok(_) => {
                p.succeeded += 1;
                done[i] = Some(res);
            }
            Err(e) => {
                p.failed_attempts += 1;
                if e.retryable && a + 1 < max_attempts {
                    queue.push_back((i, a + 1));
                } else {
                    done[i] = Some(res);
                }
            }
        }
        if let Some(f) = &progress {
            f(p);
        }
    }
    (
        done.into_iter()
            .map(|r| r.expect("every task ends with a result"))
            .collect(),
        attempts,
    )
}
