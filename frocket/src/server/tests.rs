//! Router tests (`oneshot`, no socket): every endpoint, status code and the stream format, on
//! an embedded stack over the hand-checked funnel fixture (`integration_tests::funnel_fixture`:
//! view → cart → buy reaches 5, 3, 1 users). The bound-server, two-server, shutdown, browser,
//! schemathesis and load tests are in `frocket/tests/api*.rs`.

use super::*;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use tower::ServiceExt;

const FUNNEL: &str = r#"{"funnel": {"sequence": [{"filter": ["event", "==", "view"]}, {"filter": ["event", "==", "cart"]},
  {"filter": ["event", "==", "buy"]}], "stepAggregations": [{"column": "country", "type": "groupsPerValue"}]}}"#;

struct Fixture {
    dir: tempfile::TempDir,
    state: Arc<ServerState>,
}

impl Fixture {
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn router(&self) -> Router {
        router(self.state.clone())
    }

    async fn call(
        &self,
        method: &str,
        uri: &str,
        body: Option<&str>,
        token: Option<&str>,
    ) -> (StatusCode, String, String) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = req.body(body.map_or_else(Body::empty, |b| Body::from(b.to_string()))).unwrap();
        let resp = self.router().oneshot(req).await.unwrap();
        let status = resp.status();
        let ct = resp.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        (status, ct, String::from_utf8(bytes.to_vec()).unwrap())
    }

    async fn json(&self, method: &str, uri: &str, body: Option<&str>) -> (StatusCode, Value) {
        let (s, ct, text) = self.call(method, uri, body, None).await;
        assert!(ct.starts_with("application/json"), "{method} {uri}: {ct} {text}");
        (s, serde_json::from_str(&text).unwrap())
    }

    async fn register(&self) -> Value {
        let body = json!({"name": "shop", "basepath": self.data().join("shop"), "groupIdColumn": "user", "timestampColumn": "ts"});
        let (s, v) = self.json("POST", "/datasets/register", Some(&body.to_string())).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }
}

async fn fixture_with(mut opts: ServeOptions, env: &[(&str, &str)]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    integration_tests::funnel_fixture(&dir.path().join("data/shop"));
    let home = dir.path().join("home").display().to_string();
    let mut vars: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    vars.insert("FROCKET_HOME".into(), home);
    let config = settings::Config::from_lookup(&|k| vars.get(k).cloned()).unwrap();
    opts.allow_roots = vec![std::fs::canonicalize(dir.path().join("data")).unwrap()];
    let app = App::new(config, true).await.unwrap();
    Fixture { state: ServerState::new(app, opts), dir }
}

async fn fixture() -> Fixture {
    fixture_with(ServeOptions::default(), &[]).await
}

fn steps(result: &Value) -> Vec<u64> {
    result["funnel"]["sequence"].as_array().unwrap().iter().map(|s| s["matchingGroups"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn register_list_schema_parts_and_query_the_fixture() {
    let f = fixture().await;
    let reg = f.register().await;
    assert_eq!(reg["dataset"]["totalParts"], json!(2));
    let (s, list) = f.json("GET", "/datasets", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"]["name"], json!("shop"));
    let (s, short) = f.json("GET", "/datasets/shop/schema", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(short["columns"]["country"], json!("STRING"));
    assert_eq!(short["minTimestamp"], json!(1.0));
    assert_eq!(short["maxTimestamp"], json!(11.0));
    let (_, full) = f.json("GET", "/datasets/shop/schema?full=TRUE", None).await;
    assert_eq!(full["columns"]["price"]["colattrs"]["numericMax"], json!(10.0));
    let (s, parts) = f.json("GET", "/datasets/shop/parts", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(parts["filenames"], json!(["part-00000.parquet", "part-00001.parquet"]));

    // The hand-checked funnel, and the same answer as the invoker gives directly.
    let (s, r) = f.json("POST", "/datasets/shop/query", Some(FUNNEL)).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(steps(&r), vec![5, 3, 1]);
    let by_country: Vec<Value> =
        r["funnel"]["sequence"].as_array().unwrap().iter().map(|s| s["aggregations"][0]["value"].clone()).collect();
    assert_eq!(by_country, vec![json!({"us": 2, "de": 2, "fr": 1}), json!({"us": 2, "fr": 1}), json!({"us": 1})]);
    let q: Value = serde_json::from_str(FUNNEL).unwrap();
    let a = &f.state.app;
    let direct = invoker::run_query_job(&*a.datastore, &*a.executor, "shop", &q, &a.job_options(), None).await.unwrap();
    assert_eq!(r["funnel"], serde_json::to_value(&direct.result.funnel).unwrap());

    // Empty query: every user; and the job shows in the metrics.
    let (s, e) = f.json("GET", "/datasets/shop/empty-query", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(e["query"]["matchingGroups"], json!(5));
    assert_eq!(e["query"]["matchingGroupRows"], json!(13));
    let (s, ct, text) = f.call("GET", "/metrics", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(ct.starts_with("text/plain"), "{ct}");
    assert!(text.lines().any(|l| l.starts_with("frocket_") && l.contains("dataset=\"shop\"")), "{text}");
}

#[tokio::test]
async fn a_streamed_query_sends_progress_then_the_result() {
    let f = fixture().await;
    // A streamed registration: progress over the validated parts, then the registration.
    let body =
        json!({"name": "shop", "basepath": f.data().join("shop"), "groupIdColumn": "user", "timestampColumn": "ts"});
    let (s, ct, text) = f.call("POST", "/datasets/register?stream=true", Some(&body.to_string()), None).await;
    assert_eq!((s, ct.as_str()), (StatusCode::OK, "application/x-ndjson"));
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!((last["success"].clone(), last["dataset"]["totalParts"].clone()), (json!(true), json!(2)), "{text}");
    assert!(text.lines().any(|l| l.contains("\"stage\":\"RUNNING\"")), "{text}");
    let (s, ct, text) = f.call("POST", "/datasets/shop/query?stream=true", Some(FUNNEL), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ct, "application/x-ndjson");
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["stage"], json!("STARTING"));
    let progress: Vec<&Value> = lines[1..lines.len() - 1].iter().collect();
    assert!(!progress.is_empty(), "{text}");
    let mut done = 0;
    for p in &progress {
        assert_eq!(p["stage"], json!("RUNNING"));
        assert_eq!(p["total"], json!(2));
        let d = p["done"].as_u64().unwrap();
        assert!(d >= done, "progress never goes back: {text}");
        done = d;
        let t = &p["tasks"];
        assert_eq!(t["ENDED_SUCCESS"].as_u64().unwrap() + t["PENDING"].as_u64().unwrap(), 2);
    }
    assert_eq!(done, 2, "the last progress line has every task done: {text}");
    let last = lines.last().unwrap();
    assert_eq!(last["success"], json!(true));
    assert_eq!(steps(last), vec![5, 3, 1]);

    // Faults found before the job starts keep their status codes when streaming.
    let (s, v) = f.json("POST", "/datasets/nope/query?stream=true", Some(FUNNEL)).await;
    assert_eq!((s, v["errors"][0]["kind"].clone()), (StatusCode::NOT_FOUND, json!("DATASET_NOT_FOUND")));
    let (s, v) = f
        .json(
            "POST",
            "/datasets/shop/query?stream=true",
            Some(r#"{"query": {"conditions": [{"filter": ["nope", "==", 1]}]}}"#),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["errors"][0]["path"], json!("query.conditions[0].filter[0]"));
}

#[tokio::test]
async fn a_job_failing_after_it_started_streams_its_error_with_the_status() {
    let f = fixture().await;
    f.register().await;
    // The data disappears after registration: every task fails (kept for retries, then 502).
    std::fs::remove_file(f.data().join("shop/part-00001.parquet")).unwrap();
    let (s, v) = f.json("POST", "/datasets/shop/query", Some(FUNNEL)).await;
    assert_eq!(s, StatusCode::BAD_GATEWAY, "{v}");
    assert_eq!(v["errors"][0]["kind"], json!("TASKS_FAILED"));
    assert!(v["errorMessage"].as_str().unwrap().contains("part-00001.parquet"), "{v}");
    let (s, _, text) = f.call("GET", "/datasets/shop/empty-query?stream=true", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!((last["success"].clone(), last["status"].clone()), (json!(false), json!(502)), "{text}");
}

/// Method, URI, body, the status and error kind wanted, and the path wanted (`.`: any).
type Case<'a> = (&'a str, String, Option<String>, StatusCode, &'a str, Option<&'a str>);

#[tokio::test]
async fn bad_input_gets_the_documented_status_and_a_json_error() {
    let f = fixture_with(ServeOptions { body_limit: 4096, ..ServeOptions::default() }, &[]).await;
    f.register().await;
    let data = f.data();
    let reg = |v: Value| v.to_string();
    let shop = data.join("shop").display().to_string();
    let cases: Vec<Case<'_>> = vec![
        (
            "POST",
            "/datasets/shop/query".into(),
            Some("{not json".into()),
            StatusCode::BAD_REQUEST,
            "INVALID_JSON",
            None,
        ),
        (
            "POST",
            "/datasets/shop/query".into(),
            Some(r#"{"blah": 123}"#.into()),
            StatusCode::BAD_REQUEST,
            "SCHEMA",
            Some("blah"),
        ),
        (
            "POST",
            "/datasets/shop/query".into(),
            Some(r#"{"query": {"conditions": [{"filter": ["price", "==", "x"]}]}}"#.into()),
            StatusCode::BAD_REQUEST,
            "TYPE_MISMATCH",
            Some("query.conditions[0].filter[2]"),
        ),
        ("POST", "/datasets/nope/query".into(), Some("{}".into()), StatusCode::NOT_FOUND, "DATASET_NOT_FOUND", None),
        ("GET", "/datasets/nope/schema".into(), None, StatusCode::NOT_FOUND, "DATASET_NOT_FOUND", None),
        ("GET", "/datasets/nope/parts".into(), None, StatusCode::NOT_FOUND, "DATASET_NOT_FOUND", None),
        ("GET", "/datasets/nope/empty-query".into(), None, StatusCode::NOT_FOUND, "DATASET_NOT_FOUND", None),
        ("POST", "/datasets/nope/unregister".into(), None, StatusCode::OK, "", None),
        (
            "POST",
            "/datasets/shop/unregister?force=maybe".into(),
            None,
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            Some("force"),
        ),
        ("GET", "/datasets/shop/schema?full=1".into(), None, StatusCode::BAD_REQUEST, "BAD_REQUEST", Some("full")),
        ("GET", "/no/such/route".into(), None, StatusCode::NOT_FOUND, "NOT_FOUND", None),
        ("DELETE", "/datasets".into(), None, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", None),
        (
            "POST",
            "/datasets/shop/query".into(),
            Some(format!(r#"{{"pad": "{}"}}"#, "x".repeat(5000))),
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            None,
        ),
        // Registration arguments: 422 with the field at fault.
        (
            "POST",
            "/datasets/register".into(),
            Some(reg(json!({"name": "x", "basepath": shop, "timestampColumn": "ts"}))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_ARGUMENTS",
            Some("."),
        ),
        (
            "POST",
            "/datasets/register".into(),
            Some(reg(
                json!({"name": "x", "basepath": shop, "groupIdColumn": "user", "timestampColumn": "ts", "validateUniques": "yes"}),
            )),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_ARGUMENTS",
            Some("validateUniques"),
        ),
        (
            "POST",
            "/datasets/register".into(),
            Some(reg(
                json!({"name": "x", "basepath": shop, "group_id_column": "user", "timestamp_column": "ts", "validation_mode": "all"}),
            )),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_ARGUMENTS",
            Some("validationMode"),
        ),
        (
            "POST",
            "/datasets/register".into(),
            Some(reg(
                json!({"name": "x", "basepath": shop, "groupIdColumn": "user", "timestampColumn": "ts", "extra": 1}),
            )),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_ARGUMENTS",
            Some("."),
        ),
        (
            "POST",
            "/datasets/register".into(),
            Some(reg(json!({"name": "x", "basepath": shop, "groupIdColumn": "nope", "timestampColumn": "ts"}))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "DATA_VALIDATION",
            None,
        ),
        (
            "POST",
            "/datasets/register".into(),
            Some(reg(json!({"name": "", "basepath": shop, "groupIdColumn": "user", "timestampColumn": "ts"}))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_ARGUMENTS",
            Some("name"),
        ),
        (
            "POST",
            "/datasets/register".into(),
            Some(reg(
                json!({"name": "x", "basepath": "ftp://host/x", "groupIdColumn": "user", "timestampColumn": "ts"}),
            )),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_ARGUMENTS",
            Some("basepath"),
        ),
    ];
    for (method, uri, body, status, kind, path) in cases {
        let (s, v) = f.json(method, &uri, body.as_deref()).await;
        assert_eq!(s, status, "{method} {uri}: {v}");
        if status == StatusCode::OK {
            assert_eq!(v["datasetFound"], json!(false));
            continue;
        }
        assert_eq!(v["success"], json!(false), "{v}");
        assert_eq!(v["errors"][0]["kind"], json!(kind), "{method} {uri}: {v}");
        if let Some(p) = path {
            let got = v["errors"][0]["path"].as_str().unwrap_or_else(|| panic!("no path: {v}"));
            assert!(got == p || (p == "." && !got.is_empty()), "{method} {uri}: path {got:?}, wanted {p:?}");
        }
    }
    // Nothing was registered by the refused requests.
    let (_, list) = f.json("GET", "/datasets", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn registration_is_confined_to_the_allowed_roots() {
    let f = fixture().await;
    let outside = tempfile::tempdir().unwrap();
    integration_tests::funnel_fixture(outside.path());
    let link = f.data().join("escape");
    std::os::unix::fs::symlink(outside.path(), &link).unwrap();
    let traversal =
        format!("{}/shop/../../{}", f.data().display(), outside.path().file_name().unwrap().to_string_lossy());
    for basepath in [
        "/etc".to_string(),
        "/".to_string(),
        outside.path().display().to_string(),
        format!("file://{}", outside.path().display()),
        link.display().to_string(),
        traversal,
        f.data().join("missing").display().to_string(),
    ] {
        let body = json!({"name": "x", "basepath": basepath, "groupIdColumn": "user", "timestampColumn": "ts"});
        let (s, v) = f.json("POST", "/datasets/register", Some(&body.to_string())).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{basepath}: {v}");
        assert_eq!(v["errors"][0]["kind"], json!("PATH_NOT_ALLOWED"), "{basepath}");
    }
    // Inside a root, `..` that stays inside is fine and is registered canonical.
    let body = json!({"name": "y", "basepath": format!("{}/shop/../shop", f.data().display()), "groupIdColumn": "user", "timestampColumn": "ts"});
    let (s, v) = f.json("POST", "/datasets/register", Some(&body.to_string())).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let canon = std::fs::canonicalize(f.data().join("shop")).unwrap();
    assert_eq!(v["dataset"]["basepath"], json!(canon.display().to_string()));
    // S3 paths can be refused too.
    let f2 = fixture_with(ServeOptions { allow_s3: false, ..ServeOptions::default() }, &[]).await;
    let body = json!({"name": "z", "basepath": "s3://bucket/x", "groupIdColumn": "user", "timestampColumn": "ts"});
    let (s, v) = f2.json("POST", "/datasets/register", Some(&body.to_string())).await;
    assert_eq!((s, v["errors"][0]["kind"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("PATH_NOT_ALLOWED")));
}

#[tokio::test]
async fn unregister_is_refused_after_a_query_unless_forced() {
    let f = fixture_with(ServeOptions::default(), &[("FROCKET_UNREGISTER_LAST_USED_INTERVAL", "300")]).await;
    f.register().await;
    let (s, _) = f.json("GET", "/datasets/shop/empty-query", None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = f.json("POST", "/datasets/shop/unregister", None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!((v["success"].clone(), v["datasetFound"].clone()), (json!(false), json!(true)));
    assert_eq!(v["errors"][0]["kind"], json!("UNREGISTER_REFUSED"));
    assert!(v["datasetLastUsed"].as_f64().unwrap() > 0.0);
    let (s, v) = f.json("POST", "/datasets/shop/unregister?force=true", None).await;
    assert_eq!((s, v["success"].clone(), v["datasetFound"].clone()), (StatusCode::OK, json!(true), json!(true)));
    let (s, _) = f.json("GET", "/datasets/shop/schema", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn validate_expands_or_lists_every_fault() {
    let f = fixture().await;
    f.register().await;
    let (s, v) = f
        .json("POST", "/queries/validate", Some(r#"{"query": {"conditions": [{"filter": ["event", "==", "view"]}]}}"#))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Expanded: the shorthand filter is verbose and the default target explicit.
    let c = &v["query"]["query"]["conditions"][0];
    assert_eq!(c["filter"], json!({"column": "event", "op": "==", "value": "view"}));
    assert_eq!(c["target"]["type"], json!("count"));
    // Without a dataset columns are not checked; with one they are.
    let q = r#"{"query": {"conditions": [{"filter": ["nope", "==", 1]}, {"filter": ["event", ">>", 1]}]}}"#;
    let (s, v) = f.json("POST", "/queries/validate", Some(q)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["errors"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["errors"][0]["path"], json!("query.conditions[1].filter[1]"));
    let (s, v) = f.json("POST", "/queries/validate?dataset=shop", Some(q)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let paths: Vec<&str> = v["errors"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert!(
        paths.contains(&"query.conditions[0].filter[0]") && paths.contains(&"query.conditions[1].filter[1]"),
        "{v}"
    );
    let (s, _) = f.json("POST", "/queries/validate?dataset=nope", Some("{}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn tokens_guard_reads_and_admin_and_admin_can_be_disabled() {
    let admin = "admin-token-0123456789";
    let read = "read-token-0123456789";
    let opts =
        ServeOptions { admin_token: Some(admin.into()), read_token: Some(read.into()), ..ServeOptions::default() };
    let f = fixture_with(opts, &[]).await;
    let body =
        json!({"name": "shop", "basepath": f.data().join("shop"), "groupIdColumn": "user", "timestampColumn": "ts"})
            .to_string();
    let reg = |t| f.call("POST", "/datasets/register", Some(&body), t);
    assert_eq!(reg(None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(reg(Some("admin-token-012345678X")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(reg(Some(read)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(reg(Some(admin)).await.0, StatusCode::OK);
    for t in [None, Some("wrong-token-0123456789")] {
        let (s, _, text) = f.call("GET", "/datasets", None, t).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{text}");
        assert!(text.contains("UNAUTHORIZED"));
    }
    assert_eq!(f.call("GET", "/datasets", None, Some(read)).await.0, StatusCode::OK);
    assert_eq!(f.call("GET", "/datasets", None, Some(admin)).await.0, StatusCode::OK);
    assert_eq!(f.call("POST", "/datasets/shop/query", Some(FUNNEL), Some(read)).await.0, StatusCode::OK);
    assert_eq!(f.call("GET", "/metrics", None, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(f.call("GET", "/datasets/shop/parts", None, Some(read)).await.0, StatusCode::FORBIDDEN);
    // Public: health, the spec and the page.
    for uri in ["/healthz", "/openapi.json", "/", "/assets/app.js"] {
        assert_eq!(f.call("GET", uri, None, None).await.0, StatusCode::OK, "{uri}");
    }
    // One token only: it grants everything.
    let f = fixture_with(ServeOptions { read_token: Some(read.into()), ..ServeOptions::default() }, &[]).await;
    assert_eq!(f.call("GET", "/datasets", None, None).await.0, StatusCode::UNAUTHORIZED);
    let body =
        json!({"name": "shop", "basepath": f.data().join("shop"), "groupIdColumn": "user", "timestampColumn": "ts"})
            .to_string();
    assert_eq!(f.call("POST", "/datasets/register", Some(&body), Some(read)).await.0, StatusCode::OK);
    // Admin disabled: 403 whatever the token.
    let f = fixture_with(ServeOptions { admin_enabled: false, ..ServeOptions::default() }, &[]).await;
    let (s, _, text) = f.call("POST", "/datasets/register", Some(&body), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(text.contains("ADMIN_DISABLED"), "{text}");
    assert_eq!(f.call("POST", "/datasets/shop/unregister", None, None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(f.call("GET", "/datasets", None, None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn jobs_beyond_the_limit_are_refused_with_429() {
    let f = fixture_with(ServeOptions { max_jobs: 2, ..ServeOptions::default() }, &[]).await;
    f.register().await;
    // Two jobs hold the permits (as running jobs would).
    let held = f.state.jobs.clone().acquire_many_owned(2).await.unwrap();
    let router = f.router();
    let req = Request::post("/datasets/shop/query").body(Body::from(FUNNEL)).unwrap();
    let resp = router.oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers().get(header::RETRY_AFTER).unwrap(), "1");
    let (s, _) = f.json("GET", "/datasets/shop/empty-query?stream=true", None).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    // Reads that are not jobs still work.
    assert_eq!(f.json("GET", "/datasets", None).await.0, StatusCode::OK);
    drop(held);
    let (s, v) = f.json("POST", "/datasets/shop/query", Some(FUNNEL)).await;
    assert_eq!((s, steps(&v)), (StatusCode::OK, vec![5, 3, 1]));
    assert_eq!(f.state.jobs.available_permits(), 2, "the job gave its permit back");
}

#[tokio::test]
async fn the_page_and_the_spec_are_served() {
    let f = fixture().await;
    let (s, ct, html) = f.call("GET", "/", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(ct.starts_with("text/html"));
    assert!(html.contains("/assets/app.js") && !html.contains("http://") && !html.contains("https://"), "no CDN");
    let resp = f.router().oneshot(Request::get("/assets/app.js").body(Body::empty()).unwrap()).await.unwrap();
    let csp = resp.headers().get(header::CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap();
    assert!(csp.contains("script-src 'self'"));
    assert_eq!(f.call("GET", "/assets/nope.js", None, None).await.0, StatusCode::NOT_FOUND);
    let (s, spec) = f.json("GET", "/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    for p in [
        "/datasets",
        "/datasets/register",
        "/datasets/{name}/unregister",
        "/datasets/{name}/schema",
        "/datasets/{name}/parts",
        "/datasets/{name}/query",
        "/datasets/{name}/empty-query",
        "/queries/validate",
        "/metrics",
        "/healthz",
    ] {
        assert!(spec["paths"].get(p).is_some(), "{p} missing from the spec");
    }
    let (s, h) = f.json("GET", "/healthz", None).await;
    assert_eq!((s, h["status"].clone()), (StatusCode::OK, json!("ok")));
}
