//! Funnel Rocket in Lambda mode for tests: a real `redis-server`, the Lambda emulator running
//! the real `frocket-lambda` binary as the function, and the invoker's `LambdaExecutor`
//! talking to it through the real `aws-sdk-lambda` client.

use crate::RedisServer;
use crate::lambda_emulator::{FunctionSpec, LambdaEmulator};
use invoker::lambda::{LambdaConfig, LambdaExecutor};
use invoker::{InvokerError, JobOptions, QueryJobResult, RegisterArgs, RegistrationJobResult};
use std::path::PathBuf;
use std::time::Duration;
use storage::Stores;
use storage::redis::{RedisConfig, RedisStore};

pub const FUNCTION: &str = "frocket";

/// The `frocket-lambda` binary of this build: next to the running test (target/debug) or bench
/// (target/release) binary, built with the same profile first when a narrower run skipped it.
pub fn lambda_binary() -> PathBuf {
    workspace_binary("frocket-lambda", "worker")
}

/// A binary of the workspace built with this test's profile (built first when missing).
pub fn workspace_binary(name: &str, package: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // Tests and benches run from `target/<profile>/deps`, the harness's programs from
    // `target/<profile>`.
    let parent = exe.parent().expect("binary directory");
    let dir =
        if parent.ends_with("deps") { parent.parent().expect("target profile dir") } else { parent }.to_path_buf();
    let bin = dir.join(name);
    if !bin.exists() {
        let profile = if dir.ends_with("release") { "bench" } else { "test" };
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = std::process::Command::new(cargo)
            .args(["build", "--profile", profile, "--package", package, "--bin", name])
            .status()
            .expect("run cargo build");
        assert!(st.success(), "build {name}");
    }
    assert!(bin.exists(), "{} missing", bin.display());
    bin
}

/// How the function and the invoker are set up.
#[derive(Debug, Clone)]
pub struct LambdaSetup {
    pub concurrency: usize,
    pub throttle_first: usize,
    /// Extra function environment (`FROCKET_WORKER_DEBUG_DELAY_MS`, S3 settings, ...).
    pub env: Vec<(String, String)>,
    /// When the invoker declares an attempt without progress lost.
    pub lost_after: Duration,
    pub max_attempts: u32,
    pub timeout: Duration,
}

impl Default for LambdaSetup {
    fn default() -> Self {
        LambdaSetup {
            concurrency: 4,
            throttle_first: 0,
            env: Vec::new(),
            lost_after: Duration::from_secs(5),
            max_attempts: 3,
            timeout: Duration::from_secs(60),
        }
    }
}

pub struct LambdaStack {
    pub redis_server: RedisServer,
    pub redis: RedisStore,
    pub emulator: LambdaEmulator,
    pub exec: LambdaExecutor,
    /// How `exec` invokes the function (to build other executors, e.g. self-selecting ones).
    pub lambda_config: LambdaConfig,
    pub stores: Stores,
    pub opts: JobOptions,
}

impl LambdaStack {
    pub async fn start(setup: LambdaSetup) -> LambdaStack {
        let redis_server = RedisServer::start();
        let redis = RedisStore::connect(&RedisConfig {
            url: redis_server.url(),
            prefix: "frocket:".into(),
            request_ttl: Duration::from_secs(300),
        })
        .await
        .expect("connect to the test Redis");
        let emulator = LambdaEmulator::start().await;
        let mut spec = FunctionSpec::new(FUNCTION, lambda_binary());
        spec.concurrency = setup.concurrency;
        spec.throttle_first = setup.throttle_first;
        spec.env = vec![
            ("FROCKET_REDIS_URL".into(), redis_server.url()),
            ("FROCKET_WORKER_HEARTBEAT_INTERVAL".into(), "0.5".into()),
            ("FROCKET_LOG_LEVEL".into(), "info".into()),
        ];
        spec.env.extend(setup.env.iter().cloned());
        emulator.deploy(spec);
        let cfg = LambdaConfig {
            function: FUNCTION.into(),
            concurrency: 8,
            legacy_async: false,
            endpoint_url: Some(emulator.endpoint.clone()),
            region: Some("us-east-1".into()),
            credentials: Some(("testing".into(), "testing".into())),
        };
        let exec = LambdaExecutor::on_lambda(redis.clone(), cfg.clone(), setup.lost_after).await;
        let opts = JobOptions::new(setup.max_attempts, setup.timeout);
        LambdaStack { redis_server, redis, emulator, exec, lambda_config: cfg, stores: Stores::local_only(), opts }
    }

    pub async fn register(&self, args: &RegisterArgs) -> Result<RegistrationJobResult, InvokerError> {
        invoker::register_dataset(&self.stores, &self.redis, &self.exec, args, &self.opts, None).await
    }

    pub async fn query(&self, name: &str, q: &serde_json::Value) -> Result<QueryJobResult, InvokerError> {
        invoker::run_query_job(&self.redis, &self.exec, name, q, &self.opts, None).await
    }
}
