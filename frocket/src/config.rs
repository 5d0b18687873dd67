//! The CLI's configuration: read once from the environment, validated, and printable with the
//! source of every value (`frocket config`). Names follow 0.5.3 (`FROCKET_*`) where they exist.

use anyhow::{Result, bail};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub value: String,
    /// `env VAR` or `default`.
    pub source: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub home: PathBuf,
    pub s3_endpoint: Option<String>,
    pub s3_region: Option<String>,
    pub s3_force_path_style: bool,
    pub disk_cache_bytes: u64,
    pub memory_cache_bytes: u64,
    pub workers: usize,
    pub unregister_interval: u64,
    pub max_attempts: u32,
    pub settings: BTreeMap<String, Setting>,
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
                self.settings.insert(
                    key.into(),
                    Setting {
                        value: x.clone(),
                        source: format!("env {v}"),
                    },
                );
                return Some(x);
            }
        }
        if let Some(d) = &default {
            self.settings.insert(
                key.into(),
                Setting {
                    value: d.clone(),
                    source: "default".into(),
                },
            );
        }
        default
    }

    fn number<T: std::str::FromStr + ToString>(
        &mut self,
        key: &str,
        vars: &[&str],
        default: T,
    ) -> Result<T> {
        let raw = self
            .get(key, vars, Some(default.to_string()))
            .unwrap_or_default();
        match raw.replace('_', "").parse() {
            Ok(v) => Ok(v),
            Err(_) => bail!(
                "invalid value {raw:?} for {key} (from {}): expected a number",
                self.settings[key].source
            ),
        }
    }
}

impl Config {
    pub fn from_env() -> Result<Config> {
        Config::from_lookup(&|k| std::env::var(k).ok())
    }

    pub fn from_lookup(env: &dyn Fn(&str) -> Option<String>) -> Result<Config> {
        let mut r = Reader {
            env,
            settings: BTreeMap::new(),
        };
        if let Some(url) = r.get("redis.url", &["FROCKET_REDIS_URL"], None) {
            bail!(
                "FROCKET_REDIS_URL is set ({url}), but distributed execution over Redis is not available in this build yet; unset it to use the embedded mode"
            );
        }
        let default_home = dirs::data_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("frocket");
        let home = PathBuf::from(
            r.get(
                "home",
                &["FROCKET_HOME"],
                Some(default_home.display().to_string()),
            )
            .unwrap_or_default(),
        );
        let s3_endpoint = r.get(
            "s3.endpoint_url",
            &[
                "FROCKET_S3_ENDPOINT_URL",
                "FROCKET_S3_AWS_ENDPOINT_URL",
                "AWS_ENDPOINT_URL_S3",
                "AWS_ENDPOINT_URL",
            ],
            None,
        );
        let s3_region = r.get(
            "s3.region",
            &["FROCKET_S3_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"],
            None,
        );
        let path_style = r
            .get(
                "s3.force_path_style",
                &["FROCKET_S3_FORCE_PATH_STYLE"],
                Some((s3_endpoint.is_some()).to_string()),
            )
            .unwrap_or_default();
        let s3_force_path_style = match path_style.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            other => {
                bail!("invalid value {other:?} for s3.force_path_style: expected true or false")
            }
        };
        let disk_mb: u64 = r.number(
            "worker.disk_cache_size_mb",
            &["FROCKET_WORKER_DISK_CACHE_SIZE_MB"],
            256,
        )?;
        let mem_mb: u64 = r.number(
            "worker.memory_cache_size_mb",
            &["FROCKET_WORKER_MEMORY_CACHE_SIZE_MB"],
            0,
        )?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let workers: usize = r.number("embedded.workers", &["FROCKET_EMBEDDED_WORKERS"], cores)?;
        if workers == 0 {
            bail!("embedded.workers must be at least 1");
        }
        let unregister_interval = r.number(
            "unregister.last_used_interval",
            &["FROCKET_UNREGISTER_LAST_USED_INTERVAL"],
            30,
        )?;
        let max_attempts: u32 = r.number(
            "invoker.retry.max_attempts",
            &["FROCKET_INVOKER_RETRY_MAX_ATTEMPTS"],
            3,
        )?;
        if max_attempts == 0 {
            bail!("invoker.retry.max_attempts must be at least 1");
        }
        r.settings.insert(
            "mode".into(),
            Setting {
                value: "embedded".into(),
                source: "default (no FROCKET_REDIS_URL)".into(),
            },
        );
        Ok(Config {
            home,
            s3_endpoint,
            s3_region,
            s3_force_path_style,
            disk_cache_bytes: disk_mb << 20,
            memory_cache_bytes: mem_mb << 20,
            workers,
            unregister_interval,
            max_attempts,
            settings: r.settings,
        })
    }

    pub fn datastore_dir(&self) -> PathBuf {
        self.home.join("datasets")
    }
    pub fn cache_dir(&self) -> PathBuf {
        self.home.join("cache")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(vars: &[(&str, &str)]) -> Result<Config> {
        let m: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
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
        let c = cfg(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("FROCKET_WORKER_DISK_CACHE_SIZE_MB", "1_024"),
        ])
        .unwrap();
        assert!(
            c.s3_force_path_style,
            "custom endpoints default to path style"
        );
        assert_eq!(c.disk_cache_bytes, 1024 << 20);
        let c = cfg(&[
            ("FROCKET_S3_ENDPOINT_URL", "http://a"),
            ("AWS_ENDPOINT_URL", "http://b"),
            ("FROCKET_HOME", ""),
        ])
        .unwrap();
        assert_eq!(
            c.s3_endpoint.as_deref(),
            Some("http://a"),
            "FROCKET_ wins; empty values ignored"
        );
    }

    #[test]
    fn bad_values_are_clear_errors() {
        let e = cfg(&[("FROCKET_WORKER_DISK_CACHE_SIZE_MB", "lots")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("worker.disk_cache_size_mb")
                && e.contains("FROCKET_WORKER_DISK_CACHE_SIZE_MB"),
            "{e}"
        );
        assert!(cfg(&[("FROCKET_S3_FORCE_PATH_STYLE", "maybe")]).is_err());
        assert!(cfg(&[("FROCKET_EMBEDDED_WORKERS", "0")]).is_err());
        assert!(
            cfg(&[("FROCKET_REDIS_URL", "redis://x")])
                .unwrap_err()
                .to_string()
                .contains("embedded")
        );
    }
}
