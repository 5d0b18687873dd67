//! `cargo xtask bench` (the suite): every query of xtask/bench/queries on frocket and its
//! peers, on each data shape, in three regimes — cold, Parquet-resident and memory-resident
//! (see docs/benchmarks.md) — with answers cross-checked and the table of ratios to the
//! fastest peer per regime (issue #16's goal marked), optionally written into
//! docs/benchmarks.md.

use crate::bench::{
    PEER_TIME_LIMIT, PeerGaveUp, SUITE, SuiteArgs, bench_dir, build_frocket, chrono_now, cmd_stdout, dataset_shaped,
    machine, over_processes, parse_suite_args, peer_python, run_frocket_cached, run_peer, run_peer_formulation,
    same_answer, secs, short_count, write_doc_section,
};
use crate::measure::Timing;
use crate::root;
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The goal of issue #16 per regime: frocket / fastest peer at most this.
const GOAL_COLD: f64 = 0.7;
const GOAL_PARQUET: f64 = 0.7;
const GOAL_MEMORY: f64 = 0.5;

/// A peer that gave up ([`PeerGaveUp`]: out of time or memory) has NaN figures and a `gaveUp`
/// answer (reported as such in the table); any other failure stays an error.
fn gave_up_as_nan<T: GaveUp>(r: Result<T>) -> Result<T> {
    match r {
        Err(e) if e.downcast_ref::<PeerGaveUp>().is_some() => {
            eprintln!("xtask:   peer gave up: {e}");
            Ok(T::gave_up(e.to_string()))
        }
        other => other,
    }
}

/// What a peer's figure is when it gave up.
trait GaveUp {
    fn gave_up(why: String) -> Self;
}

impl GaveUp for Timing {
    fn gave_up(why: String) -> Self {
        Timing { cold: f64::NAN, warm: f64::NAN, peak_bytes: None, answer: json!({"gaveUp": why}) }
    }
}

impl GaveUp for (Timing, String) {
    fn gave_up(why: String) -> Self {
        (Timing::gave_up(why.clone()), format!("gave up: {why}"))
    }
}

/// One engine's figures on one query in the three regimes (seconds; NaN = not run).
#[derive(Debug, Clone)]
struct Regimes {
    /// The first query of a new process (median over processes).
    cold: f64,
    /// A long-running process decoding Parquet on every query (median of warm runs).
    parquet: f64,
    /// Data held in the engine's own memory layout (median of warm runs).
    memory: f64,
    /// The in-memory layout that was fastest (peers).
    layout: String,
    /// Peak resident set of the process (Parquet-resident, memory-resident), when known.
    peak: (Option<u64>, Option<u64>),
    answer: Value,
}

/// One query's figures on one data shape: frocket's, each peer's, and 0.5.3's (`--original`).
struct QueryRow {
    id: String,
    ours: Regimes,
    /// frocket's first query in a process with the memory cache on (the query that fills it;
    /// shown under the table, not a regime: its peers keep nothing).
    cold_cache_on: f64,
    peers: BTreeMap<String, Regimes>,
    original: Option<Timing>,
}

/// A ratio with two decimals, or three when two would print the goal itself (0.7036 against
/// a goal of 0.7 is a miss and must not read "0.70").
fn ratio_text(ratio: f64, goal: f64) -> String {
    let two = format!("{ratio:.2}");
    if two == format!("{goal:.2}") && ratio != goal { format!("{ratio:.3}") } else { two }
}

/// A regime's column in the table: its name, the goal ratio and where its figure is.
struct RegimeColumn {
    name: &'static str,
    goal: f64,
    pick: fn(&Regimes) -> f64,
}

const REGIMES: [RegimeColumn; 3] = [
    RegimeColumn { name: "cold", goal: GOAL_COLD, pick: |r| r.cold },
    RegimeColumn { name: "Parquet", goal: GOAL_PARQUET, pick: |r| r.parquet },
    RegimeColumn { name: "memory", goal: GOAL_MEMORY, pick: |r| r.memory },
];

/// The fastest peer in one regime: (seconds, name).
fn best_peer(peers: &BTreeMap<String, Regimes>, pick: impl Fn(&Regimes) -> f64) -> Option<(f64, String)> {
    peers
        .iter()
        .map(|(name, r)| (pick(r), name.clone()))
        .filter(|(t, _)| t.is_finite())
        .min_by(|x, y| x.0.total_cmp(&y.0))
}

/// The suite on frocket and the peers, in three regimes and on every data shape; returns an
/// error when any answer differs.
pub fn suite(args: &[String]) -> Result<()> {
    let a = parse_suite_args(args)?;
    let run = run_suite(&a)?;
    let mut out = suite_header(&a, &run.versions, &format!("cargo xtask bench {}", command_args(&a)));
    out.push_str(&run.tables);
    out.push_str(&run.verdict(&a));
    print!("{out}");
    let results = bench_dir().join(format!("suite-{}-{}.md", short_count(a.rows), a.parts));
    std::fs::write(&results, &out).context("write the results file")?;
    eprintln!("xtask: results in {}", results.display());
    if a.write {
        write_doc_section("suite", &out)?;
    }
    run.check_answers()
}

/// What one run of the suite gives.
pub(crate) struct SuiteRun {
    /// One table per data shape (ratios per regime, every peer, peak memory).
    pub(crate) tables: String,
    /// Goal misses (`bounce q2 memory 0.61`).
    pub(crate) misses: Vec<String>,
    /// Answers that differ between engines, regimes or layouts.
    pub(crate) mismatches: Vec<String>,
    pub(crate) versions: BTreeMap<String, String>,
    /// Every engine's figures per shape and query, for the scaling plot (seconds, bytes).
    pub(crate) points: Vec<Value>,
}

impl SuiteRun {
    /// The answers line and the goal line under the tables.
    pub(crate) fn verdict(&self, a: &SuiteArgs) -> String {
        let mut out = String::new();
        let answers = if self.mismatches.is_empty() {
            if a.peers.is_empty() {
                "no peers ran".to_string()
            } else {
                "every engine returned the same answer for every query in every regime".to_string()
            }
        } else {
            format!("MISMATCHES: {}", self.mismatches.join("; "))
        };
        let _ = writeln!(out, "Answers: {answers}.");
        let _ = writeln!(
            out,
            "Goal (issue #16): frocket / fastest peer <= {GOAL_COLD} cold, <= {GOAL_PARQUET} Parquet-resident, <= {GOAL_MEMORY} memory-resident: {}.",
            if a.peers.is_empty() {
                "not measured (no peers)".to_string()
            } else if self.misses.is_empty() {
                "met on every query".to_string()
            } else {
                format!("missed on {} ({})", self.misses.len(), self.misses.join(", "))
            }
        );
        out
    }

    /// An error naming every answer that differed.
    pub(crate) fn check_answers(&self) -> Result<()> {
        if !self.mismatches.is_empty() {
            bail!("engines disagree:\n{}", self.mismatches.join("\n"));
        }
        Ok(())
    }
}

/// Measures the suite as `a` says (see [`suite`]); answers that differ are collected, not
/// fatal, so the tables are still written.
pub(crate) fn run_suite(a: &SuiteArgs) -> Result<SuiteRun> {
    build_frocket()?;
    let py = if a.peers.is_empty() && !a.original { None } else { Some(peer_python()?) };
    let qdir = root().join("xtask/bench/queries");
    let mut versions: BTreeMap<String, String> = BTreeMap::new();
    versions.insert(
        "frocket".into(),
        format!("{} ({})", env!("CARGO_PKG_VERSION"), cmd_stdout("git", &["rev-parse", "--short", "HEAD"])),
    );
    versions.insert("toolchain".into(), cmd_stdout("rustc", &["--version"]));
    let mut mismatches = Vec::new();
    let mut tables = String::new();
    let mut misses = Vec::new();
    let mut points = Vec::new();
    for shape in &a.shapes {
        let (name, dir) = dataset_shaped(a.rows, a.parts, shape)?;
        let mut original = match (&py, a.original) {
            (Some(py), true) => Some(crate::original::Original::start(py, &dir, &name)?),
            _ => None,
        };
        let mut rows_out: Vec<QueryRow> = Vec::new();
        for (id, file, title) in SUITE.iter().filter(|q| a.queries.iter().any(|x| x == q.0)) {
            eprintln!("xtask: {shape} {id}: {title}");
            let file = qdir.join(file);
            // Cold and Parquet-resident from the same processes as the peers' (querying the
            // files, frocket's default configuration: memory cache off), memory-resident from
            // processes with the memory cache on, whose first query (filling it) is recorded
            // apart (`cold_cache_on`).
            let uncached = over_processes(a.processes, || run_frocket_cached(&name, &file, id, a.runs, false))?;
            let cached = over_processes(a.processes, || run_frocket_cached(&name, &file, id, a.runs, true))?;
            if !same_answer(&cached.answer, &uncached.answer) {
                mismatches
                    .push(format!("{shape} {id}: frocket cached {} vs uncached {}", cached.answer, uncached.answer));
            }
            let cold_cache_on = cached.cold;
            let ours = Regimes {
                cold: uncached.cold,
                parquet: uncached.warm,
                memory: cached.warm,
                layout: String::new(),
                peak: (uncached.peak_bytes, cached.peak_bytes),
                answer: cached.answer,
            };
            eprintln!(
                "xtask:   frocket cold {} parquet {} memory {} (first query with the memory cache on {})  answer {}",
                secs(ours.cold),
                secs(ours.parquet),
                secs(ours.memory),
                secs(cold_cache_on),
                ours.answer
            );
            let mut peers = BTreeMap::new();
            for p in &a.peers {
                let py = py.as_deref().unwrap_or(Path::new("python3"));
                let files = gave_up_as_nan(over_processes(a.processes, || {
                    let (t, v) = run_peer(py, p, id, &dir, a.runs, a.peer_limit)?;
                    versions.insert(p.clone(), v);
                    Ok(t)
                }))?;
                let (mem, layout) = gave_up_as_nan(
                    run_peer_formulation(py, &format!("{p}:memory"), id, &dir, a.runs, a.peer_limit)
                        .map(|x| (x.0, x.2)),
                )?;
                for (regime, answer) in [("Parquet", &files.answer), ("memory", &mem.answer)] {
                    if answer.get("gaveUp").is_none() && !same_answer(&ours.answer, answer) {
                        mismatches.push(format!("{shape} {id}: frocket {} vs {p} ({regime}) {answer}", ours.answer));
                    }
                }
                eprintln!(
                    "xtask:   {p} cold {} parquet {} memory {} ({layout})",
                    secs(files.cold),
                    secs(files.warm),
                    secs(mem.warm)
                );
                peers.insert(
                    p.clone(),
                    Regimes {
                        cold: files.cold,
                        parquet: files.warm,
                        memory: mem.warm,
                        layout,
                        peak: (files.peak_bytes, mem.peak_bytes),
                        answer: files.answer,
                    },
                );
            }
            let orig = original.as_mut().map(|o| {
                let t = o.query(id, &file, crate::original::WARM_RUNS.min(a.runs)).unwrap_or_else(|e| {
                    eprintln!("xtask:   0.5.3 failed: {e:#}");
                    Timing { cold: f64::NAN, warm: f64::NAN, peak_bytes: None, answer: Value::Null }
                });
                versions.insert("funnel-rocket (original)".into(), "0.5.3".into());
                if !t.answer.is_null() {
                    let mut mine = ours.answer.clone();
                    if let Some(m) = mine.as_object_mut() {
                        m.remove("groupsPerValue");
                    }
                    if !same_answer(&mine, &t.answer) {
                        mismatches.push(format!("{shape} {id}: frocket {mine} vs 0.5.3 {}", t.answer));
                    }
                }
                t
            });
            rows_out.push(QueryRow { id: id.to_string(), ours, cold_cache_on, peers, original: orig });
        }
        drop(original);
        for r in &rows_out {
            let engines = std::iter::once(("frocket", &r.ours)).chain(r.peers.iter().map(|(p, x)| (p.as_str(), x)));
            points.extend(engines.map(|(engine, x)| {
                let mut point = json!({"series": "regimes", "shape": shape, "rows": a.rows, "parts": a.parts, "query": r.id,
                       "engine": engine, "cold": x.cold, "parquet": x.parquet, "memory": x.memory,
                       "layout": x.layout, "peakParquetBytes": x.peak.0, "peakMemoryBytes": x.peak.1});
                if engine == "frocket" {
                    point["coldCacheOn"] = json!(r.cold_cache_on);
                }
                point
            }));
        }
        let (table, missed) = shape_table(shape, a, &rows_out);
        misses.extend(missed.into_iter().map(|m| format!("{shape} {m}")));
        tables.push_str(&table);
    }
    Ok(SuiteRun { tables, misses, mismatches, versions, points })
}

/// The arguments of a suite run as a command line would give them (for the table header).
fn command_args(a: &SuiteArgs) -> String {
    let list = |v: &[String]| if v.is_empty() { "none".to_string() } else { v.join(",") };
    let all_queries = a.queries.len() == SUITE.len();
    format!(
        "--rows {} --parts {} --runs {} --processes {} --peers {} --shapes {}{}{}{}{}",
        short_count(a.rows),
        a.parts,
        a.runs,
        a.processes,
        list(&a.peers),
        a.shapes.join(","),
        if all_queries { String::new() } else { format!(" --queries {}", a.queries.join(",")) },
        if a.peer_limit == PEER_TIME_LIMIT {
            String::new()
        } else {
            format!(" --peer-limit {}", a.peer_limit.as_secs())
        },
        if a.original { " --original" } else { "" },
        if a.write { " --write" } else { "" }
    )
}

/// The lines above the tables: the command, machine, versions and what the regimes are.
pub(crate) fn suite_header(a: &SuiteArgs, versions: &BTreeMap<String, String>, command: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Measured {} by `{command}`.", chrono_now());
    let _ = writeln!(s, "Machine: {}.", machine());
    let v: Vec<String> = versions.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let _ = writeln!(s, "Versions: {}.", v.join("; "));
    let _ = writeln!(
        s,
        "Regimes: **cold** = the first query of a new process, Parquet on local disk (OS page cache warm), median over {p} process(es) \
         (every engine as it starts by default, run 1 of the Parquet-resident processes; frocket: memory cache off); \
         **Parquet-resident** = a long-running process that decodes the Parquet parts on every query (frocket: memory cache off; peers: \
         querying the files), median of {r} warm runs (medians over the processes); **memory-resident** = the data in each engine's own memory layout, loaded before \
         timing (frocket: its memory cache of prepared parts; DuckDB: tables; chDB: Memory and MergeTree tables; polars: DataFrames), \
         median of {r} warm runs, the fastest layout counting (named). Ratio = frocket / fastest peer in the same regime \
         (goal: <= {GOAL_COLD} cold, <= {GOAL_PARQUET} Parquet-resident, <= {GOAL_MEMORY} memory-resident; a miss is marked **bold**).\n",
        p = a.processes,
        r = a.runs
    );
    s
}

/// One shape's table: per query and regime frocket, the fastest peer and the ratio; then every
/// peer's figures. Returns the table and the goal misses (`q2 memory 0.61`).
fn shape_table(shape: &str, a: &SuiteArgs, rows: &[QueryRow]) -> (String, Vec<String>) {
    let mut s = String::new();
    let mut misses = Vec::new();
    let what = match shape {
        "bounce" => "bounce-heavy: 99% of users with 1–3 events",
        _ => "a few heavy users, most with one short visit",
    };
    // q10 has no conditions: its query-matched groups are every user.
    let users = rows.iter().find(|r| r.id == "q10").map(|r| r.ours.answer["groups"].clone());
    let _ = writeln!(
        s,
        "**{shape}** ({what}; {} rows, {} parts{}):\n",
        short_count(a.rows),
        a.parts,
        users.map(|u| format!(", {u} users")).unwrap_or_default()
    );
    let mut head = vec!["query".to_string()];
    for regime in ["cold", "Parquet-resident", "memory-resident"] {
        head.push(format!("frocket {regime}"));
        if !a.peers.is_empty() {
            head.push("fastest peer".into());
            head.push("ratio".into());
        }
    }
    let _ = writeln!(s, "| {} |", head.join(" | "));
    let _ = writeln!(s, "|{}", "---|".repeat(head.len()));
    for QueryRow { id, ours, peers, .. } in rows {
        let mut cells = vec![id.clone()];
        for RegimeColumn { name: regime, goal, pick } in &REGIMES {
            let (regime, goal, mine) = (*regime, *goal, pick(ours));
            cells.push(secs(mine));
            if a.peers.is_empty() {
                continue;
            }
            match best_peer(peers, pick) {
                Some((t, name)) => {
                    let layout = if regime == "memory" { format!(" ({})", peers[&name].layout) } else { String::new() };
                    cells.push(format!("{} {name}{layout}", secs(t)));
                    let ratio = mine / t;
                    let shown = ratio_text(ratio, goal);
                    if ratio <= goal {
                        cells.push(shown);
                    } else {
                        cells.push(format!("**{shown}**"));
                        misses.push(format!("{id} {regime} {shown}"));
                    }
                }
                None => cells.extend(["-".to_string(), "-".to_string()]),
            }
        }
        let _ = writeln!(s, "| {} |", cells.join(" | "));
    }
    if !a.peers.is_empty() {
        let _ = writeln!(s, "\nEvery peer ({shape}; cold / Parquet-resident / memory-resident, layout):\n");
        let mut head = vec!["query".to_string()];
        head.extend(a.peers.iter().cloned());
        if a.original {
            head.push("0.5.3 cold / warm".into());
        }
        let _ = writeln!(s, "| {} |", head.join(" | "));
        let _ = writeln!(s, "|{}", "---|".repeat(head.len()));
        for QueryRow { id, peers, original: orig, .. } in rows {
            let mut cells = vec![id.clone()];
            for p in &a.peers {
                let r = &peers[p];
                let mut cell = format!("{} / {} / {} ({})", secs(r.cold), secs(r.parquet), secs(r.memory), r.layout);
                if let Some(why) = r.answer["gaveUp"].as_str() {
                    cell.push_str(&format!("; Parquet: {why}"));
                }
                cells.push(cell);
            }
            if let Some(o) = orig {
                cells.push(format!("{} / {}", secs(o.cold), secs(o.warm)));
            }
            let _ = writeln!(s, "| {} |", cells.join(" | "));
        }
    }
    let _ = writeln!(
        s,
        "\nPeak memory ({shape}; the process's peak resident set, Parquet-resident / memory-resident; a peer's \
         memory-resident figure is its fastest layout's, loading included):\n"
    );
    let engines: Vec<&str> = std::iter::once("frocket").chain(a.peers.iter().map(String::as_str)).collect();
    let _ = writeln!(s, "| query | {} |", engines.join(" | "));
    let _ = writeln!(s, "|{}", "---|".repeat(engines.len() + 1));
    for QueryRow { id, ours, peers, .. } in rows {
        let mut cells = vec![id.clone()];
        cells.extend(
            std::iter::once(ours)
                .chain(a.peers.iter().map(|p| &peers[p]))
                .map(|r| format!("{} / {}", megabytes(r.peak.0), megabytes(r.peak.1))),
        );
        let _ = writeln!(s, "| {} |", cells.join(" | "));
    }
    let filling: Vec<String> = rows.iter().map(|r| format!("{} {}", r.id, secs(r.cold_cache_on))).collect();
    let _ = writeln!(
        s,
        "\nfrocket's first query in a process with the memory cache on (it keeps every part's prepared frame, \
         so it faults in fresh memory for all of them; median over {} process(es)): {}.",
        a.processes,
        filling.join(", ")
    );
    if let Some(r) = rows.first() {
        let _ = writeln!(s, "\n{} answer: {} users, {} rows.", r.id, r.ours.answer["groups"], r.ours.answer["rows"]);
    }
    s.push('\n');
    (s, misses)
}

/// `1234 MB`, or `n/a` when unknown.
fn megabytes(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "n/a".to_string(), |b| format!("{:.0} MB", b as f64 / 1048576.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regimes(cold: f64, parquet: f64, memory: f64, layout: &str) -> Regimes {
        Regimes {
            cold,
            parquet,
            memory,
            layout: layout.into(),
            peak: (Some(100 << 20), (!memory.is_nan()).then_some(300 << 20)),
            answer: json!({"groups": 1, "rows": 2}),
        }
    }

    fn args() -> SuiteArgs {
        let mut a = parse_suite_args(&[]).unwrap();
        a.peers = vec!["duckdb".into(), "polars".into()];
        a
    }

    /// Ratios are to the fastest peer of each regime (a peer that gave up does not count);
    /// a ratio above the regime's goal is bold and listed as a miss.
    #[test]
    fn table_compares_within_each_regime_and_marks_misses() {
        let peers = BTreeMap::from([
            ("duckdb".to_string(), regimes(1.0, 0.5, 0.10, "enum")),
            ("polars".to_string(), regimes(0.8, f64::NAN, 0.20, "frame")),
        ]);
        let rows = vec![QueryRow {
            id: "q1".into(),
            ours: regimes(0.4, 0.45, 0.04, ""),
            cold_cache_on: 0.6,
            peers,
            original: None,
        }];
        let (table, misses) = shape_table("bounce", &args(), &rows);
        // cold 0.4 / polars 0.8 = 0.50; Parquet 0.45 / duckdb 0.5 = 0.90 (miss: polars gave up);
        // memory 0.04 / duckdb (enum) 0.10 = 0.40.
        assert!(table.contains("| q1 | 0.40 s | 0.80 s polars | 0.50 | 0.45 s | 0.50 s duckdb | **0.90** | 40.0 ms | 0.10 s duckdb (enum) | 0.40 |"), "{table}");
        assert_eq!(misses, vec!["q1 Parquet 0.90".to_string()]);
        assert!(table.contains("0.80 s / n/a / 0.20 s (frame)"), "{table}");
        assert!(table.contains("| q1 | 100 MB / 300 MB | 100 MB / 300 MB | 100 MB / 300 MB |"), "{table}");
        // The memory-cache processes' first query is shown apart, never as the cold figure.
        assert!(table.contains("memory cache on (it keeps every part's prepared frame"), "{table}");
        assert!(table.contains("; median over 3 process(es)): q1 0.60 s."), "{table}");
        assert!(!table.contains("| 0.60 s |"), "{table}");
    }

    #[test]
    fn a_ratio_that_would_print_as_the_goal_gets_a_third_decimal() {
        assert_eq!(ratio_text(0.7036, 0.7), "0.704");
        assert_eq!(ratio_text(0.6951, 0.7), "0.695");
        assert_eq!(ratio_text(0.7, 0.7), "0.70");
        assert_eq!(ratio_text(0.71, 0.7), "0.71");
        assert_eq!(ratio_text(0.4971, 0.5), "0.497");
        assert_eq!(ratio_text(1.234, 0.5), "1.23");
    }

    #[test]
    fn suite_arguments_are_checked() {
        let a = parse_suite_args(&["--shapes".into(), "bounce".into(), "--queries".into(), "q9,q10".into()]).unwrap();
        assert_eq!((a.shapes, a.queries), (vec!["bounce".to_string()], vec!["q9".to_string(), "q10".to_string()]));
        assert!(parse_suite_args(&["--shapes".into(), "flat".into()]).is_err());
        assert!(parse_suite_args(&["--queries".into(), "q11".into()]).is_err());
    }
}
