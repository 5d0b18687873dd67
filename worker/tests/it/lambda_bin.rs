//! The Lambda worker binary fails its init phase clearly (one JSON log line naming the cause,
//! exit 1) when it is not run by Lambda, or its configuration or Redis is unusable — so that a
//! misconfigured function shows why in its logs instead of timing out invocations.

use std::process::{Command, Output};

fn run(env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_frocket-lambda"))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(env.iter().copied())
        .output()
        .expect("run frocket-lambda")
}

fn lambda_env<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("AWS_LAMBDA_FUNCTION_NAME", "frocket"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1769"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9"),
    ];
    env.extend_from_slice(extra);
    env
}

/// The process's log lines, parsed (each must be JSON).
fn log_lines(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}")))
        .collect()
}

fn fails_with(env: &[(&str, &str)], needle: &str) {
    let o = run(env);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let lines = log_lines(&o);
    let err = lines.iter().find(|l| l["level"] == "ERROR").unwrap_or_else(|| panic!("no ERROR line: {lines:?}"));
    let msg = err["message"].as_str().unwrap_or("");
    assert!(msg.contains(needle), "expected {needle:?} in {msg:?}");
}

#[test]
fn init_failures_are_one_clear_log_line_and_exit_1() {
    fails_with(&[], "not running in Lambda");
    fails_with(&lambda_env(&[]), "FROCKET_REDIS_URL");
    fails_with(&lambda_env(&[("FROCKET_REDIS_URL", "redis://127.0.0.1:9/0")]), "Connection refused");
    fails_with(
        &lambda_env(&[("FROCKET_REDIS_URL", "redis://127.0.0.1:9/0"), ("FROCKET_WORKER_REJECT_AGE", "soon")]),
        "FROCKET_WORKER_REJECT_AGE",
    );
    fails_with(&[("AWS_LAMBDA_FUNCTION_NAME", "f"), ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "big")], "not a number");
}
