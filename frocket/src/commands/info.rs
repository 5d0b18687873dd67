//! `frocket info NAME [--full]`: a dataset's registration, parts and schema.

use crate::app::App;
use crate::cli::InfoArgs;
use crate::error::{CliError, Exit};
use crate::output;
use anyhow::Context;
use invoker::InvokerError;

pub async fn run(app: &App, args: &InfoArgs) -> Result<Exit, CliError> {
    let rec = app
        .datastore
        .dataset(&args.name)
        .await
        .context("read dataset")?
        .ok_or_else(|| InvokerError::DatasetNotFound(args.name.clone()))?;
    if args.json {
        let schema = if args.full {
            serde_json::to_value(&rec.schema).context("encode the schema")?
        } else {
            serde_json::to_value(rec.schema.short()).context("encode the schema")?
        };
        output::print_json(&serde_json::json!({"info": rec.info, "parts": rec.parts, "schema": schema}));
    } else {
        print!("{}", output::dataset_info(&rec, args.full));
    }
    Ok(Exit::Success)
}
