//! The legacy seed format: the early design document's example queries translate to the
//! canonical form we expect, and faults carry paths into the legacy document.

use protocol::legacy::{parse_python_literal, translate};
use protocol::{ErrorKind, validate_query_value};
use serde_json::json;

fn seed_filter(column: &str, op: &str, target: &str) -> serde_json::Value {
    json!({"column": column, "operator": op, "target": target})
}

#[test]
fn seed_hello_query_translates() {
    let q = json!({"logical_expr": "and", "conditions": [{"type": "filter",
        "filter": seed_filter("event", "==", "'transaction'"),
        "evaluator": {"type": "size", "column": null}, "hitcount": {"target": 3, "operator": ">="}}]});
    let v = validate_query_value(&q, None).unwrap();
    assert!(v.is_legacy());
    assert_eq!(
        v.query.to_json(),
        json!({"query": {"relation": "$0", "conditions": [{"filter": {"column": "event", "op": "==", "value": "transaction"},
            "target": {"type": "count", "op": ">=", "value": 3}, "includeZero": false}]}})
    );
}

#[test]
fn seed_mfilter_sum_and_breakdown_translate() {
    let q = json!({"logical_expr": "or", "conditions": [
        {"type": "mfilter", "relation": "&", "filters": [seed_filter("event", "==", "'transaction'"), seed_filter("categoryid", "==", "'999'")],
         "evaluator": {"type": "sum", "column": "price"}, "hitcount": {"target": 100000, "operator": ">"}},
        {"type": "mfilter", "relation": "|", "filters": [seed_filter("price", ">=", "100000"), seed_filter("available", "==", "True")]},
        {"type": "sequence", "filters": [seed_filter("eventId", "==", "187359"), seed_filter("x", "<", "1.5")]},
        {"type": "filter", "filter": seed_filter("price", ">", "0"), "evaluator": {"type": "sum", "column": "price"}}],
      "breakdown_sequence": [seed_filter("event", "==", "'addtocart'"), seed_filter("event", "==", "\"transaction\"")]});
    let v = validate_query_value(&q, None).unwrap();
    let j = v.query.to_json();
    assert_eq!(j["query"]["relation"], json!("$0 or $1 or $2 or $3"));
    let c = &j["query"]["conditions"];
    assert_eq!(c[0]["target"], json!({"type": "sum", "column": "price", "op": ">", "value": 100000}));
    assert_eq!(c[0]["filters"][1]["value"], json!("999"));
    assert_eq!(c[1]["filtersRelation"], json!("or"));
    assert_eq!(c[1]["filters"][0]["value"], json!(100000));
    assert_eq!(c[1]["filters"][1]["value"], json!(true));
    assert_eq!(c[2]["sequence"][0]["filter"]["value"], json!(187359));
    assert_eq!(c[2]["sequence"][1]["filter"]["value"], json!(1.5));
    // A sum evaluator without hitcount means sum > 0.
    assert_eq!(c[3]["target"], json!({"type": "sum", "column": "price", "op": ">", "value": 0}));
    assert_eq!(j["funnel"]["sequence"][1]["filter"]["value"], json!("transaction"));
}

#[test]
fn python_literals() {
    assert_eq!(parse_python_literal(&json!("'a b'")).unwrap(), json!("a b"));
    assert_eq!(parse_python_literal(&json!("\"it\\'s\"")).unwrap(), json!("it's"));
    assert_eq!(parse_python_literal(&json!("-12")).unwrap(), json!(-12));
    assert_eq!(parse_python_literal(&json!("1_000")).unwrap(), json!(1000));
    assert_eq!(parse_python_literal(&json!("2.50")).unwrap(), json!(2.5));
    assert_eq!(parse_python_literal(&json!("False")).unwrap(), json!(false));
    assert_eq!(parse_python_literal(&json!(7)).unwrap(), json!(7));
    assert!(parse_python_literal(&json!("transaction")).unwrap_err().contains("quotes"));
    assert!(parse_python_literal(&json!("None")).is_err());
    assert!(parse_python_literal(&json!(null)).is_err());
}

#[test]
fn legacy_faults_have_legacy_paths() {
    let q = json!({"logical_expr": "xor", "conditions": [
        {"type": "filter", "filter": seed_filter("event", "==", "transaction")},
        {"type": "mfilter", "relation": "^", "filters": [seed_filter("a", "==", "1")]},
        {"type": "bogus"}], "breakdown_sequence": {}});
    let errs = translate(&q).unwrap_err();
    let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "conditions[0].filter.target",
            "conditions[1].relation",
            "conditions[2].type",
            "logical_expr",
            "breakdown_sequence"
        ]
    );
    assert!(errs.iter().all(|e| e.kind == ErrorKind::Schema));
}

#[test]
fn canonical_validation_errors_after_translation_use_canonical_paths() {
    let q = json!({"conditions": [{"type": "filter", "filter": seed_filter("event", "~", "'x'")}]});
    let e = validate_query_value(&q, None).unwrap_err();
    assert_eq!(e.errors[0].path, "query.conditions[0].filter.op");
}
