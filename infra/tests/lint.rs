//! The template passes cfn-lint (pinned in the project venv; `cargo xtask test` installs it),
//! offline, with no finding at all — errors, warnings or informational.

use std::path::PathBuf;
use std::process::Command;

fn cfn_lint() -> PathBuf {
    std::env::var("FROCKET_TEST_CFN_LINT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/cfn-lint"))
}

#[test]
fn the_template_lints_clean() {
    let bin = cfn_lint();
    assert!(
        bin.exists(),
        "cfn-lint missing at {}: run `cargo xtask test` (installs it) or set FROCKET_TEST_CFN_LINT",
        bin.display()
    );
    let out = Command::new(&bin)
        .arg("--include-checks")
        .arg("I")
        .arg("--")
        .arg(infra::template_path())
        .output()
        .expect("run cfn-lint");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.trim().is_empty(),
        "cfn-lint findings:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A template with a fault is caught (the linter really runs on our file).
#[test]
fn a_broken_template_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let broken = infra::TEMPLATE.replace("Runtime: provided.al2023", "Runtime: provided.al1999");
    let path = dir.path().join("broken.yaml");
    std::fs::write(&path, broken).unwrap();
    let out = Command::new(cfn_lint()).arg("--").arg(&path).output().expect("run cfn-lint");
    assert!(!out.status.success(), "cfn-lint accepted an unknown runtime");
    assert!(String::from_utf8_lossy(&out.stdout).contains("provided.al1999"));
}
