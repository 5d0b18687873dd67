//! How `frocket dataprep` writes a part's Parquet: polars' writer (its schema, encodings,
//! statistics and footer), except for the **timestamp column, written DELTA_BINARY_PACKED and
//! not compressed**.
//!
//! Why: a part is sorted by (group, timestamp), so consecutive timestamps are mostly a user's
//! next event: small deltas, bit-packed in Parquet's delta encoding at a few bytes per row
//! without any general-purpose compression. Stored PLAIN (polars' choice for a column of
//! mostly distinct integers), every reader must first zstd-decompress 8 bytes per row: on the
//! synth data that was ~60% of the CPU of a timeframe query (q9) in frocket and in polars alike
//! (docs/benchmarks.md, "Round 2, eleventh session"). Measured on the 10M-row heavy-tailed
//! parts (same rows, row groups and other columns): the timestamp column is ~1.5× the bytes of
//! zstd'd PLAIN (+~15% for the whole part), zstd on top of the deltas saves only ~6% of them and
//! costs readers its decompression again. Every reader of Parquet 2 encodings reads it (pyarrow,
//! polars, DuckDB, ClickHouse, Spark); frocket's worker decodes it without an intermediate
//! array (`worker/src/parquet/delta.rs`).
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
    options: WriteOptions,
}

impl<W: Write> PartWriter<W> {
    /// A writer of frames of `schema`, whose column `timestamp_column` (if any, and if it is
    /// an `Int64` column) is written delta-encoded and uncompressed.
    pub fn new(writer: W, schema: &Schema, timestamp_column: Option<&str>) -> PolarsResult<Self> {
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
        Ok(PartWriter { inner, timestamp, options })
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
