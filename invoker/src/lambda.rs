//! The AWS Lambda transport: one asynchronous invocation (`InvocationType=Event`, or the legacy
//! `InvokeAsync` API) of the worker function per attempt; statuses and results come back
//! through Redis exactly as in queue mode (`redis_tasks.rs`), so lost attempts, late duplicates
//! and retries behave the same.
//!
//! Invoke calls go out concurrently, at most `concurrency` at once. Throttling (HTTP 429,
//! `TooManyRequestsException`, or Lambda's other throttling codes) is retried here with
//! exponential backoff and full jitter for up to [`THROTTLE_BUDGET`]; past that, and for every
//! other invoke failure, the attempt fails and the job's normal retry rules apply. The SDK's
//! own retries are off, so that this policy is the only one (docs/lambda.md).

use crate::redis_tasks::{Dispatch, RedisExecutor};
use async_trait::async_trait;
use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::{Blob, ByteStream};
use aws_sdk_lambda::types::InvocationType;
use protocol::task::{TaskEnvelope, TaskError};
use rand::Rng;
use std::time::Duration;
use storage::redis::RedisStore;
use tokio::sync::Semaphore;
use tracing::{debug, warn};

/// How long one attempt may keep retrying throttled invoke calls before it fails.
pub const THROTTLE_BUDGET: Duration = Duration::from_secs(20);
/// First backoff ceiling, doubled after each throttled call up to [`BACKOFF_CAP`].
const BACKOFF_BASE: Duration = Duration::from_millis(50);
const BACKOFF_CAP: Duration = Duration::from_secs(2);

/// Where and how to invoke the worker function.
#[derive(Debug, Clone, PartialEq)]
pub struct LambdaConfig {
    /// Name, ARN, or `name:alias`.
    pub function: String,
    /// Invoke calls in flight at once.
    pub concurrency: usize,
    pub legacy_async: bool,
    /// API endpoint override (an emulator).
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
    /// Static credentials (access key id, secret), e.g. for an emulator; `None` uses the
    /// standard AWS credential chain.
    pub credentials: Option<(String, String)>,
}

/// Invokes the worker function once per attempt.
pub struct LambdaDispatch {
    client: Client,
    cfg: LambdaConfig,
    permits: Semaphore,
}

/// The ceiling of the n-th backoff (n from 0): `base × 2^n`, capped. The sleep is uniform in
/// `[0, ceiling]` ("full jitter").
pub fn backoff_ceiling(n: u32) -> Duration {
    BACKOFF_BASE.saturating_mul(1u32 << n.min(16)).min(BACKOFF_CAP)
}

/// What an invoke call's failure means for the attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
enum InvokeFailure {
    /// Back off and call again.
    Throttled(String),
    /// Fail the attempt (retryable or not).
    Failed { message: String, retryable: bool },
}

type HttpResponse = aws_sdk_lambda::config::http::HttpResponse;

fn classify<E>(e: &aws_sdk_lambda::error::SdkError<E, HttpResponse>) -> InvokeFailure
where
    E: aws_sdk_lambda::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_lambda::error::SdkError;
    let message = aws_sdk_lambda::error::DisplayErrorContext(e).to_string();
    let status = e.raw_response().map(|r| r.status().as_u16());
    let code = match e {
        SdkError::ServiceError(s) => s.err().code().map(str::to_string),
        _ => None,
    };
    let throttling =
        matches!(code.as_deref(), Some("TooManyRequestsException" | "ThrottlingException" | "EC2ThrottledException"));
    if status == Some(429) || throttling {
        return InvokeFailure::Throttled(message);
    }
    // Client errors (no such function, payload too large, access denied) do not go away by
    // retrying; network faults and 5xx may.
    let retryable = !matches!(status, Some(400..=499));
    InvokeFailure::Failed { message, retryable }
}

impl LambdaDispatch {
    pub async fn new(cfg: LambdaConfig) -> LambdaDispatch {
        let sdk = storage::aws::sdk_config(cfg.region.as_deref(), cfg.credentials.as_ref(), false).await;
        let mut b = aws_sdk_lambda::config::Builder::from(&sdk);
        if let Some(url) = &cfg.endpoint_url {
            b = b.endpoint_url(url);
        }
        let permits = Semaphore::new(cfg.concurrency.max(1));
        LambdaDispatch { client: Client::from_conf(b.build()), cfg, permits }
    }

    /// One invoke call.
    async fn invoke_once(&self, payload: &str) -> Result<(), InvokeFailure> {
        let f = &self.cfg.function;
        if self.cfg.legacy_async {
            // 0.5.3's default; AWS marks InvokeAsync deprecated, so it is opt-in here.
            #[allow(deprecated)]
            let out = self
                .client
                .invoke_async()
                .function_name(f)
                .invoke_args(ByteStream::from(payload.as_bytes().to_vec()))
                .send()
                .await
                .map_err(|e| classify(&e))?;
            return match out.status() {
                202 => Ok(()),
                s => Err(InvokeFailure::Failed {
                    message: format!("InvokeAsync answered {s}, not 202"),
                    retryable: true,
                }),
            };
        }
        let out = self
            .client
            .invoke()
            .function_name(f)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload.as_bytes()))
            .send()
            .await
            .map_err(|e| classify(&e))?;
        match out.status_code() {
            202 => Ok(()),
            s => {
                Err(InvokeFailure::Failed { message: format!("Invoke (Event) answered {s}, not 202"), retryable: true })
            }
        }
    }
}

#[async_trait]
impl Dispatch for LambdaDispatch {
    async fn send(&self, env: &TaskEnvelope, payload: &str) -> Result<(), TaskError> {
        let (rid, task, attempt, _) = env.ids();
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| TaskError { message: "the invoke pool is closed".into(), retryable: false })?;
        let started = tokio::time::Instant::now();
        let mut n = 0u32;
        loop {
            match self.invoke_once(payload).await {
                Ok(()) => return Ok(()),
                Err(InvokeFailure::Throttled(m)) if started.elapsed() < THROTTLE_BUDGET => {
                    let ceiling = backoff_ceiling(n);
                    let sleep = ceiling.mul_f64(rand::rng().random::<f64>());
                    debug!(
                        request_id = rid,
                        task_index = task,
                        attempt,
                        "invoke throttled ({m}); retrying in {sleep:?}"
                    );
                    tokio::time::sleep(sleep).await;
                    n += 1;
                }
                Err(InvokeFailure::Throttled(m)) => {
                    warn!(request_id = rid, task_index = task, attempt, "invoke still throttled after {n} tries: {m}");
                    return Err(TaskError {
                        message: format!(
                            "invoke task {task}: throttled for {:.0} s ({n} tries): {m}",
                            THROTTLE_BUDGET.as_secs_f64()
                        ),
                        retryable: true,
                    });
                }
                Err(InvokeFailure::Failed { message, retryable }) => {
                    return Err(TaskError { message: format!("invoke task {task}: {message}"), retryable });
                }
            }
        }
    }

    fn describe(&self) -> String {
        let api = if self.cfg.legacy_async { "InvokeAsync" } else { "Invoke, Event" };
        let at = self.cfg.endpoint_url.as_deref().map(|u| format!(" at {u}")).unwrap_or_default();
        format!("aws_lambda (function '{}', {api}, {} concurrent invokes{at})", self.cfg.function, self.cfg.concurrency)
    }
}

/// Tasks as asynchronous Lambda invocations.
pub type LambdaExecutor = RedisExecutor<LambdaDispatch>;

impl LambdaExecutor {
    pub async fn on_lambda(redis: RedisStore, cfg: LambdaConfig, lost_after: Duration) -> LambdaExecutor {
        RedisExecutor::new(redis, LambdaDispatch::new(cfg).await, lost_after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap() {
        assert_eq!(backoff_ceiling(0), Duration::from_millis(50));
        assert_eq!(backoff_ceiling(1), Duration::from_millis(100));
        assert_eq!(backoff_ceiling(3), Duration::from_millis(400));
        assert_eq!(backoff_ceiling(6), BACKOFF_CAP);
        assert_eq!(backoff_ceiling(40), BACKOFF_CAP);
    }
}
