//! The container suite: Funnel Rocket on a private Docker network from the project's own images
//! (`integration_tests::containers`), and the faults only a network can make. Needs a Docker
//! Engine; `cargo xtask test` skips this binary when none is reachable (and fails under
//! `CI=true`). Recovery times are printed as `figure:` lines and recorded in
//! docs/reliability.md.

#[path = "../shared/mod.rs"]
mod shared;

mod faults;
mod pipeline;

use integration_tests::containers::Cluster;
use serde_json::Value;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

pub const FUNNEL: &str = include_str!("../../../frocket/queries/05-breakdown-funnel.json");
pub const AGGS: &str = r#"{"query": {"conditions": [{"filter": ["event", "==", "transaction"], "target": ["count", ">=", 2]}],
  "aggregations": [{"column": "categoryid", "type": "groupsPerValue", "top": 5}, {"column": "event", "type": "meanPerValue", "otherColumn": "price"}]}}"#;

/// A synth dataset of `parts` parts in `dir`.
pub fn synth(dir: &Path, parts: usize) {
    let cfg = dataprep::synth::SynthConfig { n_items: 2000, ..dataprep::synth::SynthConfig::new(24_000, parts) };
    dataprep::synth::generate_dataset(&cfg, dir, false).unwrap();
}

/// The answer of `q` over the local `dir` in embedded mode (no Redis, no containers).
pub fn embedded(dir: &Path, q: &str) -> Value {
    integration_tests::embedded_answer(&Cluster::frocket_bin(), dir, q)
}

/// The `frocket` CLI on this machine as the invoker of `c` (queue mode unless `env` says).
pub struct Invoker {
    pub env: Vec<(String, String)>,
    home: tempfile::TempDir,
}

/// What one CLI run gave.
#[derive(Debug)]
pub struct Outcome {
    pub code: Option<i32>,
    pub json: Value,
    pub took: Duration,
}

impl Invoker {
    pub fn new(env: Vec<(String, String)>) -> Invoker {
        Invoker { env, home: tempfile::tempdir().unwrap() }
    }

    pub fn command(&self, args: &[&str], extra: &[(&str, &str)]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(Cluster::frocket_bin());
        cmd.args(args).env("FROCKET_HOME", self.home.path()).env("FROCKET_INVOKER_RUN_TIMEOUT", "90");
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd.envs(extra.iter().copied());
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        cmd
    }

    pub async fn run(&self, args: &[&str], extra: &[(&str, &str)]) -> Outcome {
        outcome(self.command(args, extra)).await
    }

    pub async fn register(&self, url: &str) {
        let o = self.run(&["register", "d", url, "visitorid", "timestamp", "--json"], &[]).await;
        assert_eq!(o.code, Some(0), "register {url}: {}", o.json);
    }

    /// Starts `frocket run d --string q --json` and returns at once.
    pub fn spawn_query(&self, q: &str, extra: &[(&str, &str)]) -> tokio::task::JoinHandle<Outcome> {
        tokio::spawn(outcome(self.command(&["run", "d", "--string", q, "--json"], extra)))
    }
}

/// Runs `cmd` to its end: exit code, its JSON (or, when it printed none, its output as a
/// string for the failure message) and how long it took.
async fn outcome(mut cmd: tokio::process::Command) -> Outcome {
    let t = Instant::now();
    let out = cmd.output().await.unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        Value::String(format!(
            "stdout: {} stderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    });
    Outcome { code: out.status.code(), json, took: t.elapsed() }
}

/// Asserts that Redis comes to hold only the dataset records within 15 s (request keys are
/// deleted after each job, and a late result must not bring them back).
pub async fn assert_clean(c: &Cluster) {
    const ONLY: [&str; 2] = ["frocket:dataset_lastused", "frocket:datasets"];
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let keys = c.redis_keys().await;
        if keys == ONLY {
            return;
        }
        if Instant::now() > deadline {
            panic!("only the dataset records may remain in Redis, found:\n{}", c.describe_keys(&keys).await);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

mod compose;
