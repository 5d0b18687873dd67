//! Loading a 1M-row part for a query: from Parquet (local file, decode + prepare) vs a hit in
//! the in-memory cache of prepared frames. Run: `cargo bench -p worker --bench loader`.

use criterion::{Criterion, criterion_group, criterion_main};
use protocol::dataset::DatasetId;
use protocol::task::DatasetPartId;
use storage::Stores;
use worker::{LoaderConfig, PartLoader};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dataprep::synth::SynthConfig::new(1_000_000, 1);
    let summary = dataprep::synth::generate_dataset(&cfg, &dir.path().join("ds"), false).unwrap();
    let part = DatasetPartId {
        dataset_id: DatasetId { name: "bench".into(), registered_at: "now".into() },
        path: summary.files[0].display().to_string(),
        part_idx: 0,
    };
    let cols: Vec<String> = ["event", "categoryid", "price"].map(String::from).to_vec();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cold = PartLoader::new(Stores::local_only(), &LoaderConfig::default()).unwrap();
    let warm =
        PartLoader::new(Stores::local_only(), &LoaderConfig { memory_cache_bytes: 1 << 30, ..LoaderConfig::default() })
            .unwrap();
    rt.block_on(warm.load_frame(&part, "visitorid", "timestamp", &cols, true)).unwrap();
    let mut g = c.benchmark_group("load_1M_rows_3_columns");
    g.sample_size(10);
    g.bench_function("parquet_decode_and_prepare", |b| {
        b.iter(|| rt.block_on(cold.load_frame(&part, "visitorid", "timestamp", &cols, true)).unwrap())
    });
    g.bench_function("memory_cache_hit", |b| {
        b.iter(|| rt.block_on(warm.load_frame(&part, "visitorid", "timestamp", &cols, true)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
