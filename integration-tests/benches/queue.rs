//! Overhead of distributed execution: jobs over N near-empty parts (one row each) through a
//! real redis-server on loopback and 2 queue workers (in this process, each with its own
//! Redis connections), and throughput of concurrent jobs. Run: `cargo xtask bench` (or
//! `cargo bench -p integration-tests --bench queue`).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use integration_tests::{Exec, RedisServer, tiny_dataset};
use invoker::queue::QueueExecutor;
use invoker::{JobOptions, RegisterArgs};
use std::sync::Arc;
use std::time::Duration;
use storage::redis::{RedisConfig, RedisStore};
use storage::{Datastore, Stores};
use worker::queue::{QueueWorkerConfig, run_queue_worker};
use worker::shell::ShellConfig;
use worker::{LoaderConfig, PartLoader, Worker};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let redis_server = RedisServer::start();
    let data = tempfile::tempdir().unwrap();
    let (redis, exec) = rt.block_on(async {
        let cfg =
            RedisConfig { url: redis_server.url(), prefix: "bench:".into(), request_ttl: Duration::from_secs(300) };
        let redis = RedisStore::connect(&cfg).await.unwrap();
        let (_tx, rx) = tokio::sync::watch::channel(false);
        for i in 0..2 {
            let w = Worker::new(PartLoader::new(Stores::local_only(), &LoaderConfig::default()).unwrap());
            let shell = ShellConfig { name: format!("bench-{i}"), ..ShellConfig::default() };
            let qcfg = QueueWorkerConfig { shell, ..QueueWorkerConfig::default() };
            tokio::spawn(run_queue_worker(w, RedisStore::connect(&cfg).await.unwrap(), qcfg, rx.clone()));
        }
        std::mem::forget(_tx);
        let exec = Arc::new(QueueExecutor::on_queue(redis.clone(), "default", Duration::from_secs(20)));
        (redis, exec)
    });
    let local = Exec { worker: Worker::new(PartLoader::new(Stores::local_only(), &LoaderConfig::default()).unwrap()) };
    let opts = JobOptions::new(3, std::time::Duration::from_secs(60));
    let mut g = c.benchmark_group("queue_job_overhead");
    g.sample_size(20);
    for parts in [1usize, 8, 64] {
        let dir = data.path().join(format!("d{parts}"));
        tiny_dataset(&dir, parts);
        let name = format!("d{parts}");
        rt.block_on(async {
            // Register through the embedded executor (the same metadata lands in Redis).
            let args = RegisterArgs::new(&name, &dir.display().to_string(), "u", "ts");
            invoker::register_dataset(&Stores::local_only(), &redis, &local, &args, &opts, None).await.unwrap();
        });
        g.throughput(Throughput::Elements(parts as u64));
        g.bench_function(format!("{parts}_tasks"), |b| {
            b.iter(|| {
                rt.block_on(invoker::run_query_job(&redis, &*exec, &name, &serde_json::json!({}), &opts, None)).unwrap()
            })
        });
    }
    let empty = serde_json::json!({});
    g.bench_function("8_concurrent_jobs_of_8_tasks", |b| {
        b.iter(|| {
            rt.block_on(async {
                let jobs = (0..8).map(|_| invoker::run_query_job(&redis, &*exec, "d8", &empty, &opts, None));
                for r in futures::future::join_all(jobs).await {
                    r.unwrap();
                }
            })
        })
    });
    g.finish();
    let leftover = rt.block_on(redis.datasets()).unwrap().len();
    assert_eq!(leftover, 3);
}

criterion_group!(benches, bench);
criterion_main!(benches);
