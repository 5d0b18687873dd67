//! Checking a result against a case's hand-checked `expect`: a subset of the result. Shared with
//! the Lambda-mode run of the same cases (`integration-tests/tests/it/lambda.rs`).

use serde_json::Value;

/// `expected` is contained in `actual`: objects by key, arrays element-wise (same length).
pub fn contains(actual: &Value, expected: &Value, path: &str, errs: &mut Vec<String>) {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            for (k, ev) in e {
                match a.get(k) {
                    Some(av) => contains(av, ev, &format!("{path}.{k}"), errs),
                    None => errs.push(format!("{path}.{k}: missing")),
                }
            }
            // Order of keys matters for top-N maps: check it when all keys are given.
            if e.len() == a.len() && e.keys().ne(a.keys()) && path.ends_with(".value") {
                errs.push(format!(
                    "{path}: key order {:?} != expected {:?}",
                    a.keys().collect::<Vec<_>>(),
                    e.keys().collect::<Vec<_>>()
                ));
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            if a.len() != e.len() {
                errs.push(format!("{path}: {} items, expected {}", a.len(), e.len()));
            } else {
                for (i, (av, ev)) in a.iter().zip(e).enumerate() {
                    contains(av, ev, &format!("{path}[{i}]"), errs);
                }
            }
        }
        (Value::Number(a), Value::Number(e)) => {
            if a.as_f64() != e.as_f64() {
                errs.push(format!("{path}: {a} != expected {e}"));
            }
        }
        (a, e) => {
            if a != e {
                errs.push(format!("{path}: {a} != expected {e}"));
            }
        }
    }
}
