//! CSV inputs for repartitioning: converted to Parquet chunks in a staging directory, streaming
//! (bounded memory), with column types inferred from the first rows: integer, float, boolean
//! (`true`/`false`, case-insensitive) or string; empty fields are nulls. A value that does not
//! fit the inferred type fails with its file and line (or, when skipping, drops the line).

use crate::DataprepError;
use crate::synth::write_parquet_atomic;
use polars::prelude::*;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Int,
    Float,
    Bool,
    Str,
}

fn infer(values: &[&str]) -> Kind {
    let present: Vec<&str> = values.iter().copied().filter(|v| !v.is_empty()).collect();
    if present.is_empty() {
        Kind::Str
    } else if present.iter().all(|v| v.parse::<i64>().is_ok()) {
        Kind::Int
    } else if present.iter().all(|v| v.parse::<f64>().is_ok()) {
        Kind::Float
    } else if present.iter().all(|v| v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false")) {
        Kind::Bool
    } else {
        Kind::Str
    }
}

enum Buf {
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
    Str(Vec<Option<String>>),
}

impl Buf {
    fn new(k: Kind) -> Buf {
        match k {
            Kind::Int => Buf::Int(Vec::new()),
            Kind::Float => Buf::Float(Vec::new()),
            Kind::Bool => Buf::Bool(Vec::new()),
            Kind::Str => Buf::Str(Vec::new()),
        }
    }
    fn push(&mut self, v: &str) -> Result<(), String> {
        let empty = v.is_empty();
        match self {
            Buf::Int(b) => {
                b.push(if empty { None } else { Some(v.parse().map_err(|_| format!("{v:?} is not an integer"))?) })
            }
            Buf::Float(b) => {
                b.push(if empty { None } else { Some(v.parse().map_err(|_| format!("{v:?} is not a number"))?) })
            }
            Buf::Bool(b) => b.push(if empty {
                None
            } else if v.eq_ignore_ascii_case("true") {
                Some(true)
            } else if v.eq_ignore_ascii_case("false") {
                Some(false)
            } else {
                return Err(format!("{v:?} is not a boolean"));
            }),
            Buf::Str(b) => b.push((!empty).then(|| v.to_string())),
        }
        Ok(())
    }
    fn take(&mut self, name: &str) -> Column {
        let n = PlSmallStr::from(name);
        match self {
            Buf::Int(b) => Column::new(n, std::mem::take(b)),
            Buf::Float(b) => Column::new(n, std::mem::take(b)),
            Buf::Bool(b) => Column::new(n, std::mem::take(b)),
            Buf::Str(b) => Column::new(n, std::mem::take(b)),
        }
    }
}

/// Converts one CSV file into Parquet chunks of `chunk_rows` rows in `staging`; returns the
/// chunk files and the number of skipped lines.
pub fn csv_to_parquet_chunks(
    path: &Path,
    staging: &Path,
    chunk_rows: usize,
    skip_bad_lines: bool,
) -> Result<(Vec<PathBuf>, u64), DataprepError> {
    let bad =
        |line: u64, msg: String| DataprepError::InvalidArguments(format!("{} line {line}: {msg}", path.display()));
    let open = || {
        std::fs::File::open(path).map_err(|source| DataprepError::Io {
            action: "open",
            path: path.to_path_buf(),
            source,
        })
    };
    // Infer types from the first 1,000 records.
    let mut r = csv::ReaderBuilder::new().has_headers(true).from_reader(open()?);
    let header: Vec<String> =
        r.headers().map_err(|e| bad(1, format!("unreadable header: {e}")))?.iter().map(str::to_string).collect();
    let sample: Vec<csv::StringRecord> = r.records().take(1000).filter_map(Result::ok).collect();
    if sample.is_empty() {
        return Err(DataprepError::InvalidArguments(format!("{} holds no rows", path.display())));
    }
    let kinds: Vec<Kind> = (0..header.len())
        .map(|i| infer(&sample.iter().map(|rec| rec.get(i).unwrap_or("")).collect::<Vec<_>>()))
        .collect();
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "csv".into());
    let mut r = csv::ReaderBuilder::new().has_headers(true).from_reader(open()?);
    let mut bufs: Vec<Buf> = kinds.iter().map(|&k| Buf::new(k)).collect();
    let (mut rows, mut skipped, mut files) = (0usize, 0u64, Vec::new());
    let flush = |bufs: &mut Vec<Buf>, files: &mut Vec<PathBuf>| -> Result<(), DataprepError> {
        let cols: Vec<Column> = bufs.iter_mut().zip(&header).map(|(b, h)| b.take(h)).collect();
        let mut df = DataFrame::new_infer_height(cols).map_err(|e| DataprepError::InvalidArguments(e.to_string()))?;
        let out = staging.join(format!("{stem}-{:05}.parquet", files.len()));
        write_parquet_atomic(&mut df, &out)?;
        files.push(out);
        Ok(())
    };
    let mut rec = csv::StringRecord::new();
    loop {
        let line = r.position().line();
        match r.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) if skip_bad_lines => {
                let _ = e;
                skipped += 1;
                continue;
            }
            Err(e) => return Err(bad(line, format!("malformed CSV: {e}"))),
        }
        // Parse the whole line first, so a bad value never leaves a half-pushed row.
        let ok = rec.len() == header.len()
            && kinds.iter().enumerate().all(|(i, &k)| Buf::new(k).push(rec.get(i).unwrap_or("")).is_ok());
        if !ok {
            if skip_bad_lines {
                skipped += 1;
                continue;
            }
            let why = (0..header.len())
                .find_map(|i| {
                    Buf::new(kinds[i])
                        .push(rec.get(i).unwrap_or(""))
                        .err()
                        .map(|e| format!("column '{}': {e}", header[i]))
                })
                .unwrap_or_else(|| format!("{} fields, expected {}", rec.len(), header.len()));
            return Err(bad(line, why));
        }
        for (i, b) in bufs.iter_mut().enumerate() {
            b.push(rec.get(i).unwrap_or("")).map_err(|e| bad(line, e))?;
        }
        rows += 1;
        if rows.is_multiple_of(chunk_rows) {
            flush(&mut bufs, &mut files)?;
        }
    }
    if !rows.is_multiple_of(chunk_rows) || files.is_empty() {
        flush(&mut bufs, &mut files)?;
    }
    Ok((files, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_inferred_and_chunks_stream() {
        let d = tempfile::tempdir().unwrap();
        let csv = d.path().join("ev.csv");
        let mut text = String::from("user,ts,event,price,ok\n");
        for i in 0..2500 {
            text.push_str(&format!(
                "{},{},\"e, {}\",{},{}\n",
                i % 7,
                i,
                i % 3,
                if i % 5 == 0 { String::new() } else { format!("{}.5", i) },
                i % 2 == 0
            ));
        }
        std::fs::write(&csv, text).unwrap();
        let (files, skipped) = csv_to_parquet_chunks(&csv, d.path(), 1000, false).unwrap();
        assert_eq!((files.len(), skipped), (3, 0));
        let df = ParquetReader::new(std::fs::File::open(&files[2]).unwrap()).finish().unwrap();
        assert_eq!(df.height(), 500);
        let dt: Vec<DataType> = df.dtypes();
        assert_eq!(dt, [DataType::Int64, DataType::Int64, DataType::String, DataType::Float64, DataType::Boolean]);
        assert_eq!(df.column("event").unwrap().str().unwrap().get(0), Some("e, 2"), "quoted comma kept");
    }

    #[test]
    fn bad_values_name_the_line_or_are_skipped() {
        let d = tempfile::tempdir().unwrap();
        let csv = d.path().join("ev.csv");
        // 1,000 good rows (the inference sample: ts is an integer), then a short line and a
        // non-integer ts.
        let mut text = String::from("user,ts\n");
        for i in 0..1000 {
            text.push_str(&format!("{i},{i}\n"));
        }
        let good = text.clone();
        text.push_str("7\n8,x\n9,90\n");
        std::fs::write(&csv, &text).unwrap();
        let e = csv_to_parquet_chunks(&csv, d.path(), 5000, false).unwrap_err().to_string();
        assert!(e.contains("ev.csv line 1002") && e.contains("malformed"), "{e}");
        std::fs::write(&csv, format!("{good}8,x\n9,90\n")).unwrap();
        let e = csv_to_parquet_chunks(&csv, d.path(), 5000, false).unwrap_err().to_string();
        assert!(e.contains("ev.csv line 1002") && e.contains("column 'ts'") && e.contains("not an integer"), "{e}");
        std::fs::write(&csv, &text).unwrap();
        let (files, skipped) = csv_to_parquet_chunks(&csv, d.path(), 5000, true).unwrap();
        assert_eq!(skipped, 2);
        let df = ParquetReader::new(std::fs::File::open(&files[0]).unwrap()).finish().unwrap();
        assert_eq!(df.height(), 1001);
        std::fs::write(&csv, "user,ts\n").unwrap();
        assert!(csv_to_parquet_chunks(&csv, d.path(), 1000, false).unwrap_err().to_string().contains("no rows"));
    }
}
