//! Funnel Rocket's configuration, shared by every binary (the `frocket` CLI, its worker and
//! server commands, the Lambda worker): read once from the environment in `main`, validated,
//! and printable with the source of every value (`frocket config`). Names follow 0.5.3
//! (`FROCKET_*`) where they exist. The reading itself is pure (`Config::from_lookup`), so it is
//! tested without touching the process environment.

pub mod deployed;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// A mebibyte: every `*_MB` setting counts in MiB.
pub const MIB: u64 = 1 << 20;

/// A configuration value that cannot be used: which setting, from where, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

type Result<T> = std::result::Result<T, SettingsError>;

macro_rules! bail {
    ($($arg:tt)*) => { return Err(SettingsError(format!($($arg)*))) };
}

#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub value: String,
    /// `env VAR` or `default`.
    pub source: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Redis URL (distributed `work_queue` mode), `None` for embedded mode.
    pub redis_url: Option<String>,
    /// A Secrets Manager secret (name or ARN) holding the Redis AUTH token (deployed stacks,
    /// docs/deploy.md); read at start-up by [`Config::resolved_redis_config`].
    pub redis_auth_secret: Option<String>,
    pub redis_prefix: String,
    pub queue: String,
    /// A job (query or registration) fails when it takes longer.
    pub run_timeout: Duration,
    /// An attempt without progress (status or heartbeat) for this long is lost and retried.
    pub lost_after: Duration,
    /// Workers reject requests older than this.
    pub reject_age: Duration,
    pub heartbeat: Duration,
    /// Fault-testing knob: workers sleep this long before each task.
    pub debug_delay: Option<Duration>,
    /// Fault-testing knob: workers panic inside tasks whose attempt number is below this.
    pub debug_panic_attempts: u32,
    /// Where to write the last job's metrics (Prometheus text format).
    pub metrics_lastrun: Option<PathBuf>,
    /// Workers choose the parts of first attempts, preferring cached ones (queue mode).
    pub self_select: bool,
    pub preflight: Duration,
    pub home: PathBuf,
    pub s3_endpoint: Option<String>,
    pub s3_region: Option<String>,
    pub s3_force_path_style: bool,
    pub disk_cache_bytes: u64,
    pub memory_cache_bytes: u64,
    pub workers: usize,
    /// Unregistering is refused this soon after the dataset was last queried (unless forced).
    pub unregister_interval: Duration,
    pub max_attempts: u32,
    /// `FROCKET_INVOKER=aws_lambda`: tasks run as asynchronous invocations of this function.
    pub lambda: Option<LambdaSettings>,
    pub settings: BTreeMap<String, Setting>,
}

/// The Lambda transport's settings (docs/lambda.md "Configuration").
#[derive(Debug, Clone, PartialEq)]
pub struct LambdaSettings {
    /// Function name, ARN or `name:alias` (`FROCKET_INVOKER_LAMBDA_NAME`, or `FROCKET_LAMBDA_NAME`).
    pub function: String,
    /// Invoke calls in flight at once (`FROCKET_INVOKER_LAMBDA_THREADS`, 20).
    pub concurrency: usize,
    /// Use the legacy `InvokeAsync` API instead of `Invoke` with `InvocationType=Event`.
    pub legacy_async: bool,
    /// Lambda API endpoint override (emulators): `FROCKET_LAMBDA_ENDPOINT_URL`,
    /// `AWS_ENDPOINT_URL_LAMBDA` or `AWS_ENDPOINT_URL`.
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
    /// Dollars per GB-second, overriding the built-in regional table.
    pub price_per_gb_second: Option<f64>,
    pub price_per_million_requests: f64,
}

impl LambdaSettings {
    fn read(r: &mut Reader<'_>) -> Result<LambdaSettings> {
        let function = r
            .get("lambda.name", &["FROCKET_INVOKER_LAMBDA_NAME", "FROCKET_LAMBDA_NAME"], Some("frocket".into()))
            .unwrap_or_default();
        let concurrency: usize = r.number("lambda.threads", &["FROCKET_INVOKER_LAMBDA_THREADS"], 20)?;
        if concurrency == 0 {
            bail!("lambda.threads (FROCKET_INVOKER_LAMBDA_THREADS) must be at least 1");
        }
        let legacy_async = r.flag("lambda.legacy_async", &["FROCKET_INVOKER_LAMBDA_LEGACY_ASYNC"], false)?;
        let endpoint_url = r.get(
            "lambda.endpoint_url",
            &[
                "FROCKET_LAMBDA_ENDPOINT_URL",
                "FROCKET_LAMBDA_AWS_ENDPOINT_URL",
                "AWS_ENDPOINT_URL_LAMBDA",
                "AWS_ENDPOINT_URL",
            ],
            None,
        );
        let region = r.get("lambda.region", &["FROCKET_LAMBDA_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"], None);
        let price = r.get("lambda.price_per_gb_second", &["FROCKET_LAMBDA_PRICE_PER_GB_SECOND"], None);
        let price_per_gb_second = match price {
            None => None,
            Some(p) => match p.trim().parse::<f64>() {
                Ok(x) if x.is_finite() && x >= 0.0 => Some(x),
                _ => bail!("invalid FROCKET_LAMBDA_PRICE_PER_GB_SECOND {p:?}: expected dollars, e.g. 0.0000133334"),
            },
        };
        let price_per_million_requests: f64 =
            r.number("lambda.price_per_million_requests", &["FROCKET_LAMBDA_PRICE_PER_MILLION_REQUESTS"], 0.20)?;
        if !(price_per_million_requests.is_finite() && price_per_million_requests >= 0.0) {
            bail!("lambda.price_per_million_requests must be a non-negative number of dollars");
        }
        Ok(LambdaSettings {
            function,
            concurrency,
            legacy_async,
            endpoint_url,
            region,
            price_per_gb_second,
            price_per_million_requests,
        })
    }
}

struct Reader<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    settings: BTreeMap<String, Setting>,
}

impl Reader<'_> {
    /// The first non-empty variable of `vars`, else the default.
    fn get(&mut self, key: &str, vars: &[&str], default: Option<String>) -> Option<String> {
        for v in vars {
            if let Some(x) = (self.env)(v).filter(|x| !x.trim().is_empty()) {
                self.settings.insert(key.into(), Setting { value: x.clone(), source: format!("env {v}") });
                return Some(x);
            }
        }
        if let Some(d) = &default {
            self.settings.insert(key.into(), Setting { value: d.clone(), source: "default".into() });
        }
        default
    }

    fn number<T: std::str::FromStr + ToString>(&mut self, key: &str, vars: &[&str], default: T) -> Result<T> {
        let raw = self.get(key, vars, Some(default.to_string())).unwrap_or_default();
        match raw.replace('_', "").parse() {
            Ok(v) => Ok(v),
            Err(_) => bail!("invalid value {raw:?} for {key} (from {}): expected a number", self.settings[key].source),
        }
    }

    /// `true`/`false` (also `1`/`0`, `yes`/`no`).
    fn flag(&mut self, key: &str, vars: &[&str], default: bool) -> Result<bool> {
        let raw = self.get(key, vars, Some(default.to_string())).unwrap_or_default();
        match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => bail!("invalid value {raw:?} for {key} (from {}): expected true or false", self.settings[key].source),
        }
    }

    /// A duration given in (possibly fractional) seconds; must be positive and finite.
    fn seconds(&mut self, key: &str, vars: &[&str], default: f64) -> Result<Duration> {
        let secs: f64 = self.number(key, vars, default)?;
        match Duration::try_from_secs_f64(secs) {
            Ok(d) if !d.is_zero() => Ok(d),
            _ => {
                bail!("invalid value {secs} for {key} (from {}): expected positive seconds", self.settings[key].source)
            }
        }
    }

    /// A duration given in whole milliseconds (0 allowed).
    fn millis(&mut self, key: &str, vars: &[&str], default: u64) -> Result<Duration> {
        Ok(Duration::from_millis(self.number(key, vars, default)?))
    }
}

impl Config {
    pub fn from_env() -> Result<Config> {
        Config::from_lookup(&|k| std::env::var(k).ok())
    }

    pub fn from_lookup(env: &dyn Fn(&str) -> Option<String>) -> Result<Config> {
        let mut r = Reader { env, settings: BTreeMap::new() };
        // Redis: a URL, or the host/port/db names of 0.5.3 deployments.
        let mut redis_url = r.get("redis.url", &["FROCKET_REDIS_URL", "FROCKET_DATASTORE_REDIS_URL"], None);
        if redis_url.is_none() {
            let host = r.get("redis.host", &["FROCKET_DATASTORE_REDIS_HOST", "FROCKET_REDIS_HOST"], None);
            let port = r.get("redis.port", &["FROCKET_DATASTORE_REDIS_PORT", "FROCKET_REDIS_PORT"], None);
            let db = r.get("redis.db", &["FROCKET_DATASTORE_REDIS_DB", "FROCKET_REDIS_DB"], None);
            if host.is_some() || port.is_some() {
                let port: u16 = port
                    .as_deref()
                    .unwrap_or("6379")
                    .parse()
                    .map_err(|_| SettingsError(format!("invalid FROCKET_REDIS_PORT {port:?}")))?;
                let db: u32 = db
                    .as_deref()
                    .unwrap_or("0")
                    .parse()
                    .map_err(|_| SettingsError(format!("invalid FROCKET_REDIS_DB {db:?}")))?;
                let pw = (r.env)("FROCKET_REDIS_PASSWORD").filter(|p| !p.is_empty());
                let auth = pw.map(|p| format!(":{p}@")).unwrap_or_default();
                // In-transit encryption (ElastiCache with TLS): `rediss://`.
                let tls = r.flag("redis.tls", &["FROCKET_REDIS_TLS"], false)?;
                let scheme = if tls { "rediss" } else { "redis" };
                redis_url = Some(format!("{scheme}://{auth}{}:{port}/{db}", host.as_deref().unwrap_or("localhost")));
            }
        }
        if let Some(u) = &redis_url {
            // Never show a password.
            let shown = storage::redis::redact(u);
            let src = r
                .settings
                .get("redis.url")
                .map(|s| s.source.clone())
                .unwrap_or_else(|| "FROCKET_REDIS_HOST/PORT/DB".into());
            r.settings.insert("redis.url".into(), Setting { value: shown, source: src });
        }
        let invoker = r.get("invoker", &["FROCKET_INVOKER"], Some("work_queue".into())).unwrap_or_default();
        let lambda = match invoker.as_str() {
            "work_queue" => None,
            "aws_lambda" if redis_url.is_none() => bail!(
                "FROCKET_INVOKER=aws_lambda needs Redis (FROCKET_REDIS_URL): Lambda workers report their results through it"
            ),
            "aws_lambda" => Some(LambdaSettings::read(&mut r)?),
            other => bail!("invalid FROCKET_INVOKER {other:?}: expected work_queue or aws_lambda"),
        };
        let selection =
            r.get("part_selection_mode", &["FROCKET_PART_SELECTION_MODE"], Some("invoker".into())).unwrap_or_default();
        if !matches!(selection.as_str(), "invoker" | "worker") {
            bail!("invalid FROCKET_PART_SELECTION_MODE {selection:?}: expected worker or invoker");
        }
        let self_select = selection == "worker";
        let preflight = r.millis("part_selection.preflight_ms", &["FROCKET_PART_SELECTION_PREFLIGHT_MS"], 200)?;
        let redis_prefix =
            r.get("redis.prefix", &["FROCKET_DATASTORE_REDIS_PREFIX"], Some("frocket:".into())).unwrap_or_default();
        let queue = r.get("queue", &["FROCKET_QUEUE"], Some("default".into())).unwrap_or_default();
        let run_timeout = r.seconds("invoker.run_timeout", &["FROCKET_INVOKER_RUN_TIMEOUT"], 60.0)?;
        let lost_after = r.seconds("invoker.retry.lost_interval", &["FROCKET_INVOKER_RETRY_LOST_INTERVAL"], 20.0)?;
        let reject_age = r.seconds("worker.reject_age", &["FROCKET_WORKER_REJECT_AGE"], 60.0)?;
        let heartbeat = r.seconds("worker.heartbeat_interval", &["FROCKET_WORKER_HEARTBEAT_INTERVAL"], 2.0)?;
        let debug_delay = r.millis("worker.debug_delay_ms", &["FROCKET_WORKER_DEBUG_DELAY_MS"], 0)?;
        let debug_delay = (!debug_delay.is_zero()).then_some(debug_delay);
        let debug_panic_attempts: u32 =
            r.number("worker.debug_panic_attempts", &["FROCKET_WORKER_DEBUG_PANIC_ATTEMPTS"], 0)?;
        let metrics_lastrun =
            r.get("metrics.export_lastrun", &["FROCKET_METRICS_EXPORT_LASTRUN"], None).map(PathBuf::from);
        let default_home = dirs::data_dir().unwrap_or_else(std::env::temp_dir).join("frocket");
        let home = PathBuf::from(
            r.get("home", &["FROCKET_HOME"], Some(default_home.display().to_string())).unwrap_or_default(),
        );
        let s3_endpoint = r.get(
            "s3.endpoint_url",
            &["FROCKET_S3_ENDPOINT_URL", "FROCKET_S3_AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"],
            None,
        );
        let redis_auth_secret =
            r.get("redis.auth_secret", &["FROCKET_REDIS_AUTH_SECRET_ARN"], None).filter(|s| !s.is_empty());
        let s3_region = r.get("s3.region", &["FROCKET_S3_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"], None);
        let path_style = r
            .get("s3.force_path_style", &["FROCKET_S3_FORCE_PATH_STYLE"], Some((s3_endpoint.is_some()).to_string()))
            .unwrap_or_default();
        let s3_force_path_style = match path_style.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            other => {
                bail!("invalid value {other:?} for s3.force_path_style: expected true or false")
            }
        };
        let disk_mb: u64 = r.number("worker.disk_cache_size_mb", &["FROCKET_WORKER_DISK_CACHE_SIZE_MB"], 256)?;
        let mem_mb: u64 = r.number("worker.memory_cache_size_mb", &["FROCKET_WORKER_MEMORY_CACHE_SIZE_MB"], 0)?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let workers: usize = r.number("embedded.workers", &["FROCKET_EMBEDDED_WORKERS"], cores)?;
        if workers == 0 {
            bail!("embedded.workers must be at least 1");
        }
        let unregister_interval = Duration::from_secs(r.number(
            "unregister.last_used_interval",
            &["FROCKET_UNREGISTER_LAST_USED_INTERVAL"],
            30,
        )?);
        let max_attempts: u32 = r.number("invoker.retry.max_attempts", &["FROCKET_INVOKER_RETRY_MAX_ATTEMPTS"], 3)?;
        if max_attempts == 0 {
            bail!("invoker.retry.max_attempts must be at least 1");
        }
        let mode = match (&redis_url, &lambda) {
            (Some(_), Some(_)) => Setting { value: "aws_lambda".into(), source: "env FROCKET_INVOKER".into() },
            (Some(_), None) => Setting { value: "work_queue".into(), source: "Redis configured".into() },
            (None, _) => Setting { value: "embedded".into(), source: "default (no FROCKET_REDIS_URL)".into() },
        };
        r.settings.insert("mode".into(), mode);
        Ok(Config {
            redis_url,
            redis_auth_secret,
            redis_prefix,
            queue,
            run_timeout,
            lost_after,
            reject_age,
            heartbeat,
            debug_delay,
            debug_panic_attempts,
            metrics_lastrun,
            self_select,
            preflight,
            home,
            s3_endpoint,
            s3_region,
            s3_force_path_style,
            disk_cache_bytes: disk_mb * MIB,
            memory_cache_bytes: mem_mb * MIB,
            workers,
            unregister_interval,
            max_attempts,
            lambda,
            settings: r.settings,
        })
    }

    pub fn datastore_dir(&self) -> PathBuf {
        self.home.join("datasets")
    }
    pub fn cache_dir(&self) -> PathBuf {
        self.home.join("cache")
    }

    /// The S3 client settings (credentials from the standard AWS chain).
    pub fn s3_config(&self) -> storage::s3::S3Config {
        storage::s3::S3Config {
            endpoint_url: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            force_path_style: self.s3_force_path_style,
            credentials: None,
        }
    }

    /// How to reach Redis (`None` in embedded mode). Request keys live for twice the run timeout
    /// plus a minute, so a late result of the slowest job still finds its keys, and nothing of
    /// a dead invoker's job outlives that.
    pub fn redis_config(&self) -> Option<storage::redis::RedisConfig> {
        self.redis_url.as_ref().map(|url| storage::redis::RedisConfig {
            url: url.clone(),
            prefix: self.redis_prefix.clone(),
            request_ttl: self.run_timeout * 2 + Duration::from_secs(60),
        })
    }

    /// [`Config::redis_config`] with the AUTH token from Secrets Manager put in the URL, when
    /// `FROCKET_REDIS_AUTH_SECRET_ARN` names one (the SDK's region and endpoint settings apply,
    /// `AWS_ENDPOINT_URL` included). The token is never logged.
    pub async fn resolved_redis_config(
        &self,
    ) -> std::result::Result<Option<storage::redis::RedisConfig>, storage::StorageError> {
        let Some(mut rc) = self.redis_config() else { return Ok(None) };
        if let Some(secret) = &self.redis_auth_secret {
            let sdk = storage::aws::sdk_config(self.s3_region.as_deref(), None, true).await;
            let token = storage::secrets::secret_string(&sdk, secret).await?;
            rc.url = storage::secrets::with_redis_password(&rc.url, token.trim())?;
        }
        Ok(Some(rc))
    }

    /// Where metadata lives, without connecting (`frocket config`).
    pub fn describe_datastore(&self) -> String {
        match &self.redis_url {
            Some(url) => storage::redis::describe(url, &self.redis_prefix),
            None => storage::embedded::describe(&self.datastore_dir()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(vars: &[(&str, &str)]) -> Result<Config> {
        let m: BTreeMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(&|k| m.get(k).cloned())
    }

    #[test]
    fn defaults_and_sources() {
        let c = cfg(&[("FROCKET_HOME", "/x")]).unwrap();
        assert_eq!(c.home, PathBuf::from("/x"));
        assert_eq!(c.settings["home"].source, "env FROCKET_HOME");
        assert_eq!(c.settings["worker.disk_cache_size_mb"].source, "default");
        assert_eq!(c.disk_cache_bytes, 256 << 20);
        assert!(!c.s3_force_path_style);
        let c = cfg(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"), ("FROCKET_WORKER_DISK_CACHE_SIZE_MB", "1_024")])
            .unwrap();
        assert!(c.s3_force_path_style, "custom endpoints default to path style");
        assert_eq!(c.disk_cache_bytes, 1024 << 20);
        let c = cfg(&[("FROCKET_S3_ENDPOINT_URL", "http://a"), ("AWS_ENDPOINT_URL", "http://b"), ("FROCKET_HOME", "")])
            .unwrap();
        assert_eq!(c.s3_endpoint.as_deref(), Some("http://a"), "FROCKET_ wins; empty values ignored");
    }

    #[test]
    fn bad_values_are_clear_errors() {
        let e = cfg(&[("FROCKET_WORKER_DISK_CACHE_SIZE_MB", "lots")]).unwrap_err().to_string();
        assert!(e.contains("worker.disk_cache_size_mb") && e.contains("FROCKET_WORKER_DISK_CACHE_SIZE_MB"), "{e}");
        assert!(cfg(&[("FROCKET_S3_FORCE_PATH_STYLE", "maybe")]).is_err());
        assert!(cfg(&[("FROCKET_EMBEDDED_WORKERS", "0")]).is_err());
        let e = cfg(&[("FROCKET_INVOKER", "aws_lambda")]).unwrap_err().to_string();
        assert!(e.contains("needs Redis") && e.contains("FROCKET_REDIS_URL"), "{e}");
        assert!(cfg(&[("FROCKET_INVOKER", "lambda")]).is_err());
        assert!(cfg(&[("FROCKET_INVOKER_RUN_TIMEOUT", "0")]).is_err());
        let e = cfg(&[("FROCKET_INVOKER_RETRY_LOST_INTERVAL", "-1")]).unwrap_err().to_string();
        assert!(e.contains("invoker.retry.lost_interval") && e.contains("positive seconds"), "{e}");
        assert!(cfg(&[("FROCKET_WORKER_HEARTBEAT_INTERVAL", "inf")]).is_err());
        let c = cfg(&[("FROCKET_INVOKER_RUN_TIMEOUT", "2.5"), ("FROCKET_WORKER_DEBUG_DELAY_MS", "40")]).unwrap();
        assert_eq!((c.run_timeout, c.debug_delay), (Duration::from_millis(2500), Some(Duration::from_millis(40))));
        assert_eq!(cfg(&[]).unwrap().debug_delay, None);
        assert!(cfg(&[("FROCKET_REDIS_PORT", "http")]).is_err());
    }

    #[test]
    fn redis_from_url_or_reference_names_and_never_shows_passwords() {
        let c = cfg(&[("FROCKET_REDIS_URL", "redis://:pw@h:1/2")]).unwrap();
        assert_eq!(c.redis_url.as_deref(), Some("redis://:pw@h:1/2"));
        assert_eq!(c.settings["redis.url"].value, "redis://***@h:1/2");
        assert_eq!(c.settings["mode"].value, "work_queue");
        let tls = cfg(&[("FROCKET_REDIS_HOST", "r.example"), ("FROCKET_REDIS_TLS", "true")]).unwrap();
        assert_eq!(tls.redis_url.as_deref(), Some("rediss://r.example:6379/0"));
        let c = cfg(&[("FROCKET_REDIS_HOST", "10.0.0.5"), ("FROCKET_REDIS_DB", "3"), ("FROCKET_REDIS_PASSWORD", "pw")])
            .unwrap();
        assert_eq!(c.redis_url.as_deref(), Some("redis://:pw@10.0.0.5:6379/3"));
        assert!(!c.settings.values().any(|s| s.value.contains("pw")), "no password in config output");
        let c =
            cfg(&[("FROCKET_PART_SELECTION_MODE", "worker"), ("FROCKET_PART_SELECTION_PREFLIGHT_MS", "50")]).unwrap();
        assert!(c.self_select && c.preflight == Duration::from_millis(50));
        assert!(cfg(&[("FROCKET_PART_SELECTION_MODE", "nobody")]).is_err());
        assert_eq!(cfg(&[]).unwrap().settings["mode"].value, "embedded");
    }

    #[test]
    fn lambda_mode_by_the_reference_names() {
        let c = cfg(&[("FROCKET_REDIS_URL", "redis://h:1/0"), ("FROCKET_INVOKER", "aws_lambda")]).unwrap();
        let l = c.lambda.clone().unwrap();
        assert_eq!((l.function.as_str(), l.concurrency, l.legacy_async), ("frocket", 20, false));
        assert_eq!((l.price_per_gb_second, l.price_per_million_requests), (None, 0.20));
        assert_eq!(c.settings["mode"].value, "aws_lambda");
        let c = cfg(&[
            ("FROCKET_REDIS_URL", "redis://h:1/0"),
            ("FROCKET_INVOKER", "aws_lambda"),
            ("FROCKET_LAMBDA_NAME", "arn:aws:lambda:eu-west-1:123:function:fr:live"),
            ("FROCKET_INVOKER_LAMBDA_THREADS", "64"),
            ("FROCKET_INVOKER_LAMBDA_LEGACY_ASYNC", "true"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9001"),
            ("AWS_REGION", "eu-west-1"),
            ("FROCKET_LAMBDA_PRICE_PER_GB_SECOND", "0.00001"),
        ])
        .unwrap();
        let l = c.lambda.unwrap();
        assert_eq!(l.function, "arn:aws:lambda:eu-west-1:123:function:fr:live");
        assert_eq!((l.concurrency, l.legacy_async), (64, true));
        assert_eq!(l.endpoint_url.as_deref(), Some("http://127.0.0.1:9001"));
        assert_eq!((l.region.as_deref(), l.price_per_gb_second), (Some("eu-west-1"), Some(0.00001)));
        assert_eq!(c.settings["lambda.name"].source, "env FROCKET_LAMBDA_NAME");
        let bad = |k: &str, v: &str| {
            cfg(&[("FROCKET_REDIS_URL", "redis://h:1/0"), ("FROCKET_INVOKER", "aws_lambda"), (k, v)]).unwrap_err()
        };
        assert!(bad("FROCKET_INVOKER_LAMBDA_THREADS", "0").to_string().contains("at least 1"));
        assert!(bad("FROCKET_INVOKER_LAMBDA_LEGACY_ASYNC", "sometimes").to_string().contains("true or false"));
        assert!(bad("FROCKET_LAMBDA_PRICE_PER_GB_SECOND", "-1").to_string().contains("dollars"));
        assert_eq!(cfg(&[("FROCKET_REDIS_URL", "redis://h:1/0")]).unwrap().lambda, None);
    }
}
