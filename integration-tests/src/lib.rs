//! Test harness: real services as child processes on free loopback ports (never fixed ports),
//! killed when dropped, and an embedded Funnel Rocket stack wired to them.

pub mod aws_emulator;
pub mod containers;
pub mod images;
pub mod lambda_emulator;
pub mod lambda_stack;

use async_trait::async_trait;
use invoker::TaskExecutor;
use polars::prelude::*;
use protocol::task::{QueryTaskRequest, QueryTaskResult, RegistrationTaskRequest, RegistrationTaskResult};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use storage::embedded::EmbeddedDatastore;
use storage::s3::{S3Config, S3Store};
use storage::{BlobStore, Stores};
use worker::{LoaderConfig, PartLoader, Worker};

/// A free TCP port on 127.0.0.1 (bound and released; the OS does not hand it out again soon).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free loopback port")
}

fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not listen on port {port} within 60 s");
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// A real S3 API server (moto_server from the project venv), one per test.
pub struct S3Server {
    child: Child,
    pub endpoint: String,
}

impl S3Server {
    pub fn start() -> S3Server {
        let bin = std::env::var_os("FROCKET_TEST_MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join(".venv/bin/moto_server"));
        assert!(
            bin.exists(),
            "moto_server not found at {} (run the tests with `cargo xtask test`, which installs it in .venv)",
            bin.display()
        );
        let port = free_port();
        let mut child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        wait_for_port(port, &mut child, "moto_server");
        S3Server { child, endpoint: format!("http://127.0.0.1:{port}") }
    }

    pub fn config(&self) -> S3Config {
        s3_config(&self.endpoint)
    }

    pub async fn store(&self) -> S3Store {
        S3Store::new(&self.config()).await
    }

    pub async fn create_bucket(&self, bucket: &str) {
        self.store().await.client().create_bucket().bucket(bucket).send().await.expect("create bucket");
    }

    /// Uploads every file of `dir` (non-recursive) under `s3://bucket/prefix/`.
    pub async fn upload_dir(&self, dir: &Path, bucket: &str, prefix: &str) {
        upload_dir(&self.store().await, dir, bucket, prefix).await;
    }

    pub async fn put(&self, bucket: &str, key: &str, bytes: Vec<u8>) {
        let body = aws_sdk_s3::primitives::ByteStream::from(bytes);
        self.store().await.client().put_object().bucket(bucket).key(key).body(body).send().await.expect("put");
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The client configuration of a test S3 server at `endpoint` (moto, or `frocket-s3` in the
/// container images): path-style, the harness's credentials `testing` / `testing`.
pub fn s3_config(endpoint: &str) -> S3Config {
    S3Config {
        endpoint_url: Some(endpoint.to_string()),
        region: Some("us-east-1".into()),
        force_path_style: true,
        credentials: Some(("testing".into(), "testing".into())),
    }
}

/// Uploads every file of `dir` (non-recursive, in name order) under `s3://bucket/prefix/`.
pub async fn upload_dir(store: &S3Store, dir: &Path, bucket: &str, prefix: &str) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for p in files.iter().filter(|p| p.is_file()) {
        let key = format!("{prefix}/{}", p.file_name().unwrap().to_string_lossy());
        let body = aws_sdk_s3::primitives::ByteStream::from(std::fs::read(p).unwrap());
        store.client().put_object().bucket(bucket).key(key).body(body).send().await.expect("upload");
    }
}

/// The embedded executor, as the `frocket` binary wires it.
pub struct Exec {
    pub worker: Arc<Worker>,
}

#[async_trait]
impl TaskExecutor for Exec {
    async fn run_query(&self, req: QueryTaskRequest) -> QueryTaskResult {
        self.worker.run_query(&req).await
    }
    async fn run_registration(&self, req: RegistrationTaskRequest) -> RegistrationTaskResult {
        self.worker.run_registration(&req).await
    }
    fn concurrency(&self) -> usize {
        2
    }
    fn describe(&self) -> String {
        "test".into()
    }
}

/// An embedded Funnel Rocket: datastore and disk cache in a temp home.
pub struct Stack {
    pub home: tempfile::TempDir,
    pub stores: Stores,
    pub datastore: EmbeddedDatastore,
    pub exec: Exec,
}

impl Stack {
    pub fn new(s3: Option<Arc<dyn BlobStore>>) -> Stack {
        Stack::with_loader(s3, |home| LoaderConfig {
            cache_dir: Some(home.join("cache")),
            disk_cache_bytes: 256 << 20,
            memory_cache_bytes: 0,
            threads: 0,
        })
    }

    pub fn with_loader(s3: Option<Arc<dyn BlobStore>>, cfg: impl FnOnce(&Path) -> LoaderConfig) -> Stack {
        let home = tempfile::tempdir().unwrap();
        let stores = match s3 {
            Some(s) => Stores::with_s3(s),
            None => Stores::local_only(),
        };
        let datastore = EmbeddedDatastore::open(home.path().join("datasets")).unwrap();
        let loader = PartLoader::new(stores.clone(), &cfg(home.path())).unwrap();
        Stack { exec: Exec { worker: Worker::new(loader) }, stores, datastore, home }
    }

    pub async fn register(
        &self,
        args: &invoker::RegisterArgs,
    ) -> Result<invoker::RegistrationJobResult, invoker::InvokerError> {
        let opts = invoker::JobOptions::default();
        invoker::register_dataset(&self.stores, &self.datastore, &self.exec, args, &opts, None).await
    }

    /// Runs a query job; the result as the JSON a client receives.
    pub async fn query(&self, name: &str, q: &serde_json::Value) -> Result<serde_json::Value, invoker::InvokerError> {
        let r =
            invoker::run_query_job(&self.datastore, &self.exec, name, q, &invoker::JobOptions::default(), None).await?;
        Ok(serde_json::to_value(r).expect("a query result encodes as JSON"))
    }
}

/// The result without run-specific fields (request id, stats), for comparing runs.
pub fn answer(v: &serde_json::Value) -> serde_json::Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("requestId");
        o.remove("stats");
    }
    v
}

/// The answer of `q` over the local dataset `dir` (group `visitorid`, time `timestamp`) from the
/// `frocket` binary `bin` in embedded mode (no Redis), without stats and request id: the
/// expected answer of every distributed run in the process and container suites.
pub fn embedded_answer(bin: &Path, dir: &Path, q: &str) -> serde_json::Value {
    let home = tempfile::tempdir().expect("a temporary FROCKET_HOME");
    let run = |args: &[&str]| {
        Command::new(bin)
            .args(args)
            .env("FROCKET_HOME", home.path())
            .env_remove("FROCKET_REDIS_URL")
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()))
    };
    let dir = dir.to_str().expect("a UTF-8 dataset path");
    assert!(run(&["register", "d", dir, "visitorid", "timestamp", "-q"]).status.success(), "register {dir} embedded");
    let out = run(&["run", "d", "--string", q, "--json"]);
    answer(&serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("embedded answer of {q}: {e}")))
}

/// Writes a DataFrame as a Parquet file.
pub fn write_parquet(df: &mut DataFrame, path: &Path) {
    let f = std::fs::File::create(path).unwrap();
    ParquetWriter::new(f).finish(df).unwrap();
}

/// `parts` near-empty parts (one row each: `u`, `ts`, `e`) in `dir`, for measuring the
/// per-task overhead of a transport.
pub fn tiny_dataset(dir: &std::path::Path, parts: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for p in 0..parts {
        let mut df = DataFrame::new_infer_height(vec![
            Column::new("u".into(), [p as i64]),
            Column::new("ts".into(), [1i64]),
            Column::new("e".into(), ["x"]),
        ])
        .unwrap();
        write_parquet(&mut df, &dir.join(format!("p-{p:05}.parquet")));
    }
}

/// The funnel fixture of the API and page tests, in two parts (users 1-3, users 4-5), with
/// hand-checked answers: the funnel view → cart → buy reaches 5, 3, 1 users (u3 carts before
/// viewing; u4 never carts; u5 buys at the cart's timestamp, and equal timestamps never
/// chain); by `country` the steps are {us 2, de 2, fr 1}, {us 2, fr 1}, {us 1}.
pub fn funnel_fixture(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    type Row = (i64, i64, &'static str, &'static str, f64);
    let parts: [&[Row]; 2] = [
        &[
            (1, 1, "view", "us", 0.0),
            (1, 2, "cart", "us", 10.0),
            (1, 3, "buy", "us", 10.0),
            (2, 1, "view", "us", 0.0),
            (2, 5, "cart", "us", 5.0),
            (3, 1, "cart", "de", 7.0),
            (3, 2, "view", "de", 0.0),
        ],
        &[
            (4, 10, "view", "de", 0.0),
            (4, 11, "buy", "de", 3.0),
            (5, 1, "view", "fr", 0.0),
            (5, 2, "view", "fr", 0.0),
            (5, 3, "cart", "fr", 2.5),
            (5, 3, "buy", "fr", 2.5),
        ],
    ];
    for (p, rows) in parts.iter().enumerate() {
        let mut df = DataFrame::new_infer_height(vec![
            Column::new("user".into(), rows.iter().map(|r| r.0).collect::<Vec<_>>()),
            Column::new("ts".into(), rows.iter().map(|r| r.1).collect::<Vec<_>>()),
            // Dictionary-encoded, as prepared data is: the schema then lists their values.
            Column::new("event".into(), rows.iter().map(|r| r.2).collect::<Vec<_>>())
                .cast(&DataType::from_categories(Categories::global()))
                .unwrap(),
            Column::new("country".into(), rows.iter().map(|r| r.3).collect::<Vec<_>>())
                .cast(&DataType::from_categories(Categories::global()))
                .unwrap(),
            Column::new("price".into(), rows.iter().map(|r| r.4).collect::<Vec<_>>()),
        ])
        .unwrap();
        write_parquet(&mut df, &dir.join(format!("part-{p:05}.parquet")));
    }
}

/// A small synthetic dataset of `parts` parts in `dir` (returns total rows).
pub fn synth_dataset(dir: &Path, rows: u64, parts: usize) -> u64 {
    let cfg = dataprep::synth::SynthConfig { n_items: 2_000, ..dataprep::synth::SynthConfig::new(rows, parts) };
    dataprep::synth::generate_dataset(&cfg, dir, true).unwrap().rows
}

impl Stack {
    pub async fn datastore_record(&self, name: &str) -> protocol::dataset::DatasetRecord {
        use storage::Datastore;
        self.datastore.dataset(name).await.unwrap().expect("registered")
    }
}

/// A real `redis-server` (no persistence) on a free loopback port; restartable on the same port
/// (also while a job borrows the harness).
pub struct RedisServer {
    child: std::sync::Mutex<Option<Child>>,
    pub port: u16,
    /// `requirepass`, when the server asks for AUTH.
    password: Option<String>,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let s = RedisServer { child: std::sync::Mutex::new(None), port: free_port(), password: None };
        s.spawn();
        s
    }

    /// A server that refuses every command before `AUTH password`.
    pub fn start_requiring_password(password: &str) -> RedisServer {
        let s = RedisServer { child: std::sync::Mutex::new(None), port: free_port(), password: Some(password.into()) };
        s.spawn();
        s
    }

    fn spawn(&self) {
        let bin = redis_server_bin();
        let mut child = Command::new(&bin)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(self.password.iter().flat_map(|p| ["--requirepass".to_string(), p.clone()]))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("start {bin} (install Debian's redis-server; cargo xtask test does when root): {e}")
            });
        wait_for_port(self.port, &mut child, "redis-server");
        *self.child.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills the server (all data is lost: it keeps nothing on disk).
    pub fn stop(&self) {
        if let Some(mut c) = self.child.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops and starts it again on the same port.
    pub fn restart(&self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// For the emulator programs (`lambda-emulator`, `aws-emulator`): prints the environment a
/// client needs (and writes it to `env_file` as `K=V` lines), then waits for Ctrl-C or SIGTERM.
pub async fn announce_and_wait(banner: &str, env: &[(String, String)], env_file: Option<&Path>) -> Result<(), String> {
    let lines: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    if let Some(path) = env_file {
        std::fs::write(path, &lines).map_err(|e| format!("write {}: {e}", path.display()))?;
        println!("Environment written to {} (load it with: set -a; . {}; set +a)", path.display(), path.display());
    }
    println!("{banner}; client environment:\n{lines}");
    println!("Ctrl-C stops it.");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("listen for SIGTERM: {e}"))?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}

/// The `redis-server` the harness runs: `FROCKET_TEST_REDIS_SERVER`, else the one on `PATH`.
pub fn redis_server_bin() -> String {
    std::env::var("FROCKET_TEST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into())
}

/// Decodes `%XX` escapes (URL paths, IAM policy documents as AWS returns them); anything else
/// is kept as it is.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        if b[i] == b'%'
            && let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `main` of the emulator programs: runs `fut` on a multi-threaded runtime; an error is
/// printed and exits 1.
pub fn run_main(fut: impl std::future::Future<Output = Result<(), String>>) -> std::process::ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: start the async runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    match rt.block_on(fut) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(1)
        }
    }
}
