//! Data-driven engine cases: `engine/tests/cases/*.json`. Each case runs a query on a small
//! inline dataset; the result must match the hand-checked `expect` (a subset of the result)
//! and the brute-force reference evaluator (the whole result).

use crate::data::TestData;
use crate::expect::contains;
use crate::{engine_json, reference, run_part, validate};
use engine::EngineOptions;
use serde_json::Value;
use std::path::Path;

pub fn run_case_file(path: &Path) -> (usize, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap();
    let file: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let datasets = TestData::load_case_datasets(&file);
    let mut failures = Vec::new();
    let cases = file["cases"].as_array().expect("cases array");
    for case in cases {
        let name = case["name"].as_str().unwrap_or("?");
        let data = &datasets[case["data"].as_str().expect("case data")];
        let q = validate(&case["query"]);
        if let Some(err) = case.get("error").and_then(Value::as_str) {
            match run_part(data, &q, &EngineOptions::default()) {
                Ok(_) => failures.push(format!("{name}: expected engine error containing {err:?}")),
                Err(e) if !e.to_string().contains(err) => failures.push(format!("{name}: error {e} lacks {err:?}")),
                Err(_) => {}
            }
            continue;
        }
        let actual = engine_json(data, &q);
        let mut errs = Vec::new();
        if let Some(expect) = case.get("expect") {
            contains(&actual, expect, "", &mut errs);
        }
        if case.get("reference") != Some(&Value::Bool(false)) {
            let want = reference::run(data, &q.query);
            if serde_json::to_string(&actual).unwrap() != serde_json::to_string(&want).unwrap() {
                errs.push(format!("differs from reference:\n  engine:    {actual}\n  reference: {want}"));
            }
        }
        for e in errs {
            failures.push(format!("{name}: {e}"));
        }
    }
    (cases.len(), failures)
}

#[test]
fn data_driven_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut total = 0;
    let mut failures = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "json")) {
        let (n, errs) = run_case_file(f);
        total += n;
        failures.extend(errs.into_iter().map(|e| format!("{}: {e}", f.file_name().unwrap().to_string_lossy())));
    }
    assert!(total >= 100, "expected at least 100 cases, found {total}");
    assert!(failures.is_empty(), "{} of {total} cases failed:\n{}", failures.len(), failures.join("\n"));
    eprintln!("{total} data-driven engine cases passed");
}
