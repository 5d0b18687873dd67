//! Registration and queries from local directories and S3 give identical results; naming
//! styles; caches; unregistering.

use integration_tests::{S3Server, Stack, answer, synth_dataset};
use invoker::{RegisterArgs, ValidationMode};
use serde_json::json;
use std::sync::Arc;

fn queries() -> Vec<serde_json::Value> {
    vec![
        json!({}),
        json!({"query": {"conditions": [{"filter": ["event", "==", "transaction"], "target": ["count", ">=", 2]}],
            "aggregations": [{"column": "categoryid", "type": "groupsPerValue", "top": 5}, {"column": "event", "type": "sumPerValue", "otherColumn": "price"}]}}),
        json!({"timeframe": {"from": 1431000000}, "query": {"conditions": [{"sequence": [
            {"filter": ["event", "==", "view"]}, {"filter": ["event", "==", "addtocart"]}, {"filter": ["event", "==", "transaction"]}], "maxDuration": 3600}]},
            "funnel": {"sequence": [{"filter": ["event", "==", "addtocart"]}, {"filter": ["event", "==", "transaction"]}], "endAggregations": [{"column": "available"}]}}),
        // The seed's legacy format.
        json!({"logical_expr": "and", "conditions": [{"type": "mfilter", "relation": "&", "filters": [
            {"column": "event", "operator": "==", "target": "'transaction'"}, {"column": "price", "operator": ">=", "target": "100000"}],
            "evaluator": {"type": "size", "column": null}, "hitcount": {"target": 1, "operator": ">="}}]}),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_and_s3_give_identical_registrations_and_results() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("retail");
    let rows = synth_dataset(&dir, 30_000, 3);
    let s3 = S3Server::start();
    s3.create_bucket("frocket-data").await;
    s3.upload_dir(&dir, "frocket-data", "datasets/retail").await;

    let local = Stack::new(None);
    let remote = Stack::new(Some(Arc::new(s3.store().await)));
    let mut args = RegisterArgs::new("retail", &dir.display().to_string(), "visitorid", "timestamp");
    args.validation = ValidationMode::FirstLast;
    local.register(&args).await.unwrap();
    args.basepath = "s3://frocket-data/datasets/retail".into();
    let r = remote.register(&args).await.unwrap();
    assert_eq!(r.dataset.total_parts, 3);

    let (a, b) = (local.datastore_record("retail").await, remote.datastore_record("retail").await);
    assert_eq!(a.schema, b.schema, "same files give the same schema");
    assert_eq!(a.parts.filenames, b.parts.filenames);
    assert_eq!(a.parts.total_size, b.parts.total_size);

    for q in queries() {
        let x = local.query("retail", &q).await.unwrap();
        let y = remote.query("retail", &q).await.unwrap();
        assert_eq!(answer(&x), answer(&y), "query {q}");
    }
    let all = local.query("retail", &json!({})).await.unwrap();
    assert_eq!(all["query"]["matchingGroupRows"], json!(rows), "the empty query sees every row");

    // The first remote run downloaded the parts; later runs read them from the disk cache.
    let again = remote.query("retail", &json!({})).await.unwrap();
    assert_eq!(again["stats"]["worker"]["cache"]["diskCache"], json!(3), "{}", again["stats"]);
    let local_stats = local.query("retail", &json!({})).await.unwrap();
    assert_eq!(local_stats["stats"]["worker"]["cache"]["source"], json!(3), "local parts are read in place");

    // Re-registering gives a new id, so files cached under the old id are not reused: the
    // registration downloads the two parts it validates (first, last) under the new id, and
    // the next query downloads the third.
    let rereg = remote.register(&args).await.unwrap();
    assert_eq!(rereg.validated_parts, vec![0, 2]);
    let fresh = remote.query("retail", &json!({})).await.unwrap();
    assert_eq!(fresh["stats"]["worker"]["cache"]["source"], json!(1), "{}", fresh["stats"]);
    assert_eq!(fresh["stats"]["worker"]["cache"]["diskCache"], json!(2), "{}", fresh["stats"]);
    assert_eq!(answer(&fresh), answer(&all));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naming_styles_running_numbers_and_globs() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("ds");
    synth_dataset(&dir, 5_000, 4);
    std::fs::write(dir.join("README.txt"), "not a part").unwrap();
    let st = Stack::new(None);
    let base = dir.display().to_string();

    let mut seed = RegisterArgs::new("seed", &base, "visitorid", "timestamp");
    seed.pattern = Some("part-{:05}.parquet".into());
    seed.parts = Some(4);
    assert_eq!(st.register(&seed).await.unwrap().dataset.total_parts, 4);
    seed.parts = Some(6);
    let e = st.register(&seed).await.unwrap_err().to_string();
    assert!(e.contains("2 of 6 parts") && e.contains("part-00004.parquet"), "{e}");
    seed.parts = None;
    assert!(st.register(&seed).await.unwrap_err().to_string().contains("--parts"));

    let mut glob = RegisterArgs::new("glob", &base, "visitorid", "timestamp");
    glob.pattern = Some("part-0000[01].parquet".into());
    assert_eq!(st.register(&glob).await.unwrap().dataset.total_parts, 2);
    let default = RegisterArgs::new("default", &format!("file://{base}"), "visitorid", "timestamp");
    let r = st.register(&default).await.unwrap();
    assert_eq!(r.dataset.total_parts, 4, "the default *.parquet skips README.txt");
    assert_eq!(r.validated_parts, vec![0, 3], "4 parts, SAMPLE: first and last");

    let seed_all = st.query("seed", &json!({})).await.unwrap();
    let default_all = st.query("default", &json!({})).await.unwrap();
    assert_eq!(answer(&seed_all), answer(&default_all));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_listing_paginates_past_1000_objects() {
    let s3 = S3Server::start();
    s3.create_bucket("many").await;
    let store = s3.store().await;
    // At most 16 puts in flight: 1005 at once made the S3 server (a child process sharing the
    // 2 cores with the rest of the test run) answer some after the client's 10 s read timeout.
    use futures::StreamExt;
    let client = store.client().clone();
    futures::stream::iter(0..1005)
        .map(|i| {
            let c = client.clone();
            async move {
                c.put_object()
                    .bucket("many")
                    .key(format!("p/f-{i:05}.txt"))
                    .body(aws_sdk_s3::primitives::ByteStream::from(vec![1u8]))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("put f-{i:05}: {e:?}"));
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    use storage::BlobStore;
    let listed = store.list(&storage::Location::parse("s3://many/p").unwrap()).await.unwrap();
    assert_eq!(listed.len(), 1005);
    assert_eq!(listed[1004].name, "f-01004.txt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregister_honours_the_last_used_interval() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("ds");
    synth_dataset(&dir, 2_000, 2);
    let st = Stack::new(None);
    st.register(&RegisterArgs::new("d", &dir.display().to_string(), "visitorid", "timestamp")).await.unwrap();
    // Never queried: unregistering is allowed.
    let o = invoker::unregister_dataset(&st.datastore, "d", false, std::time::Duration::from_secs(30)).await.unwrap();
    assert!(o.success && o.dataset_found);
    st.register(&RegisterArgs::new("d", &dir.display().to_string(), "visitorid", "timestamp")).await.unwrap();
    st.query("d", &json!({})).await.unwrap();
    let o = invoker::unregister_dataset(&st.datastore, "d", false, std::time::Duration::from_secs(30)).await.unwrap();
    assert!(!o.success && o.dataset_found && o.dataset_last_used.is_some());
    assert!(o.error_message.unwrap().contains("less than safety interval 30"));
    let o = invoker::unregister_dataset(&st.datastore, "d", true, std::time::Duration::from_secs(30)).await.unwrap();
    assert!(o.success && o.dataset_found);
    let o = invoker::unregister_dataset(&st.datastore, "d", false, std::time::Duration::from_secs(30)).await.unwrap();
    assert!(o.success && !o.dataset_found);
    assert!(dir.join("part-00000.parquet").exists(), "files are never removed");
}
