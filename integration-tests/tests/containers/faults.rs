//! Faults only a network makes, in queue mode with 3 worker containers: each ends with the
//! exact answer or a clear error, and nothing left behind in Redis. Recovery times are printed
//! as `figure:` lines (docs/reliability.md "Network faults").
//!
//! Timing knobs: workers heartbeat every 0.5 s; the invoker declares an attempt lost after 5 s
//! without progress (`FROCKET_INVOKER_RETRY_LOST_INTERVAL`); a worker's debug delay makes tasks
//! long enough that a fault surely lands mid-task.

use crate::{AGGS, FUNNEL, Invoker, assert_clean, embedded, synth};
use integration_tests::answer;
use integration_tests::containers::{Cluster, ClusterSpec, container_test};
use integration_tests::images::Images;
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Longer than a task waits in the queue here (6 tasks of 1.5 s on 3 workers: at most 3 s): a
/// queued attempt that no worker takes within this interval counts as lost too.
const LOST: (&str, &str) = ("FROCKET_INVOKER_RETRY_LOST_INTERVAL", "5");

/// A cluster of 3 workers with `env`, a 6-part dataset uploaded and registered.
async fn cluster(images: &Images, env: &[(&str, &str)]) -> (Cluster, Invoker, PathBuf, tempfile::TempDir) {
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let c = Cluster::start(images, ClusterSpec { workers: 3, api: false, lambda: false, env }).await;
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("ds");
    synth(&dir, 6);
    let url = c.upload(&dir, "ds").await;
    let inv = Invoker::new(c.host_env());
    inv.register(&url).await;
    (c, inv, dir, data)
}

/// How a worker is taken away mid-job, and given back after it.
#[derive(Clone, Copy)]
enum Away {
    /// Its network disconnected (it runs on, unable to reach Redis or S3).
    CutOff,
    /// `docker pause`: frozen, no heartbeat.
    Frozen,
}

/// Worker 0 is taken away 0.8 s into a job (tasks 1.5 s): its task is declared lost and redone
/// elsewhere, exactly; given back after the job, it finishes its stale attempt, whose result
/// reaches Redis and is dropped (the request has ended: nothing counted twice, no key
/// resurrected), and it serves the next query.
fn worker_taken_away_mid_job(away: Away, q: &'static str) {
    container_test(|images| async move {
        let (c, inv, dir, _d) = cluster(&images, &[("FROCKET_WORKER_DEBUG_DELAY_MS", "1500")]).await;
        let want = embedded(&dir, q);
        let job = inv.spawn_query(q, &[LOST]);
        tokio::time::sleep(Duration::from_millis(800)).await;
        let gone = Instant::now();
        match away {
            Away::CutOff => c.disconnect(&c.workers[0]).await,
            Away::Frozen => c.workers[0].pause().await.expect("pause"),
        }
        let o = job.await.unwrap();
        let recovered = gone.elapsed();
        match away {
            Away::CutOff => c.connect(&c.workers[0]).await,
            Away::Frozen => c.workers[0].unpause().await.expect("unpause"),
        }
        assert_eq!(o.code, Some(0), "{}", o.json);
        assert_eq!(answer(&o.json), want, "exact: the lost task was redone elsewhere");
        assert!(o.json["stats"]["retries"].as_u64().unwrap() >= 1, "{}", o.json["stats"]);
        assert!(
            c.wait_for_log(&c.workers[0], "result dropped", Duration::from_secs(40)).await,
            "the returning worker's late result reached Redis after the job and was dropped"
        );
        assert_clean(&c).await;
        let again = inv.run(&["run", "d", "--string", q, "--json"], &[LOST]).await;
        assert_eq!((again.code, answer(&again.json)), (Some(0), want), "the returning worker serves again");
        let what = match away {
            Away::CutOff => "disconnected",
            Away::Frozen => "paused",
        };
        eprintln!(
            "figure: worker {what} mid-job: job done {:.2} s after it went (total {:.2} s, retries {})",
            recovered.as_secs_f64(),
            o.took.as_secs_f64(),
            o.json["stats"]["retries"]
        );
    })
}

#[test]
fn a_worker_cut_off_mid_job_is_replaced_and_its_late_result_is_not_counted() {
    worker_taken_away_mid_job(Away::CutOff, AGGS);
}

#[test]
fn a_worker_frozen_past_the_heartbeat_timeout_is_replaced_then_thaws_harmlessly() {
    worker_taken_away_mid_job(Away::Frozen, FUNNEL);
}

/// No worker may serve a part from its caches: every task downloads.
const NO_CACHE: [(&str, &str); 2] =
    [("FROCKET_WORKER_DISK_CACHE_SIZE_MB", "0"), ("FROCKET_WORKER_MEMORY_CACHE_SIZE_MB", "0")];

#[test]
fn s3_unreachable_for_a_while_is_retried_to_the_exact_answer() {
    container_test(|images| async move {
        let (c, inv, dir, _d) = cluster(&images, &NO_CACHE).await;
        let want = embedded(&dir, AGGS);
        c.disconnect(&c.s3).await;
        // Downloads fail fast while S3's name does not resolve; the SDK's backoff (full jitter)
        // may be short, so allow the invoker a few more attempts than its default 3 to span
        // the 3 s outage.
        let job = inv.spawn_query(AGGS, &[LOST, ("FROCKET_INVOKER_RETRY_MAX_ATTEMPTS", "6")]);
        tokio::time::sleep(Duration::from_secs(3)).await;
        let back = Instant::now();
        c.connect(&c.s3).await;
        let o = job.await.unwrap();
        assert_eq!(o.code, Some(0), "{}", o.json);
        assert_eq!(answer(&o.json), want);
        assert_clean(&c).await;
        eprintln!(
            "figure: S3 unreachable for 3 s: job done {:.2} s after S3 came back (total {:.2} s, retries {})",
            back.elapsed().as_secs_f64(),
            o.took.as_secs_f64(),
            o.json["stats"]["retries"]
        );
    });
}

#[test]
fn s3_gone_for_good_fails_the_job_naming_the_part() {
    container_test(|images| async move {
        let (c, inv, _dir, _d) = cluster(&images, &NO_CACHE).await;
        c.disconnect(&c.s3).await;
        let o = inv.run(&["run", "d", "--string", AGGS, "--json"], &[LOST]).await;
        assert_eq!(o.code, Some(1), "{}", o.json);
        let msg = o.json["errorMessage"].as_str().unwrap_or_default().to_string();
        assert!(msg.contains("s3://frocket-e2e/ds/") && msg.contains(".parquet"), "names the part: {msg}");
        assert!(o.took < Duration::from_secs(80), "fails, does not hang: {:?}", o.took);
        assert_clean(&c).await;
        eprintln!("figure: S3 gone for good: failed after {:.2} s: {msg}", o.took.as_secs_f64());
    });
}

#[test]
fn redis_stopped_and_started_mid_job_completes_exactly_or_fails_clearly() {
    container_test(|images| async move {
        let (c, inv, dir, _d) = cluster(&images, &[("FROCKET_WORKER_DEBUG_DELAY_MS", "1000")]).await;
        let want = embedded(&dir, FUNNEL);
        let job = inv.spawn_query(FUNNEL, &[LOST]);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let stopped = Instant::now();
        c.redis.stop().await.expect("stop Redis");
        tokio::time::sleep(Duration::from_secs(2)).await;
        c.redis.start().await.expect("start Redis");
        let o = job.await.unwrap();
        eprintln!(
            "figure: Redis stopped 2 s mid-job: exit {:?} {:.2} s after the stop: {}",
            o.code,
            stopped.elapsed().as_secs_f64(),
            o.json.get("errorMessage").unwrap_or(&json!(null))
        );
        match o.code {
            Some(0) => assert_eq!(answer(&o.json), want, "completed: exact, nothing double-counted"),
            Some(1) => assert!(o.json["errorMessage"].as_str().is_some_and(|m| !m.is_empty()), "{}", o.json),
            other => panic!("unexpected exit {other:?}: {}", o.json),
        }
        // Redis kept the registration (append-only file); the workers reconnected by themselves.
        let again = inv.run(&["run", "d", "--string", FUNNEL, "--json"], &[LOST]).await;
        assert_eq!((again.code, answer(&again.json)), (Some(0), want), "served again after the restart");
        assert_clean(&c).await;
    });
}

#[test]
fn a_worker_killed_while_downloading_is_replaced_and_the_answer_is_exact() {
    container_test(|images| async move {
        let (c, inv, dir, _d) = cluster(&images, &NO_CACHE).await;
        let want = embedded(&dir, AGGS);
        // S3 frozen: every worker that takes a task hangs in its download.
        c.s3.pause().await.expect("pause S3");
        let job = inv.spawn_query(AGGS, &[LOST]);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let killed = Instant::now();
        c.kill(&c.workers[0]).await;
        c.s3.unpause().await.expect("unpause S3");
        let o = job.await.unwrap();
        assert_eq!(o.code, Some(0), "{}", o.json);
        assert_eq!(answer(&o.json), want);
        assert!(o.json["stats"]["retries"].as_u64().unwrap() >= 1, "{}", o.json["stats"]);
        assert_clean(&c).await;
        eprintln!(
            "figure: worker killed while downloading: job done {:.2} s after the kill (retries {})",
            killed.elapsed().as_secs_f64(),
            o.json["stats"]["retries"]
        );
    });
}
