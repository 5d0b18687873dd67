//! `frocket run NAME (--file PATH | --string JSON | --empty) [--json] [--repeat N]`: runs a query
//! and prints its result (`--json`: exactly the result JSON, docs/results.md).

use crate::app::App;
use crate::cli::RunArgs;
use crate::error::{CliError, Exit};
use crate::output;
use crate::units::peak_memory_bytes;
use protocol::job::QueryJobResult;
use serde::Serialize;
use serde_json::Value;

/// The query document from the one source the command line gave.
pub(crate) fn read_query(args: &RunArgs) -> Result<Value, CliError> {
    let text = match (&args.file, &args.string, args.empty) {
        (Some(f), _, _) if f.as_os_str() == "-" => std::io::read_to_string(std::io::stdin())
            .map_err(|e| CliError::usage(format!("read query from stdin: {e}")))?,
        (Some(f), _, _) => {
            std::fs::read_to_string(f).map_err(|e| CliError::usage(format!("read query file {}: {e}", f.display())))?
        }
        (None, Some(s), _) => s.clone(),
        (None, None, true) => "{}".to_string(),
        _ => return Err(CliError::usage("give the query with --file, --string or --empty")),
    };
    serde_json::from_str(&text).map_err(|e| CliError::usage(format!("the query is not valid JSON: {e}")))
}

pub async fn run(app: &App, args: &RunArgs) -> Result<Exit, CliError> {
    let query = read_query(args)?;
    if args.repeat > 1 {
        return run_repeated(app, args, &query).await;
    }
    let progress = app.progress("parts", args.json);
    let res = invoker::run_query_job(
        &*app.datastore,
        &*app.executor,
        &args.name,
        &query,
        &app.job_options(),
        progress.as_ref().map(|p| p.0.clone()),
    )
    .await;
    app.export_metrics();
    if let Some((_, bar)) = progress {
        bar.finish_and_clear();
    }
    let r = res?;
    if args.json {
        output::print_json(&r);
    } else {
        print!("{}", output::query_summary(&args.name, &r));
    }
    Ok(Exit::Success)
}

/// `frocket run --repeat N --json`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RepeatedRuns<'a> {
    /// Wall-clock seconds of each run (the first is cold).
    seconds: &'a [f64],
    peak_memory_bytes: Option<u64>,
    /// The last run's result.
    result: &'a QueryJobResult,
}

/// `frocket run --repeat N`: N runs in this process, each timed (wall clock, whole job); every
/// run must give the same answer.
async fn run_repeated(app: &App, args: &RunArgs, query: &Value) -> Result<Exit, CliError> {
    let opts = app.job_options();
    let mut seconds = Vec::with_capacity(args.repeat as usize);
    let mut last: Option<QueryJobResult> = None;
    for i in 0..args.repeat {
        let t = std::time::Instant::now();
        let r = invoker::run_query_job(&*app.datastore, &*app.executor, &args.name, query, &opts, None).await?;
        seconds.push(t.elapsed().as_secs_f64());
        if let Some(prev) = &last
            && prev.result != r.result
        {
            return Err(anyhow::anyhow!("run {} returned a different result than run {i}", i + 1).into());
        }
        last = Some(r);
    }
    app.export_metrics();
    let last = last.expect("repeat is at least 1");
    if args.json {
        output::print_json(&RepeatedRuns { seconds: &seconds, peak_memory_bytes: peak_memory_bytes(), result: &last });
    } else {
        print!("{}", output::query_summary(&args.name, &last));
        print!("{}", output::run_times(&seconds));
    }
    Ok(Exit::Success)
}
