//! `cargo xtask`: the project's automation entry point. Light on purpose: it only runs cargo
//! and other tools as subprocesses.
//!
//! - `cargo xtask demo [ARGS]`  build and run `frocket demo` (the README's main command)
//! - `cargo xtask test`         formatting, lints and the whole test suite (the README's test command)
//! - `cargo xtask bench [ARGS]` the query suite against peer engines in three regimes (see `suite.rs`);
//!   `bench scaling` the scaling figures and plot; `bench kernels` the criterion benches
//! - `cargo xtask dataprep ARGS` `frocket dataprep` from a release-like build
//! - `cargo xtask build-lambda [--arch arm64|x86_64]` the worker's Lambda artifact (`lambda.rs`)
//! - `cargo xtask emulate-lambda [ARGS]` Redis + the Lambda emulator running the worker, foreground
//! - `cargo xtask emulate` the AWS stand-in (moto + the Lambda emulator), foreground (`deploy.rs`)
//! - `cargo xtask deploy | destroy | status | query --env ENV`, `dataprep ... --env ENV --register
//!   NAME`: deployment (`deploy.rs`, docs/deploy.md)

mod bench;
mod deploy;
mod lambda;
mod measure;
mod original;
mod scaling;
mod suite;
mod tidy;

use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::{Command, ExitCode};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

fn run(mut cmd: Command, what: &str) -> Result<()> {
    eprintln!("xtask: {what}: {cmd:?}");
    let status = cmd.status().with_context(|| format!("start {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

fn has_nextest() -> bool {
    cargo().args(["nextest", "--version"]).output().is_ok_and(|o| o.status.success())
}

/// Python tools the integration tests run as real services, pinned, in the project venv.
const PY_TOOLS: &[&str] = &["moto[server]==5.2.5", "schemathesis==4.32.5", "cfn-lint==1.58.0"];
/// The executables of [`PY_TOOLS`] in the venv: any missing means install.
const PY_TOOL_BINS: &[&str] = &["moto_server", "st", "cfn-lint"];

/// Creates the project venv (`.venv`) when missing; returns its bin directory.
fn ensure_venv() -> Result<PathBuf> {
    let venv = root().join(".venv");
    let bin = venv.join("bin");
    if !bin.join("python").exists() {
        let mut c = Command::new("python3");
        c.args(["-m", "venv"]).arg(&venv);
        run(c, "create the project venv (.venv)")?;
    }
    Ok(bin)
}

/// Creates `.venv` and installs the pinned Python tools when missing; returns the venv's bin.
fn ensure_python_tools() -> Result<PathBuf> {
    let bin = ensure_venv()?;
    if PY_TOOL_BINS.iter().any(|b| !bin.join(b).exists()) {
        let mut c = Command::new(bin.join("python"));
        c.args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]).args(PY_TOOLS);
        run(c, "install pinned Python test tools")?;
    }
    Ok(bin)
}

/// Debian packages the tests run as real services: (a command that proves it is there,
/// the package). redis-server for the Redis suites; chromium and its WebDriver for the
/// explorer page's browser test.
const DEBIAN_TOOLS: &[(&str, &str)] =
    &[("redis-server", "redis-server"), ("chromium", "chromium"), ("chromedriver", "chromium-driver")];

/// Installs Debian's redis-server when it is missing and we may (root).
fn ensure_redis_server() -> Result<()> {
    ensure_debian_tools(&DEBIAN_TOOLS[..1])
}

/// Installs the missing ones of `tools` when we may (root).
fn ensure_debian_tools(tools: &[(&str, &str)]) -> Result<()> {
    let missing: Vec<&str> = tools
        .iter()
        .filter(|(cmd, _)| !Command::new(cmd).arg("--version").output().is_ok_and(|o| o.status.success()))
        .map(|(_, pkg)| *pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let is_root = Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !is_root {
        bail!(
            "missing Debian packages: install them (e.g. `sudo apt-get install {}`) and run again",
            missing.join(" ")
        );
    }
    let mut update = Command::new("apt-get");
    update.args(["update", "-qq"]);
    run(update, "apt-get update")?;
    let mut install = Command::new("apt-get");
    install.args(["install", "-y", "-qq"]).args(&missing).env("DEBIAN_FRONTEND", "noninteractive");
    run(install, &format!("install {}", missing.join(", ")))
}

fn test() -> Result<()> {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    run(fmt, "check formatting")?;
    let mut clippy = cargo();
    clippy.args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]);
    run(clippy, "clippy")?;
    if !has_nextest() {
        let mut install = cargo();
        install.args(["install", "cargo-nextest", "--locked"]);
        run(install, "install cargo-nextest")?;
    }
    let mut doc = cargo();
    doc.args(["test", "--workspace", "--doc"]);
    run(doc, "doc tests")?;
    // Last, so that the run closes on nextest's summary of every test.
    let bin = ensure_python_tools()?;
    ensure_debian_tools(DEBIAN_TOOLS)?;
    let containers = container_suite()?;
    let mut nextest = cargo();
    nextest.args(["nextest", "run", "--workspace", "--no-fail-fast"]);
    if !containers {
        nextest.args(["-E", "not binary(containers)"]);
    }
    nextest.env("FROCKET_TEST_MOTO_SERVER", bin.join("moto_server"));
    nextest.env("FROCKET_TEST_SCHEMATHESIS", bin.join("st"));
    nextest.env("FROCKET_TEST_CFN_LINT", bin.join("cfn-lint"));
    run(nextest, "tests")?;
    if !containers {
        println!("xtask: NOTE: the container suite (integration-tests/tests/containers) was SKIPPED: no Docker Engine");
    }
    Ok(())
}

/// Whether a Docker Engine answers (`docker version` reaches the server).
fn docker_engine() -> Result<(), String> {
    let out = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .map_err(|e| format!("docker: {e}"))?;
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).trim().to_string()) }
}

/// What `cargo xtask test` does about the container suite.
#[derive(Debug, PartialEq, Eq)]
enum ContainerSuite {
    Run,
    /// No engine, not in CI: leave the suite out and say so (the message).
    Skip(String),
    /// No engine under `CI=true`: the run fails (the message).
    Fail(String),
}

/// The decision, from whether an engine answered and whether `CI` is `true`.
fn container_suite_decision(engine: Result<(), String>, ci: Option<&str>) -> ContainerSuite {
    match engine {
        Ok(()) => ContainerSuite::Run,
        Err(why) if ci == Some("true") => ContainerSuite::Fail(format!(
            "CI=true but no Docker Engine is reachable ({why}): the container suite cannot be skipped in CI"
        )),
        Err(why) => ContainerSuite::Skip(format!(
            "xtask: no Docker Engine reachable ({why}): the container suite will be SKIPPED"
        )),
    }
}

/// Decides whether the container suite runs: with an engine, it installs docker-compose when
/// missing and builds the images first (so parallel tests find them); without one it is skipped
/// and said so, except under `CI=true`, where that is an error.
fn container_suite() -> Result<bool> {
    match container_suite_decision(docker_engine(), std::env::var("CI").ok().as_deref()) {
        ContainerSuite::Run => {
            ensure_debian_tools(&[("docker-compose", "docker-compose")])?;
            images(&[])?;
            Ok(true)
        }
        ContainerSuite::Fail(message) => bail!("{message}"),
        ContainerSuite::Skip(message) => {
            println!("{message}");
            Ok(false)
        }
    }
}

/// `cargo xtask images`: builds the binaries the images hold (debug, as the tests use them),
/// then the images that are missing or out of date (`integration_tests::images`).
fn images(args: &[String]) -> Result<()> {
    ensure_redis_server()?;
    let mut build = cargo();
    build.args([
        "build",
        "--package",
        "frocket",
        "--bin",
        "frocket",
        "--package",
        "worker",
        "--bin",
        "frocket-lambda",
        "--package",
        "integration-tests",
        "--bin",
        "frocket-s3",
        "--bin",
        "lambda-emulator",
        "--bin",
        "frocket-images",
    ]);
    run(build, "build the binaries of the images")?;
    let mut images = cargo();
    images.args(["run", "--quiet", "--package", "integration-tests", "--bin", "frocket-images", "--"]).args(args);
    run(images, "build the container images")
}

fn demo(args: &[String]) -> Result<()> {
    let mut c = cargo();
    c.args(["run", "--quiet", "--package", "frocket", "--", "demo"]).args(args);
    run(c, "demo")
}

fn bench(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("kernels") => kernels(&args[1..]),
        Some("scaling") => scaling::scaling(&args[1..]),
        Some("api") => bench_api(),
        Some("insights") => bench::insights(&args[1..]),
        _ => suite::suite(args),
    }
}

/// The API load test (frocket/tests/api/load.rs: 2,000 queries, 50 in flight, embedded and
/// queue mode) built with the bench profile; prints p50/p90/p99 and throughput per mode.
fn bench_api() -> Result<()> {
    ensure_redis_server()?;
    let mut c = cargo();
    c.args(["nextest", "run", "--cargo-profile", "bench", "--package", "frocket", "--test", "api"]).args([
        "--no-capture",
        "-E",
        "test(two_thousand_queries_fifty_in_flight)",
    ]);
    run(c, "API load test (bench profile)")
}

/// Criterion benches (engine kernels, part loading, queue overhead) and dataprep figures.
fn kernels(args: &[String]) -> Result<()> {
    ensure_debian_tools(DEBIAN_TOOLS)?;
    let benches =
        [("engine", "engine"), ("worker", "loader"), ("integration-tests", "queue"), ("integration-tests", "lambda")];
    for (package, bench) in benches {
        let mut c = cargo();
        c.args(["bench", "--package", package, "--bench", bench, "--"]).args(args);
        run(c, &format!("{package} benchmarks ({bench})"))?;
    }
    // Data preparation at 10M rows: throughput and peak memory (printed by the commands).
    let data = root().join("target/bench-data");
    let (synth, re) = (data.join("synth-10m"), data.join("repartitioned-10m"));
    let (synth, re) = (synth.to_string_lossy().into_owned(), re.to_string_lossy().into_owned());
    let steps: [(&str, Vec<&str>); 2] = [
        ("synthesize 10M rows", vec!["synth", "--rows", "10000000", "--parts", "8", "--force", "--output", &synth]),
        (
            "repartition 10M rows",
            vec![
                "repartition",
                &synth,
                "--group-column",
                "visitorid",
                "--timestamp-column",
                "timestamp",
                "--parts",
                "8",
                "--force",
                "--output",
                &re,
            ],
        ),
    ];
    for (what, args) in steps {
        let mut c = cargo();
        c.args(["run", "--quiet", "--profile", "bench", "--package", "frocket", "--", "dataprep"]).args(args);
        run(c, what)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let res = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("images") => images(&args[1..]),
        Some("demo") => demo(&args[1..]),
        Some("bench") => bench(&args[1..]),
        Some("build-lambda") => lambda::build_lambda(&args[1..]).map(|_| ()),
        Some("emulate") => deploy::emulate(&args[1..]),
        Some("emulate-lambda") => lambda::emulate_lambda(&args[1..]),
        Some("deploy") => deploy::deploy(&args[1..]),
        Some("destroy") => deploy::destroy(&args[1..]),
        Some("status") => deploy::status(&args[1..]),
        Some("query") => deploy::query(&args[1..]),
        Some("dataprep") if args.iter().any(|a| a == "--env" || a.starts_with("--env=")) => {
            deploy::dataprep_to_env(&args[1..])
        }
        Some("dataprep") => {
            let mut c = cargo();
            c.args(["run", "--quiet", "--profile", "bench", "--package", "frocket", "--", "dataprep"]).args(&args[1..]);
            run(c, "dataprep")
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <demo [--rows N --parts N --json] | test | images [--prune] | bench [--rows 10M --parts 8 --runs 5 --processes 3 --peers duckdb,chdb,polars|none --shapes heavy-tailed,bounce --queries q1,... --original --write] | bench scaling [--rows 1M,10M,100M --parts 1,2,4,8,16 --runs 3 --peers duckdb,chdb,polars|none --queries q1,... --peer-limit 300 --write] | bench kernels [criterion args] | dataprep <repartition|synth|retailrocket> ...> | build-lambda [--arch arm64|x86_64] | emulate-lambda [--concurrency N --memory MB ...] | emulate [--region R] | deploy --env ENV [--dry-run] | destroy --env ENV [--yes] | status --env ENV | query --env ENV DATASET QUERY.json | dataprep ... --env ENV --register NAME>"
            );
            return ExitCode::from(2);
        }
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod container_suite_tests {
    use super::{ContainerSuite, container_suite_decision};

    #[test]
    fn the_suite_runs_with_an_engine_is_skipped_without_and_fails_without_in_ci() {
        assert_eq!(container_suite_decision(Ok(()), Some("true")), ContainerSuite::Run);
        assert_eq!(container_suite_decision(Ok(()), None), ContainerSuite::Run);
        let no = || Err("Cannot connect to the Docker daemon".to_string());
        match container_suite_decision(no(), None) {
            ContainerSuite::Skip(m) => assert!(m.contains("SKIPPED") && m.contains("Cannot connect"), "{m}"),
            other => panic!("{other:?}"),
        }
        match container_suite_decision(no(), Some("false")) {
            ContainerSuite::Skip(_) => {}
            other => panic!("CI=false skips: {other:?}"),
        }
        match container_suite_decision(no(), Some("true")) {
            ContainerSuite::Fail(m) => assert!(m.contains("CI=true") && m.contains("Cannot connect"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
