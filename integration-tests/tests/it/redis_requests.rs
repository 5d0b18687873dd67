//! The request keys' lifecycle against a real `redis-server`: workers write statuses and
//! results only while the request lives, so a late attempt cannot resurrect an ended job's keys
//! (storage/src/redis.rs; the container suite cuts a worker off to make this happen for real).

use integration_tests::RedisServer;
use protocol::task::{AttemptReport, AttemptStatus};
use std::time::Duration;
use storage::redis::{RedisConfig, RedisStore};

fn report(status: AttemptStatus) -> AttemptReport {
    AttemptReport { status, time: 1.0, worker: "w".into() }
}

#[tokio::test]
async fn workers_write_only_to_live_requests() {
    let server = RedisServer::start();
    let redis = RedisStore::connect(&RedisConfig {
        url: server.url(),
        prefix: "t:".into(),
        request_ttl: Duration::from_secs(60),
    })
    .await
    .unwrap();
    // Nothing dispatched yet: a worker's writes are refused and create nothing.
    assert!(!redis.report_status("r1", 0, 0, &report(AttemptStatus::Running)).await.unwrap());
    assert!(!redis.push_result("r1", 0, 0, &report(AttemptStatus::EndedSuccess), "{}").await.unwrap());
    assert!(redis.keys("*").await.unwrap().is_empty());

    // The invoker queues the attempt: now the worker's heartbeat and result land.
    redis.set_status("r1", 0, 0, &report(AttemptStatus::Queued)).await.unwrap();
    assert!(redis.report_status("r1", 0, 0, &report(AttemptStatus::Running)).await.unwrap());
    assert_eq!(redis.statuses_of("r1", 0, 0).await.unwrap().unwrap().status, AttemptStatus::Running);
    assert!(redis.push_result("r1", 0, 0, &report(AttemptStatus::EndedSuccess), "{\"x\":1}").await.unwrap());
    assert_eq!(redis.statuses_of("r1", 0, 0).await.unwrap().unwrap().status, AttemptStatus::EndedSuccess);
    let mut con = redis.blocking_connection().await.unwrap();
    assert_eq!(redis.pop_result(&mut con, "r1", Duration::from_secs(1)).await.unwrap().as_deref(), Some("{\"x\":1}"));

    // The job ends: a late attempt's heartbeat and result are dropped, nothing comes back.
    redis.delete_request("r1").await.unwrap();
    assert!(!redis.report_status("r1", 0, 1, &report(AttemptStatus::Running)).await.unwrap());
    assert!(!redis.push_result("r1", 0, 1, &report(AttemptStatus::EndedSuccess), "{}").await.unwrap());
    assert!(redis.keys("*").await.unwrap().is_empty(), "{:?}", redis.keys("*").await.unwrap());
}

/// A transport that hands attempts to nobody: the test plays the workers.
struct Nobody;

#[async_trait::async_trait]
impl invoker::redis_tasks::Dispatch for Nobody {
    async fn send(&self, _env: &protocol::task::TaskEnvelope, _payload: &str) -> Result<(), protocol::task::TaskError> {
        Ok(())
    }
    fn describe(&self) -> String {
        "nobody".into()
    }
}

fn request(attempt: u32) -> protocol::task::QueryTaskRequest {
    serde_json::from_value(serde_json::json!({
        "requestId": "r2", "invokeTime": 0.0, "attemptNo": attempt, "taskIndex": 0,
        "part": {"datasetId": {"name": "d", "registeredAt": "2026-12-01T00:00:00.000000Z"}, "path": "/p", "partIdx": 0},
        "groupIdColumn": "g", "timestampColumn": "t", "usedColumns": ["g", "t"], "query": {}
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_failure_of_a_lost_attempt_does_not_answer_the_current_one() {
    use invoker::TaskExecutor;
    use protocol::result::PartialResult;
    use protocol::task::{QueryTaskResult, ResultEnvelope, TaskError, TaskMetrics};
    let server = RedisServer::start();
    let cfg = RedisConfig { url: server.url(), prefix: "t:".into(), request_ttl: Duration::from_secs(60) };
    let redis = RedisStore::connect(&cfg).await.unwrap();
    let exec = invoker::redis_tasks::RedisExecutor::new(redis.clone(), Nobody, Duration::from_secs(30));
    let current = request(1);
    let waiting = tokio::spawn({
        let req = current.clone();
        async move { exec.run_query(req).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let publish = |attempt: u32, outcome: Result<PartialResult, TaskError>| {
        let (redis, req) = (redis.clone(), request(attempt));
        async move {
            let env = ResultEnvelope::Query(QueryTaskResult::for_request(&req.header, outcome, TaskMetrics::default()));
            let status = report(if env.ids().2 { AttemptStatus::EndedSuccess } else { AttemptStatus::EndedFailed });
            assert!(redis.push_result("r2", 0, attempt, &status, &serde_json::to_string(&env).unwrap()).await.unwrap());
        }
    };
    // Attempt 0 (declared lost earlier) fails late: attempt 1 is still running, so its waiter
    // must go on waiting ...
    publish(0, Err(TaskError { message: "S3 unreachable".into(), retryable: true })).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!waiting.is_finished(), "a stale failure answered the current attempt");
    // ... and its own result answers it.
    let ok = PartialResult {
        matching_groups: 7,
        matching_group_rows: 9,
        aggregations: None,
        funnel: None,
        scanned_rows: 9,
        scanned_groups: 7,
    };
    publish(1, Ok(ok.clone())).await;
    let got = tokio::time::timeout(Duration::from_secs(10), waiting).await.unwrap().unwrap();
    assert_eq!((got.attempt_no, got.outcome.unwrap()), (1, ok));
}
