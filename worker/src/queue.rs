//! The queue worker (`frocket worker`): pops task envelopes from Redis, rejects stale ones,
//! reports status with heartbeats while working, and pushes results. Survives Redis restarts
//! (reconnects and retries publishing a result); on shutdown it finishes the current task.

use crate::Worker;
use protocol::task::{
    AttemptReport, AttemptStatus, DatasetPartId, PartSelection, QueryTaskRequest, ResultEnvelope, TaskEnvelope,
};
use std::sync::Arc;
use std::time::Duration;
use storage::clock::unix_now as now;
use storage::redis::RedisStore;
use tokio::sync::watch;
use tracing::{error, info, warn};

#[derive(Debug, Clone, PartialEq)]
pub struct QueueWorkerConfig {
    pub queue: String,
    /// Requests older than this (since the invoker created them) are rejected unrun.
    pub reject_age: Duration,
    pub heartbeat: Duration,
    /// How long one blocking pop waits (bounds shutdown latency).
    pub poll: Duration,
    /// Identifies this worker in statuses (`host:pid`).
    pub name: String,
    /// Debug/fault-testing knob: sleep this long before each task (FROCKET_WORKER_DEBUG_DELAY_MS).
    pub debug_delay: Option<Duration>,
    /// Self-selection: a worker with no cached part of the request waits until this long after
    /// the request was created before taking a random part, so that workers that do have
    /// cached parts get them (FROCKET_PART_SELECTION_PREFLIGHT_MS; 0 disables).
    pub preflight: Duration,
}

impl Default for QueueWorkerConfig {
    fn default() -> Self {
        QueueWorkerConfig {
            queue: "default".into(),
            reject_age: Duration::from_secs(60),
            heartbeat: Duration::from_secs(2),
            poll: Duration::from_secs(1),
            name: format!(
                "{}:{}",
                std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into()),
                std::process::id()
            ),
            debug_delay: None,
            preflight: Duration::from_millis(200),
        }
    }
}

/// Records an attempt's status now. A failed write is logged, not fatal: the invoker then sees
/// no progress and, after its lost interval, retries the attempt (the result path is separate).
async fn report(redis: &RedisStore, rid: &str, task: usize, attempt: u32, status: AttemptStatus, worker: &str) {
    let r = AttemptReport { status, time: now(), worker: worker.into() };
    if let Err(e) = redis.set_status(rid, task, attempt, &r).await {
        warn!(request_id = %rid, task_index = task, attempt, "could not record status {status:?}: {e}");
    }
}

/// Self-selection (docs/distributed.md, `FROCKET_PART_SELECTION_MODE=worker`): prefer a part of the request that this worker has in its
/// disk cache; otherwise wait out the preflight window, then take any remaining part.
/// Returns false when every part was already taken.
async fn select_part(
    worker: &Arc<Worker>,
    redis: &RedisStore,
    cfg: &QueueWorkerConfig,
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

/// Runs one task from its envelope text; returns whether a task was run.
pub async fn handle(worker: &Arc<Worker>, redis: &RedisStore, cfg: &QueueWorkerConfig, payload: &str) -> bool {
    let mut env: TaskEnvelope = match serde_json::from_str(payload) {
        Ok(e) => e,
        Err(e) => {
            warn!("dropping an undecodable task envelope ({e}): {:.200}", payload);
            return false;
        }
    };
    if let TaskEnvelope::Query(req) = &mut env
        && req.select_part
    {
        match select_part(worker, redis, cfg, req).await {
            Ok(true) => {}
            Ok(false) => {
                info!(request_id = %req.header.request_id, "no part left to select: another worker took the last one");
                return false;
            }
            Err(e) => {
                warn!(request_id = %req.header.request_id, "part selection failed: {e}");
                return false;
            }
        }
    }
    let (rid, task, attempt, invoke_time) = env.ids();
    let rid = rid.to_string();
    if now() - invoke_time > cfg.reject_age.as_secs_f64() {
        warn!(request_id = %rid, task_index = task, attempt, "rejecting a stale request ({:.0} s old)", now() - invoke_time);
        report(redis, &rid, task, attempt, AttemptStatus::Rejected, &cfg.name).await;
        return false;
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
    let result = match env {
        TaskEnvelope::Query(req) => ResultEnvelope::Query(worker.run_query(&req).await),
        TaskEnvelope::Registration(req) => ResultEnvelope::Registration(worker.run_registration(&req).await),
    };
    hb.abort();
    let ok = result.ids().2;
    let text = match serde_json::to_string(&result) {
        Ok(t) => t,
        Err(e) => {
            warn!(request_id = %rid, "cannot encode a result: {e}");
            return true;
        }
    };
    let status = if ok { AttemptStatus::EndedSuccess } else { AttemptStatus::EndedFailed };
    let final_status = AttemptReport { status, time: now(), worker: cfg.name.clone() };
    // Publishing must not be lost to a Redis blip: retry for a while (~40 s). Past that the
    // invoker declares the attempt lost and retries it elsewhere.
    const PUBLISH_TRIES: u32 = 20;
    for i in 1..=PUBLISH_TRIES {
        match redis.push_result(&rid, task, attempt, &final_status, &text).await {
            Ok(()) => return true,
            Err(e) if i == PUBLISH_TRIES => {
                error!(request_id = %rid, task_index = task, attempt, "giving up publishing the result after {i} tries: {e}");
            }
            Err(e) => {
                warn!(request_id = %rid, task_index = task, "publish result failed (try {i}): {e}");
                tokio::time::sleep(Duration::from_millis(250 * u64::from(i).min(8))).await;
            }
        }
    }
    true
}

/// Serves the queue until `shutdown` turns true (the current task is always finished).
pub async fn run_queue_worker(
    worker: Arc<Worker>,
    redis: RedisStore,
    cfg: QueueWorkerConfig,
    shutdown: watch::Receiver<bool>,
) {
    info!(queue = %cfg.queue, worker = %cfg.name, "waiting for tasks");
    let mut con = None;
    while !*shutdown.borrow() {
        if con.is_none() {
            match redis.blocking_connection().await {
                Ok(c) => con = Some(c),
                Err(e) => {
                    warn!("Redis unavailable ({e}); retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
        }
        let Some(c) = con.as_mut() else { continue };
        match redis.pop_task(c, &cfg.queue, cfg.poll).await {
            Ok(Some(payload)) => {
                handle(&worker, &redis, &cfg, &payload).await;
            }
            Ok(None) => {}
            Err(e) => {
                warn!("pop from the queue failed ({e}); reconnecting");
                con = None;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    info!("shutting down");
}
