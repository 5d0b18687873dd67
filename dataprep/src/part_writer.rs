//! How `frocket dataprep` writes a part's Parquet: polars' writer (its schema, encodings,
//! statistics and footer), except for the **timestamp column, written DELTA_BINARY_PACKED and
//! not compressed**, and the **group column, compressed with LZ4 (LZ4_RAW) instead of zstd**.
//!
//! Why: a part is sorted by (group, timestamp), so consecutive timestamps are mostly a user's
//! next event: small deltas, bit-packed in Parquet's delta encoding at a few bytes per row
//! without any general-purpose compression. Stored PLAIN (polars' choice for a column of
//! mostly distinct integers), every reader must first zstd-decompress 8 bytes per row: on the
//! synth data that was ~60% of the CPU of a timeframe query (q9) in frocket and in polars alike
//! (docs/benchmarks.md, "Round 2, eleventh session"). Measured on the 10M-row heavy-tailed
//! parts (same rows, row groups and other columns): the timestamp column is ~1.5× the bytes of
//! zstd'd PLAIN (the 10M-row datasets +13% heavy-tailed, +4% bounce-heavy); zstd on top of the
//! deltas saves only ~7% of them and costs readers its decompression again. Every reader of Parquet 2 encodings reads it (pyarrow,
//! polars, DuckDB, ClickHouse, Spark); frocket's worker decodes it without an intermediate
//! array (`worker/src/parquet/delta.rs`).
//!
//! The group column (user ids, dictionary-encoded: a part's sorted ids as runs of dictionary
//! indices) is read by every query of every engine, so its decompression is a tax on each of
//! them: zstd'd, it was ~10% of frocket's CPU on a timeframe query. LZ4 decompresses several
//! times faster at a lower ratio. Measured on the 10M-row synth datasets (2026-12-07, AMD EPYC,
//! frocket Parquet-resident medians of 11 warm runs, two rounds; docs/benchmarks.md, "Round 2,
//! twelfth session"): heavy-tailed q9 58–64 → 55–58 ms (uncompressed 50–59 ms), bounce q1
//! 85–88 → 75–76 ms (uncompressed 71–82 ms); datasets 87 → 92 MB and 108 → 126 MB
//! (uncompressed: 97 and 147 MB, the bounce parts' dictionaries of ~700k ids each). The peers
//! read the same files (DuckDB bounce q1 324 → 241 ms, polars heavy-tailed q9 unchanged).
//! LZ4_RAW is the Parquet codec every current reader takes (pyarrow, polars, DuckDB,
//! ClickHouse, Spark 3.4+); the older framed `LZ4` codec is deprecated by the format.
//!
//! A **floating-point column is dictionary-encoded and not compressed** when its values repeat
//! (at most a quarter of a row group's rows distinct, a dictionary of at most 1 MiB — pyarrow's
//! default dictionary page limit; else polars' PLAIN zstd pages). polars' writer dictionary-encodes
//! integers and strings but never floats (its cast of a float array to a dictionary fails and it
//! falls back to PLAIN), so a price column went PLAIN and zstd'd: 8 bytes per row to decompress
//! for every query that reads it — on the heavy-tailed synth parts ~45% of frocket's CPU on q4
//! (sum of prices; perf, 2026-12-07, Intel Xeon). Prices repeat (a part's 1.25M rows hold ~70k
//! distinct ones), so a dictionary page plus bit-packed keys is as small as the zstd'd PLAIN
//! pages (3.4 against 2.9 MB a part uncompressed; 2.4 MB zstd'd) and reading it costs a bit
//! unpack and a gather instead of a decompression. Measured on the heavy-tailed 10M-row parts
//! rewritten that way (Parquet-resident, 8-query processes, three rounds, Intel Xeon;
//! docs/benchmarks.md, "Round 2, thirteenth session"): frocket q4 142–158 → 82–96 ms; DuckDB
//! q4 193–230 → 130–159 ms and polars 228–284 → 178–274 ms on the same files.
//!
//! Everything else is as polars' [`ParquetWriter`] writes it: zstd pages, dictionary encoding
//! where polars chooses it, min/max statistics, the Arrow schema in the footer, one row group
//! per chunk of the frames written.

use polars::prelude::*;
use polars_arrow::array::{Array, DictionaryArray, PrimitiveArray};
use polars_arrow::datatypes::{ArrowDataType, IntegerType};
use polars_parquet::write::{
    CompressionOptions, Encoding, StatisticsOptions, Version, WriteOptions, ZstdLevel, array_to_columns, compress,
    get_dtype_encoding,
};
use std::io::Write;

/// At most this share of a row group's rows may be distinct for a float column to be
/// dictionary-encoded (module docs).
const MAX_DICTIONARY_SHARE: f64 = 0.25;
/// The largest dictionary page of a float column (pyarrow's default dictionary page limit).
const MAX_DICTIONARY_BYTES: usize = 1 << 20;

/// A `Float64` column's values as a dictionary — its distinct values (by bit pattern, so -0.0
/// and every NaN are kept as written) in first-seen order, one key per row, a null row's key
/// 0 — or `None` when the column is not `Float64` or the dictionary would not pay (module docs).
fn float_dictionary(array: &dyn Array) -> Option<DictionaryArray<u32>> {
    let floats = array.as_any().downcast_ref::<PrimitiveArray<f64>>()?;
    let most = ((floats.len() as f64 * MAX_DICTIONARY_SHARE) as usize).min(MAX_DICTIONARY_BYTES / 8);
    let mut index = hashbrown::HashMap::<u64, u32>::with_capacity(most.min(1 << 16));
    let mut values = Vec::new();
    let mut keys = Vec::with_capacity(floats.len());
    for (i, &v) in floats.values().iter().enumerate() {
        if !floats.is_valid(i) {
            keys.push(0);
            continue;
        }
        let next = values.len() as u32;
        let key = *index.entry(v.to_bits()).or_insert(next);
        if key == next {
            if values.len() == most {
                return None;
            }
            values.push(v);
        }
        keys.push(key);
    }
    if values.is_empty() {
        return None; // every row null: nothing to gain
    }
    let keys = PrimitiveArray::new(ArrowDataType::UInt32, keys.into(), floats.validity().cloned());
    let dtype = ArrowDataType::Dictionary(IntegerType::UInt32, Box::new(ArrowDataType::Float64), false);
    DictionaryArray::try_new(dtype, keys, PrimitiveArray::<f64>::from_vec(values).boxed()).ok()
}

/// A part's Parquet writer: [`write_batch`](Self::write_batch) frames (each of their chunks a
/// row group), then [`finish`](Self::finish).
pub struct PartWriter<W: Write> {
    inner: BatchedWriter<W>,
    /// The index of the timestamp column (when it is INT64: written DELTA_BINARY_PACKED).
    timestamp: Option<usize>,
    /// The index of the group column (written with LZ4_RAW).
    group: Option<usize>,
    options: WriteOptions,
}

impl<W: Write> PartWriter<W> {
    /// A writer of frames of `schema`, whose column `group_column` (if any) is compressed with
    /// LZ4_RAW and whose column `timestamp_column` (if any, and if it is an `Int64` column) is
    /// written delta-encoded and uncompressed.
    pub fn new(
        writer: W,
        schema: &Schema,
        group_column: Option<&str>,
        timestamp_column: Option<&str>,
    ) -> PolarsResult<Self> {
        let group = group_column.and_then(|name| schema.index_of(name));
        let timestamp = timestamp_column
            .and_then(|name| schema.index_of(name))
            .filter(|&i| schema.get_at_index(i).is_some_and(|(_, dtype)| *dtype == DataType::Int64));
        let inner = ParquetWriter::new(writer).with_compression(ParquetCompression::Zstd(None)).batched(schema)?;
        let options = WriteOptions {
            statistics: StatisticsOptions::default(),
            version: Version::V1,
            compression: CompressionOptions::Zstd(None::<ZstdLevel>),
            data_page_size: None,
        };
        Ok(PartWriter { inner, timestamp, group, options })
    }

    /// Writes each chunk of `df` (of the writer's schema) as a row group.
    pub fn write_batch(&mut self, df: &DataFrame) -> PolarsResult<()> {
        let fields = self.inner.parquet_schema().fields().to_vec();
        for batch in df.iter_chunks(CompatLevel::newest(), false) {
            if batch.is_empty() {
                continue;
            }
            let mut row_group = Vec::with_capacity(fields.len());
            for (i, (array, type_)) in batch.columns().iter().zip(&fields).enumerate() {
                let delta = Some(i) == self.timestamp;
                let group = Some(i) == self.group;
                let dictionary =
                    if delta || group { None } else { float_dictionary(array.as_ref()).map(|d| d.boxed()) };
                let (encodings, compression) = if delta {
                    (vec![Encoding::DeltaBinaryPacked], CompressionOptions::Uncompressed)
                } else if group {
                    (get_dtype_encoding(array.dtype()), CompressionOptions::Lz4Raw)
                } else if dictionary.is_some() {
                    (vec![Encoding::RleDictionary], CompressionOptions::Uncompressed)
                } else {
                    (get_dtype_encoding(array.dtype()), self.options.compression)
                };
                let column = dictionary.as_ref().unwrap_or(array);
                for pages in array_to_columns(column, type_.clone(), self.options, &encodings)? {
                    let pages = pages
                        .map(|page| compress(page?, vec![], compression).map_err(PolarsError::from))
                        .collect::<PolarsResult<Vec<_>>>()?;
                    row_group.push(pages);
                }
            }
            self.inner.write_row_group(batch.len() as u64, &row_group)?;
        }
        Ok(())
    }

    /// Writes the footer; the file's size.
    pub fn finish(&self) -> PolarsResult<u64> {
        self.inner.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars_parquet::parquet::compression::Compression;
    use polars_parquet::read::read_metadata;

    fn frame(n: usize, ts_float: bool) -> DataFrame {
        let ts: Vec<i64> = (0..n).map(|i| 1_435_000_000 + ((i * 7919) % 100_000) as i64).collect();
        let ts = if ts_float {
            Column::new("ts".into(), ts.iter().map(|&t| t as f64).collect::<Vec<f64>>())
        } else {
            Column::new("ts".into(), ts)
        };
        DataFrame::new_infer_height(vec![
            Column::new("u".into(), (0..n).map(|i| (i / 7) as i64).collect::<Vec<i64>>()),
            ts,
            Column::new("ev".into(), (0..n).map(|i| ["view", "cart", "buy"][i % 3]).collect::<Vec<_>>()),
            Column::new("p".into(), (0..n).map(|i| (i % 5 != 0).then_some(i as f64 * 0.25)).collect::<Vec<_>>()),
            // Repeating prices (37 values, -0.0 among them), some null: dictionary-encoded.
            Column::new(
                "price".into(),
                (0..n).map(|i| (i % 11 != 3).then_some(((i * 13) % 37) as f64 * -1.5)).collect::<Vec<_>>(),
            ),
        ])
        .unwrap()
    }

    #[test]
    fn float_dictionaries_keep_every_bit_pattern_and_give_up_when_they_would_not_pay() {
        let values = [0.0, -0.0, f64::NAN, 1.5, 0.0, -0.0, 1.5, f64::NAN];
        let a = PrimitiveArray::<f64>::from_slice(values.repeat(10));
        let d = float_dictionary(&a).unwrap();
        let dict = d.values().as_any().downcast_ref::<PrimitiveArray<f64>>().unwrap();
        let bits: Vec<u64> = dict.values().iter().map(|v| v.to_bits()).collect();
        assert_eq!(bits, [0.0f64, -0.0, f64::NAN, 1.5].map(f64::to_bits));
        let keys: Vec<u32> = d.keys().values().iter().copied().take(8).collect();
        assert_eq!(keys, [0, 1, 2, 3, 0, 1, 3, 2]);
        // Over a quarter of the rows distinct: no dictionary; integers are polars' business.
        assert!(float_dictionary(&PrimitiveArray::<f64>::from_slice([1.0, 2.0, 3.0, 1.0, 2.0])).is_none());
        assert!(float_dictionary(&PrimitiveArray::<f64>::from_slice([1.0; 8])).is_some());
        assert!(float_dictionary(&PrimitiveArray::<i64>::from_slice([1; 8])).is_none());
        assert!(float_dictionary(&PrimitiveArray::<f64>::from(vec![None; 8])).is_none());
        // A dictionary over 1 MiB (131073 distinct values) is refused whatever the share.
        let many: Vec<f64> = (0..(MAX_DICTIONARY_BYTES / 8 + 1)).flat_map(|i| [i as f64; 4]).collect();
        assert!(float_dictionary(&PrimitiveArray::<f64>::from_vec(many)).is_none());
    }

    /// Writes `df` in row groups of `rows` rows; the file's bytes.
    fn write(df: &DataFrame, rows: usize) -> Vec<u8> {
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut w = PartWriter::new(file.reopen().unwrap(), df.schema(), Some("u"), Some("ts")).unwrap();
        for start in (0..df.height()).step_by(rows) {
            w.write_batch(&df.slice(start as i64, rows)).unwrap();
        }
        let size = w.finish().unwrap();
        drop(w);
        let bytes = std::fs::read(file.path()).unwrap();
        assert_eq!(bytes.len() as u64, size);
        bytes
    }

    #[test]
    fn timestamps_delta_group_lz4_repeating_floats_dictionary_and_everything_reads_back_as_written() {
        for (ts_float, rows) in [(false, 1000), (true, 4000)] {
            let mut df = frame(5000, ts_float);
            df.rechunk_mut();
            let bytes = write(&df, rows);
            let back = ParquetReader::new(std::io::Cursor::new(bytes.clone())).finish().unwrap();
            assert!(back.equals_missing(&df), "{back} {df}");
            let meta = read_metadata(&mut std::io::Cursor::new(bytes)).unwrap();
            assert_eq!(meta.row_groups.len(), 5000usize.div_ceil(rows));
            for rg in &meta.row_groups {
                for name in ["u", "ts", "ev", "p", "price"] {
                    let c = rg.columns_under_root_iter(name).unwrap().next().unwrap();
                    let delta = name == "ts" && !ts_float;
                    let want = match name {
                        _ if delta => Compression::Uncompressed,
                        "u" => Compression::Lz4Raw,
                        "price" => Compression::Uncompressed,
                        _ => Compression::Zstd,
                    };
                    assert_eq!(c.compression(), want, "{name} (float timestamps: {ts_float})");
                    // Dictionaries: polars' for integers and strings, ours for repeating floats;
                    // distinct floats (`p`, float timestamps) stay PLAIN.
                    let dictionary = matches!(name, "u" | "ev" | "price");
                    assert_eq!(
                        c.dictionary_page_offset().is_some(),
                        dictionary,
                        "{name} (float timestamps: {ts_float})"
                    );
                    if delta {
                        // Delta-encoded: a few bytes a row, not PLAIN's 8.
                        assert!((c.uncompressed_size() as usize) < 4 * rg.num_rows(), "{}", c.uncompressed_size());
                    }
                }
            }
        }
    }
}
