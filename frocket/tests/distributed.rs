//! Distributed execution over a real `redis-server` with real `frocket worker` processes:
//! results equal embedded mode, nothing leaks, and faults (killed workers, no workers, Redis
//! restarts, lost-then-late attempts, bad parts, many concurrent invokers) end cleanly and
//! exactly. Figures are recorded in docs/reliability.md.

use integration_tests::RedisServer;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const FUNNEL: &str = include_str!("../queries/05-breakdown-funnel.json");
const AGGS: &str = r#"{"query": {"conditions": [{"filter": ["event", "==", "transaction"], "target": ["count", ">=", 2]}],
  "aggregations": [{"column": "categoryid", "type": "groupsPerValue", "top": 5}, {"column": "event", "type": "meanPerValue", "otherColumn": "price"}]}}"#;

struct Cluster {
    redis: RedisServer,
    home: tempfile::TempDir,
    data: tempfile::TempDir,
    workers: Vec<Child>,
}

impl Cluster {
    /// Redis, a 4-part dataset registered in it, and no workers yet.
    fn new() -> Cluster {
        let c = Cluster {
            redis: RedisServer::start(),
            home: tempfile::tempdir().unwrap(),
            data: tempfile::tempdir().unwrap(),
            workers: Vec::new(),
        };
        let cfg = dataprep::synth::SynthConfig { n_items: 2000, ..dataprep::synth::SynthConfig::new(20_000, 4) };
        dataprep::synth::generate_dataset(&cfg, &c.dir(), false).unwrap();
        c
    }

    fn dir(&self) -> PathBuf {
        self.data.path().join("ds")
    }

    fn cmd(&self, args: &[&str], extra: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_frocket"));
        cmd.args(args)
            .env("FROCKET_HOME", self.home.path())
            .env("FROCKET_REDIS_URL", self.redis.url())
            .env("FROCKET_INVOKER_RETRY_LOST_INTERVAL", "3")
            .env("FROCKET_INVOKER_RUN_TIMEOUT", "60");
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd
    }

    fn run(&self, args: &[&str], extra: &[(&str, &str)]) -> Output {
        self.cmd(args, extra).output().unwrap()
    }

    fn start_worker(&mut self, extra: &[(&str, &str)]) {
        let child = self.cmd(&["worker"], extra).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        self.workers.push(child);
    }

    /// Registers the dataset (needs a worker in queue mode), then stops every worker, so a test
    /// can start the workers it wants.
    fn register_then_stop_workers(&mut self) {
        self.start_worker(&[]);
        self.register();
        for mut w in self.workers.drain(..) {
            let _ = w.kill();
            let _ = w.wait();
        }
    }

    fn register(&self) {
        let o = self.run(&["register", "d", self.dir().to_str().unwrap(), "visitorid", "timestamp", "--json"], &[]);
        assert!(o.status.success(), "register: {}", String::from_utf8_lossy(&o.stdout));
    }

    fn query(&self, q: &str, extra: &[(&str, &str)]) -> (Option<i32>, Value) {
        let o = self.run(&["run", "d", "--string", q, "--json"], extra);
        (o.status.code(), serde_json::from_slice(&o.stdout).unwrap_or(Value::Null))
    }

    fn redis_keys(&self) -> Vec<String> {
        let o = Command::new("redis-cli").args(["-p", &self.redis.port.to_string(), "--scan"]).output().unwrap();
        String::from_utf8_lossy(&o.stdout).lines().map(String::from).collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for w in &mut self.workers {
            let _ = w.kill();
            let _ = w.wait();
        }
    }
}

/// The same query in embedded mode (no Redis), as the expected answer.
fn embedded(dir: &Path, q: &str) -> Value {
    integration_tests::embedded_answer(Path::new(env!("CARGO_BIN_EXE_frocket")), dir, q)
}

fn answer(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("stats");
        o.remove("requestId");
    }
    v
}

#[test]
fn two_workers_give_the_embedded_results_and_leave_no_request_keys() {
    let mut c = Cluster::new();
    c.start_worker(&[]);
    c.start_worker(&[]);
    c.register();
    for q in ["{}", FUNNEL, AGGS] {
        let (code, v) = c.query(q, &[]);
        assert_eq!(code, Some(0), "{v}");
        assert_eq!(answer(&v), embedded(&c.dir(), q), "query {q}");
        assert_eq!(v["stats"]["retries"], Value::from(0));
    }
    let mut keys = c.redis_keys();
    keys.sort();
    assert_eq!(keys, ["frocket:dataset_lastused", "frocket:datasets"], "request keys are deleted after each job");
}

#[test]
fn a_worker_killed_mid_task_is_replaced_and_the_result_is_identical() {
    let mut c = Cluster::new();
    c.register_then_stop_workers();
    // A slow worker, so that a task is surely running when it dies.
    c.start_worker(&[("FROCKET_WORKER_DEBUG_DELAY_MS", "60000")]);
    let runner = c.cmd(&["run", "d", "--string", FUNNEL, "--json"], &[]).stdout(Stdio::piped()).spawn().unwrap();
    // Wait until the slow worker reports a running task, then SIGKILL it.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let statuses: Vec<String> = c.redis_keys().into_iter().filter(|k| k.ends_with(":status")).collect();
        let running = statuses.iter().any(|k| {
            let o = Command::new("redis-cli").args(["-p", &c.redis.port.to_string(), "hgetall", k]).output().unwrap();
            String::from_utf8_lossy(&o.stdout).contains("RUNNING")
        });
        if running {
            break;
        }
        assert!(Instant::now() < deadline, "no task started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut slow = c.workers.remove(0);
    slow.kill().unwrap();
    slow.wait().unwrap();
    c.start_worker(&[]);
    let out = runner.wait_with_output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert!(v["stats"]["retries"].as_u64().unwrap() >= 1, "{}", v["stats"]);
    assert_eq!(answer(&v), embedded(&c.dir(), FUNNEL));
    eprintln!(
        "figure: killed worker: job {:.2} s, attempts {}, retries {}",
        v["stats"]["totalTime"].as_f64().unwrap(),
        v["stats"]["attempts"],
        v["stats"]["retries"]
    );
}

#[test]
fn with_no_workers_the_job_fails_with_a_clear_error() {
    let c = Cluster::new();
    // Register in embedded mode into the same Redis? No workers exist: registration itself
    // needs workers, so it must fail clearly too.
    let t = Instant::now();
    let o = c.run(
        &["register", "d", c.dir().to_str().unwrap(), "visitorid", "timestamp", "--json"],
        &[("FROCKET_INVOKER_RETRY_LOST_INTERVAL", "1"), ("FROCKET_INVOKER_RUN_TIMEOUT", "4")],
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(o.status.code(), Some(1), "{v}");
    let msg = v["errorMessage"].as_str().unwrap();
    assert!(msg.contains("no worker running") || msg.contains("timed out"), "{msg}");
    assert!(t.elapsed() < Duration::from_secs(20), "does not hang");
    eprintln!("figure: no workers: failed after {:.2} s: {msg}", t.elapsed().as_secs_f64());
}

#[test]
fn lost_attempts_that_finish_late_are_counted_once() {
    let mut c = Cluster::new();
    c.register_then_stop_workers();
    // Tasks take 1.5 s with no heartbeat in between (heartbeat every 10 s), the invoker
    // declares an attempt lost after 1 s: every task gets a retry, and both attempts succeed.
    for _ in 0..4 {
        c.start_worker(&[("FROCKET_WORKER_DEBUG_DELAY_MS", "1500"), ("FROCKET_WORKER_HEARTBEAT_INTERVAL", "10")]);
    }
    let (code, v) = c.query(AGGS, &[("FROCKET_INVOKER_RETRY_LOST_INTERVAL", "1")]);
    assert_eq!(code, Some(0), "{v}");
    assert!(v["stats"]["retries"].as_u64().unwrap() >= 1, "{}", v["stats"]);
    assert_eq!(answer(&v), embedded(&c.dir(), AGGS), "late duplicates are not merged");
    eprintln!("figure: lost-then-late: attempts {}, retries {}, exact", v["stats"]["attempts"], v["stats"]["retries"]);
}

#[test]
fn a_corrupt_part_fails_the_job_naming_it() {
    let mut c = Cluster::new();
    c.start_worker(&[]);
    c.register();
    std::fs::write(c.dir().join("part-00002.parquet"), b"garbage").unwrap();
    let (code, v) = c.query("{}", &[]);
    assert_eq!(code, Some(1), "{v}");
    assert!(v["errorMessage"].as_str().unwrap().contains("part-00002.parquet"), "{v}");
}

#[test]
fn redis_restarted_mid_job_fails_cleanly_or_completes_exactly() {
    let mut c = Cluster::new();
    c.register_then_stop_workers();
    let expected = embedded(&c.dir(), FUNNEL);
    c.start_worker(&[("FROCKET_WORKER_DEBUG_DELAY_MS", "700")]);
    let t = Instant::now();
    let runner = c
        .cmd(&["run", "d", "--string", FUNNEL, "--json"], &[("FROCKET_INVOKER_RUN_TIMEOUT", "20")])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    c.redis.restart();
    let out = runner.wait_with_output().unwrap();
    assert!(t.elapsed() < Duration::from_secs(40), "never hangs");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!(
        "figure: redis restart: exit {:?} after {:.2} s: {}",
        out.status.code(),
        t.elapsed().as_secs_f64(),
        v["errorMessage"]
    );
    match out.status.code() {
        Some(0) => assert_eq!(answer(&v), expected, "completed: exact, nothing double-counted"),
        Some(1) => assert!(v["errorMessage"].is_string(), "{v}"),
        other => panic!("unexpected exit {other:?}: {v}"),
    }
}

#[test]
fn twenty_concurrent_invokers_all_get_exact_results() {
    let mut c = Cluster::new();
    c.start_worker(&[]);
    c.start_worker(&[]);
    c.register();
    let queries = ["{}", FUNNEL, AGGS, r#"{"timeframe": {"from": 1431000000}}"#];
    let expected: Vec<Value> = queries.iter().map(|q| embedded(&c.dir(), q)).collect();
    let t = Instant::now();
    let runs: Vec<(usize, Child)> = (0..20)
        .map(|i| {
            (
                i % queries.len(),
                c.cmd(&["run", "d", "--string", queries[i % queries.len()], "--json"], &[])
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    for (qi, child) in runs {
        let out = child.wait_with_output().unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(out.status.code(), Some(0), "{v}");
        assert_eq!(answer(&v), expected[qi]);
    }
    eprintln!("figure: 20 concurrent invokers, 2 workers: all exact in {:.2} s", t.elapsed().as_secs_f64());
    let mut keys = c.redis_keys();
    keys.sort();
    assert_eq!(keys, ["frocket:dataset_lastused", "frocket:datasets"]);
}

#[test]
fn unreachable_redis_is_a_clear_error() {
    let home = tempfile::tempdir().unwrap();
    let port = integration_tests::free_port();
    let o = Command::new(env!("CARGO_BIN_EXE_frocket"))
        .args(["list"])
        .env("FROCKET_HOME", home.path())
        .env("FROCKET_REDIS_URL", format!("redis://:secret@127.0.0.1:{port}/0"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    // A service failure (exit 1), not a usage error: the command line was right.
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("connect to Redis") && !err.contains("secret"), "{err}");
    // `frocket config` needs no connection: it is how one debugs such a configuration.
    let o = Command::new(env!("CARGO_BIN_EXE_frocket"))
        .args(["config", "--json"])
        .env("FROCKET_HOME", home.path())
        .env("FROCKET_REDIS_URL", format!("redis://:secret@127.0.0.1:{port}/0"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["datastore"]["value"],
        serde_json::json!(format!("redis (redis://***@127.0.0.1:{port}/0, prefix 'frocket:')"))
    );
    assert!(!String::from_utf8_lossy(&o.stdout).contains("secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_self_select_the_parts_they_have_cached() {
    let s3 = integration_tests::S3Server::start();
    let mut c = Cluster::new();
    s3.create_bucket("selfsel").await;
    s3.upload_dir(&c.dir(), "selfsel", "ds").await;
    let s3env: Vec<(&str, String)> = vec![
        ("AWS_ENDPOINT_URL", s3.endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("FROCKET_PART_SELECTION_MODE", "worker".into()),
        ("FROCKET_PART_SELECTION_PREFLIGHT_MS", "300".into()),
    ];
    let env: Vec<(&str, &str)> = s3env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // Each worker has its own cache directory.
    let homes: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    for h in &homes {
        let mut w = c.cmd(&["worker"], &env);
        w.env("FROCKET_HOME", h.path());
        c.workers.push(w.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
    }
    let o = c.run(&["register", "d", "s3://selfsel/ds", "visitorid", "timestamp", "--json"], &env);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let expected = embedded(&c.dir(), AGGS);
    let (code, first) = c.query(AGGS, &env);
    assert_eq!(code, Some(0), "{first}");
    assert_eq!(answer(&first), expected);
    let (code, second) = c.query(AGGS, &env);
    assert_eq!(code, Some(0), "{second}");
    assert_eq!(answer(&second), expected, "self-selection never changes the answer");
    let sel = &second["stats"]["worker"]["partSelection"];
    let specific = sel["specific_candidate"].as_u64().unwrap_or(0);
    eprintln!("figure: self-selection, round 1: {}, round 2: {sel}", first["stats"]["worker"]["partSelection"]);
    assert!(specific >= 2, "warm workers pick their cached parts: {sel}");
    assert!(sel.get("random_no_candidates").is_none(), "every worker has cached parts by now: {sel}");
    let disk_hits = second["stats"]["worker"]["cache"]["diskCache"].as_u64().unwrap();
    assert!(
        disk_hits >= specific,
        "a specific candidate is read from the disk cache ({disk_hits} hits, {specific} specific)"
    );
}

/// A deployed stack's Redis asks for AUTH, with the token in Secrets Manager
/// (docs/deploy.md): with `FROCKET_REDIS_AUTH_SECRET_ARN` the CLI (and the Lambda worker,
/// through the same `Config::resolved_redis_config`) reads it — here from moto's Secrets
/// Manager — and gets in; without it, or with a missing secret, it fails clearly, and the
/// token never appears in what is printed.
#[test]
fn the_redis_auth_token_is_read_from_secrets_manager() {
    let token = "t0ken-from-the-secret-0123456789";
    let redis = integration_tests::RedisServer::start_requiring_password(token);
    let aws = integration_tests::S3Server::start();
    // CreateSecret through the service's JSON protocol (moto does not check signatures).
    let rt = tokio::runtime::Runtime::new().unwrap();
    let created: Value = rt.block_on(async {
        reqwest::Client::new()
            .post(&aws.endpoint)
            .header("X-Amz-Target", "secretsmanager.CreateSecret")
            .header("Content-Type", "application/x-amz-json-1.1")
            .header("Authorization", "AWS4-HMAC-SHA256 Credential=test/20261201/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=x")
            .body(serde_json::json!({"Name": "frocket/test/redis-auth", "SecretString": token}).to_string())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let arn = created["ARN"].as_str().unwrap_or_else(|| panic!("CreateSecret: {created}")).to_string();
    let home = tempfile::tempdir().unwrap();
    let port = redis.port.to_string();
    let run = |secret: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_frocket"));
        cmd.args(["list", "--json"])
            .env("FROCKET_HOME", home.path())
            .env_remove("FROCKET_REDIS_URL")
            .env("FROCKET_REDIS_HOST", "127.0.0.1")
            .env("FROCKET_REDIS_PORT", &port)
            .env("AWS_ENDPOINT_URL", &aws.endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1");
        if let Some(s) = secret {
            cmd.env("FROCKET_REDIS_AUTH_SECRET_ARN", s);
        }
        cmd.output().unwrap()
    };
    let ok = run(Some(&arn));
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stdout));
    assert_eq!(serde_json::from_slice::<Value>(&ok.stdout).unwrap(), serde_json::json!([]));
    let no_token = run(None);
    assert_eq!(no_token.status.code(), Some(1), "Redis refuses without AUTH");
    let missing = run(Some("frocket/test/nope"));
    assert_eq!(missing.status.code(), Some(1));
    let text = String::from_utf8_lossy(&missing.stdout);
    assert!(text.contains("frocket/test/nope") && text.contains("AUTH token"), "{text}");
    for o in [&ok, &no_token, &missing] {
        for s in [&o.stdout, &o.stderr] {
            assert!(!String::from_utf8_lossy(s).contains(token), "the token was printed");
        }
    }
}
