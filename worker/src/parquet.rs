//! The cold path's Parquet reader: a part's needed columns decoded by polars' own Parquet
//! decoder (`polars-parquet`, the crate under `ParquetReader`), one row group at a time, straight
//! into the engine's [`FrameBuilder`].
//!
//! Why not `ParquetReader`: for a dictionary-encoded string column (how `frocket dataprep` and
//! most writers store low-cardinality strings such as event names) it builds a 16-byte string
//! view per row, which the engine then hashes back into dictionary codes; and it can only give
//! categoricals by inserting every row's string into polars' global category map. Here such a
//! column is decoded to its dictionary *indices* (the RLE/bit-packed keys of its data pages)
//! plus the row group's dictionary, and the engine maps indices to codes with a table: no
//! per-row string, a quarter of the fresh memory (docs/benchmarks.md). Without nulls, the
//! indices go straight from the pages into the engine's codes ([`FrameBuilder::code_sink`]: a
//! run of the RLE encoding as a run of codes, a bit-packed stretch through a reused buffer), no
//! per-row keys array (with a timeframe's row filter, only the kept rows' codes); with nulls,
//! through polars' decoder of indices. Likewise a
//! dictionary-encoded INT64 group column is read as the runs of its indices (a sorted part's
//! ids are mostly RLE runs), so no id is materialised per row.
//!
//! **The group column's dictionary is not read when the row groups' statistics order them.**
//! The engine never needs a group's id, only which rows belong together. When every row group
//! of the part records exact min/max statistics for the group column and each row group's
//! maximum is below the next one's minimum, no group spans two row groups; within a row group
//! a dictionary index stands for exactly one id (a Parquet dictionary holds distinct values, as
//! every writer makes it). So the runs are keyed by (row group, index) instead of by id, and
//! the dictionary page — for a bounce-heavy part a few MB of zstd per row group, about 30% of
//! a Parquet-resident query (docs/benchmarks.md) — is skipped, not decompressed. Invariant:
//! the frame's groups are the same as when keyed by id (tested on parts whose row groups are
//! and are not ordered). Parts whose statistics are missing, or whose row groups overlap or
//! touch (a group spanning a row-group boundary, as fixed-size row groups written by other
//! tools leave them), take the dictionary path. `frocket dataprep` ends row groups on group
//! boundaries, so its parts take the cheap one. What this path cannot notice: an index past
//! the end of the dictionary (a corrupt file), since the dictionary is never read. Not taken
//! when a query also reads the group column as a column (an aggregation over it needs the ids).
//!
//! A 64-bit number column (INT64 or DOUBLE: timestamps, prices) of PLAIN pages without nulls is
//! copied from each decompressed page straight into the frame's buffer for it
//! ([`FrameBuilder::int_sink`]): polars' decoder would build an array first and the builder
//! copy that, a second pass over fresh memory (criterion `load_1M_rows_3_columns`: 10–20%
//! of loading a part). INT64 pages in DELTA_BINARY_PACKED (how `frocket dataprep` writes
//! timestamps, uncompressed) are decoded straight into it the same way ([`delta`]).
//!
//! **Timeframe pushdown** (a frame built for one query, `within`): per row group the timestamp
//! column is decoded first (INT64 PLAIN or DELTA_BINARY_PACKED pages, else every row is kept),
//! the rows the query's timeframe admits found as runs ([`TimeBounds::runs`]), and every
//! column keeps only those rows: the group column's runs and a string column's codes made of
//! the kept rows' indices alone (where a bit-packed stretch keeps under a quarter of its rows,
//! each kept index is read straight from the packed bits, the rest never unpacked:
//! `kept_indices`), 8-byte values gathered inside the page loops (`Kept`), other columns
//! filtered by polars. The frame then
//! holds only rows the timeframe admits, and the engine does not apply it again
//! (`Frame::within`). A row group whose timestamp statistics lie outside the timeframe is not
//! read at all, nor is one with no admitted row decoded past its timestamps (unless it is
//! the last and nothing was kept: the frame still gets its columns, empty). Invariant: the
//! query's answer equals its answer on every row (tests: every layout above, under timeframes
//! admitting none, some and all rows). The timestamps' decoding is not saved (pages hold rows
//! of every time on parts sorted by user; hence dataprep's uncompressed delta encoding); the
//! frame's fresh memory, copies and group structures are, in proportion to the rows left out.
//!
//! Everything else is decoded exactly as `ParquetReader` decodes it (the same decoder, the
//! same Arrow types from the Parquet schema, ignoring the writer's embedded Arrow schema). A
//! string column chunk that is not dictionary-encoded throughout (a writer may fall back to
//! plain pages when the dictionary grows too large) is decoded as strings.

use crate::WorkerError;
use engine::{ChunkColumn, Frame, FrameBuilder, TimeBounds};
use kept::{Kept, gather, keep_dictionary_rows, keep_mask, kept_indices, kept_rows};
use polars::prelude::{DataFrame, NamedFrom, ParquetReader, PlSmallStr, PolarsError, SerReader, Series};
use polars_arrow::array::{Array, DictionaryArray};
use polars_arrow::datatypes::{ArrowDataType, DTYPE_CATEGORICAL_NEW, Field, IntegerType, Metadata};
use polars_buffer::Buffer;
use polars_parquet::parquet::encoding::Encoding;
use polars_parquet::parquet::encoding::hybrid_rle::{HybridRleChunk, HybridRleDecoder};
use polars_parquet::parquet::page::split_buffer;
use polars_parquet::parquet::statistics::Statistics;
use polars_parquet::read::schema::parquet_to_arrow_schema;
use polars_parquet::read::{
    BasicDecompressor, ColumnChunkMetadata, FileMetadata, PageReader, PhysicalType, column_iter_to_arrays,
    read_metadata,
};
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::path::PathBuf;
use storage::StorageError;

/// A part's bytes on local disk: the file itself, or an open handle to a cached download
/// (an open handle stays readable even if the cache evicts the file meanwhile).
pub enum PartFile {
    Path(PathBuf),
    Open(std::fs::File, PathBuf),
}

impl PartFile {
    pub(crate) fn open(self) -> Result<(std::fs::File, PathBuf), WorkerError> {
        match self {
            PartFile::Open(f, p) => Ok((f, p)),
            PartFile::Path(p) => match std::fs::File::open(&p) {
                Ok(f) => Ok((f, p)),
                Err(e) => Err(WorkerError::Storage {
                    context: format!("open part {}", p.display()),
                    source: StorageError::from_io(&e, &p.display().to_string()),
                }),
            },
        }
    }
}

/// Reads a Parquet file (only `columns` when given), with the types its Arrow schema records
/// (registration: categorical columns are reported as such).
pub fn read_parquet(part: PartFile, columns: Option<Vec<String>>) -> Result<DataFrame, WorkerError> {
    let (file, path) = part.open()?;
    ParquetReader::new(file).with_columns(columns).finish().map_err(|e| polars_error(e, &path))
}

fn polars_error(e: PolarsError, path: &std::path::Path) -> WorkerError {
    match e {
        PolarsError::ColumnNotFound(m) => WorkerError::Engine {
            context: format!("read part {}", path.display()),
            source: engine::EngineError::MissingColumn(m.to_string()),
        },
        other => WorkerError::CorruptPart { path: path.display().to_string(), message: other.to_string() },
    }
}

/// Reads a Parquet part for a query into a prepared frame (see the module docs). With `within`
/// (the query's timeframe, for a frame built for that query alone), only the rows whose
/// timestamp it admits are kept, and row groups it rules out are not read.
pub fn read_frame_for_query(
    part: PartFile,
    group_column: &str,
    timestamp_column: Option<&str>,
    columns: &[String],
    within: Option<TimeBounds>,
) -> Result<Frame, WorkerError> {
    let mut scratch = SCRATCH.take();
    let frame = read_frame(part, group_column, timestamp_column, columns, within, &mut scratch);
    scratch.trim();
    SCRATCH.set(scratch);
    frame
}

thread_local! {
    /// The reading thread's [`Scratch`], kept from part to part.
    static SCRATCH: std::cell::Cell<Scratch> = std::cell::Cell::new(Scratch::default());
}

/// Working buffers a reading thread keeps from column chunk to column chunk and from part to
/// part: the chunk's bytes, the decompressed page, a row group's timestamps, the group runs.
/// Why: without a memory cache (cold and Parquet-resident queries) every part is read anew,
/// and buffers allocated per chunk and grown by doubling are fresh memory each time — the
/// kernel zeroes every page on first touch, and each doubling copies what was written (q9 on
/// the bounce shape, 20 queries in one process: 16.6k page faults before, 2.8k with the
/// scratch kept; docs/benchmarks.md). Invariant: nothing in it outlives the call that uses it
/// (each user clears what it takes). Bounded: when its buffers together hold more than
/// [`Scratch::KEEP_BYTES`] after a part (huge row groups or pages), they are dropped (a
/// dataprep part's row groups need about 8 MB); an idle thread of the blocking pool ends, and
/// its scratch with it.
#[derive(Default)]
struct Scratch {
    /// A column chunk's bytes as read from the file.
    chunk: Vec<u8>,
    /// The decompressed page being decoded.
    page: Vec<u8>,
    /// A row group's timestamps, decoded before its other columns (timeframe pushdown).
    ts: Vec<i64>,
    /// The group column's runs (their vectors lent to the builder and taken back).
    runs: I64Runs,
    /// The dictionary indices of a bit-packed stretch, and where they change.
    indices: Vec<u32>,
    ends: Vec<u32>,
}

impl Scratch {
    /// The most a thread's scratch keeps after a part.
    const KEEP_BYTES: usize = 32 << 20;

    /// Takes back a column chunk's bytes for the next chunk, when nothing else holds them.
    fn reclaim_chunk(&mut self, data: Buffer<u8>) {
        if let Some(bytes) = data.into_mut().right() {
            self.chunk = bytes;
        }
    }

    /// Drops every buffer if together they hold more than [`Scratch::KEEP_BYTES`].
    fn trim(&mut self) {
        fn bytes<T>(v: &Vec<T>) -> usize {
            v.capacity() * size_of::<T>()
        }
        let held = bytes(&self.chunk)
            + bytes(&self.page)
            + bytes(&self.ts)
            + bytes(&self.runs.values)
            + bytes(&self.runs.lengths)
            + bytes(&self.indices)
            + bytes(&self.ends);
        if held > Self::KEEP_BYTES {
            *self = Scratch::default();
        }
    }
}

fn read_frame(
    part: PartFile,
    group_column: &str,
    timestamp_column: Option<&str>,
    columns: &[String],
    within: Option<TimeBounds>,
    scratch: &mut Scratch,
) -> Result<Frame, WorkerError> {
    let (mut file, path) = part.open()?;
    let corrupt = |message: String| WorkerError::CorruptPart { path: path.display().to_string(), message };
    let engine_err =
        |e: engine::EngineError| WorkerError::Engine { context: format!("prepare part {}", path.display()), source: e };
    let meta = read_metadata(&mut file).map_err(|e| corrupt(e.to_string()))?;
    let schema = parquet_to_arrow_schema(meta.schema().fields());
    let mut names: Vec<&str> = vec![group_column];
    for c in timestamp_column.into_iter().chain(columns.iter().map(String::as_str)) {
        if !names.contains(&c) {
            names.push(c);
        }
    }
    let mut fields = Vec::with_capacity(names.len());
    for name in &names {
        let Some(field) = schema.get(name) else {
            return Err(engine_err(engine::EngineError::MissingColumn(name.to_string())));
        };
        let is_ts = Some(*name) == timestamp_column;
        let how = if *name == group_column {
            if field.dtype == ArrowDataType::Int64 { Fast::Runs } else { Fast::No }
        } else if !is_ts && is_string(&field.dtype) {
            Fast::Indices
        } else if matches!(field.dtype, ArrowDataType::Int64 | ArrowDataType::Float64)
            && !(is_ts && columns.iter().any(|c| c == name))
        {
            // (A timestamp column also asked for as a column has two accumulators: handed over.)
            Fast::Plain8
        } else {
            Fast::No
        };
        fields.push((field.clone(), how));
    }
    // Not when the group column is also asked for as a column (an aggregation over it): then
    // its values are needed, and the runs carry them.
    let keyed_by_index =
        !columns.iter().any(|c| c == group_column) && row_groups_ordered_by(&meta, group_column).is_some();
    // Timeframe pushdown: for INT64 timestamps read the fast way (else every row is kept).
    let within = within.zip(timestamp_column).filter(|(_, ts)| {
        fields.iter().any(|(f, how)| f.name == *ts && *how == Fast::Plain8 && f.dtype == ArrowDataType::Int64)
    });
    let mut builder = FrameBuilder::new(group_column, timestamp_column, columns, meta.num_rows);
    let mut pushed = false;
    let n_groups = meta.row_groups.len();
    for (rg_index, rg) in meta.row_groups.iter().enumerate() {
        let column_of = |name: &str| -> Result<&ColumnChunkMetadata, WorkerError> {
            let chunks: Vec<&ColumnChunkMetadata> =
                rg.columns_under_root_iter(name).map(Iterator::collect).unwrap_or_default();
            match chunks[..] {
                [column] => Ok(column),
                _ => Err(corrupt(format!("column {name} has {} column chunks in a row group", chunks.len()))),
            }
        };
        let mut read_chunk =
            |column: &ColumnChunkMetadata, name: &str, mut bytes: Vec<u8>| -> Result<Buffer<u8>, WorkerError> {
                let range = column.byte_range();
                let len = range.end - range.start;
                // Read into spare capacity (no zeroing pass over memory about to be overwritten).
                bytes.clear();
                bytes.reserve(len as usize);
                file.seek(SeekFrom::Start(range.start))
                    .and_then(|_| (&mut file).take(len).read_to_end(&mut bytes))
                    .map_err(|e| corrupt(format!("reading column {name}: {e}")))?;
                if bytes.len() as u64 != len {
                    return Err(corrupt(format!("column {name}: {} of its {len} bytes in the file", bytes.len())));
                }
                Ok(Buffer::from(bytes))
            };
        // The rows of this row group to keep (`None`: all) and whether its timestamps are
        // already decoded in `scratch.ts`. A row group with no row to keep is skipped, unless it
        // is the last and nothing was kept before: the frame still gets its (empty) columns.
        let (mut keep, mut ts_decoded) = (None, false);
        if let Some((bounds, ts_name)) = within {
            let may_skip = pushed || rg_index + 1 < n_groups;
            let column = column_of(ts_name)?;
            if may_skip && int_statistics(column, &meta).is_some_and(|(min, max)| !bounds.overlaps(min, max)) {
                continue;
            }
            scratch.ts.clear();
            let data = read_chunk(column, ts_name, std::mem::take(&mut scratch.chunk))?;
            let decoded = decode_8(column, &data, &mut scratch.ts, None, &mut scratch.page);
            scratch.reclaim_chunk(data);
            if decoded == Some(rg.num_rows()) {
                ts_decoded = true;
                let runs = bounds.runs(&scratch.ts);
                let kept = kept_rows(&runs);
                if kept == 0 && may_skip {
                    continue;
                }
                if kept < scratch.ts.len() {
                    keep = Some(runs);
                }
            }
        }
        let keep = keep.as_deref();
        let mut chunk = Vec::with_capacity(fields.len());
        for (field, how) in &fields {
            let name = field.name.as_str();
            if ts_decoded && Some(name) == timestamp_column {
                let col = match builder.int_sink(name) {
                    Some(sink) => {
                        let before = sink.len();
                        gather(&scratch.ts, keep, sink);
                        ChunkColumn::Appended(sink.len() - before)
                    }
                    None => {
                        let mut kept = Vec::new();
                        gather(&scratch.ts, keep, &mut kept);
                        ChunkColumn::Series(Series::new(field.name.clone(), kept))
                    }
                };
                chunk.push((name, col));
                continue;
            }
            let column = column_of(name)?;
            let data = read_chunk(column, name, std::mem::take(&mut scratch.chunk))?;
            let fast = match how {
                Fast::Plain8 => append_plain_8(&mut builder, name, &field.dtype, column, &data, keep, scratch),
                _ if column.dictionary_page_offset().is_none() => None,
                Fast::Indices => {
                    append_dictionary_codes(&mut builder, name, column, &data, rg.num_rows(), keep, scratch).or_else(
                        || {
                            decode_dictionary(column, data.clone(), name)
                                .and_then(|arrays| match keep {
                                    None => Some(arrays),
                                    Some(runs) => keep_dictionary_rows(&arrays, runs),
                                })
                                .map(ChunkColumn::Dictionary)
                        },
                    )
                }
                Fast::Runs => {
                    let keys = if keyed_by_index { RunKeys::Index((rg_index as i64) << 32) } else { RunKeys::Id };
                    // Keyed by index and increasing, the runs are the groups: their lengths only.
                    // Else (a row group not sorted within) the keys, decoded again.
                    // (With a timeframe's rows, the runs of the kept rows only.)
                    let mut decoded = decode_i64_runs(column, &data, keys, false, keep, scratch);
                    if decoded.is_some() && keyed_by_index && !scratch.runs.increasing {
                        decoded = decode_i64_runs(column, &data, keys, true, keep, scratch);
                    }
                    decoded.map(|()| {
                        let runs = &mut scratch.runs;
                        // (Lent to the builder, taken back after the push.)
                        let lengths = std::mem::take(&mut runs.lengths);
                        if keyed_by_index && runs.increasing {
                            ChunkColumn::Groups(lengths)
                        } else {
                            ChunkColumn::Runs { values: std::mem::take(&mut runs.values), lengths }
                        }
                    })
                }
                Fast::No => None,
            };
            let col = match fast {
                Some(col) => {
                    scratch.reclaim_chunk(data);
                    col
                }
                None => {
                    let arrays = decode(column, data, field.clone()).map_err(|e| corrupt(e.to_string()))?;
                    let series = Series::try_from((field, arrays)).map_err(|e| corrupt(e.to_string()))?;
                    ChunkColumn::Series(match keep {
                        None => series,
                        Some(runs) => {
                            series.filter(&keep_mask(runs, series.len())).map_err(|e| corrupt(e.to_string()))?
                        }
                    })
                }
            };
            chunk.push((name, col));
        }
        builder.push_columns(&chunk).map_err(engine_err)?;
        for (_, col) in chunk {
            match col {
                ChunkColumn::Groups(lengths) => scratch.runs.lengths = lengths,
                ChunkColumn::Runs { values, lengths } => {
                    (scratch.runs.values, scratch.runs.lengths) = (values, lengths)
                }
                _ => {}
            }
        }
        pushed = true;
    }
    builder.finish().map_err(engine_err)
}

/// The min and max an INT64 column chunk's statistics record, when they record both and no
/// null (a row group with a null timestamp is read, so that the part is refused as before).
fn int_statistics(column: &ColumnChunkMetadata, meta: &FileMetadata) -> Option<(i64, i64)> {
    let Statistics::Int64(stats) = column.statistics(&meta.footer_buf)?.ok()? else { return None };
    if stats.null_count != Some(0) {
        return None;
    }
    Some((stats.min_value?, stats.max_value?))
}

/// A column's cheaper decoding when its chunk is dictionary-encoded (else, or when the chunk
/// has pages it does not handle, the column is decoded as polars decodes it).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fast {
    /// Strings: dictionary indices plus the dictionary.
    Indices,
    /// The INT64 group column: runs of equal ids from the run-length-encoded indices.
    Runs,
    /// INT64 or DOUBLE values in PLAIN pages without nulls (timestamps, prices; INT64 also in
    /// DELTA_BINARY_PACKED pages): copied or decoded from each page straight into the frame's
    /// buffer ([`decode_8`]).
    Plain8,
    No,
}

/// Appends a 64-bit number column chunk's values in place into the builder's buffer for it
/// (one copy, from the decompressed page; polars' decoder would make an array first and the
/// builder copy that), returning the chunk column that says so; with `keep`, only those rows
/// (gathered from each page). `None`, with nothing appended, when the chunk is anything but
/// PLAIN (or, INT64, DELTA_BINARY_PACKED) pages without nulls: the caller decodes it as usual.
fn append_plain_8(
    builder: &mut FrameBuilder,
    name: &str,
    dtype: &ArrowDataType,
    column: &ColumnChunkMetadata,
    data: &Buffer<u8>,
    keep: Option<&[(u32, u32)]>,
    scratch: &mut Scratch,
) -> Option<ChunkColumn> {
    fn append<T: Plain8 + Copy>(
        out: &mut Vec<T>,
        column: &ColumnChunkMetadata,
        data: &Buffer<u8>,
        keep: Option<&[(u32, u32)]>,
        page: &mut Vec<u8>,
    ) -> Option<usize> {
        let before = out.len();
        if decode_8(column, data, out, keep, page).is_none() {
            out.truncate(before);
            return None;
        }
        Some(out.len() - before)
    }
    match (dtype, column.physical_type()) {
        (ArrowDataType::Int64, PhysicalType::Int64) => {
            append(builder.int_sink(name)?, column, data, keep, &mut scratch.page).map(ChunkColumn::Appended)
        }
        (ArrowDataType::Float64, PhysicalType::Double) => {
            append(builder.float_sink(name)?, column, data, keep, &mut scratch.page).map(ChunkColumn::Appended)
        }
        _ => None,
    }
}

/// An 8-byte number as Parquet's PLAIN encoding stores it (little-endian); INT64 also as
/// DELTA_BINARY_PACKED ([`delta`]).
trait Plain8: Sized + Copy {
    fn from_le(b: [u8; 8]) -> Self;
    /// Appends a DELTA_BINARY_PACKED page's `n` values; `None` if the type has no such
    /// encoding or the page is malformed.
    fn append_delta(data: &[u8], n: usize, out: &mut Vec<Self>) -> Option<()>;
}
impl Plain8 for i64 {
    #[inline(always)]
    fn from_le(b: [u8; 8]) -> i64 {
        i64::from_le_bytes(b)
    }
    fn append_delta(data: &[u8], n: usize, out: &mut Vec<i64>) -> Option<()> {
        delta::decode_delta_i64(data, n, out)
    }
}
impl Plain8 for f64 {
    #[inline(always)]
    fn from_le(b: [u8; 8]) -> f64 {
        f64::from_le_bytes(b)
    }
    fn append_delta(_: &[u8], _: usize, _: &mut Vec<f64>) -> Option<()> {
        None
    }
}

/// Appends the values of a flat column chunk of 8-byte values without nulls, in PLAIN pages
/// (INT64 also DELTA_BINARY_PACKED pages, as `frocket dataprep` writes timestamps), to `out`
/// (with `keep`, only those rows, gathered from each page); the number of rows read, or `None`
/// (part of it possibly appended) for anything else. Pages are decompressed into `page` (a
/// reused buffer: [`Scratch`]).
fn decode_8<T: Plain8>(
    column: &ColumnChunkMetadata,
    data: &Buffer<u8>,
    out: &mut Vec<T>,
    keep: Option<&[(u32, u32)]>,
    page: &mut Vec<u8>,
) -> Option<usize> {
    if column.dictionary_page_offset().is_some() || column.descriptor().descriptor.max_rep_level > 0 {
        return None;
    }
    // Room for every row up front: no doubling copies (a no-op for the builder's sinks). The
    // count is the file's word, so only tried (a corrupt one fails the decoding, not the process).
    let rows = keep.map_or(usize::try_from(column.num_values()).unwrap_or(0), kept_rows);
    let _ = out.try_reserve(rows);
    let mut pages = page_reader(column, data.clone(), std::mem::take(page));
    let mut appended = 0;
    let mut kept = keep.map(Kept::new);
    // A delta-encoded page's values, when only some rows are kept.
    let mut decoded: Vec<T> = Vec::new();
    while let Some(item) = pages.next() {
        let page = item.ok()?.decompress(&mut pages).ok()?;
        let n = page.num_values();
        let split = split_buffer(&page).ok()?;
        if page.descriptor.max_def_level > 0 && !all_defined(split.def, n)? {
            return None;
        }
        match page.encoding() {
            Encoding::Plain => {
                if split.values.len() != n * 8 {
                    return None;
                }
                let from_le = |b: &[u8]| T::from_le(b.try_into().unwrap_or_default());
                match kept.as_mut() {
                    None => out.extend(split.values.chunks_exact(8).map(from_le)),
                    Some(kept) => kept.within(appended, n, |a, b| {
                        out.extend(split.values[a * 8..b * 8].chunks_exact(8).map(from_le))
                    }),
                }
            }
            Encoding::DeltaBinaryPacked => match kept.as_mut() {
                None => T::append_delta(split.values, n, out)?,
                Some(kept) => {
                    decoded.clear();
                    T::append_delta(split.values, n, &mut decoded)?;
                    kept.within(appended, n, |a, b| out.extend_from_slice(&decoded[a..b]));
                }
            },
            _ => return None,
        }
        appended += n;
        pages.reuse_page_buffer(page);
    }
    *page = pages.into_inner();
    if kept.is_some_and(|k| !k.done()) {
        return None;
    }
    Some(appended)
}

fn is_string(dtype: &ArrowDataType) -> bool {
    matches!(dtype, ArrowDataType::Utf8View | ArrowDataType::Utf8 | ArrowDataType::LargeUtf8)
}

/// The decompressed pages of a column chunk's bytes, decompressed into `page` (a buffer to
/// reuse: [`BasicDecompressor::into_inner`] gives it back).
fn page_reader(column: &ColumnChunkMetadata, data: Buffer<u8>, page: Vec<u8>) -> BasicDecompressor {
    BasicDecompressor::new(PageReader::new(Cursor::new(data), column, vec![], usize::MAX), page)
}

/// Decodes one column chunk to Arrow arrays of `field`'s type.
fn decode(column: &ColumnChunkMetadata, data: Buffer<u8>, field: Field) -> Result<Vec<Box<dyn Array>>, PolarsError> {
    let types = vec![&column.descriptor().descriptor.primitive_type];
    Ok(column_iter_to_arrays(vec![page_reader(column, data, Vec::new())], types, field, None)?.0)
}

/// Whether the part's row groups are ordered by the INT64 column `name` with no value in two
/// of them, by their statistics: every row group records its exact min and max (and no nulls
/// when it records a null count), and each one's max is below the next one's min. Then a
/// group's rows all lie in one row group (see the module docs).
fn row_groups_ordered_by(meta: &FileMetadata, name: &str) -> Option<()> {
    let mut last_max: Option<i64> = None;
    for rg in &meta.row_groups {
        let column = rg.columns_under_root_iter(name)?.next()?;
        let Statistics::Int64(stats) = column.statistics(&meta.footer_buf)?.ok()? else { return None };
        let (min, max) = (stats.min_value?, stats.max_value?);
        if stats.null_count.is_some_and(|n| n != 0) || min > max || last_max.is_some_and(|m| m >= min) {
            return None;
        }
        last_max = Some(max);
    }
    Some(())
}

/// How [`decode_i64_runs`] keys a run.
#[derive(Debug, Clone, Copy, PartialEq)]
enum RunKeys {
    /// By the id itself, read from the dictionary page.
    Id,
    /// By `base + dictionary index`, the dictionary page skipped: only when no id occurs in
    /// two row groups (each row group gets its own base; see the module docs).
    Index(i64),
}

/// The runs of equal values of an INT64 column chunk stored as a Parquet dictionary, as
/// [`decode_i64_runs`] gives them.
#[derive(Debug, Default, Clone, PartialEq)]
struct I64Runs {
    /// Each run's key (empty when not asked for: keyed by index, each run is a group).
    values: Vec<i64>,
    lengths: Vec<u32>,
    /// Whether the keys strictly increase from run to run (then keyed by index, no two runs
    /// are one group).
    increasing: bool,
}

/// The runs of equal values of an INT64 column chunk stored as a Parquet dictionary, read from
/// its dictionary indices: keys and lengths, adjacent equal keys merged (given a dictionary
/// of distinct values, as writers make them; the frame builder merges any others). Keyed by
/// id or, skipping the dictionary page, by index ([`RunKeys`]); keyed by index, the keys are
/// only kept with `with_values` (the frame needs none when they increase: each run is then a
/// group, [`ChunkColumn::Groups`]). A sorted group column is mostly runs in the indices' RLE
/// encoding, so this costs nothing per row there and little elsewhere (bit-packed stretches are
/// unpacked a block at a time). With `keep` (a timeframe's rows: runs of `(first row, rows)`),
/// the runs of those rows alone, as if the others were not there ([`kept_indices`]; keyed by
/// id, only the kept rows' indices are checked against the dictionary). The runs are written
/// to `scratch.runs` (cleared first). `None` for anything but flat, dictionary-encoded pages
/// without nulls, or kept rows past the chunk's end (the caller decodes such a chunk as usual).
fn decode_i64_runs(
    column: &ColumnChunkMetadata,
    data: &Buffer<u8>,
    keys: RunKeys,
    with_values: bool,
    keep: Option<&[(u32, u32)]>,
    scratch: &mut Scratch,
) -> Option<()> {
    if column.physical_type() != PhysicalType::Int64 || column.descriptor().descriptor.max_rep_level > 0 {
        return None;
    }
    let mut reader = PageReader::new(Cursor::new(data.clone()), column, vec![], usize::MAX);
    let page = std::mem::take(&mut scratch.page);
    // The dictionary's ids, or none when keyed by index.
    let (dict, base, mut pages): (Vec<i64>, i64, BasicDecompressor) = match keys {
        RunKeys::Id => {
            let mut pages = BasicDecompressor::new(reader, page);
            let dict_page = pages.read_dict_page().ok()??;
            let dict: Vec<i64> = dict_page
                .buffer
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap_or_default()))
                .collect();
            if dict.len() != dict_page.num_values {
                return None;
            }
            (dict, 0, pages)
        }
        RunKeys::Index(base) => {
            // Skipped compressed: its header read, its body not decompressed.
            reader.read_dict().ok()??;
            (Vec::new(), base, BasicDecompressor::new(reader, page))
        }
    };
    let by_index = matches!(keys, RunKeys::Index(_));
    let key =
        |i: u32| -> Option<i64> { if by_index { Some(base + i64::from(i)) } else { dict.get(i as usize).copied() } };
    let with_values = with_values || !by_index;
    let out = &mut scratch.runs;
    out.values.clear();
    out.lengths.clear();
    out.increasing = true;
    // The last run's key: a run merged into it when it has the same key (a run of indices
    // continuing across chunks or pages).
    let mut last: Option<i64> = None;
    fn push(out: &mut I64Runs, last: &mut Option<i64>, with_values: bool, v: i64, n: usize) {
        match out.lengths.last_mut() {
            Some(len) if *last == Some(v) => *len += n as u32,
            _ => {
                out.increasing &= last.is_none_or(|l| l < v);
                if with_values {
                    out.values.push(v);
                }
                out.lengths.push(n as u32);
                *last = Some(v);
            }
        }
    }
    let ends = &mut scratch.ends;
    let walked = for_each_kept_index_chunk(&mut pages, keep, &mut scratch.indices, |chunk| {
        match chunk {
            IndexChunk::Run(i, len) => {
                if len > 0 {
                    push(out, &mut last, with_values, key(i)?, len);
                }
            }
            IndexChunk::Indices(indices) => {
                let n = indices.len();
                if n == 0 {
                    return Some(());
                }
                // Every index within the dictionary (keyed by index there is none to check).
                if !by_index && indices.iter().copied().max().is_none_or(|i| key(i).is_none()) {
                    return None;
                }
                // Where the index changes, found branch-free (short runs would mispredict).
                // (Through slices: with the vectors themselves, their lengths were reloaded
                // from memory after every store, ~9 cycles a row: `perf annotate`.)
                ends.clear();
                ends.resize(n, 0);
                let (found, idx) = (&mut ends[..], &indices[..n]);
                let (mut m, mut descending) = (0, false);
                for k in 1..n {
                    let (a, b) = (idx[k - 1], idx[k]);
                    found[m] = k as u32;
                    m += usize::from(a != b);
                    descending |= b < a;
                }
                // Keyed by index, the keys increase with the indices; by id, checked below.
                out.increasing &= !(by_index && descending);
                // The first run may continue the last one; the others start at a changed
                // index, so they are new runs (as long as the dictionary's values are
                // distinct, as writers make them; the frame builder merges any others).
                // Extended from iterators: no capacity check or spilled length per run.
                let starts = &ends[..m];
                push(out, &mut last, with_values, key(indices[0])?, starts.first().map_or(n, |&e| e as usize));
                if let Some(&s) = starts.last() {
                    last = key(indices[s as usize]);
                }
                if with_values {
                    let v0 = out.values.len();
                    out.values.extend(starts.iter().map(|&s| key(indices[s as usize]).unwrap_or_default()));
                    if !by_index {
                        out.increasing &= out.values[v0.saturating_sub(1)..].windows(2).all(|w| w[0] < w[1]);
                    }
                }
                let lengths = &mut out.lengths;
                lengths.extend(starts.windows(2).map(|w| w[1] - w[0]).chain(starts.last().map(|&s| n as u32 - s)));
            }
        }
        Some(())
    });
    scratch.page = pages.into_inner();
    walked
}

/// A chunk of a column chunk's dictionary indices, of the kept rows only
/// ([`for_each_kept_index_chunk`]).
enum IndexChunk<'a> {
    /// An RLE run: its index and how many of its rows are kept (possibly none).
    Run(u32, usize),
    /// A bit-packed stretch's kept rows' indices (possibly none).
    Indices(&'a [u32]),
}

/// As [`for_each_index_chunk`], of the rows in `keep` alone (runs of `(first row, rows)`;
/// `None`: every row): an RLE run with its kept rows counted, a bit-packed stretch as its kept
/// rows' indices unpacked into `indices` (few kept rows read straight from the packed bits:
/// [`kept_indices`]). `None` also when kept rows lie past the last chunk (a column chunk
/// shorter than its row group).
fn for_each_kept_index_chunk(
    pages: &mut BasicDecompressor,
    keep: Option<&[(u32, u32)]>,
    indices: &mut Vec<u32>,
    mut f: impl FnMut(IndexChunk<'_>) -> Option<()>,
) -> Option<()> {
    // The row at the start of the next chunk, and the walk over the kept rows.
    let (mut at, mut kept) = (0usize, keep.map(Kept::new));
    for_each_index_chunk(pages, |chunk| {
        let start = at;
        at += chunk.len();
        match chunk {
            HybridRleChunk::Rle(i, len) => f(IndexChunk::Run(i, kept.as_mut().map_or(len, |k| k.count(start, len)))),
            HybridRleChunk::Bitpacked(unpack) => {
                indices.clear();
                match kept.as_mut() {
                    None => unpack.collect_into(indices),
                    Some(k) => kept_indices(unpack, start, k, indices)?,
                }
                f(IndexChunk::Indices(indices))
            }
        }
    })?;
    kept.is_none_or(|k| k.done()).then_some(())
}

/// Calls `f` with each run-length or bit-packed chunk of the dictionary indices of every data
/// page of a flat column chunk (its dictionary page already read or skipped). `None` when a page
/// is not dictionary-encoded, has nulls, cannot be read, or `f` returns `None`.
fn for_each_index_chunk(
    pages: &mut BasicDecompressor,
    mut f: impl FnMut(HybridRleChunk<'_>) -> Option<()>,
) -> Option<()> {
    while let Some(item) = pages.next() {
        let page = item.ok()?.decompress(pages).ok()?;
        if !page.header().is_dictionary_encoded() {
            return None;
        }
        let n = page.num_values();
        let split = split_buffer(&page).ok()?;
        if page.descriptor.max_def_level > 0 && !all_defined(split.def, n)? {
            return None;
        }
        let (&bit_width, encoded) = split.values.split_first()?;
        if bit_width > 32 {
            return None;
        }
        let mut runs = HybridRleDecoder::new(encoded, u32::from(bit_width), n);
        let mut seen = 0;
        while let Some(chunk) = runs.next_chunk().ok()? {
            seen += chunk.len();
            f(chunk)?;
        }
        if seen != n {
            return None;
        }
        pages.reuse_page_buffer(page);
    }
    Some(())
}

/// Whether definition levels (max level 1, RLE/bit-packed) say every one of `n` values is
/// present; `None` when they cannot be read.
fn all_defined(levels: &[u8], n: usize) -> Option<bool> {
    let mut d = HybridRleDecoder::new(levels, 1, n);
    let mut seen = 0;
    let mut buf = Vec::new();
    while let Some(chunk) = d.next_chunk().ok()? {
        seen += chunk.len();
        let ok = match chunk {
            HybridRleChunk::Rle(v, _) => v == 1,
            HybridRleChunk::Bitpacked(unpack) => {
                buf.clear();
                unpack.collect_into(&mut buf);
                buf.iter().all(|&v| v == 1)
            }
        };
        if !ok {
            return Some(false);
        }
    }
    Some(seen == n)
}

/// Appends a string column chunk of dictionary-encoded pages (no nulls) straight to the
/// builder's codes for it ([`FrameBuilder::code_sink`]): the dictionary page's strings merged
/// into the column's dictionary once, then each run of the indices' RLE encoding appended as a
/// run of codes and each bit-packed stretch unpacked into a reused buffer and mapped (with a
/// timeframe, only its kept rows' indices: `kept_indices`). No
/// per-row keys array is made (polars' decoder makes one of 4 bytes per row, which the builder
/// then maps: fresh memory a cold load pays for). `None`, with nothing appended, for anything
/// else (nulls, plain pages, an index past the dictionary): the caller decodes it as usual.
fn append_dictionary_codes(
    builder: &mut FrameBuilder,
    name: &str,
    column: &ColumnChunkMetadata,
    data: &Buffer<u8>,
    rows: usize,
    keep: Option<&[(u32, u32)]>,
    scratch: &mut Scratch,
) -> Option<ChunkColumn> {
    if column.physical_type() != PhysicalType::ByteArray || column.descriptor().descriptor.max_rep_level > 0 {
        return None;
    }
    let mut pages = page_reader(column, data.clone(), std::mem::take(&mut scratch.page));
    let dict_page = pages.read_dict_page().ok()??;
    // PLAIN byte arrays: each a 4-byte little-endian length, then the bytes.
    let mut values: Vec<&str> = Vec::with_capacity(dict_page.num_values);
    let mut rest: &[u8] = &dict_page.buffer;
    for _ in 0..dict_page.num_values {
        let (len, tail) = rest.split_first_chunk::<4>()?;
        let len = u32::from_le_bytes(*len) as usize;
        values.push(std::str::from_utf8(tail.get(..len)?).ok()?);
        rest = &tail[len..];
    }
    let mut sink = builder.code_sink(name, values.iter().map(|&v| Some(v)), keep.map_or(rows, kept_rows))?;
    let before = sink.len();
    let appended = for_each_kept_index_chunk(&mut pages, keep, &mut scratch.indices, |chunk| {
        let ok = match chunk {
            IndexChunk::Run(i, len) => sink.push_run(i, len),
            IndexChunk::Indices(indices) => sink.extend(indices),
        };
        ok.then_some(())
    })
    .map(|()| sink.len() - before);
    if appended.is_none() {
        sink.truncate(before);
    }
    scratch.page = pages.into_inner();
    appended.map(ChunkColumn::Appended)
}

/// Decodes a string column chunk to dictionary indices, or `None` when some data page is not
/// dictionary-encoded (polars' categorical decoder requires every page to be).
fn decode_dictionary(column: &ColumnChunkMetadata, data: Buffer<u8>, name: &str) -> Option<Vec<DictionaryArray<u32>>> {
    // The categorical marker selects polars' decoder of indices (keys straight from the pages).
    let metadata: Metadata = [(PlSmallStr::from_static(DTYPE_CATEGORICAL_NEW), PlSmallStr::EMPTY)].into();
    let dtype = ArrowDataType::Dictionary(IntegerType::UInt32, Box::new(ArrowDataType::Utf8View), false);
    let field = Field::new(name.into(), dtype, true).with_metadata(metadata);
    let arrays = decode(column, data, field).ok()?;
    arrays.into_iter().map(|a| a.as_any().downcast_ref::<DictionaryArray<u32>>().cloned()).collect()
}

mod delta;
mod kept;

#[cfg(test)]
pub(crate) mod tests;
