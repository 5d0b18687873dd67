//! Command handlers: build the embedded stack from the config, run the command, print, and
//! map the outcome to an exit code.

use crate::config::Config;
use crate::embedded::EmbeddedExecutor;
use crate::output;
use crate::{Cli, Command, DataprepCommand};
use anyhow::{Context, Result};
use invoker::TaskExecutor;
use invoker::queue::QueueExecutor;
use invoker::{InvokerError, ProgressFn, QueryJobOptions, RegisterArgs, ValidationMode};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use storage::embedded::EmbeddedDatastore;
use storage::redis::{RedisConfig, RedisStore};
use storage::s3::{LazyS3Store, S3Config};
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

/// Exit codes.
pub const OK: u8 = 0;
pub const JOB_FAILED: u8 = 1;
pub const USAGE: u8 = 2;

impl App {
    pub async fn new(quiet: bool) -> Result<App> {
        let config = Config::from_env().context("read configuration")?;
        let s3 = LazyS3Store::new(S3Config {
            endpoint_url: config.s3_endpoint.clone(),
            region: config.s3_region.clone(),
            force_path_style: config.s3_force_path_style,
            credentials: None,
        });
        let stores = Stores::with_s3(Arc::new(s3));
        let loader = PartLoader::new(
            stores.clone(),
            &LoaderConfig {
                cache_dir: Some(config.cache_dir()),
                disk_cache_bytes: config.disk_cache_bytes,
                memory_cache_bytes: config.memory_cache_bytes,
            },
        )
        .context("set up the part loader")?;
        let worker = Worker::new(loader);
        let (datastore, executor, redis): (Arc<dyn Datastore>, Arc<dyn TaskExecutor>, _) = match &config.redis_url {
            None => {
                let ds = EmbeddedDatastore::open(config.datastore_dir())
                    .with_context(|| format!("open the local datastore in {}", config.datastore_dir().display()))?;
                let exec = EmbeddedExecutor { worker: worker.clone(), concurrency: config.workers };
                (Arc::new(ds), Arc::new(exec), None)
            }
            Some(url) => {
                let redis = RedisStore::connect(&RedisConfig {
                    url: url.clone(),
                    prefix: config.redis_prefix.clone(),
                    request_ttl: Duration::from_secs_f64(config.run_timeout * 2.0 + 60.0),
                })
                .await
                .context("connect to Redis")?;
                let exec = QueueExecutor::new(redis.clone(), &config.queue, Duration::from_secs_f64(config.lost_after))
                    .with_self_selection(config.self_select);
                (Arc::new(redis.clone()), Arc::new(exec), Some(redis))
            }
        };
        let metrics = Arc::new(invoker::metrics::Metrics::new());
        Ok(App { config, stores, datastore, executor, worker, redis, metrics, quiet })
    }

    pub fn query_options(&self) -> QueryJobOptions {
        QueryJobOptions {
            max_attempts: self.config.max_attempts,
            timeout_seconds: self.config.run_timeout,
            metrics: Some(self.metrics.clone()),
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

    fn progress(&self, what: &str, json: bool) -> (Option<ProgressFn>, Option<indicatif::ProgressBar>) {
        if self.quiet || json {
            return (None, None);
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
        (Some(f), Some(bar))
    }
}

/// Prints an invoker error the way the output mode wants; returns the exit code.
fn report(e: &InvokerError, json: bool) -> u8 {
    let code = if e.is_usage_error() { USAGE } else { JOB_FAILED };
    if json {
        let body = match e {
            InvokerError::Validation(v) => json!({"success": false, "errors": v.errors}),
            other => json!({"success": false, "errorMessage": other.to_string()}),
        };
        println!("{}", serde_json::to_string_pretty(&body).unwrap_or_default());
    } else {
        match e {
            InvokerError::Validation(v) => {
                eprintln!("error: the query is invalid ({} problems):", v.errors.len());
                for x in &v.errors {
                    let at = if x.path.is_empty() { "(query)".to_string() } else { x.path.clone() };
                    eprintln!("  {at}: {} [{}]", x.message, x.kind);
                }
            }
            other => eprintln!("error: {other}"),
        }
    }
    code
}

fn read_query(file: Option<&Path>, string: Option<&str>, empty: bool) -> Result<Value, (String, u8)> {
    let text = match (file, string, empty) {
        (Some(f), _, _) if f.as_os_str() == "-" => {
            std::io::read_to_string(std::io::stdin()).map_err(|e| (format!("read query from stdin: {e}"), USAGE))?
        }
        (Some(f), _, _) => {
            std::fs::read_to_string(f).map_err(|e| (format!("read query file {}: {e}", f.display()), USAGE))?
        }
        (None, Some(s), _) => s.to_string(),
        (None, None, true) => "{}".to_string(),
        _ => {
            return Err(("give the query with --file, --string or --empty".into(), USAGE));
        }
    };
    serde_json::from_str(&text).map_err(|e| (format!("the query is not valid JSON: {e}"), USAGE))
}

pub async fn run_query(app: &App, name: &str, query: &Value, json: bool) -> u8 {
    let (progress, bar) = app.progress("parts", json);
    let opts = app.query_options();
    let res = invoker::run_query_job(&*app.datastore, &*app.executor, name, query, &opts, progress).await;
    app.export_metrics();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    match res {
        Ok(v) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                print!("{}", output::query_summary(name, &v));
            }
            OK
        }
        Err(e) => report(&e, json),
    }
}

/// An error that has no invoker error behind it, in the output mode's form.
fn print_error(msg: &str, json: bool) {
    if json {
        println!("{}", json!({"success": false, "errorMessage": msg}));
    } else {
        eprintln!("error: {msg}");
    }
}

/// The part of a result that must not change between runs (stats hold timings).
fn answer(v: &Value) -> Value {
    json!({"query": v.get("query"), "funnel": v.get("funnel")})
}

/// `frocket run --repeat N`: N runs in this process, each timed (wall clock, whole job); the
/// JSON form also gives the process's peak resident memory.
pub async fn run_query_repeated(app: &App, name: &str, query: &Value, json: bool, repeat: u32) -> u8 {
    let opts = app.query_options();
    let mut seconds = Vec::with_capacity(repeat as usize);
    let mut last: Option<Value> = None;
    for i in 0..repeat {
        let t = std::time::Instant::now();
        let res = invoker::run_query_job(&*app.datastore, &*app.executor, name, query, &opts, None).await;
        seconds.push(t.elapsed().as_secs_f64());
        let v = match res {
            Ok(v) => v,
            Err(e) => return report(&e, json),
        };
        if let Some(prev) = &last
            && answer(prev) != answer(&v)
        {
            print_error(&format!("run {} returned a different result than run {i}", i + 1), json);
            return JOB_FAILED;
        }
        last = Some(v);
    }
    app.export_metrics();
    let v = last.unwrap_or_default();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"seconds": seconds, "peakMemoryBytes": crate::prep::peak_memory_bytes(), "result": v})
            )
            .unwrap_or_default()
        );
    } else {
        print!("{}", output::query_summary(name, &v));
        print!("{}", output::run_times(&seconds));
    }
    OK
}

async fn register(app: &App, args: RegisterArgs, json: bool) -> u8 {
    let (progress, bar) = app.progress("validating parts", json);
    let res = invoker::register_dataset(&app.stores, &*app.datastore, &*app.executor, &args, progress).await;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    match res {
        Ok(r) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
            } else {
                println!(
                    "Registered dataset '{}': {} parts at {} (group id '{}', timestamp '{}'); validated parts {:?}",
                    r.dataset.id.name,
                    r.dataset.total_parts,
                    r.dataset.basepath,
                    r.dataset.group_id_column,
                    r.dataset.timestamp_column,
                    r.validated_parts
                );
            }
            OK
        }
        Err(e) => report(&e, json),
    }
}

async fn dispatch(app: &App, command: Command) -> Result<u8> {
    Ok(match command {
        Command::Register {
            name,
            basepath,
            group_id_column,
            timestamp_column,
            pattern,
            parts,
            validation,
            skip_uniques,
            skip_validation,
            revision,
            json,
        } => {
            let mut args = RegisterArgs::new(&name, &basepath, &group_id_column, &timestamp_column);
            args.pattern = pattern;
            args.parts = parts;
            args.validation = ValidationMode::parse(&validation).unwrap_or(ValidationMode::Sample);
            args.validate_uniques = !skip_uniques;
            args.skip_validation = skip_validation;
            args.revision = revision;
            args.timeout_seconds = app.config.run_timeout;
            register(app, args, json).await
        }
        Command::Unregister { name, force, json } => {
            match invoker::unregister_dataset(&*app.datastore, &name, force, app.config.unregister_interval).await {
                Ok(o) => {
                    if json {
                        println!("{}", serde_json::to_string_pretty(&o)?);
                    } else if let Some(m) = &o.error_message {
                        eprintln!("error: {m}");
                    } else if o.dataset_found {
                        println!("Unregistered dataset '{name}' (its files were not touched)");
                    } else {
                        println!("Dataset '{name}' was not registered");
                    }
                    if o.success { OK } else { JOB_FAILED }
                }
                Err(e) => report(&e, json),
            }
        }
        Command::List { json } => {
            let list = app.datastore.datasets().await.context("list datasets")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                print!("{}", output::dataset_table(&list));
            }
            OK
        }
        Command::Info { name, full, json } => match app.datastore.dataset(&name).await.context("read dataset")? {
            None => report(&InvokerError::DatasetNotFound(name), json),
            Some(rec) => {
                if json {
                    let schema = if full {
                        serde_json::to_value(&rec.schema)?
                    } else {
                        serde_json::to_value(rec.schema.short())?
                    };
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&json!({"info": rec.info, "parts": rec.parts, "schema": schema}))?
                    );
                } else {
                    print!("{}", output::dataset_info(&rec, full));
                }
                OK
            }
        },
        Command::Run { name, file, string, empty, json, repeat } => {
            match read_query(file.as_deref(), string.as_deref(), empty) {
                Ok(q) if repeat > 1 => run_query_repeated(app, &name, &q, json, repeat).await,
                Ok(q) => run_query(app, &name, &q, json).await,
                Err((msg, code)) => {
                    print_error(&msg, json);
                    code
                }
            }
        }
        Command::Config { json } => {
            let mut settings = app.config.settings.clone();
            settings.insert(
                "datastore".into(),
                crate::config::Setting { value: app.datastore.describe(), source: "derived from mode".into() },
            );
            if json {
                let m: serde_json::Map<String, Value> =
                    settings.iter().map(|(k, s)| (k.clone(), json!({"value": s.value, "source": s.source}))).collect();
                println!("{}", serde_json::to_string_pretty(&m)?);
            } else {
                print!("{}", output::config_table(&settings));
            }
            OK
        }
        Command::Demo { dir, rows, parts, json } => crate::demo::run(app, &dir, rows, parts, json).await?,
        Command::Worker => crate::serve::worker(app).await?,
        Command::Dataprep(DataprepCommand::Retailrocket {
            input,
            output,
            parts,
            skip_bad_lines,
            upload,
            register,
            force,
        }) => crate::prep::retailrocket(app, &input, &output, parts, skip_bad_lines, upload, register, force).await?,
        Command::Dataprep(cmd) => crate::prep::run_with_remote_inputs(app, cmd).await?,
    })
}

pub async fn run(cli: Cli) -> u8 {
    let app = match App::new(cli.quiet).await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e:#}");
            return USAGE;
        }
    };
    match dispatch(&app, cli.command).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            JOB_FAILED
        }
    }
}
