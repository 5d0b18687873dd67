//! Fuzzing the parser/validator with proptest: arbitrary JSON documents and mutations of a
//! kitchen-sink query must never panic; accepted queries must expand idempotently.
//! (The number of inputs tried is recorded in docs/testing.md.)

use proptest::prelude::*;
use protocol::{DatasetSchema, validate_query, validate_query_value};
use serde_json::{Value, json};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        (-1e9f64..1e9).prop_map(|f| json!(f)),
        prop::sample::select(vec![
            "and",
            "or",
            "not",
            "$0",
            "$1 and $0",
            "count",
            "sum",
            "==",
            "!=",
            ">",
            "contains",
            "regex",
            "(",
            "[a-",
            "event",
            "price",
            "filter",
            "filters",
            "sequence",
            "",
            "countPerValue",
        ])
        .prop_map(|s| json!(s)),
        "[a-z$()&| ]{0,12}".prop_map(Value::String),
    ];
    let keys = prop::sample::select(vec![
        "timeframe",
        "from",
        "to",
        "query",
        "conditions",
        "relation",
        "aggregations",
        "funnel",
        "sequence",
        "maxDuration",
        "stepAggregations",
        "endAggregations",
        "filter",
        "filters",
        "target",
        "includeZero",
        "name",
        "column",
        "op",
        "value",
        "type",
        "otherColumn",
        "top",
        "rowFound",
        "filtersRelation",
        "logical_expr",
        "breakdown_sequence",
        "operator",
        "evaluator",
        "hitcount",
        "x",
    ]);
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

fn kitchen_sink() -> Value {
    json!({"timeframe": {"from": 1, "to": 100},
      "query": {"relation": "($0 and $1) or not $seq", "conditions": [
        {"filter": ["event", "==", "view"], "target": ["count", ">=", 2]},
        {"filters": [{"column": "price", "op": ">", "value": 10}], "target": {"type": "sum", "column": "price", "op": "<", "value": 99.5}},
        {"name": "seq", "sequence": [{"filter": ["event", "==", "a"]}, {"filter": ["event", "==", "x"], "rowFound": false}], "maxDuration": 50}],
        "aggregations": [{"column": "event"}, {"column": "event", "type": "sumPerValue", "otherColumn": "price", "top": 5}]},
      "funnel": {"sequence": [{"filter": ["event", "==", "a"]}], "maxDuration": 10, "stepAggregations": [{"column": "event", "type": "count", "name": "n"}]}})
}

/// Replaces the value at a random path of `v` with `with`.
fn mutate(v: &mut Value, mut choice: u64, with: Value) {
    let mut cur = v;
    loop {
        let n = match cur {
            Value::Object(m) => m.len(),
            Value::Array(a) => a.len(),
            _ => 0,
        };
        if n == 0 || choice.is_multiple_of(4) {
            *cur = with;
            return;
        }
        let i = (choice as usize / 4) % n;
        choice /= 7;
        cur = match cur {
            Value::Object(m) => m.values_mut().nth(i).unwrap(),
            Value::Array(a) => &mut a[i],
            _ => unreachable!(),
        };
    }
}

fn schema() -> DatasetSchema {
    serde_json::from_value(json!({"groupIdColumn": "u", "timestampColumn": "ts",
        "columns": {"u": "INT", "ts": "INT", "event": "STRING", "price": "FLOAT"}}))
    .unwrap()
}

fn check(v: &Value) {
    for s in [None, Some(&schema())] {
        if let Ok(q) = validate_query_value(v, s) {
            let again = validate_query_value(&q.query.to_json(), s).expect("expansion re-validates");
            assert_eq!(again.query, q.query);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_json_never_panics(v in arb_json()) {
        check(&v);
    }

    #[test]
    fn mutated_kitchen_sink_never_panics(choice in any::<u64>(), with in arb_json()) {
        let mut q = kitchen_sink();
        mutate(&mut q, choice, with);
        check(&q);
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,64}") {
        let _ = validate_query(&s, None);
    }
}

#[test]
fn kitchen_sink_is_valid() {
    validate_query_value(&kitchen_sink(), Some(&schema())).unwrap();
}
