//! `frocket config`: the effective configuration and where each value came from (passwords
//! never shown).

use crate::cli::JsonFlag;
use crate::error::{CliError, Exit};
use crate::output;
use settings::{Config, Setting};

pub fn run(config: &Config, args: &JsonFlag) -> Result<Exit, CliError> {
    let mut settings = config.settings.clone();
    settings
        .insert("datastore".into(), Setting { value: config.describe_datastore(), source: "derived from mode".into() });
    if args.json {
        let m: serde_json::Map<String, serde_json::Value> = settings
            .iter()
            .map(|(k, s)| (k.clone(), serde_json::json!({"value": s.value, "source": s.source})))
            .collect();
        output::print_json(&m);
    } else {
        print!("{}", output::config_table(&settings));
    }
    Ok(Exit::Success)
}
