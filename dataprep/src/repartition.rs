//! Repartitioning any Parquet dataset by group id (external, bounded memory):
//!
//! 1. **map**: each input file is read in slices of `batch_rows` rows (never whole); every row
//!    goes to bucket `xxh3_64(group id) mod parts` (integers hashed as their 8 little-endian
//!    bytes, strings as their UTF-8 bytes — stable across runs, machines and versions); each
//!    slice's rows of each bucket are spilled to `bucket-K/` as a Parquet chunk (lz4).
//! 2. **reduce**: per bucket (in parallel, one bucket per core at a time), its chunks are read,
//!    sorted by (group id, timestamp) and written as `part-0000K.parquet` (zstd, row groups of
//!    about `row_group_rows` rows, each ending on a group boundary so that no group spans two
//!    and readers can tell from the statistics; low-cardinality strings as dictionaries).
//! 3. **verify**: rows out = rows in, and every output row hashes to its own part (so group ids
//!    are disjoint across parts).
//!
//! Output is written to a temp directory next to the target and renamed into place only when
//! complete and verified: a half-written dataset never looks complete. Peak memory is about one
//! input slice plus, per concurrently reduced bucket, one whole output part (decoded), so size
//! parts to fit (`--part-size-mb`, default 64 MB of Parquet).

use crate::DataprepError;
use crate::synth::{part_file_name, write_parquet_atomic};
use polars::prelude::*;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone, PartialEq)]
pub struct RepartitionConfig {
    pub inputs: Vec<PathBuf>,
    pub group_column: String,
    /// Sort key within a group (rows are ordered by group, then this column).
    pub timestamp_column: Option<String>,
    /// Number of output parts; when `None`, derived from `target_part_bytes`.
    pub parts: Option<usize>,
    pub target_part_bytes: u64,
    pub output: PathBuf,
    pub force: bool,
    pub batch_rows: usize,
    pub row_group_rows: usize,
    /// String columns with at most this ratio of distinct values are written as dictionaries.
    pub dictionary_ratio: f64,
    /// Drop rows whose group id is null (counted) instead of failing.
    pub drop_null_groups: bool,
}

impl RepartitionConfig {
    pub fn new(inputs: Vec<PathBuf>, group: &str, output: &Path) -> Self {
        RepartitionConfig {
            inputs,
            group_column: group.into(),
            timestamp_column: None,
            parts: None,
            target_part_bytes: 64 << 20,
            output: output.to_path_buf(),
            force: false,
            batch_rows: 1 << 20,
            row_group_rows: 256 * 1024,
            dictionary_ratio: 0.1,
            drop_null_groups: false,
        }
    }
}

/// What a repartitioning did.
#[derive(Debug, Clone, PartialEq)]
pub struct RepartitionSummary {
    pub parts: usize,
    pub rows: u64,
    pub input_bytes: u64,
    pub output_bytes: u64,
    pub groups: u64,
    /// Rows dropped because their group id was null (with `drop_null_groups`).
    pub dropped_null_groups: u64,
}

fn pe(path: &Path) -> impl Fn(PolarsError) -> DataprepError + '_ {
    move |e| DataprepError::Parquet { path: path.to_path_buf(), message: e.to_string() }
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl Fn(std::io::Error) -> DataprepError + 'a {
    move |source| DataprepError::Io { action, path: path.to_path_buf(), source }
}

/// The bucket of every row of `df` (stable hash of the group id).
pub fn buckets(df: &DataFrame, group: &str, parts: usize) -> Result<Vec<u32>, DataprepError> {
    let col =
        df.column(group).map_err(|_| DataprepError::InvalidArguments(format!("group column '{group}' not found")))?;
    let s = col.as_materialized_series();
    if s.null_count() > 0 {
        return Err(DataprepError::InvalidArguments(format!(
            "group column '{group}' has {} null values",
            s.null_count()
        )));
    }
    let n = parts as u64;
    let h = |bytes: &[u8]| (xxhash_rust::xxh3::xxh3_64(bytes) % n) as u32;
    if s.dtype().is_integer() {
        let ca = s.cast(&DataType::Int64).map_err(|e| DataprepError::InvalidArguments(e.to_string()))?;
        Ok(ca
            .i64()
            .map_err(|e| DataprepError::InvalidArguments(e.to_string()))?
            .into_no_null_iter()
            .map(|v| h(&v.to_le_bytes()))
            .collect())
    } else if s.dtype().is_string() || s.dtype().is_categorical() {
        let ca = s.cast(&DataType::String).map_err(|e| DataprepError::InvalidArguments(e.to_string()))?;
        Ok(ca
            .str()
            .map_err(|e| DataprepError::InvalidArguments(e.to_string()))?
            .iter()
            .map(|v| h(v.unwrap_or_default().as_bytes()))
            .collect())
    } else {
        Err(DataprepError::InvalidArguments(format!(
            "group column '{group}' must be integer or string, found {}",
            s.dtype()
        )))
    }
}

fn read_slice(path: &Path, offset: usize, len: usize) -> Result<DataFrame, DataprepError> {
    let f = std::fs::File::open(path).map_err(io("open input", path))?;
    ParquetReader::new(f).with_slice(Some((offset, len))).finish().map_err(pe(path))
}

fn count_rows(path: &Path) -> Result<usize, DataprepError> {
    let f = std::fs::File::open(path).map_err(io("open input", path))?;
    ParquetReader::new(f).num_rows().map_err(pe(path))
}

/// Casts low-cardinality string columns to categoricals (written as Parquet dictionaries).
fn dictionary_encode(df: &mut DataFrame, ratio: f64) -> Result<(), DataprepError> {
    let names: Vec<String> =
        df.columns().iter().filter(|c| c.dtype().is_string()).map(|c| c.name().to_string()).collect();
    let rows = df.height().max(1) as f64;
    for name in names {
        let c = df.column(&name).map_err(|e| DataprepError::InvalidArguments(e.to_string()))?;
        let distinct = c.as_materialized_series().n_unique().unwrap_or(usize::MAX) as f64;
        if distinct / rows <= ratio {
            let cat = c
                .as_materialized_series()
                .cast(&DataType::from_categories(Categories::global()))
                .map_err(|e| DataprepError::InvalidArguments(e.to_string()))?;
            df.replace(&name, cat.into_column()).map_err(|e| DataprepError::InvalidArguments(e.to_string()))?;
        }
    }
    Ok(())
}

/// Repartitions the inputs; `progress(stage, done, total)` is called as work proceeds.
pub fn repartition(
    cfg: &RepartitionConfig,
    progress: &(dyn Fn(&str, u64, u64) + Sync),
) -> Result<RepartitionSummary, DataprepError> {
    if cfg.inputs.is_empty() {
        return Err(DataprepError::InvalidArguments("no input files".into()));
    }
    if cfg.output.exists()
        && std::fs::read_dir(&cfg.output).map_err(io("read", &cfg.output))?.next().is_some()
        && !cfg.force
    {
        return Err(DataprepError::OutputNotEmpty(cfg.output.clone()));
    }
    let input_bytes: u64 = cfg
        .inputs
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io("stat input", &cfg.inputs[0]))?
        .iter()
        .sum();
    let rows_per_input: Vec<usize> = cfg.inputs.iter().map(|p| count_rows(p)).collect::<Result<_, _>>()?;
    let total_rows: u64 = rows_per_input.iter().map(|&n| n as u64).sum();
    if total_rows == 0 {
        return Err(DataprepError::InvalidArguments("the inputs hold no rows".into()));
    }
    let parts = cfg.parts.unwrap_or_else(|| input_bytes.div_ceil(cfg.target_part_bytes.max(1)).max(1) as usize);
    if parts == 0 {
        return Err(DataprepError::InvalidArguments("parts must be at least 1".into()));
    }
    let parent = cfg.output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io("create", parent))?;
    let name = cfg.output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let work = parent.join(format!(".{name}.repartition-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let spill = work.join("spill");
    let out_tmp = work.join("out");
    std::fs::create_dir_all(&out_tmp).map_err(io("create", &out_tmp))?;
    for k in 0..parts {
        std::fs::create_dir_all(spill.join(format!("bucket-{k:05}"))).map_err(io("create", &spill))?;
    }
    let result = (|| {
        // Map: slices of every input, spilled per bucket.
        let slices: Vec<(usize, usize, usize)> = rows_per_input
            .iter()
            .enumerate()
            .flat_map(|(f, &n)| {
                (0..n.div_ceil(cfg.batch_rows))
                    .map(move |i| (f, i * cfg.batch_rows, cfg.batch_rows.min(n - i * cfg.batch_rows)))
            })
            .collect();
        let done = AtomicU64::new(0);
        let dropped = AtomicU64::new(0);
        let schema: std::sync::Mutex<Option<Schema>> = std::sync::Mutex::new(None);
        slices.par_iter().try_for_each(|&(f, offset, len)| -> Result<(), DataprepError> {
            let path = &cfg.inputs[f];
            let mut df = read_slice(path, offset, len)?;
            if cfg.drop_null_groups
                && let Ok(g) = df.column(&cfg.group_column)
                && g.null_count() > 0
            {
                let keep = g.as_materialized_series().is_not_null();
                let before = df.height();
                df = df.filter(&keep).map_err(pe(path))?;
                dropped.fetch_add((before - df.height()) as u64, Ordering::SeqCst);
            }
            {
                let mut s = schema.lock().unwrap_or_else(|p| p.into_inner());
                let this = df.schema().as_ref().clone();
                match s.as_ref() {
                    None => *s = Some(this),
                    Some(first) if first != &this => {
                        return Err(DataprepError::InvalidArguments(format!(
                            "{} has a different schema than the other inputs",
                            path.display()
                        )));
                    }
                    _ => {}
                }
            }
            let b = buckets(&df, &cfg.group_column, parts)?;
            let mut idx: Vec<Vec<IdxSize>> = vec![Vec::new(); parts];
            for (row, &k) in b.iter().enumerate() {
                idx[k as usize].push(row as IdxSize);
            }
            for (k, rows) in idx.into_iter().enumerate() {
                if rows.is_empty() {
                    continue;
                }
                let mut chunk = df.take(&IdxCa::from_vec("idx".into(), rows)).map_err(pe(path))?;
                let chunk_path = spill.join(format!("bucket-{k:05}/f{f:05}-{offset:012}.parquet"));
                let file = std::fs::File::create(&chunk_path).map_err(io("spill", &chunk_path))?;
                ParquetWriter::new(file)
                    .with_compression(ParquetCompression::Lz4Raw)
                    .finish(&mut chunk)
                    .map_err(pe(&chunk_path))?;
            }
            progress("partition", done.fetch_add(len as u64, Ordering::SeqCst) + len as u64, total_rows);
            Ok(())
        })?;
        // Reduce: each bucket sorted into its part.
        let done = AtomicU64::new(0);
        let written: Vec<(u64, u64, u64)> = (0..parts)
            .into_par_iter()
            .map(|k| -> Result<(u64, u64, u64), DataprepError> {
                let dir = spill.join(format!("bucket-{k:05}"));
                let mut chunks: Vec<PathBuf> = std::fs::read_dir(&dir)
                    .map_err(io("read", &dir))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .collect();
                chunks.sort();
                let mut df: Option<DataFrame> = None;
                for c in &chunks {
                    let part = read_slice(c, 0, usize::MAX)?;
                    match df.as_mut() {
                        None => df = Some(part),
                        Some(d) => {
                            d.vstack_mut_owned(part).map_err(pe(c))?;
                        }
                    }
                    let _ = std::fs::remove_file(c);
                }
                let out = out_tmp.join(part_file_name(k));
                let Some(mut df) = df else {
                    // An empty bucket still gets a part with the right schema.
                    let s = schema.lock().unwrap_or_else(|p| p.into_inner()).clone().unwrap_or_default();
                    let mut empty = DataFrame::empty_with_schema(&s);
                    let bytes = write_parquet_atomic(&mut empty, &out)?;
                    return Ok((0, bytes, 0));
                };
                df.rechunk_mut();
                let mut by = vec![cfg.group_column.clone()];
                by.extend(cfg.timestamp_column.clone());
                df = df.sort(by, SortMultipleOptions::default().with_maintain_order(true)).map_err(pe(&out))?;
                dictionary_encode(&mut df, cfg.dictionary_ratio)?;
                let groups = df
                    .column(&cfg.group_column)
                    .map_err(pe(&out))?
                    .as_materialized_series()
                    .n_unique()
                    .map_err(pe(&out))? as u64;
                let rows = df.height() as u64;
                let bytes = crate::synth::write_parquet_grouped(
                    &mut df,
                    &out,
                    cfg.row_group_rows,
                    &cfg.group_column,
                    cfg.timestamp_column.as_deref(),
                )?;
                progress("sort and write", done.fetch_add(1, Ordering::SeqCst) + 1, parts as u64);
                Ok((rows, bytes, groups))
            })
            .collect::<Result<_, _>>()?;
        let rows_out: u64 = written.iter().map(|w| w.0).sum();
        let dropped = dropped.load(Ordering::SeqCst);
        if rows_out + dropped != total_rows {
            return Err(DataprepError::InvalidArguments(format!(
                "verification failed: {total_rows} rows in, {rows_out} rows out, {dropped} dropped"
            )));
        }
        // Verify disjointness: every row of part K hashes to K.
        (0..parts).into_par_iter().try_for_each(|k| -> Result<(), DataprepError> {
            let p = out_tmp.join(part_file_name(k));
            let f = std::fs::File::open(&p).map_err(io("open", &p))?;
            let df =
                ParquetReader::new(f).with_columns(Some(vec![cfg.group_column.clone()])).finish().map_err(pe(&p))?;
            if buckets(&df, &cfg.group_column, parts)?.iter().any(|&b| b as usize != k) {
                return Err(DataprepError::InvalidArguments(format!(
                    "verification failed: part {k} holds groups of another part"
                )));
            }
            Ok(())
        })?;
        Ok(RepartitionSummary {
            parts,
            rows: rows_out,
            input_bytes,
            output_bytes: written.iter().map(|w| w.1).sum(),
            groups: written.iter().map(|w| w.2).sum(),
            dropped_null_groups: dropped,
        })
    })();
    match result {
        Ok(summary) => {
            if cfg.output.exists() {
                std::fs::remove_dir_all(&cfg.output).map_err(io("remove the old output", &cfg.output))?;
            }
            std::fs::rename(&out_tmp, &cfg.output).map_err(io("move the output into place", &cfg.output))?;
            let _ = std::fs::remove_dir_all(&work);
            Ok(summary)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&work);
            Err(e)
        }
    }
}
