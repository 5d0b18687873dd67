//! `frocket worker`: serves the Redis work queue until SIGTERM/SIGINT, then finishes its
//! current task and exits.

use crate::app::App;
use crate::error::{CliError, Exit};
use worker::queue::{QueueWorkerConfig, run_queue_worker};
use worker::shell::ShellConfig;

pub async fn run(app: &App) -> Result<Exit, CliError> {
    let Some(redis) = app.redis.clone() else {
        return Err(CliError::usage(
            "`frocket worker` serves a Redis work queue: set FROCKET_REDIS_URL (or FROCKET_REDIS_HOST/PORT/DB)",
        ));
    };
    let c = &app.config;
    let shell = ShellConfig::from_settings(c, ShellConfig::default().name);
    let cfg = QueueWorkerConfig { queue: c.queue.clone(), shell, ..QueueWorkerConfig::default() };
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
        if tx.send(true).is_err() {
            tracing::debug!("the worker loop already ended");
        }
    });
    run_queue_worker(app.worker.clone(), redis, cfg, rx).await;
    Ok(Exit::Success)
}
