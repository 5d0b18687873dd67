//! `cargo xtask bench --original`: the suite on the original Funnel Rocket 0.5.3 (Python, from
//! PyPI) for reference. Its own venv (`.venv-fr053`: funnel-rocket 0.5.3 with pandas 1.5.3,
//! numpy 1.26.4, pyarrow 12.0.1), a private `redis-server` on a free loopback port and two of its
//! queue workers, all stopped when done.
//!
//! Differences handled here: pyarrow 12 cannot read Arrow string views, so the parts are
//! rewritten once with plain strings (same rows, same Parquet dictionary encoding); 0.5.3 does
//! not know per-aggregation `top` (its default is the suite's 10), so it is removed from the
//! query; 0.5.3 ignores `maxDuration`, so its q6 and q10 answers are not compared; its
//! groupsPerValue order at ties is arbitrary, so that map is not compared either. Time = the
//! job's own `stats.totalTime` (CLI start-up excluded); cold = the first query of the suite
//! after the workers start, per query the first run; 0.5.3 keeps nothing in memory between
//! queries, so its warm runs differ from cold only by Python warm-up; it runs 1 + [`WARM_RUNS`]
//! times per query (seconds to minutes each). A failed 0.5.3 query is reported in the table,
//! not fatal.

use crate::measure::{Timing, median, normalize_frocket};
use crate::{root, run};
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// 0.5.3 gives up on a job after 60 s by default; its funnel at 10M rows takes longer. A job
/// still running after 120 s is reported as failed (the bench has to end).
const RUN_TIMEOUT: &str = "120";

/// Warm runs of 0.5.3 per query (it takes seconds to minutes per query; nothing is cached).
pub const WARM_RUNS: usize = 1;

/// redis-py of 0.5.3's time: with today's (8.x) its idle workers die of a socket read timeout.
const PACKAGES: &[&str] =
    &["funnel-rocket==0.5.3", "pandas==1.5.3", "numpy==1.26.4", "pyarrow==12.0.1", "redis==3.5.3"];

/// Redis and the workers; killed on drop.
pub struct Original {
    py: PathBuf,
    redis_port: u16,
    children: Vec<Child>,
    dataset: String,
}

impl Drop for Original {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0").context("find a free port")?.local_addr()?.port())
}

fn venv() -> Result<PathBuf> {
    let dir = root().join(".venv-fr053");
    let py = dir.join("bin/python");
    if !py.exists() {
        let mut c = Command::new("python3");
        c.args(["-m", "venv"]).arg(&dir);
        run(c, "create .venv-fr053")?;
    }
    let check = "import frocket, pandas, redis; assert redis.__version__ == '3.5.3'";
    let ok = Command::new(&py).args(["-c", check]).output().is_ok_and(|o| o.status.success());
    if !ok {
        let mut c = Command::new(&py);
        c.args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]).args(PACKAGES);
        run(c, "install Funnel Rocket 0.5.3")?;
    }
    Ok(py)
}

impl Original {
    fn cli(&self) -> Command {
        let mut c = Command::new(&self.py);
        c.args(["-m", "frocket.cli", "--nopretty", "--nocolor"])
            .env("FROCKET_REDIS_HOST", "127.0.0.1")
            .env("FROCKET_REDIS_PORT", self.redis_port.to_string())
            .env("FROCKET_INVOKER_RUN_TIMEOUT", RUN_TIMEOUT)
            .current_dir(root().join("target/bench-data"));
        c
    }

    /// Installs 0.5.3, converts the parts (once), starts Redis and 2 workers, registers.
    pub fn start(peer_python: &Path, data: &Path, name: &str) -> Result<Original> {
        let py = venv()?;
        let compat = data.with_file_name(format!("{}-fr053", data.file_name().unwrap_or_default().to_string_lossy()));
        if !compat.join("_complete").exists() {
            let mut c = Command::new(peer_python);
            c.arg(root().join("xtask/bench/peers.py")).arg("compat").arg(data).arg(&compat);
            run(c, "rewrite the parts for pyarrow 12")?;
        }
        let redis_port = free_port()?;
        let redis = Command::new("redis-server")
            .args(["--port", &redis_port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .context("start redis-server")?;
        let mut o = Original { py, redis_port, children: vec![redis], dataset: name.to_string() };
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", redis_port)).is_err() {
            if t.elapsed() > Duration::from_secs(10) {
                bail!("redis-server did not start on port {redis_port}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        for i in 0..2 {
            let log = std::fs::File::create(root().join(format!("target/bench-data/fr053-worker-{i}.log")))
                .context("create a 0.5.3 worker log")?;
            let w = Command::new(&o.py)
                .args(["-m", "frocket.worker.impl.queue_worker"])
                .env("FROCKET_REDIS_HOST", "127.0.0.1")
                .env("FROCKET_REDIS_PORT", redis_port.to_string())
                .env("FROCKET_INVOKER_RUN_TIMEOUT", RUN_TIMEOUT)
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .context("start a 0.5.3 worker")?;
            o.children.push(w);
        }
        let mut c = o.cli();
        c.args(["register", name]).arg(&compat).args(["visitorid", "timestamp"]);
        let v = last_json(c, "register with 0.5.3")?;
        if v["success"] != Value::Bool(true) {
            bail!("0.5.3 registration failed: {}", v["errorMessage"]);
        }
        Ok(o)
    }

    /// Runs one suite query `runs + 1` times; `Ok(None)` for the answer when not comparable.
    pub fn query(&mut self, id: &str, file: &Path, runs: usize) -> Result<Timing> {
        let mut q: Value = serde_json::from_str(&std::fs::read_to_string(file)?)?;
        if let Some(aggs) = q.get_mut("query").and_then(|x| x.get_mut("aggregations")).and_then(Value::as_array_mut) {
            for a in aggs {
                if let Some(m) = a.as_object_mut() {
                    m.remove("top");
                }
            }
        }
        let mut seconds = Vec::new();
        let mut answer = Value::Null;
        for _ in 0..=runs {
            let mut c = self.cli();
            c.args(["run", &self.dataset, "--string", &q.to_string()]);
            let v = self.watched(c, &format!("0.5.3 {id}"))?;
            if v["success"] != Value::Bool(true) {
                bail!("0.5.3 {id} failed: {}", v["errorMessage"]);
            }
            seconds.push(v["stats"]["totalTime"].as_f64().unwrap_or(f64::NAN));
            answer = comparable(id, normalize_frocket(id, &v));
        }
        let (cold, warm) = seconds.split_first().context("no runs")?;
        Ok(Timing { cold: *cold, warm: median(warm), peak_bytes: None, answer })
    }
}

impl Original {
    /// Runs a CLI command, but gives up as soon as every 0.5.3 worker has exited (the CLI would
    /// otherwise wait for its whole timeout).
    fn watched(&mut self, mut c: Command, what: &str) -> Result<Value> {
        let mut child =
            c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().with_context(|| format!("start {what}"))?;
        let mut stdout = child.stdout.take().context("cli stdout")?;
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
            s
        });
        loop {
            if child.try_wait()?.is_some() {
                break;
            }
            if self.workers_gone() {
                let _ = child.kill();
                let _ = child.wait();
                bail!("{what}: every 0.5.3 worker exited (see target/bench-data/fr053-worker-*.log)");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let text = reader.join().unwrap_or_default();
        json_in(&text).with_context(|| format!("{what}: no JSON result:\n{text}"))
    }

    fn workers_gone(&mut self) -> bool {
        // children[0] is redis-server; the rest are the workers.
        self.children[1..].iter_mut().all(|w| !matches!(w.try_wait(), Ok(None)))
    }
}

/// The parts of a 0.5.3 answer that mean the same as ours (see the module docs).
fn comparable(id: &str, mut a: Value) -> Value {
    if id == "q6" || id == "q10" {
        return Value::Null;
    }
    if let Some(m) = a.as_object_mut() {
        m.remove("groupsPerValue");
    }
    a
}

/// The last line of the CLI's stdout that parses as a JSON object (0.5.3 logs to stdout too).
fn json_in(text: &str) -> Option<Value> {
    text.lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l.trim_start_matches("API Result: ")).ok().filter(Value::is_object))
}

fn last_json(mut c: Command, what: &str) -> Result<Value> {
    let out = c.output().with_context(|| format!("start {what}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    json_in(&text).with_context(|| {
        format!("{what}: no JSON result ({}):\n{text}{}", out.status, String::from_utf8_lossy(&out.stderr))
    })
}
