//! Repartitioning: the same rows come out, each group in exactly one part, parts sorted by
//! (group, timestamp), runs are idempotent, and bad input fails without leaving output behind.

use dataprep::DataprepError;
use dataprep::repartition::{RepartitionConfig, buckets, repartition};
use dataprep::synth::{SynthConfig, generate_frame};
use polars::prelude::*;
use std::path::{Path, PathBuf};

fn write(df: &mut DataFrame, path: &Path) {
    ParquetWriter::new(std::fs::File::create(path).unwrap()).finish(df).unwrap();
}

fn read(path: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap()).finish().unwrap()
}

/// Two input files holding a shuffled mix of groups (not partitioned, not sorted).
fn raw_inputs(dir: &Path) -> (Vec<PathBuf>, DataFrame) {
    let cfg = SynthConfig { n_items: 1000, ..SynthConfig::new(30_000, 3) };
    let mut all = generate_frame(&cfg, 0).unwrap();
    for p in 1..3 {
        all.vstack_mut_owned(generate_frame(&cfg, p).unwrap()).unwrap();
    }
    let n = all.height();
    // Deterministic shuffle.
    let mut idx: Vec<IdxSize> = (0..n as IdxSize).collect();
    let mut s = 0x9E37_79B9u64;
    for i in (1..n).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        idx.swap(i, (s % (i as u64 + 1)) as usize);
    }
    let shuffled = all.take(&IdxCa::from_vec("i".into(), idx)).unwrap();
    let (mut a, mut b) = (shuffled.slice(0, n / 3), shuffled.slice((n / 3) as i64, n - n / 3));
    let files = vec![dir.join("raw-a.parquet"), dir.join("raw-b.parquet")];
    write(&mut a, &files[0]);
    write(&mut b, &files[1]);
    (files, all)
}

fn canonical(df: &DataFrame) -> DataFrame {
    let cols: Vec<Column> = df
        .columns()
        .iter()
        .map(|c| if c.dtype().is_categorical() { c.cast(&DataType::String).unwrap() } else { c.clone() })
        .collect();
    let df = DataFrame::new_infer_height(cols).unwrap();
    let names: Vec<String> = df.get_column_names().iter().map(|s| s.to_string()).collect();
    df.sort(names, SortMultipleOptions::default()).unwrap()
}

#[test]
fn rows_groups_and_order_are_right() {
    let tmp = tempfile::tempdir().unwrap();
    let (inputs, all) = raw_inputs(tmp.path());
    let out = tmp.path().join("parts");
    let mut cfg = RepartitionConfig::new(inputs, "visitorid", &out);
    cfg.timestamp_column = Some("timestamp".into());
    cfg.parts = Some(5);
    cfg.batch_rows = 4_000; // many slices per input: memory stays bounded by the slice
    cfg.row_group_rows = 1_000;
    let s = repartition(&cfg, &|_, _, _| {}).unwrap();
    assert_eq!((s.parts, s.rows), (5, all.height() as u64));
    let mut seen = std::collections::HashMap::new();
    let mut combined: Option<DataFrame> = None;
    for k in 0..5 {
        let df = read(&out.join(format!("part-{k:05}.parquet")));
        assert!(df.column("event").unwrap().dtype().is_categorical(), "low-cardinality strings become dictionaries");
        let g = df.column("visitorid").unwrap().i64().unwrap().clone();
        let t = df.column("timestamp").unwrap().i64().unwrap().clone();
        let (g, t): (Vec<i64>, Vec<i64>) = (g.into_no_null_iter().collect(), t.into_no_null_iter().collect());
        for i in 1..g.len() {
            assert!(g[i - 1] < g[i] || (g[i - 1] == g[i] && t[i - 1] <= t[i]), "part {k} sorted by (group, ts)");
        }
        // Row groups end on group boundaries: each at the first new id at or after 1,000 rows.
        let path = out.join(format!("part-{k:05}.parquet"));
        let meta = ParquetReader::new(std::fs::File::open(&path).unwrap()).get_metadata().unwrap().clone();
        let sizes: Vec<usize> = meta.row_groups.iter().map(|rg| rg.num_rows()).collect();
        assert!(sizes.len() >= 3, "part {k}: {sizes:?}");
        let mut end = 0;
        for (i, &n) in sizes.iter().enumerate() {
            let start = end;
            end += n;
            if i + 1 < sizes.len() {
                assert!(n >= 1_000, "part {k}: {sizes:?}");
                assert_ne!(g[end - 1], g[end], "part {k}: a group spans row groups {i} and {}", i + 1);
                // No earlier boundary at or after 1,000 rows: rows 999.. of the group are one id.
                assert!(g[start + 999..end].iter().all(|&v| v == g[end - 1]), "part {k}: ended at the first boundary");
            }
        }
        assert_eq!(end, g.len());
        for v in g {
            assert_eq!(*seen.entry(v).or_insert(k), k, "group {v} in one part only");
        }
        assert!(buckets(&df, "visitorid", 5).unwrap().iter().all(|&b| b as usize == k), "stable hash");
        match combined.as_mut() {
            None => combined = Some(df),
            Some(c) => {
                c.vstack_mut_owned(df).unwrap();
            }
        }
    }
    assert!(canonical(&combined.unwrap()).equals_missing(&canonical(&all)), "exactly the same rows");
    assert_eq!(s.groups as usize, seen.len());
}

#[test]
fn reruns_are_idempotent_and_need_force() {
    let tmp = tempfile::tempdir().unwrap();
    let (inputs, _) = raw_inputs(tmp.path());
    let out = tmp.path().join("parts");
    let mut cfg = RepartitionConfig::new(inputs, "visitorid", &out);
    cfg.parts = Some(3);
    cfg.timestamp_column = Some("timestamp".into());
    repartition(&cfg, &|_, _, _| {}).unwrap();
    let first: Vec<Vec<u8>> =
        (0..3).map(|k| std::fs::read(out.join(format!("part-{k:05}.parquet"))).unwrap()).collect();
    assert!(matches!(repartition(&cfg, &|_, _, _| {}), Err(DataprepError::OutputNotEmpty(_))));
    cfg.force = true;
    repartition(&cfg, &|_, _, _| {}).unwrap();
    let second: Vec<Vec<u8>> =
        (0..3).map(|k| std::fs::read(out.join(format!("part-{k:05}.parquet"))).unwrap()).collect();
    assert!(first == second, "byte-identical output");
    let leftovers = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with('.'))
        .count();
    assert_eq!(leftovers, 0, "no temp directories left");
}

#[test]
fn part_count_follows_the_target_size() {
    let tmp = tempfile::tempdir().unwrap();
    let (inputs, _) = raw_inputs(tmp.path());
    let bytes: u64 = inputs.iter().map(|p| std::fs::metadata(p).unwrap().len()).sum();
    let mut cfg = RepartitionConfig::new(inputs, "visitorid", &tmp.path().join("parts"));
    cfg.target_part_bytes = bytes / 4 + 1;
    assert_eq!(repartition(&cfg, &|_, _, _| {}).unwrap().parts, 4);
}

#[test]
fn bad_input_fails_clearly_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("parts");
    let check = |cfg: &RepartitionConfig, needle: &str| {
        let e = repartition(cfg, &|_, _, _| {}).unwrap_err().to_string();
        assert!(e.contains(needle), "{e}");
        assert!(!out.exists(), "no output after: {e}");
        let hidden = std::fs::read_dir(tmp.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with('.'))
            .count();
        assert_eq!(hidden, 0, "no temp directories after: {e}");
    };
    let mut df = df!("u" => [Some(1i64), None, Some(2)], "ts" => [1i64, 2, 3]).unwrap();
    write(&mut df, &tmp.path().join("nulls.parquet"));
    check(&RepartitionConfig::new(vec![tmp.path().join("nulls.parquet")], "u", &out), "null");
    let mut drop = RepartitionConfig::new(vec![tmp.path().join("nulls.parquet")], "u", &tmp.path().join("dropped"));
    drop.drop_null_groups = true;
    drop.parts = Some(2);
    let s = repartition(&drop, &|_, _, _| {}).unwrap();
    assert_eq!((s.rows, s.dropped_null_groups), (2, 1), "null group rows dropped with a count");
    std::fs::remove_dir_all(tmp.path().join("dropped")).unwrap();
    check(&RepartitionConfig::new(vec![tmp.path().join("nulls.parquet")], "user", &out), "'user' not found");
    let mut f = df!("u" => [1.5f64, 2.5], "ts" => [1i64, 2]).unwrap();
    write(&mut f, &tmp.path().join("float.parquet"));
    check(&RepartitionConfig::new(vec![tmp.path().join("float.parquet")], "u", &out), "integer or string");
    let mut e = df!("u" => Vec::<i64>::new(), "ts" => Vec::<i64>::new()).unwrap();
    write(&mut e, &tmp.path().join("empty.parquet"));
    check(&RepartitionConfig::new(vec![tmp.path().join("empty.parquet")], "u", &out), "no rows");
    let mut a = df!("u" => [1i64], "ts" => [1i64]).unwrap();
    let mut b = df!("u" => [2i64], "time" => [1i64]).unwrap();
    write(&mut a, &tmp.path().join("a.parquet"));
    write(&mut b, &tmp.path().join("b.parquet"));
    check(
        &RepartitionConfig::new(vec![tmp.path().join("a.parquet"), tmp.path().join("b.parquet")], "u", &out),
        "different schema",
    );
    std::fs::write(tmp.path().join("junk.parquet"), b"not parquet").unwrap();
    check(&RepartitionConfig::new(vec![tmp.path().join("junk.parquet")], "u", &out), "junk.parquet");
    check(&RepartitionConfig::new(vec![], "u", &out), "no input");
}
