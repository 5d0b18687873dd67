//! Loading a 1M-row part for a query: from Parquet (local file, decode + prepare) vs a hit in
//! the in-memory cache of prepared frames, and from Parquet keeping only a 10% timeframe's rows
//! (the timeframe pushdown without a memory cache: string columns' codes and the group runs made
//! of the kept rows' indices alone), also on a bounce-heavy part (most users
//! with 1–3 events: the group column's kept rows read one by one from its packed indices), and
//! on the same part with its timestamps PLAIN and zstd'd instead of dataprep's uncompressed
//! DELTA_BINARY_PACKED (the delta decoder against the copy of PLAIN pages).
//! Run: `cargo bench -p worker --bench loader`.

use criterion::{Criterion, criterion_group, criterion_main};
use polars::prelude::{ParquetReader, SerReader};
use protocol::dataset::DatasetId;
use protocol::task::DatasetPartId;
use storage::Stores;
use worker::{FrameNeeds, LoaderConfig, PartLoader};

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
    rt.block_on(warm.load_frame(&part, FrameNeeds::new("visitorid", "timestamp", &cols, true, None))).unwrap();
    let mut g = c.benchmark_group("load_1M_rows_3_columns");
    g.sample_size(10);
    g.bench_function("parquet_decode_and_prepare", |b| {
        b.iter(|| {
            rt.block_on(cold.load_frame(&part, FrameNeeds::new("visitorid", "timestamp", &cols, true, None))).unwrap()
        })
    });
    // A query's timeframe of 10% of the part's time span, pushed down to the reader (memory
    // cache off): only the admitted rows are kept.
    let q = r#"{"timeframe": {"from": 1435806000, "to": 1437006960}, "query": {"conditions": [{"filter": ["event", "==", "view"]}]}}"#;
    let tf = protocol::validate_query_value(&serde_json::from_str(q).unwrap(), None).unwrap().query.timeframe.unwrap();
    g.bench_function("parquet_decode_timeframe_10pct", |b| {
        b.iter(|| {
            rt.block_on(cold.load_frame(&part, FrameNeeds::new("visitorid", "timestamp", &cols, true, Some(&tf))))
                .unwrap()
        })
    });
    // The same part with its timestamps PLAIN and zstd'd (polars' own layout, and dataprep's
    // before it wrote them delta-encoded and uncompressed): the delta decoder's guard.
    let mut df = ParquetReader::new(std::fs::File::open(&summary.files[0]).unwrap()).finish().unwrap();
    let plain = dir.path().join("plain-timestamps.parquet");
    dataprep::synth::write_parquet_grouped(&mut df, &plain, 256 * 1024, "visitorid", None).unwrap();
    let plain_part = DatasetPartId { path: plain.display().to_string(), ..part.clone() };
    g.bench_function("parquet_decode_timeframe_10pct_plain_zstd_timestamps", |b| {
        b.iter(|| {
            rt.block_on(cold.load_frame(&plain_part, FrameNeeds::new("visitorid", "timestamp", &cols, true, Some(&tf))))
                .unwrap()
        })
    });
    let mut bounce = dataprep::synth::SynthConfig::new(1_000_000, 1);
    bounce.shape = dataprep::synth::Shape::Bounce;
    let summary = dataprep::synth::generate_dataset(&bounce, &dir.path().join("bounce"), false).unwrap();
    let bounce_part = DatasetPartId { path: summary.files[0].display().to_string(), ..part.clone() };
    g.bench_function("parquet_decode_timeframe_10pct_bounce", |b| {
        b.iter(|| {
            rt.block_on(
                cold.load_frame(&bounce_part, FrameNeeds::new("visitorid", "timestamp", &cols, true, Some(&tf))),
            )
            .unwrap()
        })
    });
    g.bench_function("memory_cache_hit", |b| {
        b.iter(|| {
            rt.block_on(warm.load_frame(&part, FrameNeeds::new("visitorid", "timestamp", &cols, true, None))).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
