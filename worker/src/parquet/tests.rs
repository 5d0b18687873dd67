//! Tests of the Parquet reader (`super`): every layout read as `ParquetReader`'s DataFrame
//! path reads it, the fast paths' edge cases, the timeframe pushdown, and errors.

use super::kept::bit_packed_at;
use super::*;
use polars::prelude::{Column, DataFrame, DataType, ParquetReader, ParquetWriter, SerReader};
use polars_arrow::array::PrimitiveArray;
use std::path::{Path, PathBuf};

/// 3,000 rows of 40 users, unsorted: `ev` low-cardinality strings with nulls (dictionary
/// pages), `name` unique strings (plain pages), `x` floats with nulls, `n` integers, `p`
/// floats without nulls.
fn frame_df(categorical: bool) -> DataFrame {
    let n = 3000usize;
    let u: Vec<i64> = (0..n).map(|i| ((i * 7919) % 40) as i64).collect();
    let ts: Vec<i64> = (0..n).map(|i| ((i * 104_729) % 5000) as i64).collect();
    let ev: Vec<Option<&str>> =
        (0..n).map(|i| if i % 13 == 0 { None } else { Some(["view", "cart", "buy", "x"][(i + i / 40) % 4]) }).collect();
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
        let got =
            read_frame_for_query(PartFile::Path(path.to_path_buf()), "u", Some("ts"), &columns, Some(bounds)).unwrap();
        // The admitted rows, and every row of the row groups whose timestamps are not read
        // the fast way (dictionary-encoded, or asked for as a column too).
        let admitted = ts.iter().filter(|&&t| bounds.contains(t)).count();
        assert!(admitted <= got.n_rows() && got.n_rows() <= ts.len(), "{tf}: {} rows", got.n_rows());
        let (got, want) = (engine::execute(&got, &q, &opts).unwrap(), engine::execute(&want_frame, &q, &opts).unwrap());
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

/// The runs [`decode_i64_runs`] leaves in `scratch`.
fn runs_of(
    column: &ColumnChunkMetadata,
    data: &Buffer<u8>,
    keys: RunKeys,
    with_values: bool,
    scratch: &mut Scratch,
) -> Option<I64Runs> {
    decode_i64_runs(column, data, keys, with_values, None, scratch)?;
    Some(scratch.runs.clone())
}

/// The set bits among the first `rows` of `bits`, as kept runs (`(first row, rows)`).
fn runs_of_bits(bits: u32, rows: u32) -> Vec<(u32, u32)> {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for r in (0..rows).filter(|&r| bits >> r & 1 == 1) {
        match runs.last_mut() {
            Some((s, n)) if *s + *n == r => *n += 1,
            _ => runs.push((r, 1)),
        }
    }
    runs
}

#[test]
fn a_keep_mask_marks_the_kept_rows_and_stops_at_the_columns_end() {
    let mask = |keep: &[(u32, u32)], n: usize| {
        let m = keep_mask(keep, n);
        assert_eq!(m.len(), n);
        (0..n).map(|r| m.get(r) == Some(true)).collect::<Vec<bool>>()
    };
    let at = |rows: &[usize], n| (0..n).map(|r| rows.contains(&r)).collect::<Vec<bool>>();
    assert_eq!(mask(&[(2, 3), (8, 2)], 10), at(&[2, 3, 4, 8, 9], 10));
    // Kept rows past a column shorter than its row group: only its own rows are marked (the
    // builder then refuses the chunk's unequal columns), no panic.
    assert_eq!(mask(&[(2, 3), (8, 5)], 10), at(&[2, 3, 4, 8, 9], 10));
    assert_eq!(mask(&[(12, 3)], 10), at(&[], 10));
}

#[test]
fn a_bit_packed_value_is_read_straight_from_its_bits_as_the_unpacker_reads_it() {
    // Pseudo-random bytes read as values of every width, against polars' block unpacker.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let bytes: Vec<u8> = (0..4099)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    for bits in 1..=32usize {
        // Lengths ending mid-block and at the last byte (where fewer than 8 bytes remain).
        for n in [1, 31, 33, 1000, bytes.len() * 8 / bits] {
            let packed = &bytes[..(n * bits).div_ceil(8)];
            let mut want = Vec::new();
            polars_parquet::parquet::encoding::bitpacked::Decoder::<u32>::try_new(packed, bits, n)
                .unwrap()
                .collect_into(&mut want);
            let got: Vec<u32> = (0..n).map(|i| bit_packed_at(packed, bits, i)).collect();
            assert_eq!(got, want, "{bits} bits, {n} values");
        }
    }
}

/// Calls `f(part name, the row group's ids, its "u" column chunk, the chunk's bytes)` for each
/// row group of a part sorted by (u, ts) and of the same rows unsorted, 1000-row row groups.
fn for_each_group_chunk(mut f: impl FnMut(&str, &[i64], &ColumnChunkMetadata, &Buffer<u8>)) {
    let dir = tempfile::tempdir().unwrap();
    let mut sorted = frame_df(false).sort(["u", "ts"], Default::default()).unwrap();
    for (name, df) in [("sorted.parquet", &mut sorted), ("unsorted.parquet", &mut frame_df(false))] {
        let path = write(dir.path(), name, df, Some(1000));
        let u: Vec<i64> = df.column("u").unwrap().i64().unwrap().into_no_null_iter().collect();
        let meta = read_metadata(&mut std::fs::File::open(&path).unwrap()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let mut offset = 0;
        for rg in &meta.row_groups {
            let column = rg.columns_under_root_iter("u").unwrap().next().unwrap();
            let r = column.byte_range();
            let data = Buffer::from(bytes[r.start as usize..r.end as usize].to_vec());
            f(name, &u[offset..offset + rg.num_rows()], column, &data);
            offset += rg.num_rows();
        }
        assert_eq!(offset, u.len());
    }
}

/// `keep`'s rows of `u`, as runs of equal adjacent ids (brute force).
fn kept_runs(u: &[i64], keep: &[(u32, u32)]) -> (Vec<i64>, Vec<u32>) {
    let mut want: (Vec<i64>, Vec<u32>) = (Vec::new(), Vec::new());
    for &(s, n) in keep {
        for &v in &u[s as usize..(s + n) as usize] {
            if want.0.last() == Some(&v) {
                *want.1.last_mut().unwrap() += 1;
            } else {
                want.0.push(v);
                want.1.push(1);
            }
        }
    }
    want
}

#[test]
fn a_group_chunk_read_for_some_rows_gives_the_runs_of_those_rows() {
    // Sorted (RLE runs) and unsorted (bit-packed stretches) parts, under kept rows sparse
    // enough to read single values from the packed bits and dense enough to unpack blocks:
    // the runs of the kept rows' ids, keyed by id and by index, against brute force.
    let mut scratch = Scratch::default();
    let mut x = 12345u64;
    for_each_group_chunk(|name, u, column, data| {
        let rows = u.len();
        for density in [0u64, 3, 10, 24, 40, 90, 100] {
            // Runs of 1..8 rows, each kept with probability `density`%.
            let mut keep: Vec<(u32, u32)> = Vec::new();
            let mut at = 0u32;
            while (at as usize) < rows {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let len = (1 + x % 8).min(rows as u64 - u64::from(at)) as u32;
                if (x >> 8) % 100 < density {
                    match keep.last_mut() {
                        Some((s, n)) if *s + *n == at => *n += len,
                        _ => keep.push((at, len)),
                    }
                }
                at += len;
            }
            let want = kept_runs(u, &keep);
            decode_i64_runs(column, data, RunKeys::Id, false, Some(&keep), &mut scratch).expect("by id");
            let got = scratch.runs.clone();
            assert_eq!((&got.values, &got.lengths), (&want.0, &want.1), "{name} {density}%");
            assert_eq!(got.increasing, want.0.windows(2).all(|w| w[0] < w[1]), "{name} {density}%");
            // Keyed by index: the same lengths, equal keys where the ids are equal.
            let base = 3 << 32;
            decode_i64_runs(column, data, RunKeys::Index(base), true, Some(&keep), &mut scratch).expect("by index");
            let by_index = scratch.runs.clone();
            assert_eq!(by_index.lengths, want.1, "{name} {density}%");
            for i in 0..want.0.len() {
                for j in 0..want.0.len() {
                    assert_eq!(by_index.values[i] == by_index.values[j], want.0[i] == want.0[j]);
                }
            }
        }
        // Kept rows past the chunk's last row: refused (the caller decodes it as usual).
        let past = [(0, rows as u32 + 1)];
        assert!(decode_i64_runs(column, data, RunKeys::Id, false, Some(&past), &mut scratch).is_none());
    });
}

#[test]
fn a_dictionary_encoded_int64_chunk_reads_as_the_runs_of_its_values() {
    // Unsorted too: runs are runs of equal adjacent values, whatever the order.
    // One scratch for every chunk, as a reading thread reuses it (so leftovers would show).
    let mut scratch = Scratch::default();
    for_each_group_chunk(|name, u, column, data| {
        let I64Runs { values, lengths, increasing } =
            runs_of(column, data, RunKeys::Id, false, &mut scratch).expect("dictionary-encoded INT64");
        assert_eq!(increasing, values.windows(2).all(|w| w[0] < w[1]), "{name}");
        assert_eq!(increasing, name == "sorted.parquet", "{name}");
        let expanded: Vec<i64> =
            values.iter().zip(&lengths).flat_map(|(&v, &n)| std::iter::repeat_n(v, n as usize)).collect();
        assert_eq!(expanded, u, "{name}");
        assert!(values.windows(2).all(|w| w[0] != w[1]), "adjacent runs are merged");
        // Keyed by index, the dictionary unread: the same runs, and equal keys exactly
        // where the ids are equal (so the same groups), every key at or above the base.
        let base = 7 << 32;
        let bare = runs_of(column, data, RunKeys::Index(base), false, &mut scratch).expect("keyed by index");
        let I64Runs { values: keys, lengths: by_index, increasing: keys_increase } =
            runs_of(column, data, RunKeys::Index(base), true, &mut scratch).expect("keyed by index");
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
    });
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
        let f = read_frame_for_query(PartFile::Path(path.clone()), "u", Some("ts"), &["ev".to_string()], None).unwrap();
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
        let got =
            read_frame_for_query(PartFile::Path(part.clone()), "visitorid", Some("timestamp"), &columns, Some(bounds))
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
    assert!(matches!(read(Some(late)), Err(WorkerError::Engine { .. })), "{:?}", read(Some(late)).map(|f| f.n_rows()));
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
    // One page buffer for every call, as a reading thread reuses it.
    let mut page = Vec::new();
    for rg in 0..meta.row_groups.len() {
        let (c, data) = chunk(rg, "ts");
        assert!(c.dictionary_page_offset().is_none(), "ts is PLAIN here");
        let rows = meta.row_groups[rg].num_rows();
        // With kept rows: those gathered from the pages; a kept run past the rows: refused.
        let keep = [(3u32, 5u32), (100, 1), (rows as u32 - 10, 10)];
        let mut kept: Vec<i64> = Vec::new();
        assert_eq!(decode_8(c, &data, &mut kept, Some(&keep), &mut page), Some(rows));
        let offset = got_ts.len();
        let want: Vec<i64> = keep.iter().flat_map(|&(s, n)| ts[offset + s as usize..][..n as usize].to_vec()).collect();
        assert_eq!(kept, want);
        assert_eq!(decode_8::<i64>(c, &data, &mut Vec::new(), Some(&[(rows as u32 - 1, 2)]), &mut page), None);
        assert_eq!(decode_8(c, &data, &mut got_ts, None, &mut page), Some(rows));
        let (c, data) = chunk(rg, "p");
        assert!(c.dictionary_page_offset().is_none(), "p is PLAIN here");
        assert_eq!(decode_8(c, &data, &mut got_p, None, &mut page), Some(meta.row_groups[rg].num_rows()));
        // Declined: nulls (x), and a dictionary-encoded chunk (u).
        let (c, data) = chunk(rg, "x");
        assert_eq!(decode_8::<f64>(c, &data, &mut Vec::new(), None, &mut page), None);
        let (c, data) = chunk(rg, "u");
        assert!(c.dictionary_page_offset().is_some());
        assert_eq!(decode_8::<i64>(c, &data, &mut Vec::new(), None, &mut page), None);
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
    assert!(append_plain_8(&mut b, "x", &ArrowDataType::Float64, c, &data, None, &mut Scratch::default()).is_none());
    assert!(b.float_sink("x").unwrap().is_empty(), "a declined chunk leaves nothing behind");
    let (c, data) = chunk(0, "ts");
    assert!(append_plain_8(&mut b, "ts", &ArrowDataType::Float64, c, &data, None, &mut Scratch::default()).is_none());
    let n = meta.row_groups[0].num_rows();
    assert!(
        matches!(append_plain_8(&mut b, "ts", &ArrowDataType::Int64, c, &data, None, &mut Scratch::default()), Some(ChunkColumn::Appended(k)) if k == n)
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

#[test]
fn a_threads_scratch_is_dropped_when_it_holds_too_much() {
    let mut s = Scratch { ts: Vec::with_capacity(1 << 20), page: Vec::with_capacity(1 << 20), ..Scratch::default() };
    s.trim();
    assert!(s.ts.capacity() >= 1 << 20 && s.page.capacity() >= 1 << 20, "8 MB + 1 MB kept");
    s.chunk = Vec::with_capacity(Scratch::KEEP_BYTES);
    s.trim();
    assert_eq!((s.chunk.capacity(), s.ts.capacity(), s.page.capacity()), (0, 0, 0), "over the bound: all dropped");
}

#[test]
fn keep_dictionary_rows_keeps_the_kept_rows_keys_and_validity() {
    // Three arrays over consecutive rows (10, 0 and 7 rows), one dictionary, nulls in two of
    // them; every set of kept rows among the 17 taken every 5th: brute force over the rows.
    let dict = polars_arrow::array::Utf8ViewArray::from_slice_values(["a", "b", "c"]).boxed();
    let dtype = ArrowDataType::Dictionary(IntegerType::UInt32, Box::new(ArrowDataType::Utf8View), false);
    let array = |keys: &[Option<u32>]| {
        let keys = PrimitiveArray::<u32>::from(keys.to_vec());
        DictionaryArray::try_new(dtype.clone(), keys, dict.clone()).unwrap()
    };
    let parts: [Vec<Option<u32>>; 3] = [
        (0..10).map(|i| (i % 4 != 3).then_some(i % 3)).collect(),
        Vec::new(),
        (0..7).map(|i| Some((i + 1) % 3)).collect(),
    ];
    let arrays: Vec<DictionaryArray<u32>> = parts.iter().map(|k| array(k)).collect();
    let rows: Vec<Option<u32>> = parts.concat();
    for kept in (0u32..1 << 17).step_by(5) {
        let keep = runs_of_bits(kept, 17);
        let out = keep_dictionary_rows(&arrays, &keep).expect("rebuilt");
        assert_eq!(out.len(), 3, "one array per array");
        let got: Vec<Option<u32>> = out.iter().flat_map(|a| a.keys().iter().map(|k| k.copied())).collect();
        let want: Vec<Option<u32>> = (0..17).filter(|&r| kept >> r & 1 == 1).map(|r| rows[r]).collect();
        assert_eq!(got, want, "{keep:?}");
        assert!(out.iter().all(|a| a.values().len() == 3), "the dictionary kept");
    }
}

#[test]
fn delta_encoded_timestamps_as_dataprep_writes_them_read_as_polars_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    for (name, sorted, rows) in [("delta.parquet", false, 700usize), ("delta_sorted.parquet", true, 1000)] {
        let mut df = frame_df(false);
        if sorted {
            df = df.sort(["u", "ts"], Default::default()).unwrap();
        }
        df.rechunk_mut();
        let path = dir.path().join(name);
        let file = std::fs::File::create(&path).unwrap();
        let mut w = dataprep::part_writer::PartWriter::new(file, df.schema(), Some("u"), Some("ts")).unwrap();
        for start in (0..df.height()).step_by(rows) {
            w.write_batch(&df.slice(start as i64, rows)).unwrap();
        }
        w.finish().unwrap();
        // The timestamps: uncompressed, not dictionary-encoded, under 8 bytes a row (delta);
        // decoded (and gathered for some rows) as polars decodes them.
        let meta = read_metadata(&mut std::fs::File::open(&path).unwrap()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let ts: Vec<i64> = df.column("ts").unwrap().i64().unwrap().into_no_null_iter().collect();
        let (mut got, mut page): (Vec<i64>, Vec<u8>) = (Vec::new(), Vec::new());
        for rg in &meta.row_groups {
            let c = rg.columns_under_root_iter("ts").unwrap().next().unwrap();
            assert_eq!(c.compression(), polars_parquet::parquet::compression::Compression::Uncompressed);
            assert!(c.dictionary_page_offset().is_none());
            assert!((c.uncompressed_size() as usize) < 8 * rg.num_rows(), "{}", c.uncompressed_size());
            let r = c.byte_range();
            let data = Buffer::from(bytes[r.start as usize..r.end as usize].to_vec());
            let keep = [(1u32, 3u32), (rg.num_rows() as u32 - 2, 2)];
            let mut kept: Vec<i64> = Vec::new();
            assert_eq!(decode_8(c, &data, &mut kept, Some(&keep), &mut page), Some(rg.num_rows()));
            let at = got.len();
            assert_eq!(kept, [&ts[at + 1..at + 4], &ts[at + rg.num_rows() - 2..at + rg.num_rows()]].concat());
            assert_eq!(decode_8(c, &data, &mut got, None, &mut page), Some(rg.num_rows()));
        }
        assert_eq!(got, ts);
        assert_reads_like_the_dataframe_path(&path, true);
        assert_reads_like_the_dataframe_path(&path, false);
        // The timeframe pushed down: only the admitted rows are kept.
        let bounds = TimeBounds::of(&timeframe(r#"{"from": 1000, "to": 4000}"#)).unwrap();
        let frame =
            read_frame_for_query(PartFile::Path(path.clone()), "u", Some("ts"), &["ev".to_string()], Some(bounds))
                .unwrap();
        assert_eq!(frame.n_rows(), ts.iter().filter(|&&t| bounds.contains(t)).count());
    }
}

/// dataprep dictionary-encodes a float column whose values repeat (per row group) and leaves
/// it PLAIN otherwise: a part whose `p` and `x` (with nulls) repeat in the first row groups only
/// reads, chunk by chunk through either path, as polars reads it (every query, timeframes
/// pushed down too).
#[test]
fn floats_dictionary_encoded_in_some_row_groups_read_as_polars_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut df = frame_df(false);
    let n = df.height();
    let repeats = |i: usize| i < 1500;
    let p: Vec<f64> =
        (0..n).map(|i| if repeats(i) { (i % 50) as f64 * 100.0 - 900.0 } else { i as f64 * 1.37 - 900.0 }).collect();
    let x: Vec<Option<f64>> = (0..n)
        .map(|i| (i % 11 != 0).then_some(if repeats(i) { (i % 40) as f64 * 40.0 } else { i as f64 * 0.5 }))
        .collect();
    df.with_column(Column::new("p".into(), p)).unwrap();
    df.with_column(Column::new("x".into(), x)).unwrap();
    df.rechunk_mut();
    let path = dir.path().join("floats.parquet");
    let mut w = dataprep::part_writer::PartWriter::new(
        std::fs::File::create(&path).unwrap(),
        df.schema(),
        Some("u"),
        Some("ts"),
    )
    .unwrap();
    for start in (0..n).step_by(700) {
        w.write_batch(&df.slice(start as i64, 700)).unwrap();
    }
    w.finish().unwrap();
    let meta = read_metadata(&mut std::fs::File::open(&path).unwrap()).unwrap();
    for column in ["p", "x"] {
        let dictionary: Vec<bool> = meta
            .row_groups
            .iter()
            .map(|rg| rg.columns_under_root_iter(column).unwrap().next().unwrap().dictionary_page_offset().is_some())
            .collect();
        assert_eq!(dictionary, [true, true, false, false, false], "{column}");
    }
    let back = ParquetReader::new(std::fs::File::open(&path).unwrap()).finish().unwrap();
    assert!(back.equals_missing(&df));
    assert_reads_like_the_dataframe_path(&path, true);
}
