//! Bad part data gives a clear `EngineError` naming the column, never a panic.

use engine::{EngineError, Frame};
use polars::prelude::*;

fn prep(df: &DataFrame) -> Result<Frame, EngineError> {
    Frame::prepare(df, "id", "ts", &["v".to_string()])
}

fn frame(id: Column, ts: Column) -> DataFrame {
    DataFrame::new_infer_height(vec![id, ts, Column::new("v".into(), [1i64, 2, 3])]).unwrap()
}

#[test]
fn null_group_ids_are_rejected() {
    let df = frame(Column::new("id".into(), [Some(1i64), None, Some(2)]), Column::new("ts".into(), [1i64, 2, 3]));
    let e = prep(&df).unwrap_err();
    assert!(matches!(&e, EngineError::InvalidData { column, .. } if column == "id"), "{e}");
    assert!(e.to_string().contains("null"), "{e}");
}

#[test]
fn float_group_ids_are_rejected() {
    let df = frame(Column::new("id".into(), [1.0f64, 2.0, 3.0]), Column::new("ts".into(), [1i64, 2, 3]));
    let e = prep(&df).unwrap_err();
    assert!(matches!(&e, EngineError::TypeMismatch { column, .. } if column == "id"), "{e}");
}

#[test]
fn non_numeric_or_nan_timestamps_are_rejected() {
    let df = frame(Column::new("id".into(), [1i64, 1, 2]), Column::new("ts".into(), ["a", "b", "c"]));
    assert!(matches!(prep(&df).unwrap_err(), EngineError::TypeMismatch { column, .. } if column == "ts"));
    let df = frame(Column::new("id".into(), [1i64, 1, 2]), Column::new("ts".into(), [1.0, f64::NAN, 2.0]));
    assert!(matches!(prep(&df).unwrap_err(), EngineError::InvalidData { column, .. } if column == "ts"));
    let df = frame(Column::new("id".into(), [1i64, 1, 2]), Column::new("ts".into(), [Some(1i64), None, Some(2)]));
    assert!(matches!(prep(&df).unwrap_err(), EngineError::InvalidData { column, .. } if column == "ts"));
}

#[test]
fn missing_columns_are_named() {
    let df = frame(Column::new("id".into(), [1i64, 1, 2]), Column::new("ts".into(), [1i64, 2, 3]));
    let e = Frame::prepare(&df, "id", "ts", &["nope".to_string()]).unwrap_err();
    assert_eq!(e, EngineError::MissingColumn("nope".into()));
    let e = Frame::prepare(&df, "user", "ts", &[]).unwrap_err();
    assert_eq!(e, EngineError::MissingColumn("user".into()));
}

#[test]
fn unsupported_column_types_are_reported() {
    let list = Series::new(
        "v".into(),
        [Series::new("".into(), [1i64]), Series::new("".into(), [2i64]), Series::new("".into(), [3i64])],
    );
    let df = DataFrame::new_infer_height(vec![
        Column::new("id".into(), [1i64, 1, 2]),
        Column::new("ts".into(), [1i64, 2, 3]),
        Column::from(list),
    ])
    .unwrap();
    let e = prep(&df).unwrap_err();
    assert!(matches!(&e, EngineError::UnsupportedType { column, .. } if column == "v"), "{e}");
}

#[test]
fn u64_beyond_i64_is_reported_not_wrapped() {
    let df = DataFrame::new_infer_height(vec![
        Column::new("id".into(), [1i64, 1, 2]),
        Column::new("ts".into(), [1i64, 2, 3]),
        Column::new("v".into(), [1u64, u64::MAX, 3]),
    ])
    .unwrap();
    let e = prep(&df).unwrap_err();
    assert!(matches!(&e, EngineError::InvalidData { column, .. } if column == "v"), "{e}");
}

#[test]
fn empty_parts_give_empty_results() {
    let df = DataFrame::new_infer_height(vec![
        Column::new("id".into(), Vec::<i64>::new()),
        Column::new("ts".into(), Vec::<i64>::new()),
        Column::new("v".into(), Vec::<i64>::new()),
    ])
    .unwrap();
    let f = prep(&df).unwrap();
    assert_eq!((f.n_rows(), f.n_groups()), (0, 0));
    let q = protocol::validate_query_value(&serde_json::json!({"query": {"aggregations": [{"column": "v"}]}}), None)
        .unwrap();
    let r = engine::execute(&f, &q.query, &engine::EngineOptions::default()).unwrap();
    assert_eq!((r.matching_groups, r.matching_group_rows), (0, 0));
}
