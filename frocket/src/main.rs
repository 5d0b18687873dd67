//! `frocket`: the Funnel Rocket command line.
//!
//! Today it has `demo`, which generates a synthetic RetailRocket-like dataset and runs the
//! seed document's example queries on it in-process (parts loaded and queried in parallel,
//! partial results merged exactly). Registration, `run`, workers and the API server come with
//! the datasets/CLI and distributed-execution work (see ARCHITECTURE.md).

mod local;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "frocket",
    version,
    about = "Funnel Rocket: fast user-centric funnel queries over Parquet"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a synthetic RetailRocket-like dataset and run the seed's example queries on it.
    Demo {
        /// Where to write the dataset (replaced if it exists).
        #[arg(long, default_value = "scratch/demo-retail")]
        dir: PathBuf,
        /// Approximate number of rows to generate.
        #[arg(long, default_value_t = 400_000)]
        rows: u64,
        /// Number of parts (Parquet files).
        #[arg(long, default_value_t = 4)]
        parts: usize,
        /// Print each result as JSON instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Run one query over a directory of Parquet parts, in-process (no registration).
    Query {
        /// Directory holding the parts (`*.parquet`).
        path: PathBuf,
        /// Group id column.
        #[arg(long)]
        group: String,
        /// Timestamp column.
        #[arg(long)]
        timestamp: String,
        /// Query file (`-` for stdin).
        #[arg(long, conflicts_with = "string")]
        file: Option<PathBuf>,
        /// Query JSON text.
        #[arg(long)]
        string: Option<String>,
    },
}

const DEMO_QUERIES: [(&str, &str, &str); 5] = [
    (
        "01-hello",
        "users with >= 3 transactions",
        include_str!("../queries/01-hello.json"),
    ),
    (
        "02-hello-few-views",
        "... and < 50 views",
        include_str!("../queries/02-hello-few-views.json"),
    ),
    (
        "03-expensive-purchase",
        "users with a transaction of price >= 100000",
        include_str!("../queries/03-expensive-purchase.json"),
    ),
    (
        "04-category-999-spenders",
        "users whose transactions in category '999' sum to > 100000",
        include_str!("../queries/04-category-999-spenders.json"),
    ),
    (
        "05-breakdown-funnel",
        ">= 5 views, then addtocart -> transaction -> addtocart -> transaction",
        include_str!("../queries/05-breakdown-funnel.json"),
    ),
];

fn demo(dir: PathBuf, rows: u64, parts: usize, json: bool) -> Result<()> {
    let cfg = dataprep::synth::SynthConfig::new(rows, parts);
    let t0 = std::time::Instant::now();
    let summary = dataprep::synth::generate_dataset(&cfg, &dir, true)
        .with_context(|| format!("generate the demo dataset in {}", dir.display()))?;
    eprintln!(
        "generated {} rows in {} parts ({:.1} MB) at {} in {:.2}s",
        summary.rows,
        summary.files.len(),
        summary.bytes as f64 / 1e6,
        dir.display(),
        t0.elapsed().as_secs_f64()
    );
    let dataset = local::LocalDataset::open(&dir, "visitorid", "timestamp")?;
    for (name, title, text) in DEMO_QUERIES {
        let t = std::time::Instant::now();
        let out = dataset
            .run(text)
            .with_context(|| format!("run query {name}"))?;
        if json {
            println!("{}", serde_json::to_string(&out)?);
            continue;
        }
        println!(
            "== {name}: {title}  ({:.0} ms)",
            t.elapsed().as_secs_f64() * 1e3
        );
        if let Some(counters) = out.get("counters").and_then(|c| c.as_object()) {
            for (k, v) in counters {
                println!("   {k:<32} {v}");
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.command {
        Command::Demo {
            dir,
            rows,
            parts,
            json,
        } => demo(dir, rows, parts, json),
        Command::Query {
            path,
            group,
            timestamp,
            file,
            string,
        } => local::query_command(&path, &group, &timestamp, file, string),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            match e.downcast_ref::<protocol::ValidationErrors>() {
                Some(_) => ExitCode::from(2),
                None => ExitCode::from(1),
            }
        }
    }
}
