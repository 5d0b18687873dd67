//! `frocket unregister NAME [--force]`: removes a registration (files are never touched);
//! refused (exit 1) within the safety interval after the dataset's last query.

use crate::app::App;
use crate::cli::UnregisterArgs;
use crate::error::{CliError, Exit};
use crate::output;

pub async fn run(app: &App, args: &UnregisterArgs) -> Result<Exit, CliError> {
    let name = &args.name;
    let o = invoker::unregister_dataset(&*app.datastore, name, args.force, app.config.unregister_interval).await?;
    if args.json {
        output::print_json(&o);
    } else if let Some(m) = &o.error_message {
        eprintln!("error: {m}");
    } else if o.dataset_found {
        println!("Unregistered dataset '{name}' (its files were not touched)");
    } else {
        println!("Dataset '{name}' was not registered");
    }
    Ok(if o.success { Exit::Success } else { Exit::Unsuccessful })
}
