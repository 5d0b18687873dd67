//! End-to-end tests of the `frocket` binary in embedded mode: every command, exit codes,
//! `--json` printing only JSON on stdout, stdin queries, concurrent processes.

use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn frocket(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_frocket"))
        .args(args)
        .env("FROCKET_HOME", home)
        .env_remove("FROCKET_REDIS_URL")
        .output()
        .expect("run frocket")
}

fn json_out(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)))
}

struct Env {
    home: tempfile::TempDir,
    data: tempfile::TempDir,
}

/// A home and a registered 2-part synthetic dataset `d`.
fn setup() -> Env {
    let env = Env { home: tempfile::tempdir().unwrap(), data: tempfile::tempdir().unwrap() };
    let dir = env.data.path().join("ds");
    let cfg = dataprep::synth::SynthConfig { n_items: 1000, ..dataprep::synth::SynthConfig::new(4_000, 2) };
    dataprep::synth::generate_dataset(&cfg, &dir, false).unwrap();
    let o = frocket(env.home.path(), &["register", "d", dir.to_str().unwrap(), "visitorid", "timestamp", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(json_out(&o)["dataset"]["totalParts"], json!(2));
    env
}

#[test]
fn register_list_info_run_unregister() {
    let env = setup();
    let h = env.home.path();
    let list = json_out(&frocket(h, &["list", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"]["name"], json!("d"));
    let table = frocket(h, &["list"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("visitorid"));

    let info = json_out(&frocket(h, &["info", "d", "--json"]));
    assert_eq!(info["schema"]["columns"]["event"], json!("STRING"));
    assert!(info["schema"]["potentialCategoricals"].as_array().unwrap().contains(&json!("event")));
    let full = json_out(&frocket(h, &["info", "d", "--full", "--json"]));
    assert_eq!(full["schema"]["columns"]["visitorid"]["colattrs"]["numericMin"], json!(0.0));

    // The three query sources agree.
    let q = r#"{"query": {"conditions": [{"filter": ["event", "==", "addtocart"]}], "aggregations": [{"column": "event", "type": "countPerValue"}]}}"#;
    let by_string = json_out(&frocket(h, &["run", "d", "--string", q, "--json"]));
    let qfile = env.data.path().join("q.json");
    std::fs::write(&qfile, q).unwrap();
    let by_file = json_out(&frocket(h, &["run", "d", "--file", qfile.to_str().unwrap(), "--json"]));
    let mut child = Command::new(env!("CARGO_BIN_EXE_frocket"))
        .args(["run", "d", "-f", "-", "--json"])
        .env("FROCKET_HOME", h)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(q.as_bytes()).unwrap();
    let by_stdin = json_out(&child.wait_with_output().unwrap());
    for v in [&by_file, &by_stdin] {
        assert_eq!(v["query"], by_string["query"]);
    }
    assert_eq!(by_string["success"], json!(true));
    let empty = json_out(&frocket(h, &["run", "d", "--empty", "--json"]));
    assert!(
        empty["query"]["matchingGroups"].as_u64().unwrap() > by_string["query"]["matchingGroups"].as_u64().unwrap()
    );
    assert_eq!(empty["query"]["aggregations"], Value::Null);

    let human = frocket(
        h,
        &[
            "run",
            "d",
            "--string",
            r#"{"funnel": {"sequence": [{"filter": ["event", "==", "view"]}, {"filter": ["event", "==", "addtocart"]}]}}"#,
        ],
    );
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(human.status.success() && text.contains("% of first") && text.contains("100.0%"), "{text}");

    // Queried just now: unregister is refused (exit 1) unless forced.
    let refused = frocket(h, &["unregister", "d"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("safety interval"));
    let forced = json_out(&frocket(h, &["unregister", "d", "--force", "--json"]));
    assert_eq!(forced["datasetFound"], json!(true));
    assert_eq!(json_out(&frocket(h, &["list", "--json"])), json!([]));
}

#[test]
fn exit_codes_and_json_errors() {
    let env = setup();
    let h = env.home.path();
    let bad = frocket(
        h,
        &["run", "d", "--string", r#"{"query": {"conditions": [{"filter": ["nope", "==", 1]}]}}"#, "--json"],
    );
    assert_eq!(bad.status.code(), Some(2));
    let v = json_out(&bad);
    assert_eq!(v["success"], json!(false));
    assert_eq!(v["errors"][0]["path"], json!("query.conditions[0].filter[0]"));
    assert_eq!(v["errors"][0]["kind"], json!("DATASET_MISMATCH"));
    assert_eq!(frocket(h, &["run", "d", "--string", "{not json"]).status.code(), Some(2));
    assert_eq!(frocket(h, &["run", "nope", "--empty"]).status.code(), Some(2));
    assert_eq!(frocket(h, &["run", "d", "--file", "/no/such/file.json"]).status.code(), Some(2));
    assert_eq!(frocket(h, &["run", "d"]).status.code(), Some(2), "no query source");
    assert_eq!(frocket(h, &["run", "d", "--empty", "--string", "{}"]).status.code(), Some(2), "two sources");
    assert_eq!(frocket(h, &["register", "x", "/no/such/dir", "u", "ts"]).status.code(), Some(2));
    assert_eq!(frocket(h, &["register", "x", "/tmp", "u", "ts", "--validation", "all"]).status.code(), Some(2));
    assert_eq!(frocket(h, &["bogus"]).status.code(), Some(2));
    // A failing job: a part deleted after registration.
    std::fs::remove_file(env.data.path().join("ds/part-00000.parquet")).unwrap();
    let failed = frocket(h, &["run", "d", "--empty", "--json"]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(json_out(&failed)["errorMessage"].as_str().unwrap().contains("part-00000.parquet"));
}

#[test]
fn config_shows_values_and_sources_and_rejects_bad_values() {
    let home = tempfile::tempdir().unwrap();
    let v = json_out(&frocket(home.path(), &["config", "--json"]));
    assert_eq!(v["home"]["source"], json!("env FROCKET_HOME"));
    assert_eq!(v["mode"]["value"], json!("embedded"));
    let bad = Command::new(env!("CARGO_BIN_EXE_frocket"))
        .args(["config"])
        .env("FROCKET_HOME", home.path())
        .env("FROCKET_WORKER_DISK_CACHE_SIZE_MB", "plenty")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("FROCKET_WORKER_DISK_CACHE_SIZE_MB"));
}

#[test]
fn concurrent_processes_share_the_embedded_store() {
    let env = setup();
    let dir = env.data.path().join("ds");
    let children: Vec<_> = (0..6)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_frocket"))
                .args(["register", &format!("c{i}"), dir.to_str().unwrap(), "visitorid", "timestamp", "--json"])
                .env("FROCKET_HOME", env.home.path())
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let list = json_out(&frocket(env.home.path(), &["list", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 7);
}

#[test]
fn last_run_metrics_are_written_in_prometheus_text_format() {
    let env = setup();
    let file = env.data.path().join("metrics.prom");
    let o = Command::new(env!("CARGO_BIN_EXE_frocket"))
        .args(["run", "d", "--empty", "--json"])
        .env("FROCKET_HOME", env.home.path())
        .env("FROCKET_METRICS_EXPORT_LASTRUN", &file)
        .output()
        .unwrap();
    assert!(o.status.success());
    let rows = json_out(&o)["stats"]["worker"]["scannedRows"].as_u64().unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let sum: u64 = text
        .lines()
        .filter(|l| l.starts_with("frocket_scanned_rows_sum{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as u64)
        .sum();
    assert_eq!(sum, rows, "metrics agree with the job's stats:\n{text}");
    assert!(text.contains("frocket_invoker_total_seconds_count{component=\"invoker\",dataset=\"d\",job_type=\"query\",success=\"true\"} 1"), "{text}");
}

#[test]
fn repartitioned_data_answers_like_the_original() {
    let home = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let h = home.path();
    let orig = data.path().join("orig");
    let re = data.path().join("re");
    assert!(
        frocket(h, &["dataprep", "synth", "--rows", "20000", "--parts", "2", "--output", orig.to_str().unwrap()])
            .status
            .success()
    );
    let glob = format!("{}/*.parquet", orig.display());
    let o = frocket(
        h,
        &[
            "dataprep",
            "repartition",
            &glob,
            "--group-column",
            "visitorid",
            "--timestamp-column",
            "timestamp",
            "--parts",
            "3",
            "--output",
            re.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_dir(&re).unwrap().count(), 3);
    let again = frocket(
        h,
        &[
            "dataprep",
            "repartition",
            orig.to_str().unwrap(),
            "--group-column",
            "visitorid",
            "--output",
            re.to_str().unwrap(),
        ],
    );
    assert_eq!(again.status.code(), Some(2), "refuses a non-empty output without --force");
    for (name, dir) in [("o", &orig), ("r", &re)] {
        assert!(
            frocket(h, &["register", name, dir.to_str().unwrap(), "visitorid", "timestamp", "-q"]).status.success()
        );
    }
    let q = include_str!("../queries/05-breakdown-funnel.json");
    let a = json_out(&frocket(h, &["run", "o", "--string", q, "--json"]));
    let b = json_out(&frocket(h, &["run", "r", "--string", q, "--json"]));
    assert_eq!(a["counters"], b["counters"]);
    assert_eq!(a["query"], b["query"]);
}

#[test]
fn retailrocket_ingestion_end_to_end() {
    let home = tempfile::tempdir().unwrap();
    let d = tempfile::tempdir().unwrap();
    let kaggle = d.path().join("kaggle");
    std::fs::create_dir_all(&kaggle).unwrap();
    std::fs::write(
        kaggle.join("item_properties_part1.csv"),
        "timestamp,itemid,property,value\n0,100,790,n150000.000\n0,100,categoryid,999\n",
    )
    .unwrap();
    std::fs::write(kaggle.join("item_properties_part2.csv"), "timestamp,itemid,property,value\n0,100,available,1\n")
        .unwrap();
    std::fs::write(kaggle.join("category_tree.csv"), "categoryid,parentid\n999,1\n").unwrap();
    std::fs::write(
        kaggle.join("events.csv"),
        "timestamp,visitorid,event,itemid,transactionid\n1000,1,view,100,\n2000,1,transaction,100,7\n3000,2,view,100,\n4000,3,transaction,100,8\n",
    )
    .unwrap();
    let out = d.path().join("rr");
    let o = frocket(
        home.path(),
        &[
            "dataprep",
            "retailrocket",
            "--input",
            kaggle.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--parts",
            "2",
            "--register",
            "rr",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The seed's "expensive purchase" query: users with a transaction of price >= 100000.
    let q = include_str!("../queries/03-expensive-purchase.json");
    let v = json_out(&frocket(home.path(), &["run", "rr", "--string", q, "--json"]));
    assert_eq!(v["counters"]["query:users"], json!(2), "visitors 1 and 3: {v}");
    assert_eq!(v["counters"]["query:rows"], json!(3));
}

#[test]
fn repartition_reads_s3_inputs() {
    let home = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let orig = data.path().join("orig");
    let cfg = dataprep::synth::SynthConfig { n_items: 1000, ..dataprep::synth::SynthConfig::new(8_000, 2) };
    let rows = dataprep::synth::generate_dataset(&cfg, &orig, false).unwrap().rows;
    let s3 = integration_tests::S3Server::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        s3.create_bucket("raw-events").await;
        s3.upload_dir(&orig, "raw-events", "in").await;
    });
    let out = data.path().join("re");
    let o = Command::new(env!("CARGO_BIN_EXE_frocket"))
        .args([
            "dataprep",
            "repartition",
            "s3://raw-events/in/*.parquet",
            "--group-column",
            "visitorid",
            "--parts",
            "3",
            "--output",
            out.to_str().unwrap(),
        ])
        .env("FROCKET_HOME", home.path())
        .env("AWS_ENDPOINT_URL", &s3.endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&format!("({rows} rows")),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 3);
    let staging = std::fs::read_dir(data.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with('.'))
        .count();
    assert_eq!(staging, 0, "downloads cleaned up");
}

#[test]
fn repartition_reads_csv_inputs() {
    let home = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut a = String::from("user,ts,event\n");
    let mut b = String::from("user,ts,event\n");
    for i in 0..300 {
        let line = format!("u{},{},{}\n", i % 40, 1000 + i, if i % 3 == 0 { "buy" } else { "view" });
        if i % 2 == 0 { a.push_str(&line) } else { b.push_str(&line) }
    }
    std::fs::write(data.path().join("a.csv"), a).unwrap();
    std::fs::write(data.path().join("b.csv"), b).unwrap();
    let out = data.path().join("parts");
    let glob = format!("{}/*.csv", data.path().display());
    let o = frocket(
        home.path(),
        &[
            "dataprep",
            "repartition",
            &glob,
            "--group-column",
            "user",
            "--timestamp-column",
            "ts",
            "--parts",
            "2",
            "--output",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(frocket(home.path(), &["register", "c", out.to_str().unwrap(), "user", "ts", "-q"]).status.success());
    let v = json_out(&frocket(
        home.path(),
        &["run", "c", "--string", r#"{"query": {"conditions": [{"filter": ["event", "==", "buy"]}]}}"#, "--json"],
    ));
    assert_eq!(v["query"]["matchingGroups"], json!(40), "every user has a buy: i%3==0 covers all i%40");
    assert_eq!(v["query"]["matchingGroupRows"], json!(300));
}

/// Runs frocket under a file-size limit (SIGXFSZ ignored, so writes fail with EFBIG as on a
/// full disk) — portable, no root needed.
fn frocket_with_small_disk(home: &Path, args: &[&str], limit_kb: u32) -> Output {
    let mut script = format!("trap '' XFSZ; ulimit -f {limit_kb}; exec '{}'", env!("CARGO_BIN_EXE_frocket"));
    for a in args {
        script.push_str(&format!(" '{a}'"));
    }
    Command::new("sh").args(["-c", &script]).env("FROCKET_HOME", home).output().expect("run sh")
}

#[test]
fn a_full_disk_fails_cleanly_and_leaves_no_half_written_dataset() {
    let home = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let out = data.path().join("synth");
    let o = frocket_with_small_disk(
        home.path(),
        &["dataprep", "synth", "--rows", "300000", "--parts", "2", "--output", out.to_str().unwrap()],
        200,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("error:") && err.contains(".parquet"), "names the file: {err}");
    assert!(!out.exists(), "no half-written dataset");
    let hidden = std::fs::read_dir(data.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with('.'))
        .count();
    assert_eq!(hidden, 0, "temp directory removed");
    // Repartitioning hits the same limit while spilling or writing parts.
    let small = data.path().join("small");
    assert!(
        frocket(
            home.path(),
            &["dataprep", "synth", "--rows", "300000", "--parts", "2", "--output", small.to_str().unwrap()]
        )
        .status
        .success()
    );
    let re = data.path().join("re");
    let o = frocket_with_small_disk(
        home.path(),
        &[
            "dataprep",
            "repartition",
            small.to_str().unwrap(),
            "--group-column",
            "visitorid",
            "--parts",
            "2",
            "--output",
            re.to_str().unwrap(),
        ],
        300,
    );
    assert_ne!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!re.exists(), "no half-written output");
    let hidden = std::fs::read_dir(data.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with('.'))
        .count();
    assert_eq!(hidden, 0, "work directory removed");
}

/// Run-specific values (ids, clock times, paths) replaced, so that outputs compare byte for byte.
fn normalize(text: &str, data_dir: &Path) -> String {
    fn walk(v: &mut Value, in_stats: bool) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    match (k.as_str(), &*x) {
                        ("requestId" | "registeredAt", Value::String(_)) | ("datasetLastUsed", Value::Number(_)) => {
                            *x = json!(format!("<{k}>"))
                        }
                        ("totalTime", Value::Number(_)) if in_stats => *x = json!(0.0),
                        // "last used N seconds ago": N depends on how busy the machine is.
                        ("errorMessage", Value::String(m)) if m.contains(" seconds ago") => {
                            let n: String = m
                                .split("last used ")
                                .nth(1)
                                .unwrap_or("")
                                .chars()
                                .take_while(char::is_ascii_digit)
                                .collect();
                            *x = json!(m.replacen(&format!("last used {n} seconds"), "last used <n> seconds", 1));
                        }
                        ("loadTime" | "totalTime", Value::Object(_)) if in_stats => {
                            for t in x.as_object_mut().unwrap().values_mut() {
                                *t = json!(0.0);
                            }
                        }
                        _ => walk(x, in_stats || k == "stats"),
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, in_stats)),
            _ => {}
        }
    }
    let text = text.replace(data_dir.to_str().unwrap(), "<data>");
    let mut v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    walk(&mut v, false);
    serde_json::to_string_pretty(&v).unwrap()
}

/// The JSON that `frocket` prints is byte-compatible with what it printed before its results were
/// typed (golden files captured from that binary, commit 01550c3, with the same commands on the
/// same synthetic data): key order, nulls, number formats and values, run-specific values aside.
#[test]
fn printed_json_matches_the_golden_files() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let home = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let h = home.path();
    let ds = data.path().join("ds");
    let ok = |o: Output| {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    ok(frocket(h, &["dataprep", "synth", "--rows", "4000", "--parts", "2", "--output", ds.to_str().unwrap()]));
    let check = |name: &str, out: &str| {
        let want = std::fs::read_to_string(golden.join(name)).unwrap();
        assert_eq!(normalize(out, data.path()), normalize(&want, data.path()), "{name}");
    };
    check(
        "register.json",
        &ok(frocket(h, &["register", "d", ds.to_str().unwrap(), "visitorid", "timestamp", "--json"])),
    );
    let canonical = r#"{"timeframe": {"from": 0, "to": 99999999999999}, "query": {"relation": "$0 or $1", "conditions": [{"filter": ["event", "==", "addtocart"]}, {"name": "buyers", "filter": ["event", "==", "transaction"], "target": ["count", ">=", 1]}], "aggregations": [{"column": "event"}, {"column": "categoryid", "type": "sumPerValue", "otherColumn": "price"}, {"column": "event", "type": "meanPerValue", "otherColumn": "price"}]}, "funnel": {"sequence": [{"filter": ["event", "==", "view"]}, {"filter": ["event", "==", "addtocart"]}, {"filter": ["event", "==", "transaction"]}], "maxDuration": 86400000, "stepAggregations": [{"column": "event", "type": "countPerValue"}], "endAggregations": [{"column": "itemid", "type": "groupsPerValue"}]}}"#;
    check("query-canonical.json", &ok(frocket(h, &["run", "d", "--string", canonical, "--json"])));
    let legacy = golden.join("legacy-query-input.json");
    check("query-legacy.json", &ok(frocket(h, &["run", "d", "--file", legacy.to_str().unwrap(), "--json"])));
    check("query-empty.json", &ok(frocket(h, &["run", "d", "--empty", "--json"])));
    let bad = r#"{"query": {"conditions": [{"filter": ["nope", "==", 1]}, {"filter": ["event", ">", 1]}]}}"#;
    let invalid = frocket(h, &["run", "d", "--string", bad, "--json"]);
    assert_eq!(invalid.status.code(), Some(2));
    check("query-invalid.json", &String::from_utf8(invalid.stdout).unwrap());
    let refused = frocket(h, &["unregister", "d", "--json"]);
    assert_eq!(refused.status.code(), Some(1));
    check("unregister-refused.json", &String::from_utf8(refused.stdout).unwrap());
    // A failed job: the same `errorMessage`, plus the structured `errors` added since.
    std::fs::remove_file(ds.join("part-00001.parquet")).unwrap();
    let failed = frocket(h, &["run", "d", "--empty", "--json"]);
    assert_eq!(failed.status.code(), Some(1));
    let mut v = json_out(&failed);
    let errors = v.as_object_mut().unwrap().remove("errors").expect("structured errors");
    assert_eq!(errors[0]["kind"], json!("TASKS_FAILED"));
    assert_eq!(errors[0]["message"], v["errorMessage"]);
    check("query-failed.json", &v.to_string());
}

/// Funnel insights through the CLI on the hand-checked fixture (view → cart → buy: 5, 3, 1):
/// `--json` carries the timings and the breakdown; the table shows them under the funnel.
#[test]
fn funnel_insights_print_timings_and_a_breakdown() {
    let home = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    integration_tests::funnel_fixture(data.path());
    let o = frocket(home.path(), &["register", "shop", data.path().to_str().unwrap(), "user", "ts", "-q"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let q = r#"{"funnel": {"sequence": [{"filter": ["event", "==", "view"]}, {"filter": ["event", "==", "cart"]},
        {"filter": ["event", "==", "buy"]}], "stepTimings": true, "breakdown": {"column": "country", "top": 2}}}"#;
    let o = frocket(home.path(), &["run", "shop", "--string", q, "--json"]);
    let v = json_out(&o);
    // u1 view@1 cart@2 buy@3; u2 view@1 cart@5; u5 view@1 cart@3 (buy@3 does not chain).
    assert_eq!(v["funnel"]["sequence"][1]["timings"]["fromFirst"]["count"], json!(3));
    assert_eq!(v["funnel"]["sequence"][1]["timings"]["fromFirst"]["p50"], json!(2.0));
    assert_eq!(v["funnel"]["sequence"][1]["timings"]["fromFirst"]["max"], json!(4.0));
    assert_eq!(v["funnel"]["sequence"][2]["timings"]["fromPrevious"]["mean"], json!(1.0));
    assert!(v["funnel"]["sequence"][0].get("timings").is_none());
    let values = &v["funnel"]["breakdown"]["values"];
    assert_eq!(values[0], json!({"value": "de", "users": [2, 0, 0], "conversion": [1.0, 0.0, 0.0]}));
    assert_eq!(values[1], json!({"value": "us", "users": [2, 2, 1], "conversion": [1.0, 1.0, 0.5]}));
    assert_eq!(values[2]["value"], json!("(other)"));
    assert_eq!(values[2]["users"], json!([1, 1, 0]));
    let o = frocket(home.path(), &["run", "shop", "--string", q]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("p50 from previous") && text.contains("breakdown by country"), "{text}");
    assert!(text.lines().any(|l| l.contains("us") && l.contains("1 (50.0%)")), "{text}");
}
