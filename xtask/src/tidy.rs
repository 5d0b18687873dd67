//! Tidy checks of the workspace's own rules (run by `cargo xtask test` as unit tests): crate
//! dependency direction (normal and dev dependencies each against their own table), crates that
//! must not link heavy or IO dependencies, no import circles between the files of a crate, a
//! `//!` header on every Rust file, and file sizes.

#[cfg(test)]
mod tests {
    use crate::root;
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};

    /// Workspace crates each crate may depend on as normal dependencies (ARCHITECTURE.md).
    fn allowed() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
        BTreeMap::from([
            ("protocol", BTreeSet::new()),
            ("engine", BTreeSet::from(["protocol"])),
            ("dataprep", BTreeSet::from(["protocol"])),
            ("storage", BTreeSet::from(["protocol"])),
            ("worker", BTreeSet::from(["protocol", "engine", "storage", "settings"])),
            ("invoker", BTreeSet::from(["protocol", "storage"])),
            ("frocket", BTreeSet::from(["protocol", "storage", "settings", "worker", "invoker", "dataprep"])),
            ("xtask", BTreeSet::new()),
            ("infra", BTreeSet::from(["settings"])),
            ("settings", BTreeSet::from(["storage"])),
            (
                "integration-tests",
                BTreeSet::from(["protocol", "engine", "storage", "settings", "worker", "invoker", "dataprep"]),
            ),
        ])
    }

    /// Workspace crates allowed only as dev-dependencies (test data, the service harness).
    fn allowed_dev() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
        BTreeMap::from([
            ("engine", BTreeSet::from(["dataprep"])),
            ("worker", BTreeSet::from(["dataprep"])),
            ("invoker", BTreeSet::new()),
            ("frocket", BTreeSet::from(["integration-tests"])),
            // The deploy tests run the AWS stand-in and compare with embedded answers.
            ("infra", BTreeSet::from(["integration-tests"])),
        ])
    }

    /// External crates a workspace crate must not link, even indirectly (normal dependencies).
    const FORBIDDEN: &[(&str, &[&str])] = &[
        // The invoker runs in API servers and Lambda invokers: no data engine in it.
        ("invoker", &["polars", "polars-core", "polars-arrow", "polars-parquet"]),
        // The wire contract is pure: no IO runtime, no data engine.
        ("protocol", &["polars", "polars-core", "tokio", "redis", "aws-sdk-s3"]),
        // The engine does no IO (polars itself links tokio, so only network clients are checked).
        ("engine", &["redis", "aws-sdk-s3", "aws-config"]),
        // The deployment tool builds in a minute on its own: no data engine in it.
        ("infra", &["polars", "polars-core", "polars-arrow", "polars-parquet"]),
    ];

    fn cargo_metadata(no_deps: bool) -> serde_json::Value {
        let mut args = vec!["metadata", "--format-version", "1"];
        if no_deps {
            args.push("--no-deps");
        }
        let out = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(args)
            .current_dir(root())
            .output()
            .expect("run cargo metadata");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    #[test]
    fn dependency_direction() {
        let meta = cargo_metadata(true);
        let (allowed, allowed_dev) = (allowed(), allowed_dev());
        let members: BTreeSet<String> =
            meta["packages"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect();
        for p in meta["packages"].as_array().unwrap() {
            let name = p["name"].as_str().unwrap();
            let ok = allowed.get(name).unwrap_or_else(|| panic!("crate {name} missing from the tidy table"));
            let ok_dev = allowed_dev.get(name).cloned().unwrap_or_default();
            for d in p["dependencies"].as_array().unwrap() {
                let dep = d["name"].as_str().unwrap();
                if !members.contains(dep) {
                    continue;
                }
                let dev = d["kind"].as_str() == Some("dev");
                let fine = ok.contains(dep) || (dev && ok_dev.contains(dep));
                let how = if dev { "dev-" } else { "" };
                assert!(fine, "{name} must not {how}depend on {dep} (see ARCHITECTURE.md)");
            }
        }
    }

    /// Normal (and build) dependencies of `root_pkg`, transitively, from the resolved graph.
    fn linked(meta: &serde_json::Value, root_pkg: &str) -> BTreeSet<String> {
        let nodes = meta["resolve"]["nodes"].as_array().expect("resolve graph");
        let by_id: BTreeMap<&str, &serde_json::Value> = nodes.iter().map(|n| (n["id"].as_str().unwrap(), n)).collect();
        let name_of: BTreeMap<&str, &str> = meta["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
            .collect();
        let start = name_of.iter().find(|(_, n)| **n == root_pkg).map(|(id, _)| *id).expect("package");
        let mut seen = BTreeSet::new();
        let mut todo = vec![start];
        while let Some(id) = todo.pop() {
            for d in by_id[id]["deps"].as_array().unwrap() {
                let linked = d["dep_kinds"].as_array().unwrap().iter().any(|k| k["kind"].as_str() != Some("dev"));
                let dep = d["pkg"].as_str().unwrap();
                if linked && seen.insert(dep) {
                    todo.push(dep);
                }
            }
        }
        seen.into_iter().map(|id| name_of[id].to_string()).collect()
    }

    #[test]
    fn light_crates_do_not_link_heavy_dependencies() {
        let meta = cargo_metadata(false);
        for (krate, banned) in FORBIDDEN {
            let deps = linked(&meta, krate);
            assert!(deps.contains("serde"), "the graph walk works ({krate} links serde)");
            for b in *banned {
                assert!(!deps.contains(*b), "{krate} must not link {b} (ARCHITECTURE.md, cross-cutting decisions)");
            }
        }
        assert!(linked(&meta, "worker").contains("polars"), "the check would see polars where it is linked");
    }

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
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

    /// Identifiers named after `crate::` in code (comments dropped): `crate::a::b` gives `a`,
    /// `crate::{a, b::c}` gives `a` and `b`.
    fn crate_references(text: &str) -> BTreeSet<String> {
        let code: String = text
            .lines()
            .map(|l| match l.find("//") {
                Some(i) if !l[..i].contains('"') => &l[..i],
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n");
        let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
        let mut out = BTreeSet::new();
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let mut depth = 0;
                let mut item = String::new();
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            out.insert(ident(item.trim()));
                            item.clear();
                            continue;
                        }
                        _ => {}
                    }
                    if depth == 0 {
                        item.push(c);
                    }
                }
                out.insert(ident(item.trim()));
            } else {
                out.insert(ident(rest));
            }
        }
        out.remove("");
        out
    }

    /// Names the crate root re-exports, by the module they come from (`pub use foo::{A, B}`).
    fn root_reexports(root_text: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for stmt in root_text.split(';') {
            let Some(path) = stmt.trim().strip_prefix("pub use ") else { continue };
            let Some((module, items)) = path.split_once("::") else { continue };
            let items = items.trim_start_matches('{').trim_end_matches('}');
            for item in items.split(',') {
                let name = item.rsplit("::").next().unwrap_or("").trim();
                let name = name.rsplit(" as ").next().unwrap_or(name).trim();
                if !name.is_empty() {
                    out.insert(name.to_string(), module.trim().to_string());
                }
            }
        }
        out
    }

    /// The module graph of one crate's `src`, at top-level module granularity (`foo.rs` and
    /// `foo/*.rs` are one node): module → modules it imports.
    fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
        let mut files = Vec::new();
        rust_files(src, &mut files);
        let top = |f: &Path| -> Option<String> {
            let rel = f.strip_prefix(src).ok()?;
            let first = rel.components().next()?.as_os_str().to_string_lossy().into_owned();
            let m = first.trim_end_matches(".rs").to_string();
            (m != "lib" && m != "main").then_some(m)
        };
        let modules: BTreeSet<String> = files.iter().filter_map(|f| top(f)).collect();
        let root_text = ["lib.rs", "main.rs"]
            .iter()
            .filter_map(|r| std::fs::read_to_string(src.join(r)).ok())
            .collect::<Vec<_>>()
            .join("\n");
        let reexports = root_reexports(&root_text);
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for f in &files {
            let Some(m) = top(f) else { continue };
            let text = std::fs::read_to_string(f).unwrap();
            let edges = graph.entry(m.clone()).or_default();
            for r in crate_references(&text) {
                let target = if modules.contains(&r) { Some(r) } else { reexports.get(&r).cloned() };
                if let Some(t) = target.filter(|t| *t != m && modules.contains(t)) {
                    edges.insert(t);
                }
            }
        }
        graph
    }

    /// A cycle of the graph, if any (as the list of modules along it).
    fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
        fn visit(
            n: &str,
            graph: &BTreeMap<String, BTreeSet<String>>,
            state: &mut BTreeMap<String, u8>,
            stack: &mut Vec<String>,
        ) -> Option<Vec<String>> {
            state.insert(n.to_string(), 1);
            stack.push(n.to_string());
            for next in graph.get(n).into_iter().flatten() {
                match state.get(next.as_str()).copied().unwrap_or(0) {
                    1 => {
                        let at = stack.iter().position(|s| s == next).unwrap();
                        let mut cycle = stack[at..].to_vec();
                        cycle.push(next.clone());
                        return Some(cycle);
                    }
                    0 => {
                        if let Some(c) = visit(next, graph, state, stack) {
                            return Some(c);
                        }
                    }
                    _ => {}
                }
            }
            stack.pop();
            state.insert(n.to_string(), 2);
            None
        }
        let mut state = BTreeMap::new();
        for n in graph.keys() {
            if state.get(n.as_str()).copied().unwrap_or(0) == 0
                && let Some(c) = visit(n, graph, &mut state, &mut Vec::new())
            {
                return Some(c);
            }
        }
        None
    }

    #[test]
    fn the_circle_finder_sees_imports_through_groups_and_reexports() {
        let refs = crate_references(
            "use crate::{a::X, b, C};\nuse crate::d::Y; // crate::e\nfn f() { crate::g::h(); }\n$crate::z::W",
        );
        assert_eq!(refs, BTreeSet::from(["a", "b", "C", "d", "g", "z"].map(String::from)));
        let re = root_reexports("pub mod a;\npub use a::{X, Y as Z};\npub use b::W;\n");
        assert_eq!(re.get("Z").map(String::as_str), Some("a"));
        assert_eq!(re.get("W").map(String::as_str), Some("b"));
        let g = BTreeMap::from([
            ("a".to_string(), BTreeSet::from(["b".to_string()])),
            ("b".to_string(), BTreeSet::from(["c".to_string()])),
            ("c".to_string(), BTreeSet::from(["a".to_string()])),
        ]);
        assert_eq!(find_cycle(&g), Some(["a", "b", "c", "a"].map(String::from).to_vec()));
        let mut acyclic = g.clone();
        acyclic.get_mut("c").unwrap().clear();
        assert_eq!(find_cycle(&acyclic), None);
    }

    #[test]
    fn no_file_imports_another_that_imports_it_back() {
        let meta = cargo_metadata(true);
        let mut checked = 0;
        for p in meta["packages"].as_array().unwrap() {
            let dir = Path::new(p["manifest_path"].as_str().unwrap()).parent().unwrap().to_path_buf();
            let src = dir.join("src");
            if !src.is_dir() {
                continue;
            }
            let graph = module_graph(&src);
            checked += graph.len();
            if let Some(cycle) = find_cycle(&graph) {
                panic!(
                    "{}: modules import each other in a circle: {} (move what they share to the module that owns it)",
                    p["name"].as_str().unwrap(),
                    cycle.join(" → ")
                );
            }
        }
        assert!(checked > 30, "the module graphs were found ({checked} modules)");
    }
}
