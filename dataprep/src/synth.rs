//! A deterministic generator of RetailRocket-like user activity (the seed's example dataset
//! shape): `timestamp` (i64 seconds), `visitorid` (i64), `event` (view / addtocart /
//! transaction), `itemid` (i64), `transactionid` (f64, null unless a transaction), `price`
//! (f64), `available` (bool), `categoryid` (string).
//!
//! Realism: heavy-tailed activity per user (a few heavy users and bots, most users with one
//! short visit), sessions separated by days, view → addtocart → transaction funnels with
//! repeat purchases, Zipf-distributed item popularity, one category per item with a Zipf
//! category popularity (category `"999"` is a popular one), log-normal prices.
//!
//! Shapes ([`Shape`]): `heavy-tailed` (the default, above) and `bounce`, like real web traffic
//! where most visitors leave after a page or two: 99% of users have 1–3 events (a view, then a
//! view or an addtocart, then possibly a transaction) and 1% are heavy-tailed users as above;
//! about 1.8 rows per user (10M rows ≈ 5.6M users), so per-user cost dominates queries.
//!
//! Partitioning: user `u` of part `p` gets `visitorid = u × parts + p`, so parts hold disjoint
//! groups; every part is generated from its own seeded RNG, so parts are generated in parallel
//! and the output is identical for the same (rows, parts, seed) whatever the thread count.
//! Rows are written sorted by (visitorid, timestamp).

use crate::DataprepError;
use crate::part_writer::PartWriter;
use polars::prelude::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal, Zipf};
use std::path::{Path, PathBuf};

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthConfig {
    /// Approximate total number of rows (each part stops at the first user past its share).
    pub rows: u64,
    pub parts: usize,
    pub seed: u64,
    /// First timestamp (unix seconds); activity spans ~139 days as RetailRocket does.
    pub start_ts: i64,
    pub n_items: u64,
    pub n_categories: u64,
    pub shape: Shape,
}

/// How activity is spread over users (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shape {
    /// A few heavy users and bots, most users with one short visit (~20 rows per user).
    #[default]
    HeavyTailed,
    /// 99% of users with 1–3 events, 1% heavy-tailed users (~1.8 rows per user).
    Bounce,
}

impl std::str::FromStr for Shape {
    type Err = DataprepError;
    fn from_str(s: &str) -> Result<Shape, DataprepError> {
        match s {
            "heavy-tailed" => Ok(Shape::HeavyTailed),
            "bounce" => Ok(Shape::Bounce),
            other => Err(DataprepError::InvalidArguments(format!(
                "unknown shape {other:?}: expected heavy-tailed or bounce"
            ))),
        }
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Shape::HeavyTailed => "heavy-tailed",
            Shape::Bounce => "bounce",
        })
    }
}

impl SynthConfig {
    pub fn new(rows: u64, parts: usize) -> Self {
        SynthConfig {
            rows,
            parts,
            seed: 42,
            start_ts: 1_430_622_000,
            n_items: 235_000,
            n_categories: 1_200,
            shape: Shape::HeavyTailed,
        }
    }
}

const SPAN_SECONDS: i64 = 139 * 24 * 3600;

/// Column buffers for one part.
#[derive(Default)]
struct PartRows {
    timestamp: Vec<i64>,
    visitorid: Vec<i64>,
    event: Vec<&'static str>,
    itemid: Vec<i64>,
    transactionid: Vec<Option<f64>>,
    price: Vec<f64>,
    available: Vec<bool>,
    /// Category index into `Catalog::category_names` (names are materialised per chunk).
    categoryid: Vec<u32>,
}

struct Catalog {
    item_zipf: Zipf<f64>,
    price: Vec<f64>,
    category: Vec<u32>,
    available: Vec<bool>,
    category_names: Vec<String>,
}

impl Catalog {
    fn new(cfg: &SynthConfig) -> Result<Catalog, DataprepError> {
        let bad = |e: String| DataprepError::InvalidArguments(e);
        let mut rng = SmallRng::seed_from_u64(cfg.seed ^ 0x5EED_CA7A_1060);
        let n_items = cfg.n_items.max(1);
        let item_zipf = Zipf::new(n_items as f64, 1.05).map_err(|e| bad(e.to_string()))?;
        let cat_zipf = Zipf::new(cfg.n_categories.max(2) as f64, 1.1).map_err(|e| bad(e.to_string()))?;
        let price_dist = LogNormal::<f64>::new(10.3, 1.1).map_err(|e| bad(e.to_string()))?;
        let mut price = Vec::with_capacity(n_items as usize);
        let mut category = Vec::with_capacity(n_items as usize);
        let mut available = Vec::with_capacity(n_items as usize);
        for _ in 0..n_items {
            // Prices are whole numbers with a `.0`, as RetailRocket's `n552000.000` values.
            price.push(price_dist.sample(&mut rng).round().max(1.0));
            category.push(cat_zipf.sample(&mut rng) as u32 - 1);
            available.push(rng.random_bool(0.7));
        }
        // Category rank 3 is named "999" so the seed's example query finds buyers.
        let category_names = (0..cfg.n_categories.max(2))
            .map(|i| if i == 3 { "999".to_string() } else { (1000 + i * 7).to_string() })
            .collect();
        Ok(Catalog { item_zipf, price, category, available, category_names })
    }

    fn item(&self, rng: &mut SmallRng) -> usize {
        self.item_zipf.sample(rng) as usize - 1
    }
}

fn push(rows: &mut PartRows, cat: &Catalog, ts: i64, visitor: i64, event: &'static str, item: usize, tx: Option<f64>) {
    rows.timestamp.push(ts);
    rows.visitorid.push(visitor);
    rows.event.push(event);
    rows.itemid.push(item as i64);
    rows.transactionid.push(tx);
    rows.price.push(cat.price[item]);
    rows.available.push(cat.available[item]);
    rows.categoryid.push(cat.category[item]);
}

/// Rows per chunk when streaming a part to Parquet (bounds memory at any scale).
const CHUNK_ROWS: usize = 512 * 1024;

/// Generates the rows of one part (sorted by visitorid, then timestamp), all in memory.
fn generate_part(cfg: &SynthConfig, cat: &Catalog, part: usize) -> PartRows {
    let mut all = PartRows::default();
    let _ = generate_part_chunks(cfg, cat, part, usize::MAX, &mut |chunk| {
        all = chunk;
        Ok(())
    });
    all
}

/// Generates one part, handing chunks of about `chunk_rows` rows (whole users) to `flush`, in
/// order. Returns the number of rows.
fn generate_part_chunks(
    cfg: &SynthConfig,
    cat: &Catalog,
    part: usize,
    chunk_rows: usize,
    flush: &mut dyn FnMut(PartRows) -> Result<(), DataprepError>,
) -> Result<u64, DataprepError> {
    let mut rng = SmallRng::seed_from_u64(cfg.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ part as u64);
    let budget = cfg.rows / cfg.parts as u64 + u64::from((part as u64) < cfg.rows % cfg.parts as u64);
    let mut rows = PartRows::default();
    let mut done: u64 = 0;
    let mut user: i64 = 0;
    let mut next_tx: f64 = (part as f64) * 1e9;
    while done + (rows.timestamp.len() as u64) < budget {
        if rows.timestamp.len() >= chunk_rows {
            done += rows.timestamp.len() as u64;
            flush(std::mem::take(&mut rows))?;
        }
        let visitor = user * cfg.parts as i64 + part as i64;
        user += 1;
        if cfg.shape == Shape::Bounce && rng.random_bool(0.99) {
            bounce_user(&mut rows, cat, &mut rng, cfg.start_ts, visitor);
        } else {
            heavy_tailed_user(&mut rows, cat, &mut rng, cfg.start_ts, visitor, &mut next_tx);
        }
    }
    done += rows.timestamp.len() as u64;
    flush(rows)?;
    Ok(done)
}

/// One user of the heavy-tailed shape: sessions days apart, view → addtocart → transaction.
fn heavy_tailed_user(
    rows: &mut PartRows,
    cat: &Catalog,
    rng: &mut SmallRng,
    start_ts: i64,
    visitor: i64,
    next_tx: &mut f64,
) {
    // Heavy tail: 1% heavy buyers, 0.2% bots, the rest casual visitors.
    let kind: f64 = rng.random();
    let (sessions, per_session, buy_rate) = if kind < 0.002 {
        (rng.random_range(20..80), 30.0, 0.0)
    } else if kind < 0.012 {
        (rng.random_range(5..30), 12.0, 0.45)
    } else {
        (1 + (rng.random::<f64>().powi(3) * 4.0) as u32, 2.2, 0.15)
    };
    let mut ts = start_ts + rng.random_range(0..SPAN_SECONDS);
    for _ in 0..sessions {
        let n_views = 1 + (-per_session * rng.random::<f64>().max(1e-12).ln()) as u32;
        let mut cart: Vec<usize> = Vec::new();
        for _ in 0..n_views {
            let item = cat.item(rng);
            push(rows, cat, ts, visitor, "view", item, None);
            // Seconds between events; 0 happens (ties are part of real data).
            ts += (rng.random::<f64>() * 120.0) as i64;
            if rng.random_bool(0.06 + buy_rate * 0.2) {
                push(rows, cat, ts, visitor, "addtocart", item, None);
                cart.push(item);
                ts += rng.random_range(0..90);
            }
        }
        if !cart.is_empty() && rng.random_bool(0.25 + buy_rate) {
            *next_tx += 1.0;
            for &item in &cart {
                push(rows, cat, ts, visitor, "transaction", item, Some(*next_tx));
            }
            ts += rng.random_range(1..300);
        }
        ts += rng.random_range(3600..(14 * 24 * 3600));
    }
}

/// One visitor of the bounce shape: 1 (50%), 2 (30%) or 3 (20%) events seconds apart — a view,
/// then a view or an addtocart of it, then (after an addtocart, half the time) its transaction.
/// A visitor buys at most once: the transaction id is 1e15 + visitorid (unique in the dataset).
fn bounce_user(rows: &mut PartRows, cat: &Catalog, rng: &mut SmallRng, start_ts: i64, visitor: i64) {
    let n = match rng.random::<f64>() {
        x if x < 0.5 => 1,
        x if x < 0.8 => 2,
        _ => 3,
    };
    let mut ts = start_ts + rng.random_range(0..SPAN_SECONDS);
    let mut item = cat.item(rng);
    let mut last = "view";
    for k in 0..n {
        let event = match (k, last) {
            (0, _) => "view",
            (_, "addtocart") if rng.random_bool(0.5) => "transaction",
            _ if rng.random_bool(0.3) => "addtocart",
            _ => "view",
        };
        if event == "view" && k > 0 {
            item = cat.item(rng);
        }
        let tx = (event == "transaction").then_some(1e15 + visitor as f64);
        push(rows, cat, ts, visitor, event, item, tx);
        last = event;
        ts += (rng.random::<f64>() * 60.0) as i64;
    }
}

/// Streams one part to `path` (atomically: temp file, then rename) in row groups.
fn write_part_streaming(
    cfg: &SynthConfig,
    cat: &Catalog,
    part: usize,
    path: &Path,
) -> Result<(u64, u64), DataprepError> {
    let tmp = path.with_extension("parquet.tmp");
    let pe = |e: PolarsError| DataprepError::Parquet { path: tmp.clone(), message: e.to_string() };
    let file = std::fs::File::create(&tmp).map_err(|source| DataprepError::Io {
        action: "create",
        path: tmp.clone(),
        source,
    })?;
    let mut writer: Option<PartWriter<std::fs::File>> = None;
    let mut file = Some(file);
    let written = generate_part_chunks(cfg, cat, part, CHUNK_ROWS, &mut |chunk| {
        let df = to_frame(chunk, cat).map_err(pe)?;
        if writer.is_none() {
            let f = file.take().ok_or_else(|| DataprepError::InvalidArguments("writer already finished".into()))?;
            writer = Some(PartWriter::new(f, df.schema(), Some("visitorid"), Some("timestamp")).map_err(pe)?);
        }
        if let Some(w) = writer.as_mut() {
            w.write_batch(&df).map_err(pe)?;
        }
        Ok(())
    });
    let rows = match written.and_then(|n| writer.as_ref().map(|w| w.finish().map_err(pe)).transpose().map(|_| n)) {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    drop(writer);
    std::fs::rename(&tmp, path).map_err(|source| DataprepError::Io {
        action: "rename into place",
        path: path.to_path_buf(),
        source,
    })?;
    Ok((rows, std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)))
}

fn to_frame(rows: PartRows, cat: &Catalog) -> PolarsResult<DataFrame> {
    let names: Vec<&str> = rows.categoryid.iter().map(|&c| cat.category_names[c as usize].as_str()).collect();
    DataFrame::new_infer_height(vec![
        Column::new("timestamp".into(), rows.timestamp),
        Column::new("visitorid".into(), rows.visitorid),
        Column::new("event".into(), rows.event),
        Column::new("itemid".into(), rows.itemid),
        Column::new("transactionid".into(), rows.transactionid),
        Column::new("price".into(), rows.price),
        Column::new("available".into(), rows.available),
        Column::new("categoryid".into(), names),
    ])
}

/// Generates part `part` of the dataset as a DataFrame (for tests and benchmarks).
pub fn generate_frame(cfg: &SynthConfig, part: usize) -> Result<DataFrame, DataprepError> {
    validate(cfg)?;
    let cat = Catalog::new(cfg)?;
    to_frame(generate_part(cfg, &cat, part), &cat)
        .map_err(|e| DataprepError::Parquet { path: PathBuf::new(), message: e.to_string() })
}

fn validate(cfg: &SynthConfig) -> Result<(), DataprepError> {
    if cfg.parts == 0 {
        return Err(DataprepError::InvalidArguments("parts must be at least 1".into()));
    }
    if cfg.rows < cfg.parts as u64 {
        return Err(DataprepError::InvalidArguments(format!(
            "rows ({}) must be at least the number of parts ({})",
            cfg.rows, cfg.parts
        )));
    }
    Ok(())
}

/// Name of part `i` (the seed's running-number pattern `part-{:05}.parquet`).
pub fn part_file_name(i: usize) -> String {
    format!("part-{i:05}.parquet")
}

/// Writes a DataFrame as Parquet atomically (temp file in the same directory, then rename).
pub fn write_parquet_atomic(df: &mut DataFrame, path: &Path) -> Result<u64, DataprepError> {
    write_parquet_with(df, path, 256 * 1024)
}

/// As [`write_parquet_atomic`], with a row-group size (zstd, statistics on).
pub fn write_parquet_with(df: &mut DataFrame, path: &Path, row_group_rows: usize) -> Result<u64, DataprepError> {
    write_parquet_rows(df, path, RowGroups::Every(row_group_rows), None, None)
}

/// As [`write_parquet_with`] for a part sorted by `group_column`: each row group ends on a
/// group boundary (the first one at or after `row_group_rows` rows), so that no group spans
/// two row groups and a reader can tell so from the row groups' statistics alone (the worker
/// then skips the group column's dictionary: worker/src/parquet.rs). A group of more than
/// `row_group_rows` rows gets a row group of its own size. The group column is compressed with
/// LZ4_RAW and an INT64 `timestamp_column` written delta-encoded, uncompressed ([`PartWriter`]).
pub fn write_parquet_grouped(
    df: &mut DataFrame,
    path: &Path,
    row_group_rows: usize,
    group_column: &str,
    timestamp_column: Option<&str>,
) -> Result<u64, DataprepError> {
    let pe = |e: PolarsError| DataprepError::Parquet { path: path.to_path_buf(), message: e.to_string() };
    let g = df.column(group_column).map_err(pe)?.as_materialized_series().rechunk();
    // Rows where the id differs from the previous row's (nulls compare equal to nulls).
    let changed = g.not_equal_missing(&g.shift(1)).map_err(pe)?;
    let changed: Vec<bool> = changed.iter().map(|b| b.unwrap_or(false)).collect();
    let mut ends = Vec::new();
    let mut start = 0;
    while start + row_group_rows < df.height() {
        match (start + row_group_rows..df.height()).find(|&r| changed[r]) {
            Some(end) => {
                ends.push(end);
                start = end;
            }
            None => break,
        }
    }
    ends.push(df.height());
    write_parquet_rows(df, path, RowGroups::EndingAt(ends), Some(group_column), timestamp_column)
}

/// Where a written part's row groups end.
enum RowGroups {
    /// Every so many rows.
    Every(usize),
    /// At these rows (increasing, the last one the frame's height).
    EndingAt(Vec<usize>),
}

fn write_parquet_rows(
    df: &mut DataFrame,
    path: &Path,
    groups: RowGroups,
    group_column: Option<&str>,
    timestamp_column: Option<&str>,
) -> Result<u64, DataprepError> {
    let io = |action: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| DataprepError::Io { action, path: p, source }
    };
    let tmp = path.with_extension("parquet.tmp");
    let file = std::fs::File::create(&tmp).map_err(io("create", &tmp))?;
    df.rechunk_mut();
    let ends = match groups {
        RowGroups::Every(rows) => {
            let rows = rows.max(1);
            (1..=df.height().div_ceil(rows)).map(|i| (i * rows).min(df.height())).collect()
        }
        RowGroups::EndingAt(ends) => ends,
    };
    let written = PartWriter::new(file, df.schema(), group_column, timestamp_column)
        .and_then(|mut w| {
            let mut start = 0;
            for end in ends {
                if end > start {
                    w.write_batch(&df.slice(start as i64, end - start))?;
                }
                start = end;
            }
            w.finish().map(|_| ())
        })
        .map_err(|e| DataprepError::Parquet { path: tmp.clone(), message: e.to_string() });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).map_err(io("rename into place", path))?;
    Ok(std::fs::metadata(path).map(|m| m.len()).unwrap_or(0))
}

/// Summary of a generated dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthSummary {
    pub files: Vec<PathBuf>,
    pub rows: u64,
    pub bytes: u64,
}

impl SynthSummary {
    /// One line for humans: rows, parts, size, place, time and throughput.
    pub fn describe(&self, dir: &Path, seconds: f64) -> String {
        format!(
            "wrote {} rows in {} parts ({:.1} MB) to {} in {seconds:.2}s ({:.1}M rows/s)",
            self.rows,
            self.files.len(),
            self.bytes as f64 / 1e6,
            dir.display(),
            self.rows as f64 / seconds.max(1e-9) / 1e6
        )
    }
}

/// Generates the dataset into `dir` as `part-00000.parquet`…, parts in parallel, each streamed
/// in chunks of 512k rows (memory stays bounded at any scale: about one chunk per core).
/// Refuses a non-empty `dir` unless `force`; a dataset is never left half-written: parts go to
/// a sibling temp directory that is renamed into place when complete.
pub fn generate_dataset(cfg: &SynthConfig, dir: &Path, force: bool) -> Result<SynthSummary, DataprepError> {
    use rayon::prelude::*;
    validate(cfg)?;
    let io = |action: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| DataprepError::Io { action, path: p, source }
    };
    if dir.exists() {
        let non_empty = std::fs::read_dir(dir).map_err(io("read directory", dir))?.next().is_some();
        if non_empty && !force {
            return Err(DataprepError::OutputNotEmpty(dir.to_path_buf()));
        }
    }
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io("create directory", parent))?;
    let tmp_dir = parent.join(format!(
        ".{}.tmp-{}",
        dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "dataset".into()),
        std::process::id()
    ));
    if tmp_dir.exists() {
        std::fs::remove_dir_all(&tmp_dir).map_err(io("remove stale temp directory", &tmp_dir))?;
    }
    std::fs::create_dir_all(&tmp_dir).map_err(io("create directory", &tmp_dir))?;
    let cat = Catalog::new(cfg)?;
    let written: Result<Vec<(u64, u64)>, DataprepError> = (0..cfg.parts)
        .into_par_iter()
        .map(|p| write_part_streaming(cfg, &cat, p, &tmp_dir.join(part_file_name(p))))
        .collect();
    let written = match written {
        Ok(w) => w,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp_dir);
            return Err(e);
        }
    };
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io("remove old dataset", dir))?;
    }
    std::fs::rename(&tmp_dir, dir).map_err(io("move dataset into place", dir))?;
    Ok(SynthSummary {
        files: (0..cfg.parts).map(|p| dir.join(part_file_name(p))).collect(),
        rows: written.iter().map(|w| w.0).sum(),
        bytes: written.iter().map(|w| w.1).sum(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_deterministic_disjoint_and_sorted() {
        let cfg = SynthConfig { n_items: 5_000, ..SynthConfig::new(20_000, 3) };
        let cat = Catalog::new(&cfg).unwrap();
        let a = generate_part(&cfg, &cat, 1);
        let b = generate_part(&cfg, &cat, 1);
        assert_eq!(a.timestamp, b.timestamp);
        assert_eq!(a.categoryid, b.categoryid);
        let mut total = 0;
        for p in 0..3 {
            let r = generate_part(&cfg, &cat, p);
            total += r.timestamp.len();
            assert!(r.visitorid.iter().all(|v| v % 3 == p as i64), "part {p} holds only its users");
            let sorted = r
                .visitorid
                .windows(2)
                .zip(r.timestamp.windows(2))
                .all(|(v, t)| v[0] < v[1] || (v[0] == v[1] && t[0] <= t[1]));
            assert!(sorted, "part {p} sorted by (visitorid, timestamp)");
            for (i, e) in r.event.iter().enumerate() {
                assert_eq!(r.transactionid[i].is_some(), *e == "transaction");
            }
        }
        assert!((20_000..21_000).contains(&total), "{total} rows");
    }

    #[test]
    fn activity_is_heavy_tailed_and_funnels_exist() {
        let cfg = SynthConfig { n_items: 5_000, ..SynthConfig::new(50_000, 1) };
        let cat = Catalog::new(&cfg).unwrap();
        let r = generate_part(&cfg, &cat, 0);
        let mut per_user = std::collections::BTreeMap::<i64, usize>::new();
        for v in &r.visitorid {
            *per_user.entry(*v).or_default() += 1;
        }
        let max = *per_user.values().max().unwrap();
        let mean = r.visitorid.len() as f64 / per_user.len() as f64;
        assert!(max as f64 > 20.0 * mean, "max {max} vs mean {mean}");
        let count = |e: &str| r.event.iter().filter(|x| **x == e).count();
        assert!(count("view") > count("addtocart") && count("addtocart") > 0 && count("transaction") > 0);
        assert!(r.categoryid.iter().any(|&c| cat.category_names[c as usize] == "999"));
    }

    #[test]
    fn bounce_shape_is_mostly_one_to_three_event_visitors() {
        let cfg = SynthConfig { n_items: 5_000, shape: Shape::Bounce, ..SynthConfig::new(200_000, 1) };
        let cat = Catalog::new(&cfg).unwrap();
        let r = generate_part(&cfg, &cat, 0);
        let mut per_user = std::collections::BTreeMap::<i64, Vec<&str>>::new();
        for (v, e) in r.visitorid.iter().zip(&r.event) {
            per_user.entry(*v).or_default().push(e);
        }
        let rows_per_user = r.visitorid.len() as f64 / per_user.len() as f64;
        assert!((1.6..2.0).contains(&rows_per_user), "{rows_per_user} rows per user");
        let short = per_user.values().filter(|e| e.len() <= 3).count() as f64 / per_user.len() as f64;
        assert!(short > 0.97, "{short} of users with <= 3 events");
        // Heavy users are there too, so ">= 3 transactions" and ">= 5 views" find someone.
        assert!(per_user.values().any(|e| e.iter().filter(|x| **x == "transaction").count() >= 3));
        assert!(per_user.values().any(|e| e.iter().filter(|x| **x == "view").count() >= 5));
        // Every bounce visit starts with a view; a transaction follows an addtocart.
        for e in per_user.values().filter(|e| e.len() <= 3) {
            assert_eq!(e[0], "view");
            if let Some(k) = e.iter().position(|x| *x == "transaction") {
                assert!(e[..k].contains(&"addtocart"), "{e:?}");
            }
        }
        for (i, e) in r.event.iter().enumerate() {
            assert_eq!(r.transactionid[i].is_some(), *e == "transaction");
        }
        assert_eq!("bounce".parse::<Shape>().unwrap(), Shape::Bounce);
        assert_eq!(Shape::Bounce.to_string(), "bounce");
        assert!("flat".parse::<Shape>().is_err());
    }

    #[test]
    fn chunked_generation_equals_the_whole_part() {
        let cfg = SynthConfig { n_items: 1_000, ..SynthConfig::new(30_000, 2) };
        let cat = Catalog::new(&cfg).unwrap();
        let whole = generate_part(&cfg, &cat, 1);
        let mut chunks = Vec::new();
        let n = generate_part_chunks(&cfg, &cat, 1, 1_000, &mut |c| {
            chunks.push(c);
            Ok(())
        })
        .unwrap();
        assert!(chunks.len() > 10, "{} chunks", chunks.len());
        assert_eq!(n as usize, whole.timestamp.len());
        let cat_ts: Vec<i64> = chunks.iter().flat_map(|c| c.timestamp.clone()).collect();
        let cat_v: Vec<i64> = chunks.iter().flat_map(|c| c.visitorid.clone()).collect();
        let cat_c: Vec<u32> = chunks.iter().flat_map(|c| c.categoryid.clone()).collect();
        assert_eq!((cat_ts, cat_v, cat_c), (whole.timestamp, whole.visitorid, whole.categoryid));
    }

    #[test]
    fn the_streamed_file_holds_exactly_the_generated_part() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = SynthConfig { n_items: 1_000, ..SynthConfig::new(1_200_000, 1) };
        let cat = Catalog::new(&cfg).unwrap();
        let path = dir.path().join("p.parquet");
        let (rows, _) = write_part_streaming(&cfg, &cat, 0, &path).unwrap();
        let read = ParquetReader::new(std::fs::File::open(&path).unwrap()).finish().unwrap();
        let want = generate_frame(&cfg, 0).unwrap();
        assert_eq!(rows as usize, want.height());
        assert!(read.equals_missing(&want), "streamed in 3 chunks of 512k rows, same rows in the same order");
    }

    #[test]
    fn bad_arguments_are_errors() {
        assert!(matches!(generate_frame(&SynthConfig::new(10, 0), 0), Err(DataprepError::InvalidArguments(_))));
        assert!(matches!(generate_frame(&SynthConfig::new(2, 3), 0), Err(DataprepError::InvalidArguments(_))));
    }

    #[test]
    fn dataset_is_written_atomically_and_refuses_to_overwrite() {
        let tmp = std::env::temp_dir().join(format!("frocket-synth-test-{}", std::process::id()));
        let dir = tmp.join("ds");
        let cfg = SynthConfig { n_items: 1_000, ..SynthConfig::new(3_000, 2) };
        let s = generate_dataset(&cfg, &dir, false).unwrap();
        assert_eq!(s.files.len(), 2);
        assert!(s.files.iter().all(|f| f.exists()));
        assert!(matches!(generate_dataset(&cfg, &dir, false), Err(DataprepError::OutputNotEmpty(_))));
        let again = generate_dataset(&cfg, &dir, true).unwrap();
        assert_eq!(again.rows, s.rows);
        let leftovers: Vec<_> = std::fs::read_dir(&tmp).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("ds")], "no temp dirs left");
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
