//! Tidy checks of the workspace's own rules (run by `cargo xtask test` as unit tests):
//! crate dependency direction, a `//!` header on every Rust file, and file sizes.

#[cfg(test)]
mod tests {
    use crate::root;
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// Which workspace crates each crate may depend on (ARCHITECTURE.md).
    fn allowed() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
        BTreeMap::from([
            ("protocol", BTreeSet::new()),
            ("engine", BTreeSet::from(["protocol", "dataprep"])), // dataprep: dev-only, bench data
            ("dataprep", BTreeSet::from(["protocol"])),
            ("storage", BTreeSet::from(["protocol"])),
            // dataprep: dev-only, test data
            ("worker", BTreeSet::from(["protocol", "engine", "storage", "dataprep"])),
            ("invoker", BTreeSet::from(["protocol", "storage"])),
            // integration-tests: dev-only, the service harness
            ("frocket", BTreeSet::from(["protocol", "storage", "worker", "invoker", "dataprep", "integration-tests"])),
            ("xtask", BTreeSet::new()),
            ("integration-tests", BTreeSet::from(["protocol", "engine", "storage", "worker", "invoker", "dataprep"])),
        ])
    }

    #[test]
    fn dependency_direction() {
        let out = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["metadata", "--no-deps", "--format-version", "1"])
            .current_dir(root())
            .output()
            .expect("run cargo metadata");
        assert!(out.status.success());
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let allowed = allowed();
        let members: BTreeSet<String> =
            meta["packages"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect();
        for p in meta["packages"].as_array().unwrap() {
            let name = p["name"].as_str().unwrap();
            let ok = allowed.get(name).unwrap_or_else(|| panic!("crate {name} missing from the tidy table"));
            for d in p["dependencies"].as_array().unwrap() {
                let dep = d["name"].as_str().unwrap();
                if members.contains(dep) {
                    assert!(ok.contains(dep), "{name} must not depend on {dep} (see ARCHITECTURE.md)");
                }
            }
        }
    }

    fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                if !name.starts_with('.') && name != "target" && name != "scratch" {
                    rust_files(&p, out);
                }
            } else if name.ends_with(".rs") {
                out.push(p);
            }
        }
    }

    #[test]
    fn every_rust_file_says_what_it_is_for_and_stays_small() {
        let mut files = Vec::new();
        rust_files(&root(), &mut files);
        assert!(files.len() > 10);
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            assert!(text.starts_with("//!"), "{} must start with a //! line", f.display());
            let lines = text.lines().count();
            assert!(lines < 1000, "{} has {lines} lines: split it by responsibility", f.display());
        }
    }
}
