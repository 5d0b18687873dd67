//! The distributed transports' common half: attempts are handed to workers by a [`Dispatch`]
//! (LPUSH onto a Redis work queue, or an asynchronous Lambda invocation); statuses and results
//! come back through Redis the same way for both. Results arrive on a per-request list that one
//! router per request awaits with a blocking pop (no fixed-interval polling of results). An
//! attempt whose status has not moved for `lost_after` (no heartbeat: the worker died, the
//! task is stuck in a queue, the invocation never ran) is reported as a retryable "lost"
//! failure; its late result, if any, is delivered once and the job's state machine keeps the
//! first success only.

use crate::{InvokerError, TaskExecutor};
use async_trait::async_trait;
use protocol::task::{
    AttemptReport, AttemptStatus, DatasetPartId, QueryTaskRequest, QueryTaskResult, RegistrationTaskRequest,
    RegistrationTaskResult, ResultEnvelope, TaskEnvelope, TaskError, TaskMetrics,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use storage::clock::unix_now as now;
use storage::redis::RedisStore;
use tokio::sync::oneshot;
use tracing::{debug, warn};

/// Per task: the attempt currently awaited and where to deliver its result. A success of an
/// older attempt of the same task (one declared lost that finished late) is delivered to the
/// current waiter too: the job's state machine accepts the first success to report, once
/// (see [`answers`]).
type Waiters = Arc<Mutex<HashMap<usize, (u32, oneshot::Sender<ResultEnvelope>)>>>;

/// Whether a result of `attempt` (succeeded: `ok`) may answer the waiter of attempt `awaited`:
/// one of its own (or a newer) attempt, or a success of an older one (a lost attempt that
/// finished late: the job accepts the first success). A late *failure* of an older attempt is
/// dropped: the awaited attempt is still running, and answering its waiter with a stale failure
/// would leave the task with nothing in flight (seen in the container suite with S3 cut off for
/// good: "1 of 6 tasks ended without a result").
fn answers(attempt: u32, ok: bool, awaited: u32) -> bool {
    attempt >= awaited || ok
}

struct Router {
    waiters: Waiters,
    /// Results that arrived before anyone waited for their task (a self-selecting worker may
    /// finish part 5 before the invoker starts awaiting task 5; a lost attempt may finish after
    /// its waiter left). The next waiter of the task takes it.
    early: Arc<Mutex<HashMap<usize, ResultEnvelope>>>,
    task: tokio::task::JoinHandle<()>,
}

/// How an attempt reaches a worker.
#[async_trait]
pub trait Dispatch: Send + Sync {
    /// Hands the attempt (`payload` is the envelope's JSON) to a worker. An error is a failed
    /// attempt (retryable or not, as the error says).
    async fn send(&self, env: &TaskEnvelope, payload: &str) -> Result<(), TaskError>;
    /// For `frocket config` and logs.
    fn describe(&self) -> String;
}

/// A [`TaskExecutor`] whose workers report through Redis.
pub struct RedisExecutor<D> {
    redis: RedisStore,
    dispatch: D,
    /// Worker self-selection of first attempts (FROCKET_PART_SELECTION_MODE=worker).
    self_select: bool,
    lost_after: Duration,
    status_check: Duration,
    routers: Mutex<HashMap<String, Arc<Router>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<D: Dispatch> RedisExecutor<D> {
    pub fn new(redis: RedisStore, dispatch: D, lost_after: Duration) -> RedisExecutor<D> {
        RedisExecutor {
            redis,
            dispatch,
            self_select: false,
            lost_after,
            status_check: Duration::from_millis(500),
            routers: Mutex::new(HashMap::new()),
        }
    }

    /// Lets workers choose the part of first attempts, preferring parts they have cached.
    pub fn with_self_selection(mut self, on: bool) -> RedisExecutor<D> {
        self.self_select = on;
        self
    }

    fn router(&self, request_id: &str) -> Arc<Router> {
        let mut routers = lock(&self.routers);
        if let Some(r) = routers.get(request_id) {
            return r.clone();
        }
        let waiters: Waiters = Arc::default();
        let early: Arc<Mutex<HashMap<usize, ResultEnvelope>>> = Arc::default();
        let (redis, rid, w, e2) = (self.redis.clone(), request_id.to_string(), waiters.clone(), early.clone());
        let task = tokio::spawn(async move {
            let mut con = None;
            loop {
                if con.is_none() {
                    match redis.blocking_connection().await {
                        Ok(c) => con = Some(c),
                        Err(e) => {
                            warn!(request_id = %rid, "result router: Redis unavailable ({e})");
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            continue;
                        }
                    }
                }
                let Some(c) = con.as_mut() else { continue };
                match redis.pop_result(c, &rid, Duration::from_secs(1)).await {
                    Ok(Some(text)) => match serde_json::from_str::<ResultEnvelope>(&text) {
                        Ok(env) => {
                            let (task, attempt, ok) = env.ids();
                            let mut waiters = lock(&w);
                            match waiters.get(&task).map(|(awaited, _)| answers(attempt, ok, *awaited)) {
                                Some(true) => {
                                    if let Some((_, tx)) = waiters.remove(&task) {
                                        let _ = tx.send(env);
                                    }
                                }
                                Some(false) => {
                                    debug!(request_id = %rid, task, attempt, "dropping a late failure of an older attempt: the current one goes on");
                                }
                                None => {
                                    debug!(request_id = %rid, task, attempt, "keeping a result nobody awaits yet");
                                    let mut early = lock(&e2);
                                    // A success is worth more than a failure kept earlier.
                                    if early.get(&task).is_none_or(|kept| !kept.ids().2) {
                                        early.insert(task, env);
                                    }
                                }
                            }
                        }
                        Err(e) => warn!(request_id = %rid, "dropping an undecodable result: {e}"),
                    },
                    Ok(None) => {}
                    Err(e) => {
                        warn!(request_id = %rid, "result router: {e}");
                        con = None;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        });
        let r = Arc::new(Router { waiters, early, task });
        routers.insert(request_id.to_string(), r.clone());
        r
    }

    /// Forgets the waiter of `task` if it is still the one for `attempt`.
    fn forget(router: &Router, task: usize, attempt: u32) {
        let mut w = lock(&router.waiters);
        if w.get(&task).is_some_and(|(a, _)| *a == attempt) {
            w.remove(&task);
        }
    }

    /// Dispatches one attempt and waits for a result of the task (this attempt's, or a late
    /// one of an earlier attempt), or reports the attempt lost.
    async fn run(&self, env: TaskEnvelope) -> Result<ResultEnvelope, TaskError> {
        let (rid, task, attempt, _) = env.ids();
        let rid = rid.to_string();
        let router = self.router(&rid);
        let (tx, mut rx) = oneshot::channel();
        {
            let mut w = lock(&router.waiters);
            if let Some(env) = lock(&router.early).remove(&task) {
                let (_, a, ok) = env.ids();
                if answers(a, ok, attempt) {
                    return Ok(env);
                }
            }
            w.insert(task, (attempt, tx));
        }
        let payload =
            serde_json::to_string(&env).map_err(|e| TaskError { message: e.to_string(), retryable: false })?;
        let queued = AttemptReport { status: AttemptStatus::Queued, time: now(), worker: String::new() };
        if let Err(e) = self.redis.set_status(&rid, task, attempt, &queued).await {
            Self::forget(&router, task, attempt);
            return Err(TaskError { message: format!("record task {task} as queued: {e}"), retryable: true });
        }
        if let Err(e) = self.dispatch.send(&env, &payload).await {
            Self::forget(&router, task, attempt);
            return Err(e);
        }
        let mut last_seen = now();
        loop {
            tokio::select! {
                r = &mut rx => {
                    return r.map_err(|_| TaskError { message: "result router stopped".into(), retryable: true });
                }
                _ = tokio::time::sleep(self.status_check) => {
                    match self.redis.statuses_of(&rid, task, attempt).await {
                        Ok(Some(s)) if s.status == AttemptStatus::Rejected => {
                            Self::forget(&router, task, attempt);
                            return Err(TaskError { message: format!("task {task} attempt {attempt} rejected by worker {} as stale", s.worker), retryable: true });
                        }
                        Ok(Some(s)) => last_seen = last_seen.max(s.time),
                        Ok(None) => {}
                        Err(e) => debug!(request_id = %rid, "status check failed: {e}"),
                    }
                    if now() - last_seen > self.lost_after.as_secs_f64() {
                        Self::forget(&router, task, attempt);
                        return Err(TaskError {
                            message: format!("task {task} attempt {attempt} lost: no progress for {:.0} s (no worker running, or it died)", self.lost_after.as_secs_f64()),
                            retryable: true,
                        });
                    }
                }
            }
        }
    }
}

fn failed_query(req: &QueryTaskRequest, e: TaskError) -> QueryTaskResult {
    QueryTaskResult::for_request(&req.header, Err(e), TaskMetrics::default())
}

#[async_trait]
impl<D: Dispatch> TaskExecutor for RedisExecutor<D> {
    async fn run_query(&self, req: QueryTaskRequest) -> QueryTaskResult {
        let mut env = req.clone();
        env.select_part = self.self_select && req.header.attempt_no == 0;
        match self.run(TaskEnvelope::Query(env)).await {
            Ok(ResultEnvelope::Query(r)) => r,
            Ok(_) => failed_query(
                &req,
                TaskError { message: "a worker answered with the wrong result kind".into(), retryable: false },
            ),
            Err(e) => failed_query(&req, e),
        }
    }

    async fn run_registration(&self, req: RegistrationTaskRequest) -> RegistrationTaskResult {
        let fail = |e: TaskError| RegistrationTaskResult::for_request(&req.header, Err(e), TaskMetrics::default());
        match self.run(TaskEnvelope::Registration(req.clone())).await {
            Ok(ResultEnvelope::Registration(r)) => r,
            Ok(_) => {
                fail(TaskError { message: "a worker answered with the wrong result kind".into(), retryable: false })
            }
            Err(e) => fail(e),
        }
    }

    fn concurrency(&self) -> usize {
        // Workers pull at their own pace: enqueue everything.
        100_000
    }

    fn describe(&self) -> String {
        format!("{}, lost after {:.0} s", self.dispatch.describe(), self.lost_after.as_secs_f64())
    }

    async fn prepare_request(&self, request_id: &str, parts: &[DatasetPartId]) -> Result<(), InvokerError> {
        if !self.self_select {
            return Ok(());
        }
        let list = serde_json::to_string(parts)
            .map_err(|e| InvokerError::Internal(format!("encode the part list of request {request_id}: {e}")))?;
        self.redis.publish_parts(request_id, &list, parts.len()).await.map_err(|source| InvokerError::Storage {
            context: format!("publish the parts of request {request_id}"),
            source,
        })
    }

    async fn finish_request(&self, request_id: &str) {
        if let Some(r) = lock(&self.routers).remove(request_id) {
            r.task.abort();
        }
        if let Err(e) = self.redis.delete_request(request_id).await {
            warn!(request_id, "could not delete request keys (they expire by TTL): {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::answers;

    #[test]
    fn only_successes_of_older_attempts_answer_the_current_waiter() {
        assert!(answers(1, false, 1), "its own failure");
        assert!(answers(1, true, 1), "its own success");
        assert!(answers(0, true, 1), "a late success of a lost attempt is accepted");
        assert!(!answers(0, false, 1), "a late failure of a lost attempt must not end the current one");
        assert!(answers(2, false, 1), "a newer attempt's outcome");
    }
}
