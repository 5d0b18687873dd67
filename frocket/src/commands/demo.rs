//! `frocket demo`: generate a synthetic RetailRocket-like dataset, register it as
//! `demo-retail` (seed running-number naming), and run the design document's example queries
//! (verbatim, in the seed's legacy format) through the normal query path.

use crate::app::App;
use crate::cli::DemoArgs;
use crate::error::{CliError, Exit};
use crate::output;
use anyhow::Context;
use invoker::RegisterArgs;

pub const QUERIES: [(&str, &str, &str); 5] = [
    ("01-hello", "users with >= 3 transactions", include_str!("../../queries/01-hello.json")),
    ("02-hello-few-views", "... and < 50 views", include_str!("../../queries/02-hello-few-views.json")),
    (
        "03-expensive-purchase",
        "users with a transaction of price >= 100000",
        include_str!("../../queries/03-expensive-purchase.json"),
    ),
    (
        "04-category-999-spenders",
        "users whose transactions in category '999' sum to > 100000",
        include_str!("../../queries/04-category-999-spenders.json"),
    ),
    (
        "05-breakdown-funnel",
        ">= 5 views, then addtocart -> transaction -> addtocart -> transaction",
        include_str!("../../queries/05-breakdown-funnel.json"),
    ),
];

pub async fn run(app: &App, args: &DemoArgs) -> Result<Exit, CliError> {
    let dir = &args.dir;
    let cfg = dataprep::synth::SynthConfig::new(args.rows, args.parts);
    let t0 = std::time::Instant::now();
    let summary = dataprep::synth::generate_dataset(&cfg, dir, true)
        .with_context(|| format!("generate the demo dataset in {}", dir.display()))?;
    if !app.quiet {
        eprintln!("{}", summary.describe(dir, t0.elapsed().as_secs_f64()));
    }
    let abs = std::fs::canonicalize(dir).with_context(|| format!("resolve {}", dir.display()))?;
    let mut reg_args = RegisterArgs::new("demo-retail", &abs.display().to_string(), "visitorid", "timestamp");
    reg_args.pattern = Some("part-{:05}.parquet".into());
    reg_args.parts = Some(args.parts);
    let opts = app.job_options();
    let reg = invoker::register_dataset(&app.stores, &*app.datastore, &*app.executor, &reg_args, &opts, None)
        .await
        .context("register the demo dataset")?;
    if !app.quiet {
        eprintln!("registered 'demo-retail' ({} parts, validated {:?})", reg.dataset.total_parts, reg.validated_parts);
    }
    for (name, title, text) in QUERIES {
        let q: serde_json::Value = serde_json::from_str(text).context("parse a demo query")?;
        let out = invoker::run_query_job(&*app.datastore, &*app.executor, "demo-retail", &q, &opts, None)
            .await
            .with_context(|| format!("run demo query {name}"))?;
        if args.json {
            output::print_json_line(&out);
        } else {
            println!("== {name}: {title}");
            print!("{}", output::query_summary("demo-retail", &out));
        }
    }
    Ok(Exit::Success)
}
