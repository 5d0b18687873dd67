//! `frocket serve`: the HTTP API (docs/api.md) and the funnel explorer page, over the same
//! [`App`] stack as the command line, in every execution mode (embedded, Redis queue, Lambda).
//!
//! Why: product teams put Funnel Rocket behind their own UIs, and analysts want to see a
//! funnel rather than read JSON. The server holds no state of its own: datasets and jobs live
//! in the datastore, so several servers against one Redis serve the same datasets.
//!
//! Invariants:
//! - Every error is JSON in the CLI's format (`{"success": false, "errors": [{kind, message,
//!   path?}]}`) with a status code that says who must act (table in docs/api.md); 500 only
//!   for bugs. Handlers return [`ApiError`]; nothing here panics on input.
//! - A job runs in its own task and holds one of `max_jobs` permits until it ends: a client
//!   that disconnects does not cancel it (its Redis keys are cleaned up as usual), and shutdown
//!   waits for every permit, so SIGTERM finishes running jobs.
//! - Tokens are compared in constant time; register/unregister/parts need the admin token,
//!   everything else but `/healthz`, `/openapi.json` and the page needs the read token (or the
//!   admin token), when tokens are configured.
//!
//! Layout: `api.rs` (handlers), `auth.rs` (tokens), `error.rs` (ApiError and the status
//! table), `stream.rs` (NDJSON progress), `openapi.rs` (the spec, generated from the
//! handlers' annotations), `page.rs` (the embedded explorer page).

mod api;
mod auth;
mod error;
mod openapi;
mod page;
mod stream;
#[cfg(test)]
mod tests;

pub use error::ApiError;

use crate::app::App;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// How the server is configured (`frocket serve` flags and their `FROCKET_API_*` variables).
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Bearer token for register/unregister/parts (and every read endpoint).
    pub admin_token: Option<String>,
    /// Bearer token for the read endpoints (datasets, schema, queries, metrics).
    pub read_token: Option<String>,
    /// When false, the admin endpoints answer 403 whatever the token.
    pub admin_enabled: bool,
    /// The largest request body accepted, in bytes (413 above it).
    pub body_limit: usize,
    /// Local directories under which datasets may be registered (canonical paths). S3 paths
    /// are allowed when `allow_s3` is set.
    pub allow_roots: Vec<PathBuf>,
    pub allow_s3: bool,
    /// Jobs (queries and registrations) running at once; more are refused with 429.
    pub max_jobs: usize,
}

/// `--max-body-bytes` by default (1 MiB).
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;
/// `--max-jobs` by default.
pub const DEFAULT_MAX_JOBS: usize = 16;

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            admin_token: None,
            read_token: None,
            admin_enabled: true,
            body_limit: DEFAULT_BODY_LIMIT,
            allow_roots: Vec::new(),
            allow_s3: true,
            max_jobs: DEFAULT_MAX_JOBS,
        }
    }
}

/// What every handler shares.
pub struct ServerState {
    pub app: App,
    pub opts: ServeOptions,
    /// One permit per running job.
    pub jobs: Arc<Semaphore>,
}

impl ServerState {
    pub fn new(app: App, opts: ServeOptions) -> Arc<ServerState> {
        let jobs = Arc::new(Semaphore::new(opts.max_jobs.max(1)));
        Arc::new(ServerState { app, opts, jobs })
    }
}

/// Every route of the API and the page.
pub fn router(state: Arc<ServerState>) -> Router {
    let read = Router::new()
        .route("/datasets", get(api::list_datasets))
        .route("/datasets/{name}/schema", get(api::schema))
        .route("/datasets/{name}/query", post(api::query))
        .route("/datasets/{name}/empty-query", get(api::empty_query))
        .route("/queries/validate", post(api::validate))
        .route("/metrics", get(api::metrics))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_read));
    let admin = Router::new()
        .route("/datasets/register", post(api::register))
        .route("/datasets/{name}/unregister", post(api::unregister))
        .route("/datasets/{name}/parts", get(api::parts))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_admin));
    let limit = state.opts.body_limit;
    Router::new()
        .merge(read)
        .merge(admin)
        .route("/healthz", get(api::healthz))
        .route("/openapi.json", get(openapi::spec))
        .route("/", get(page::index))
        .route("/assets/{file}", get(page::asset))
        .fallback(api::no_route)
        .method_not_allowed_fallback(api::wrong_method)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Serves until SIGTERM or SIGINT, then stops accepting connections, lets open requests end
/// and waits (up to the job timeout and a minute) for every running job.
pub async fn serve(state: Arc<ServerState>, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    let addr: SocketAddr = listener.local_addr()?;
    let o = &state.opts;
    if !addr.ip().is_loopback() && o.read_token.is_none() {
        tracing::warn!("serving on {addr} without a read token: anyone who reaches it can query");
    }
    // Tests and scripts wait for this line (stdout, flushed).
    println!("frocket serve: listening on http://{addr} ({})", state.app.config.describe_datastore());
    let router = router(state.clone());
    axum::serve(listener, router).with_graceful_shutdown(shutdown_signal()).await?;
    let grace = state.app.config.run_timeout + Duration::from_secs(60);
    let n = state.opts.max_jobs.max(1) as u32;
    match tokio::time::timeout(grace, state.jobs.acquire_many(n)).await {
        Ok(_) => tracing::info!("all jobs finished; exiting"),
        Err(_) => tracing::error!("jobs still running after {grace:?}; exiting anyway"),
    }
    Ok(())
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = term => {},
        _ = tokio::signal::ctrl_c() => {},
    }
    eprintln!("frocket serve: shutting down (finishing running jobs)");
}
