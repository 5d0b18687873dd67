//! Long-running processes: `frocket worker` (the Redis queue worker).

use crate::app::{App, OK, USAGE};
use anyhow::Result;
use std::time::Duration;
use worker::queue::{QueueWorkerConfig, run_queue_worker};

pub async fn worker(app: &App) -> Result<u8> {
    let Some(redis) = app.redis.clone() else {
        eprintln!(
            "error: `frocket worker` serves a Redis work queue: set FROCKET_REDIS_URL (or FROCKET_REDIS_HOST/PORT/DB)"
        );
        return Ok(USAGE);
    };
    let cfg = QueueWorkerConfig {
        queue: app.config.queue.clone(),
        reject_age: Duration::from_secs_f64(app.config.reject_age),
        heartbeat: Duration::from_secs_f64(app.config.heartbeat),
        debug_delay: (app.config.debug_delay_ms > 0).then(|| Duration::from_millis(app.config.debug_delay_ms)),
        preflight: Duration::from_millis(app.config.preflight_ms),
        ..QueueWorkerConfig::default()
    };
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("shutdown requested: finishing the current task");
        let _ = tx.send(true);
    });
    run_queue_worker(app.worker.clone(), redis, cfg, rx).await;
    Ok(OK)
}
