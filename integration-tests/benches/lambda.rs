//! Lambda mode through the emulator (real `frocket-lambda` instances, real Redis, the real
//! `aws-sdk-lambda` client): the invoker's overhead per job of 8 / 64 / 512 near-empty parts on
//! warm instances, an 8-task job on cold instances (the function redeployed before each
//! job), and one task on a ~20 MB part (3M synthetic rows) cold and warm. Run: `cargo xtask bench kernels` (or
//! `cargo bench -p integration-tests --bench lambda`); figures in docs/lambda.md.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use integration_tests::lambda_emulator::FunctionSpec;
use integration_tests::lambda_stack::{FUNCTION, LambdaSetup, LambdaStack, lambda_binary};
use integration_tests::{synth_dataset, tiny_dataset};
use invoker::{RegisterArgs, ValidationMode};
use serde_json::json;
use std::time::Duration;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let data = tempfile::tempdir().unwrap();
    let lam = rt.block_on(LambdaStack::start(LambdaSetup { concurrency: 8, ..LambdaSetup::default() }));
    let register = |name: &str, dir: &std::path::Path| {
        let mut args = RegisterArgs::new(name, &dir.display().to_string(), "u", "ts");
        args.validation = ValidationMode::FirstLast;
        rt.block_on(lam.register(&args)).unwrap();
    };
    let empty = json!({});
    let mut g = c.benchmark_group("lambda_job_overhead");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    for parts in [8usize, 64, 512] {
        let dir = data.path().join(format!("t{parts}"));
        tiny_dataset(&dir, parts);
        let name = format!("t{parts}");
        register(&name, &dir);
        rt.block_on(lam.query(&name, &empty)).unwrap(); // warm every instance
        g.throughput(Throughput::Elements(parts as u64));
        g.bench_function(format!("{parts}_tasks_warm"), |b| b.iter(|| rt.block_on(lam.query(&name, &empty)).unwrap()));
    }
    // Cold: a redeployed function starts new instances (8 processes on this machine's cores).
    let mut spec = FunctionSpec::new(FUNCTION, lambda_binary());
    spec.concurrency = 8;
    spec.env = vec![("FROCKET_REDIS_URL".into(), lam.redis_server.url())];
    g.bench_function("8_tasks_cold", |b| {
        b.iter(|| {
            lam.emulator.deploy(spec.clone());
            rt.block_on(lam.query("t8", &empty)).unwrap()
        })
    });
    g.finish();

    // One task on a ~20 MB part: cold (new instance, nothing cached) and warm.
    let big = data.path().join("big");
    synth_dataset(&big, 3_000_000, 1);
    let mb = std::fs::read_dir(&big).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum::<u64>() as f64 / 1e6;
    let mut args = RegisterArgs::new("big", &big.display().to_string(), "visitorid", "timestamp");
    args.validation = ValidationMode::Single;
    rt.block_on(lam.register(&args)).unwrap();
    let q =
        json!({"query": {"conditions": [{"filter": ["event", "==", "transaction"], "target": ["count", ">=", 3]}]}});
    let mut g = c.benchmark_group(format!("lambda_task_{mb:.0}mb_part"));
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    let mut spec1 = spec.clone();
    spec1.concurrency = 1;
    g.bench_function("cold", |b| {
        b.iter(|| {
            lam.emulator.deploy(spec1.clone());
            rt.block_on(lam.query("big", &q)).unwrap()
        })
    });
    rt.block_on(lam.query("big", &q)).unwrap();
    g.bench_function("warm", |b| b.iter(|| rt.block_on(lam.query("big", &q)).unwrap()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
