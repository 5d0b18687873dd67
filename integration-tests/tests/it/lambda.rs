//! Lambda mode end to end: the real `aws-sdk-lambda` client → the Lambda emulator → real
//! `frocket-lambda` worker processes → a real Redis → merged results identical to embedded
//! mode; and the faults of the Lambda path (docs/lambda.md, docs/reliability.md).

use integration_tests::lambda_stack::{FUNCTION, LambdaSetup, LambdaStack};
use integration_tests::{S3Server, Stack, answer, synth_dataset};
use invoker::{RegisterArgs, ValidationMode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn queries() -> Vec<Value> {
    vec![
        json!({}),
        json!({"query": {"conditions": [{"filter": ["event", "==", "transaction"], "target": ["count", ">=", 2]}],
            "aggregations": [{"column": "categoryid", "type": "groupsPerValue", "top": 5}, {"column": "event", "type": "sumPerValue", "otherColumn": "price"}]}}),
        json!({"query": {"conditions": [{"sequence": [{"filter": ["event", "==", "view"]}, {"filter": ["event", "==", "addtocart"]},
            {"filter": ["event", "==", "transaction"]}], "maxDuration": 3600}]},
            "funnel": {"sequence": [{"filter": ["event", "==", "view"]}, {"filter": ["event", "==", "addtocart"]}, {"filter": ["event", "==", "transaction"]}],
                "stepAggregations": [{"column": "event", "type": "countPerValue"}], "endAggregations": [{"column": "available"}]}}),
        json!({"logical_expr": "and", "conditions": [{"type": "mfilter", "relation": "&", "filters": [
            {"column": "event", "operator": "==", "target": "'transaction'"}, {"column": "price", "operator": ">=", "target": "100000"}],
            "evaluator": {"type": "size", "column": null}, "hitcount": {"target": 1, "operator": ">="}}]}),
    ]
}

fn json_of(r: &invoker::QueryJobResult) -> Value {
    serde_json::to_value(r).unwrap()
}

/// The function environment of an S3 dataset served by `s3`.
fn s3_env(s3: &S3Server) -> Vec<(String, String)> {
    vec![
        ("FROCKET_S3_ENDPOINT_URL".to_string(), s3.endpoint.clone()),
        ("AWS_ACCESS_KEY_ID".to_string(), "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY".to_string(), "testing".to_string()),
    ]
}

/// A Lambda stack whose function and invoker read S3 (`s3`), with the parts of `dir` uploaded to
/// `s3://{bucket}/retail`.
async fn s3_lambda_stack(s3: &S3Server, dir: &std::path::Path, bucket: &str, setup: LambdaSetup) -> LambdaStack {
    s3.create_bucket(bucket).await;
    s3.upload_dir(dir, bucket, "retail").await;
    let mut env = s3_env(s3);
    env.extend(setup.env.iter().cloned());
    let mut lam = LambdaStack::start(LambdaSetup { env, ..setup }).await;
    lam.stores = storage::Stores::with_s3(Arc::new(s3.store().await));
    lam
}

/// A local 4-part synthetic dataset registered in an embedded stack (the expected answers).
async fn embedded_reference(dir: &std::path::Path) -> (Stack, RegisterArgs) {
    synth_dataset(dir, 20_000, 4);
    let local = Stack::new(None);
    let mut args = RegisterArgs::new("retail", &dir.display().to_string(), "visitorid", "timestamp");
    args.validation = ValidationMode::FirstLast;
    local.register(&args).await.unwrap();
    (local, args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lambda_mode_gives_the_embedded_results_on_local_and_s3_datasets() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("retail");
    let (local, mut args) = embedded_reference(&dir).await;
    let s3 = S3Server::start();
    let lam = s3_lambda_stack(&s3, &dir, "frocket-data", LambdaSetup::default()).await;
    let reg = lam.register(&args).await.expect("register through Lambda");
    assert_eq!(reg.validated_parts, vec![0, 3]);
    args.name = "retail-s3".into();
    args.basepath = "s3://frocket-data/retail".into();
    lam.register(&args).await.expect("register an S3 dataset through Lambda");

    for q in queries() {
        let want = answer(&local.query("retail", &q).await.unwrap());
        for name in ["retail", "retail-s3"] {
            let got = lam.query(name, &q).await.unwrap_or_else(|e| panic!("{name} {q}: {e}"));
            assert_eq!(answer(&json_of(&got)), want, "{name}: {q}");
            let l = got.stats.worker.lambda.as_ref().expect("Lambda usage in the stats");
            assert_eq!(l.invocations, 4, "one invocation per part");
            assert!(got.stats.cost.is_some_and(|c| c > 0.0), "an estimated cost: {:?}", got.stats.cost);
        }
    }
    // By now every instance is warm.
    let again = lam.query("retail-s3", &json!({})).await.unwrap();
    assert_eq!(again.stats.worker.lambda.as_ref().unwrap().cold_starts, 0, "{:?}", again.stats);
    let st = lam.emulator.stats(FUNCTION);
    assert!(st.cold_starts <= st.instances_started && st.instances_started <= 4, "{st:?}");
    assert!(st.invocations > st.instances_started, "instances were reused: {st:?}");
    // One JSON log line per task, with the request id.
    let logs = lam.emulator.logs(FUNCTION);
    let line = logs.lines().find(|l| l.contains(&again.request_id)).expect("a log line of the last job");
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
    assert_eq!(v["message"], json!("task done"));
    assert!(v["billed_ms"].as_u64().is_some() && v["load_from"].is_string(), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn warm_instances_keep_their_disk_and_memory_caches() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("retail");
    let (local, mut args) = embedded_reference(&dir).await;
    let s3 = S3Server::start();
    // One instance: it serves every part, so what it cached is known.
    let lam = s3_lambda_stack(&s3, &dir, "warm", LambdaSetup { concurrency: 1, ..LambdaSetup::default() }).await;
    args.basepath = "s3://warm/retail".into();
    lam.register(&args).await.unwrap();
    let want = answer(&local.query("retail", &json!({})).await.unwrap());
    let first = lam.query("retail", &json!({})).await.unwrap();
    let second = lam.query("retail", &json!({})).await.unwrap();
    for r in [&first, &second] {
        assert_eq!(answer(&json_of(r)), want);
    }
    // Registration was the instance's cold start and downloaded the two validated parts.
    let (c1, c2) = (first.stats.worker.cache, second.stats.worker.cache);
    assert_eq!((c1.source, c1.disk_cache, c1.memory_cache), (2, 2, 0), "{c1:?}");
    assert_eq!((c2.source, c2.disk_cache, c2.memory_cache), (0, 0, 4), "{c2:?}");
    assert_eq!(first.stats.worker.lambda.as_ref().unwrap().cold_starts, 0);
    let st = lam.emulator.stats(FUNCTION);
    assert_eq!((st.instances_started, st.cold_starts, st.invocations), (1, 1, 10), "{st:?}");
    // Self-selection (FROCKET_PART_SELECTION_MODE=worker): each invocation takes a part its
    // instance has cached, from the request's published part set.
    let selecting = invoker::lambda::LambdaExecutor::on_lambda(
        lam.redis.clone(),
        lam.lambda_config.clone(),
        Duration::from_secs(5),
    )
    .await
    .with_self_selection(true);
    let third = invoker::run_query_job(&lam.redis, &selecting, "retail", &json!({}), &lam.opts, None).await.unwrap();
    assert_eq!(answer(&json_of(&third)), want);
    let chosen: Vec<_> = third.stats.worker.part_selection.into_iter().collect();
    assert_eq!(chosen, [(protocol::task::PartSelection::SpecificCandidate, 4)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_instance_killed_mid_invocation_loses_its_task_which_is_retried_exactly() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("retail");
    let (local, args) = embedded_reference(&dir).await;
    let setup = LambdaSetup {
        env: vec![("FROCKET_WORKER_DEBUG_DELAY_MS".into(), "1500".into())],
        lost_after: Duration::from_secs(2),
        ..LambdaSetup::default()
    };
    let lam = LambdaStack::start(setup).await;
    lam.register(&args).await.unwrap();
    let q = &queries()[1];
    let want = answer(&local.query("retail", q).await.unwrap());
    let t0 = Instant::now();
    let job = lam.query("retail", q);
    let killer = async {
        while !lam.emulator.kill_busy_instance(FUNCTION) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (got, ()) = tokio::join!(job, killer);
    let got = got.expect("the job recovers from the lost invocation");
    assert_eq!(answer(&json_of(&got)), want);
    assert!(got.stats.retries >= 1, "{:?}", got.stats);
    assert!(lam.emulator.stats(FUNCTION).lost >= 1);
    eprintln!("figure: Lambda instance killed mid-task: recovered in {:.2} s", t0.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn throttled_invokes_back_off_and_succeed_within_a_bounded_delay() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("retail");
    let (local, args) = embedded_reference(&dir).await;
    let lam = LambdaStack::start(LambdaSetup { throttle_first: 6, ..LambdaSetup::default() }).await;
    let t0 = Instant::now();
    lam.register(&args).await.expect("registration gets through the throttling");
    let got = lam.query("retail", &json!({})).await.unwrap();
    let elapsed = t0.elapsed();
    assert_eq!(answer(&json_of(&got)), answer(&local.query("retail", &json!({})).await.unwrap()));
    let st = lam.emulator.stats(FUNCTION);
    assert_eq!(st.throttled, 6, "{st:?}");
    assert_eq!(got.stats.retries, 0, "throttling is retried by the dispatcher, not as task retries");
    // 6 throttled calls spread over the first attempts: each backoff is at most 2 s.
    assert!(elapsed < Duration::from_secs(15), "bounded delay: {elapsed:?}");
    eprintln!("figure: 6 throttled invokes: registration + query in {:.2} s", elapsed.as_secs_f64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_panicking_task_is_a_retryable_failure_then_a_clear_job_error() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("retail");
    let (local, args) = embedded_reference(&dir).await;
    // First attempts panic: every task is retried once and the answer is exact.
    let once = LambdaStack::start(LambdaSetup {
        env: vec![("FROCKET_WORKER_DEBUG_PANIC_ATTEMPTS".into(), "1".into())],
        ..LambdaSetup::default()
    })
    .await;
    once.register(&args).await.expect("registration retries the panicked attempts");
    let got = once.query("retail", &queries()[2]).await.unwrap();
    assert_eq!(answer(&json_of(&got)), answer(&local.query("retail", &queries()[2]).await.unwrap()));
    assert_eq!((got.stats.retries, got.stats.invoker.failed_tasks), (4, 4), "{:?}", got.stats);
    // Every attempt panics: the job fails after max attempts, saying why.
    let always = LambdaStack::start(LambdaSetup {
        env: vec![("FROCKET_WORKER_DEBUG_PANIC_ATTEMPTS".into(), "99".into())],
        max_attempts: 2,
        ..LambdaSetup::default()
    })
    .await;
    let e = always.register(&args).await.unwrap_err().to_string();
    assert!(e.contains("panicked") && e.contains("part-00000.parquet"), "{e}");
    let st = always.emulator.stats(FUNCTION);
    assert_eq!(st.invocations, 4, "2 validated parts × 2 attempts: {st:?}");
    assert_eq!(st.lost, 0, "a panic is reported, not a lost invocation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stale_request_is_rejected_unrun_and_an_undecodable_one_is_a_function_error() {
    use protocol::task::{AttemptStatus, DatasetPartId, RegistrationTaskRequest, TaskEnvelope, TaskHeader};
    let lam = LambdaStack::start(LambdaSetup {
        env: vec![("FROCKET_WORKER_REJECT_AGE".into(), "5".into())],
        ..LambdaSetup::default()
    })
    .await;
    let header = TaskHeader {
        request_id: "1-stale".into(),
        invoke_time: storage::clock::unix_now() - 60.0,
        attempt_no: 0,
        task_index: 0,
        part: DatasetPartId {
            dataset_id: protocol::dataset::DatasetId { name: "d".into(), registered_at: "t".into() },
            path: "/nonexistent/part.parquet".into(),
            part_idx: 0,
        },
        group_id_column: "u".into(),
        timestamp_column: "ts".into(),
    };
    let env = TaskEnvelope::Registration(RegistrationTaskRequest { header, return_group_ids: false });
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_lambda::config::Credentials::new("t", "t", None, None, "test"))
        .load()
        .await;
    let client = aws_sdk_lambda::Client::from_conf(
        aws_sdk_lambda::config::Builder::from(&sdk).endpoint_url(&lam.emulator.endpoint).build(),
    );
    // As an invoker does before dispatching (workers write only to live requests).
    let queued = protocol::task::AttemptReport { status: AttemptStatus::Queued, time: 0.0, worker: String::new() };
    lam.redis.set_status("1-stale", 0, 0, &queued).await.unwrap();
    // Synchronously, to read the function's answer too.
    let out = client
        .invoke()
        .function_name(FUNCTION)
        .payload(aws_sdk_lambda::primitives::Blob::new(serde_json::to_vec(&env).unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 200);
    assert_eq!(out.function_error(), None);
    let body: Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert_eq!(body["outcome"], json!("rejected"), "{body}");
    let status = lam.redis.statuses_of("1-stale", 0, 0).await.unwrap().expect("a status was recorded");
    assert_eq!(status.status, AttemptStatus::Rejected);
    assert!(status.worker.starts_with("lambda:frocket:"), "{}", status.worker);
    // Not a task envelope: the function fails (synchronous callers see X-Amz-Function-Error).
    let out = client
        .invoke()
        .function_name(FUNCTION)
        .payload(aws_sdk_lambda::primitives::Blob::new(br#"{"hello": "world"}"#.to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!((out.status_code(), out.function_error()), (200, Some("Unhandled")));
    let body: Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert!(body["errorMessage"].as_str().unwrap_or("").contains("undecodable task envelope"), "{body}");
    let st = lam.emulator.stats(FUNCTION);
    assert_eq!((st.responses, st.function_errors, st.lost), (1, 1, 0), "{st:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_restarted_mid_job_fails_cleanly_or_completes_exactly() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("retail");
    let (local, args) = embedded_reference(&dir).await;
    let lam = LambdaStack::start(LambdaSetup {
        env: vec![("FROCKET_WORKER_DEBUG_DELAY_MS".into(), "1000".into())],
        lost_after: Duration::from_secs(3),
        timeout: Duration::from_secs(30),
        ..LambdaSetup::default()
    })
    .await;
    lam.register(&args).await.unwrap();
    let want = answer(&local.query("retail", &json!({})).await.unwrap());
    let t0 = Instant::now();
    let empty = json!({});
    let (res, ()) = tokio::join!(lam.query("retail", &empty), async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        lam.redis_server.restart();
    });
    // The restart lost the dataset's metadata (no persistence) and the request's keys: the job
    // either completes with the exact answer or fails with a clear error — never a wrong answer.
    let outcome = match res {
        Ok(r) => {
            assert_eq!(answer(&json_of(&r)), want);
            format!("completed exactly ({} retries)", r.stats.retries)
        }
        Err(e) => {
            let m = e.to_string();
            assert!(m.contains("lost") || m.contains("timed out") || m.contains("redis"), "{m}");
            format!("failed cleanly: {m}")
        }
    };
    eprintln!("figure: Redis restarted mid Lambda job: {outcome} in {:.2} s", t0.elapsed().as_secs_f64());
}
