//! Running a job for a request: in its own task (a disconnecting client does not cancel it;
//! shutdown waits for it through its permit), answered whole or as an NDJSON stream.
//!
//! Stream format (`?stream=true`, `Content-Type: application/x-ndjson`, docs/api.md): one JSON
//! object per line. First `{"stage": "STARTING", ...}`, then a progress line whenever the
//! counts change — `{"stage": "RUNNING", "message": null, "tasks": {"ENDED_SUCCESS": done,
//! "PENDING": total - done}, "total", "done", "retries"}` (the `tasks` map as in 0.5.3; its
//! counts sum to the task count) — and last the job's answer: the result JSON, or the error
//! body with `"status"` (the code the request would have had unstreamed).

use super::ApiError;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use invoker::{Progress, ProgressFn};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, mpsc};

/// The job's answer.
pub type JobOutcome = Result<Value, ApiError>;

/// Runs the job in its own task and waits for its answer.
pub async fn run_whole<Fut>(permit: OwnedSemaphorePermit, job: Fut) -> JobOutcome
where
    Fut: Future<Output = JobOutcome> + Send + 'static,
{
    let handle = tokio::spawn(async move {
        let out = job.await;
        drop(permit);
        out
    });
    handle.await.unwrap_or_else(|e| Err(ended_abnormally(e)))
}

/// A job task that panicked (a bug: logged, 500).
fn ended_abnormally(e: tokio::task::JoinError) -> ApiError {
    tracing::error!("a job's task ended abnormally: {e}");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "the job ended abnormally")
}

/// A progress line (see the module docs).
pub fn progress_line(p: &Progress) -> Value {
    json!({
        "stage": "RUNNING",
        "message": null,
        "tasks": {"ENDED_SUCCESS": p.succeeded, "PENDING": p.total.saturating_sub(p.succeeded)},
        "total": p.total,
        "done": p.succeeded,
        "retries": p.failed_attempts,
    })
}

fn encode(v: &Value) -> Bytes {
    let mut s = v.to_string();
    s.push('\n');
    Bytes::from(s)
}

/// Starts the job in its own task and answers 200 with its progress and answer as NDJSON.
pub fn run_streamed<F, Fut>(permit: OwnedSemaphorePermit, job: F) -> Response
where
    F: FnOnce(ProgressFn) -> Fut,
    Fut: Future<Output = JobOutcome> + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel::<Value>();
    let _ = tx.send(json!({"stage": "STARTING", "message": null, "tasks": {}}));
    let last: Mutex<Option<(usize, usize, usize)>> = Mutex::new(None);
    let ptx = tx.clone();
    let progress: ProgressFn = Arc::new(move |p: Progress| {
        let key = (p.total, p.succeeded, p.failed_attempts);
        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
        if *last != Some(key) {
            *last = Some(key);
            // A closed stream (the client left) is not the job's concern.
            let _ = ptx.send(progress_line(&p));
        }
    });
    let fut = job(progress);
    tokio::spawn(async move {
        let handle = tokio::spawn(fut);
        let line = match handle.await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => e.into_stream_line(),
            Err(e) => ended_abnormally(e).into_stream_line(),
        };
        let _ = tx.send(line);
        drop(permit);
    });
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|v| (Ok::<Bytes, Infallible>(encode(&v)), rx))
    });
    let mut r = (StatusCode::OK, Body::from_stream(body)).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}
