//! `frocket list`: registered datasets, most recently registered first.

use crate::app::App;
use crate::cli::JsonFlag;
use crate::error::{CliError, Exit};
use crate::output;
use anyhow::Context;

pub async fn run(app: &App, args: &JsonFlag) -> Result<Exit, CliError> {
    let list = app.datastore.datasets().await.context("list datasets")?;
    if args.json {
        output::print_json(&list);
    } else {
        print!("{}", output::dataset_table(&list));
    }
    Ok(Exit::Success)
}
