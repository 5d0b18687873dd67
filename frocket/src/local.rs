//! In-process execution over a local directory of parts: load each part's needed columns,
//! run the engine on all cores, merge the partial results. (The embedded execution mode of
//! the datasets/CLI work will replace this with registered datasets and the task protocol.)

use anyhow::{Context, Result, bail};
use engine::{EngineOptions, Frame, execute};
use polars::prelude::{DataFrame, ParquetReader, SerReader};
use protocol::{DatasetSchema, PartialResult, validate_query};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

pub struct LocalDataset {
    parts: Vec<PathBuf>,
    group: String,
    timestamp: String,
    schema: DatasetSchema,
}

fn read_parquet(path: &Path, columns: Option<Vec<String>>) -> Result<DataFrame> {
    let file =
        std::fs::File::open(path).with_context(|| format!("open part {}", path.display()))?;
    ParquetReader::new(file)
        .with_columns(columns)
        .finish()
        .map_err(|e| anyhow::anyhow!("read part {}: {e}", path.display()))
}

impl LocalDataset {
    pub fn open(dir: &Path, group: &str, timestamp: &str) -> Result<LocalDataset> {
        let mut parts: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("list {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .collect();
        parts.sort();
        let Some(first) = parts.first() else {
            bail!("no *.parquet files in {}", dir.display())
        };
        let probe = read_parquet(first, None)?.head(Some(1));
        let schema = engine::describe(&probe, group, timestamp);
        for c in [group, timestamp] {
            if schema.column_type(c).is_none() {
                bail!(
                    "column '{c}' not found (or of an unsupported type) in {}",
                    first.display()
                );
            }
        }
        Ok(LocalDataset {
            parts,
            group: group.into(),
            timestamp: timestamp.into(),
            schema,
        })
    }

    /// Validates and runs a query; returns the result JSON (with `translatedQuery` for legacy).
    pub fn run(&self, query_text: &str) -> Result<serde_json::Value> {
        let q = validate_query(query_text, Some(&self.schema))?;
        let columns = q.used_columns(&self.group, &self.timestamp);
        let opts = EngineOptions::default();
        let partials: Vec<PartialResult> = self
            .parts
            .par_iter()
            .map(|p| {
                let df = read_parquet(p, Some(columns.clone()))?;
                let frame = Frame::prepare(
                    &df,
                    &self.group,
                    &self.timestamp,
                    &q.query.referenced_columns(),
                )
                .with_context(|| format!("prepare part {}", p.display()))?;
                execute(&frame, &q.query, &opts)
                    .with_context(|| format!("query part {}", p.display()))
            })
            .collect::<Result<_>>()?;
        let merged = PartialResult::merge_all(partials)?.context("dataset has no parts")?;
        let mut out = serde_json::to_value(merged.finalize(q.is_legacy()))?;
        if let Some(t) = &q.translated_from_legacy {
            out["translatedQuery"] = t.clone();
        }
        Ok(out)
    }
}

pub fn query_command(
    path: &Path,
    group: &str,
    ts: &str,
    file: Option<PathBuf>,
    string: Option<String>,
) -> Result<()> {
    let text = match (file, string) {
        (Some(f), _) if f.as_os_str() == "-" => {
            std::io::read_to_string(std::io::stdin()).context("read query from stdin")?
        }
        (Some(f), _) => std::fs::read_to_string(&f)
            .with_context(|| format!("read query file {}", f.display()))?,
        (None, Some(s)) => s,
        (None, None) => "{}".to_string(),
    };
    let ds = LocalDataset::open(path, group, ts)?;
    println!("{}", serde_json::to_string_pretty(&ds.run(&text)?)?);
    Ok(())
}
