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
//! Everything else is as polars' [`ParquetWriter`] writes it: zstd pages, dictionary encoding
//! where polars chooses it, min/max statistics, the Arrow schema in the footer, one row group
//! per chunk of the frames written.

use polars::prelude::*;
use polars_parquet::write::{
    CompressionOptions, Encoding, StatisticsOptions, Version, WriteOptions, ZstdLevel, array_to_columns, compress,
    get_dtype_encoding,
};
use std::io::Write;

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
                let (encodings, compression) = if delta {
                    (vec![Encoding::DeltaBinaryPacked], CompressionOptions::Uncompressed)
                } else if Some(i) == self.group {
                    (get_dtype_encoding(array.dtype()), CompressionOptions::Lz4Raw)
                } else {
                    (get_dtype_encoding(array.dtype()), self.options.compression)
                };
                for pages in array_to_columns(array, type_.clone(), self.options, &encodings)? {
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
        ])
        .unwrap()
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
    fn timestamps_delta_encoded_uncompressed_group_lz4_and_everything_reads_back_as_written() {
        for (ts_float, rows) in [(false, 1000), (true, 4000)] {
            let mut df = frame(5000, ts_float);
            df.rechunk_mut();
            let bytes = write(&df, rows);
            let back = ParquetReader::new(std::io::Cursor::new(bytes.clone())).finish().unwrap();
            assert!(back.equals_missing(&df), "{back} {df}");
            let meta = read_metadata(&mut std::io::Cursor::new(bytes)).unwrap();
            assert_eq!(meta.row_groups.len(), 5000usize.div_ceil(rows));
            for rg in &meta.row_groups {
                for name in ["u", "ts", "ev", "p"] {
                    let c = rg.columns_under_root_iter(name).unwrap().next().unwrap();
                    let delta = name == "ts" && !ts_float;
                    let want = match name {
                        _ if delta => Compression::Uncompressed,
                        "u" => Compression::Lz4Raw,
                        _ => Compression::Zstd,
                    };
                    assert_eq!(c.compression(), want, "{name} (float timestamps: {ts_float})");
                    if delta {
                        // Delta-encoded: a few bytes a row, not PLAIN's 8.
                        assert!((c.uncompressed_size() as usize) < 4 * rg.num_rows(), "{}", c.uncompressed_size());
                    }
                }
            }
        }
    }
}
