//! `cargo xtask build-lambda` (the worker's Lambda artifact, built with cargo-lambda) and
//! `cargo xtask emulate-lambda` (Redis and the Lambda emulator running the worker, on this machine).

use crate::{cargo, ensure_redis_server, ensure_venv, root, run};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// cargo-lambda from PyPI (the wheel carries the binary; `ziglang` comes with it for
/// cross-compiling to arm64), pinned.
const CARGO_LAMBDA: &str = "cargo-lambda==1.9.2";
/// Lambda's limits on a function's deployment package.
pub const MAX_ZIPPED_BYTES: u64 = 50 * 1024 * 1024;
pub const MAX_UNZIPPED_BYTES: u64 = 250 * 1024 * 1024;
/// The worker binary that becomes the artifact's `bootstrap`.
pub const WORKER_BIN: &str = "frocket-lambda";

/// `arm64` (Graviton, the default: cheaper per GB-second) or `x86_64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Arm64,
    X86_64,
}

impl Arch {
    pub fn parse(s: &str) -> Result<Arch> {
        match s {
            "arm64" | "aarch64" => Ok(Arch::Arm64),
            "x86_64" | "x86-64" | "amd64" => Ok(Arch::X86_64),
            other => bail!("unknown --arch {other:?}: arm64 or x86_64"),
        }
    }
    fn rust_target(self) -> &'static str {
        match self {
            Arch::Arm64 => "aarch64-unknown-linux-gnu",
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
        }
    }
}

/// Whether a package of these sizes fits Lambda; the message says by how much.
pub fn check_limits(zipped: u64, unzipped: u64) -> Result<String> {
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let line = format!(
        "{:.1} MiB zipped (limit {:.0} MiB), {:.1} MiB unzipped (limit {:.0} MiB)",
        mib(zipped),
        mib(MAX_ZIPPED_BYTES),
        mib(unzipped),
        mib(MAX_UNZIPPED_BYTES)
    );
    if zipped > MAX_ZIPPED_BYTES || unzipped > MAX_UNZIPPED_BYTES {
        bail!("the artifact is too large for Lambda: {line}");
    }
    Ok(line)
}

/// Installs cargo-lambda in the project venv when missing; returns its path.
fn ensure_cargo_lambda() -> Result<PathBuf> {
    let bin = ensure_venv()?;
    let exe = bin.join("cargo-lambda");
    if !exe.exists() {
        let mut c = Command::new(bin.join("python"));
        c.args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", CARGO_LAMBDA]);
        run(c, "install cargo-lambda in .venv")?;
    }
    Ok(exe)
}

fn ensure_rust_target(target: &str) -> Result<()> {
    let out = Command::new("rustup").args(["target", "list", "--installed"]).output().context("run rustup")?;
    if String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == target) {
        return Ok(());
    }
    let mut c = Command::new("rustup");
    c.args(["target", "add", target]);
    run(c, &format!("add the Rust target {target}"))
}

/// `cargo xtask build-lambda [--arch arm64|x86_64]`: returns the zip's path.
pub fn build_lambda(args: &[String]) -> Result<PathBuf> {
    let mut arch = Arch::Arm64;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--arch" => arch = Arch::parse(it.next().context("--arch needs arm64 or x86_64")?)?,
            other => bail!("unknown argument {other} (usage: cargo xtask build-lambda [--arch arm64|x86_64])"),
        }
    }
    let t = std::time::Instant::now();
    cargo_lambda_build(WORKER_BIN, arch, "zip")?;
    let dir = root().join("target/lambda").join(WORKER_BIN);
    let zip = dir.join("bootstrap.zip");
    let zipped = std::fs::metadata(&zip).with_context(|| format!("read {}", zip.display()))?.len();
    let unzipped = unzipped_size(&zip)?;
    let line = check_limits(zipped, unzipped)?;
    eprintln!("xtask: {} ({arch:?}, built in {:.0} s): {line}", zip.display(), t.elapsed().as_secs_f64());
    Ok(zip)
}

/// One binary built for Lambda (profile `lambda`, the given architecture); returns its path
/// (`target/lambda/<bin>/bootstrap`). `cargo xtask deploy` packages it (infra::bundle).
pub fn build_lambda_binary(bin: &str, arch: Arch) -> Result<PathBuf> {
    cargo_lambda_build(bin, arch, "binary")?;
    let path = root().join("target/lambda").join(bin).join("bootstrap");
    anyhow::ensure!(path.is_file(), "cargo-lambda did not produce {}", path.display());
    Ok(path)
}

fn cargo_lambda_build(bin: &str, arch: Arch, format: &str) -> Result<()> {
    let cargo_lambda = ensure_cargo_lambda()?;
    ensure_rust_target(arch.rust_target())?;
    let venv_bin = cargo_lambda.parent().context("venv bin")?.to_path_buf();
    let path = format!("{}:{}", venv_bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut c = Command::new(&cargo_lambda);
    c.current_dir(root()).env("PATH", path).args([
        "lambda",
        "build",
        "--profile",
        "lambda",
        "--bin",
        bin,
        "--output-format",
        format,
    ]);
    match arch {
        Arch::Arm64 => c.arg("--arm64"),
        // The host's own target: plain cargo, no zig needed.
        Arch::X86_64 => c.args(["--x86-64", "--compiler", "cargo"]),
    };
    run(c, &format!("build {bin} for Lambda ({arch:?})"))
}

/// The total size of a zip's entries, from `unzip -l`'s last line (or the bootstrap's size).
fn unzipped_size(zip: &Path) -> Result<u64> {
    if let Ok(out) = Command::new("unzip").arg("-l").arg(zip).output()
        && out.status.success()
    {
        let text = String::from_utf8_lossy(&out.stdout);
        if let Some(n) = text.lines().last().and_then(|l| l.split_whitespace().next()).and_then(|n| n.parse().ok()) {
            return Ok(n);
        }
    }
    let bootstrap = zip.with_file_name("bootstrap");
    Ok(std::fs::metadata(&bootstrap).with_context(|| format!("read {}", bootstrap.display()))?.len())
}

/// `cargo xtask emulate-lambda [emulator args]`: builds the worker, `frocket` and the emulator
/// (debug), then runs, in the foreground, a private Redis and the Lambda emulator whose function
/// runs the worker binary; the invoker's environment goes to `target/emulate.env`. (The whole
/// AWS stand-in, for `deploy --env`, is `cargo xtask emulate`.)
pub fn emulate_lambda(args: &[String]) -> Result<()> {
    ensure_redis_server()?;
    let mut b = cargo();
    b.args(["build", "--package", "worker", "--bin", WORKER_BIN, "--package", "integration-tests", "--bin"]).args([
        "lambda-emulator",
        "--package",
        "frocket",
    ]);
    run(b, "build the worker, the emulator and frocket")?;
    let debug = root().join("target/debug");
    let mut c = Command::new(debug.join("lambda-emulator"));
    c.current_dir(root())
        .arg("--bootstrap")
        .arg(debug.join(WORKER_BIN))
        .arg("--redis")
        .arg("--env-file")
        .arg(root().join("target/emulate.env"))
        .args(args);
    run(c, "the Lambda emulator")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_above_lambda_limits_are_refused() {
        assert!(check_limits(20 << 20, 60 << 20).unwrap().contains("20.0 MiB zipped"));
        let e = check_limits(51 << 20, 60 << 20).unwrap_err().to_string();
        assert!(e.contains("too large") && e.contains("51.0 MiB zipped"), "{e}");
        assert!(check_limits(10 << 20, 251 << 20).is_err());
        assert!(check_limits(MAX_ZIPPED_BYTES, MAX_UNZIPPED_BYTES).is_ok());
        assert_eq!(Arch::parse("aarch64").unwrap(), Arch::Arm64);
        assert!(Arch::parse("mips").is_err());
    }
}
