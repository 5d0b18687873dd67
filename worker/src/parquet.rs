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
//! per-row keys array; with nulls (or a timeframe's row filter), through polars' decoder of
//! indices. Likewise a
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
//! of loading a part).
//!
//! **Timeframe pushdown** (a frame built for one query, `within`): per row group the timestamp
//! column is decoded first (INT64 PLAIN pages, else every row is kept), the rows the query's
//! timeframe admits found as runs ([`TimeBounds::runs`]), and every column keeps only those
//! rows: the group runs' lengths recounted, dictionary keys and 8-byte values gathered, other
//! columns filtered by polars. A row group whose timestamp statistics lie outside the timeframe
//! is not read at all, nor is one with no admitted row decoded past its timestamps (unless it is
//! the last and nothing was kept: the frame still gets its columns, empty). Invariant: the
//! query's answer equals its answer on every row (tests: every layout above, under timeframes
//! admitting none, some and all rows). The decompression is not saved (pages hold rows of
//! every time on parts sorted by user); the frame's fresh memory, copies and group structures
//! are, in proportion to the rows left out.
//!
//! Everything else is decoded exactly as `ParquetReader` decodes it (the same decoder, the
//! same Arrow types from the Parquet schema, ignoring the writer's embedded Arrow schema). A
//! string column chunk that is not dictionary-encoded throughout (a writer may fall back to
//! plain pages when the dictionary grows too large) is decoded as strings.

use crate::WorkerError;
use engine::{ChunkColumn, Frame, FrameBuilder, TimeBounds};
use polars::prelude::{
    BooleanChunked, DataFrame, NamedFrom, NewChunkedArray, ParquetReader, PlSmallStr, PolarsError, SerReader, Series,
};
use polars_arrow::array::{Array, DictionaryArray, PrimitiveArray};
use polars_arrow::bitmap::Bitmap;
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
    let mut ts_rows: Vec<i64> = Vec::new();
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
        let mut read_chunk = |column: &ColumnChunkMetadata, name: &str| -> Result<Buffer<u8>, WorkerError> {
            let range = column.byte_range();
            let len = range.end - range.start;
            // Read into spare capacity (no zeroing pass over memory about to be overwritten).
            let mut bytes = Vec::with_capacity(len as usize);
            file.seek(SeekFrom::Start(range.start))
                .and_then(|_| (&mut file).take(len).read_to_end(&mut bytes))
                .map_err(|e| corrupt(format!("reading column {name}: {e}")))?;
            if bytes.len() as u64 != len {
                return Err(corrupt(format!("column {name}: {} of its {len} bytes in the file", bytes.len())));
            }
            Ok(Buffer::from(bytes))
        };
        // The rows of this row group to keep (`None`: all) and whether its timestamps are
        // already decoded in `ts_rows`. A row group with no row to keep is skipped, unless it
        // is the last and nothing was kept before: the frame still gets its (empty) columns.
        let (mut keep, mut ts_decoded) = (None, false);
        if let Some((bounds, ts_name)) = within {
            let may_skip = pushed || rg_index + 1 < n_groups;
            let column = column_of(ts_name)?;
            if may_skip && int_statistics(column, &meta).is_some_and(|(min, max)| !bounds.overlaps(min, max)) {
                continue;
            }
            ts_rows.clear();
            let data = read_chunk(column, ts_name)?;
            if decode_plain_8(column, data, &mut ts_rows, None) == Some(rg.num_rows()) {
                ts_decoded = true;
                let runs = bounds.runs(&ts_rows);
                let kept: usize = runs.iter().map(|&(_, n)| n as usize).sum();
                if kept == 0 && may_skip {
                    continue;
                }
                if kept < ts_rows.len() {
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
                        gather(&ts_rows, keep, sink);
                        ChunkColumn::Appended(sink.len() - before)
                    }
                    None => {
                        let mut kept = Vec::new();
                        gather(&ts_rows, keep, &mut kept);
                        ChunkColumn::Series(Series::new(field.name.clone(), kept))
                    }
                };
                chunk.push((name, col));
                continue;
            }
            let column = column_of(name)?;
            let data = read_chunk(column, name)?;
            let fast = match how {
                Fast::Plain8 => append_plain_8(&mut builder, name, &field.dtype, column, &data, keep),
                _ if column.dictionary_page_offset().is_none() => None,
                Fast::Indices => append_dictionary_codes(&mut builder, name, column, &data, rg.num_rows(), keep)
                    .or_else(|| {
                        decode_dictionary(column, data.clone(), name)
                            .and_then(|arrays| match keep {
                                None => Some(arrays),
                                Some(runs) => keep_dictionary_rows(&arrays, runs),
                            })
                            .map(ChunkColumn::Dictionary)
                    }),
                Fast::Runs => {
                    let keys = if keyed_by_index { RunKeys::Index((rg_index as i64) << 32) } else { RunKeys::Id };
                    // Keyed by index and increasing, the runs are the groups: their lengths only.
                    // Else (a row group not sorted within) the keys, decoded again.
                    let runs = decode_i64_runs(column, data.clone(), keys, false).and_then(|r| {
                        if keyed_by_index && !r.increasing {
                            decode_i64_runs(column, data.clone(), keys, true)
                        } else {
                            Some(r)
                        }
                    });
                    runs.map(|r| {
                        let (values, lengths) = match keep {
                            None => (r.values, r.lengths),
                            Some(rows) => keep_run_rows(&r.values, &r.lengths, rows),
                        };
                        if keyed_by_index && r.increasing {
                            ChunkColumn::Groups(lengths)
                        } else {
                            ChunkColumn::Runs { values, lengths }
                        }
                    })
                }
                Fast::No => None,
            };
            let col = match fast {
                Some(col) => col,
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

/// Appends `values`' rows in `keep` (runs of `(first row, rows)`; `None`: every row) to `out`.
fn gather<T: Copy>(values: &[T], keep: Option<&[(u32, u32)]>, out: &mut Vec<T>) {
    match keep {
        None => out.extend_from_slice(values),
        Some(runs) => {
            for &(s, n) in runs {
                out.extend_from_slice(&values[s as usize..(s + n) as usize]);
            }
        }
    }
}

/// The rows in `keep` of a column given as `(value, length)` runs: each run's length becomes
/// the number of its rows kept (runs left with none are dropped). `values` may be empty (runs
/// without keys): then so is the first vector returned.
fn keep_run_rows(values: &[i64], lengths: &[u32], keep: &[(u32, u32)]) -> (Vec<i64>, Vec<u32>) {
    let (mut out_v, mut out_n) = (Vec::new(), Vec::new());
    let mut k = Kept::new(keep);
    let mut start = 0usize;
    for (i, &n) in lengths.iter().enumerate() {
        // (A kept run may span several value runs.)
        let kept = k.count(start, n as usize) as u32;
        start += n as usize;
        if kept > 0 {
            if let Some(&v) = values.get(i) {
                out_v.push(v);
            }
            out_n.push(kept);
        }
    }
    (out_v, out_n)
}

/// The rows in `keep` of dictionary arrays covering consecutive rows: the same dictionary,
/// the kept keys (and their validity). `None` if an array cannot be rebuilt (the caller then
/// decodes the chunk as polars does).
fn keep_dictionary_rows(arrays: &[DictionaryArray<u32>], keep: &[(u32, u32)]) -> Option<Vec<DictionaryArray<u32>>> {
    let mut out = Vec::with_capacity(arrays.len());
    let mut at = 0u32;
    for arr in arrays {
        let end = at + arr.len() as u32;
        // The kept runs within this array, relative to it.
        let first = keep.partition_point(|&(s, n)| s + n <= at);
        let local: Vec<(u32, u32)> = keep[first..]
            .iter()
            .take_while(|&&(s, _)| s < end)
            .map(|&(s, n)| (s.max(at) - at, (s + n).min(end) - s.max(at)))
            .collect();
        let keys = arr.keys();
        let mut kept = Vec::with_capacity(local.iter().map(|&(_, n)| n as usize).sum());
        gather(keys.values(), Some(&local), &mut kept);
        let validity = keys
            .validity()
            .filter(|v| v.unset_bits() > 0)
            .map(|v| local.iter().flat_map(|&(s, n)| (s..s + n).map(|i| v.get_bit(i as usize))).collect::<Bitmap>());
        let keys = PrimitiveArray::new(ArrowDataType::UInt32, kept.into(), validity);
        out.push(DictionaryArray::try_new(arr.dtype().clone(), keys, arr.values().clone()).ok()?);
        at = end;
    }
    Some(out)
}

/// `keep`'s runs as a boolean mask over `n` rows (for polars' `filter`).
fn keep_mask(keep: &[(u32, u32)], n: usize) -> BooleanChunked {
    let mut mask = vec![false; n];
    for &(s, len) in keep {
        mask[s as usize..(s + len) as usize].fill(true);
    }
    BooleanChunked::from_slice(PlSmallStr::EMPTY, &mask)
}

/// A column's cheaper decoding when its chunk is dictionary-encoded (else, or when the chunk
/// has pages it does not handle, the column is decoded as polars decodes it).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fast {
    /// Strings: dictionary indices plus the dictionary.
    Indices,
    /// The INT64 group column: runs of equal ids from the run-length-encoded indices.
    Runs,
    /// INT64 or DOUBLE values in PLAIN pages without nulls (timestamps, prices): copied from
    /// each decompressed page straight into the frame's buffer.
    Plain8,
    No,
}

/// Appends a 64-bit number column chunk's values in place into the builder's buffer for it
/// (one copy, from the decompressed page; polars' decoder would make an array first and the
/// builder copy that), returning the chunk column that says so; with `keep`, only those rows
/// (gathered from each page). `None`, with nothing appended, when the
/// chunk is anything but PLAIN pages without nulls: the caller decodes it as usual.
fn append_plain_8(
    builder: &mut FrameBuilder,
    name: &str,
    dtype: &ArrowDataType,
    column: &ColumnChunkMetadata,
    data: &Buffer<u8>,
    keep: Option<&[(u32, u32)]>,
) -> Option<ChunkColumn> {
    fn append<T: Plain8 + Copy>(
        out: &mut Vec<T>,
        column: &ColumnChunkMetadata,
        data: &Buffer<u8>,
        keep: Option<&[(u32, u32)]>,
    ) -> Option<usize> {
        let before = out.len();
        if decode_plain_8(column, data.clone(), out, keep).is_none() {
            out.truncate(before);
            return None;
        }
        Some(out.len() - before)
    }
    match (dtype, column.physical_type()) {
        (ArrowDataType::Int64, PhysicalType::Int64) => {
            append(builder.int_sink(name)?, column, data, keep).map(ChunkColumn::Appended)
        }
        (ArrowDataType::Float64, PhysicalType::Double) => {
            append(builder.float_sink(name)?, column, data, keep).map(ChunkColumn::Appended)
        }
        _ => None,
    }
}

/// An 8-byte number as Parquet's PLAIN encoding stores it (little-endian).
trait Plain8: Sized {
    fn from_le(b: [u8; 8]) -> Self;
}
impl Plain8 for i64 {
    #[inline(always)]
    fn from_le(b: [u8; 8]) -> i64 {
        i64::from_le_bytes(b)
    }
}
impl Plain8 for f64 {
    #[inline(always)]
    fn from_le(b: [u8; 8]) -> f64 {
        f64::from_le_bytes(b)
    }
}

/// Appends the values of a flat column chunk of PLAIN pages of 8-byte values without nulls to
/// `out` (with `keep`, only those rows, gathered from each page); the number of rows read, or
/// `None` (part of it possibly appended) for anything else.
fn decode_plain_8<T: Plain8>(
    column: &ColumnChunkMetadata,
    data: Buffer<u8>,
    out: &mut Vec<T>,
    keep: Option<&[(u32, u32)]>,
) -> Option<usize> {
    if column.dictionary_page_offset().is_some() || column.descriptor().descriptor.max_rep_level > 0 {
        return None;
    }
    let mut pages = page_reader(column, data);
    let mut appended = 0;
    let mut kept = keep.map(Kept::new);
    while let Some(item) = pages.next() {
        let page = item.ok()?.decompress(&mut pages).ok()?;
        if page.encoding() != Encoding::Plain {
            return None;
        }
        let n = page.num_values();
        let split = split_buffer(&page).ok()?;
        if page.descriptor.max_def_level > 0 && !all_defined(split.def, n)? {
            return None;
        }
        if split.values.len() != n * 8 {
            return None;
        }
        let from_le = |b: &[u8]| T::from_le(b.try_into().unwrap_or_default());
        match kept.as_mut() {
            None => out.extend(split.values.chunks_exact(8).map(from_le)),
            Some(kept) => {
                kept.within(appended, n, |a, b| out.extend(split.values[a * 8..b * 8].chunks_exact(8).map(from_le)))
            }
        }
        appended += n;
        pages.reuse_page_buffer(page);
    }
    if kept.is_some_and(|k| !k.done()) {
        return None;
    }
    Some(appended)
}

/// A walk over the kept rows' runs (`(first row, rows)`, in order, disjoint) alongside
/// consecutive stretches of a row group's rows (pages, runs, bit-packed chunks).
struct Kept<'a> {
    runs: &'a [(u32, u32)],
    at: usize,
}

impl<'a> Kept<'a> {
    fn new(runs: &'a [(u32, u32)]) -> Self {
        Kept { runs, at: 0 }
    }

    /// Calls `f(a, b)` for each kept stretch of rows `start..start + len`, as offsets from
    /// `start` (`a < b`); stretches must be asked for in row order.
    #[inline]
    fn within(&mut self, start: usize, len: usize, mut f: impl FnMut(usize, usize)) {
        let end = start + len;
        while let Some(&(s, n)) = self.runs.get(self.at) {
            let (s, e) = (s as usize, (s + n) as usize);
            if s >= end {
                break;
            }
            let (a, b) = (s.max(start), e.min(end));
            if a < b {
                f(a - start, b - start);
            }
            if e > end {
                break;
            }
            self.at += 1;
        }
    }

    /// The kept rows among `start..start + len`.
    fn count(&mut self, start: usize, len: usize) -> usize {
        let mut k = 0;
        self.within(start, len, |a, b| k += b - a);
        k
    }

    /// Whether every kept run lies within the rows walked so far.
    fn done(&self) -> bool {
        self.at >= self.runs.len()
    }
}

fn is_string(dtype: &ArrowDataType) -> bool {
    matches!(dtype, ArrowDataType::Utf8View | ArrowDataType::Utf8 | ArrowDataType::LargeUtf8)
}

/// The decompressed pages of a column chunk's bytes.
fn page_reader(column: &ColumnChunkMetadata, data: Buffer<u8>) -> BasicDecompressor {
    BasicDecompressor::new(PageReader::new(Cursor::new(data), column, vec![], usize::MAX), vec![])
}

/// Decodes one column chunk to Arrow arrays of `field`'s type.
fn decode(column: &ColumnChunkMetadata, data: Buffer<u8>, field: Field) -> Result<Vec<Box<dyn Array>>, PolarsError> {
    let types = vec![&column.descriptor().descriptor.primitive_type];
    Ok(column_iter_to_arrays(vec![page_reader(column, data)], types, field, None)?.0)
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
#[derive(Debug, Default, PartialEq)]
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
/// unpacked a block at a time). `None` for anything but flat, dictionary-encoded pages without
/// nulls (the caller decodes such a chunk as usual).
fn decode_i64_runs(
    column: &ColumnChunkMetadata,
    data: Buffer<u8>,
    keys: RunKeys,
    with_values: bool,
) -> Option<I64Runs> {
    if column.physical_type() != PhysicalType::Int64 || column.descriptor().descriptor.max_rep_level > 0 {
        return None;
    }
    let mut reader = PageReader::new(Cursor::new(data), column, vec![], usize::MAX);
    // The dictionary's ids, or none when keyed by index.
    let (dict, base, mut pages): (Vec<i64>, i64, BasicDecompressor) = match keys {
        RunKeys::Id => {
            let mut pages = BasicDecompressor::new(reader, vec![]);
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
            (Vec::new(), base, BasicDecompressor::new(reader, vec![]))
        }
    };
    let by_index = matches!(keys, RunKeys::Index(_));
    let key =
        |i: u32| -> Option<i64> { if by_index { Some(base + i64::from(i)) } else { dict.get(i as usize).copied() } };
    let with_values = with_values || !by_index;
    let mut out = I64Runs { increasing: true, ..I64Runs::default() };
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
    let (mut indices, mut ends): (Vec<u32>, Vec<u32>) = (Vec::new(), Vec::new());
    for_each_index_chunk(&mut pages, |chunk| {
        match chunk {
            HybridRleChunk::Rle(i, len) => push(&mut out, &mut last, with_values, key(i)?, len),
            HybridRleChunk::Bitpacked(unpack) => {
                indices.clear();
                unpack.collect_into(&mut indices);
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
                push(&mut out, &mut last, with_values, key(indices[0])?, starts.first().map_or(n, |&e| e as usize));
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
    })?;
    Some(out)
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
/// run of codes and each bit-packed stretch unpacked into a reused buffer and mapped. No
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
) -> Option<ChunkColumn> {
    if column.physical_type() != PhysicalType::ByteArray || column.descriptor().descriptor.max_rep_level > 0 {
        return None;
    }
    let mut pages = page_reader(column, data.clone());
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
    let kept_rows = keep.map_or(rows, |k| k.iter().map(|&(_, n)| n as usize).sum());
    let mut sink = builder.code_sink(name, values.iter().map(|&v| Some(v)), kept_rows)?;
    let before = sink.len();
    let mut indices: Vec<u32> = Vec::new();
    let mut kept = keep.map(Kept::new);
    let mut row = 0;
    let appended = for_each_index_chunk(&mut pages, |chunk| {
        let len = chunk.len();
        let ok = match (chunk, kept.as_mut()) {
            (HybridRleChunk::Rle(i, len), None) => sink.push_run(i, len),
            (HybridRleChunk::Rle(i, len), Some(kept)) => sink.push_run(i, kept.count(row, len)),
            (HybridRleChunk::Bitpacked(unpack), kept) => {
                indices.clear();
                unpack.collect_into(&mut indices);
                match kept {
                    None => sink.extend(&indices),
                    Some(kept) => {
                        let mut ok = true;
                        kept.within(row, indices.len(), |a, b| ok &= sink.extend(&indices[a..b]));
                        ok
                    }
                }
            }
        };
        row += len;
        ok.then_some(())
    })
    .filter(|()| kept.as_ref().is_none_or(Kept::done))
    .map(|()| sink.len() - before);
    if appended.is_none() {
        sink.truncate(before);
    }
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use polars::prelude::{Column, DataFrame, DataType, ParquetReader, ParquetWriter, SerReader};
    use std::path::{Path, PathBuf};

    /// 3,000 rows of 40 users, unsorted: `ev` low-cardinality strings with nulls (dictionary
    /// pages), `name` unique strings (plain pages), `x` floats with nulls, `n` integers, `p`
    /// floats without nulls.
    fn frame_df(categorical: bool) -> DataFrame {
        let n = 3000usize;
        let u: Vec<i64> = (0..n).map(|i| ((i * 7919) % 40) as i64).collect();
        let ts: Vec<i64> = (0..n).map(|i| ((i * 104_729) % 5000) as i64).collect();
        let ev: Vec<Option<&str>> = (0..n)
            .map(|i| if i % 13 == 0 { None } else { Some(["view", "cart", "buy", "x"][(i + i / 40) % 4]) })
            .collect();
        let name: Vec<String> = (0..n).map(|i| format!("name-{i}-{}", i * i)).collect();
        let x: Vec<Option<f64>> = (0..n).map(|i| (i % 11 != 0).then_some(i as f64 * 0.5)).collect();
        let num: Vec<i64> = (0..n).map(|i| (i % 17) as i64 - 8).collect();
        let price: Vec<f64> = (0..n).map(|i| (i * 7 % 3001) as f64 * 1.37 - 900.0).collect();
        let mut ev = Column::new("ev".into(), ev);
        if categorical {
            ev = ev.cast(&DataType::from_categories(polars::prelude::Categories::global())).unwrap();
        }
        DataFrame::new_infer_height(vec![
            Column::new("u".into(), u),
            Column::new("ts".into(), ts),
            ev,
            Column::new("name".into(), name),
            Column::new("x".into(), x),
            Column::new("n".into(), num),
            Column::new("p".into(), price),
        ])
        .unwrap()
    }

    fn write(dir: &Path, name: &str, df: &mut DataFrame, rg: Option<usize>) -> PathBuf {
        let path = dir.join(name);
        ParquetWriter::new(std::fs::File::create(&path).unwrap()).with_row_group_size(rg).finish(df).unwrap();
        path
    }

    fn has_dictionary_page(path: &Path, column: &str) -> bool {
        let meta = read_metadata(&mut std::fs::File::open(path).unwrap()).unwrap();
        meta.row_groups
            .iter()
            .all(|rg| rg.columns_under_root_iter(column).unwrap().all(|c| c.dictionary_page_offset().is_some()))
    }

    const QUERIES: [&str; 7] = [
        // The group and timestamp columns asked for as columns too (their values, not only runs).
        r#"{"query": {"conditions": [{"filter": ["ev", "==", "cart"]}],
            "aggregations": [{"column": "u", "type": "countPerValue"}, {"column": "ts", "type": "sumPerValue", "otherColumn": "u"}]}}"#,
        r#"{"query": {"conditions": [{"filter": ["ev", "==", "cart"], "target": ["count", ">=", 2]}],
            "aggregations": [{"column": "ev", "type": "countPerValue"}, {"column": "ev", "type": "sumPerValue", "otherColumn": "x"}]}}"#,
        r#"{"query": {"conditions": [{"filter": ["name", "contains", "7"]}],
            "aggregations": [{"column": "name", "type": "countPerValue"}, {"column": "n", "type": "sumPerValue", "otherColumn": "x"}]}}"#,
        r#"{"query": {"conditions": [{"filter": ["ev", "!=", "view"], "target": ["sum", "n", ">", 10]}]},
            "funnel": {"sequence": [{"filter": ["ev", "==", "view"]}, {"filter": ["ev", "==", "cart"]}, {"filter": ["ev", "==", "buy"]}]}}"#,
        r#"{"query": {"conditions": [{"filter": ["x", ">", 700.0]}, {"filter": ["ev", "==", "x"]}],
            "aggregations": [{"column": "ev", "type": "groupsPerValue"}, {"column": "x", "type": "meanPerValue", "otherColumn": "n"}]}}"#,
        r#"{"query": {"conditions": [{"filter": ["p", ">", 2000.5], "target": ["sum", "p", ">", 4000]}],
            "aggregations": [{"column": "ev", "type": "sumPerValue", "otherColumn": "p"}]}}"#,
        r#"{"timeframe": {"from": 1000, "to": 4000}, "query": {"conditions": [{"sequence": [{"filter": ["ev", "==", "view"]}, {"filter": ["ev", "==", "buy"]}], "maxDuration": 900}]}}"#,
    ];

    /// Every query's answer on the frame this reader builds equals its answer on the frame the
    /// engine prepares from `ParquetReader`'s whole DataFrame (a second, independent decoding).
    fn assert_reads_like_the_dataframe_path(path: &Path, timestamps: bool) {
        let df = ParquetReader::new(std::fs::File::open(path).unwrap()).finish().unwrap();
        for q in QUERIES {
            let q = protocol::validate_query_value(&serde_json::from_str(q).unwrap(), None).unwrap();
            if !timestamps && q.query.needs_timestamps() {
                continue;
            }
            let columns = q.query.referenced_columns();
            let ts = timestamps.then_some("ts");
            let got = read_frame_for_query(PartFile::Path(path.to_path_buf()), "u", ts, &columns, None).unwrap();
            assert_eq!(got.has_timestamps(), timestamps);
            let want = if timestamps {
                Frame::prepare(&df, "u", "ts", &columns).unwrap()
            } else {
                Frame::prepare_without_timestamps(&df, "u", &columns).unwrap()
            };
            let opts = engine::EngineOptions::default();
            let (got, want) =
                (engine::execute(&got, &q.query, &opts).unwrap(), engine::execute(&want, &q.query, &opts).unwrap());
            assert!(want.matching_groups > 0, "{q:?} matches someone");
            assert_eq!(got, want, "{} {q:?}", path.display());
            if timestamps {
                assert_timeframe_pushdown_answers_alike(path, &df, &q.query);
            }
        }
    }

    /// A timeframe as a query's JSON gives it (validated).
    pub(crate) fn timeframe(json: &str) -> protocol::Timeframe {
        let q = format!(r#"{{"timeframe": {json}, "query": {{"conditions": [{{"filter": ["ev", "==", "x"]}}]}}}}"#);
        let q = protocol::validate_query_value(&serde_json::from_str(&q).unwrap(), None).unwrap();
        q.query.timeframe.unwrap()
    }

    /// The query under several timeframes (none inside, all inside, float bounds, one side
    /// only), read with the timeframe pushed down: the same answer as the DataFrame path's
    /// frame with every row, and only the admitted rows in the frame.
    fn assert_timeframe_pushdown_answers_alike(path: &Path, df: &DataFrame, query: &protocol::Query) {
        let columns = query.referenced_columns();
        let want_frame = Frame::prepare(df, "u", "ts", &columns).unwrap();
        let ts: Vec<i64> = df.column("ts").unwrap().i64().unwrap().into_no_null_iter().collect();
        let opts = engine::EngineOptions::default();
        for tf in [
            r#"{"from": 1000, "to": 4000}"#,
            r#"{"from": 999.5, "to": 1250.25}"#,
            r#"{"from": 4990}"#,
            r#"{"to": 3}"#,
            r#"{"from": 6000}"#,
            r#"{"from": -10, "to": 100000}"#,
        ] {
            let mut q = query.clone();
            q.timeframe = Some(timeframe(tf));
            let bounds = TimeBounds::of(q.timeframe.as_ref().unwrap()).unwrap();
            let got = read_frame_for_query(PartFile::Path(path.to_path_buf()), "u", Some("ts"), &columns, Some(bounds))
                .unwrap();
            // The admitted rows, and every row of the row groups whose timestamps are not read
            // the fast way (dictionary-encoded, or asked for as a column too).
            let admitted = ts.iter().filter(|&&t| bounds.contains(t)).count();
            assert!(admitted <= got.n_rows() && got.n_rows() <= ts.len(), "{tf}: {} rows", got.n_rows());
            let (got, want) =
                (engine::execute(&got, &q, &opts).unwrap(), engine::execute(&want_frame, &q, &opts).unwrap());
            assert_eq!(got, want, "{} {tf} {q:?}", path.display());
        }
    }

    #[test]
    fn dictionary_plain_categorical_and_multi_row_group_columns_read_as_the_dataframe_path_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut sorted = frame_df(false).sort(["u", "ts"], Default::default()).unwrap();
        let sorted = write(dir.path(), "sorted.parquet", &mut sorted, Some(1000));
        assert!(has_dictionary_page(&sorted, "u"));
        assert_reads_like_the_dataframe_path(&sorted, true);
        assert_reads_like_the_dataframe_path(&sorted, false);
        for (name, categorical, rg) in [
            ("plain.parquet", false, None),
            ("cat.parquet", true, None),
            ("rg.parquet", false, Some(700)),
            ("both.parquet", true, Some(1000)),
        ] {
            let path = write(dir.path(), name, &mut frame_df(categorical), rg);
            // Both string paths are covered: `ev` has dictionary pages, `name` does not.
            assert!(has_dictionary_page(&path, "ev"), "{name}");
            assert!(!has_dictionary_page(&path, "name"), "{name}");
            assert_reads_like_the_dataframe_path(&path, true);
            assert_reads_like_the_dataframe_path(&path, false);
        }
    }

    #[test]
    fn a_dictionary_encoded_int64_chunk_reads_as_the_runs_of_its_values() {
        let dir = tempfile::tempdir().unwrap();
        let mut df = frame_df(false).sort(["u", "ts"], Default::default()).unwrap();
        // Unsorted too: runs are runs of equal adjacent values, whatever the order.
        for (name, df) in [("sorted.parquet", &mut df), ("unsorted.parquet", &mut frame_df(false))] {
            let path = write(dir.path(), name, df, Some(1000));
            let u: Vec<i64> = df.column("u").unwrap().i64().unwrap().into_no_null_iter().collect();
            let meta = read_metadata(&mut std::fs::File::open(&path).unwrap()).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            let mut offset = 0;
            for rg in &meta.row_groups {
                let column = rg.columns_under_root_iter("u").unwrap().next().unwrap();
                let r = column.byte_range();
                let data = Buffer::from(bytes[r.start as usize..r.end as usize].to_vec());
                let I64Runs { values, lengths, increasing } =
                    decode_i64_runs(column, data.clone(), RunKeys::Id, false).expect("dictionary-encoded INT64");
                assert_eq!(increasing, values.windows(2).all(|w| w[0] < w[1]), "{name}");
                assert_eq!(increasing, name == "sorted.parquet", "{name}");
                let expanded: Vec<i64> =
                    values.iter().zip(&lengths).flat_map(|(&v, &n)| std::iter::repeat_n(v, n as usize)).collect();
                assert_eq!(expanded, u[offset..offset + rg.num_rows()], "{name}");
                assert!(values.windows(2).all(|w| w[0] != w[1]), "adjacent runs are merged");
                // Keyed by index, the dictionary unread: the same runs, and equal keys exactly
                // where the ids are equal (so the same groups), every key at or above the base.
                let base = 7 << 32;
                let bare = decode_i64_runs(column, data.clone(), RunKeys::Index(base), false).expect("keyed by index");
                let I64Runs { values: keys, lengths: by_index, increasing: keys_increase } =
                    decode_i64_runs(column, data, RunKeys::Index(base), true).expect("keyed by index");
                assert_eq!(by_index, lengths, "{name}");
                assert_eq!((&bare.lengths, bare.increasing), (&lengths, keys_increase), "{name}");
                assert!(bare.values.is_empty(), "no keys unless asked for");
                // Indices in first-appearance order: they increase exactly when the ids do.
                assert_eq!(keys_increase, increasing, "{name}");
                assert_eq!(keys_increase, keys.windows(2).all(|w| w[0] < w[1]), "{name}");
                assert!(keys.iter().all(|&k| k >= base));
                for i in 0..keys.len() {
                    for j in 0..keys.len() {
                        assert_eq!(keys[i] == keys[j], values[i] == values[j], "{name} runs {i} {j}");
                    }
                }
                offset += rg.num_rows();
            }
            assert_eq!(offset, u.len());
        }
    }

    /// Writes `df` with a row group ending at each of `ends` (row counts, increasing).
    fn write_row_groups(dir: &Path, name: &str, df: &DataFrame, ends: &[usize]) -> PathBuf {
        let path = dir.join(name);
        let mut w = ParquetWriter::new(std::fs::File::create(&path).unwrap()).batched(df.schema()).unwrap();
        let mut start = 0;
        for &end in ends {
            w.write_batch(&df.slice(start as i64, end - start)).unwrap();
            start = end;
        }
        w.finish().unwrap();
        path
    }

    #[test]
    fn row_groups_ordered_by_their_statistics_skip_the_group_dictionary_and_read_the_same_groups() {
        let dir = tempfile::tempdir().unwrap();
        let df = frame_df(false).sort(["u", "ts"], Default::default()).unwrap();
        let u: Vec<i64> = df.column("u").unwrap().i64().unwrap().into_no_null_iter().collect();
        // Row groups ending on a group boundary (each at the first new id after 700 rows), and
        // the same part cut every 700 rows (ids span row groups), and unsorted.
        let mut aligned = Vec::new();
        let mut last = 0;
        for r in 1..u.len() {
            if u[r] != u[r - 1] && r - last >= 700 {
                aligned.push(r);
                last = r;
            }
        }
        aligned.push(u.len());
        assert!(aligned.len() >= 3);
        let straddling: Vec<usize> = (1..=u.len().div_ceil(700)).map(|k| (k * 700).min(u.len())).collect();
        assert!(straddling.iter().any(|&e| e < u.len() && u[e] == u[e - 1]), "an id spans row groups");
        let cases = [
            ("aligned.parquet", write_row_groups(dir.path(), "aligned.parquet", &df, &aligned), true),
            ("straddling.parquet", write_row_groups(dir.path(), "straddling.parquet", &df, &straddling), false),
            ("unsorted.parquet", write(dir.path(), "unsorted.parquet", &mut frame_df(false), Some(700)), false),
        ];
        for (name, path, ordered) in cases {
            let meta = read_metadata(&mut std::fs::File::open(&path).unwrap()).unwrap();
            assert!(meta.row_groups.len() >= 3, "{name}");
            assert_eq!(row_groups_ordered_by(&meta, "u").is_some(), ordered, "{name}");
            // Not a dictionary-encoded INT64 column with statistics: never ordered.
            assert!(row_groups_ordered_by(&meta, "ev").is_none(), "{name}");
            assert_reads_like_the_dataframe_path(&path, true);
            assert_reads_like_the_dataframe_path(&path, false);
            // The groups themselves: as many as distinct ids, each one's rows together.
            let f =
                read_frame_for_query(PartFile::Path(path.clone()), "u", Some("ts"), &["ev".to_string()], None).unwrap();
            assert_eq!(f.n_groups(), 40, "{name}");
        }
    }

    /// Timeframe pushdown on a part as `frocket dataprep` writes it (sorted by user and time,
    /// PLAIN timestamps): only the admitted rows are kept and the answers are the full frame's;
    /// on a part in time order, a row group the statistics rule out is not even read (its
    /// corrupt column chunk goes unnoticed, and fails the read without the timeframe).
    #[test]
    fn a_timeframe_keeps_only_its_rows_and_skips_row_groups_its_statistics_rule_out() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dataprep::synth::SynthConfig::new(30_000, 1);
        let summary = dataprep::synth::generate_dataset(&cfg, &dir.path().join("ds"), false).unwrap();
        let part = &summary.files[0];
        let df = ParquetReader::new(std::fs::File::open(part).unwrap()).finish().unwrap();
        let ts: Vec<i64> = df.column("timestamp").unwrap().i64().unwrap().into_no_null_iter().collect();
        let (min, max) = (*ts.iter().min().unwrap(), *ts.iter().max().unwrap());
        let from = min + (max - min) / 3;
        let to = from + (max - min) / 10;
        let queries = [
            format!(
                r#"{{"timeframe": {{"from": {from}, "to": {to}}}, "query": {{"conditions": [{{"filter": ["event", "==", "view"], "target": ["count", ">=", 2]}}], "aggregations": [{{"column": "event", "type": "countPerValue"}}, {{"column": "categoryid", "type": "sumPerValue", "otherColumn": "price"}}]}}}}"#
            ),
            format!(
                r#"{{"timeframe": {{"from": {from}.5}}, "funnel": {{"sequence": [{{"filter": ["event", "==", "view"]}}, {{"filter": ["event", "==", "addtocart"]}}], "maxDuration": 86400}}}}"#
            ),
        ];
        for q in &queries {
            let q = protocol::validate_query_value(&serde_json::from_str(q).unwrap(), None).unwrap();
            let columns = q.query.referenced_columns();
            let bounds = TimeBounds::of(q.query.timeframe.as_ref().unwrap()).unwrap();
            let got = read_frame_for_query(
                PartFile::Path(part.clone()),
                "visitorid",
                Some("timestamp"),
                &columns,
                Some(bounds),
            )
            .unwrap();
            let admitted = ts.iter().filter(|&&t| bounds.contains(t)).count();
            assert!(admitted > 0 && admitted < ts.len() / 2, "{admitted} of {}", ts.len());
            assert_eq!(got.n_rows(), admitted, "only the admitted rows are kept");
            let want = Frame::prepare(&df, "visitorid", "timestamp", &columns).unwrap();
            let opts = engine::EngineOptions::default();
            let (got, want) =
                (engine::execute(&got, &q.query, &opts).unwrap(), engine::execute(&want, &q.query, &opts).unwrap());
            assert!(want.matching_groups > 0, "{q:?}");
            assert_eq!(got, want, "{q:?}");
        }

        // In time order, 5 row groups; the first one's `ev` chunk overwritten.
        let mut by_time = frame_df(false).sort(["ts"], Default::default()).unwrap();
        let path = write(dir.path(), "by_time.parquet", &mut by_time, Some(600));
        let meta = read_metadata(&mut std::fs::File::open(&path).unwrap()).unwrap();
        assert_eq!(meta.row_groups.len(), 5);
        let ts_of = |rg: usize| {
            int_statistics(meta.row_groups[rg].columns_under_root_iter("ts").unwrap().next().unwrap(), &meta).unwrap()
        };
        let (first_max, second_min) = (ts_of(0).1, ts_of(1).0);
        assert!(first_max < second_min, "row groups in time order");
        let q = format!(
            r#"{{"timeframe": {{"from": {second_min}}}, "query": {{"conditions": [{{"filter": ["ev", "==", "cart"]}}]}}}}"#
        );
        let q = protocol::validate_query_value(&serde_json::from_str(&q).unwrap(), None).unwrap();
        let columns = q.query.referenced_columns();
        let bounds = TimeBounds::of(q.query.timeframe.as_ref().unwrap()).unwrap();
        let whole = Frame::prepare(&by_time, "u", "ts", &columns).unwrap();
        let opts = engine::EngineOptions::default();
        let want = engine::execute(&whole, &q.query, &opts).unwrap();
        assert!(want.matching_groups > 0);
        let mut bytes = std::fs::read(&path).unwrap();
        let ev = meta.row_groups[0].columns_under_root_iter("ev").unwrap().next().unwrap().byte_range();
        bytes[ev.start as usize..ev.end as usize].fill(0xFF);
        std::fs::write(&path, &bytes).unwrap();
        let read = |within| read_frame_for_query(PartFile::Path(path.clone()), "u", Some("ts"), &columns, within);
        assert!(
            matches!(read(None), Err(WorkerError::CorruptPart { .. })),
            "the corrupt chunk is read without a timeframe"
        );
        let got = read(Some(bounds)).unwrap();
        assert_eq!(engine::execute(&got, &q.query, &opts).unwrap(), want);
        // A timeframe no row group overlaps: an empty frame that still answers (nothing).
        let none = TimeBounds::of(&timeframe(r#"{"from": 100000}"#)).unwrap();
        let got = read(Some(none)).unwrap();
        // (Only the last row group read, for the frame's columns; its timestamps are dictionary
        // encoded here, so its rows are all kept.)
        assert!(got.n_rows() <= meta.row_groups[4].num_rows(), "{}", got.n_rows());
        let mut q0 = q.query.clone();
        q0.timeframe = Some(timeframe(r#"{"from": 100000}"#));
        let r = engine::execute(&got, &q0, &opts).unwrap();
        assert_eq!((r.matching_groups, r.scanned_rows), (0, 0));
        assert_eq!(r, engine::execute(&whole, &q0, &opts).unwrap());

        // A null timestamp in a row group the timeframe rules out: still read, and the part
        // refused as without the timeframe.
        let n = 300usize;
        let mut nulls = DataFrame::new_infer_height(vec![
            Column::new("u".into(), (0..n).map(|i| (i % 7) as i64).collect::<Vec<i64>>()),
            Column::new("ts".into(), (0..n).map(|i| (i > 0).then_some(i as i64 * 10)).collect::<Vec<_>>()),
            Column::new("ev".into(), (0..n).map(|i| ["view", "cart"][i % 2]).collect::<Vec<_>>()),
        ])
        .unwrap();
        let path = write(dir.path(), "null_ts.parquet", &mut nulls, Some(100));
        let late = TimeBounds::of(&timeframe(r#"{"from": 2500}"#)).unwrap();
        let read = |within| read_frame_for_query(PartFile::Path(path.clone()), "u", Some("ts"), &columns, within);
        assert!(matches!(read(None), Err(WorkerError::Engine { .. })), "{:?}", read(None).map(|f| f.n_rows()));
        assert!(
            matches!(read(Some(late)), Err(WorkerError::Engine { .. })),
            "{:?}",
            read(Some(late)).map(|f| f.n_rows())
        );
    }

    #[test]
    fn plain_8_byte_columns_are_appended_in_place_and_anything_else_is_declined() {
        let dir = tempfile::tempdir().unwrap();
        // Distinct timestamps and prices (a writer keeps them PLAIN), floats with nulls.
        let n = 3000usize;
        let mut df = DataFrame::new_infer_height(vec![
            Column::new("u".into(), (0..n).map(|i| (i / 75) as i64).collect::<Vec<i64>>()),
            Column::new("ts".into(), (0..n).map(|i| (i as i64) * 1_000_003 - 7).collect::<Vec<i64>>()),
            Column::new("p".into(), (0..n).map(|i| i as f64 * 1.37 - 900.25).collect::<Vec<f64>>()),
            Column::new("x".into(), (0..n).map(|i| (i % 11 != 0).then_some(i as f64 * 0.5)).collect::<Vec<_>>()),
        ])
        .unwrap();
        let path = write(dir.path(), "plain.parquet", &mut df, Some(1000));
        let meta = read_metadata(&mut std::fs::File::open(&path).unwrap()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let chunk = |rg: usize, name: &str| {
            let c = meta.row_groups[rg].columns_under_root_iter(name).unwrap().next().unwrap();
            let r = c.byte_range();
            (c, Buffer::from(bytes[r.start as usize..r.end as usize].to_vec()))
        };
        let ts: Vec<i64> = df.column("ts").unwrap().i64().unwrap().into_no_null_iter().collect();
        let p: Vec<f64> = df.column("p").unwrap().f64().unwrap().into_no_null_iter().collect();
        let (mut got_ts, mut got_p): (Vec<i64>, Vec<f64>) = (Vec::new(), Vec::new());
        for rg in 0..meta.row_groups.len() {
            let (c, data) = chunk(rg, "ts");
            assert!(c.dictionary_page_offset().is_none(), "ts is PLAIN here");
            let rows = meta.row_groups[rg].num_rows();
            // With kept rows: those gathered from the pages; a kept run past the rows: refused.
            let keep = [(3u32, 5u32), (100, 1), (rows as u32 - 10, 10)];
            let mut kept: Vec<i64> = Vec::new();
            assert_eq!(decode_plain_8(c, data.clone(), &mut kept, Some(&keep)), Some(rows));
            let offset = got_ts.len();
            let want: Vec<i64> =
                keep.iter().flat_map(|&(s, n)| ts[offset + s as usize..][..n as usize].to_vec()).collect();
            assert_eq!(kept, want);
            assert_eq!(decode_plain_8::<i64>(c, data.clone(), &mut Vec::new(), Some(&[(rows as u32 - 1, 2)])), None);
            assert_eq!(decode_plain_8(c, data, &mut got_ts, None), Some(rows));
            let (c, data) = chunk(rg, "p");
            assert!(c.dictionary_page_offset().is_none(), "p is PLAIN here");
            assert_eq!(decode_plain_8(c, data, &mut got_p, None), Some(meta.row_groups[rg].num_rows()));
            // Declined: nulls (x), and a dictionary-encoded chunk (u).
            let (c, data) = chunk(rg, "x");
            assert_eq!(decode_plain_8::<f64>(c, data, &mut Vec::new(), None), None);
            let (c, data) = chunk(rg, "u");
            assert!(c.dictionary_page_offset().is_some());
            assert_eq!(decode_plain_8::<i64>(c, data, &mut Vec::new(), None), None);
        }
        assert_eq!(got_ts, ts);
        assert_eq!(
            got_p.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            p.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        // Through the builder: nothing appended when declined (a physical type other than the
        // Arrow type's, nulls), the values appended and the chunk column saying so otherwise.
        let mut b = FrameBuilder::new("u", Some("ts"), &["x".to_string(), "p".to_string()], ts.len());
        let (c, data) = chunk(0, "x");
        assert!(append_plain_8(&mut b, "x", &ArrowDataType::Float64, c, &data, None).is_none());
        assert!(b.float_sink("x").unwrap().is_empty(), "a declined chunk leaves nothing behind");
        let (c, data) = chunk(0, "ts");
        assert!(append_plain_8(&mut b, "ts", &ArrowDataType::Float64, c, &data, None).is_none());
        let n = meta.row_groups[0].num_rows();
        assert!(
            matches!(append_plain_8(&mut b, "ts", &ArrowDataType::Int64, c, &data, None), Some(ChunkColumn::Appended(k)) if k == n)
        );
        assert_eq!(b.int_sink("ts").unwrap()[..], ts[..n]);
        // A whole part read this way answers as the frame prepared from polars' DataFrame.
        let q = r#"{"timeframe": {"from": 200000000, "to": 2500000000},
            "query": {"conditions": [{"filter": ["p", ">", 100.0], "target": ["sum", "x", ">", 300]}],
                      "aggregations": [{"column": "u", "type": "sumPerValue", "otherColumn": "p"}]}}"#;
        let q = protocol::validate_query_value(&serde_json::from_str(q).unwrap(), None).unwrap();
        let columns = q.query.referenced_columns();
        let got = read_frame_for_query(PartFile::Path(path.clone()), "u", Some("ts"), &columns, None).unwrap();
        let whole = ParquetReader::new(std::fs::File::open(&path).unwrap()).finish().unwrap();
        let want = Frame::prepare(&whole, "u", "ts", &columns).unwrap();
        let opts = engine::EngineOptions::default();
        let (got, want) =
            (engine::execute(&got, &q.query, &opts).unwrap(), engine::execute(&want, &q.query, &opts).unwrap());
        assert!(want.matching_groups > 3 && want.matching_groups < 40, "{want:?}");
        assert_eq!(got, want);
    }

    #[test]
    fn missing_columns_and_corrupt_files_are_errors_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "ok.parquet", &mut frame_df(false), Some(1000));
        let read = |p: &Path, cols: &[&str]| {
            let cols: Vec<String> = cols.iter().map(|s| s.to_string()).collect();
            read_frame_for_query(PartFile::Path(p.to_path_buf()), "u", Some("ts"), &cols, None)
        };
        match read(&path, &["ev", "nope"]) {
            Err(WorkerError::Engine { source: engine::EngineError::MissingColumn(c), .. }) => assert_eq!(c, "nope"),
            other => panic!("{:?}", other.map(|_| ())),
        }
        let bytes = std::fs::read(&path).unwrap();
        let mut damaged = Vec::new();
        // Garbage, a file cut short (no footer), and data pages overwritten mid-file.
        damaged.push(("garbage.parquet", b"garbage".to_vec()));
        damaged.push(("cut.parquet", bytes[..bytes.len() / 2].to_vec()));
        let mut mid = bytes.clone();
        for b in &mut mid[8..bytes.len() / 2] {
            *b = 0xA5;
        }
        damaged.push(("mid.parquet", mid));
        for (name, data) in damaged {
            let p = dir.path().join(name);
            std::fs::write(&p, data).unwrap();
            match read(&p, &["ev", "name", "x", "n"]) {
                Err(WorkerError::CorruptPart { path, message }) => {
                    assert!(path.ends_with(name), "{path}");
                    assert!(!message.is_empty());
                }
                other => panic!("{name}: {:?}", other.map(|_| ())),
            }
        }
        match read(&dir.path().join("absent.parquet"), &["ev"]) {
            Err(WorkerError::Storage { context, .. }) => assert!(context.contains("absent.parquet"), "{context}"),
            other => panic!("{:?}", other.map(|_| ())),
        }
    }
}
