//! Ingestion of the Kaggle RetailRocket dataset into one denormalized events file.
//!
//! Inputs (the Kaggle files as published): `events.csv` (`timestamp,visitorid,event,itemid,
//! transactionid`, timestamps in ms), `item_properties_part1.csv` and `_part2.csv`
//! (`timestamp,itemid,property,value`), `category_tree.csv` (`categoryid,parentid`).
//!
//! Item properties are time-versioned: each event takes, per property, the latest value set at
//! or before its timestamp (none yet → null). Output columns: `timestamp` (i64, **seconds**),
//! `visitorid` (i64), `event` (dictionary string), `itemid` (i64), `transactionid` (f64, null
//! unless a transaction), `price` (f64, property `790` without its `n` prefix: `n552000.000` →
//! 552000.0; the seed stored an int64, we keep the exact value), `888` (string), `available`
//! (bool, property `available` "1"/"0"), `categoryid` (dictionary string) and `parentid`
//! (dictionary string, from the category tree).

use crate::DataprepError;
use polars::prelude::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub struct IngestConfig {
    pub input_dir: PathBuf,
    /// Skip malformed lines (counted) instead of failing at the first one.
    pub skip_bad_lines: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct IngestSummary {
    pub events: u64,
    pub skipped_lines: u64,
    pub items_with_properties: u64,
    pub events_without_category: u64,
}

const PROPERTIES: [&str; 4] = ["categoryid", "available", "790", "888"];

fn bad(file: &Path, line: u64, msg: impl std::fmt::Display) -> DataprepError {
    DataprepError::InvalidArguments(format!("{} line {line}: {msg}", file.display()))
}

/// Opens a CSV and checks its header holds `want` (in any order); returns column positions.
fn open_csv(path: &Path, want: &[&str]) -> Result<(csv::Reader<std::fs::File>, Vec<usize>), DataprepError> {
    let f = std::fs::File::open(path).map_err(|source| DataprepError::Io {
        action: "open",
        path: path.to_path_buf(),
        source,
    })?;
    let mut r = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(f);
    let header = r.headers().map_err(|e| bad(path, 1, format!("unreadable header: {e}")))?.clone();
    let mut pos = Vec::new();
    let mut missing = Vec::new();
    for w in want {
        match header.iter().position(|h| h.trim() == *w) {
            Some(p) => pos.push(p),
            None => missing.push(*w),
        }
    }
    if !missing.is_empty() {
        return Err(DataprepError::InvalidArguments(format!(
            "{}: missing column(s) {} (header is: {})",
            path.display(),
            missing.join(", "),
            header.iter().collect::<Vec<_>>().join(",")
        )));
    }
    Ok((r, pos))
}

/// Streams records, handing (line number, fields) to `f`; malformed lines fail or are counted.
fn each_record(
    path: &Path,
    want: &[&str],
    skip_bad: bool,
    skipped: &mut u64,
    mut f: impl FnMut(u64, &[&str]) -> Result<(), String>,
) -> Result<u64, DataprepError> {
    let (mut r, pos) = open_csv(path, want)?;
    let mut rec = csv::StringRecord::new();
    let mut n = 0u64;
    loop {
        let line = r.position().line();
        let more = match r.read_record(&mut rec) {
            Ok(m) => m,
            Err(e) => {
                if skip_bad {
                    *skipped += 1;
                    continue;
                }
                return Err(bad(path, line, format!("malformed CSV: {e}")));
            }
        };
        if !more {
            break;
        }
        let fields: Vec<&str> = pos.iter().map(|&p| rec.get(p).unwrap_or("")).collect();
        match f(line, &fields) {
            Ok(()) => n += 1,
            Err(msg) if skip_bad => {
                let _ = msg;
                *skipped += 1;
            }
            Err(msg) => return Err(bad(path, line, msg)),
        }
    }
    Ok(n)
}

fn int(s: &str, what: &str) -> Result<i64, String> {
    s.trim().parse::<i64>().map_err(|_| format!("{what} {s:?} is not an integer"))
}

/// Per (item, property): values sorted by time.
type History = HashMap<(i64, u8), Vec<(i64, String)>>;

fn latest(h: &History, item: i64, prop: u8, ts: i64) -> Option<&str> {
    let v = h.get(&(item, prop))?;
    let i = v.partition_point(|(t, _)| *t <= ts);
    (i > 0).then(|| v[i - 1].1.as_str())
}

/// Builds the denormalized events DataFrame.
pub fn ingest(cfg: &IngestConfig) -> Result<(DataFrame, IngestSummary), DataprepError> {
    let dir = &cfg.input_dir;
    let mut summary = IngestSummary::default();
    let mut skipped = 0u64;
    // Item properties (both parts), only the ones we denormalize.
    let mut history: History = HashMap::new();
    for name in ["item_properties_part1.csv", "item_properties_part2.csv"] {
        let path = dir.join(name);
        each_record(&path, &["timestamp", "itemid", "property", "value"], cfg.skip_bad_lines, &mut skipped, |_, f| {
            let Some(p) = PROPERTIES.iter().position(|p| *p == f[2]) else { return Ok(()) };
            let ts = int(f[0], "timestamp")?;
            let item = int(f[1], "itemid")?;
            history.entry((item, p as u8)).or_default().push((ts, f[3].to_string()));
            Ok(())
        })?;
    }
    for v in history.values_mut() {
        v.sort_by_key(|(t, _)| *t);
    }
    summary.items_with_properties =
        history.keys().map(|(i, _)| *i).collect::<std::collections::HashSet<_>>().len() as u64;
    let mut parents: HashMap<String, String> = HashMap::new();
    let tree = dir.join("category_tree.csv");
    each_record(&tree, &["categoryid", "parentid"], cfg.skip_bad_lines, &mut skipped, |_, f| {
        if !f[1].is_empty() {
            parents.insert(f[0].to_string(), f[1].to_string());
        }
        Ok(())
    })?;
    let events = dir.join("events.csv");
    let (mut ts, mut visitor, mut event, mut item, mut tx) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut price, mut p888, mut available, mut category, mut parent) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    each_record(
        &events,
        &["timestamp", "visitorid", "event", "itemid", "transactionid"],
        cfg.skip_bad_lines,
        &mut skipped,
        |_, f| {
            let t_ms = int(f[0], "timestamp")?;
            if f[1].trim().is_empty() {
                return Err("visitorid is empty".into());
            }
            let v = int(f[1], "visitorid")?;
            if !matches!(f[2], "view" | "addtocart" | "transaction") {
                return Err(format!("unknown event {:?}", f[2]));
            }
            let it = int(f[3], "itemid")?;
            let t = if f[4].trim().is_empty() {
                None
            } else {
                Some(f[4].trim().parse::<f64>().map_err(|_| format!("transactionid {:?} is not a number", f[4]))?)
            };
            let cat = latest(&history, it, 0, t_ms).map(str::to_string);
            let pr = match latest(&history, it, 2, t_ms) {
                Some(s) => Some(
                    s.trim()
                        .trim_start_matches('n')
                        .parse::<f64>()
                        .map_err(|_| format!("price value {s:?} of item {it} is not n<number>"))?,
                ),
                None => None,
            };
            ts.push(t_ms.div_euclid(1000));
            visitor.push(v);
            event.push(f[2].to_string());
            item.push(it);
            tx.push(t);
            price.push(pr);
            p888.push(latest(&history, it, 3, t_ms).map(str::to_string));
            available.push(latest(&history, it, 1, t_ms).map(|s| s.trim() == "1"));
            parent.push(cat.as_ref().and_then(|c| parents.get(c).cloned()));
            if cat.is_none() {
                summary.events_without_category += 1;
            }
            category.push(cat);
            Ok(())
        },
    )?;
    if ts.is_empty() {
        return Err(DataprepError::InvalidArguments(format!("{} holds no events", events.display())));
    }
    summary.events = ts.len() as u64;
    summary.skipped_lines = skipped;
    let cat_type = DataType::from_categories(Categories::global());
    let as_cat = |c: Column| c.cast(&cat_type);
    let df = DataFrame::new_infer_height(vec![
        Column::new("timestamp".into(), ts),
        Column::new("visitorid".into(), visitor),
        as_cat(Column::new("event".into(), event)).map_err(|e| DataprepError::InvalidArguments(e.to_string()))?,
        Column::new("itemid".into(), item),
        Column::new("transactionid".into(), tx),
        Column::new("price".into(), price),
        Column::new("888".into(), p888),
        Column::new("available".into(), available),
        as_cat(Column::new("categoryid".into(), category))
            .map_err(|e| DataprepError::InvalidArguments(e.to_string()))?,
        as_cat(Column::new("parentid".into(), parent)).map_err(|e| DataprepError::InvalidArguments(e.to_string()))?,
    ])
    .map_err(|e| DataprepError::InvalidArguments(e.to_string()))?;
    Ok((df, summary))
}
