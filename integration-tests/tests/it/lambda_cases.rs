//! The engine's data-driven cases (`engine/tests/cases/*.json`) through Lambda mode: every case
//! dataset is written as Parquet parts (its groups split between two parts), registered through
//! Lambda and in an embedded stack, and every case's query runs in both. The Lambda result must
//! equal the embedded one and contain the case's hand-checked `expect`; a case that expects an
//! engine error must fail in both modes with that error (or, where the dataset-aware validator
//! rejects the query before any engine runs, with the same validation faults).

#[path = "../../../engine/tests/it/data.rs"]
#[allow(dead_code)]
mod data;
#[path = "../../../engine/tests/it/expect.rs"]
mod expect;

use data::TestData;
use integration_tests::lambda_stack::{LambdaSetup, LambdaStack};
use integration_tests::{Stack, answer, write_parquet};
use invoker::{InvokerError, RegisterArgs, ValidationMode};
use serde_json::Value;
use std::path::Path;

/// Writes `d` as up to two parts holding disjoint groups; returns the directory.
fn write_parts(d: &TestData, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let mut order: Vec<String> = Vec::new();
    for r in 0..d.n_rows() {
        let k = d.group_key(r);
        if !order.contains(&k) {
            order.push(k);
        }
    }
    let n_parts = order.len().clamp(1, 2);
    for p in 0..n_parts {
        let keep: Vec<usize> = (0..d.n_rows())
            .filter(|&r| order.iter().position(|k| *k == d.group_key(r)).unwrap() % n_parts == p)
            .collect();
        let mut df = d.select_rows(&keep).to_df();
        write_parquet(&mut df, &dir.join(format!("part-{p}.parquet")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_engine_cases_give_the_same_results_through_lambda() {
    let cases_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/tests/cases");
    let data = tempfile::tempdir().unwrap();
    let embedded = Stack::new(None);
    let lam = LambdaStack::start(LambdaSetup::default()).await;
    let (mut compared, mut errors, mut rejected, mut failures) = (0, 0, 0, Vec::new());
    let mut files: Vec<_> = std::fs::read_dir(&cases_dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "json")) {
        let file: Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        let stem = f.file_stem().unwrap().to_string_lossy().into_owned();
        for (name, d) in TestData::load_case_datasets(&file) {
            let dir = data.path().join(&stem).join(&name);
            write_parts(&d, &dir);
            let mut args = RegisterArgs::new(&format!("{stem}-{name}"), &dir.display().to_string(), &d.group, &d.ts);
            args.validation = ValidationMode::FirstLast;
            embedded.register(&args).await.unwrap_or_else(|e| panic!("register {stem}/{name}: {e}"));
            lam.register(&args).await.unwrap_or_else(|e| panic!("register {stem}/{name} through Lambda: {e}"));
        }
        for case in file["cases"].as_array().unwrap() {
            let case_name = case["name"].as_str().unwrap_or("?");
            let ds = format!("{stem}-{}", case["data"].as_str().unwrap());
            let q = &case["query"];
            let want = embedded.query(&ds, q).await;
            let got = lam.query(&ds, q).await.map(|r| serde_json::to_value(r).unwrap());
            match (want, got, case.get("error").and_then(Value::as_str)) {
                (Ok(w), Ok(g), None) => {
                    compared += 1;
                    if answer(&w) != answer(&g) {
                        failures.push(format!("{case_name}: Lambda {} != embedded {}", answer(&g), answer(&w)));
                    }
                    let mut errs = Vec::new();
                    if let Some(e) = case.get("expect") {
                        expect::contains(&g, e, "", &mut errs);
                    }
                    failures.extend(errs.into_iter().map(|e| format!("{case_name}: {e}")));
                }
                // The dataset-aware validator stops some engine-level cases first (e.g. a float
                // compared with an INT column, an ordering operator on a string): both modes
                // must reject them with the same faults.
                (Err(w @ InvokerError::Validation(_)), Err(g), _) => {
                    rejected += 1;
                    if w.to_string() != g.to_string() {
                        failures.push(format!("{case_name}: rejected differently: embedded {w}; Lambda {g}"));
                    }
                }
                (Err(w), Err(g), Some(msg)) => {
                    errors += 1;
                    let (w, g) = (w.to_string(), g.to_string());
                    if !w.contains(msg) || !g.contains(msg) {
                        failures.push(format!("{case_name}: expected errors with {msg:?}: embedded {w}; Lambda {g}"));
                    }
                }
                (w, g, expected) => failures.push(format!(
                    "{case_name}: embedded {:?}, Lambda {:?}, expected error {expected:?}",
                    w.map(|v| answer(&v)).map_err(|e| e.to_string()),
                    g.map(|v| answer(&v)).map_err(|e| e.to_string())
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{} cases differ:\n{}", failures.len(), failures.join("\n"));
    assert!(compared >= 150, "{compared} results, {errors} engine errors, {rejected} rejected queries compared");
    eprintln!(
        "figure: {compared} engine cases, {errors} engine errors and {rejected} validation rejections identical through Lambda"
    );
}
