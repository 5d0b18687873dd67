//! Bad input at registration and query time: each gives a clear error naming the thing at
//! fault, and nothing is registered half-way.

use integration_tests::{S3Server, Stack, synth_dataset, write_parquet};
use invoker::{InvokerError, RegisterArgs};
use polars::prelude::*;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use storage::Datastore;

fn args(name: &str, dir: &Path) -> RegisterArgs {
    RegisterArgs::new(name, &dir.display().to_string(), "u", "ts")
}

fn part(path: &Path, u: Column, ts: Column) {
    let mut df = DataFrame::new_infer_height(vec![u, ts, Column::new("v".into(), [1i64, 2, 3])]).unwrap();
    write_parquet(&mut df, path);
}

fn good(path: &Path, base: i64) {
    part(path, Column::new("u".into(), [base, base, base + 1]), Column::new("ts".into(), [1i64, 2, 3]));
}

async fn reg_err(st: &Stack, a: &RegisterArgs) -> (InvokerError, String) {
    let e = st.register(a).await.unwrap_err();
    let msg = e.to_string();
    assert!(st.datastore.dataset(&a.name).await.unwrap().is_none(), "nothing registered after: {msg}");
    (e, msg)
}

#[tokio::test]
async fn missing_directory_and_no_matching_files() {
    let st = Stack::new(None);
    let d = tempfile::tempdir().unwrap();
    let (e, m) = reg_err(&st, &args("x", &d.path().join("nope"))).await;
    assert!(e.is_usage_error() && m.contains("nope") && m.contains("not found"), "{m}");
    std::fs::write(d.path().join("a.csv"), "u,ts\n1,2\n").unwrap();
    let (e, m) = reg_err(&st, &args("x", d.path())).await;
    assert!(e.is_usage_error() && m.contains("no files matching '*.parquet'"), "{m}");
    let mut a = args("x", d.path());
    a.pattern = Some("[".into());
    let (_, m) = reg_err(&st, &a).await;
    assert!(m.contains("bad pattern"), "{m}");
    a.basepath = "gs://bucket/x".into();
    let (_, m) = reg_err(&st, &a).await;
    assert!(m.contains("'gs'"), "{m}");
}

#[tokio::test]
async fn non_parquet_and_truncated_files_name_the_part() {
    let st = Stack::new(None);
    let d = tempfile::tempdir().unwrap();
    good(&d.path().join("a.parquet"), 1);
    std::fs::write(d.path().join("b.parquet"), b"this is not parquet").unwrap();
    let (_, m) = reg_err(&st, &args("x", d.path())).await;
    assert!(m.contains("b.parquet"), "{m}");
    good(&d.path().join("b.parquet"), 10);
    let bytes = std::fs::read(d.path().join("b.parquet")).unwrap();
    std::fs::write(d.path().join("b.parquet"), &bytes[..bytes.len() / 2]).unwrap();
    let (_, m) = reg_err(&st, &args("x", d.path())).await;
    assert!(m.contains("b.parquet"), "{m}");
}

#[tokio::test]
async fn bad_group_and_timestamp_columns() {
    let st = Stack::new(None);
    let cases: Vec<(&str, Column, Column, &str)> = vec![
        (
            "missing group column",
            Column::new("user".into(), [1i64, 2, 3]),
            Column::new("ts".into(), [1i64, 2, 3]),
            "'u'",
        ),
        (
            "missing timestamp column",
            Column::new("u".into(), [1i64, 2, 3]),
            Column::new("time".into(), [1i64, 2, 3]),
            "'ts'",
        ),
        (
            "nulls in group column",
            Column::new("u".into(), [Some(1i64), None, Some(2)]),
            Column::new("ts".into(), [1i64, 2, 3]),
            "null",
        ),
        (
            "float group ids",
            Column::new("u".into(), [1.0f64, 2.0, 3.0]),
            Column::new("ts".into(), [1i64, 2, 3]),
            "group id",
        ),
        (
            "non-numeric timestamps",
            Column::new("u".into(), [1i64, 2, 3]),
            Column::new("ts".into(), ["a", "b", "c"]),
            "timestamp",
        ),
        (
            "NaN timestamps",
            Column::new("u".into(), [1i64, 2, 3]),
            Column::new("ts".into(), [1.0, f64::NAN, 3.0]),
            "NaN",
        ),
    ];
    for (what, u, ts, needle) in cases {
        let d = tempfile::tempdir().unwrap();
        part(&d.path().join("p.parquet"), u, ts);
        let (_, m) = reg_err(&st, &args("x", d.path())).await;
        assert!(m.contains(needle) && m.contains("p.parquet"), "{what}: {m}");
    }
    // String group ids and float timestamps are fine.
    let d = tempfile::tempdir().unwrap();
    part(
        &d.path().join("p.parquet"),
        Column::new("u".into(), ["a", "a", "b"]),
        Column::new("ts".into(), [1.5f64, 2.0, 3.25]),
    );
    st.register(&args("ok", d.path())).await.unwrap();
    let r = st.query("ok", &json!({"timeframe": {"from": 1.75}})).await.unwrap();
    assert_eq!((r["query"]["matchingGroups"].as_u64(), r["query"]["matchingGroupRows"].as_u64()), (Some(2), Some(2)));
}

#[tokio::test]
async fn differing_schemas_and_shared_group_ids() {
    let st = Stack::new(None);
    let d = tempfile::tempdir().unwrap();
    good(&d.path().join("a.parquet"), 1);
    let mut df = DataFrame::new_infer_height(vec![
        Column::new("u".into(), [5i64, 6, 7]),
        Column::new("ts".into(), [1i64, 2, 3]),
        Column::new("v".into(), ["x", "y", "z"]),
    ])
    .unwrap();
    write_parquet(&mut df, &d.path().join("b.parquet"));
    let (_, m) = reg_err(&st, &args("x", d.path())).await;
    assert!(m.contains("schemas differ") && m.contains("'v'") && m.contains("b.parquet"), "{m}");

    good(&d.path().join("b.parquet"), 2); // ids 2, 3 overlap part a's 1, 2
    let (_, m) = reg_err(&st, &args("x", d.path())).await;
    assert!(m.contains("not unique") && m.contains("1 ids"), "{m}");
    let mut a = args("x", d.path());
    a.validate_uniques = false;
    st.register(&a).await.expect("--skip-uniques registers anyway");
}

#[tokio::test]
async fn unknown_dataset_invalid_query_and_deleted_files() {
    let st = Stack::new(None);
    let e = st.query("nope", &json!({})).await.unwrap_err();
    assert!(matches!(e, InvokerError::DatasetNotFound(ref n) if n == "nope"), "{e}");
    let d = tempfile::tempdir().unwrap();
    synth_dataset(&d.path().join("ds"), 3_000, 2);
    let dir = d.path().join("ds");
    st.register(&RegisterArgs::new("d", &dir.display().to_string(), "visitorid", "timestamp")).await.unwrap();
    let e = st.query("d", &json!({"query": {"conditions": [{"filter": ["nope", "==", 1]}]}})).await.unwrap_err();
    match e {
        InvokerError::Validation(v) => {
            assert!(v.has(protocol::ErrorKind::DatasetMismatch, "query.conditions[0].filter[0]"))
        }
        other => panic!("{other}"),
    }
    std::fs::remove_file(dir.join("part-00001.parquet")).unwrap();
    let e = st.query("d", &json!({})).await.unwrap_err();
    let m = e.to_string();
    assert!(
        matches!(e, InvokerError::TasksFailed(_)) && m.contains("part-00001.parquet") && m.contains("1 of 2"),
        "{m}"
    );
}

#[tokio::test]
async fn missing_bucket_is_named() {
    let s3 = S3Server::start();
    let st = Stack::new(Some(Arc::new(s3.store().await)));
    let (_, m) = reg_err(&st, &RegisterArgs::new("x", "s3://no-such-bucket/data", "u", "ts")).await;
    assert!(m.contains("no-such-bucket"), "{m}");
    s3.create_bucket("empty").await;
    let (_, m) = reg_err(&st, &RegisterArgs::new("x", "s3://empty/data", "u", "ts")).await;
    assert!(m.contains("no files matching"), "{m}");
}

#[test]
fn unreadable_cache_directory_is_a_clear_error() {
    let e = worker::PartLoader::new(
        storage::Stores::local_only(),
        &worker::LoaderConfig { cache_dir: Some("/proc/frocket/cache".into()), ..Default::default() },
    )
    .unwrap_err();
    assert!(e.to_string().contains("/proc/frocket/cache"), "{e}");
}
