//! The AWS stand-in: one endpoint (`AWS_ENDPOINT_URL`) that serves the AWS APIs the deployment
//! uses, so that `cargo xtask deploy | status | query | destroy` and the tests run the same
//! code against it as against AWS (docs/deploy.md "The emulator").
//!
//! Three processes behind one loopback port:
//! - **moto_server** (pinned in the project venv), started through `emulator/moto_ext.py`, which
//!   registers the CloudFormation resource types moto lacks (ElastiCache subnet and replication
//!   groups, Secrets Manager secrets, Lambda event invoke configs and URLs) and fixes what it
//!   gets wrong (see that file). A replication group is a real `redis-server` with the group's
//!   AUTH token and, as the template asks, TLS (a CA made here; the Lambda runtime below trusts
//!   it through `SSL_CERT_FILE`, as Lambda's trusts Amazon's).
//! - the **Lambda emulator** ([`crate::lambda_emulator`]), whose functions run the `bootstrap`
//!   of the code the deployment uploaded: on an Invoke, the front reads the function from moto
//!   (GetFunction: configuration, environment, reserved concurrency, `Code.Location`), fetches
//!   and unpacks the zip when its `CodeSha256` changed, and (re)deploys it in the emulator.
//! - the **front** (this module): Invoke calls go to the Lambda emulator, everything else to
//!   moto, unchanged.
//!
//! Invariants: the function that runs is exactly the code and configuration moto holds (a
//! changed environment or code redeploys it: its warm instances are stopped); functions run
//! with the emulator's credentials and `AWS_ENDPOINT_URL` (their "network" is this endpoint).

use crate::lambda_emulator::{FunctionSpec, LambdaEmulator, LambdaHandle, function_name};
use crate::{free_port, percent_decode, redis_server_bin, workspace_root};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The credentials every client of the emulator uses (moto checks none).
pub const ACCESS_KEY: &str = "emulator";
pub const SECRET_KEY: &str = "emulator-secret";
/// The emulated account (moto's default).
pub const ACCOUNT: &str = "123456789012";

/// The moto extension, written next to the emulator's state when it starts.
const MOTO_EXT: &str = include_str!("../emulator/moto_ext.py");

pub struct AwsEmulator {
    /// `http://127.0.0.1:{port}`: the one endpoint of every service.
    pub endpoint: String,
    pub lambda: LambdaEmulator,
    moto: Child,
    server: tokio::task::JoinHandle<()>,
    dir: tempfile::TempDir,
}

struct Front {
    moto: String,
    lambda: String,
    endpoint: String,
    dir: PathBuf,
    http: reqwest::Client,
    /// Function name → the (code sha, configuration) deployed in the Lambda emulator.
    deployed: Mutex<HashMap<String, String>>,
    /// Serializes syncs, so one code download per change.
    sync: tokio::sync::Mutex<()>,
    emulator: LambdaHandle,
}

/// The venv's Python (next to `moto_server`): `FROCKET_TEST_MOTO_SERVER`'s directory, or `.venv`.
fn venv_python() -> Result<PathBuf, String> {
    let moto = std::env::var_os("FROCKET_TEST_MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/moto_server"));
    let python = moto.with_file_name("python");
    if !python.exists() {
        return Err(format!(
            "the project venv's python is not at {} (run `cargo xtask test` once, which installs moto there)",
            python.display()
        ));
    }
    Ok(python)
}

/// A CA and a server certificate for 127.0.0.1/localhost (openssl), for the Redis stand-ins.
fn make_certificates(dir: &Path) -> Result<(), String> {
    let run = |args: &[&str]| -> Result<(), String> {
        let out =
            Command::new("openssl").args(args).current_dir(dir).output().map_err(|e| format!("run openssl: {e}"))?;
        if !out.status.success() {
            return Err(format!("openssl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr)));
        }
        Ok(())
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=frocket emulator CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ])?;
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "redis.key",
        "-out",
        "redis.csr",
    ])?;
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").map_err(|e| e.to_string())?;
    run(&[
        "x509",
        "-req",
        "-in",
        "redis.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "redis.crt",
    ])
}

impl AwsEmulator {
    /// Starts moto (with the extension), the Lambda emulator and the front on free ports.
    pub async fn start() -> Result<AwsEmulator, String> {
        let python = venv_python()?;
        let redis = redis_server_bin();
        let dir = tempfile::tempdir().map_err(|e| format!("emulator temp dir: {e}"))?;
        let tls = dir.path().join("tls");
        std::fs::create_dir_all(&tls).map_err(|e| e.to_string())?;
        make_certificates(&tls)?;
        let script = dir.path().join("moto_ext.py");
        std::fs::write(&script, MOTO_EXT).map_err(|e| format!("write {}: {e}", script.display()))?;
        let moto_port = free_port();
        let log = std::fs::File::create(dir.path().join("moto.log")).map_err(|e| e.to_string())?;
        let mut moto = Command::new(&python)
            .arg(&script)
            .args(["--port", &moto_port.to_string(), "--redis-server"])
            .arg(&redis)
            .arg("--tls-dir")
            .arg(&tls)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("start moto ({}): {e}", python.display()))?;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", moto_port)).is_err() {
            if let Ok(Some(st)) = moto.try_wait() {
                let log = std::fs::read_to_string(dir.path().join("moto.log")).unwrap_or_default();
                return Err(format!("moto exited ({st}):\n{log}"));
            }
            if std::time::Instant::now() > deadline {
                let _ = moto.kill();
                return Err("moto did not listen within 30 s".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let lambda = LambdaEmulator::start().await;
        let listener =
            tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| format!("bind the front: {e}"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let endpoint = format!("http://127.0.0.1:{port}");
        let front = Arc::new(Front {
            moto: format!("http://127.0.0.1:{moto_port}"),
            lambda: lambda.endpoint.clone(),
            endpoint: endpoint.clone(),
            dir: dir.path().to_path_buf(),
            http: reqwest::Client::builder().build().map_err(|e| e.to_string())?,
            deployed: Mutex::new(HashMap::new()),
            sync: tokio::sync::Mutex::new(()),
            emulator: lambda.handle(),
        });
        let app = axum::Router::new().fallback(forward).with_state(front);
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("the AWS emulator's front stopped: {e}");
            }
        });
        Ok(AwsEmulator { endpoint, lambda, moto, server, dir })
    }

    /// Environment for a client (the AWS CLI, the SDK, `cargo xtask deploy`) of this emulator.
    pub fn client_env(&self, region: &str) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY".into(), SECRET_KEY.into()),
            ("AWS_REGION".into(), region.into()),
        ]
    }

    /// moto's log (requests and the extension's errors), for test failure messages.
    pub fn moto_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("moto.log")).unwrap_or_default()
    }

    /// Redis servers the emulated replication groups run now.
    pub fn redis_servers(&self) -> usize {
        let out = Command::new("pgrep").args(["-P", &self.moto.id().to_string(), "redis-server"]).output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).lines().count()).unwrap_or(0)
    }
}

impl Drop for AwsEmulator {
    fn drop(&mut self) {
        self.server.abort();
        // SIGTERM first: the extension stops the Redis servers it started.
        let _ = Command::new("kill").arg(self.moto.id().to_string()).status();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.moto.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.moto.kill();
        let _ = self.moto.wait();
    }
}

/// The region of a SigV4-signed request (`Credential=AKID/date/REGION/service/aws4_request`).
fn signed_region(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let cred = auth.split("Credential=").nth(1)?;
    cred.split('/').nth(2).map(str::to_string)
}

/// The function of an Invoke call's path, if it is one.
fn invoked_function(method: &Method, path: &str) -> Option<String> {
    if method != Method::POST {
        return None;
    }
    let rest = path
        .strip_prefix("/2015-03-31/functions/")
        .and_then(|r| r.strip_suffix("/invocations"))
        .or_else(|| path.strip_prefix("/2014-11-13/functions/").and_then(|r| r.strip_suffix("/invoke-async/")))?;
    let decoded = percent_decode(rest);
    Some(function_name(&decoded).to_string())
}

async fn forward(State(front): State<Arc<Front>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, 256 * 1024 * 1024).await {
        Ok(b) => b,
        Err(e) => return (StatusCode::PAYLOAD_TOO_LARGE, e.to_string()).into_response(),
    };
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let target = match invoked_function(&parts.method, parts.uri.path()) {
        Some(name) => match front.sync_function(&name, &parts.headers).await {
            Ok(true) => &front.lambda,
            // Unknown to moto: let moto answer (ResourceNotFoundException).
            Ok(false) => &front.moto,
            Err(e) => {
                tracing::error!("emulator: deploy function {name}: {e}");
                let body = serde_json::json!({"Type": "Service", "message": format!("emulator: {e}")}).to_string();
                return (StatusCode::INTERNAL_SERVER_ERROR, [("x-amzn-ErrorType", "ServiceException")], body)
                    .into_response();
            }
        },
        None => &front.moto,
    };
    relay(&front.http, &format!("{target}{path_and_query}"), parts.method, &parts.headers, body).await
}

async fn relay(http: &reqwest::Client, url: &str, method: Method, headers: &HeaderMap, body: Bytes) -> Response {
    let mut req = http.request(method, url).body(body);
    for (k, v) in headers {
        if k != "host" && k != "content-length" {
            req = req.header(k, v);
        }
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            let mut out = Response::builder().status(status);
            for (k, v) in resp.headers() {
                if k != "transfer-encoding" && k != "content-length" && k != "connection" {
                    out = out.header(k, v);
                }
            }
            let bytes = resp.bytes().await.unwrap_or_default();
            out.body(Body::from(bytes)).unwrap_or_else(|e| (StatusCode::BAD_GATEWAY, e.to_string()).into_response())
        }
        Err(e) => (StatusCode::BAD_GATEWAY, format!("emulator: {url}: {e}")).into_response(),
    }
}

impl Front {
    /// Makes the Lambda emulator run what moto holds for `name`; false if moto has no such
    /// function.
    async fn sync_function(&self, name: &str, headers: &HeaderMap) -> Result<bool, String> {
        let _one = self.sync.lock().await;
        let mut get = self.http.get(format!("{}/2015-03-31/functions/{name}", self.moto));
        if let Some(auth) = headers.get("authorization") {
            get = get.header("authorization", auth); // moto picks the region from it
        }
        let resp = get.send().await.map_err(|e| format!("GetFunction: {e}"))?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        if !resp.status().is_success() {
            return Err(format!("GetFunction answered {}", resp.status()));
        }
        let f: serde_json::Value = resp.json().await.map_err(|e| format!("GetFunction: {e}"))?;
        let cfg = &f["Configuration"];
        let sha = cfg["CodeSha256"].as_str().unwrap_or_default().to_string();
        let key = format!("{sha}|{cfg}|{}", f["Concurrency"]);
        if self.deployed.lock().unwrap_or_else(|p| p.into_inner()).get(name) == Some(&key) {
            return Ok(true);
        }
        let location = f["Code"]["Location"].as_str().ok_or("GetFunction has no Code.Location")?;
        let code_dir = self.dir.join("code").join(hex_of(&sha));
        if !code_dir.join("bootstrap").exists() {
            let zip = self.http.get(location).send().await.map_err(|e| format!("fetch the code: {e}"))?;
            if !zip.status().is_success() {
                return Err(format!("fetch the code from {location}: {}", zip.status()));
            }
            let bytes = zip.bytes().await.map_err(|e| format!("fetch the code: {e}"))?;
            let tmp = self.dir.join("code").join(format!(".{}", hex_of(&sha)));
            let _ = std::fs::remove_dir_all(&tmp);
            std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
            zip::ZipArchive::new(std::io::Cursor::new(bytes))
                .and_then(|mut a| a.extract(&tmp))
                .map_err(|e| format!("unpack the code: {e}"))?;
            if !tmp.join("bootstrap").is_file() {
                return Err("the code has no bootstrap at its root (provided.al2023 runs ./bootstrap)".into());
            }
            std::fs::rename(&tmp, &code_dir).map_err(|e| e.to_string())?;
        }
        let region = signed_region(headers).unwrap_or_else(|| "us-east-1".into());
        let mut spec = FunctionSpec::new(name, code_dir.join("bootstrap"));
        spec.region = region.clone();
        spec.memory_mb = cfg["MemorySize"].as_u64().unwrap_or(128) as u32;
        spec.timeout = Duration::from_secs(cfg["Timeout"].as_u64().unwrap_or(3));
        spec.concurrency = f["Concurrency"]["ReservedConcurrentExecutions"].as_u64().map_or(8, |c| c as usize).max(1);
        if let Some(vars) = cfg["Environment"]["Variables"].as_object() {
            spec.env.extend(vars.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())));
        }
        // The runtime's own environment: its network is this endpoint, its role the
        // emulator's credentials, its trust store the emulator's CA.
        spec.env.extend([
            ("LAMBDA_TASK_ROOT".to_string(), code_dir.display().to_string()),
            ("AWS_ENDPOINT_URL".to_string(), self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID".to_string(), ACCESS_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), SECRET_KEY.to_string()),
            ("SSL_CERT_FILE".to_string(), self.dir.join("tls/ca.crt").display().to_string()),
        ]);
        self.emulator.deploy(spec);
        self.deployed.lock().unwrap_or_else(|p| p.into_inner()).insert(name.to_string(), key);
        Ok(true)
    }
}

/// A file-name-safe form of a base64 sha (the URL-safe alphabet, no padding).
fn hex_of(sha_b64: &str) -> String {
    sha_b64.trim_end_matches('=').replace('/', "_").replace('+', "-")
}
