//! The queue worker (`frocket worker`): pops task envelopes from Redis, rejects stale ones,
//! reports status with heartbeats while working, and pushes results. Survives Redis restarts
//! (reconnects and retries publishing a result); on shutdown it finishes the current task.

use crate::Worker;
use protocol::task::{ResultEnvelope, TaskEnvelope};
use std::sync::Arc;
use std::time::Duration;
use storage::redis::{AttemptStatus, RedisStore};
use tokio::sync::watch;
use tracing::{info, warn};

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
        }
    }
}

fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

fn status(s: &str, worker: &str) -> AttemptStatus {
    AttemptStatus { status: s.into(), time: now(), worker: worker.into() }
}

/// Runs one task from its envelope text; returns whether a task was run.
pub async fn handle(worker: &Arc<Worker>, redis: &RedisStore, cfg: &QueueWorkerConfig, payload: &str) -> bool {
    let env: TaskEnvelope = match serde_json::from_str(payload) {
        Ok(e) => e,
        Err(e) => {
            warn!("dropping an undecodable task envelope ({e}): {:.200}", payload);
            return false;
        }
    };
    let (rid, task, attempt, invoke_time) = env.ids();
    let rid = rid.to_string();
    if now() - invoke_time > cfg.reject_age.as_secs_f64() {
        warn!(request_id = %rid, task_index = task, attempt, "rejecting a stale request ({:.0} s old)", now() - invoke_time);
        let _ = redis.set_status(&rid, task, attempt, &status("REJECTED", &cfg.name)).await;
        return false;
    }
    let _ = redis.set_status(&rid, task, attempt, &status("RUNNING", &cfg.name)).await;
    // Heartbeats while the task runs, so the invoker can tell a slow task from a lost one.
    let hb = {
        let (redis, rid, name, every) = (redis.clone(), rid.clone(), cfg.name.clone(), cfg.heartbeat);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let _ = redis.set_status(&rid, task, attempt, &status("RUNNING", &name)).await;
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
    let final_status = status(if ok { "ENDED_SUCCESS" } else { "ENDED_FAILED" }, &cfg.name);
    // Publishing must not be lost to a Redis blip: retry for a while.
    for i in 0..20u32 {
        match redis.push_result(&rid, task, attempt, &final_status, &text).await {
            Ok(()) => break,
            Err(e) => {
                warn!(request_id = %rid, task_index = task, "publish result failed (try {}): {e}", i + 1);
                tokio::time::sleep(Duration::from_millis(250 * u64::from(i + 1).min(8))).await;
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
