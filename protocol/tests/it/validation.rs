//! Data-driven validation cases from `protocol/tests/validation_cases.json`: every fault is
//! reported (as a multiset of (kind, path)), valid queries expand as expected, and expansion is
//! idempotent and never mutates its input.

use protocol::{DatasetSchema, validate_query, validate_query_value};
use serde_json::Value;

fn load() -> (DatasetSchema, Vec<Value>) {
    let text = include_str!("../validation_cases.json");
    let file: Value = serde_json::from_str(text).unwrap();
    let schema: DatasetSchema = serde_json::from_value(file["schema"].clone()).unwrap();
    (schema, file["cases"].as_array().unwrap().clone())
}

#[test]
fn validation_cases() {
    let (schema, cases) = load();
    let mut failures = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let q = &case["query"];
        let before = q.clone();
        let schema = (case["schema"] == Value::Bool(true)).then_some(&schema);
        let res = validate_query_value(q, schema);
        assert_eq!(q, &before, "{name}: input mutated");
        match (res, case.get("valid")) {
            (Ok(v), Some(_)) => {
                let expanded = v.query.to_json();
                if let Some(want) = case.get("expanded")
                    && &expanded != want
                {
                    failures.push(format!("{name}: expanded {expanded} != {want}"));
                }
                // Idempotent: validating the expansion gives the same query.
                match validate_query_value(&expanded, schema) {
                    Ok(again) if again.query == v.query => {}
                    Ok(again) => failures.push(format!("{name}: not idempotent: {}", again.query.to_json())),
                    Err(e) => failures.push(format!("{name}: expansion invalid: {e}")),
                }
            }
            (Ok(v), None) => failures.push(format!("{name}: expected errors, got valid {}", v.query.to_json())),
            (Err(e), Some(_)) => failures.push(format!("{name}: expected valid, got {e}")),
            (Err(e), None) => {
                let mut got: Vec<(String, String)> =
                    e.errors.iter().map(|x| (x.kind.as_str().to_string(), x.path.clone())).collect();
                let mut want: Vec<(String, String)> = case["errors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| (p[0].as_str().unwrap().to_string(), p[1].as_str().unwrap().to_string()))
                    .collect();
                got.sort();
                want.sort();
                if got != want {
                    failures.push(format!("{name}: errors {got:?} != expected {want:?} ({e})"));
                }
                if e.errors.iter().any(|x| x.message.is_empty()) {
                    failures.push(format!("{name}: empty message"));
                }
            }
        }
    }
    assert!(cases.len() >= 100, "only {} cases", cases.len());
    assert!(failures.is_empty(), "{} of {} failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn invalid_json_text_is_a_schema_error_not_a_panic() {
    let e = validate_query("{\"query\": ", None).unwrap_err();
    assert_eq!(e.errors.len(), 1);
    assert_eq!(e.errors[0].kind, protocol::ErrorKind::Schema);
    assert!(e.errors[0].message.contains("invalid JSON"), "{}", e.errors[0].message);
}

#[test]
fn messages_name_the_fault() {
    let (schema, _) = load();
    let q = serde_json::json!({"query": {"conditions": [{"filter": ["userId", "contains", "1"]}]}});
    let e = validate_query_value(&q, Some(&schema)).unwrap_err();
    assert!(
        e.errors.iter().any(|x| x.message == "Operator 'contains' is not applicable for column 'userId' of type INT"),
        "{e}"
    );
    let q = serde_json::json!({"query": {"conditions": [{"filter": ["nope", "==", 1]}]}});
    let e = validate_query_value(&q, Some(&schema)).unwrap_err();
    assert_eq!(e.errors[0].message, "Column 'nope' not in dataset");
    let q = serde_json::json!({"blah": 123});
    let e = validate_query_value(&q, None).unwrap_err();
    assert!(e.errors[0].message.contains("'blah'"), "{e}");
}

#[test]
fn used_columns_lists_every_referenced_column_once() {
    let q = serde_json::json!({
        "query": {"conditions": [
            {"filter": ["event", "==", "x"], "target": ["sum", "price", ">", 1]},
            {"sequence": [{"filter": ["device", "==", "m"]}, {"filters": [{"column": "event", "op": "==", "value": "y"}]}]}],
          "aggregations": [{"column": "c", "type": "meanPerValue", "otherColumn": "d"}]},
        "funnel": {"sequence": [{"filter": ["flag", "==", true]}], "endAggregations": [{"column": "a"}]}
    });
    let v = validate_query_value(&q, None).unwrap();
    assert_eq!(v.used_columns("userId", "ts"), ["userId", "ts", "event", "price", "device", "c", "d", "flag", "a"]);
}
