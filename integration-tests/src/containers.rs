//! Funnel Rocket on a private Docker network, for the container suite (`tests/containers`):
//! Redis, the S3 server, N `frocket worker` containers, optionally the API server and the Lambda
//! emulator, each its own host with its own address, started through testcontainers from the
//! project's own images ([`crate::images`]; no registry).
//!
//! Why containers: a process on loopback cannot be cut off from Redis, frozen as a host, or
//! have its disk cache on another machine; a container can (`disconnect`, `pause`, `kill`).
//!
//! Layout: the network is `frocket-e2e-<random>`; containers are named `<network>-redis`,
//! `<network>-s3`, `<network>-worker-<i>`, `<network>-api`, `<network>-lambda` and find each
//! other by those names (Docker's embedded DNS). The test process is the invoker: it reaches
//! Redis, S3, the API and the Lambda emulator through host ports chosen free by the harness and
//! mapped explicitly (so a restarted Redis keeps its port).
//!
//! The Docker API shim: testcontainers-rs 0.28 speaks Docker API 1.53 and never negotiates;
//! an engine older than that (Debian's 20.10 speaks 1.41) refuses every request. When the
//! engine is older, [`container_test`] starts a socket proxy that rewrites the version in each
//! request path (`/v1.53/` → `/v1.41/`, the same length, so nothing else changes) and points
//! `DOCKER_HOST` at it (in a child process running the same test: the workspace forbids the
//! `unsafe` of `set_var`). The JSON bodies of 1.53 carry fields 1.41 ignores; what the suite uses
//! (create, start, stop, pause, kill, networks, logs) behaves the same.

use crate::images::{Binaries, Images};
use crate::{free_port, s3_config, upload_dir, workspace_root};
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;
use testcontainers::bollard::models::{NetworkConnectRequest, NetworkDisconnectRequest};
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

/// The credentials the S3 server accepts and every client here signs with (those of
/// [`crate::s3_config`]).
pub const S3_KEY: (&str, &str) = ("testing", "testing");
pub const BUCKET: &str = "frocket-e2e";
/// Set in the child process that runs a test behind the shim.
const SHIMMED: &str = "FROCKET_E2E_BEHIND_DOCKER_SHIM";
/// The API version testcontainers-rs speaks.
const CLIENT_API: &str = "1.53";

/// The engine's API version (`GET /version` on its socket).
fn engine_api_version(socket: &std::path::Path) -> Result<String, String> {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(socket).map_err(|e| format!("{}: {e}", socket.display()))?;
    s.write_all(b"GET /version HTTP/1.0\r\nHost: docker\r\n\r\n").map_err(|e| e.to_string())?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).map_err(|e| e.to_string())?;
    let body = buf.split_once("\r\n\r\n").map(|(_, b)| b).ok_or("no HTTP body from the engine")?;
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| format!("engine /version: {e}"))?;
    v["ApiVersion"].as_str().map(String::from).ok_or_else(|| format!("engine /version without ApiVersion: {body}"))
}

fn minor(v: &str) -> u32 {
    v.split('.').nth(1).and_then(|m| m.parse().ok()).unwrap_or(0)
}

/// Copies `from` to `to`, replacing `pat` with `rep` (same length). A tail that could begin a
/// match is held back until more bytes come or 20 ms pass, so nothing waits on it.
async fn rewrite_copy(
    mut from: tokio::net::unix::OwnedReadHalf,
    mut to: tokio::net::unix::OwnedWriteHalf,
    pat: Vec<u8>,
    rep: Vec<u8>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let read = if pending.is_empty() {
            from.read(&mut buf).await
        } else {
            match tokio::time::timeout(Duration::from_millis(20), from.read(&mut buf)).await {
                Ok(r) => r,
                Err(_) => {
                    if to.write_all(&pending).await.is_err() {
                        return;
                    }
                    pending.clear();
                    continue;
                }
            }
        };
        let n = match read {
            Ok(0) | Err(_) => {
                let _ = to.write_all(&pending).await;
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        let mut i = 0;
        while i + pat.len() <= pending.len() {
            if pending[i..i + pat.len()] == pat[..] {
                pending[i..i + pat.len()].copy_from_slice(&rep);
                i += pat.len();
            } else {
                i += 1;
            }
        }
        // Hold back the longest tail that is a proper prefix of the pattern.
        let keep =
            (1..pat.len()).rev().find(|&k| pending.len() >= k && pending[pending.len() - k..] == pat[..k]).unwrap_or(0);
        let send = pending.len() - keep;
        if to.write_all(&pending[..send]).await.is_err() {
            return;
        }
        pending.drain(..send);
    }
}

/// Starts the version shim on a socket in a temporary directory; returns its path.
fn start_shim(engine: PathBuf, engine_api: &str) -> Result<PathBuf, String> {
    let dir = tempfile::Builder::new().prefix("frocket-docker-shim").tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("docker.sock");
    let std_listener =
        std::os::unix::net::UnixListener::bind(&path).map_err(|e| format!("bind {}: {e}", path.display()))?;
    std_listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let pat = format!("/v{CLIENT_API}/").into_bytes();
    let rep = format!("/v{engine_api}/").into_bytes();
    std::thread::Builder::new()
        .name("docker-shim".into())
        .spawn(move || {
            let _dir = dir;
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("shim runtime");
            rt.block_on(async move {
                let listener = tokio::net::UnixListener::from_std(std_listener).expect("shim listener");
                while let Ok((client, _)) = listener.accept().await {
                    let (engine, pat, rep) = (engine.clone(), pat.clone(), rep.clone());
                    tokio::spawn(async move {
                        let Ok(daemon) = tokio::net::UnixStream::connect(&engine).await else { return };
                        let (cr, mut cw) = client.into_split();
                        let (mut dr, dw) = daemon.into_split();
                        let up = tokio::spawn(rewrite_copy(cr, dw, pat, rep));
                        let _ = tokio::io::copy(&mut dr, &mut cw).await;
                        let _ = tokio::io::AsyncWriteExt::shutdown(&mut cw).await;
                        let _ = up.await;
                    });
                }
            });
        })
        .map_err(|e| e.to_string())?;
    Ok(path)
}

/// Runs one container test: checks the engine (a missing one fails the test: `cargo xtask
/// test` decides whether to skip the suite), starts the API shim when the engine is older than
/// testcontainers, builds the missing images, then runs `test` on a multi-threaded runtime.
pub fn container_test<Fut: Future<Output = ()>>(test: impl FnOnce(Images) -> Fut) {
    crate::images::engine_reachable().unwrap_or_else(|e| panic!("the container suite needs a Docker Engine: {e}"));
    let socket = std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock"));
    let api = engine_api_version(&socket).unwrap_or_else(|e| panic!("ask the Docker Engine its API version: {e}"));
    if minor(&api) < minor(CLIENT_API) && std::env::var_os(SHIMMED).is_none() {
        assert_eq!(api.len(), CLIENT_API.len(), "engine API {api}: the shim rewrites versions of the same length");
        let shim = start_shim(socket, &api).unwrap_or_else(|e| panic!("start the Docker API shim: {e}"));
        // testcontainers reads DOCKER_HOST only from the environment, and this workspace
        // forbids `unsafe` (set_var): the test runs again in a child process whose environment
        // points at the shim this process serves.
        let name = std::thread::current().name().map(String::from).filter(|n| n != "main");
        let name = name.expect("a container test runs on libtest's thread named after the test");
        let exe = std::env::current_exe().expect("the test binary");
        let status = std::process::Command::new(exe)
            .args([name.as_str(), "--exact", "--nocapture", "--test-threads", "1"])
            .env("DOCKER_HOST", format!("unix://{}", shim.display()))
            .env(SHIMMED, "1")
            .status()
            .expect("run the test behind the Docker API shim");
        assert!(status.success(), "{name} failed behind the Docker API shim (its output is above)");
        return;
    }
    let bins = Binaries::of_this_build().unwrap_or_else(|e| panic!("{e}"));
    let images = crate::images::ensure_all(&bins, |i, built, t| {
        if built {
            eprintln!("built image {} in {:.1} s", i.reference(), t.as_secs_f64());
        }
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().expect("runtime");
    rt.block_on(test(images));
}

/// What to start.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub workers: usize,
    pub api: bool,
    pub lambda: bool,
    /// Extra environment of the workers, the API server and the Lambda function.
    pub env: Vec<(String, String)>,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec { workers: 3, api: false, lambda: false, env: Vec::new() }
    }
}

pub type Container = ContainerAsync<GenericImage>;

/// The running cluster (containers and the network are removed when dropped).
pub struct Cluster {
    pub network: String,
    pub redis: Container,
    pub redis_port: u16,
    pub s3: Container,
    pub s3_port: u16,
    pub workers: Vec<Container>,
    pub api: Option<(Container, u16)>,
    pub lambda: Option<(Container, u16)>,
    images: Images,
    spec: ClusterSpec,
}

fn generic(image: &crate::images::Image) -> GenericImage {
    GenericImage::new(image.repo.clone(), image.tag.clone())
}

impl Cluster {
    pub async fn start(images: &Images, spec: ClusterSpec) -> Cluster {
        let network = format!("frocket-e2e-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let redis_port = free_port();
        let redis = generic(&images.redis)
            .with_wait_for(WaitFor::message_on_stdout("Ready to accept connections"))
            .with_network(&network)
            .with_container_name(format!("{network}-redis"))
            .with_mapped_port(redis_port, 6379.tcp())
            // Persistence on: a stopped and restarted Redis keeps the datasets (as a managed one).
            .with_cmd(["--protected-mode", "no", "--dir", "/data", "--appendonly", "yes", "--save", ""])
            .start()
            .await
            .expect("start the Redis container");
        let s3_port = free_port();
        let s3 = generic(&images.s3)
            .with_wait_for(WaitFor::message_on_stdout("frocket-s3 listening"))
            .with_network(&network)
            .with_container_name(format!("{network}-s3"))
            .with_mapped_port(s3_port, 9000.tcp())
            .start()
            .await
            .expect("start the S3 container");
        let mut c = Cluster {
            network,
            redis,
            redis_port,
            s3,
            s3_port,
            workers: Vec::new(),
            api: None,
            lambda: None,
            images: images.clone(),
            spec: spec.clone(),
        };
        c.s3_store().await.client().create_bucket().bucket(BUCKET).send().await.expect("create the bucket");
        for _ in 0..spec.workers {
            c.add_worker(&[]).await;
        }
        if spec.api {
            let port = free_port();
            let api = c
                .frocket(&format!("{}-api", c.network), &[])
                .with_ready_conditions(vec![WaitFor::message_on_stdout("frocket serve: listening")])
                .with_mapped_port(port, 8080.tcp())
                .with_cmd(["serve", "--bind", "0.0.0.0:8080"])
                .start()
                .await
                .expect("start the API container");
            c.api = Some((api, port));
        }
        if spec.lambda {
            let port = free_port();
            let mut cmd: Vec<String> = vec!["--function".into(), "frocket".into(), "--concurrency".into(), "4".into()];
            for (k, v) in c.inside_env(&[]) {
                cmd.push("--env".into());
                cmd.push(format!("{k}={v}"));
            }
            let lambda = generic(&c.images.lambda)
                .with_wait_for(WaitFor::message_on_stdout("Lambda emulator at"))
                .with_network(&c.network)
                .with_container_name(format!("{}-lambda", c.network))
                .with_mapped_port(port, 9001.tcp())
                .with_cmd(cmd)
                .start()
                .await
                .expect("start the Lambda emulator container");
            c.lambda = Some((lambda, port));
        }
        c
    }

    /// The environment of the programs inside the network.
    pub fn inside_env(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env = client_env(&format!("{}-redis:6379", self.network), &format!("{}-s3:9000", self.network));
        env.push(("FROCKET_WORKER_HEARTBEAT_INTERVAL".into(), "0.5".into()));
        env.push(("FROCKET_LOG_LEVEL".into(), "info".into()));
        env.extend(self.spec.env.iter().cloned());
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    }

    /// The environment of a `frocket` invoker on this machine (the test), in queue mode.
    pub fn host_env(&self) -> Vec<(String, String)> {
        client_env(&format!("127.0.0.1:{}", self.redis_port), &format!("127.0.0.1:{}", self.s3_port))
    }

    /// The same invoker in Lambda mode, through the emulator container.
    pub fn host_env_lambda(&self) -> Vec<(String, String)> {
        let port = self.lambda.as_ref().expect("started with lambda").1;
        let mut env = self.host_env();
        env.extend(
            [
                ("FROCKET_INVOKER", "aws_lambda".to_string()),
                ("FROCKET_LAMBDA_NAME", "frocket".into()),
                ("FROCKET_LAMBDA_ENDPOINT_URL", format!("http://127.0.0.1:{port}")),
            ]
            .map(|(k, v)| (k.to_string(), v)),
        );
        env
    }

    fn frocket(&self, name: &str, extra: &[(&str, &str)]) -> testcontainers::core::ContainerRequest<GenericImage> {
        let mut req = generic(&self.images.frocket).with_network(&self.network).with_container_name(name);
        for (k, v) in self.inside_env(extra) {
            req = req.with_env_var(k, v);
        }
        req
    }

    /// Starts one more worker container (with `extra` environment).
    pub async fn add_worker(&mut self, extra: &[(&str, &str)]) {
        let name = format!("{}-worker-{}", self.network, self.workers.len());
        let w = self
            .frocket(&name, extra)
            .with_ready_conditions(vec![WaitFor::message_on_either_std("waiting for tasks")])
            .with_cmd(["worker"])
            .start()
            .await
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        self.workers.push(w);
    }

    pub async fn s3_store(&self) -> storage::s3::S3Store {
        storage::s3::S3Store::new(&s3_config(&format!("http://127.0.0.1:{}", self.s3_port))).await
    }

    /// Uploads every file of `dir` under `s3://BUCKET/prefix/`; returns that URL.
    pub async fn upload(&self, dir: &std::path::Path, prefix: &str) -> String {
        upload_dir(&self.s3_store().await, dir, BUCKET, prefix).await;
        format!("s3://{BUCKET}/{prefix}")
    }

    /// Cuts `c` off the network (its connections fail; nothing reaches it).
    pub async fn disconnect(&self, c: &Container) {
        let docker = testcontainers::core::client::docker_client_instance().await.expect("docker client");
        docker
            .disconnect_network(
                &self.network,
                NetworkDisconnectRequest { container: c.id().to_string(), force: Some(true) },
            )
            .await
            .expect("disconnect from the network");
    }

    pub async fn connect(&self, c: &Container) {
        let docker = testcontainers::core::client::docker_client_instance().await.expect("docker client");
        docker
            .connect_network(
                &self.network,
                NetworkConnectRequest { container: c.id().to_string(), endpoint_config: None },
            )
            .await
            .expect("connect to the network");
    }

    /// SIGKILL, as a crashed host.
    pub async fn kill(&self, c: &Container) {
        let docker = testcontainers::core::client::docker_client_instance().await.expect("docker client");
        docker.kill_container(c.id(), None).await.expect("kill the container");
    }

    /// A connection to the cluster's Redis through its host port.
    async fn redis_connection(&self) -> redis::aio::MultiplexedConnection {
        let client = redis::Client::open(format!("redis://127.0.0.1:{}", self.redis_port)).expect("redis url");
        client.get_multiplexed_async_connection().await.expect("connect to Redis")
    }

    /// Every Redis key, sorted (KEYS: the test's Redis holds a handful).
    pub async fn redis_keys(&self) -> Vec<String> {
        let mut conn = self.redis_connection().await;
        let mut keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut conn).await.expect("KEYS");
        keys.sort();
        keys
    }

    /// Polls `c`'s output (stdout and stderr) for `needle` until `within` has passed.
    pub async fn wait_for_log(&self, c: &Container, needle: &str, within: Duration) -> bool {
        let deadline = std::time::Instant::now() + within;
        loop {
            let mut out = c.stdout_to_vec().await.unwrap_or_default();
            out.extend(c.stderr_to_vec().await.unwrap_or_default());
            if String::from_utf8_lossy(&out).contains(needle) {
                return true;
            }
            if std::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Each key with its type, TTL and (hash) fields, for a failure message.
    pub async fn describe_keys(&self, keys: &[String]) -> String {
        let mut conn = self.redis_connection().await;
        let mut out = String::new();
        for k in keys {
            let kind: String = redis::cmd("TYPE").arg(k).query_async(&mut conn).await.unwrap_or_default();
            let ttl: i64 = redis::cmd("TTL").arg(k).query_async(&mut conn).await.unwrap_or(-3);
            let fields: Vec<String> = if kind == "hash" {
                redis::cmd("HKEYS").arg(k).query_async(&mut conn).await.unwrap_or_default()
            } else {
                Vec::new()
            };
            out.push_str(&format!("{k} ({kind}, ttl {ttl} s) {fields:?}\n"));
        }
        out
    }

    /// The `frocket` binary of this build, as the invoker on this machine.
    pub fn frocket_bin() -> PathBuf {
        crate::lambda_stack::workspace_binary("frocket", "frocket")
    }
}

/// The environment of a `frocket` process reaching Redis and the S3 server at these
/// `host:port`s with the harness's credentials.
fn client_env(redis: &str, s3: &str) -> Vec<(String, String)> {
    [
        ("FROCKET_REDIS_URL", format!("redis://{redis}")),
        ("FROCKET_S3_ENDPOINT_URL", format!("http://{s3}")),
        ("FROCKET_S3_FORCE_PATH_STYLE", "true".into()),
        ("AWS_ACCESS_KEY_ID", S3_KEY.0.into()),
        ("AWS_SECRET_ACCESS_KEY", S3_KEY.1.into()),
        ("AWS_REGION", "us-east-1".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The compose file of the repository.
pub fn compose_file() -> PathBuf {
    workspace_root().join("docker-compose.yml")
}
