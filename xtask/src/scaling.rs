//! `cargo xtask bench scaling [--rows 1M,10M,100M] [--parts 1,2,4,8,16] [--parts-rows 10M]
//! [--runs 3] [--peers duckdb,chdb,polars|none] [--queries q1,...] [--peer-limit 300] [--write]`:
//! frocket at several sizes (8 parts) and part counts (at `--parts-rows`): cold and
//! memory-resident time per query and peak memory; then, at the largest size, the suite in all
//! three regimes next to the peers on the heavy-tailed shape (`suite.rs`; a peer process out of
//! time or memory is reported as having given up). Both are plotted to docs/bench-scaling.png
//! (`xtask/bench/plot.py`); `--write` puts both tables in docs/benchmarks.md.

use crate::bench::{
    ALL_PEERS, PEER_TIME_LIMIT, SHAPES, SUITE, SuiteArgs, bench_dir, build_frocket, chrono_now, dataset, machine,
    parse_count, parse_peers, parse_queries, peer_python, run_frocket, secs, short_count, write_doc_section,
};
use crate::{root, run};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

/// `cargo xtask bench scaling`: frocket at several sizes and part counts (cold and
/// memory-resident time per query, peak memory); then, at the largest size, the suite in all
/// three regimes next to the peers (a peer out of time or memory is reported as such); both
/// plotted to docs/bench-scaling.png. The suite runs first, and its frocket process is the
/// rows series' point at the largest size (not measured a second time).
pub fn scaling(args: &[String]) -> Result<()> {
    let mut sizes = vec![1_000_000u64, 10_000_000, 100_000_000];
    let mut part_counts = vec![1usize, 2, 4, 8, 16];
    let mut parts_rows = 10_000_000u64;
    let (mut runs, mut write) = (3usize, false);
    let mut peers: Vec<String> = ALL_PEERS.iter().map(|s| s.to_string()).collect();
    let mut queries: Vec<String> = SUITE.iter().map(|q| q.0.to_string()).collect();
    // Longer than the suite's: at 100M rows loading a peer's tables alone takes up to 90 s.
    let mut peer_limit = PEER_TIME_LIMIT * 5 / 2;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--rows" => sizes = value()?.split(',').map(parse_count).collect::<Result<_>>()?,
            "--parts" => {
                part_counts = value()?.split(',').map(|p| parse_count(p).map(|n| n as usize)).collect::<Result<_>>()?
            }
            "--parts-rows" => parts_rows = parse_count(value()?)?,
            "--runs" => runs = parse_count(value()?)? as usize,
            "--peers" => peers = parse_peers(value()?)?,
            "--queries" => queries = parse_queries(value()?)?,
            "--peer-limit" => peer_limit = Duration::from_secs(parse_count(value()?)?),
            "--write" => write = true,
            other => bail!("unknown argument {other:?}"),
        }
    }
    let Some(&largest) = sizes.iter().max() else { bail!("--rows needs at least one size") };
    build_frocket()?;
    let qdir = root().join("xtask/bench/queries");
    // The largest size in three regimes next to the peers: one process per engine and query
    // (a 100M-row cold run is seconds; its spread is small next to the differences).
    let a = SuiteArgs {
        rows: largest,
        parts: 8,
        runs,
        processes: 1,
        peers,
        shapes: vec![SHAPES[0].to_string()],
        queries: queries.clone(),
        peer_limit,
        original: false,
        write,
    };
    let side = crate::suite::run_suite(&a)?;
    let mut points = Vec::new();
    let mut configs: Vec<(u64, usize, &str)> = sizes.iter().map(|&r| (r, 8usize, "rows")).collect();
    configs.extend(part_counts.iter().map(|&p| (parts_rows, p, "parts")));
    for (rows, parts, series) in configs {
        let (name, _) = dataset(rows, parts)?;
        for (id, file, _) in SUITE.iter().filter(|q| queries.iter().any(|x| x == q.0)) {
            // The largest size's point of the rows series is the suite's frocket process with
            // the memory cache on (the same dataset, one process, as many warm runs): not
            // measured twice. Its cold is that process's first query, as at every other size.
            let measured = ((rows, parts, series) == (largest, 8, "rows"))
                .then(|| {
                    side.points
                        .iter()
                        .find(|p| p["series"] == "regimes" && p["engine"] == "frocket" && p["query"] == *id)
                })
                .flatten();
            let (cold, warm, peak) = match measured {
                Some(p) => (
                    p["coldCacheOn"].as_f64().unwrap_or(f64::NAN),
                    p["memory"].as_f64().unwrap_or(f64::NAN),
                    p["peakMemoryBytes"].as_u64(),
                ),
                None => {
                    let t = run_frocket(&name, &qdir.join(file), id, runs)?;
                    (t.cold, t.warm, t.peak_bytes)
                }
            };
            eprintln!(
                "xtask: {} rows, {parts} parts, {id}: cold {} warm {}",
                short_count(rows),
                secs(cold),
                secs(warm)
            );
            points.push(json!({"series": series, "rows": rows, "parts": parts, "query": id, "cold": cold, "warm": warm, "peakBytes": peak}));
        }
    }
    points.extend(side.points.iter().cloned());
    let data = bench_dir().join("scaling.json");
    std::fs::write(&data, serde_json::to_string_pretty(&points)?).context("write scaling.json")?;
    let png = root().join("docs/bench-scaling.png");
    let py = peer_python()?;
    let mut c = Command::new(py);
    c.arg(root().join("xtask/bench/plot.py")).arg(&data).arg(&png);
    run(c, "plot the scaling figures")?;
    let table = scaling_table(&points, runs);
    let mut regimes = crate::suite::suite_header(&a, &side.versions, &scaling_command(args));
    regimes.push_str(&side.tables);
    regimes.push_str(&side.verdict(&a));
    print!("{table}\n{regimes}");
    if write {
        write_doc_section("scaling", &table)?;
        write_doc_section("scaling-regimes", &regimes)?;
    }
    side.check_answers()
}

/// The command line of a scaling run, as the tables name it.
fn scaling_command(args: &[String]) -> String {
    std::iter::once("cargo xtask bench scaling".to_string()).chain(args.iter().cloned()).collect::<Vec<_>>().join(" ")
}

/// frocket's table over sizes and part counts (the `rows` and `parts` series of `points`): a
/// column per query measured, cold / memory-resident, and the peak memory of the row.
fn scaling_table(points: &[Value], runs: usize) -> String {
    let points: Vec<&Value> = points.iter().filter(|p| p["series"] == "rows" || p["series"] == "parts").collect();
    let queries: Vec<&str> = SUITE.iter().map(|q| q.0).filter(|id| points.iter().any(|p| p["query"] == *id)).collect();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Measured {} by `cargo xtask bench scaling` (cold = the first query of one process with the memory cache on, which keeps every part's prepared frame, so ±20% on this machine; warm = memory-resident: the median of the next {runs}, from the memory cache of prepared parts).",
        chrono_now()
    );
    let _ = writeln!(s, "Machine: {}. Plot: [bench-scaling.png](bench-scaling.png).\n", machine());
    let _ = writeln!(
        s,
        "| series | rows | parts | {} | peak memory (max) |",
        queries.iter().map(|id| format!("{id} cold / warm")).collect::<Vec<_>>().join(" | ")
    );
    let _ = writeln!(s, "|{}", "---|".repeat(queries.len() + 4));
    let mut keys: Vec<(String, u64, u64)> = Vec::new();
    for p in &points {
        let k = (
            p["series"].as_str().unwrap_or("").to_string(),
            p["rows"].as_u64().unwrap_or(0),
            p["parts"].as_u64().unwrap_or(0),
        );
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    for (series, rows, parts) in keys {
        let mine: Vec<&Value> = points
            .iter()
            .copied()
            .filter(|p| p["series"] == series.as_str() && p["rows"] == rows && p["parts"] == parts)
            .collect();
        let cells: Vec<String> = queries
            .iter()
            .map(|id| match mine.iter().find(|p| p["query"] == *id) {
                Some(p) => format!(
                    "{} / {}",
                    secs(p["cold"].as_f64().unwrap_or(f64::NAN)),
                    secs(p["warm"].as_f64().unwrap_or(f64::NAN))
                ),
                None => "-".to_string(),
            })
            .collect();
        let peak = mine.iter().filter_map(|p| p["peakBytes"].as_u64()).max().unwrap_or(0);
        let _ = writeln!(
            s,
            "| {series} | {} | {parts} | {} | {:.0} MB |",
            short_count(rows),
            cells.join(" | "),
            peak as f64 / 1048576.0
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table has a column per query measured and a row per (series, rows, parts); the
    /// suite's points at the largest size (`regimes`) are in the other table, not this one.
    #[test]
    fn the_table_holds_the_measured_queries_of_each_series() {
        let points = vec![
            json!({"series": "rows", "rows": 1_000_000, "parts": 8, "query": "q2", "cold": 0.5, "warm": 0.01, "peakBytes": 100 << 20}),
            json!({"series": "rows", "rows": 1_000_000, "parts": 8, "query": "q9", "cold": 0.25, "warm": 0.02, "peakBytes": 200 << 20}),
            json!({"series": "parts", "rows": 10_000_000, "parts": 2, "query": "q9", "cold": 1.5, "warm": 0.1, "peakBytes": 50 << 20}),
            json!({"series": "regimes", "rows": 1_000_000, "parts": 8, "query": "q2", "engine": "duckdb", "cold": 9.0}),
        ];
        let t = scaling_table(&points, 3);
        assert!(t.contains("| series | rows | parts | q2 cold / warm | q9 cold / warm | peak memory (max) |"), "{t}");
        assert!(t.contains("| rows | 1M | 8 | 0.50 s / 10.0 ms | 0.25 s / 20.0 ms | 200 MB |"), "{t}");
        assert!(t.contains("| parts | 10M | 2 | - | 1.50 s / 0.10 s | 50 MB |"), "{t}");
        assert!(!t.contains("regimes"), "{t}");
    }
}
