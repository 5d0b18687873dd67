//! Storage faults: transient S3 failures are retried and give the same answer; persistent or
//! non-retryable ones fail the job naming the part.

use integration_tests::{S3Server, Stack, answer, synth_dataset};
use invoker::RegisterArgs;
use serde_json::json;
use std::sync::Arc;
use storage::StorageError;
use storage::faulty::FaultyStore;

async fn setup(error: StorageError) -> (S3Server, Arc<FaultyStore>, Stack, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("ds");
    synth_dataset(&dir, 6_000, 3);
    let s3 = S3Server::start();
    s3.create_bucket("fault-data").await;
    s3.upload_dir(&dir, "fault-data", "ds").await;
    let faulty = Arc::new(FaultyStore::new(Arc::new(s3.store().await), error));
    let st = Stack::with_loader(Some(faulty.clone()), |home| worker::LoaderConfig {
        cache_dir: Some(home.join("cache")),
        // Capacity 0 keeps exactly one file (the newest, fetched by registration): each query
        // downloads the other two parts again.
        disk_cache_bytes: 0,
        memory_cache_bytes: 0,
        threads: 0,
    });
    st.register(&RegisterArgs::new("d", "s3://fault-data/ds", "visitorid", "timestamp")).await.unwrap();
    (s3, faulty, st, data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_download_failures_are_retried_with_identical_results() {
    let (_s3, faulty, st, _d) = setup(StorageError::Transient("connection reset".into())).await;
    let q =
        json!({"query": {"conditions": [{"filter": ["event", "==", "view"]}], "aggregations": [{"column": "event"}]}});
    let clean = st.query("d", &q).await.unwrap();
    faulty.fail_next_downloads(2);
    let retried = st.query("d", &q).await.unwrap();
    assert_eq!(answer(&retried), answer(&clean));
    assert_eq!(retried["stats"]["retries"], json!(2), "{}", retried["stats"]);
    assert_eq!(retried["stats"]["attempts"], json!(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_failures_stop_after_max_attempts() {
    let (_s3, faulty, st, _d) = setup(StorageError::Transient("connection reset".into())).await;
    faulty.fail_next_downloads(1_000);
    let e = st.query("d", &json!({})).await.unwrap_err().to_string();
    assert!(e.contains("2 of 3 tasks failed") && e.contains("connection reset") && e.contains("part-0000"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_retryable_failures_are_not_retried() {
    let (_s3, faulty, st, _d) = setup(StorageError::AccessDenied("forbidden".into())).await;
    faulty.fail_next_downloads(1);
    // Only one failure is injected, so a retry would have succeeded: failing proves none ran.
    let e = st.query("d", &json!({})).await.unwrap_err().to_string();
    assert!(e.contains("1 of 3 tasks failed") && e.contains("forbidden"), "{e}");
    st.query("d", &json!({})).await.expect("the store is healthy again");
}
