//! Getting a part's data: local parts are read in place; remote parts are downloaded into the
//! disk cache; only the needed columns are decoded; prepared frames may be kept in memory for
//! warm repeated queries.
//!
//! Timeframe pushdown: when the memory cache is off (as frocket ships), a frame is built for one
//! query and dropped after it, so the Parquet reader keeps only the rows the query's timeframe
//! admits ([`engine::TimeBounds`]): no row outside it is seen by any part of a query, and
//! building the frame (fresh memory, group runs, column copies) costs per row kept. Row groups
//! whose timestamp statistics lie outside the timeframe are not read at all (parts written in
//! time order; `frocket dataprep` sorts by (group, timestamp), so there every row group spans
//! the whole time range and only the row filter applies). With the memory cache on, frames are
//! kept for later queries with any timeframe, so every row is read and the engine applies the
//! timeframe itself (as it always does: leaving rows out is only a saving).

use crate::WorkerError;
use crate::cache::{DiskCache, cache_key};
use crate::parquet::{PartFile, read_frame_for_query};
use crate::threads::TaskThreads;
use engine::{Frame, TimeBounds};
use protocol::Timeframe;
use protocol::task::{DatasetPartId, LoadSource};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use storage::{Location, Stores};

#[derive(Debug, Clone, PartialEq)]
pub struct LoaderConfig {
    /// Where remote parts are cached; `None` disables the disk cache (downloads go to a temp dir).
    pub cache_dir: Option<PathBuf>,
    pub disk_cache_bytes: u64,
    /// Bytes of prepared frames kept in memory (0 disables the memory cache).
    pub memory_cache_bytes: u64,
    /// Threads for the tasks' blocking work, as many as tasks run at once (0: one per core;
    /// see `threads.rs`).
    pub threads: usize,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig { cache_dir: None, disk_cache_bytes: 256 << 20, memory_cache_bytes: 0, threads: 0 }
    }
}

#[derive(Debug, Default)]
struct FrameCache {
    frames: HashMap<String, (Arc<Frame>, usize, u64)>,
    total: usize,
    clock: u64,
}

/// What a query needs of a part: the dataset's group and timestamp columns, the columns the
/// query references, whether it reads the timestamps (`Query::needs_timestamps`; the column
/// is read only then) and its timeframe (without a memory cache only the rows it admits are
/// kept: module docs).
#[derive(Debug, Clone, Copy)]
pub struct FrameNeeds<'a> {
    pub group_column: &'a str,
    pub timestamp_column: &'a str,
    pub columns: &'a [String],
    pub needs_timestamps: bool,
    pub timeframe: Option<&'a Timeframe>,
}

impl<'a> FrameNeeds<'a> {
    pub fn new(
        group_column: &'a str,
        timestamp_column: &'a str,
        columns: &'a [String],
        needs_timestamps: bool,
        timeframe: Option<&'a Timeframe>,
    ) -> Self {
        FrameNeeds { group_column, timestamp_column, columns, needs_timestamps, timeframe }
    }
}

/// A part got ready: `value` is the prepared frame ([`PartLoader::load_frame`]) or what a
/// function made of it ([`PartLoader::with_frame`]).
pub struct Loaded<T> {
    pub value: T,
    pub source: LoadSource,
    pub download_seconds: f64,
    pub load_seconds: f64,
}

#[derive(Debug)]
pub struct PartLoader {
    stores: Stores,
    disk: Option<DiskCache>,
    memory_capacity: usize,
    frames: Mutex<FrameCache>,
    threads: TaskThreads,
}

impl PartLoader {
    pub fn new(stores: Stores, cfg: &LoaderConfig) -> Result<PartLoader, WorkerError> {
        let disk = match &cfg.cache_dir {
            Some(d) => Some(DiskCache::open(d, cfg.disk_cache_bytes)?),
            None => None,
        };
        Ok(PartLoader {
            stores,
            disk,
            memory_capacity: cfg.memory_cache_bytes as usize,
            frames: Mutex::default(),
            threads: TaskThreads::new(cfg.threads)?,
        })
    }

    /// Where the tasks' blocking work runs: reading parts here, the engine and registration in
    /// `tasks.rs`.
    pub fn threads(&self) -> &TaskThreads {
        &self.threads
    }

    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    pub fn disk_cache(&self) -> Option<&DiskCache> {
        self.disk.as_ref()
    }

    /// The part on local disk: the file itself, or a (cached) download.
    pub async fn local_file(&self, part: &DatasetPartId) -> Result<(PartFile, LoadSource, f64), WorkerError> {
        let loc = Location::parse(&part.path)
            .map_err(|e| WorkerError::InvalidRequest(format!("part path {}: {e}", part.path)))?;
        if let Location::Local(p) = &loc {
            return Ok((PartFile::Path(p.clone()), LoadSource::Source, 0.0));
        }
        let store = self
            .stores
            .for_location(&loc)
            .map_err(|e| WorkerError::Storage { context: format!("part {}", part.path), source: e })?
            .clone();
        let t = Instant::now();
        let fetch = |dest: PathBuf| {
            let (store, loc) = (store.clone(), loc.clone());
            async move {
                store
                    .download(&loc, &dest)
                    .await
                    .map_err(|e| WorkerError::Storage { context: format!("download part {loc}"), source: e })
            }
        };
        match &self.disk {
            Some(cache) => {
                let (f, p, hit) = cache.get_or_fetch(part, fetch).await?;
                let src = if hit { LoadSource::DiskCache } else { LoadSource::Source };
                Ok((PartFile::Open(f, p), src, if hit { 0.0 } else { t.elapsed().as_secs_f64() }))
            }
            None => {
                // No cache: download to a temp file, open it, and unlink it at once.
                let dest = std::env::temp_dir().join(format!(
                    "frocket-part-{}-{}.parquet",
                    cache_key(part),
                    std::process::id()
                ));
                fetch(dest.clone()).await?;
                let opened = PartFile::Path(dest.clone()).open();
                let _ = std::fs::remove_file(&dest);
                let (f, p) = opened?;
                Ok((PartFile::Open(f, p), LoadSource::Source, t.elapsed().as_secs_f64()))
            }
        }
    }

    fn cached_frame(&self, key: &str, columns: &[String], needs_timestamps: bool) -> Option<Arc<Frame>> {
        let mut fc = self.frames.lock().unwrap_or_else(|p| p.into_inner());
        fc.clock += 1;
        let now = fc.clock;
        let (frame, _, used) = fc.frames.get_mut(key)?;
        if !frame.has_columns(columns) || (needs_timestamps && !frame.has_timestamps()) {
            return None;
        }
        *used = now;
        Some(frame.clone())
    }

    fn remember_frame(&self, key: String, frame: Arc<Frame>) {
        let size = frame.approx_bytes();
        if self.memory_capacity == 0 || size > self.memory_capacity {
            return;
        }
        let mut fc = self.frames.lock().unwrap_or_else(|p| p.into_inner());
        fc.clock += 1;
        let now = fc.clock;
        if let Some((_, old, _)) = fc.frames.insert(key, (frame, size, now)) {
            fc.total -= old;
        }
        fc.total += size;
        while fc.total > self.memory_capacity {
            let Some(victim) = fc.frames.iter().min_by_key(|(_, e)| e.2).map(|(k, _)| k.clone()) else {
                break;
            };
            if let Some((_, s, _)) = fc.frames.remove(&victim) {
                fc.total -= s;
            }
        }
    }

    /// Loads and prepares the part for a query (see [`FrameNeeds`]).
    pub async fn load_frame(
        &self,
        part: &DatasetPartId,
        needs: FrameNeeds<'_>,
    ) -> Result<Loaded<Arc<Frame>>, WorkerError> {
        self.with_frame(part, needs, |frame| frame).await
    }

    /// [`PartLoader::load_frame`], then `f` on the frame **on the same task thread, in the same
    /// closure**: a frame read for one query (not kept by a memory cache, nor returned by `f`)
    /// is dropped by the thread that built it, so its memory goes straight back to that
    /// thread's allocator heap for the thread's next part, instead of to another thread's (a
    /// free from a foreign thread is only taken back when the owner next collects), and the
    /// query waits for one hand-over to the task threads, not two. `Loaded::load_seconds`
    /// covers getting the file and decoding it, not `f` (nor the wait for a task thread).
    pub async fn with_frame<T, F>(
        &self,
        part: &DatasetPartId,
        needs: FrameNeeds<'_>,
        f: F,
    ) -> Result<Loaded<T>, WorkerError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Frame>) -> T + Send + 'static,
    {
        let FrameNeeds { group_column, timestamp_column, columns, needs_timestamps, timeframe } = needs;
        let t = Instant::now();
        let key = format!("{}|{group_column}|{timestamp_column}", cache_key(part));
        let what = format!("query of part {}", part.path);
        if self.memory_capacity > 0
            && let Some(frame) = self.cached_frame(&key, columns, needs_timestamps)
        {
            let load_seconds = t.elapsed().as_secs_f64();
            let value = self.threads.run(&what, move || f(frame)).await?;
            return Ok(Loaded { value, source: LoadSource::MemoryCache, download_seconds: 0.0, load_seconds });
        }
        let (path, source, download_seconds) = self.local_file(part).await?;
        let (g, ts, cols) = (group_column.to_string(), timestamp_column.to_string(), columns.to_vec());
        let within = timeframe.filter(|_| needs_timestamps && self.memory_capacity == 0).and_then(TimeBounds::of);
        let keep = self.memory_capacity > 0;
        let fetched = t.elapsed().as_secs_f64();
        let (kept, read_seconds, value) = self
            .threads
            .run(&what, move || -> Result<_, WorkerError> {
                let read = Instant::now();
                let frame = read_frame_for_query(path, &g, needs_timestamps.then_some(ts.as_str()), &cols, within)?;
                let frame = Arc::new(frame);
                let read_seconds = read.elapsed().as_secs_f64();
                let kept = keep.then(|| frame.clone());
                // Without a memory cache, `f` holds the only reference: the frame is dropped
                // here, on this thread, unless `f` returns it.
                Ok((kept, read_seconds, f(frame)))
            })
            .await??;
        if let Some(frame) = kept {
            self.remember_frame(key, frame);
        }
        let load_seconds = fetched + read_seconds;
        Ok(Loaded { value, source, download_seconds, load_seconds })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::{Column, DataFrame, ParquetWriter};
    use protocol::dataset::DatasetId;

    /// A part whose rows are not sorted by (group, timestamp): 3 groups, 6 rows.
    fn write_part(dir: &std::path::Path) -> DatasetPartId {
        let mut df = DataFrame::new_infer_height(vec![
            Column::new("u".into(), [2i64, 1, 2, 3, 1, 2]),
            Column::new("ts".into(), [5i64, 9, 1, 4, 2, 3]),
            Column::new("ev".into(), ["a", "b", "a", "c", "a", "b"]),
            Column::new("x".into(), [1.5f64, 2.0, 3.0, 4.0, 5.0, 6.0]),
        ])
        .unwrap();
        let path = dir.join("p.parquet");
        ParquetWriter::new(std::fs::File::create(&path).unwrap()).finish(&mut df).unwrap();
        DatasetPartId {
            dataset_id: DatasetId { name: "t".into(), registered_at: "1".into() },
            path: path.display().to_string(),
            part_idx: 0,
        }
    }

    fn loader(memory_cache_bytes: u64) -> PartLoader {
        let cfg = LoaderConfig { memory_cache_bytes, ..LoaderConfig::default() };
        PartLoader::new(Stores::local_only(), &cfg).unwrap()
    }

    fn cols(c: &[&str]) -> Vec<String> {
        c.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn the_timestamp_column_is_read_only_when_needed_and_the_memory_cache_knows_it() {
        let dir = tempfile::tempdir().unwrap();
        let part = write_part(dir.path());
        let l = loader(1 << 20);
        let a = l.load_frame(&part, FrameNeeds::new("u", "ts", &cols(&["ev"]), false, None)).await.unwrap();
        assert_eq!(a.source, LoadSource::Source);
        assert!(!a.value.has_timestamps());
        assert_eq!((a.value.n_rows(), a.value.n_groups()), (6, 3));
        // Same needs: a memory hit.
        let b = l.load_frame(&part, FrameNeeds::new("u", "ts", &cols(&["ev"]), false, None)).await.unwrap();
        assert_eq!(b.source, LoadSource::MemoryCache);
        // Timestamps needed now: the cached frame cannot serve, the part is read again.
        let c = l.load_frame(&part, FrameNeeds::new("u", "ts", &cols(&["ev"]), true, None)).await.unwrap();
        assert_eq!(c.source, LoadSource::Source);
        assert!(c.value.has_timestamps());
        // A frame with timestamps serves queries without them, and any subset of its columns.
        let d = l.load_frame(&part, FrameNeeds::new("u", "ts", &[], false, None)).await.unwrap();
        assert_eq!(d.source, LoadSource::MemoryCache);
        assert!(d.value.has_timestamps());
        // A column the cached frame lacks: read again, with both columns.
        let e = l.load_frame(&part, FrameNeeds::new("u", "ts", &cols(&["ev", "x"]), false, None)).await.unwrap();
        assert_eq!(e.source, LoadSource::Source);
        assert!(e.value.has_columns(&cols(&["ev", "x"])));
    }

    /// Without a memory cache the query's timeframe is pushed down to the reader (only its
    /// rows in the frame); with one, the frame keeps every row, so that a later query with
    /// another timeframe can be served from it.
    #[tokio::test]
    async fn the_timeframe_is_pushed_down_only_without_a_memory_cache() {
        let dir = tempfile::tempdir().unwrap();
        let summary =
            dataprep::synth::generate_dataset(&dataprep::synth::SynthConfig::new(5_000, 1), dir.path(), false).unwrap();
        let part = DatasetPartId {
            dataset_id: DatasetId { name: "t".into(), registered_at: "1".into() },
            path: summary.files[0].display().to_string(),
            part_idx: 0,
        };
        let all = l_rows(&loader(0), &part, None).await;
        let (tf, tf2) = (
            crate::parquet::tests::timeframe(r#"{"from": 1436000000, "to": 1437000000}"#),
            crate::parquet::tests::timeframe(r#"{"from": 1438000000}"#),
        );
        let pushed = l_rows(&loader(0), &part, Some(&tf)).await;
        assert!(pushed.0 > 0 && pushed.0 < all.0 / 2, "{pushed:?} of {all:?}");
        assert_eq!(pushed.1, LoadSource::Source);
        let cached = loader(1 << 30);
        assert_eq!(l_rows(&cached, &part, Some(&tf)).await, (all.0, LoadSource::Source));
        assert_eq!(l_rows(&cached, &part, Some(&tf2)).await, (all.0, LoadSource::MemoryCache));
    }

    async fn l_rows(l: &PartLoader, part: &DatasetPartId, tf: Option<&Timeframe>) -> (usize, LoadSource) {
        let cols = cols(&["event"]);
        let loaded = l.load_frame(part, FrameNeeds::new("visitorid", "timestamp", &cols, true, tf)).await.unwrap();
        (loaded.value.n_rows(), loaded.source)
    }

    #[tokio::test]
    async fn without_a_memory_cache_every_load_reads_the_part() {
        let dir = tempfile::tempdir().unwrap();
        let part = write_part(dir.path());
        let l = loader(0);
        for _ in 0..2 {
            let a = l.load_frame(&part, FrameNeeds::new("u", "ts", &cols(&["ev"]), true, None)).await.unwrap();
            assert_eq!(a.source, LoadSource::Source);
            assert!(!a.value.was_sorted());
        }
    }
}
