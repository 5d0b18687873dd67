//! `frocket-lambda`: the AWS Lambda worker, packaged as the function's `bootstrap`
//! (`cargo xtask build-lambda`). Configured like every Funnel Rocket process (`FROCKET_*`,
//! docs/lambda.md); Lambda's own variables say the memory and name. Init (configuration, the
//! Redis connection, the part loader) happens once per instance; every invocation then runs one
//! task with [`worker::lambda::LambdaWorker`].

use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;
use storage::Stores;
use storage::redis::RedisStore;
use storage::s3::LazyS3Store;
use worker::lambda::{LambdaEnv, LambdaWorker, vcpus_for_memory};
use worker::shell::{ShellConfig, TaskShell};
use worker::{LoaderConfig, PartLoader, Worker};

/// Large column buffers are allocated and freed per part: mimalloc, as in `frocket`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FROCKET_LOG_LEVEL")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,aws_config=error,aws_smithy_runtime=error"));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_env_filter(filter)
        .with_target(false)
        .init();
}

/// Everything an instance builds once: configuration, Redis, the part loader and its caches.
async fn init(env: LambdaEnv, started: Instant) -> Result<Arc<LambdaWorker>, Error> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    // Lambda's only writable disk is /tmp (the emulator gives each instance its own TMPDIR);
    // the memory cache defaults to a quarter of the function's memory.
    let home = std::env::temp_dir().join("frocket").display().to_string();
    let memory_cache = (env.memory_mb / 4).to_string();
    let config = settings::Config::from_lookup(&|k| match k {
        "FROCKET_HOME" => var(k).or_else(|| Some(home.clone())),
        "FROCKET_WORKER_MEMORY_CACHE_SIZE_MB" => var(k).or_else(|| Some(memory_cache.clone())),
        _ => var(k),
    })?;
    let redis_config = config
        .resolved_redis_config()
        .await?
        .ok_or("the Lambda worker reports through Redis: set FROCKET_REDIS_URL (or FROCKET_REDIS_HOST)")?;
    let redis = RedisStore::connect(&redis_config).await?;
    let stores = Stores::with_s3(Arc::new(LazyS3Store::new(config.s3_config())));
    let loader = PartLoader::new(
        stores,
        &LoaderConfig {
            cache_dir: Some(config.cache_dir()),
            disk_cache_bytes: config.disk_cache_bytes,
            memory_cache_bytes: config.memory_cache_bytes,
            // An instance runs one task at a time: one thread keeps its working memory warm.
            threads: 1,
        },
    )?;
    let instance = var("AWS_LAMBDA_LOG_STREAM_NAME").unwrap_or_else(|| std::process::id().to_string());
    let name = format!("lambda:{}:{instance}", env.function_name);
    let shell = TaskShell { worker: Worker::new(loader), redis, cfg: ShellConfig::from_settings(&config, name) };
    tracing::info!(
        function = %env.function_name,
        memory_mb = env.memory_mb,
        vcpus = vcpus_for_memory(env.memory_mb),
        architecture = env.architecture,
        init_ms = started.elapsed().as_millis() as u64,
        "instance ready"
    );
    Ok(Arc::new(LambdaWorker::new(shell, env, started.elapsed())))
}

async fn serve(env: LambdaEnv, started: Instant) -> Result<(), Error> {
    let lw = init(env, started).await?;
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<serde_json::Value>| {
        let lw = lw.clone();
        async move {
            let payload = serde_json::to_string(&ev.payload)?;
            lw.invoke(&payload, &ev.context.request_id).await.map_err(Error::from)
        }
    }))
    .await
}

fn main() -> ExitCode {
    let started = Instant::now();
    init_logging();
    let env = match LambdaEnv::from_lookup(&|k| std::env::var(k).ok()) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(1);
        }
    };
    let threads = vcpus_for_memory(env.memory_mb);
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(serve(env, started)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("the Lambda worker stopped: {e}");
            ExitCode::from(1)
        }
    }
}
