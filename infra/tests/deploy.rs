//! Deployment against the AWS stand-in (`integration_tests::aws_emulator`: moto with the
//! project's extension, the Lambda emulator running the uploaded bundles), through the same
//! code `cargo xtask deploy | status | destroy` runs. Resources are checked through the AWS SDK
//! (what exists), not by reading the template back. docs/deploy.md lists what only a real
//! account can show.

use infra::EnvSpec;
use infra::bundle::{self, Bundle};
use infra::deploy::{self, Aws, DeployError, DeployOutcome, DeployRequest, Progress, StackEvent};
use integration_tests::aws_emulator::{ACCESS_KEY, AwsEmulator, SECRET_KEY};
use integration_tests::lambda_stack::workspace_binary;
use integration_tests::{answer, percent_decode, synth_dataset};
use serde_json::{Value, json};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

const REGION: &str = "eu-west-1";

/// The test environment: x86_64 (the emulator runs the bundles on this machine), small sizes.
fn env_toml(node_type: &str, memory_mb: u32) -> String {
    format!(
        r#"
region = "{REGION}"
availability_zones = ["eu-west-1a", "eu-west-1b"]
vpc_cidr = "10.60.0.0/16"
private_subnet_cidrs = ["10.60.1.0/24", "10.60.2.0/24"]
log_retention_days = 7
[redis]
node_type = "{node_type}"
replicas = 1
[lambda]
memory_mb = {memory_mb}
timeout_s = 60
architecture = "x86_64"
reserved_concurrency = 4
[tags]
project = "funnel-rocket-test"
"#
    )
}

/// Events and steps as reported.
struct Recorder {
    steps: Mutex<Vec<String>>,
    events: Mutex<Vec<StackEvent>>,
    start: std::time::Instant,
}

impl Default for Recorder {
    fn default() -> Recorder {
        Recorder { steps: Mutex::default(), events: Mutex::default(), start: std::time::Instant::now() }
    }
}

impl Progress for Recorder {
    fn step(&self, m: &str) {
        eprintln!("{:.1}s step: {m}", self.start.elapsed().as_secs_f64());
        self.steps.lock().unwrap().push(m.to_string());
    }
    fn event(&self, e: &StackEvent) {
        eprintln!("event: {} {} {:?}", e.logical_id, e.status, e.reason);
        self.events.lock().unwrap().push(e.clone());
    }
}

impl Recorder {
    fn take(&self) -> (Vec<String>, Vec<StackEvent>) {
        (std::mem::take(&mut *self.steps.lock().unwrap()), std::mem::take(&mut *self.events.lock().unwrap()))
    }
}

struct Harness {
    emu: AwsEmulator,
    sdk: aws_config::SdkConfig,
    aws: Aws,
    envs: tempfile::TempDir,
    worker: Bundle,
    api: Bundle,
}

impl Harness {
    async fn start() -> Harness {
        let t = std::time::Instant::now();
        let emu = AwsEmulator::start().await.expect("start the AWS emulator");
        eprintln!("emulator up in {:.1} s", t.elapsed().as_secs_f64());
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(&emu.endpoint)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
            .load()
            .await;
        let aws = Aws::with_config(&sdk);
        let envs = tempfile::tempdir().unwrap();
        let worker = bundle::worker_bundle(&workspace_binary("frocket-lambda", "worker")).unwrap();
        let api = bundle::api_bundle(&workspace_binary("frocket", "frocket")).unwrap();
        eprintln!("bundles made in {:.1} s", t.elapsed().as_secs_f64());
        Harness { emu, sdk, aws, envs, worker, api }
    }

    fn spec(&self, toml: &str) -> EnvSpec {
        std::fs::write(self.envs.path().join("t.toml"), toml).unwrap();
        EnvSpec::load(&self.envs.path().join("t.toml")).unwrap()
    }

    async fn deploy(&self, spec: &EnvSpec, dry_run: bool, rec: &Recorder) -> Result<DeployOutcome, DeployError> {
        let req = DeployRequest {
            env: "t",
            spec,
            worker: &self.worker,
            api: Some(&self.api),
            dry_run,
            envs_dir: self.envs.path(),
            timeout: Duration::from_secs(120),
        };
        deploy::deploy(&self.aws, &req, rec).await
    }

    /// `frocket` (the CLI) against the deployed environment: its own process, the emulator's
    /// endpoint and credentials in its environment, as a user's shell would have them.
    fn frocket(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(workspace_binary("frocket", "frocket"))
            .args(args)
            .envs(self.emu.client_env(REGION))
            .env("FROCKET_ENVS_DIR", self.envs.path())
            .env("FROCKET_HOME", self.envs.path().join("home"))
            .output()
            .unwrap();
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code().unwrap_or(-1), s(&out.stdout), s(&out.stderr))
    }

    fn outputs(&self) -> Value {
        let text = std::fs::read_to_string(self.envs.path().join("t.outputs.json")).expect("outputs saved");
        serde_json::from_str(&text).unwrap()
    }
}

fn statuses(events: &[StackEvent], logical: &str) -> Vec<String> {
    events.iter().filter(|e| e.logical_id == logical).map(|e| e.status.clone()).collect()
}

/// What exists in the emulated account, through the SDK.
async fn check_resources(h: &Harness, memory_mb: i32) {
    let ec2 = aws_sdk_ec2::Client::new(&h.sdk);
    let out = h.outputs();
    let o = &out["outputs"];
    let vpc_id = o["VpcId"].as_str().unwrap();
    let vpcs = ec2.describe_vpcs().vpc_ids(vpc_id).send().await.unwrap();
    assert_eq!(vpcs.vpcs()[0].cidr_block(), Some("10.60.0.0/16"));
    let f = |n: &str, v: &str| aws_sdk_ec2::types::Filter::builder().name(n).values(v).build();
    let subnets = ec2.describe_subnets().filters(f("vpc-id", vpc_id)).send().await.unwrap();
    let mut zones: Vec<(&str, &str)> =
        subnets.subnets().iter().map(|s| (s.availability_zone().unwrap(), s.cidr_block().unwrap())).collect();
    zones.sort();
    assert_eq!(zones, [("eu-west-1a", "10.60.1.0/24"), ("eu-west-1b", "10.60.2.0/24")]);
    assert!(subnets.subnets().iter().all(|s| s.map_public_ip_on_launch() == Some(false)));

    // Redis 6379 only from the worker security group.
    let worker_sg = o["WorkerSecurityGroupId"].as_str().unwrap();
    let sgs = ec2.describe_security_groups().filters(f("vpc-id", vpc_id)).send().await.unwrap();
    let redis_sg = sgs
        .security_groups()
        .iter()
        .find(|g| g.description().is_some_and(|d| d.contains("Redis")))
        .expect("a Redis security group");
    let ingress = redis_sg.ip_permissions();
    assert_eq!(ingress.len(), 1, "{ingress:?}");
    assert_eq!((ingress[0].from_port(), ingress[0].to_port()), (Some(6379), Some(6379)));
    assert!(ingress[0].ip_ranges().is_empty(), "no CIDR may reach Redis: {ingress:?}");
    assert_eq!(ingress[0].user_id_group_pairs()[0].group_id(), Some(worker_sg));

    // The S3 gateway endpoint on the private route table, the subnets associated with it.
    let eps = ec2.describe_vpc_endpoints().filters(f("vpc-id", vpc_id)).send().await.unwrap();
    let s3_ep = eps
        .vpc_endpoints()
        .iter()
        .find(|e| e.service_name() == Some("com.amazonaws.eu-west-1.s3"))
        .expect("an S3 endpoint");
    assert_eq!(s3_ep.vpc_endpoint_type().map(|t| t.as_str()), Some("Gateway"));
    let rt_id = s3_ep.route_table_ids()[0].to_string();
    let rts = ec2.describe_route_tables().route_table_ids(&rt_id).send().await.unwrap();
    let assoc: Vec<&str> = rts.route_tables()[0].associations().iter().filter_map(|a| a.subnet_id()).collect();
    assert_eq!(assoc.len(), 2, "both private subnets route through it: {assoc:?}");

    // The dataset bucket: encrypted, public access blocked.
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&h.sdk).force_path_style(true).build());
    let bucket = o["DatasetBucketName"].as_str().unwrap();
    let enc = s3.get_bucket_encryption().bucket(bucket).send().await.unwrap();
    let rule = &enc.server_side_encryption_configuration().unwrap().rules()[0];
    assert_eq!(rule.apply_server_side_encryption_by_default().unwrap().sse_algorithm().as_str(), "AES256");
    let pab = s3.get_public_access_block().bucket(bucket).send().await.unwrap();
    let c = pab.public_access_block_configuration().unwrap();
    assert_eq!(
        (c.block_public_acls(), c.block_public_policy(), c.ignore_public_acls(), c.restrict_public_buckets()),
        (Some(true), Some(true), Some(true), Some(true))
    );

    // The worker: runtime, memory, timeout, environment from the stack, 0 async retries.
    let lambda = aws_sdk_lambda::Client::new(&h.sdk);
    let name = o["WorkerFunctionName"].as_str().unwrap();
    let fun = lambda.get_function().function_name(name).send().await.unwrap();
    let cfg = fun.configuration().unwrap();
    assert_eq!(cfg.runtime().map(|r| r.as_str()), Some("provided.al2023"));
    assert_eq!((cfg.memory_size(), cfg.timeout()), (Some(memory_mb), Some(60)));
    let vars = cfg.environment().unwrap().variables().unwrap();
    assert_eq!(vars["FROCKET_REDIS_HOST"], o["RedisEndpoint"].as_str().unwrap());
    assert_eq!(vars["FROCKET_REDIS_TLS"], "true");
    assert_eq!(vars["FROCKET_REDIS_AUTH_SECRET_ARN"], o["RedisAuthSecretArn"].as_str().unwrap());
    assert_eq!(fun.concurrency().and_then(|c| c.reserved_concurrent_executions()), Some(4));
    let eic = lambda.get_function_event_invoke_config().function_name(name).send().await.unwrap();
    assert_eq!((eic.maximum_retry_attempts(), eic.maximum_event_age_in_seconds()), (Some(0), Some(60)));

    // The worker role: read of the dataset bucket, the token, nothing else.
    let iam = aws_sdk_iam::Client::new(&h.sdk);
    let role_name = cfg.role().unwrap().rsplit('/').next().unwrap();
    let policies = iam.list_role_policies().role_name(role_name).send().await.unwrap();
    let mut actions = Vec::new();
    for p in policies.policy_names() {
        let doc = iam.get_role_policy().role_name(role_name).policy_name(p).send().await.unwrap();
        let text = doc.policy_document();
        let text = percent_decode(text);
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        for st in v["Statement"].as_array().unwrap() {
            let a = &st["Action"];
            let list = a.as_array().cloned().unwrap_or_else(|| vec![a.clone()]);
            actions.extend(list.into_iter().map(|x| x.as_str().unwrap().to_string()));
            let res = st["Resource"].to_string();
            assert!(!res.contains("\"*\""), "no wildcard resource: {st}");
        }
    }
    actions.sort();
    assert_eq!(actions, ["s3:GetObject", "s3:ListBucket", "secretsmanager:GetSecretValue"]);

    // Redis: multi-AZ, failover, TLS; the secret exists.
    let ec = aws_sdk_elasticache::Client::new(&h.sdk);
    let groups = ec.describe_replication_groups().send().await.unwrap();
    let g = &groups.replication_groups()[0];
    assert_eq!(g.multi_az().map(|m| m.as_str()), Some("enabled"));
    assert_eq!(g.automatic_failover().map(|m| m.as_str()), Some("enabled"));
    assert_eq!(g.transit_encryption_enabled(), Some(true));
    let sm = aws_sdk_secretsmanager::Client::new(&h.sdk);
    let secret = sm.get_secret_value().secret_id(o["RedisAuthSecretArn"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(secret.secret_string().map(str::len), Some(64));
}

/// Nothing of the stack is left: no VPC, functions, replication group, secret or role; the
/// dataset bucket is kept (retained by design) and the artifact bucket is gone.
async fn check_nothing_left(h: &Harness, dataset_bucket: &str) {
    let ec2 = aws_sdk_ec2::Client::new(&h.sdk);
    let vpcs = ec2.describe_vpcs().send().await.unwrap();
    let ours: Vec<_> = vpcs.vpcs().iter().filter(|v| v.is_default() != Some(true)).collect();
    assert!(ours.is_empty(), "{ours:?}");
    let eps = ec2.describe_vpc_endpoints().send().await.unwrap();
    assert!(eps.vpc_endpoints().iter().all(|e| e.state().map(|s| s.as_str()) == Some("deleted")), "{eps:?}");
    let lambda = aws_sdk_lambda::Client::new(&h.sdk);
    assert!(lambda.list_functions().send().await.unwrap().functions().is_empty());
    let ec = aws_sdk_elasticache::Client::new(&h.sdk);
    assert!(ec.describe_replication_groups().send().await.unwrap().replication_groups().is_empty());
    let sm = aws_sdk_secretsmanager::Client::new(&h.sdk);
    assert!(sm.list_secrets().send().await.unwrap().secret_list().is_empty());
    let iam = aws_sdk_iam::Client::new(&h.sdk);
    let roles = iam.list_roles().send().await.unwrap();
    assert!(roles.roles().iter().all(|r| !r.role_name().contains("frocket")), "{:?}", roles.roles());
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&h.sdk).force_path_style(true).build());
    let buckets: Vec<String> =
        s3.list_buckets().send().await.unwrap().buckets().iter().filter_map(|b| b.name().map(str::to_string)).collect();
    assert_eq!(buckets, [dataset_bucket.to_string()], "only the retained dataset bucket");
    assert_eq!(h.emu.redis_servers(), 0, "the replication group's Redis was stopped");
    assert!(!h.envs.path().join("t.outputs.json").exists(), "outputs file removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deploy_update_no_op_dry_run_failure_and_destroy() {
    let h = Harness::start().await;
    let rec = Recorder::default();

    // Dry run of a creation: the change set lists every resource; nothing is made.
    let spec = h.spec(&env_toml("cache.t4g.micro", 1024));
    match h.deploy(&spec, true, &rec).await.unwrap() {
        DeployOutcome::DryRun { change_set_type, changes } => {
            assert_eq!(change_set_type, "CREATE");
            assert!(changes.iter().all(|c| c.action == "Add"));
            for r in ["Vpc", "Redis", "WorkerFunction", "ApiFunction", "WorkerInvokeConfig", "S3Endpoint"] {
                assert!(changes.iter().any(|c| c.logical_id == r), "{r} planned: {changes:?}");
            }
        }
        other => panic!("{other:?}"),
    }
    let lambda = aws_sdk_lambda::Client::new(&h.sdk);
    assert!(lambda.list_functions().send().await.unwrap().functions().is_empty(), "a dry run creates nothing");
    assert!(deploy::status(&h.aws, "t").await.is_err(), "no stack after a dry run");

    // Create.
    let created = h.deploy(&spec, false, &rec).await.unwrap_or_else(|e| panic!("{e}\n{}", h.emu.moto_log()));
    assert!(matches!(created, DeployOutcome::Created { .. }), "{created:?}");
    let (steps, events) = rec.take();
    assert!(steps.iter().any(|s| s.starts_with("upload s3://frocket-artifacts-")), "{steps:?}");
    assert_eq!(statuses(&events, "Redis"), ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]);
    assert_eq!(statuses(&events, "frocket-t").last().map(String::as_str), Some("CREATE_COMPLETE"));
    check_resources(&h, 1024).await;
    let out = h.outputs();
    assert_eq!(out["stackName"], "frocket-t");
    assert_eq!(out["region"], REGION);
    for k in ["ApiUrl", "ApiFunctionName", "RedisEndpoint", "RedisPort", "WorkerFunctionName", "DatasetBucketName"] {
        assert!(out["outputs"][k].as_str().is_some_and(|v| !v.is_empty()), "{k}: {out}");
    }

    // The same again: no changes, bundles not uploaded twice.
    let again = h.deploy(&spec, false, &rec).await.unwrap();
    assert!(matches!(again, DeployOutcome::NoChanges { .. }), "{again:?}");
    let (steps, _) = rec.take();
    assert!(steps.iter().any(|s| s.contains("is there (same content)")), "{steps:?}");
    assert!(!steps.iter().any(|s| s.starts_with("upload ")), "{steps:?}");

    // A changed parameter: the dry run shows the modification and changes nothing...
    let bigger = h.spec(&env_toml("cache.t4g.micro", 2048));
    match h.deploy(&bigger, true, &rec).await.unwrap() {
        DeployOutcome::DryRun { change_set_type, changes } => {
            assert_eq!(change_set_type, "UPDATE");
            assert!(changes.iter().any(|c| c.logical_id == "WorkerFunction" && c.action == "Modify"), "{changes:?}");
        }
        other => panic!("{other:?}"),
    }
    let st = deploy::status(&h.aws, "t").await.unwrap();
    assert_eq!(st.functions.iter().find(|f| f.name == "frocket-t-worker").unwrap().memory_mb, 1024);
    // ... and the deploy applies it.
    let updated = h.deploy(&bigger, false, &rec).await.unwrap();
    assert!(matches!(updated, DeployOutcome::Updated { .. }), "{updated:?}");
    let st = deploy::status(&h.aws, "t").await.unwrap();
    assert_eq!(st.stack_status, "UPDATE_COMPLETE");
    let worker = st.functions.iter().find(|f| f.name == "frocket-t-worker").unwrap();
    assert_eq!((worker.memory_mb, worker.reserved_concurrency, worker.max_retries), (2048, Some(4), Some(0)));
    let redis = st.redis.as_ref().unwrap();
    assert_eq!((redis.status.as_str(), redis.nodes, redis.transit_encryption), ("available", 2, true));
    let shown = st.to_string();
    assert!(shown.contains("frocket-t-worker") && shown.contains("multi-AZ enabled"), "{shown}");
    rec.take();

    // A failing update (a node type ElastiCache does not have): the error names the resource
    // and the reason; the stack is rolled back and still usable.
    let bad = h.spec(&env_toml("cache.t4g.huge", 2048));
    let e = h.deploy(&bad, false, &rec).await.unwrap_err();
    match &e {
        DeployError::StackFailed { status, failures, .. } => {
            assert!(status.starts_with("UPDATE_ROLLBACK_COMPLETE"), "{status}");
            assert_eq!(failures.len(), 1, "{failures:?}");
            assert_eq!(failures[0].logical_id, "Redis");
            assert!(failures[0].reason.contains("cache.t4g.huge"), "{:?}", failures[0]);
        }
        other => panic!("{other}"),
    }
    let text = e.to_string();
    assert!(text.contains("Redis") && text.contains("rolled back"), "{text}");
    let st = deploy::status(&h.aws, "t").await.unwrap();
    assert_eq!(st.stack_status, "UPDATE_ROLLBACK_COMPLETE");
    assert_eq!(st.redis.unwrap().node_type, "cache.t4g.micro", "the group kept its node type");
    // The next good deploy goes through from the rolled-back state.
    let back = h.deploy(&bigger, false, &rec).await.unwrap();
    assert!(matches!(back, DeployOutcome::Updated { .. } | DeployOutcome::NoChanges { .. }), "{back:?}");

    // Destroy: everything but the dataset bucket.
    let bucket = h.outputs()["outputs"]["DatasetBucketName"].as_str().unwrap().to_string();
    rec.take();
    let r = deploy::destroy(&h.aws, "t", h.envs.path(), &rec, Duration::from_secs(120)).await.unwrap();
    assert_eq!(r.retained_bucket.as_deref(), Some(bucket.as_str()));
    assert!(r.artifact_bucket_deleted);
    check_nothing_left(&h, &bucket).await;
    let e = deploy::status(&h.aws, "t").await.unwrap_err();
    assert!(matches!(e, DeployError::NotDeployed { .. }), "{e}");
}

/// Deploy, upload and register a dataset, query it through the deployed API function (the CLI
/// with `--env`), compare with embedded mode, destroy.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_whole_path_deploy_dataprep_query_destroy() {
    let h = Harness::start().await;
    let rec = Recorder::default();
    let spec = h.spec(&env_toml("cache.t4g.micro", 1024));
    h.deploy(&spec, false, &rec).await.unwrap_or_else(|e| panic!("{e}\n{}", h.emu.moto_log()));

    // The dataset, prepared locally, uploaded to the stack's bucket.
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("retail");
    synth_dataset(&dir, 20_000, 4);
    let bucket = h.outputs()["outputs"]["DatasetBucketName"].as_str().unwrap().to_string();
    let url = deploy::upload_dataset(&h.aws, &bucket, "retail", &dir, &rec).await.unwrap();
    assert_eq!(url, format!("s3://{bucket}/datasets/retail/"));

    // Register and query through the API function, as a user's `frocket --env` does.
    let (code, out, err) =
        h.frocket(&["--env", "t", "register", "retail", &url, "visitorid", "timestamp", "--validation", "first_last"]);
    assert_eq!(code, 0, "{out}\n{err}\n--- emulator:\n{}", h.emu.lambda.logs("frocket-t-api"));
    assert!(out.contains("Registered dataset 'retail': 4 parts"), "{out}");
    let (code, out, _) = h.frocket(&["--env", "t", "list", "--json"]);
    assert_eq!(code, 0);
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list[0]["id"]["name"], "retail", "{list}");

    // The reference: the same files, embedded.
    let home = data.path().join("embedded");
    let local = |args: &[&str]| {
        let o = Command::new(workspace_binary("frocket", "frocket"))
            .args(args)
            .env("FROCKET_HOME", &home)
            .env_remove("FROCKET_REDIS_URL")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    local(&["register", "retail", dir.to_str().unwrap(), "visitorid", "timestamp"]);
    let queries = [
        json!({}),
        json!({"query": {"conditions": [{"filter": ["event", "==", "transaction"], "target": ["count", ">=", 2]}],
            "aggregations": [{"column": "categoryid", "type": "groupsPerValue", "top": 5}]}}),
        json!({"funnel": {"sequence": [{"filter": ["event", "==", "view"]}, {"filter": ["event", "==", "addtocart"]},
            {"filter": ["event", "==", "transaction"]}], "maxDuration": 86400, "stepTimings": true}}),
    ];
    for q in &queries {
        let q = q.to_string();
        let want: Value = serde_json::from_str(&local(&["run", "retail", "--string", &q, "--json"])).unwrap();
        let (code, out, err) = h.frocket(&["--env", "t", "run", "retail", "--string", &q, "--json"]);
        assert_eq!(code, 0, "{q}: {err}");
        let got: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(answer(&got), answer(&want), "{q}");
        assert_eq!(got["stats"]["invoker"]["totalTasks"], json!(4), "{}", got["stats"]);
        assert_eq!(got["stats"]["worker"]["lambda"]["invocations"], json!(4), "ran on Lambda: {}", got["stats"]);
    }
    // Errors come back as the API's, with their JSON path and the CLI's exit codes.
    let (code, _, err) = h.frocket(&[
        "--env",
        "t",
        "run",
        "retail",
        "--string",
        r#"{"query": {"conditions": [{"filter": ["nope", "==", 1]}]}}"#,
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("query.conditions[0].filter[0]"), "{err}");
    let (code, _, err) = h.frocket(&["--env", "t", "run", "missing", "--empty"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = h.frocket(&["--env", "nope", "list"]);
    assert_eq!(code, 2);
    assert!(err.contains("not deployed") && err.contains("cargo xtask deploy --env nope"), "{err}");

    // The workers that answered are the uploaded bundle's bootstrap, in the Lambda emulator.
    let st = h.emu.lambda.stats("frocket-t-worker");
    assert!(st.invocations >= 4 * queries.len(), "{st:?}");

    let r = deploy::destroy(&h.aws, "t", h.envs.path(), &rec, Duration::from_secs(120)).await.unwrap();
    assert_eq!(r.retained_bucket.as_deref(), Some(bucket.as_str()));
    check_nothing_left(&h, &bucket).await;
}

/// A creation that fails is rolled back (`ROLLBACK_COMPLETE`, nothing of it left running), the
/// error names the resource and the reason, and the next deploy deletes the dead stack and
/// creates it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_creation_is_rolled_back_and_the_next_deploy_recreates_it() {
    let h = Harness::start().await;
    let rec = Recorder::default();
    let bad = h.spec(&env_toml("cache.t4g.huge", 1024));
    let e = h.deploy(&bad, false, &rec).await.unwrap_err();
    match &e {
        DeployError::StackFailed { status, failures, .. } => {
            assert!(status.starts_with("ROLLBACK_COMPLETE"), "{status}");
            assert_eq!(failures.iter().map(|f| f.logical_id.as_str()).collect::<Vec<_>>(), ["Redis"]);
            assert!(failures[0].status == "CREATE_FAILED" && failures[0].reason.contains("cache.t4g.huge"));
        }
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("the next deploy deletes the stack"), "{e}");
    let lambda = aws_sdk_lambda::Client::new(&h.sdk);
    assert!(lambda.list_functions().send().await.unwrap().functions().is_empty(), "the rollback removed what was made");
    assert_eq!(h.emu.redis_servers(), 0);
    assert!(!h.envs.path().join("t.outputs.json").exists(), "no outputs of a failed stack");

    // A dry run does not touch the dead stack; a deploy replaces it.
    let dry = h.deploy(&h.spec(&env_toml("cache.t4g.micro", 1024)), true, &rec).await.unwrap_err();
    assert!(matches!(dry, DeployError::Usage(ref m) if m.contains("ROLLBACK_COMPLETE")), "{dry}");
    rec.take();
    let good = h.spec(&env_toml("cache.t4g.micro", 1024));
    let created = h.deploy(&good, false, &rec).await.unwrap();
    assert!(matches!(created, DeployOutcome::Created { .. }), "{created:?}");
    let (steps, _) = rec.take();
    assert!(steps.iter().any(|s| s.contains("ROLLBACK_COMPLETE (a failed creation): delete it first")), "{steps:?}");
    assert_eq!(deploy::status(&h.aws, "t").await.unwrap().stack_status, "CREATE_COMPLETE");
    deploy::destroy(&h.aws, "t", h.envs.path(), &rec, Duration::from_secs(120)).await.unwrap();
}
