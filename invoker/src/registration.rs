//! Dataset registration (docs/datasets.md "Registration"): discovery, sampling of parts to
//! validate, per-part checks by workers, cross-part checks (group ids unique, schemas equal),
//! merged schema, and atomic persistence. Also unregistration with the last-used safety
//! interval (docs/datasets.md "Unregister").

use crate::executor::{JobOptions, ProgressFn, TaskExecutor, run_all, view};
use crate::{InvokerError, new_request_id};
use protocol::dataset::*;
use protocol::job::{DatasetStats, RegistrationJobResult, RegistrationJobStats, UnregisterOutcome};
use protocol::task::{DatasetPartId, GroupIds, PartDescription, RegistrationTaskRequest, TaskHeader};
use rand::SeedableRng;
use std::collections::BTreeMap;
use storage::clock::unix_now;
use storage::glob::{compile, format_running_number, is_running_number};
use storage::{Datastore, Location, Stores};

/// Which parts registration validates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidationMode {
    Single,
    FirstLast,
    /// First, last and a random sample of the others (without replacement).
    Sample,
}

impl ValidationMode {
    pub fn parse(s: &str) -> Option<ValidationMode> {
        match s.to_ascii_lowercase().as_str() {
            "single" => Some(ValidationMode::Single),
            "first_last" => Some(ValidationMode::FirstLast),
            "sample" => Some(ValidationMode::Sample),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RegisterArgs {
    pub name: String,
    pub basepath: String,
    pub group_id_column: String,
    pub timestamp_column: String,
    /// A glob (default `*.parquet`) or a running-number pattern (`part-{:05}.parquet`).
    pub pattern: Option<String>,
    /// Number of parts, required with a running-number pattern.
    pub parts: Option<usize>,
    pub validation: ValidationMode,
    pub validate_uniques: bool,
    /// Validate only the first part's columns (the schema must still be read).
    pub skip_validation: bool,
    pub revision: Option<String>,
    pub sample_ratio: f64,
    pub sample_max: usize,
    /// Top values kept per categorical column, and the minimum relative frequency.
    pub top_count: usize,
    pub top_min_pct: f64,
}

impl RegisterArgs {
    pub fn new(name: &str, basepath: &str, group: &str, ts: &str) -> RegisterArgs {
        RegisterArgs {
            name: name.into(),
            basepath: basepath.into(),
            group_id_column: group.into(),
            timestamp_column: ts.into(),
            pattern: None,
            parts: None,
            validation: ValidationMode::Sample,
            validate_uniques: true,
            skip_validation: false,
            revision: None,
            sample_ratio: 0.1,
            sample_max: 10,
            top_count: 20,
            top_min_pct: 0.01,
        }
    }
}

fn storage_err(context: String) -> impl FnOnce(storage::StorageError) -> InvokerError {
    move |source| InvokerError::Storage { context, source }
}

/// Finds the dataset's parts: (names relative to the base path, sizes), in part order.
pub async fn discover(
    stores: &Stores,
    args: &RegisterArgs,
) -> Result<(NamingMethod, Vec<String>, Vec<u64>), InvokerError> {
    let base = Location::parse(&args.basepath).map_err(|e| InvokerError::InvalidArguments(e.to_string()))?;
    let store = stores.for_location(&base).map_err(|e| InvokerError::InvalidArguments(e.to_string()))?;
    let listing = store.list(&base).await.map_err(|e| match e {
        storage::StorageError::NotFound(what) => {
            InvokerError::InvalidArguments(format!("base path {} not found ({what})", args.basepath))
        }
        other => InvokerError::Storage { context: format!("list {}", args.basepath), source: other },
    })?;
    let pattern = args.pattern.clone().unwrap_or_else(|| "*.parquet".to_string());
    if is_running_number(&pattern) {
        let n = args.parts.ok_or_else(|| {
            InvokerError::InvalidArguments(format!("pattern '{pattern}' is a running-number pattern: give --parts N"))
        })?;
        if n == 0 {
            return Err(InvokerError::InvalidArguments("--parts must be at least 1".into()));
        }
        let sizes: BTreeMap<&str, u64> = listing.iter().map(|o| (o.name.as_str(), o.size)).collect();
        let mut names = Vec::with_capacity(n);
        let mut missing = Vec::new();
        for i in 0..n {
            let name = format_running_number(&pattern, i).map_err(|e| InvokerError::InvalidArguments(e.to_string()))?;
            if !sizes.contains_key(name.as_str()) {
                missing.push(name.clone());
            }
            names.push(name);
        }
        if !missing.is_empty() {
            let shown: Vec<_> = missing.iter().take(5).cloned().collect();
            return Err(InvokerError::InvalidArguments(format!(
                "{} of {n} parts named by '{pattern}' are missing at {}: {}{}",
                missing.len(),
                args.basepath,
                shown.join(", "),
                if missing.len() > 5 { ", ..." } else { "" }
            )));
        }
        let s = names.iter().map(|n| sizes[n.as_str()]).collect();
        return Ok((NamingMethod::RunningNumber, names, s));
    }
    if args.parts.is_some() {
        return Err(InvokerError::InvalidArguments(format!(
            "--parts applies to running-number patterns such as 'part-{{:05}}.parquet', not to '{pattern}'"
        )));
    }
    let glob = compile(&pattern).map_err(|e| InvokerError::InvalidArguments(e.to_string()))?;
    let (names, sizes): (Vec<String>, Vec<u64>) =
        listing.into_iter().filter(|o| glob.is_match(&o.name)).map(|o| (o.name, o.size)).unzip();
    if names.is_empty() {
        return Err(InvokerError::InvalidArguments(format!(
            "no files matching '{pattern}' found at {}",
            args.basepath
        )));
    }
    Ok((NamingMethod::List, names, sizes))
}

/// Part indexes to validate: first, last, and k random others without replacement.
pub fn sample_parts(n: usize, mode: ValidationMode, ratio: f64, max: usize, seed: u64) -> Vec<usize> {
    let mode = match (n, mode) {
        (1, _) => ValidationMode::Single,
        (2, ValidationMode::Sample) => ValidationMode::FirstLast,
        (_, m) => m,
    };
    match mode {
        ValidationMode::Single => vec![0],
        ValidationMode::FirstLast => vec![0, n - 1],
        ValidationMode::Sample => {
            let k = (((n as f64) * ratio).floor() as usize).min(max).saturating_sub(2).min(n - 2);
            let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
            let mut middle: Vec<usize> =
                rand::seq::index::sample(&mut rng, n - 2, k).into_iter().map(|i| i + 1).collect();
            middle.sort_unstable();
            let mut out = vec![0];
            out.extend(middle);
            out.push(n - 1);
            out
        }
    }
}

/// Counts group ids present in more than one sampled part.
fn shared_group_ids(descs: &[(usize, &PartDescription)]) -> (usize, Vec<String>) {
    let mut ints: BTreeMap<i64, usize> = BTreeMap::new();
    let mut strs: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, d) in descs {
        match &d.group_ids {
            Some(GroupIds::Int(v)) => v.iter().for_each(|x| *ints.entry(*x).or_default() += 1),
            Some(GroupIds::Str(v)) => v.iter().for_each(|x| *strs.entry(x.as_str()).or_default() += 1),
            None => {}
        }
    }
    let dup: Vec<String> = ints
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(k, _)| k.to_string())
        .chain(strs.iter().filter(|(_, n)| **n > 1).map(|(k, _)| k.to_string()))
        .collect();
    (dup.len(), dup.into_iter().take(5).collect())
}

fn type_map(s: &DatasetFullSchema) -> BTreeMap<String, String> {
    s.columns
        .values()
        .map(|c| (c.name.clone(), c.coltype.as_str().to_string()))
        .chain(s.unsupported_columns.iter().map(|(k, v)| (k.clone(), format!("unsupported {v}"))))
        .collect()
}

/// Merges the sampled parts' schemas (min/max over parts, categorical only if every part says
/// so, mean unique ratio, top values by mean frequency), after checking they are equal.
fn merge_schemas(
    args: &RegisterArgs,
    descs: &[(usize, &PartDescription)],
    names: &[String],
) -> Result<DatasetFullSchema, InvokerError> {
    let (first_idx, first) = descs[0];
    let want = type_map(&first.schema);
    for (idx, d) in &descs[1..] {
        let got = type_map(&d.schema);
        if got != want {
            let mut diffs = Vec::new();
            for k in want.keys().chain(got.keys()).collect::<std::collections::BTreeSet<_>>() {
                let (a, b) = (want.get(k), got.get(k));
                if a != b {
                    diffs.push(format!(
                        "'{k}': {} in {} vs {} in {}",
                        a.map_or("absent", String::as_str),
                        names[first_idx],
                        b.map_or("absent", String::as_str),
                        names[*idx]
                    ));
                }
            }
            return Err(InvokerError::DataValidation(format!("schemas differ between parts: {}", diffs.join("; "))));
        }
    }
    let n = descs.len() as f64;
    let mut merged = first.schema.clone();
    for (name, col) in merged.columns.iter_mut() {
        let all: Vec<&ColumnInfo> = descs.iter().filter_map(|(_, d)| d.schema.columns.get(name)).collect();
        let a = &mut col.colattrs;
        a.numeric_min = all.iter().filter_map(|c| c.colattrs.numeric_min).reduce(f64::min);
        a.numeric_max = all.iter().filter_map(|c| c.colattrs.numeric_max).reduce(f64::max);
        if col.coltype == protocol::ColumnType::String {
            a.categorical = all.iter().all(|c| c.colattrs.categorical);
            a.cat_unique_ratio = Some(all.iter().filter_map(|c| c.colattrs.cat_unique_ratio).sum::<f64>() / n);
            a.cat_top_values = a.categorical.then(|| {
                let mut sum: BTreeMap<String, f64> = BTreeMap::new();
                for c in &all {
                    for (k, v) in c.colattrs.cat_top_values.iter().flatten() {
                        *sum.entry(k.clone()).or_default() += v / n;
                    }
                }
                let mut v: Vec<(String, f64)> = sum.into_iter().filter(|(_, f)| *f >= args.top_min_pct).collect();
                v.sort_by(|x, y| y.1.total_cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
                v.truncate(args.top_count);
                v.into_iter().collect()
            });
        }
    }
    Ok(merged)
}

/// Registers (or re-registers) a dataset.
pub async fn register_dataset(
    stores: &Stores,
    datastore: &dyn Datastore,
    executor: &dyn TaskExecutor,
    args: &RegisterArgs,
    opts: &JobOptions,
    progress: Option<ProgressFn>,
) -> Result<RegistrationJobResult, InvokerError> {
    let t0 = std::time::Instant::now();
    if args.name.trim().is_empty() {
        return Err(InvokerError::InvalidArguments("dataset name must not be empty".into()));
    }
    if args.group_id_column == args.timestamp_column {
        return Err(InvokerError::InvalidArguments("group id and timestamp columns must differ".into()));
    }
    let (naming, names, sizes) = discover(stores, args).await?;
    let request_id = new_request_id();
    let registered_at = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let id = DatasetId { name: args.name.clone(), registered_at };
    let base = Location::parse(&args.basepath).map_err(|e| InvokerError::InvalidArguments(e.to_string()))?;
    let (mode, uniques) =
        if args.skip_validation { (ValidationMode::Single, false) } else { (args.validation, args.validate_uniques) };
    let seed = request_id.bytes().fold(0u64, |h, b| h.wrapping_mul(131).wrapping_add(u64::from(b)));
    let sample = sample_parts(names.len(), mode, args.sample_ratio, args.sample_max, seed);
    let uniques = uniques && sample.len() > 1;
    let invoke_time = unix_now();
    let make = |i: usize, attempt: u32| RegistrationTaskRequest {
        header: TaskHeader {
            request_id: request_id.clone(),
            invoke_time,
            attempt_no: attempt,
            task_index: i,
            part: DatasetPartId {
                dataset_id: id.clone(),
                path: base.join(&names[sample[i]]).to_string(),
                part_idx: sample[i],
            },
            group_id_column: args.group_id_column.clone(),
            timestamp_column: args.timestamp_column.clone(),
        },
        return_group_ids: uniques,
    };
    let ran = run_all(
        sample.len(),
        executor.concurrency(),
        opts.policy(),
        make,
        |req| executor.run_registration(req),
        |r: &protocol::task::RegistrationTaskResult| view(r.task_index, r.attempt_no, &r.outcome),
        |_| {},
        progress,
    )
    .await;
    executor.finish_request(&request_id).await;
    if ran.timed_out.is_some() {
        return Err(InvokerError::TasksFailed(format!(
            "registration timed out after {} seconds (are workers running?)",
            opts.timeout.as_secs_f64()
        )));
    }
    let (results, attempts) = (ran.results, ran.attempts);
    if results.len() != sample.len() {
        return Err(InvokerError::Internal(format!(
            "{} of {} registration tasks ended without a result",
            sample.len() - results.len(),
            sample.len()
        )));
    }
    let mut descs = Vec::new();
    let mut errors = Vec::new();
    for r in &results {
        match &r.outcome {
            Ok(d) => descs.push((sample[r.task_index], d)),
            Err(e) => errors.push(format!("part {}: {}", names[sample[r.task_index]], e.message)),
        }
    }
    if !errors.is_empty() {
        return Err(InvokerError::DataValidation(format!(
            "registration of '{}' failed: {}",
            args.name,
            errors.join("; ")
        )));
    }
    if uniques {
        let (n_dup, some) = shared_group_ids(&descs);
        if n_dup > 0 {
            return Err(InvokerError::DataValidation(format!(
                "group ids are not unique across the {} sampled parts: {n_dup} ids appear in more than one part (e.g. {})",
                descs.len(),
                some.join(", ")
            )));
        }
    }
    let schema = merge_schemas(args, &descs, &names)?;
    let info = DatasetInfo {
        basepath: args.basepath.clone(),
        total_parts: names.len(),
        id,
        group_id_column: args.group_id_column.clone(),
        timestamp_column: args.timestamp_column.clone(),
        revision: args.revision.clone(),
    };
    let record = DatasetRecord {
        info: info.clone(),
        parts: DatasetPartsInfo {
            naming_method: naming,
            total_parts: names.len(),
            total_size: sizes.iter().sum(),
            running_number_pattern: (naming == NamingMethod::RunningNumber)
                .then(|| args.pattern.clone().unwrap_or_default()),
            filenames: names,
            sizes,
        },
        schema,
    };
    datastore.write_dataset(&record).await.map_err(storage_err(format!("save dataset '{}'", args.name)))?;
    Ok(RegistrationJobResult {
        success: true,
        request_id,
        dataset: info,
        validated_parts: sample,
        stats: RegistrationJobStats {
            total_time: t0.elapsed().as_secs_f64(),
            dataset: DatasetStats { total_size: record.parts.total_size, parts: record.parts.total_parts },
            attempts,
            // Every validated part has one attempt; the rest are retries.
            retries: (attempts as usize).saturating_sub(results.len()),
        },
    })
}

/// Removes a dataset's metadata (never its files), refusing when it was used less than
/// `interval` ago unless `force`.
pub async fn unregister_dataset(
    datastore: &dyn Datastore,
    name: &str,
    force: bool,
    interval: std::time::Duration,
) -> Result<UnregisterOutcome, InvokerError> {
    let interval_seconds = interval.as_secs();
    let ctx = || format!("unregister '{name}'");
    if datastore.dataset(name).await.map_err(storage_err(ctx()))?.is_none() {
        return Ok(UnregisterOutcome {
            success: true,
            dataset_found: false,
            dataset_last_used: None,
            error_message: None,
        });
    }
    let last = datastore.last_used(name).await.map_err(storage_err(ctx()))?;
    if let Some(t) = last {
        let ago = (unix_now() as u64).saturating_sub(t);
        if !force && interval_seconds > 0 && ago < interval_seconds {
            return Ok(UnregisterOutcome {
                success: false,
                dataset_found: true,
                dataset_last_used: Some(t),
                error_message: Some(format!(
                    "Dataset was last used {ago} seconds ago, which is less than safety interval {interval_seconds}. Use the 'force' parameter to unregister anyway."
                )),
            });
        }
    }
    let found = datastore.remove_dataset(name).await.map_err(storage_err(ctx()))?;
    Ok(UnregisterOutcome { success: true, dataset_found: found, dataset_last_used: last, error_message: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_follows_the_reference_counts_without_replacement() {
        assert_eq!(sample_parts(1, ValidationMode::Sample, 0.1, 10, 1), vec![0]);
        assert_eq!(sample_parts(2, ValidationMode::Sample, 0.1, 10, 1), vec![0, 1]);
        assert_eq!(sample_parts(20, ValidationMode::Sample, 0.1, 10, 1), vec![0, 19]);
        assert_eq!(sample_parts(20, ValidationMode::Single, 0.1, 10, 1), vec![0]);
        assert_eq!(sample_parts(20, ValidationMode::FirstLast, 0.1, 10, 1), vec![0, 19]);
        for seed in 0..50 {
            let s = sample_parts(120, ValidationMode::Sample, 0.1, 10, seed);
            assert_eq!(s.len(), 10);
            let mut d = s.clone();
            d.dedup();
            assert_eq!(d, s, "sorted, no repeats");
            assert_eq!((s[0], s[9]), (0, 119));
        }
        // Ratio 1 on 4 parts: all of them, each once.
        assert_eq!(sample_parts(4, ValidationMode::Sample, 1.0, 10, 3), vec![0, 1, 2, 3]);
    }
}
