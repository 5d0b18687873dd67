//! `lambda-emulator`: the harness's Lambda emulator as a program (what `cargo xtask emulate`
//! runs), to try Lambda mode on one machine: optionally a private `redis-server`, and the
//! emulator serving one function whose instances run the given `bootstrap` (the
//! `frocket-lambda` worker). It writes the environment an invoker needs to a file and runs in
//! the foreground until Ctrl-C / SIGTERM.
//!
//! `lambda-emulator --bootstrap target/debug/frocket-lambda [--function frocket]
//!   [--concurrency 4] [--memory 1769] [--timeout 30] [--redis] [--env K=V]... [--env-file PATH]
//!   [--listen ADDR]` (default a free loopback port; `0.0.0.0:9001` in the container image)

use integration_tests::RedisServer;
use integration_tests::lambda_emulator::{FunctionSpec, LambdaEmulator};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

struct Args {
    spec: FunctionSpec,
    redis: bool,
    env_file: Option<PathBuf>,
    listen: String,
}

fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut spec = FunctionSpec::new("frocket", PathBuf::new());
    let (mut redis, mut env_file, mut listen) = (false, None, "127.0.0.1:0".to_string());
    while let Some(a) = it.next() {
        let mut value = |what: &str| it.next().ok_or(format!("{a} needs {what}"));
        match a.as_str() {
            "--bootstrap" => spec.bootstrap = PathBuf::from(value("a path")?),
            "--function" => spec.name = value("a name")?,
            "--concurrency" => {
                spec.concurrency = value("a number")?.parse().map_err(|e| format!("--concurrency: {e}"))?
            }
            "--memory" => spec.memory_mb = value("MB")?.parse().map_err(|e| format!("--memory: {e}"))?,
            "--timeout" => {
                spec.timeout = Duration::from_secs(value("seconds")?.parse().map_err(|e| format!("--timeout: {e}"))?)
            }
            "--env" => {
                let kv = value("K=V")?;
                let (k, v) = kv.split_once('=').ok_or(format!("--env {kv}: expected K=V"))?;
                spec.env.push((k.to_string(), v.to_string()));
            }
            "--redis" => redis = true,
            "--env-file" => env_file = Some(PathBuf::from(value("a path")?)),
            "--listen" => listen = value("an address")?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if !spec.bootstrap.is_file() {
        return Err(format!(
            "--bootstrap {:?}: not a file (build it: cargo build -p worker --bin frocket-lambda)",
            spec.bootstrap
        ));
    }
    Ok(Args { spec, redis, env_file, listen })
}

async fn run(mut args: Args) -> Result<(), String> {
    let redis = args.redis.then(RedisServer::start);
    let mut invoker_env = Vec::new();
    if let Some(r) = &redis {
        args.spec.env.push(("FROCKET_REDIS_URL".into(), r.url()));
        invoker_env.push(("FROCKET_REDIS_URL".to_string(), r.url()));
    }
    let emulator = LambdaEmulator::start_on(&args.listen).await?;
    let name = args.spec.name.clone();
    emulator.deploy(args.spec);
    invoker_env.extend([
        ("FROCKET_INVOKER".to_string(), "aws_lambda".to_string()),
        ("FROCKET_LAMBDA_NAME".to_string(), name.clone()),
        ("FROCKET_LAMBDA_ENDPOINT_URL".to_string(), emulator.endpoint.clone()),
        ("AWS_REGION".to_string(), "us-east-1".to_string()),
        // The emulator does not check signatures, but the SDK signs: any credentials do.
        ("AWS_ACCESS_KEY_ID".to_string(), "emulator".to_string()),
        ("AWS_SECRET_ACCESS_KEY".to_string(), "emulator".to_string()),
    ]);
    let banner = format!("Lambda emulator at {} serving function '{name}'", emulator.endpoint);
    integration_tests::announce_and_wait(&banner, &invoker_env, args.env_file.as_deref()).await?;
    let st = emulator.stats(&name);
    println!(
        "stopping: {} invocations on {} instances ({} cold starts, {} lost, {} throttled)",
        st.invocations, st.instances_started, st.cold_starts, st.lost, st.throttled
    );
    drop(emulator);
    drop(redis);
    Ok(())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter("warn").init();
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    integration_tests::run_main(run(args))
}
