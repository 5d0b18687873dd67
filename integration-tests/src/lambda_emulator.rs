//! A Lambda emulator that runs the **real worker binary** as its function instances: the
//! Invoke API that invokers call (through the real `aws-sdk-lambda` client) and the Runtime API
//! that `lambda_runtime` in the worker polls, on one loopback port.
//!
//! What it models (docs/lambda.md "The emulator" lists what only real Lambda can show):
//! - `POST /2015-03-31/functions/{name}/invocations` with `X-Amz-Invocation-Type`: `Event` is
//!   accepted with **202** and queued (Lambda's internal queue; no retries: the stack sets
//!   `MaximumRetryAttempts` 0); `RequestResponse` answers **200** with the function's response,
//!   or 200 with `X-Amz-Function-Error: Unhandled` and the error document; `DryRun` 204. The
//!   legacy `POST /2014-11-13/functions/{name}/invoke-async/` answers 202 `{"Status": 202}`.
//!   Names may be ARNs or carry a qualifier (`name:alias`). Unknown functions: 404
//!   `ResourceNotFoundException`.
//! - **Throttling**: 429 `TooManyRequestsException` for a synchronous invoke when every one of
//!   the function's `concurrency` instances is busy (reserved concurrency exhausted), and for
//!   the first `throttle_first` invoke calls of any type (to test the invoker's backoff).
//! - **Instances**: one process of the function's `bootstrap` per concurrent execution, started
//!   on demand (cold: its init phase runs first) and reused while warm; each has its own
//!   `TMPDIR` (its `/tmp`), kept across its invocations. The Runtime API is per instance
//!   (`AWS_LAMBDA_RUNTIME_API` = `http://host:port/instances/{function}/{id}`), with the standard
//!   routes: `invocation/next` (long poll; request id, deadline and function ARN headers),
//!   `invocation/{id}/response`, `invocation/{id}/error`, `init/error`.
//! - **Failures**: an instance that exits mid-invocation loses that invocation (an `Event` is not
//!   retried; a synchronous caller gets `Runtime.ExitError`); one that exits during its init
//!   phase fails the invocation it was started for; an invocation past the function's timeout
//!   kills its instance (`Sandbox.Timedout`). The next invocation starts a fresh, cold instance.

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, oneshot};

/// One function the emulator serves.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub name: String,
    /// The executable every instance runs (the artifact's `bootstrap`, or the worker binary).
    pub bootstrap: PathBuf,
    /// The function's environment (Lambda adds its own `AWS_LAMBDA_*` variables).
    pub env: Vec<(String, String)>,
    pub memory_mb: u32,
    pub timeout: Duration,
    /// Reserved concurrency: the most instances at once.
    pub concurrency: usize,
    /// The first this-many Invoke calls answer 429 (testing the invoker's backoff).
    pub throttle_first: usize,
    pub region: String,
}

impl FunctionSpec {
    pub fn new(name: &str, bootstrap: PathBuf) -> FunctionSpec {
        FunctionSpec {
            name: name.into(),
            bootstrap,
            env: Vec::new(),
            memory_mb: 1769,
            timeout: Duration::from_secs(30),
            concurrency: 4,
            throttle_first: 0,
            region: "us-east-1".into(),
        }
    }
}

/// Counters of one function.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FunctionStats {
    /// Invoke API calls (all types, throttled ones included).
    pub invoke_calls: usize,
    pub throttled: usize,
    /// Invocations handed to an instance.
    pub invocations: usize,
    /// Invocations that were the first of their instance.
    pub cold_starts: usize,
    pub instances_started: usize,
    pub responses: usize,
    pub function_errors: usize,
    /// Invocations whose instance died or timed out before answering.
    pub lost: usize,
}

/// How an invocation ended, for a synchronous caller.
enum Outcome {
    Response(Bytes),
    FunctionError(Bytes),
    Died(String),
}

struct Invocation {
    id: String,
    payload: Bytes,
    /// A synchronous caller waiting; `None` for `Event` invocations.
    reply: Option<oneshot::Sender<Outcome>>,
}

struct InFlight {
    id: String,
    reply: Option<oneshot::Sender<Outcome>>,
}

#[derive(Default)]
struct Instance {
    /// Started, but has not asked for its first invocation yet.
    starting: bool,
    /// Waiting in `invocation/next`.
    idle: bool,
    current: Option<InFlight>,
    invocations: u64,
    kill: Option<oneshot::Sender<String>>,
}

struct Function {
    spec: FunctionSpec,
    pending: Mutex<VecDeque<Invocation>>,
    wake: Notify,
    instances: Mutex<HashMap<u64, Instance>>,
    next_instance: AtomicU64,
    stats: Mutex<FunctionStats>,
}

struct Emu {
    port: u16,
    dir: PathBuf,
    functions: Mutex<HashMap<String, Arc<Function>>>,
    next_request: AtomicUsize,
}

/// The running emulator (stops and kills its instances when dropped).
pub struct LambdaEmulator {
    /// `http://127.0.0.1:{port}`: the Invoke API endpoint for `AWS_ENDPOINT_URL`.
    pub endpoint: String,
    emu: Arc<Emu>,
    server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `arn:aws:lambda:region:acct:function:NAME[:qualifier]` or `NAME[:qualifier]` → `NAME`.
pub fn function_name(raw: &str) -> &str {
    let rest = raw.strip_prefix("arn:").map_or(raw, |a| a.split(':').nth(5).unwrap_or(raw));
    rest.split(':').next().unwrap_or(rest)
}

fn aws_error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = serde_json::json!({"Type": "User", "message": message}).to_string();
    (status, [("x-amzn-ErrorType", kind.to_string()), ("content-type", "application/json".into())], body)
        .into_response()
}

impl LambdaEmulator {
    /// Starts the emulator on a free loopback port.
    pub async fn start() -> LambdaEmulator {
        Self::start_on("127.0.0.1:0").await.expect("bind the emulator")
    }

    /// Starts the emulator on `addr` (`0.0.0.0:9001` in its container image). Its instances
    /// reach the Runtime API through loopback whatever the address.
    pub async fn start_on(addr: &str) -> Result<LambdaEmulator, String> {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("bind {addr}: {e}"))?;
        let port = listener.local_addr().expect("emulator address").port();
        let dir = tempfile::tempdir().expect("emulator temp dir");
        let emu = Arc::new(Emu {
            port,
            dir: dir.path().to_path_buf(),
            functions: Mutex::new(HashMap::new()),
            next_request: AtomicUsize::new(1),
        });
        let rt = "/instances/{function}/{instance}/2018-06-01/runtime";
        let app = axum::Router::new()
            .route("/2015-03-31/functions/{name}/invocations", post(invoke))
            .route("/2014-11-13/functions/{name}/invoke-async/", post(invoke_async))
            .route(&format!("{rt}/invocation/next"), get(next))
            .route(&format!("{rt}/invocation/{{request}}/response"), post(respond))
            .route(&format!("{rt}/invocation/{{request}}/error"), post(fail))
            .route(&format!("{rt}/init/error"), post(init_error))
            .with_state(emu.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("the Lambda emulator stopped: {e}");
            }
        });
        Ok(LambdaEmulator { endpoint: format!("http://127.0.0.1:{port}"), emu, server, _dir: dir })
    }

    /// Creates (or replaces) a function.
    pub fn deploy(&self, spec: FunctionSpec) {
        self.handle().deploy(spec)
    }

    /// A handle that deploys functions into this emulator (for a front that syncs them).
    pub fn handle(&self) -> LambdaHandle {
        LambdaHandle { emu: self.emu.clone() }
    }

    pub fn stats(&self, name: &str) -> FunctionStats {
        self.emu.function(name).map(|f| *lock(&f.stats)).unwrap_or_default()
    }

    /// Kills one instance that is running an invocation; false if none is.
    pub fn kill_busy_instance(&self, name: &str) -> bool {
        let Some(f) = self.emu.function(name) else { return false };
        let mut instances = lock(&f.instances);
        match instances.values_mut().find(|i| i.current.is_some()) {
            Some(i) => i.kill.take().is_some_and(|k| k.send("killed by the test".into()).is_ok()),
            None => false,
        }
    }

    /// Busy instances right now.
    pub fn busy_instances(&self, name: &str) -> usize {
        self.emu.function(name).map_or(0, |f| lock(&f.instances).values().filter(|i| i.current.is_some()).count())
    }

    /// Everything the function's instances wrote to stdout and stderr so far.
    pub fn logs(&self, name: &str) -> String {
        let dir = self.emu.dir.join(name);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "log"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files.iter().filter_map(|p| std::fs::read_to_string(p).ok()).collect::<Vec<_>>().join("")
    }
}

/// Deploys functions into a running [`LambdaEmulator`].
#[derive(Clone)]
pub struct LambdaHandle {
    emu: Arc<Emu>,
}

impl LambdaHandle {
    /// Creates (or replaces, stopping its instances) a function.
    pub fn deploy(&self, spec: FunctionSpec) {
        let f = Arc::new(Function {
            spec,
            pending: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            instances: Mutex::new(HashMap::new()),
            next_instance: AtomicU64::new(1),
            stats: Mutex::new(FunctionStats::default()),
        });
        if let Some(old) = lock(&self.emu.functions).insert(f.spec.name.clone(), f) {
            old.kill_all("function replaced");
        }
    }
}

impl Drop for LambdaEmulator {
    fn drop(&mut self) {
        for f in lock(&self.emu.functions).values() {
            f.kill_all("emulator stopped");
        }
        self.server.abort();
    }
}

impl Emu {
    fn function(&self, name: &str) -> Option<Arc<Function>> {
        lock(&self.functions).get(function_name(name)).cloned()
    }

    fn new_request_id(&self) -> String {
        let n = self.next_request.fetch_add(1, Ordering::Relaxed);
        format!("{:08x}-emul-4000-8000-{:012x}", std::process::id(), n)
    }

    /// Queues an invocation and starts an instance if none will be free to take it.
    fn enqueue(self: &Arc<Self>, f: &Arc<Function>, inv: Invocation) {
        lock(&f.pending).push_back(inv);
        if let Some(id) = f.reserve_instance() {
            self.start_instance(f, id);
        }
        f.wake.notify_waiters();
    }

    /// Starts the process of instance `id` (its slot is already reserved).
    fn start_instance(self: &Arc<Self>, f: &Arc<Function>, id: u64) {
        let spec = &f.spec;
        let dir = self.dir.join(&spec.name);
        let tmp = dir.join(format!("instance-{id}-tmp"));
        if let Err(e) = std::fs::create_dir_all(&tmp) {
            tracing::error!("emulator: create {}: {e}", tmp.display());
            lock(&f.instances).remove(&id);
            return;
        }
        let log = std::fs::File::create(dir.join(format!("instance-{id}.log")));
        let (out, err) = match log.and_then(|l| Ok((l.try_clone()?, l))) {
            Ok((a, b)) => (Stdio::from(a), Stdio::from(b)),
            Err(_) => (Stdio::null(), Stdio::null()),
        };
        let mut cmd = tokio::process::Command::new(&spec.bootstrap);
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("TZ", ":UTC")
            .env("LANG", "en_US.UTF-8")
            .env("TMPDIR", &tmp)
            .env("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{}/instances/{}/{id}", self.port, spec.name))
            .env("AWS_LAMBDA_FUNCTION_NAME", &spec.name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", spec.memory_mb.to_string())
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", spec.name))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("emulator/instance-{id}"))
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("AWS_REGION", &spec.region)
            .env("AWS_DEFAULT_REGION", &spec.region)
            .env("_HANDLER", "bootstrap")
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("emulator: start {}: {e}", spec.bootstrap.display());
                lock(&f.instances).remove(&id);
                return;
            }
        };
        let (kill_tx, kill_rx) = oneshot::channel::<String>();
        if let Some(i) = lock(&f.instances).get_mut(&id) {
            i.kill = Some(kill_tx);
        }
        lock(&f.stats).instances_started += 1;
        let (f, emu) = (f.clone(), self.clone());
        tokio::spawn(async move {
            let why = tokio::select! {
                status = child.wait() => format!("Runtime exited: {}", status.map_or_else(|e| e.to_string(), |s| s.to_string())),
                reason = kill_rx => {
                    let reason = reason.unwrap_or_else(|_| "emulator stopped".into());
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                    reason
                }
            };
            let gone = lock(&f.instances).remove(&id);
            let never_served = gone.as_ref().is_some_and(|i| i.invocations == 0);
            // An instance that dies in its init phase fails the invocation it was started for
            // (as Lambda does; an Event is then dropped, with no retries configured), rather
            // than starting instance after instance.
            let lost = match gone.and_then(|i| i.current) {
                Some(inflight) => Some((inflight.id, inflight.reply)),
                None if never_served => lock(&f.pending).pop_front().map(|inv| (inv.id, inv.reply)),
                None => None,
            };
            if let Some((request, reply)) = lost {
                lock(&f.stats).lost += 1;
                tracing::warn!(function = %f.spec.name, instance = id, request = %request, "invocation lost: {why}");
                if let Some(r) = reply {
                    let _ = r.send(Outcome::Died(why));
                }
            }
            // Queued invocations may now need an instance.
            if let Some(id) = f.reserve_instance() {
                emu.start_instance(&f, id);
            }
        });
    }
}

impl Function {
    /// Reserves a slot for a new instance when more invocations are queued than instances are
    /// (or will soon be) free to take them, within the reserved concurrency. Deciding and
    /// reserving under one lock keeps concurrent invokes from overshooting the concurrency.
    fn reserve_instance(&self) -> Option<u64> {
        let mut instances = lock(&self.instances);
        let ready = instances.values().filter(|i| i.idle || i.starting).count();
        let wanted = lock(&self.pending).len() > ready && instances.len() < self.spec.concurrency;
        wanted.then(|| {
            let id = self.next_instance.fetch_add(1, Ordering::Relaxed);
            instances.insert(id, Instance { starting: true, ..Instance::default() });
            id
        })
    }

    fn kill_all(&self, why: &str) {
        for i in lock(&self.instances).values_mut() {
            if let Some(k) = i.kill.take() {
                let _ = k.send(why.into());
            }
        }
    }
}

fn invocation_type(headers: &HeaderMap) -> String {
    headers.get("x-amz-invocation-type").and_then(|v| v.to_str().ok()).unwrap_or("RequestResponse").to_string()
}

/// Counts the call; the throttling answer when the function is set to throttle it.
fn admit(f: &Function) -> Option<Response> {
    let mut s = lock(&f.stats);
    s.invoke_calls += 1;
    if s.invoke_calls <= f.spec.throttle_first {
        s.throttled += 1;
        return Some(aws_error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequestsException", "Rate Exceeded."));
    }
    None
}

async fn invoke(
    State(emu): State<Arc<Emu>>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
    payload: Bytes,
) -> Response {
    let Some(f) = emu.function(&name) else {
        return aws_error(StatusCode::NOT_FOUND, "ResourceNotFoundException", &format!("Function not found: {name}"));
    };
    if let Some(throttled) = admit(&f) {
        return throttled;
    }
    let id = emu.new_request_id();
    match invocation_type(&headers).as_str() {
        "DryRun" => StatusCode::NO_CONTENT.into_response(),
        "Event" => {
            emu.enqueue(&f, Invocation { id: id.clone(), payload, reply: None });
            (StatusCode::ACCEPTED, [("x-amzn-RequestId", id)], "").into_response()
        }
        "RequestResponse" => {
            let saturated = {
                let instances = lock(&f.instances);
                instances.len() >= f.spec.concurrency && instances.values().all(|i| i.current.is_some())
            };
            if saturated {
                lock(&f.stats).throttled += 1;
                return aws_error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequestsException", "Rate Exceeded.");
            }
            let (tx, rx) = oneshot::channel();
            emu.enqueue(&f, Invocation { id: id.clone(), payload, reply: Some(tx) });
            let unhandled = |body: Bytes| {
                (
                    StatusCode::OK,
                    [("X-Amz-Function-Error", "Unhandled".to_string()), ("x-amzn-RequestId", id.clone())],
                    body,
                )
                    .into_response()
            };
            match rx.await {
                Ok(Outcome::Response(body)) => (StatusCode::OK, [("x-amzn-RequestId", id.clone())], body).into_response(),
                Ok(Outcome::FunctionError(body)) => unhandled(body),
                Ok(Outcome::Died(why)) => unhandled(Bytes::from(
                    serde_json::json!({"errorType": "Runtime.ExitError", "errorMessage": format!("RequestId: {id} Error: {why}")})
                        .to_string(),
                )),
                Err(_) => aws_error(StatusCode::INTERNAL_SERVER_ERROR, "ServiceException", "emulator stopped"),
            }
        }
        other => aws_error(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            &format!("unknown X-Amz-Invocation-Type {other}"),
        ),
    }
}

async fn invoke_async(State(emu): State<Arc<Emu>>, UrlPath(name): UrlPath<String>, payload: Bytes) -> Response {
    let Some(f) = emu.function(&name) else {
        return aws_error(StatusCode::NOT_FOUND, "ResourceNotFoundException", &format!("Function not found: {name}"));
    };
    if let Some(throttled) = admit(&f) {
        return throttled;
    }
    let id = emu.new_request_id();
    emu.enqueue(&f, Invocation { id, payload, reply: None });
    (StatusCode::ACCEPTED, [("content-type", "application/json")], r#"{"Status": 202}"#).into_response()
}

type InstancePath = UrlPath<(String, u64)>;

/// `invocation/next`: the instance is free; hand it the oldest queued invocation (waiting for one).
async fn next(State(emu): State<Arc<Emu>>, UrlPath((name, iid)): InstancePath) -> Response {
    let Some(f) = emu.function(&name) else {
        return aws_error(StatusCode::NOT_FOUND, "ResourceNotFoundException", "no such function");
    };
    loop {
        let notified = f.wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let mut instances = lock(&f.instances);
            let Some(inst) = instances.get_mut(&iid) else {
                return aws_error(StatusCode::GONE, "InstanceGone", "this instance was stopped");
            };
            inst.starting = false;
            if let Some(inv) = lock(&f.pending).pop_front() {
                inst.idle = false;
                inst.invocations += 1;
                let cold = inst.invocations == 1;
                inst.current = Some(InFlight { id: inv.id.clone(), reply: inv.reply });
                let mut s = lock(&f.stats);
                s.invocations += 1;
                s.cold_starts += usize::from(cold);
                drop(s);
                drop(instances);
                watch_timeout(&f, iid, &inv.id);
                let deadline = std::time::SystemTime::now() + f.spec.timeout;
                let deadline_ms = deadline.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
                let arn = format!("arn:aws:lambda:{}:000000000000:function:{}", f.spec.region, f.spec.name);
                return (
                    StatusCode::OK,
                    [
                        ("Lambda-Runtime-Aws-Request-Id", inv.id.clone()),
                        ("Lambda-Runtime-Deadline-Ms", deadline_ms.to_string()),
                        ("Lambda-Runtime-Invoked-Function-Arn", arn),
                        ("Lambda-Runtime-Trace-Id", format!("Root=1-emul-{}", inv.id)),
                        ("content-type", "application/json".into()),
                    ],
                    inv.payload,
                )
                    .into_response();
            }
            inst.idle = true;
        }
        notified.await;
    }
}

/// Kills the instance if the invocation is still running when the function's timeout passes.
fn watch_timeout(f: &Arc<Function>, iid: u64, request: &str) {
    let (f, request) = (f.clone(), request.to_string());
    tokio::spawn(async move {
        let t0 = Instant::now();
        tokio::time::sleep(f.spec.timeout).await;
        let mut instances = lock(&f.instances);
        if let Some(i) = instances.get_mut(&iid)
            && i.current.as_ref().is_some_and(|c| c.id == request)
            && let Some(k) = i.kill.take()
        {
            let _ = k.send(format!("Sandbox.Timedout: Task timed out after {:.2} seconds", t0.elapsed().as_secs_f64()));
        }
    });
}

/// Ends the instance's current invocation `request`; false if it is not the current one.
fn finish(
    f: &Function,
    iid: u64,
    request: &str,
    outcome: impl FnOnce() -> Outcome,
    counter: impl FnOnce(&mut FunctionStats),
) -> bool {
    let inflight = {
        let mut instances = lock(&f.instances);
        let Some(inst) = instances.get_mut(&iid) else { return false };
        if inst.current.as_ref().is_none_or(|c| c.id != request) {
            return false;
        }
        inst.current.take()
    };
    counter(&mut lock(&f.stats));
    if let Some(r) = inflight.and_then(|i| i.reply) {
        let _ = r.send(outcome());
    }
    true
}

async fn respond(
    State(emu): State<Arc<Emu>>,
    UrlPath((name, iid, request)): UrlPath<(String, u64, String)>,
    body: Bytes,
) -> Response {
    let Some(f) = emu.function(&name) else { return StatusCode::NOT_FOUND.into_response() };
    if finish(&f, iid, &request, || Outcome::Response(body), |s| s.responses += 1) {
        StatusCode::ACCEPTED.into_response()
    } else {
        aws_error(StatusCode::BAD_REQUEST, "InvalidRequestID", "not the instance's current invocation")
    }
}

async fn fail(
    State(emu): State<Arc<Emu>>,
    UrlPath((name, iid, request)): UrlPath<(String, u64, String)>,
    body: Bytes,
) -> Response {
    let Some(f) = emu.function(&name) else { return StatusCode::NOT_FOUND.into_response() };
    tracing::warn!(function = %name, instance = iid, request = %request, "function error: {}", String::from_utf8_lossy(&body));
    if finish(&f, iid, &request, || Outcome::FunctionError(body), |s| s.function_errors += 1) {
        StatusCode::ACCEPTED.into_response()
    } else {
        aws_error(StatusCode::BAD_REQUEST, "InvalidRequestID", "not the instance's current invocation")
    }
}

async fn init_error(State(emu): State<Arc<Emu>>, UrlPath((name, iid)): InstancePath, body: Bytes) -> Response {
    tracing::warn!(function = %name, instance = iid, "init error: {}", String::from_utf8_lossy(&body));
    if let Some(f) = emu.function(&name)
        && let Some(k) = lock(&f.instances).get_mut(&iid).and_then(|i| i.kill.take())
    {
        let _ = k.send("Runtime.InitError".into());
    }
    StatusCode::ACCEPTED.into_response()
}

#[cfg(test)]
mod tests {
    use super::function_name;

    #[test]
    fn function_names_from_arns_and_qualifiers() {
        assert_eq!(function_name("frocket"), "frocket");
        assert_eq!(function_name("frocket:live"), "frocket");
        assert_eq!(function_name("arn:aws:lambda:eu-west-1:123456789012:function:frocket"), "frocket");
        assert_eq!(function_name("arn:aws:lambda:eu-west-1:123456789012:function:frocket:7"), "frocket");
    }
}
