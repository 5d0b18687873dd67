//! `frocket dataprep …`: repartitioning and synthetic data, with progress on stderr.

use crate::DataprepCommand;
use crate::app::{OK, USAGE};
use anyhow::{Context, Result};
use dataprep::DataprepError;
use dataprep::repartition::{RepartitionConfig, repartition};
use std::path::PathBuf;

/// Expands inputs: files as they are, directories to their `*.parquet`, globs over a directory.
fn expand(inputs: &[String]) -> Result<Vec<PathBuf>> {
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
async fn fetch_s3_inputs(app: &crate::app::App, input: &str, staging: &std::path::Path) -> Result<Vec<PathBuf>> {
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

/// `frocket dataprep repartition` with S3 and/or CSV inputs: S3 inputs are downloaded and CSV
/// files converted to Parquet chunks in a staging directory next to the output, then all is
/// repartitioned locally; the staging directory is removed afterwards.
pub async fn run_with_remote_inputs(app: &crate::app::App, cmd: DataprepCommand) -> Result<u8> {
    let DataprepCommand::Repartition(mut args) = cmd else { return run(cmd, app.quiet) };
    let is_csv = |p: &str| p.to_ascii_lowercase().ends_with(".csv");
    if !args.inputs.iter().any(|i| i.starts_with("s3://") || is_csv(i)) {
        return run(DataprepCommand::Repartition(args), app.quiet);
    }
    let (inputs, output, skip_bad_lines) = (args.inputs.clone(), args.output.clone(), args.skip_bad_lines);
    let staging = tempfile_dir(&output)?;
    let prepared = async {
        let mut local: Vec<String> = Vec::new();
        for i in &inputs {
            if i.starts_with("s3://") {
                local.extend(fetch_s3_inputs(app, i, &staging).await?.into_iter().map(|p| p.display().to_string()));
            } else {
                local.push(i.clone());
            }
        }
        let mut out = Vec::new();
        let mut skipped = 0;
        for f in expand(&local)? {
            if is_csv(&f.display().to_string()) {
                let (chunks, s) = dataprep::csv_input::csv_to_parquet_chunks(&f, &staging, 1 << 20, skip_bad_lines)?;
                skipped += s;
                out.extend(chunks.into_iter().map(|p| p.display().to_string()));
            } else {
                out.push(f.display().to_string());
            }
        }
        if skipped > 0 && !app.quiet {
            eprintln!("skipped {skipped} malformed CSV lines");
        }
        anyhow::Ok(out)
    }
    .await;
    let res = match prepared {
        Ok(files) => {
            args.inputs = files;
            run(DataprepCommand::Repartition(args), app.quiet)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            Ok(USAGE)
        }
    };
    let _ = std::fs::remove_dir_all(&staging);
    res
}

/// Peak resident memory of this process in bytes (Linux `VmHWM`; `None` elsewhere).
pub fn peak_memory_bytes() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()))
        .map(|kb| kb * 1024)
}

/// Peak resident memory for a summary line.
fn peak_memory() -> String {
    peak_memory_bytes().map(|b| format!(", peak memory {:.0} MB", b as f64 / 1048576.0)).unwrap_or_default()
}

pub fn run(cmd: DataprepCommand, quiet: bool) -> Result<u8> {
    let bar = (!quiet).then(|| crate::output::progress_bar("preparing"));
    let progress = |stage: &str, done: u64, total: u64| {
        if let Some(b) = &bar {
            b.set_length(total);
            b.set_position(done);
            b.set_message(stage.to_string());
        }
    };
    let res = match cmd {
        DataprepCommand::Repartition(crate::RepartitionArgs {
            inputs,
            group_column,
            timestamp_column,
            parts,
            part_size_mb,
            output,
            force,
            drop_null_groups,
            skip_bad_lines: _,
        }) => {
            let files = expand(&inputs)?;
            if files.is_empty() {
                eprintln!("error: no input files match {inputs:?}");
                return Ok(USAGE);
            }
            let mut cfg = RepartitionConfig::new(files, &group_column, &output);
            cfg.timestamp_column = timestamp_column;
            cfg.parts = parts;
            cfg.target_part_bytes = part_size_mb << 20;
            cfg.force = force;
            cfg.drop_null_groups = drop_null_groups;
            let t = std::time::Instant::now();
            repartition(&cfg, &progress).map(|s| {
                format!(
                    "wrote {} parts ({} rows, {} groups, {} rows with null group ids dropped, {:.1} MB from {:.1} MB) to {} in {:.1}s",
                    s.parts,
                    s.rows,
                    s.groups,
                    s.dropped_null_groups,
                    s.output_bytes as f64 / 1e6,
                    s.input_bytes as f64 / 1e6,
                    output.display(),
                    t.elapsed().as_secs_f64()
                )
            })
        }
        DataprepCommand::Retailrocket { .. } => unreachable!("handled by prep::retailrocket"),
        DataprepCommand::Synth { rows, parts, seed, output, force } => {
            let cfg = dataprep::synth::SynthConfig { seed, ..dataprep::synth::SynthConfig::new(rows, parts) };
            let t = std::time::Instant::now();
            dataprep::synth::generate_dataset(&cfg, &output, force)
                .map(|s| s.describe(&output, t.elapsed().as_secs_f64()))
        }
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    match res {
        Ok(msg) => {
            println!("{msg}{}", peak_memory());
            Ok(OK)
        }
        Err(e @ (DataprepError::InvalidArguments(_) | DataprepError::OutputNotEmpty(_))) => {
            eprintln!("error: {e}");
            Ok(USAGE)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(crate::app::JOB_FAILED)
        }
    }
}

/// `frocket dataprep retailrocket`: ingest, repartition by visitor, optionally upload and register.
#[allow(clippy::too_many_arguments)]
pub async fn retailrocket(
    app: &crate::app::App,
    input: &std::path::Path,
    output: &std::path::Path,
    parts: usize,
    skip_bad_lines: bool,
    upload: Option<String>,
    register: Option<String>,
    force: bool,
) -> Result<u8> {
    use dataprep::retailrocket::{IngestConfig, ingest};
    let t = std::time::Instant::now();
    let cfg = IngestConfig { input_dir: input.to_path_buf(), skip_bad_lines };
    let (mut df, s) = match tokio::task::spawn_blocking(move || ingest(&cfg)).await? {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(USAGE);
        }
    };
    if !app.quiet {
        eprintln!(
            "ingested {} events ({} lines skipped, {} without a category) in {:.1}s",
            s.events,
            s.skipped_lines,
            s.events_without_category,
            t.elapsed().as_secs_f64()
        );
    }
    let staging = tempfile_dir(output)?;
    let single = staging.join("retailrocket.parquet");
    dataprep::synth::write_parquet_atomic(&mut df, &single)?;
    drop(df);
    let mut rcfg = RepartitionConfig::new(vec![single], "visitorid", output);
    rcfg.timestamp_column = Some("timestamp".into());
    rcfg.parts = Some(parts);
    rcfg.force = force;
    let res = repartition(&rcfg, &|_, _, _| {});
    let _ = std::fs::remove_dir_all(&staging);
    let summary = match res {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(USAGE);
        }
    };
    println!(
        "wrote {} parts ({} rows, {} visitors) to {}",
        summary.parts,
        summary.rows,
        summary.groups,
        output.display()
    );
    let mut basepath = std::fs::canonicalize(output)?.display().to_string();
    if let Some(dest) = upload {
        let base = storage::Location::parse(&dest)?;
        let store = match &app.stores.s3 {
            Some(_) => {
                storage::s3::S3Store::new(&storage::s3::S3Config {
                    endpoint_url: app.config.s3_endpoint.clone(),
                    region: app.config.s3_region.clone(),
                    force_path_style: app.config.s3_force_path_style,
                    credentials: None,
                })
                .await
            }
            None => anyhow::bail!("S3 is not configured"),
        };
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
    if let Some(name) = register {
        let mut args = invoker::RegisterArgs::new(&name, &basepath, "visitorid", "timestamp");
        args.pattern = Some("part-{:05}.parquet".into());
        args.parts = Some(summary.parts);
        let r = invoker::register_dataset(&app.stores, &*app.datastore, &*app.executor, &args, None).await?;
        println!("registered '{}' ({} parts)", r.dataset.id.name, r.dataset.total_parts);
    }
    Ok(OK)
}

/// A staging directory next to `output` (same filesystem, removed by the caller).
fn tempfile_dir(output: &std::path::Path) -> Result<PathBuf> {
    let parent =
        output.parent().filter(|p| !p.as_os_str().is_empty()).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    let dir = parent.join(format!(".retailrocket-staging-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir)
}
