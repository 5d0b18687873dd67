//! `frocket`: the Funnel Rocket command line. With no Redis configured everything runs
//! embedded in this process: metadata under `FROCKET_HOME`, tasks on an in-process pool.
//!
//! Exit codes: 0 success, 1 the job failed, 2 usage or validation error.

mod app;
mod config;
mod demo;
mod embedded;
mod output;
mod prep;
mod serve;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc instead of the system allocator: the engine allocates large column buffers per
/// part, and glibc returns those to the OS and faults fresh pages in for every part (a quarter
/// of the cold-load time on a 1M-row part; docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "frocket", version, about = "Funnel Rocket: fast user-centric funnel queries over Parquet")]
pub struct Cli {
    /// Only print results and errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// More logging on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Register (or re-register) a dataset: a directory or S3 prefix of Parquet parts.
    Register {
        /// Dataset name.
        name: String,
        /// Local directory, file://path or s3://bucket/prefix.
        basepath: String,
        /// Group id column (user id).
        group_id_column: String,
        /// Numeric timestamp column.
        timestamp_column: String,
        /// Glob over the listing (default `*.parquet`), or a running-number pattern such as
        /// `part-{:05}.parquet` (then give --parts).
        #[arg(long)]
        pattern: Option<String>,
        /// Number of parts, for running-number patterns.
        #[arg(long)]
        parts: Option<usize>,
        /// Which parts to validate.
        #[arg(long, value_parser = ["single", "first_last", "sample"], default_value = "sample", ignore_case = true)]
        validation: String,
        /// Do not check that group ids are unique across the validated parts.
        #[arg(long)]
        skip_uniques: bool,
        /// Only read the first part's schema; no cross-part checks.
        #[arg(long)]
        skip_validation: bool,
        /// A free-form revision label.
        #[arg(long)]
        revision: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Remove a dataset's registration (its files are never touched).
    Unregister {
        name: String,
        /// Unregister even if the dataset was queried within the safety interval.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// List registered datasets.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a dataset's registration, parts and schema.
    Info {
        name: String,
        /// The full schema (column attributes and statistics).
        #[arg(long)]
        full: bool,
        #[arg(long)]
        json: bool,
    },
    /// Run a query on a dataset.
    Run {
        name: String,
        /// Query file (`-` reads stdin).
        #[arg(long, short = 'f', group = "source")]
        file: Option<PathBuf>,
        /// Query JSON text.
        #[arg(long, short = 's', group = "source")]
        string: Option<String>,
        /// The empty query `{}` (all groups).
        #[arg(long, short = 'e', group = "source")]
        empty: bool,
        /// Print exactly the result JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Run the query N times in this process and report each run's wall time (the first run
        /// is cold; later runs are warm: they reuse prepared parts when the memory cache is on,
        /// FROCKET_WORKER_MEMORY_CACHE_SIZE_MB). With --json the output is
        /// `{"seconds": [...], "peakMemoryBytes": N, "result": <last result>}`. Runs must agree, or the command fails.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
        repeat: u32,
    },
    /// Print the effective configuration and where each value came from.
    Config {
        #[arg(long)]
        json: bool,
    },
    /// Prepare data: repartition by group id, or generate a synthetic dataset.
    #[command(subcommand)]
    Dataprep(DataprepCommand),
    /// Serve tasks from the Redis work queue until SIGTERM/SIGINT (finishes the current task).
    /// Needs FROCKET_REDIS_URL (or FROCKET_REDIS_HOST/PORT/DB).
    Worker,
    /// Generate a synthetic RetailRocket-like dataset, register it as `demo-retail`, and run the
    /// design document's example queries on it.
    Demo {
        #[arg(long, default_value = "scratch/demo-retail")]
        dir: PathBuf,
        #[arg(long, default_value_t = 400_000)]
        rows: u64,
        #[arg(long, default_value_t = 4)]
        parts: usize,
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args, Clone)]
pub struct RepartitionArgs {
    #[arg(required = true)]
    pub inputs: Vec<String>,
    #[arg(long)]
    pub group_column: String,
    #[arg(long)]
    pub timestamp_column: Option<String>,
    /// Number of parts (default: from --part-size-mb).
    #[arg(long)]
    pub parts: Option<usize>,
    /// Target Parquet size of a part.
    #[arg(long, default_value_t = 64)]
    pub part_size_mb: u64,
    #[arg(long)]
    pub output: PathBuf,
    /// Replace a non-empty output directory.
    #[arg(long)]
    pub force: bool,
    /// Drop rows with a null group id (reported) instead of failing.
    #[arg(long)]
    pub drop_null_groups: bool,
    /// CSV inputs: skip malformed lines (counted) instead of failing.
    #[arg(long)]
    pub skip_bad_lines: bool,
}

#[derive(Subcommand)]
pub enum DataprepCommand {
    /// Repartition Parquet (or CSV) files so that every group id is in exactly one part, rows
    /// sorted by (group id, timestamp). Inputs: files, directories (their *.parquet) or globs,
    /// local or s3://.
    Repartition(RepartitionArgs),
    /// Build the denormalized RetailRocket events dataset from the Kaggle files (events.csv,
    /// item_properties_part1/2.csv, category_tree.csv), partitioned by visitor.
    Retailrocket {
        /// Directory holding the Kaggle files.
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        output: PathBuf,
        #[arg(long, default_value_t = 8)]
        parts: usize,
        /// Skip malformed lines (counted) instead of failing.
        #[arg(long)]
        skip_bad_lines: bool,
        /// Also upload the parts to s3://bucket/prefix.
        #[arg(long)]
        upload: Option<String>,
        /// Register the result under this name.
        #[arg(long)]
        register: Option<String>,
        #[arg(long)]
        force: bool,
    },
    /// Generate synthetic RetailRocket-like data as partitioned Parquet parts.
    Synth {
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        #[arg(long, default_value_t = 8)]
        parts: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long)]
        output: PathBuf,
        #[arg(long)]
        force: bool,
    },
}

fn init_logging(quiet: bool, verbose: u8) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("FROCKET_LOG_LEVEL").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{level},aws_config=error,aws_smithy_runtime=error"))
    });
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.quiet, cli.verbose);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = rt.block_on(app::run(cli));
    ExitCode::from(code)
}
