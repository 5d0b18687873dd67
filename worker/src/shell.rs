//! The task shell every transport shares (the Redis queue worker and the Lambda worker): decode
//! a task envelope, choose the part when the worker self-selects, reject stale requests, report
//! the attempt's status with heartbeats while it runs, run it with panics caught (a panic is a
//! reported, retryable task failure, never a lost task), and publish the result to Redis
//! robustly. Only where the envelope comes from differs between transports.

use crate::Worker;
use futures::FutureExt;
use protocol::task::{
    AttemptReport, AttemptStatus, DatasetPartId, PartSelection, QueryTaskRequest, QueryTaskResult,
    RegistrationTaskResult, ResultEnvelope, TaskEnvelope, TaskError, TaskMetrics,
};
use std::sync::Arc;
use std::time::Duration;
use storage::clock::unix_now as now;
use storage::redis::RedisStore;
use tracing::{debug, error, info, warn};

#[derive(Debug, Clone, PartialEq)]
pub struct ShellConfig {
    /// Requests older than this (since the invoker created them) are rejected unrun.
    pub reject_age: Duration,
    pub heartbeat: Duration,
    /// Identifies this worker in statuses (`host:pid`, or the Lambda instance).
    pub name: String,
    /// Debug/fault-testing knob: sleep this long before each task (FROCKET_WORKER_DEBUG_DELAY_MS).
    pub debug_delay: Option<Duration>,
    /// Fault-testing knob: panic inside tasks whose attempt number is below this
    /// (FROCKET_WORKER_DEBUG_PANIC_ATTEMPTS; 0, the default, never).
    pub debug_panic_attempts: u32,
    /// Self-selection: a worker with no cached part of the request waits until this long after
    /// the request was created before taking a random part, so that workers that do have
    /// cached parts get them (FROCKET_PART_SELECTION_PREFLIGHT_MS; 0 disables).
    pub preflight: Duration,
}

impl Default for ShellConfig {
    fn default() -> Self {
        ShellConfig {
            reject_age: Duration::from_secs(60),
            heartbeat: Duration::from_secs(2),
            name: format!(
                "{}:{}",
                std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into()),
                std::process::id()
            ),
            debug_delay: None,
            debug_panic_attempts: 0,
            preflight: Duration::from_millis(200),
        }
    }
}

impl ShellConfig {
    /// The settings of a worker process, named `name` in statuses.
    pub fn from_settings(c: &settings::Config, name: String) -> ShellConfig {
        ShellConfig {
            reject_age: c.reject_age,
            heartbeat: c.heartbeat,
            name,
            debug_delay: c.debug_delay,
            debug_panic_attempts: c.debug_panic_attempts,
            preflight: c.preflight,
        }
    }
}

/// What became of one envelope.
#[derive(Debug, Clone, PartialEq)]
pub enum Handled {
    /// The task ran; its result (as published, unless publishing gave up) is here.
    Ran(Box<ResultEnvelope>),
    /// Refused unrun: the request was older than the reject age (status REJECTED).
    Rejected,
    /// A self-selecting worker found every part already taken.
    NoPartLeft,
    /// The envelope could not be decoded, or part selection failed: nothing was run.
    Dropped(String),
}

/// The worker, its Redis connection and its settings: runs envelopes from any transport.
#[derive(Clone)]
pub struct TaskShell {
    pub worker: Arc<Worker>,
    pub redis: RedisStore,
    pub cfg: ShellConfig,
}

/// The text of a panic payload.
fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

impl TaskShell {
    /// Runs one task from its envelope text. `stamp` adds transport facts to the result's
    /// metrics just before it is published (Lambda: cold or warm, memory, billed time).
    pub async fn handle(&self, payload: &str, stamp: &(dyn Fn(&mut TaskMetrics) + Sync)) -> Handled {
        let (worker, redis, cfg) = (&self.worker, &self.redis, &self.cfg);
        let mut env: TaskEnvelope = match serde_json::from_str(payload) {
            Ok(e) => e,
            Err(e) => {
                warn!("dropping an undecodable task envelope ({e}): {:.200}", payload);
                return Handled::Dropped(format!("undecodable task envelope: {e}"));
            }
        };
        if let TaskEnvelope::Query(req) = &mut env
            && req.select_part
        {
            match select_part(worker, redis, cfg, req).await {
                Ok(true) => {}
                Ok(false) => {
                    info!(request_id = %req.header.request_id, "no part left to select: another worker took the last one");
                    return Handled::NoPartLeft;
                }
                Err(e) => {
                    warn!(request_id = %req.header.request_id, "part selection failed: {e}");
                    return Handled::Dropped(format!("part selection failed: {e}"));
                }
            }
        }
        let (rid, task, attempt, invoke_time) = env.ids();
        let rid = rid.to_string();
        if now() - invoke_time > cfg.reject_age.as_secs_f64() {
            warn!(request_id = %rid, task_index = task, attempt, "rejecting a stale request ({:.0} s old)", now() - invoke_time);
            report(redis, &rid, task, attempt, AttemptStatus::Rejected, &cfg.name).await;
            return Handled::Rejected;
        }
        report(redis, &rid, task, attempt, AttemptStatus::Running, &cfg.name).await;
        // Heartbeats while the task runs, so the invoker can tell a slow task from a lost one.
        let hb = {
            let (redis, rid, name, every) = (redis.clone(), rid.clone(), cfg.name.clone(), cfg.heartbeat);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    report(&redis, &rid, task, attempt, AttemptStatus::Running, &name).await;
                }
            })
        };
        if let Some(d) = cfg.debug_delay {
            tokio::time::sleep(d).await;
        }
        let mut result = self.run_caught(env).await;
        hb.abort();
        stamp(result.metrics_mut());
        let ok = result.ids().2;
        let text = match serde_json::to_string(&result) {
            Ok(t) => t,
            Err(e) => {
                error!(request_id = %rid, "cannot encode a result: {e}");
                return Handled::Ran(Box::new(result));
            }
        };
        let status = if ok { AttemptStatus::EndedSuccess } else { AttemptStatus::EndedFailed };
        let final_status = AttemptReport { status, time: now(), worker: cfg.name.clone() };
        // Publishing must not be lost to a Redis blip: retry for a while (~40 s). Past that the
        // invoker declares the attempt lost and retries it elsewhere.
        const PUBLISH_TRIES: u32 = 20;
        for i in 1..=PUBLISH_TRIES {
            match redis.push_result(&rid, task, attempt, &final_status, &text).await {
                Ok(true) => break,
                Ok(false) => {
                    info!(request_id = %rid, task_index = task, attempt, "the request has ended: result dropped (a late or duplicate attempt)");
                    break;
                }
                Err(e) if i == PUBLISH_TRIES => {
                    error!(request_id = %rid, task_index = task, attempt, "giving up publishing the result after {i} tries: {e}");
                }
                Err(e) => {
                    warn!(request_id = %rid, task_index = task, "publish result failed (try {i}): {e}");
                    tokio::time::sleep(Duration::from_millis(250 * u64::from(i).min(8))).await;
                }
            }
        }
        Handled::Ran(Box::new(result))
    }

    /// Runs the task; a panic anywhere in it becomes a failed, retryable result (another
    /// attempt may well succeed: the panic may come from this instance's state or memory).
    async fn run_caught(&self, env: TaskEnvelope) -> ResultEnvelope {
        let worker = &self.worker;
        let panic_below = self.cfg.debug_panic_attempts;
        let run = async {
            let attempt = env.ids().2;
            if attempt < panic_below {
                panic!("FROCKET_WORKER_DEBUG_PANIC_ATTEMPTS={panic_below}: panicking in attempt {attempt}");
            }
            match &env {
                TaskEnvelope::Query(req) => ResultEnvelope::Query(worker.run_query(req).await),
                TaskEnvelope::Registration(req) => ResultEnvelope::Registration(worker.run_registration(req).await),
            }
        };
        match std::panic::AssertUnwindSafe(run).catch_unwind().await {
            Ok(r) => r,
            Err(p) => {
                let e = TaskError { message: format!("worker panicked: {}", panic_message(&*p)), retryable: true };
                let (rid, task, attempt, _) = env.ids();
                error!(request_id = %rid, task_index = task, attempt, "{}", e.message);
                match &env {
                    TaskEnvelope::Query(r) => {
                        ResultEnvelope::Query(QueryTaskResult::for_request(&r.header, Err(e), TaskMetrics::default()))
                    }
                    TaskEnvelope::Registration(r) => ResultEnvelope::Registration(RegistrationTaskResult::for_request(
                        &r.header,
                        Err(e),
                        TaskMetrics::default(),
                    )),
                }
            }
        }
    }
}

/// Records an attempt's status now. A failed write is logged, not fatal: the invoker then sees
/// no progress and, after its lost interval, retries the attempt (the result path is separate).
async fn report(redis: &RedisStore, rid: &str, task: usize, attempt: u32, status: AttemptStatus, worker: &str) {
    let r = AttemptReport { status, time: now(), worker: worker.into() };
    match redis.report_status(rid, task, attempt, &r).await {
        Ok(true) => {}
        Ok(false) => {
            debug!(request_id = %rid, task_index = task, attempt, "the request has ended: status {status:?} not recorded")
        }
        Err(e) => warn!(request_id = %rid, task_index = task, attempt, "could not record status {status:?}: {e}"),
    }
}

/// Self-selection (docs/distributed.md, `FROCKET_PART_SELECTION_MODE=worker`): prefer a part of the request that this worker has in its
/// disk cache; otherwise wait out the preflight window, then take any remaining part.
/// Returns false when every part was already taken.
async fn select_part(
    worker: &Arc<Worker>,
    redis: &RedisStore,
    cfg: &ShellConfig,
    req: &mut QueryTaskRequest,
) -> Result<bool, String> {
    let list = redis
        .part_list(&req.header.request_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the request's part list has expired")?;
    let parts: Vec<DatasetPartId> = serde_json::from_str(&list).map_err(|e| format!("bad part list: {e}"))?;
    let candidates: Vec<usize> = match worker.loader.disk_cache() {
        Some(cache) => parts.iter().filter(|p| cache.contains(p)).map(|p| p.part_idx).collect(),
        None => Vec::new(),
    };
    let mut chosen = None;
    for &c in &candidates {
        if redis.take_part(&req.header.request_id, c).await.map_err(|e| e.to_string())? {
            chosen = Some((c, PartSelection::SpecificCandidate));
            break;
        }
    }
    let mut slept = 0.0;
    if chosen.is_none() {
        if candidates.is_empty() {
            let wait = req.header.invoke_time + cfg.preflight.as_secs_f64() - now();
            if wait > 0.0 {
                tokio::time::sleep(Duration::from_secs_f64(wait)).await;
                slept = wait;
            }
        }
        let how = if candidates.is_empty() {
            PartSelection::RandomNoCandidates
        } else {
            PartSelection::RandomCandidatesTaken
        };
        chosen = redis.take_any_part(&req.header.request_id).await.map_err(|e| e.to_string())?.map(|i| (i, how));
    }
    let Some((idx, how)) = chosen else { return Ok(false) };
    let part = parts.into_iter().find(|p| p.part_idx == idx).ok_or("selected part not in the part list")?;
    req.header.part = part;
    req.header.task_index = idx;
    req.select_part = false;
    req.preflight_sleep = slept;
    req.selected_how = Some(how);
    Ok(true)
}
