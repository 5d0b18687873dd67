//! `frocket`: the Funnel Rocket command line. With no Redis configured everything runs
//! embedded in this process: metadata under `FROCKET_HOME`, tasks on an in-process pool.
//!
//! Layout: `cli.rs` (the clap types), `commands/<command>.rs` (one module per command),
//! `app.rs` (the stack commands run on), `error.rs` (exit codes: 0 ok, 1 the job or an
//! IO/service failure, 2 usage or validation), `output.rs` (the JSON printer and tables),
//! `server.rs` (`frocket serve`: the HTTP API and the funnel explorer page), `remote.rs`
//! (`frocket --env ENV`: the same commands on a deployed stack, through its API function).

mod app;
mod cli;
mod commands;
mod embedded;
mod error;
mod output;
mod remote;
mod server;
mod units;

use clap::Parser;
use std::process::ExitCode;

/// mimalloc instead of the system allocator: the engine allocates large column buffers per
/// part, and glibc returns those to the OS and faults fresh pages in for every part (a quarter
/// of the cold-load time on a 1M-row part; docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    // Usage errors in the command line itself: clap prints them and exits with 2.
    let cli = cli::Cli::parse();
    init_logging(cli.quiet, cli.verbose);
    let json = cli.command.json();
    let outcome = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => match cli.env.clone() {
            // A deployed environment: through its API function.
            Some(env) => rt.block_on(remote::run(&env, cli.command)),
            None => rt.block_on(commands::run(cli)),
        },
        Err(e) => Err(anyhow::Error::new(e).context("start the async runtime").into()),
    };
    ExitCode::from(error::finish(outcome, json))
}
