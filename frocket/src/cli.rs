//! The command line's shape: every command, argument and flag as clap types. Parsing only;
//! each command's behaviour is in `commands/<command>.rs`.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "frocket", version, about = "Funnel Rocket: fast user-centric funnel queries over Parquet")]
pub struct Cli {
    /// Only print results and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More logging on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Run on a deployed environment (`cargo xtask deploy --env ENV`) through its API function:
    /// run, register, unregister and list. Reads `<FROCKET_ENVS_DIR>/ENV.outputs.json`
    /// (default `infra/envs`) and the usual AWS credentials.
    #[arg(long, global = true, value_name = "ENV")]
    pub env: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Register (or re-register) a dataset: a directory or S3 prefix of Parquet parts.
    Register(RegisterArgs),
    /// Remove a dataset's registration (its files are never touched).
    Unregister(UnregisterArgs),
    /// List registered datasets.
    List(JsonFlag),
    /// Show a dataset's registration, parts and schema.
    Info(InfoArgs),
    /// Run a query on a dataset.
    Run(RunArgs),
    /// Print the effective configuration and where each value came from.
    Config(JsonFlag),
    /// Prepare data: repartition by group id, or generate a synthetic dataset.
    #[command(subcommand)]
    Dataprep(DataprepCommand),
    /// Serve tasks from the Redis work queue until SIGTERM/SIGINT (finishes the current task).
    /// Needs FROCKET_REDIS_URL (or FROCKET_REDIS_HOST/PORT/DB).
    Worker,
    /// Generate a synthetic RetailRocket-like dataset, register it as `demo-retail`, and run the
    /// design document's example queries on it.
    Demo(DemoArgs),
    /// Serve the HTTP API and the funnel explorer page until SIGTERM/SIGINT (finishes running
    /// jobs first). Tokens come from FROCKET_API_ADMIN_TOKEN / FROCKET_API_READ_TOKEN or files.
    Serve(ServeArgs),
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, env = "FROCKET_API_BIND", default_value = "127.0.0.1:5000")]
    pub bind: String,
    /// A directory under which local datasets may be registered (repeat for several). Without
    /// one, only S3 paths can be registered through the API.
    #[arg(long = "allow-root", env = "FROCKET_API_ALLOW_ROOTS", value_delimiter = ',')]
    pub allow_roots: Vec<PathBuf>,
    /// Refuse to register S3 paths.
    #[arg(long, env = "FROCKET_API_NO_S3")]
    pub no_s3: bool,
    /// Disable the admin endpoints (register, unregister, parts).
    #[arg(long, env = "FROCKET_API_NO_ADMIN")]
    pub no_admin: bool,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "FROCKET_API_MAX_BODY_BYTES", default_value_t = crate::server::DEFAULT_BODY_LIMIT)]
    pub max_body_bytes: usize,
    /// Jobs (queries, registrations) run at once; more are answered 429.
    #[arg(long, env = "FROCKET_API_MAX_JOBS", default_value_t = crate::server::DEFAULT_MAX_JOBS)]
    pub max_jobs: usize,
    /// Read the admin token from this file (instead of FROCKET_API_ADMIN_TOKEN).
    #[arg(long)]
    pub admin_token_file: Option<PathBuf>,
    /// Read the read token from this file (instead of FROCKET_API_READ_TOKEN).
    #[arg(long)]
    pub read_token_file: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct JsonFlag {
    /// Print JSON on stdout (errors too: `{"success": false, "errors": [...]}`).
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct RegisterArgs {
    /// Dataset name.
    pub name: String,
    /// Local directory, file://path or s3://bucket/prefix.
    pub basepath: String,
    /// Group id column (user id).
    pub group_id_column: String,
    /// Numeric timestamp column.
    pub timestamp_column: String,
    /// Glob over the listing (default `*.parquet`), or a running-number pattern such as
    /// `part-{:05}.parquet` (then give --parts).
    #[arg(long)]
    pub pattern: Option<String>,
    /// Number of parts, for running-number patterns.
    #[arg(long)]
    pub parts: Option<usize>,
    /// Which parts to validate.
    #[arg(long, value_parser = ["single", "first_last", "sample"], default_value = "sample", ignore_case = true)]
    pub validation: String,
    /// Do not check that group ids are unique across the validated parts.
    #[arg(long)]
    pub skip_uniques: bool,
    /// Only read the first part's schema; no cross-part checks.
    #[arg(long)]
    pub skip_validation: bool,
    /// A free-form revision label.
    #[arg(long)]
    pub revision: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct UnregisterArgs {
    pub name: String,
    /// Unregister even if the dataset was queried within the safety interval.
    #[arg(long)]
    pub force: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct InfoArgs {
    pub name: String,
    /// The full schema (column attributes and statistics).
    #[arg(long)]
    pub full: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct RunArgs {
    pub name: String,
    /// Query file (`-` reads stdin).
    #[arg(long, short = 'f', group = "source")]
    pub file: Option<PathBuf>,
    /// Query JSON text.
    #[arg(long, short = 's', group = "source")]
    pub string: Option<String>,
    /// The empty query `{}` (all groups).
    #[arg(long, short = 'e', group = "source")]
    pub empty: bool,
    /// Print exactly the result JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Run the query N times in this process and report each run's wall time (the first run
    /// is cold; later runs are warm: they reuse prepared parts when the memory cache is on,
    /// FROCKET_WORKER_MEMORY_CACHE_SIZE_MB). With --json the output is
    /// `{"seconds": [...], "peakMemoryBytes": N, "result": <last result>}`. Runs must agree, or the command fails.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub repeat: u32,
}

#[derive(clap::Args)]
pub struct DemoArgs {
    #[arg(long, default_value = "scratch/demo-retail")]
    pub dir: PathBuf,
    #[arg(long, default_value_t = 400_000)]
    pub rows: u64,
    #[arg(long, default_value_t = 4)]
    pub parts: usize,
    #[arg(long)]
    pub json: bool,
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
    /// Target Parquet size of a part, in MiB (2^20 bytes).
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
    Retailrocket(RetailrocketArgs),
    /// Generate synthetic RetailRocket-like data as partitioned Parquet parts.
    Synth(SynthArgs),
}

#[derive(clap::Args)]
pub struct RetailrocketArgs {
    /// Directory holding the Kaggle files.
    #[arg(long)]
    pub input: PathBuf,
    #[arg(long)]
    pub output: PathBuf,
    #[arg(long, default_value_t = 8)]
    pub parts: usize,
    /// Skip malformed lines (counted) instead of failing.
    #[arg(long)]
    pub skip_bad_lines: bool,
    /// Also upload the parts to s3://bucket/prefix.
    #[arg(long)]
    pub upload: Option<String>,
    /// Register the result under this name.
    #[arg(long)]
    pub register: Option<String>,
    #[arg(long)]
    pub force: bool,
}

#[derive(clap::Args)]
pub struct SynthArgs {
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    #[arg(long, default_value_t = 8)]
    pub parts: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// How activity is spread over users: heavy-tailed (a few heavy users, ~20 rows per user)
    /// or bounce (99% of users with 1-3 events, ~1.8 rows per user).
    #[arg(long, default_value = "heavy-tailed")]
    pub shape: dataprep::synth::Shape,
    #[arg(long)]
    pub output: PathBuf,
    #[arg(long)]
    pub force: bool,
}

impl Command {
    /// Whether the command prints JSON (`--json`): its errors are then JSON on stdout too.
    pub fn json(&self) -> bool {
        match self {
            Command::Register(RegisterArgs { json, .. })
            | Command::Unregister(UnregisterArgs { json, .. })
            | Command::List(JsonFlag { json })
            | Command::Info(InfoArgs { json, .. })
            | Command::Run(RunArgs { json, .. })
            | Command::Config(JsonFlag { json })
            | Command::Demo(DemoArgs { json, .. }) => *json,
            Command::Dataprep(_) | Command::Worker | Command::Serve(_) => false,
        }
    }
}
