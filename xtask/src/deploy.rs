//! `cargo xtask deploy | destroy | status | query | emulate`, and `dataprep ... --env` (docs/deploy.md).
//!
//! Light like the rest of xtask: it builds and runs `frocket-infra` (the `infra` crate: change
//! sets, events, status) and `frocket` (`--env`: the deployed API function) as subprocesses.
//! With `AWS_ENDPOINT_URL` set (`cargo xtask emulate` prints it), the same commands run against
//! the AWS stand-in.

use crate::lambda::{Arch, WORKER_BIN};
use crate::{cargo, ensure_python_tools, ensure_redis_server, root, run};
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::Command;

/// `cargo run` of a workspace binary (debug: the same build the tests use).
fn workspace_run(package: &str, bin: &str) -> Command {
    let mut c = cargo();
    c.args(["run", "--quiet", "--package", package, "--bin", bin, "--"]);
    c
}

fn infra() -> Command {
    workspace_run("infra", "frocket-infra")
}

fn frocket() -> Command {
    workspace_run("frocket", "frocket")
}

/// The value after `--flag` in `args`, and `args` without both.
fn take_flag(args: &[String], flag: &str) -> (Option<String>, Vec<String>) {
    let mut out = Vec::new();
    let mut value = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == flag {
            value = it.next().cloned();
        } else if let Some(v) = a.strip_prefix(&format!("{flag}=")) {
            value = Some(v.to_string());
        } else {
            out.push(a.clone());
        }
    }
    (value, out)
}

fn take_switch(args: &[String], switch: &str) -> (bool, Vec<String>) {
    let rest: Vec<String> = args.iter().filter(|a| *a != switch).cloned().collect();
    (rest.len() != args.len(), rest)
}

fn require_env(env: Option<String>, usage: &str) -> Result<String> {
    env.with_context(|| format!("--env is required (usage: {usage})"))
}

/// The environment's Lambda architecture, from `frocket-infra describe` (which validates it).
fn architecture(env: &str) -> Result<Arch> {
    let out = infra().args(["describe", "--env", env]).output().context("run frocket-infra describe")?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let arch = text.lines().find_map(|l| l.strip_prefix("architecture=")).context("no architecture")?;
    Arch::parse(arch.trim())
}

/// `cargo xtask deploy --env ENV [--dry-run]`: builds both Lambda binaries for the
/// environment's architecture (cargo-lambda, profile `lambda`), then deploys them.
/// `--worker PATH --api PATH` deploy prebuilt binaries instead.
pub fn deploy(args: &[String]) -> Result<()> {
    let usage = "cargo xtask deploy --env ENV [--dry-run] [--worker PATH --api PATH]";
    let (env, rest) = take_flag(args, "--env");
    let env = require_env(env, usage)?;
    let (worker, rest) = take_flag(&rest, "--worker");
    let (api, rest) = take_flag(&rest, "--api");
    let (dry_run, rest) = take_switch(&rest, "--dry-run");
    if !rest.is_empty() {
        bail!("unknown arguments {rest:?} (usage: {usage})");
    }
    let (worker, api) = match (worker, api) {
        (Some(w), Some(a)) => (PathBuf::from(w), PathBuf::from(a)),
        (None, None) => {
            let arch = architecture(&env)?;
            let w = crate::lambda::build_lambda_binary(WORKER_BIN, arch)?;
            let a = crate::lambda::build_lambda_binary("frocket", arch)?;
            (w, a)
        }
        _ => bail!("give both --worker and --api, or neither (usage: {usage})"),
    };
    let mut c = infra();
    c.args(["deploy", "--env", &env, "--worker"]).arg(&worker).arg("--api").arg(&api);
    if dry_run {
        c.arg("--dry-run");
    }
    run(c, &format!("deploy {env}"))
}

/// `cargo xtask destroy --env ENV [--yes]`.
pub fn destroy(args: &[String]) -> Result<()> {
    let (env, rest) = take_flag(args, "--env");
    let env = require_env(env, "cargo xtask destroy --env ENV [--yes]")?;
    let mut c = infra();
    c.args(["destroy", "--env", &env]).args(rest);
    run(c, &format!("destroy {env}"))
}

/// `cargo xtask status --env ENV`: the stack, Redis, the functions, then the registered
/// datasets (through the API function).
pub fn status(args: &[String]) -> Result<()> {
    let (env, rest) = take_flag(args, "--env");
    let env = require_env(env, "cargo xtask status --env ENV")?;
    if !rest.is_empty() {
        bail!("unknown arguments {rest:?}");
    }
    let mut c = infra();
    c.args(["status", "--env", &env]);
    run(c, &format!("status of {env}"))?;
    let mut l = frocket();
    l.args(["--env", &env, "list"]);
    run(l, &format!("datasets of {env}"))
}

/// `cargo xtask query --env ENV DATASET QUERY.json [--json]`.
pub fn query(args: &[String]) -> Result<()> {
    let usage = "cargo xtask query --env ENV DATASET QUERY.json [--json]";
    let (env, rest) = take_flag(args, "--env");
    let env = require_env(env, usage)?;
    let (json, rest) = take_switch(&rest, "--json");
    let [dataset, file] = rest.as_slice() else { bail!("usage: {usage}") };
    let mut c = frocket();
    c.args(["--env", &env, "run", dataset, "--file", file]);
    if json {
        c.arg("--json");
    }
    run(c, &format!("query {dataset} on {env}"))
}

/// `cargo xtask dataprep <retailrocket|repartition|synth> ARGS --env ENV --register NAME`:
/// prepares locally (under `--output`, default `target/dataprep/NAME`), uploads the parts to the
/// stack's dataset bucket and registers them there.
pub fn dataprep_to_env(args: &[String]) -> Result<()> {
    let usage = "cargo xtask dataprep <retailrocket|repartition|synth> ARGS --env ENV --register NAME";
    let (env, rest) = take_flag(args, "--env");
    let env = require_env(env, usage)?;
    let (name, rest) = take_flag(&rest, "--register");
    let name = name.with_context(|| format!("--register NAME is required with --env (usage: {usage})"))?;
    let (output, rest) = take_flag(&rest, "--output");
    let output = output.map(PathBuf::from).unwrap_or_else(|| root().join("target/dataprep").join(&name));
    let group = take_flag(&rest, "--group-column").0.unwrap_or_else(|| "visitorid".into());
    let timestamp = take_flag(&rest, "--timestamp-column").0.unwrap_or_else(|| "timestamp".into());
    let mut prep = cargo();
    prep.args(["run", "--quiet", "--profile", "bench", "--package", "frocket", "--", "dataprep"])
        .args(&rest)
        .arg("--output")
        .arg(&output);
    run(prep, "prepare the dataset")?;
    let out = infra()
        .args(["upload", "--env", &env, "--name", &name])
        .arg(&output)
        .output()
        .context("run frocket-infra upload")?;
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        bail!("upload failed");
    }
    let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let mut reg = frocket();
    reg.args(["--env", &env, "register", &name, &url, &group, &timestamp]);
    run(reg, &format!("register {name} on {env}"))
}

/// `cargo xtask emulate [--region R]`: the AWS stand-in in the foreground; the client
/// environment goes to `target/emulate.env`.
pub fn emulate(args: &[String]) -> Result<()> {
    ensure_redis_server()?;
    let bin = ensure_python_tools()?;
    let mut b = cargo();
    b.args(["build", "--package", "integration-tests", "--bin", "aws-emulator"]);
    run(b, "build the AWS emulator")?;
    let mut c = Command::new(root().join("target/debug/aws-emulator"));
    c.current_dir(root())
        .env("FROCKET_TEST_MOTO_SERVER", bin.join("moto_server"))
        .arg("--env-file")
        .arg(root().join("target/emulate.env"))
        .args(args);
    run(c, "the AWS emulator")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_taken_out_of_the_arguments() {
        let args: Vec<String> =
            ["retailrocket", "--env", "dev", "--register=shop", "--parts", "4"].iter().map(|s| s.to_string()).collect();
        let (env, rest) = take_flag(&args, "--env");
        assert_eq!(env.as_deref(), Some("dev"));
        let (name, rest) = take_flag(&rest, "--register");
        assert_eq!(name.as_deref(), Some("shop"));
        assert_eq!(rest, ["retailrocket", "--parts", "4"]);
        let (yes, rest) = take_switch(&rest, "--parts");
        assert!(yes);
        assert_eq!(rest, ["retailrocket", "4"]);
        assert!(require_env(None, "u").unwrap_err().to_string().contains("--env is required"));
    }
}
