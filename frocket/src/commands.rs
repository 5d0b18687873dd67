//! One module per command (`commands/<command>.rs`), and the dispatch from the parsed command
//! line to them. Each command returns [`Exit`] or a [`CliError`]; printing errors and choosing
//! the exit code happen once, in `error.rs`.

mod config;
mod dataprep;
mod demo;
mod info;
mod list;
mod register;
mod run;
mod serve;
mod unregister;
mod worker;

use crate::app::App;
use crate::cli::{Cli, Command};
use crate::error::{CliError, Exit};
use settings::Config;

pub(crate) use run::read_query;

/// Runs the command line's command.
pub async fn run(cli: Cli) -> Result<Exit, CliError> {
    let config = Config::from_env().map_err(|e| CliError::usage(format!("read configuration: {e:#}")))?;
    if let Command::Config(args) = &cli.command {
        // Works without connecting anywhere: the command to debug a configuration with.
        return config::run(&config, args);
    }
    let app = App::new(config, cli.quiet).await?;
    match cli.command {
        Command::Register(args) => register::run(&app, args).await,
        Command::Unregister(args) => unregister::run(&app, &args).await,
        Command::List(args) => list::run(&app, &args).await,
        Command::Info(args) => info::run(&app, &args).await,
        Command::Run(args) => run::run(&app, &args).await,
        Command::Config(_) => unreachable!("handled above"),
        Command::Dataprep(cmd) => dataprep::run(&app, cmd).await,
        Command::Worker => worker::run(&app).await,
        Command::Demo(args) => demo::run(&app, &args).await,
        Command::Serve(args) => serve::run(app, &args).await,
    }
}
