//! `frocket serve` as a process on a free loopback port, driven over HTTP: every execution mode
//! (embedded, Redis queue with real `frocket worker`s, Lambda through the emulator running the
//! real `frocket-lambda`), two servers sharing one Redis, graceful shutdown on SIGTERM, Redis
//! going away; schemathesis against the live spec; the explorer page in a real browser; a
//! bounded load test. Answers are checked against the hand-checked funnel fixture
//! (`integration_tests::funnel_fixture`).

mod browser;
mod http;
mod load;
mod schemathesis;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

/// The fixture's funnel (view → cart → buy: 5, 3, 1 users) broken down by country.
pub const FUNNEL: &str = r#"{"funnel": {"sequence": [{"filter": ["event", "==", "view"]}, {"filter": ["event", "==", "cart"]},
  {"filter": ["event", "==", "buy"]}], "stepAggregations": [{"column": "country", "type": "groupsPerValue"}]}}"#;

/// A `frocket serve` process; killed when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
    _stdout: BufReader<ChildStdout>,
}

impl Server {
    /// Starts `frocket serve --bind 127.0.0.1:0 ARGS` with `env` and waits for its address.
    pub fn start(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_frocket"));
        cmd.args(["serve", "--bind", "127.0.0.1:0"])
            .args(args)
            .env("FROCKET_HOME", home)
            .env_remove("FROCKET_REDIS_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn frocket serve");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("frocket serve did not start: {line:?}"))
            .to_string();
        Server { child, url, _stdout: out }
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let st = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(st.success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `frocket worker` process on the given Redis; killed when dropped.
pub struct Worker(Child);

impl Worker {
    pub fn start(home: &Path, redis_url: &str) -> Worker {
        let child = Command::new(env!("CARGO_BIN_EXE_frocket"))
            .arg("worker")
            .env("FROCKET_HOME", home)
            .env("FROCKET_REDIS_URL", redis_url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Worker(child)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A temp dir with the fixture under `data/shop` and a `home`.
pub struct Dirs {
    pub tmp: tempfile::TempDir,
}

impl Dirs {
    pub fn fixture() -> Dirs {
        let tmp = tempfile::tempdir().unwrap();
        integration_tests::funnel_fixture(&tmp.path().join("data/shop"));
        Dirs { tmp }
    }
    pub fn data(&self) -> PathBuf {
        self.tmp.path().join("data")
    }
    pub fn home(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }
    pub fn register_body(&self, name: &str) -> Value {
        json!({"name": name, "basepath": self.data().join("shop"), "groupIdColumn": "user", "timestampColumn": "ts"})
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap()
}

/// Users per funnel step.
pub fn steps(result: &Value) -> Vec<u64> {
    result["funnel"]["sequence"].as_array().unwrap().iter().map(|s| s["matchingGroups"].as_u64().unwrap()).collect()
}

pub async fn post_json(c: &reqwest::Client, url: &str, body: &str) -> (u16, Value) {
    let r = c.post(url).header("content-type", "application/json").body(body.to_string()).send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap())
}

pub async fn get_json(c: &reqwest::Client, url: &str) -> (u16, Value) {
    let r = c.get(url).send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap())
}
