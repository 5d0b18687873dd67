//! The engine's data-driven cases (`engine/tests/cases/*.json`) through Lambda mode, compared
//! with embedded mode case by case (`tests/shared/cases.rs`).

use crate::shared::cases::{Tally, case_files, write_parts};
use integration_tests::Stack;
use integration_tests::lambda_stack::{LambdaSetup, LambdaStack};
use invoker::{RegisterArgs, ValidationMode};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_engine_cases_give_the_same_results_through_lambda() {
    let data = tempfile::tempdir().unwrap();
    let embedded = Stack::new(None);
    let lam = LambdaStack::start(LambdaSetup::default()).await;
    let mut tally = Tally::default();
    for file in case_files() {
        for (name, d) in &file.datasets {
            let dir = data.path().join(&file.stem).join(name);
            write_parts(d, &dir);
            let mut args = RegisterArgs::new(&file.dataset_name(name), &dir.display().to_string(), &d.group, &d.ts);
            args.validation = ValidationMode::FirstLast;
            embedded.register(&args).await.unwrap_or_else(|e| panic!("register {}/{name}: {e}", file.stem));
            lam.register(&args).await.unwrap_or_else(|e| panic!("register {}/{name} through Lambda: {e}", file.stem));
        }
        for case in &file.cases {
            let ds = file.dataset_name(case["data"].as_str().unwrap());
            let q = &case["query"];
            let want = embedded.query(&ds, q).await;
            let got = lam.query(&ds, q).await.map(|r| serde_json::to_value(r).unwrap());
            tally.compare("Lambda", case, want, got);
        }
    }
    tally.check("Lambda", 150);
}
