//! The benchmark commands and what they share: the suite's queries and data shapes, datasets,
//! the frocket and peer runners (peer processes stopped after a time limit), the machine line
//! and docs/benchmarks.md sections.
//!
//! - `cargo xtask bench [--rows 10M] [--parts 8] [--runs 5] [--processes 3] [--peers ...]
//!   [--shapes heavy-tailed,bounce] [--queries q1,...] [--original] [--write]`: the suite in
//!   three regimes on frocket and its peers (`suite.rs`).
//! - `cargo xtask bench scaling ...`: frocket at several sizes and part counts, and the largest
//!   size in three regimes next to the peers (`scaling.rs`).
//! - `cargo xtask bench kernels [criterion args]`: the criterion benches (engine kernels, part
//!   loading, queue overhead) and the 10M-row data preparation figures.

use crate::measure::{Timing, median, normalize_frocket};
use crate::{cargo, root, run};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Peer engines, pinned (plus matplotlib for the scaling plot).
const PEER_PACKAGES: &[&str] =
    &["duckdb==2.0.1", "chdb==4.4.0", "polars==2.1.0", "pyarrow==26.0.1", "matplotlib==3.11.2"];
pub const ALL_PEERS: &[&str] = &["duckdb", "chdb", "polars"];

/// The suite: id, file, title.
pub const SUITE: &[(&str, &str, &str)] = &[
    ("q1", "q1-tx3.json", ">= 3 transactions"),
    ("q2", "q2-tx3-views-lt50.json", "q1 and < 50 views"),
    ("q3", "q3-expensive-tx.json", "a transaction with price >= 100000"),
    ("q4", "q4-cat999-sum.json", "sum(price) of transactions in category '999' > 100000"),
    ("q5", "q5-funnel.json", ">= 5 views, funnel addtocart > transaction > addtocart > transaction"),
    ("q6", "q6-seq-window.json", "view > addtocart > transaction within 3600 s"),
    ("q7", "q7-aggregations.json", "aggregations over the q1 users"),
    ("q8", "q8-selective-and.json", ">= 2 views and a transaction in category '999' (common condition first)"),
    ("q9", "q9-timeframe.json", ">= 2 views within a timeframe of 10% of the time range"),
    ("q10", "q10-funnel6-window.json", "6-step funnel within 7 days"),
];

/// Data shapes of `frocket dataprep synth --shape`.
pub const SHAPES: &[&str] = &["heavy-tailed", "bounce"];

/// Parses `10M`, `1m`, `500k`, `2G` or a plain number.
pub fn parse_count(s: &str) -> Result<u64> {
    let s = s.trim();
    let (num, mult) = match s.chars().last().map(|c| c.to_ascii_lowercase()) {
        Some('k') => (&s[..s.len() - 1], 1_000),
        Some('m') => (&s[..s.len() - 1], 1_000_000),
        Some('g') => (&s[..s.len() - 1], 1_000_000_000),
        _ => (s, 1),
    };
    let n: f64 = num.replace('_', "").parse().with_context(|| format!("not a count: {s:?} (e.g. 10M, 500k, 1000)"))?;
    if !(n.is_finite() && n >= 1.0) {
        bail!("not a positive count: {s:?}");
    }
    Ok((n * mult as f64).round() as u64)
}

/// `10000000` → `10M`.
pub fn short_count(n: u64) -> String {
    match n {
        n if n >= 1_000_000_000 && n % 1_000_000_000 == 0 => format!("{}G", n / 1_000_000_000),
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// Runs `one` (a fresh process each time) `processes` times: cold = median of the processes'
/// first runs, warm = median of their warm medians, peak memory = the largest. Every process
/// must return the same answer.
pub(crate) fn over_processes(processes: usize, mut one: impl FnMut() -> Result<Timing>) -> Result<Timing> {
    let mut all: Vec<Timing> = Vec::new();
    for _ in 0..processes.max(1) {
        let t = one()?;
        if let Some(first) = all.first()
            && !same_answer(&first.answer, &t.answer)
        {
            bail!("two processes returned different answers: {} vs {}", first.answer, t.answer);
        }
        all.push(t);
    }
    let cold = median(&all.iter().map(|t| t.cold).collect::<Vec<_>>());
    let warm = median(&all.iter().map(|t| t.warm).collect::<Vec<_>>());
    let peak_bytes = all.iter().filter_map(|t| t.peak_bytes).max();
    let answer = all.swap_remove(0).answer;
    Ok(Timing { cold, warm, peak_bytes, answer })
}

/// Whether two answers agree: integers exactly, floats to a relative 1e-9 (peers sum floats in
/// arbitrary order; frocket sums exactly and rounds once).
pub fn same_answer(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same_answer(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_answer(v, w)),
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
        }
        (x, y) => x == y,
    }
}

pub(crate) fn bench_dir() -> PathBuf {
    root().join("target/bench-data")
}

fn frocket_bin() -> PathBuf {
    root().join("target/release/frocket")
}

pub(crate) fn build_frocket() -> Result<()> {
    let mut c = cargo();
    c.args(["build", "--quiet", "--profile", "bench", "--package", "frocket"]);
    run(c, "build frocket (bench profile)")
}

/// `frocket` with a private home, embedded mode and a memory cache for warm runs.
fn frocket() -> Command {
    frocket_with_cache(true)
}

/// `frocket` with the memory cache of prepared parts on (memory-resident after the first
/// query) or off (every query decodes the Parquet parts: Parquet-resident).
fn frocket_with_cache(memory_cache: bool) -> Command {
    let mut c = Command::new(frocket_bin());
    c.current_dir(root())
        .env("FROCKET_HOME", bench_dir().join("home"))
        .env("FROCKET_WORKER_MEMORY_CACHE_SIZE_MB", if memory_cache { "16384" } else { "0" })
        .env_remove("FROCKET_REDIS_URL")
        .env_remove("FROCKET_REDIS_HOST")
        .env_remove("RUST_LOG");
    c
}

/// A peer process (all its runs) taking longer than this is stopped and reported as timed out.
pub(crate) const PEER_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// The exit status of a peer process that ran out of memory (`peers.py`'s `OUT_OF_MEMORY`).
const PEER_OUT_OF_MEMORY: i32 = 75;

/// Why a peer has no figure: it ran out of time or memory (its own limit, or killed by the OS).
#[derive(Debug)]
pub(crate) struct PeerGaveUp(pub(crate) String);

impl std::fmt::Display for PeerGaveUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PeerGaveUp {}

/// As [`output_json`], stopping the process after `limit` ([`PeerGaveUp`]); a process killed
/// by a signal (the OOM killer) is a [`PeerGaveUp`] too.
fn output_json_within(mut cmd: Command, what: &str, limit: std::time::Duration) -> Result<Value> {
    use std::io::Read as _;
    use std::process::Stdio;
    let mut child =
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().with_context(|| format!("start {what}"))?;
    let mut stdout = child.stdout.take().context("stdout")?;
    let mut stderr = child.stderr.take().context("stderr")?;
    let out_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = stdout.read_to_end(&mut b);
        b
    });
    let err_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = stderr.read_to_end(&mut b);
        b
    });
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(PeerGaveUp(format!("timed out (> {} s)", limit.as_secs_f64())).into());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let (out, err) = (out_reader.join().unwrap_or_default(), err_reader.join().unwrap_or_default());
    if !status.success() {
        use std::os::unix::process::ExitStatusExt as _;
        if let Some(sig) = status.signal() {
            return Err(PeerGaveUp(format!("killed by signal {sig} (out of memory?)")).into());
        }
        if status.code() == Some(PEER_OUT_OF_MEMORY) {
            let why = String::from_utf8_lossy(&err);
            let line = why.lines().rev().find(|l| l.starts_with("out of memory")).unwrap_or("out of memory");
            return Err(PeerGaveUp(line.chars().take(160).collect()).into());
        }
        bail!("{what} failed ({status}):\n{}{}", String::from_utf8_lossy(&out), String::from_utf8_lossy(&err));
    }
    serde_json::from_slice(&out).with_context(|| format!("parse the output of {what}"))
}

fn output_json(mut cmd: Command, what: &str) -> Result<Value> {
    let out = cmd.output().with_context(|| format!("start {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).with_context(|| format!("parse the output of {what}"))
}

/// Generates the synthetic dataset once per (rows, parts) and registers it; returns its name
/// and directory.
pub(crate) fn dataset(rows: u64, parts: usize) -> Result<(String, PathBuf)> {
    dataset_shaped(rows, parts, "heavy-tailed")
}

/// As [`dataset`], of a `frocket dataprep synth --shape` (the default shape keeps its old names).
pub(crate) fn dataset_shaped(rows: u64, parts: usize, shape: &str) -> Result<(String, PathBuf)> {
    let suffix = if shape == "heavy-tailed" { String::new() } else { format!("-{shape}") };
    let name = format!("bench-{}-{parts}{suffix}", short_count(rows));
    let dir = bench_dir().join(format!("synth-{}-{parts}{suffix}", short_count(rows)));
    let marker = dir.join("_bench_complete");
    // Bump when the generator's output changes, so stale datasets are regenerated.
    let stamp = format!("rows={rows} parts={parts} synth=6\n");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(stamp.as_str()) {
        let mut c = frocket();
        c.args(["dataprep", "synth", "--rows", &rows.to_string(), "--parts", &parts.to_string(), "--force"])
            .args(["--shape", shape])
            .arg("--output")
            .arg(&dir);
        run(c, &format!("generate {} rows in {parts} parts", short_count(rows)))?;
        std::fs::write(&marker, &stamp).context("write the dataset marker")?;
    }
    let mut c = frocket();
    c.args(["-q", "register", &name]).arg(&dir).args(["visitorid", "timestamp", "--validation", "single"]);
    c.arg("--skip-uniques");
    let out = c.output().context("start frocket register")?;
    if !out.status.success() {
        bail!("register {name}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok((name, dir))
}

pub(crate) fn run_frocket(dataset: &str, file: &Path, query: &str, runs: usize) -> Result<Timing> {
    run_frocket_cached(dataset, file, query, runs, true)
}

pub(crate) fn run_frocket_cached(
    dataset: &str,
    file: &Path,
    query: &str,
    runs: usize,
    memory_cache: bool,
) -> Result<Timing> {
    let mut c = frocket_with_cache(memory_cache);
    c.args(["-q", "run", dataset, "--json", "--repeat", &(runs + 1).to_string(), "--file"]).arg(file);
    let v = output_json(c, &format!("frocket {query}"))?;
    Timing::from_output(&v, normalize_frocket(query, &v["result"]))
}

/// Creates the venv and installs the pinned peer packages when missing; returns its python.
pub(crate) fn peer_python() -> Result<PathBuf> {
    let bin = crate::ensure_venv()?;
    let py = bin.join("python");
    let check = Command::new(&py).args(["-c", "import duckdb, chdb, polars, matplotlib"]).output();
    if !check.is_ok_and(|o| o.status.success()) {
        let mut c = Command::new(&py);
        c.args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]).args(PEER_PACKAGES);
        run(c, "install the pinned peer engines")?;
    }
    Ok(py)
}

pub(crate) fn run_peer(
    py: &Path,
    engine: &str,
    query: &str,
    data: &Path,
    runs: usize,
    limit: Duration,
) -> Result<(Timing, String)> {
    run_peer_formulation(py, engine, query, data, runs, limit).map(|(t, v, _)| (t, v))
}

/// A peer run; `engine` may be `name:memory` (its own in-memory layouts, the fastest counts).
/// Returns the timing, the version and the formulation (layout) timed.
pub(crate) fn run_peer_formulation(
    py: &Path,
    engine: &str,
    query: &str,
    data: &Path,
    runs: usize,
    limit: Duration,
) -> Result<(Timing, String, String)> {
    let mut c = Command::new(py);
    c.arg(root().join("xtask/bench/peers.py")).args([engine, query]).arg(data).arg((runs + 1).to_string());
    let v = output_json_within(c, &format!("{engine} {query}"), limit)?;
    let t = Timing::from_output(&v, v["result"].clone())?;
    Ok((t, v["version"].as_str().unwrap_or("?").to_string(), v["formulation"].as_str().unwrap_or("").to_string()))
}

pub(crate) fn cmd_stdout(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// One line on the machine: CPU model, cores, memory, OS.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|kb| kb.parse::<u64>().ok()))
        .map(|kb| format!("{:.0} GiB", kb as f64 / 1048576.0))
        .unwrap_or_default();
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("PRETTY_NAME=")).map(|l| l[12..].trim_matches('"').to_string()))
        .unwrap_or_default();
    format!("{cpu}, {} cores, {mem}, {os}", std::thread::available_parallelism().map_or(0, |n| n.get()))
}

pub(crate) fn secs(x: f64) -> String {
    if x.is_nan() {
        "n/a".into()
    } else if x < 0.1 {
        format!("{:.1} ms", x * 1e3)
    } else {
        format!("{x:.2} s")
    }
}

/// Replaces the text between `<!-- xtask:{key}:start -->` and `<!-- xtask:{key}:end -->` in
/// docs/benchmarks.md (appends the section when the markers are missing).
pub(crate) fn write_doc_section(key: &str, body: &str) -> Result<()> {
    let path = root().join("docs/benchmarks.md");
    let doc = std::fs::read_to_string(&path).context("read docs/benchmarks.md")?;
    let (start, end) = (format!("<!-- xtask:{key}:start -->"), format!("<!-- xtask:{key}:end -->"));
    let section = format!("{start}\n{body}{end}");
    let new = match (doc.find(&start), doc.find(&end)) {
        (Some(a), Some(b)) if a < b => format!("{}{section}{}", &doc[..a], &doc[b + end.len()..]),
        _ => format!("{}\n{section}\n", doc.trim_end()),
    };
    std::fs::write(&path, new).context("write docs/benchmarks.md")?;
    eprintln!("xtask: wrote the {key} table to {}", path.display());
    Ok(())
}

pub(crate) struct SuiteArgs {
    pub(crate) rows: u64,
    pub(crate) parts: usize,
    pub(crate) runs: usize,
    pub(crate) processes: usize,
    pub(crate) peers: Vec<String>,
    pub(crate) shapes: Vec<String>,
    pub(crate) queries: Vec<String>,
    /// A peer process running longer is stopped and reported as having given up.
    pub(crate) peer_limit: Duration,
    pub(crate) original: bool,
    pub(crate) write: bool,
}

pub(crate) fn parse_suite_args(args: &[String]) -> Result<SuiteArgs> {
    let mut a = SuiteArgs {
        rows: 10_000_000,
        parts: 8,
        runs: 5,
        processes: 3,
        peers: ALL_PEERS.iter().map(|s| s.to_string()).collect(),
        shapes: SHAPES.iter().map(|s| s.to_string()).collect(),
        queries: SUITE.iter().map(|q| q.0.to_string()).collect(),
        peer_limit: PEER_TIME_LIMIT,
        original: false,
        write: false,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--rows" => a.rows = parse_count(value()?)?,
            "--parts" => a.parts = parse_count(value()?)? as usize,
            "--runs" => a.runs = parse_count(value()?)? as usize,
            "--processes" => a.processes = parse_count(value()?)? as usize,
            "--peers" => a.peers = parse_peers(value()?)?,
            "--shapes" => {
                a.shapes = value()?.split(',').map(|s| s.trim().to_string()).collect();
                if let Some(bad) = a.shapes.iter().find(|s| !SHAPES.contains(&s.as_str())) {
                    bail!("unknown shape {bad:?}: expected some of {}", SHAPES.join(","));
                }
            }
            "--queries" => a.queries = parse_queries(value()?)?,
            "--peer-limit" => a.peer_limit = Duration::from_secs(parse_count(value()?)?),
            "--original" => a.original = true,
            "--write" => a.write = true,
            other => bail!("unknown argument {other:?} (see `cargo xtask help`)"),
        }
    }
    Ok(a)
}

/// `--peers duckdb,polars` or `none`.
pub(crate) fn parse_peers(v: &str) -> Result<Vec<String>> {
    let peers: Vec<String> = if v == "none" { vec![] } else { v.split(',').map(|s| s.trim().to_string()).collect() };
    if let Some(bad) = peers.iter().find(|p| !ALL_PEERS.contains(&p.as_str())) {
        bail!("unknown peer {bad:?}: expected some of {} or none", ALL_PEERS.join(","));
    }
    Ok(peers)
}

/// `--queries q1,q9`: ids of the suite.
pub(crate) fn parse_queries(v: &str) -> Result<Vec<String>> {
    let queries: Vec<String> = v.split(',').map(|s| s.trim().to_string()).collect();
    if let Some(bad) = queries.iter().find(|q| !SUITE.iter().any(|s| s.0 == q.as_str())) {
        bail!("unknown query {bad:?}: expected some of {}", SUITE.iter().map(|s| s.0).collect::<Vec<_>>().join(","));
    }
    Ok(queries)
}

/// `cargo xtask bench insights [--rows 10M] [--parts 8] [--runs 5] [--processes 3] [--write]`:
/// the cost of funnel insights (issue #15's goal: within 1.3× of the plain funnel,
/// memory-resident): q5's 4-step funnel alone, with `stepTimings` (sketched beyond 10,000
/// users), with those and a breakdown by a 3-value column (`event`), and with exact timings
/// (every duration kept) and a breakdown by a 1,200-value Zipf column (`categoryid`) — the
/// variant whose answer is compared with DuckDB's. Processes
/// alternate between the variants, so drift hits them alike; every variant must count the
/// same users per step.
pub fn insights(args: &[String]) -> Result<()> {
    let a = parse_suite_args(args)?;
    build_frocket()?;
    let (name, data) = dataset(a.rows, a.parts)?;
    let base: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("xtask/bench/queries/q5-funnel.json")).context("read q5")?,
    )?;
    let variant = |extra: Value| {
        let mut q = base.clone();
        if let (Some(f), Some(e)) = (q["funnel"].as_object_mut(), extra.as_object()) {
            f.extend(e.clone());
        }
        q
    };
    let variants = [
        ("plain 4-step funnel", variant(json!({}))),
        ("+ stepTimings", variant(json!({"stepTimings": true}))),
        (
            "+ stepTimings + breakdown by event (3 values)",
            variant(json!({"stepTimings": true, "breakdown": {"column": "event"}})),
        ),
        (
            "+ stepTimings + breakdown by categoryid (1,200 values)",
            variant(json!({"stepTimings": true, "breakdown": {"column": "categoryid", "top": 10}})),
        ),
        (
            "+ exact stepTimings (exactLimit 1M) + breakdown by categoryid (1,200 values)",
            variant(
                json!({"stepTimings": {"exactLimit": 1_000_000}, "breakdown": {"column": "categoryid", "top": 10}}),
            ),
        ),
    ];
    let dir = bench_dir().join("insights");
    std::fs::create_dir_all(&dir)?;
    let mut files = Vec::new();
    for (i, (_, q)) in variants.iter().enumerate() {
        let f = dir.join(format!("v{i}.json"));
        std::fs::write(&f, q.to_string())?;
        files.push(f);
    }
    // The last variant's answer (timings and breakdown) is compared with DuckDB's.
    let id = |i: usize| if i + 1 == variants.len() { "q5i" } else { "q5" };
    let mut per: Vec<Vec<Timing>> = vec![Vec::new(); variants.len()];
    for p in 0..a.processes.max(1) {
        for i in 0..variants.len() {
            // Rotate the order each round.
            let i = (i + p) % variants.len();
            per[i].push(run_frocket(&name, &files[i], id(i), a.runs)?);
        }
    }
    let peer = if a.peers.iter().any(|p| p == "duckdb") {
        let py = peer_python()?;
        let plain =
            over_processes(a.processes, || Ok(run_peer(&py, "duckdb-mem", "q5", &data, a.runs, PEER_TIME_LIMIT)?.0))?;
        let (ins, version) = run_peer(&py, "duckdb-mem", "q5i", &data, a.runs, PEER_TIME_LIMIT)?;
        let ins = over_processes(a.processes.saturating_sub(1), || {
            Ok(run_peer(&py, "duckdb-mem", "q5i", &data, a.runs, PEER_TIME_LIMIT)?.0)
        })
        .map(|t| Timing { answer: ins.answer.clone(), ..t })?;
        if !same_answer(&ins.answer, &per[variants.len() - 1][0].answer) {
            bail!("DuckDB's insights differ: {} vs frocket {}", ins.answer, per[variants.len() - 1][0].answer);
        }
        Some((plain, ins, version))
    } else {
        None
    };
    let warm: Vec<f64> = per.iter().map(|ts| median(&ts.iter().map(|t| t.warm).collect::<Vec<_>>())).collect();
    let cold: Vec<f64> = per.iter().map(|ts| median(&ts.iter().map(|t| t.cold).collect::<Vec<_>>())).collect();
    for ts in &per[1..variants.len() - 1] {
        if !same_answer(&ts[0].answer, &per[0][0].answer) {
            bail!("insights changed the counts: {} vs {}", ts[0].answer, per[0][0].answer);
        }
    }
    let mut t = format!(
        "Measured {} by `cargo xtask bench insights --rows {} --parts {} --runs {} --processes {}` on {}.\n\
         Memory-resident = median of warm runs (prepared parts in the memory cache); cold = the first query of a process.\n\n\
         | variant | memory-resident | ratio to plain | cold |\n|---|---|---|---|\n",
        chrono_now(),
        short_count(a.rows),
        a.parts,
        a.runs,
        a.processes,
        machine()
    );
    for (i, (title, _)) in variants.iter().enumerate() {
        t.push_str(&format!("| {title} | {} | {:.2}× | {} |\n", secs(warm[i]), warm[i] / warm[0], secs(cold[i])));
    }
    if let Some((plain, ins, version)) = &peer {
        t.push_str(&format!(
            "| DuckDB {version}, own in-memory table (loaded before timing): the same funnel (ASOF joins) | {} | | — |\n\
             | DuckDB: + timings (exact nearest-rank quantiles) + breakdown by categoryid, answers equal to frocket's | {} | {:.2}× | — |\n",
            secs(plain.warm),
            secs(ins.warm),
            ins.warm / plain.warm,
        ));
        t.push_str(&format!(
            "\nfrocket with timings and a 1,200-value breakdown / DuckDB with the same, memory-resident: {:.2}×.\n",
            warm[variants.len() - 1] / ins.warm
        ));
    }
    print!("{t}");
    if a.write {
        write_doc_section("insights", &t)?;
    }
    Ok(())
}

pub(crate) fn chrono_now() -> String {
    cmd_stdout("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_parse_with_suffixes_and_print_back() {
        assert_eq!(parse_count("10M").unwrap(), 10_000_000);
        assert_eq!(parse_count("500k").unwrap(), 500_000);
        assert_eq!(parse_count("1.5m").unwrap(), 1_500_000);
        assert_eq!(parse_count("42").unwrap(), 42);
        assert!(parse_count("ten").is_err());
        assert!(parse_count("0").is_err());
        assert_eq!(short_count(100_000_000), "100M");
        assert_eq!(short_count(1_500_000), "1500k");
        assert_eq!(short_count(1234), "1234");
    }

    #[test]
    fn answers_compare_floats_relatively_and_integers_exactly() {
        let a = json!({"groups": 3, "sumPerValue": {"view": 1.0e12}});
        assert!(same_answer(&a, &json!({"groups": 3, "sumPerValue": {"view": 1.0e12 + 1.0}})));
        assert!(!same_answer(&a, &json!({"groups": 3, "sumPerValue": {"view": 1.0e12 + 1e4}})));
        assert!(!same_answer(&a, &json!({"groups": 4, "sumPerValue": {"view": 1.0e12}})));
        assert!(!same_answer(&a, &json!({"groups": 3, "sumPerValue": {"view": 1.0e12, "x": 0.0}})));
    }

    #[test]
    fn frocket_results_take_the_peer_shape() {
        let v = json!({
            "query": {"matchingGroups": 2, "matchingGroupRows": 9, "aggregations": [
                {"type": "countPerValue", "column": "event", "value": {"view": 7, "transaction": 2}},
                {"type": "groupsPerValue", "column": "categoryid", "value": {"b": 2, "a": 2, "c": 5}},
                {"type": "sumPerValue", "column": "event", "value": {"view": 3, "transaction": 1.5}}
            ]},
            "funnel": {"sequence": [{"matchingGroups": 2, "matchingGroupRows": 9}, {"matchingGroups": 1, "matchingGroupRows": 4}]}
        });
        let n = normalize_frocket("q7", &v);
        assert_eq!(n["groupsPerValue"], json!([["c", 5], ["a", 2], ["b", 2]]));
        assert_eq!(n["funnel"], json!([[2, 9], [1, 4]]));
        assert!(same_answer(&n["sumPerValue"], &json!({"view": 3.0, "transaction": 1.5})));
        assert_eq!(n["countPerValue"], json!({"view": 7, "transaction": 2}));
    }

    /// A peer process: its JSON when it ends well; a timeout, a kill or running out of memory is
    /// a `PeerGaveUp` (the table reports it), any other failure a plain error (the run stops).
    #[test]
    fn peer_processes_time_out_or_die_as_gave_up() {
        let sh = |script: &str| {
            let mut c = Command::new("sh");
            c.args(["-c", script]);
            c
        };
        let limit = std::time::Duration::from_millis(300);
        let v = output_json_within(sh(r#"echo '{"a": 1}'"#), "echo", limit).unwrap();
        assert_eq!(v, json!({"a": 1}));
        let gave_up = |r: Result<Value>| r.unwrap_err().downcast_ref::<PeerGaveUp>().map(|g| g.0.clone());
        let started = std::time::Instant::now();
        assert_eq!(gave_up(output_json_within(sh("sleep 5"), "sleep", limit)).as_deref(), Some("timed out (> 0.3 s)"));
        assert!(started.elapsed() < std::time::Duration::from_secs(3), "stopped, not waited for");
        assert!(gave_up(output_json_within(sh("kill -9 $$"), "kill", limit)).is_some_and(|w| w.contains("signal 9")));
        assert_eq!(gave_up(output_json_within(sh("echo oops >&2; exit 3"), "exit", limit)), None);
        // Out of memory as peers.py reports it (its own exit status and message).
        let oom = sh("echo 'Traceback ...' >&2; echo 'out of memory: Code: 241. MEMORY_LIMIT_EXCEEDED' >&2; exit 75");
        assert_eq!(
            gave_up(output_json_within(oom, "oom", limit)).as_deref(),
            Some("out of memory: Code: 241. MEMORY_LIMIT_EXCEEDED")
        );
    }

    #[test]
    fn median_of_warm_runs() {
        assert_eq!(median(&[5.0, 1.0, 3.0]), 3.0);
        assert_eq!(median(&[1.0, 2.0]), 1.5);
    }
}
