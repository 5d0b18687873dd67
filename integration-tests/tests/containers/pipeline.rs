//! The whole pipeline on the network: Redis, the S3 server, 3 workers, the API server and the
//! Lambda emulator running the worker; the test is the invoker. Every answer equals embedded
//! mode over the same files on this machine.

use crate::shared::cases::{Tally, case_files, write_parts};
use crate::{AGGS, FUNNEL, Invoker, assert_clean, embedded, synth};
use integration_tests::containers::{Cluster, ClusterSpec, S3_KEY, container_test};
use integration_tests::{Stack, answer};
use invoker::lambda::{LambdaConfig, LambdaExecutor};
use invoker::queue::QueueExecutor;
use invoker::{JobOptions, RegisterArgs, TaskExecutor, ValidationMode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use storage::Stores;
use storage::redis::{RedisConfig, RedisStore};

/// The invoker as a library on this machine, against the cluster's Redis and S3.
struct Remote {
    mode: &'static str,
    redis: RedisStore,
    exec: Box<dyn TaskExecutor>,
    stores: Stores,
    opts: JobOptions,
}

impl Remote {
    async fn new(c: &Cluster, mode: &'static str) -> Remote {
        let redis = RedisStore::connect(&RedisConfig {
            url: format!("redis://127.0.0.1:{}", c.redis_port),
            prefix: "frocket:".into(),
            request_ttl: Duration::from_secs(300),
        })
        .await
        .expect("connect to the Redis container");
        let lost_after = Duration::from_secs(5);
        let exec: Box<dyn TaskExecutor> = match mode {
            "queue" => Box::new(QueueExecutor::on_queue(redis.clone(), "default", lost_after)),
            _ => {
                let port = c.lambda.as_ref().expect("the Lambda container").1;
                let cfg = LambdaConfig {
                    function: "frocket".into(),
                    concurrency: 8,
                    legacy_async: false,
                    endpoint_url: Some(format!("http://127.0.0.1:{port}")),
                    region: Some("us-east-1".into()),
                    credentials: Some((S3_KEY.0.into(), S3_KEY.1.into())),
                };
                Box::new(LambdaExecutor::on_lambda(redis.clone(), cfg, lost_after).await)
            }
        };
        let stores = Stores::with_s3(Arc::new(c.s3_store().await));
        Remote { mode, redis, exec, stores, opts: JobOptions::new(3, Duration::from_secs(60)) }
    }

    fn name(&self, ds: &str) -> String {
        format!("{}-{ds}", self.mode)
    }

    async fn register(&self, ds: &str, url: &str, group: &str, ts: &str) {
        let mut args = RegisterArgs::new(&self.name(ds), url, group, ts);
        args.validation = ValidationMode::FirstLast;
        invoker::register_dataset(&self.stores, &self.redis, self.exec.as_ref(), &args, &self.opts, None)
            .await
            .unwrap_or_else(|e| panic!("register {ds} in {} mode: {e}", self.mode));
    }

    async fn query(&self, ds: &str, q: &Value) -> Result<Value, invoker::InvokerError> {
        invoker::run_query_job(&self.redis, self.exec.as_ref(), &self.name(ds), q, &self.opts, None)
            .await
            .map(|r| serde_json::to_value(r).unwrap())
    }
}

#[test]
fn queue_lambda_and_api_on_a_private_network_give_the_embedded_answers() {
    container_test(|images| async move {
        let t = Instant::now();
        let c = Cluster::start(&images, ClusterSpec { workers: 3, api: true, lambda: true, env: vec![] }).await;
        eprintln!("figure: cluster of 7 containers up in {:.1} s", t.elapsed().as_secs_f64());
        let data = tempfile::tempdir().unwrap();

        // 1. Every engine case, in queue mode and in Lambda mode, against embedded mode.
        let embedded_stack = Stack::new(None);
        let modes = [Remote::new(&c, "queue").await, Remote::new(&c, "lambda").await];
        let mut tallies = [Tally::default(), Tally::default()];
        for file in case_files() {
            for (name, d) in &file.datasets {
                let ds = file.dataset_name(name);
                let dir = data.path().join("cases").join(&ds);
                write_parts(d, &dir);
                let mut args = RegisterArgs::new(&ds, &dir.display().to_string(), &d.group, &d.ts);
                args.validation = ValidationMode::FirstLast;
                embedded_stack.register(&args).await.unwrap_or_else(|e| panic!("register {ds}: {e}"));
                let url = c.upload(&dir, &format!("cases/{ds}")).await;
                for m in &modes {
                    m.register(&ds, &url, &d.group, &d.ts).await;
                }
            }
            for case in &file.cases {
                let ds = file.dataset_name(case["data"].as_str().unwrap());
                let q = &case["query"];
                for (m, tally) in modes.iter().zip(tallies.iter_mut()) {
                    tally.compare(m.mode, case, embedded_stack.query(&ds, q).await, m.query(&ds, q).await);
                }
            }
        }
        for (m, tally) in modes.iter().zip(&tallies) {
            tally.check(&format!("{} mode in containers", m.mode), 150);
        }

        // 2. A synth dataset through the `frocket` CLI (queue and Lambda mode) and the API server.
        let dir = data.path().join("synth");
        synth(&dir, 4);
        let url = c.upload(&dir, "synth").await;
        let queue_cli = Invoker::new(c.host_env());
        queue_cli.register(&url).await;
        let lambda_cli = Invoker::new(c.host_env_lambda());
        let api = format!("http://127.0.0.1:{}", c.api.as_ref().unwrap().1);
        let http = reqwest::Client::new();
        let reg = http
            .post(format!("{api}/datasets/register"))
            .json(
                &json!({"name": "api", "basepath": url, "groupIdColumn": "visitorid", "timestampColumn": "timestamp"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(reg.status(), 200, "register through the API: {}", reg.text().await.unwrap());
        for q in ["{}", FUNNEL, AGGS] {
            let want = embedded(&dir, q);
            let o = queue_cli.run(&["run", "d", "--string", q, "--json"], &[]).await;
            assert_eq!((o.code, answer(&o.json)), (Some(0), want.clone()), "queue mode CLI, query {q}");
            assert_eq!(o.json["stats"]["retries"], json!(0));
            // The Lambda invoker reads the registration the queue invoker wrote (one datastore).
            let o = lambda_cli.run(&["run", "d", "--string", q, "--json"], &[]).await;
            assert_eq!((o.code, answer(&o.json)), (Some(0), want.clone()), "Lambda mode CLI, query {q}");
            let r = http.post(format!("{api}/datasets/api/query")).body(q.to_string()).send().await.unwrap();
            assert_eq!(r.status(), 200);
            let v: Value = r.json().await.unwrap();
            assert_eq!(answer(&v), want, "API server in the network, query {q}");
        }
        assert_clean(&c).await;
    });
}
