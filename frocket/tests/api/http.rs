//! The API over real sockets in every execution mode, two servers on one Redis, SIGTERM while a
//! job runs, and Redis going away.

use crate::*;
use integration_tests::RedisServer;
use integration_tests::lambda_stack::{FUNCTION, LambdaSetup, LambdaStack};
use serde_json::json;
use std::time::Instant;

/// Registers the fixture through `server` and checks the funnel, whole and streamed.
async fn register_and_check(server: &Server, dirs: &Dirs) {
    let c = client();
    let (s, v) = post_json(&c, &server.at("/datasets/register"), &dirs.register_body("shop").to_string()).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = post_json(&c, &server.at("/datasets/shop/query"), FUNNEL).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(steps(&v), vec![5, 3, 1]);
    let by_country: Vec<Value> =
        v["funnel"]["sequence"].as_array().unwrap().iter().map(|s| s["aggregations"][0]["value"].clone()).collect();
    assert_eq!(by_country, vec![json!({"us": 2, "de": 2, "fr": 1}), json!({"us": 2, "fr": 1}), json!({"us": 1})]);
    // Streamed: chunked NDJSON, progress then the same answer.
    let r = c.post(server.at("/datasets/shop/query?stream=true")).body(FUNNEL).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let text = r.text().await.unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["stage"], json!("STARTING"));
    assert!(lines[1..lines.len() - 1].iter().all(|l| l["total"] == json!(2)), "{text}");
    let last = lines.last().unwrap();
    assert_eq!(last["funnel"], v["funnel"]);
}

#[tokio::test]
async fn embedded_mode() {
    let dirs = Dirs::fixture();
    let root = dirs.data().display().to_string();
    let server = Server::start(&dirs.home("home"), &["--allow-root", &root], &[]);
    register_and_check(&server, &dirs).await;
    let (s, h) = get_json(&client(), &server.at("/healthz")).await;
    assert_eq!(s, 200);
    assert!(h["mode"].as_str().unwrap().starts_with("embedded"), "{h}");
}

#[tokio::test]
async fn queue_mode_and_two_servers_on_one_redis() {
    let dirs = Dirs::fixture();
    let redis = RedisServer::start();
    let url = redis.url();
    let root = dirs.data().display().to_string();
    let env = [("FROCKET_REDIS_URL", url.as_str()), ("FROCKET_UNREGISTER_LAST_USED_INTERVAL", "300")];
    let _w1 = Worker::start(&dirs.home("w1"), &url);
    let _w2 = Worker::start(&dirs.home("w2"), &url);
    let a = Server::start(&dirs.home("a"), &["--allow-root", &root], &env);
    let b = Server::start(&dirs.home("b"), &["--allow-root", &root], &env);
    register_and_check(&a, &dirs).await;
    // B holds no state of its own: it sees A's registration and runs the same query.
    let c = client();
    let (s, list) = get_json(&c, &b.at("/datasets")).await;
    assert_eq!((s, list[0]["id"]["name"].clone()), (200, json!("shop")));
    let (s, v) = post_json(&c, &b.at("/datasets/shop/query"), FUNNEL).await;
    assert_eq!((s, steps(&v)), (200, vec![5, 3, 1]));
    // The last use recorded through B refuses an unregister through A.
    let r = c.post(a.at("/datasets/shop/unregister")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 409);
    let r = c.post(b.at("/datasets/shop/unregister?force=true")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (s, list) = get_json(&c, &a.at("/datasets")).await;
    assert_eq!((s, list), (200, json!([])));
    let (s, v) = post_json(&c, &a.at("/datasets/shop/query"), FUNNEL).await;
    assert_eq!((s, v["errors"][0]["kind"].clone()), (404, json!("DATASET_NOT_FOUND")));
}

#[tokio::test]
async fn lambda_mode() {
    let dirs = Dirs::fixture();
    let stack = LambdaStack::start(LambdaSetup::default()).await;
    let url = stack.redis_server.url();
    let root = dirs.data().display().to_string();
    let env = [
        ("FROCKET_REDIS_URL", url.as_str()),
        ("FROCKET_INVOKER", "aws_lambda"),
        ("FROCKET_LAMBDA_NAME", FUNCTION),
        ("FROCKET_LAMBDA_ENDPOINT_URL", stack.emulator.endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "emulator"),
        ("AWS_SECRET_ACCESS_KEY", "emulator"),
    ];
    let server = Server::start(&dirs.home("home"), &["--allow-root", &root], &env);
    register_and_check(&server, &dirs).await;
    let st = stack.emulator.stats(FUNCTION);
    assert!(st.invocations >= 4, "the tasks ran as Lambda invocations: {st:?}");
    let (_, v) = post_json(&client(), &server.at("/datasets/shop/query"), FUNNEL).await;
    assert!(v["stats"]["cost"].as_f64().is_some_and(|c| c > 0.0), "Lambda jobs report their cost: {}", v["stats"]);
}

#[tokio::test]
async fn sigterm_finishes_running_jobs_then_exits() {
    let dirs = Dirs::fixture();
    let redis = RedisServer::start();
    let url = redis.url();
    let root = dirs.data().display().to_string();
    let mut server = Server::start(&dirs.home("a"), &["--allow-root", &root], &[("FROCKET_REDIS_URL", url.as_str())]);
    let c = client();
    {
        let _w = Worker::start(&dirs.home("w"), &url);
        let (s, v) = post_json(&c, &server.at("/datasets/register"), &dirs.register_body("shop").to_string()).await;
        assert_eq!(s, 200, "{v}");
    }
    // No worker now: the query waits in the queue.
    let q = tokio::spawn({
        let (c, u) = (c.clone(), server.at("/datasets/shop/query"));
        async move { post_json(&c, &u, FUNNEL).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.terminate();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(server.child.try_wait().unwrap().is_none(), "still running: a job is in flight");
    assert!(c.get(server.at("/healthz")).send().await.is_err(), "no new connections after SIGTERM");
    assert!(!q.is_finished());
    let _w = Worker::start(&dirs.home("w2"), &url);
    let (s, v) = q.await.unwrap();
    assert_eq!((s, steps(&v)), (200, vec![5, 3, 1]), "{v}");
    let t = Instant::now();
    let status = loop {
        if let Some(st) = server.child.try_wait().unwrap() {
            break st;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "the server exits once its job is done");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn redis_unreachable_is_503_and_recovers() {
    let dirs = Dirs::fixture();
    let redis = RedisServer::start();
    let url = redis.url();
    let server = Server::start(&dirs.home("a"), &[], &[("FROCKET_REDIS_URL", url.as_str())]);
    let c = client();
    assert_eq!(get_json(&c, &server.at("/datasets")).await.0, 200);
    redis.stop();
    let (s, v) = get_json(&c, &server.at("/datasets")).await;
    assert_eq!((s, v["errors"][0]["kind"].clone()), (503, json!("STORAGE")), "{v}");
    let (s, v) = post_json(&c, &server.at("/datasets/shop/query"), FUNNEL).await;
    assert_eq!(s, 503, "{v}");
    let (s, h) = get_json(&c, &server.at("/healthz")).await;
    assert_eq!((s, h["status"].clone()), (503, json!("unavailable")));
    redis.restart();
    let t = Instant::now();
    while get_json(&c, &server.at("/datasets")).await.0 != 200 {
        assert!(t.elapsed() < Duration::from_secs(15), "the server reconnects to Redis");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn bad_serve_options_are_usage_errors() {
    let dirs = Dirs::fixture();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_frocket"));
        cmd.arg("serve").args(args).env("FROCKET_HOME", dirs.home("h")).env_remove("FROCKET_API_ADMIN_TOKEN");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    for (args, env, needle) in [
        (vec!["--allow-root", "/no/such/dir"], vec![], "--allow-root"),
        (vec!["--max-jobs", "0"], vec![], "--max-jobs"),
        (vec!["--bind", "127.0.0.1:0"], vec![("FROCKET_API_ADMIN_TOKEN", "short")], "at least 16"),
        (vec!["--bind", "not-an-address"], vec![], "listen on"),
    ] {
        let o = run(&args, &env);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("short\n") || needle != "at least 16", "the token is not printed");
    }
}

/// `frocket serve` as a Lambda function behind a function URL: the emulator runs the real
/// binary (through a one-line bootstrap script) as its instances and hands it function-URL
/// events (payload format 2.0) synchronously; the same router answers.
#[tokio::test]
async fn as_a_lambda_function_behind_a_function_url() {
    use integration_tests::lambda_emulator::{FunctionSpec, LambdaEmulator};
    let dirs = Dirs::fixture();
    let bootstrap = dirs.tmp.path().join("bootstrap");
    std::fs::write(
        &bootstrap,
        format!("#!/bin/sh\nexec {} serve --allow-root {}\n", env!("CARGO_BIN_EXE_frocket"), dirs.data().display()),
    )
    .unwrap();
    std::fs::set_permissions(&bootstrap, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let emulator = LambdaEmulator::start().await;
    let mut spec = FunctionSpec::new("frocket-api", bootstrap);
    spec.concurrency = 1;
    spec.env = vec![("FROCKET_HOME".into(), dirs.home("api").display().to_string())];
    emulator.deploy(spec);
    let c = client();
    let call = |method: &str, path: &str, body: Option<String>| {
        let (raw_path, query) = path.split_once('?').unwrap_or((path, ""));
        json!({
            "version": "2.0", "routeKey": "$default", "rawPath": raw_path, "rawQueryString": query,
            "headers": {"content-type": "application/json", "host": "abc.lambda-url.us-east-1.on.aws"},
            "requestContext": {"accountId": "123456789012", "apiId": "abc", "domainName": "abc.lambda-url.us-east-1.on.aws",
                "domainPrefix": "abc", "requestId": "r1", "routeKey": "$default", "stage": "$default",
                "time": "01/Dec/2026:00:00:00 +0000", "timeEpoch": 0,
                "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"}},
            "body": body, "isBase64Encoded": false
        })
    };
    let invoke = |event: Value| {
        let (c, url) = (c.clone(), format!("{}/2015-03-31/functions/frocket-api/invocations", emulator.endpoint));
        async move {
            let r = c.post(url).body(event.to_string()).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 200);
            let v: Value = r.json().await.unwrap();
            let status = v["statusCode"].as_u64().unwrap_or_else(|| panic!("not an HTTP response: {v}"));
            let body: Value = serde_json::from_str(v["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null);
            (status, body)
        }
    };
    let (s, v) = invoke(call("POST", "/datasets/register", Some(dirs.register_body("shop").to_string()))).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = invoke(call("POST", "/datasets/shop/query", Some(FUNNEL.to_string()))).await;
    assert_eq!((s, steps(&v)), (200, vec![5, 3, 1]), "{v}");
    let (s, v) = invoke(call("GET", "/datasets/nope/schema", None)).await;
    assert_eq!((s, v["errors"][0]["kind"].clone()), (404, json!("DATASET_NOT_FOUND")));
    let (s, v) = invoke(call(
        "POST",
        "/queries/validate?dataset=shop",
        Some(r#"{"query": {"conditions": [{"filter": ["nope", "==", 1]}]}}"#.into()),
    ))
    .await;
    assert_eq!((s, v["errors"][0]["path"].clone()), (400, json!("query.conditions[0].filter[0]")));
}
