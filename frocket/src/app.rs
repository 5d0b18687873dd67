//! The stack a command runs on, built once from the configuration: blob stores, the datastore
//! and task executor of the execution mode (embedded, or the Redis work queue), this process's
//! worker, metrics. Commands borrow it; it knows nothing of them.

use crate::embedded::EmbeddedExecutor;
use crate::error::CliError;
use crate::output;
use anyhow::Context;
use invoker::cost::LambdaPrices;
use invoker::lambda::{LambdaConfig, LambdaExecutor};
use invoker::queue::QueueExecutor;
use invoker::{JobOptions, ProgressFn, TaskExecutor};
use settings::Config;
use std::sync::Arc;
use storage::embedded::EmbeddedDatastore;
use storage::redis::RedisStore;
use storage::s3::LazyS3Store;
use storage::{Datastore, Stores};
use worker::{LoaderConfig, PartLoader, Worker};

pub struct App {
    pub config: Config,
    pub stores: Stores,
    pub datastore: Arc<dyn Datastore>,
    pub executor: Arc<dyn TaskExecutor>,
    /// The worker of this process (embedded mode runs tasks on it; `frocket worker` serves it).
    pub worker: Arc<Worker>,
    pub redis: Option<RedisStore>,
    pub metrics: Arc<invoker::metrics::Metrics>,
    pub quiet: bool,
}

impl App {
    /// Builds the stack. A bad configuration is a usage error; an unreachable Redis or an
    /// unusable local store is a service failure.
    pub async fn new(config: Config, quiet: bool) -> Result<App, CliError> {
        let stores = Stores::with_s3(Arc::new(LazyS3Store::new(config.s3_config())));
        let loader = PartLoader::new(
            stores.clone(),
            &LoaderConfig {
                cache_dir: Some(config.cache_dir()),
                disk_cache_bytes: config.disk_cache_bytes,
                memory_cache_bytes: config.memory_cache_bytes,
                // Embedded: as many threads as tasks run at once (a queue worker runs one).
                threads: config.workers,
            },
        )
        .context("set up the part loader")?;
        let worker = Worker::new(loader);
        let redis_config = config.resolved_redis_config().await.context("read the Redis AUTH token")?;
        let (datastore, executor, redis): (Arc<dyn Datastore>, Arc<dyn TaskExecutor>, _) = match redis_config {
            None => {
                let ds = EmbeddedDatastore::open(config.datastore_dir())
                    .with_context(|| format!("open the local datastore in {}", config.datastore_dir().display()))?;
                let exec = EmbeddedExecutor { worker: worker.clone(), concurrency: config.workers };
                (Arc::new(ds), Arc::new(exec), None)
            }
            Some(redis_config) => {
                let redis = RedisStore::connect(&redis_config).await.context("connect to Redis")?;
                let exec: Arc<dyn TaskExecutor> = match &config.lambda {
                    None => Arc::new(
                        QueueExecutor::on_queue(redis.clone(), &config.queue, config.lost_after)
                            .with_self_selection(config.self_select),
                    ),
                    Some(l) => {
                        let cfg = LambdaConfig {
                            function: l.function.clone(),
                            concurrency: l.concurrency,
                            legacy_async: l.legacy_async,
                            endpoint_url: l.endpoint_url.clone(),
                            region: l.region.clone(),
                            credentials: None,
                        };
                        Arc::new(
                            LambdaExecutor::on_lambda(redis.clone(), cfg, config.lost_after)
                                .await
                                .with_self_selection(config.self_select),
                        )
                    }
                };
                (Arc::new(redis.clone()), exec, Some(redis))
            }
        };
        let metrics = Arc::new(invoker::metrics::Metrics::new());
        Ok(App { config, stores, datastore, executor, worker, redis, metrics, quiet })
    }

    /// Attempts, deadline and metrics of every job this process runs.
    pub fn job_options(&self) -> JobOptions {
        let prices = self.config.lambda.as_ref().map_or_else(LambdaPrices::default, |l| LambdaPrices {
            per_gb_second: l.price_per_gb_second,
            per_million_requests: l.price_per_million_requests,
        });
        JobOptions {
            max_attempts: self.config.max_attempts,
            timeout: self.config.run_timeout,
            metrics: Some(self.metrics.clone()),
            prices,
        }
    }

    /// Writes the recorded metrics to `FROCKET_METRICS_EXPORT_LASTRUN`, when set.
    pub fn export_metrics(&self) {
        if let Some(path) = &self.config.metrics_lastrun {
            let text = self.metrics.export();
            if let Err(e) = storage::embedded::write_atomic(path, text.as_bytes()) {
                tracing::warn!("could not write metrics to {}: {e}", path.display());
            }
        }
    }

    /// A progress bar of tasks on stderr, unless quiet or printing JSON.
    pub fn progress(&self, what: &str, json: bool) -> Option<(ProgressFn, indicatif::ProgressBar)> {
        if self.quiet || json {
            return None;
        }
        let bar = output::progress_bar(what);
        let b = bar.clone();
        let what = what.to_string();
        let f: ProgressFn = Arc::new(move |p| {
            b.set_length(p.total as u64);
            b.set_position(p.succeeded as u64);
            if p.failed_attempts > 0 {
                b.set_message(format!("{what} ({} failed attempts)", p.failed_attempts));
            }
        });
        Some((f, bar))
    }
}
