//! A bounded load test on loopback: 2,000 funnel queries, 50 in flight, against one server in
//! embedded mode and in queue mode (two `frocket worker`s). Every answer must be the
//! hand-checked one and no request may fail. Latency percentiles and throughput are printed
//! and written to `$CARGO_TARGET_TMPDIR/api-load-<mode>.json` (the figures in
//! docs/benchmarks.md come from a release build of this test: `cargo xtask bench-api`).

use crate::*;
use futures::StreamExt;
use integration_tests::RedisServer;
use std::time::Instant;

const QUERIES: usize = 2_000;
const IN_FLIGHT: usize = 50;

async fn load(server: &Server, mode: &str) {
    let c = client();
    let url = server.at("/datasets/shop/query");
    for _ in 0..10 {
        assert_eq!(post_json(&c, &url, FUNNEL).await.0, 200, "warm-up");
    }
    let t0 = Instant::now();
    let outcomes: Vec<(u16, Option<Vec<u64>>, Duration)> = futures::stream::iter(0..QUERIES)
        .map(|_| {
            let (c, url) = (c.clone(), url.clone());
            async move {
                let t = Instant::now();
                let (s, v) = post_json(&c, &url, FUNNEL).await;
                let steps = (s == 200).then(|| steps(&v));
                (s, steps, t.elapsed())
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let wall = t0.elapsed();
    let failed: Vec<u16> = outcomes.iter().filter(|o| o.0 != 200).map(|o| o.0).collect();
    assert!(failed.is_empty(), "{mode}: {} of {QUERIES} requests failed: {failed:?}", failed.len());
    assert!(outcomes.iter().all(|o| o.1.as_deref() == Some(&[5, 3, 1][..])), "{mode}: every answer is exact");
    let mut ms: Vec<f64> = outcomes.iter().map(|o| o.2.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| ms[((ms.len() as f64 * p).ceil() as usize).clamp(1, ms.len()) - 1];
    let report = json!({
        "mode": mode, "queries": QUERIES, "inFlight": IN_FLIGHT, "errors": 0,
        "p50Ms": pct(0.50), "p90Ms": pct(0.90), "p99Ms": pct(0.99), "maxMs": ms[ms.len() - 1],
        "queriesPerSecond": QUERIES as f64 / wall.as_secs_f64(),
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
    });
    println!("api load: {report}");
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("api-load-{mode}.json"));
    std::fs::write(path, report.to_string()).unwrap();
}

#[tokio::test]
async fn two_thousand_queries_fifty_in_flight() {
    let dirs = Dirs::fixture();
    let root = dirs.data().display().to_string();
    let args = ["--allow-root", root.as_str(), "--max-jobs", "64"];
    let c = client();
    {
        let server = Server::start(&dirs.home("embedded"), &args, &[]);
        let (s, _) = post_json(&c, &server.at("/datasets/register"), &dirs.register_body("shop").to_string()).await;
        assert_eq!(s, 200);
        load(&server, "embedded").await;
    }
    let redis = RedisServer::start();
    let url = redis.url();
    let _workers: Vec<Worker> = (0..2).map(|i| Worker::start(&dirs.home(&format!("w{i}")), &url)).collect();
    let server = Server::start(&dirs.home("queue"), &args, &[("FROCKET_REDIS_URL", url.as_str())]);
    let (s, _) = post_json(&c, &server.at("/datasets/register"), &dirs.register_body("shop").to_string()).await;
    assert_eq!(s, 200);
    load(&server, "queue").await;
}
