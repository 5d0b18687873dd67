//! schemathesis (pinned in the project venv, `cargo xtask test` installs it) against the live
//! server's `/openapi.json`: every check, with tokens configured (so `ignored_auth` checks that
//! each guarded operation refuses requests without them), on the fixture registered as `shop`
//! and `scratch`. No failures allowed: a 5xx, an undocumented status or content type, a body
//! not matching its schema, or invalid input accepted all fail the test.

use crate::*;
use std::path::PathBuf;

fn schemathesis() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("FROCKET_TEST_SCHEMATHESIS") {
        return Some(PathBuf::from(p));
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/st");
    venv.exists().then_some(venv)
}

#[tokio::test]
async fn schemathesis_finds_no_failure() {
    let st = schemathesis()
        .expect("schemathesis missing: run `cargo xtask test` (installs it in .venv) or set FROCKET_TEST_SCHEMATHESIS");
    let dirs = Dirs::fixture();
    let root = dirs.data().display().to_string();
    let admin = "schemathesis-admin-token-0001";
    let server = Server::start(
        &dirs.home("home"),
        &["--allow-root", &root, "--max-body-bytes", "65536"],
        &[("FROCKET_API_ADMIN_TOKEN", admin)],
    );
    let c = client();
    for name in ["shop", "scratch"] {
        let r = c
            .post(server.at("/datasets/register"))
            .bearer_auth(admin)
            .body(dirs.register_body(name).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    let work = dirs.tmp.path().join("schemathesis");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/schemathesis.toml"), work.join("schemathesis.toml"))
        .unwrap();
    let out = tokio::process::Command::new(st)
        .current_dir(&work)
        .args(["run", &server.at("/openapi.json"), "--checks", "all", "--max-examples", "25", "--seed", "20261201"])
        .args(["--generation-database", "none", "--no-color", "--workers", "2", "--request-timeout", "30"])
        .args(["-H", &format!("Authorization: Bearer {admin}")])
        .output()
        .await
        .expect("run schemathesis");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "schemathesis failed:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("Tested: 10"), "every operation was tested:\n{text}");
    println!("{text}");
}
