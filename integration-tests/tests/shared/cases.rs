//! The engine's data-driven cases (`engine/tests/cases/*.json`) run through a distributed mode
//! and compared with embedded mode: shared by Lambda mode on loopback (`tests/it/lambda_cases.rs`)
//! and by queue and Lambda mode in containers (`tests/containers`).
//!
//! Each case dataset is written as Parquet parts (its groups split between two parts). A
//! remote result must equal the embedded one and contain the case's hand-checked `expect`; a
//! case that expects an engine error must fail in both modes with that error (or, where the
//! dataset-aware validator rejects the query before any engine runs, with the same faults).

use super::data::TestData;
use super::expect;
use integration_tests::{answer, write_parquet};
use invoker::InvokerError;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Writes `d` as up to two parts holding disjoint groups.
pub fn write_parts(d: &TestData, dir: &Path) {
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

/// One case file: its stem, its datasets and its cases.
pub struct CaseFile {
    pub stem: String,
    pub datasets: Vec<(String, TestData)>,
    pub cases: Vec<Value>,
}

impl CaseFile {
    /// The registered name of one of its datasets.
    pub fn dataset_name(&self, data: &str) -> String {
        format!("{}-{data}", self.stem)
    }
}

pub fn case_files() -> Vec<CaseFile> {
    let dir: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/tests/cases");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "json"))
        .map(|f| {
            let file: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
            CaseFile {
                stem: f.file_stem().unwrap().to_string_lossy().into_owned(),
                datasets: TestData::load_case_datasets(&file).into_iter().collect(),
                cases: file["cases"].as_array().unwrap().clone(),
            }
        })
        .collect()
}

/// What the comparison saw.
#[derive(Debug, Default)]
pub struct Tally {
    pub compared: usize,
    pub errors: usize,
    pub rejected: usize,
    pub failures: Vec<String>,
}

impl Tally {
    /// Compares one case's embedded (`want`) and remote (`got`, from `mode`) outcomes.
    pub fn compare(
        &mut self,
        mode: &str,
        case: &Value,
        want: Result<Value, InvokerError>,
        got: Result<Value, InvokerError>,
    ) {
        let name = case["name"].as_str().unwrap_or("?");
        match (want, got, case.get("error").and_then(Value::as_str)) {
            (Ok(w), Ok(g), None) => {
                self.compared += 1;
                if answer(&w) != answer(&g) {
                    self.failures.push(format!("{name}: {mode} {} != embedded {}", answer(&g), answer(&w)));
                }
                let mut errs = Vec::new();
                if let Some(e) = case.get("expect") {
                    expect::contains(&g, e, "", &mut errs);
                }
                self.failures.extend(errs.into_iter().map(|e| format!("{name}: {e}")));
            }
            // The dataset-aware validator stops some engine-level cases first (e.g. a float
            // compared with an INT column, an ordering operator on a string): both modes must
            // reject them with the same faults.
            (Err(w @ InvokerError::Validation(_)), Err(g), _) => {
                self.rejected += 1;
                if w.to_string() != g.to_string() {
                    self.failures.push(format!("{name}: rejected differently: embedded {w}; {mode} {g}"));
                }
            }
            (Err(w), Err(g), Some(msg)) => {
                self.errors += 1;
                let (w, g) = (w.to_string(), g.to_string());
                if !w.contains(msg) || !g.contains(msg) {
                    self.failures.push(format!("{name}: expected errors with {msg:?}: embedded {w}; {mode} {g}"));
                }
            }
            (w, g, expected) => self.failures.push(format!(
                "{name}: embedded {:?}, {mode} {:?}, expected error {expected:?}",
                w.map(|v| answer(&v)).map_err(|e| e.to_string()),
                g.map(|v| answer(&v)).map_err(|e| e.to_string())
            )),
        }
    }

    /// Asserts no case differed and at least `min` results were compared.
    pub fn check(&self, mode: &str, min: usize) {
        assert!(self.failures.is_empty(), "{} cases differ:\n{}", self.failures.len(), self.failures.join("\n"));
        assert!(
            self.compared >= min,
            "{} results, {} engine errors, {} rejected queries compared",
            self.compared,
            self.errors,
            self.rejected
        );
        eprintln!(
            "figure: {} engine cases, {} engine errors and {} validation rejections identical through {mode}",
            self.compared, self.errors, self.rejected
        );
    }
}
