//! `frocket dataprep repartition|retailrocket|synth`: data preparation with progress on
//! stderr (docs/dataprep.md). Remote (s3://) and CSV inputs are staged next to the output first.

use crate::app::App;
use crate::cli::{DataprepCommand, RepartitionArgs, RetailrocketArgs, SynthArgs};
use crate::error::{CliError, Exit};
use crate::output;
use crate::units::{MIB, mib, peak_memory_bytes};
use anyhow::Context;
use dataprep::repartition::{RepartitionConfig, repartition};
use std::path::{Path, PathBuf};

pub async fn run(app: &App, cmd: DataprepCommand) -> Result<Exit, CliError> {
    match cmd {
        DataprepCommand::Repartition(args) => repartition_command(app, args).await,
        DataprepCommand::Retailrocket(args) => retailrocket(app, args).await,
        DataprepCommand::Synth(args) => synth(app, &args),
    }
}

/// Expands inputs: files as they are, directories to their `*.parquet`, globs over a directory.
fn expand(inputs: &[String]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for i in inputs {
        let p = PathBuf::from(i);
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&p)
                .with_context(|| format!("list {i}"))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "parquet"))
                .collect();
            files.sort();
            out.extend(files);
        } else if i.contains(['*', '?', '[']) {
            let dir = p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."));
            let pattern = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let glob = storage::glob::compile(&pattern)?;
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .with_context(|| format!("list {}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.file_name().is_some_and(|n| glob.is_match(n.to_string_lossy().as_ref())))
                .collect();
            files.sort();
            out.extend(files);
        } else {
            out.push(p);
        }
    }
    Ok(out)
}

/// Downloads `s3://bucket/prefix/glob` inputs into `staging`; returns the local files.
async fn fetch_s3_inputs(app: &App, input: &str, staging: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let (dir, pattern) = match input.rsplit_once('/') {
        Some((d, p)) if p.contains(['*', '?', '[']) => (d.to_string(), p.to_string()),
        _ => (input.trim_end_matches('/').to_string(), "*.parquet".to_string()),
    };
    let base = storage::Location::parse(&dir)?;
    let store = app.stores.for_location(&base)?.clone();
    let glob = storage::glob::compile(&pattern)?;
    let listing = store.list(&base).await.with_context(|| format!("list {dir}"))?;
    let mut out = Vec::new();
    for o in listing.into_iter().filter(|o| glob.is_match(&o.name)) {
        let dest = staging.join(o.name.replace('/', "_"));
        store.download(&base.join(&o.name), &dest).await.with_context(|| format!("download {dir}/{}", o.name))?;
        out.push(dest);
    }
    Ok(out)
}

/// A staging directory next to `output` (same filesystem), removed when dropped.
struct Staging(PathBuf);

impl Staging {
    fn next_to(output: &Path) -> anyhow::Result<Staging> {
        let parent = output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let dir = parent.join(format!(".frocket-staging-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        Ok(Staging(dir))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!("could not remove the staging directory {}: {e}", self.0.display());
        }
    }
}

/// Rows per Parquet chunk a CSV input is converted to before repartitioning (bounds memory).
const CSV_CHUNK_ROWS: usize = 1 << 20;

/// S3 inputs downloaded and CSV files converted to Parquet chunks in `staging`; local Parquet
/// inputs as they are.
async fn stage_inputs(app: &App, args: &RepartitionArgs, staging: &Path) -> anyhow::Result<Vec<String>> {
    let is_csv = |p: &str| p.to_ascii_lowercase().ends_with(".csv");
    let mut local: Vec<String> = Vec::new();
    for i in &args.inputs {
        if i.starts_with("s3://") {
            local.extend(fetch_s3_inputs(app, i, staging).await?.into_iter().map(|p| p.display().to_string()));
        } else {
            local.push(i.clone());
        }
    }
    let mut out = Vec::new();
    let mut skipped = 0;
    for f in expand(&local)? {
        let name = f.display().to_string();
        if is_csv(&name) {
            let (chunks, s) =
                dataprep::csv_input::csv_to_parquet_chunks(&f, staging, CSV_CHUNK_ROWS, args.skip_bad_lines)?;
            skipped += s;
            out.extend(chunks.into_iter().map(|p| p.display().to_string()));
        } else {
            out.push(name);
        }
    }
    if skipped > 0 && !app.quiet {
        eprintln!("skipped {skipped} malformed CSV lines");
    }
    Ok(out)
}

/// A progress callback drawing on a bar (when not quiet), and the bar.
fn progress(quiet: bool) -> (Option<indicatif::ProgressBar>, impl Fn(&str, u64, u64)) {
    let bar = (!quiet).then(|| output::progress_bar("preparing"));
    let b = bar.clone();
    let f = move |stage: &str, done: u64, total: u64| {
        if let Some(b) = &b {
            b.set_length(total);
            b.set_position(done);
            b.set_message(stage.to_string());
        }
    };
    (bar, f)
}

/// Peak resident memory for a summary line.
fn peak_memory() -> String {
    peak_memory_bytes().map(|b| format!(", peak memory {:.0} MiB", mib(b))).unwrap_or_default()
}

async fn repartition_command(app: &App, args: RepartitionArgs) -> Result<Exit, CliError> {
    let remote_or_csv = args.inputs.iter().any(|i| i.starts_with("s3://") || i.to_ascii_lowercase().ends_with(".csv"));
    let staging = if remote_or_csv { Some(Staging::next_to(&args.output)?) } else { None };
    let inputs = match &staging {
        Some(s) => stage_inputs(app, &args, &s.0).await?,
        None => args.inputs.clone(),
    };
    let files = expand(&inputs)?;
    if files.is_empty() {
        return Err(CliError::usage(format!("no input files match {:?}", args.inputs)));
    }
    let mut cfg = RepartitionConfig::new(files, &args.group_column, &args.output);
    cfg.timestamp_column = args.timestamp_column.clone();
    cfg.parts = args.parts;
    cfg.target_part_bytes = args.part_size_mb * MIB;
    cfg.force = args.force;
    cfg.drop_null_groups = args.drop_null_groups;
    let t = std::time::Instant::now();
    let (bar, on_progress) = progress(app.quiet);
    let res = repartition(&cfg, &on_progress);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let s = res?;
    println!(
        "wrote {} parts ({} rows, {} groups, {} rows with null group ids dropped, {:.1} MiB from {:.1} MiB) to {} in {:.1}s{}",
        s.parts,
        s.rows,
        s.groups,
        s.dropped_null_groups,
        mib(s.output_bytes),
        mib(s.input_bytes),
        args.output.display(),
        t.elapsed().as_secs_f64(),
        peak_memory()
    );
    Ok(Exit::Success)
}

fn synth(app: &App, args: &SynthArgs) -> Result<Exit, CliError> {
    let cfg = dataprep::synth::SynthConfig {
        seed: args.seed,
        shape: args.shape,
        ..dataprep::synth::SynthConfig::new(args.rows, args.parts)
    };
    let t = std::time::Instant::now();
    let bar = (!app.quiet).then(|| output::progress_bar("preparing"));
    let res = dataprep::synth::generate_dataset(&cfg, &args.output, args.force);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let s = res?;
    println!("{}{}", s.describe(&args.output, t.elapsed().as_secs_f64()), peak_memory());
    Ok(Exit::Success)
}

/// `frocket dataprep retailrocket`: ingest, repartition by visitor, optionally upload and register.
async fn retailrocket(app: &App, args: RetailrocketArgs) -> Result<Exit, CliError> {
    use dataprep::retailrocket::{IngestConfig, ingest};
    let t = std::time::Instant::now();
    let cfg = IngestConfig { input_dir: args.input.clone(), skip_bad_lines: args.skip_bad_lines };
    let (mut df, s) = tokio::task::spawn_blocking(move || ingest(&cfg)).await.context("ingest task")??;
    if !app.quiet {
        eprintln!(
            "ingested {} events ({} lines skipped, {} without a category) in {:.1}s",
            s.events,
            s.skipped_lines,
            s.events_without_category,
            t.elapsed().as_secs_f64()
        );
    }
    let output = &args.output;
    let summary = {
        let staging = Staging::next_to(output)?;
        let single = staging.0.join("retailrocket.parquet");
        dataprep::synth::write_parquet_atomic(&mut df, &single)?;
        drop(df);
        let mut rcfg = RepartitionConfig::new(vec![single], "visitorid", output);
        rcfg.timestamp_column = Some("timestamp".into());
        rcfg.parts = Some(args.parts);
        rcfg.force = args.force;
        repartition(&rcfg, &|_, _, _| {})?
    };
    println!(
        "wrote {} parts ({} rows, {} visitors) to {}",
        summary.parts,
        summary.rows,
        summary.groups,
        output.display()
    );
    let mut basepath = std::fs::canonicalize(output).context("resolve the output directory")?.display().to_string();
    if let Some(dest) = args.upload {
        let base = storage::Location::parse(&dest).map_err(|e| CliError::usage(format!("--upload {dest}: {e}")))?;
        let store = storage::s3::S3Store::new(&app.config.s3_config()).await;
        for k in 0..summary.parts {
            let name = dataprep::synth::part_file_name(k);
            store
                .upload_file(&output.join(&name), &base.join(&name))
                .await
                .with_context(|| format!("upload {name}"))?;
        }
        println!("uploaded {} parts to {dest}", summary.parts);
        basepath = dest;
    }
    if let Some(name) = args.register {
        let mut reg = invoker::RegisterArgs::new(&name, &basepath, "visitorid", "timestamp");
        reg.pattern = Some("part-{:05}.parquet".into());
        reg.parts = Some(summary.parts);
        let r = invoker::register_dataset(&app.stores, &*app.datastore, &*app.executor, &reg, &app.job_options(), None)
            .await?;
        println!("registered '{}' ({} parts)", r.dataset.id.name, r.dataset.total_parts);
    }
    Ok(Exit::Success)
}
