//! The AWS Lambda worker's logic (the binary `frocket-lambda` wires it to `lambda_runtime`):
//! every invocation carries one task envelope and runs it through the same task shell as the
//! queue worker (`shell.rs`), so statuses, heartbeats, stale-request rejection, panics and
//! results through Redis are the same in both modes. What Lambda adds:
//!
//! - **Warm instances keep their caches**: the [`LambdaWorker`] (its disk cache under `/tmp`,
//!   its prepared-frame memory cache) lives as long as the instance; only the first invocation
//!   of an instance is cold, and every result says which it was.
//! - **Billing facts** in every result (`TaskMetrics::lambda`): configured memory,
//!   architecture, region, and the billed milliseconds — the invocation's duration rounded up
//!   to the millisecond, plus, on a cold start, the instance's init phase (custom runtimes are
//!   billed for it).
//! - **Parallelism from memory**: Lambda gives one vCPU per 1,769 MB (up to 6), so the runtime
//!   is sized by [`vcpus_for_memory`].
//! - **One JSON log line per task** (request id, part, timings, cache source, billing).

use crate::shell::{Handled, TaskShell};
use protocol::task::{LambdaInvocation, ResultEnvelope, TaskMetrics};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tracing::info;

/// MB of function memory per vCPU (AWS: 1,769 MB is one full vCPU).
pub const MB_PER_VCPU: u32 = 1769;
/// The most vCPUs a function gets (at 10,240 MB).
pub const MAX_VCPUS: usize = 6;

/// vCPUs of a function configured with `memory_mb` (at least 1).
pub fn vcpus_for_memory(memory_mb: u32) -> usize {
    (memory_mb.div_ceil(MB_PER_VCPU) as usize).clamp(1, MAX_VCPUS)
}

/// What the Lambda environment says about this instance.
#[derive(Debug, Clone, PartialEq)]
pub struct LambdaEnv {
    pub function_name: String,
    pub memory_mb: u32,
    pub region: Option<String>,
    /// `arm64` or `x86_64` (of this binary).
    pub architecture: &'static str,
}

impl LambdaEnv {
    /// From the variables Lambda sets (`AWS_LAMBDA_FUNCTION_NAME`,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, `AWS_REGION`).
    pub fn from_lookup(env: &dyn Fn(&str) -> Option<String>) -> Result<LambdaEnv, String> {
        let function_name =
            env("AWS_LAMBDA_FUNCTION_NAME").ok_or("AWS_LAMBDA_FUNCTION_NAME is not set: not running in Lambda")?;
        let raw = env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").ok_or("AWS_LAMBDA_FUNCTION_MEMORY_SIZE is not set")?;
        let memory_mb =
            raw.trim().parse().map_err(|_| format!("AWS_LAMBDA_FUNCTION_MEMORY_SIZE {raw:?} is not a number"))?;
        let architecture = if cfg!(target_arch = "aarch64") { "arm64" } else { "x86_64" };
        Ok(LambdaEnv { function_name, memory_mb, region: env("AWS_REGION"), architecture })
    }
}

/// The response of an invocation (for synchronous callers and logs; the asynchronous invoker
/// reads results from Redis, never this).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvocationResponse {
    pub status_code: u16,
    /// `succeeded`, `failed` (the task's error is in Redis and in `message`), `rejected` (stale),
    /// or `no_part_left` (a self-selecting worker found every part taken).
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One instance's worker: the task shell plus what the instance knows about itself.
pub struct LambdaWorker {
    pub shell: TaskShell,
    pub env: LambdaEnv,
    /// How long the instance took to initialise (process start to ready).
    pub init: Duration,
    cold: AtomicBool,
}

impl LambdaWorker {
    pub fn new(shell: TaskShell, env: LambdaEnv, init: Duration) -> LambdaWorker {
        LambdaWorker { shell, env, init, cold: AtomicBool::new(true) }
    }

    /// Runs the task of one invocation (`payload`: a task envelope). An envelope that cannot be
    /// run at all (undecodable, or its part selection failed) is a function error.
    pub async fn invoke(&self, payload: &str, aws_request_id: &str) -> Result<InvocationResponse, String> {
        let started = Instant::now();
        let cold = self.cold.swap(false, Ordering::SeqCst);
        let init_ms = if cold { self.init.as_millis() as u64 } else { 0 };
        let stamp = |m: &mut TaskMetrics| {
            let ran_ms = started.elapsed().as_micros().div_ceil(1000) as u64;
            m.lambda = Some(LambdaInvocation {
                cold_start: cold,
                memory_mb: self.env.memory_mb,
                architecture: self.env.architecture.to_string(),
                billed_ms: ran_ms.max(1) + init_ms,
                region: self.env.region.clone(),
            });
        };
        let handled = self.shell.handle(payload, &stamp).await;
        match handled {
            Handled::Ran(result) => {
                log_task(&result, aws_request_id);
                let ok = result.ids().2;
                let message = match &*result {
                    ResultEnvelope::Query(r) => r.outcome.as_ref().err().map(|e| e.message.clone()),
                    ResultEnvelope::Registration(r) => r.outcome.as_ref().err().map(|e| e.message.clone()),
                };
                Ok(InvocationResponse { status_code: 200, outcome: if ok { "succeeded" } else { "failed" }, message })
            }
            Handled::Rejected => Ok(InvocationResponse { status_code: 200, outcome: "rejected", message: None }),
            Handled::NoPartLeft => Ok(InvocationResponse { status_code: 200, outcome: "no_part_left", message: None }),
            Handled::Dropped(m) => Err(m),
        }
    }
}

/// The one log line of a task.
fn log_task(result: &ResultEnvelope, aws_request_id: &str) {
    let (request_id, task_index, attempt, ok, m, part) = match result {
        ResultEnvelope::Query(r) => (&r.request_id, r.task_index, r.attempt_no, r.outcome.is_ok(), &r.metrics, "query"),
        ResultEnvelope::Registration(r) => {
            (&r.request_id, r.task_index, r.attempt_no, r.outcome.is_ok(), &r.metrics, "registration")
        }
    };
    let l = m.lambda.as_ref();
    let wire = |v: Option<serde_json::Value>| v.and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    let load_from = wire(m.load_from.map(|s| serde_json::json!(s)));
    let selected = wire(m.part_select_method.map(|s| serde_json::json!(s)));
    info!(
        aws_request_id,
        request_id = %request_id,
        task_index,
        attempt,
        kind = part,
        success = ok,
        load_from = %load_from,
        part_select_method = %selected,
        total_seconds = m.task_total_run_seconds,
        load_seconds = m.task_total_load_seconds,
        download_seconds = m.task_download_seconds,
        run_query_seconds = m.task_run_query_seconds,
        scanned_rows = m.scanned_rows,
        cold_start = l.map(|l| l.cold_start),
        billed_ms = l.map(|l| l.billed_ms),
        memory_mb = l.map(|l| l.memory_mb),
        "task done"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_vcpu_per_1769_mb_up_to_six() {
        assert_eq!(vcpus_for_memory(128), 1);
        assert_eq!(vcpus_for_memory(1769), 1);
        assert_eq!(vcpus_for_memory(1770), 2);
        assert_eq!(vcpus_for_memory(3538), 2);
        assert_eq!(vcpus_for_memory(10240), 6);
        assert_eq!(vcpus_for_memory(0), 1);
    }

    #[test]
    fn the_environment_is_read_with_clear_errors() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        let e = LambdaEnv::from_lookup(&env(&[
            ("AWS_LAMBDA_FUNCTION_NAME", "fr"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1769"),
            ("AWS_REGION", "eu-west-1"),
        ]))
        .unwrap();
        assert_eq!((e.function_name.as_str(), e.memory_mb, e.region.as_deref()), ("fr", 1769, Some("eu-west-1")));
        assert!(LambdaEnv::from_lookup(&env(&[])).unwrap_err().contains("not running in Lambda"));
        let bad = LambdaEnv::from_lookup(&env(&[
            ("AWS_LAMBDA_FUNCTION_NAME", "fr"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "lots"),
        ]));
        assert!(bad.unwrap_err().contains("not a number"));
    }
}
