//! `frocket register NAME BASEPATH GROUP_ID_COLUMN TIMESTAMP_COLUMN [...]`: discovers, validates
//! and registers a dataset.

use crate::app::App;
use crate::cli::RegisterArgs;
use crate::error::{CliError, Exit};
use crate::output;
use invoker::ValidationMode;

pub async fn run(app: &App, a: RegisterArgs) -> Result<Exit, CliError> {
    let mut args = invoker::RegisterArgs::new(&a.name, &a.basepath, &a.group_id_column, &a.timestamp_column);
    args.pattern = a.pattern;
    args.parts = a.parts;
    args.validation = ValidationMode::parse(&a.validation)
        .ok_or_else(|| CliError::usage(format!("invalid --validation {:?}", a.validation)))?;
    args.validate_uniques = !a.skip_uniques;
    args.skip_validation = a.skip_validation;
    args.revision = a.revision;
    let progress = app.progress("validating parts", a.json);
    let res = invoker::register_dataset(
        &app.stores,
        &*app.datastore,
        &*app.executor,
        &args,
        &app.job_options(),
        progress.as_ref().map(|p| p.0.clone()),
    )
    .await;
    if let Some((_, bar)) = progress {
        bar.finish_and_clear();
    }
    let r = res?;
    if a.json {
        output::print_json(&r);
    } else {
        println!("{}", output::registration_line(&r));
    }
    Ok(Exit::Success)
}
