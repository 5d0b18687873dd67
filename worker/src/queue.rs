//! The queue worker (`frocket worker`): pops task envelopes from Redis and runs each through the
//! task shell (`shell.rs`: stale rejection, status with heartbeats, results pushed to Redis).
//! Survives Redis restarts (reconnects); on shutdown it finishes the current task.

use crate::Worker;
use crate::shell::{ShellConfig, TaskShell};
use std::sync::Arc;
use std::time::Duration;
use storage::redis::RedisStore;
use tokio::sync::watch;
use tracing::{info, warn};

#[derive(Debug, Clone, PartialEq)]
pub struct QueueWorkerConfig {
    pub queue: String,
    /// How long one blocking pop waits (bounds shutdown latency).
    pub poll: Duration,
    pub shell: ShellConfig,
}

impl Default for QueueWorkerConfig {
    fn default() -> Self {
        QueueWorkerConfig { queue: "default".into(), poll: Duration::from_secs(1), shell: ShellConfig::default() }
    }
}

/// Serves the queue until `shutdown` turns true (the current task is always finished).
pub async fn run_queue_worker(
    worker: Arc<Worker>,
    redis: RedisStore,
    cfg: QueueWorkerConfig,
    shutdown: watch::Receiver<bool>,
) {
    info!(queue = %cfg.queue, worker = %cfg.shell.name, "waiting for tasks");
    let shell = TaskShell { worker, redis: redis.clone(), cfg: cfg.shell.clone() };
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
                shell.handle(&payload, &|_| {}).await;
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
