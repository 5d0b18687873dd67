//! Criterion benchmarks of the engine on a 1M-row synthetic part (warm: columns decoded and
//! prepared in memory). Throughput is reported in rows/s. Run: `cargo xtask bench`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dataprep::synth::{SynthConfig, generate_frame};
use engine::{EngineOptions, Frame, execute};
use protocol::validate_query_value;
use serde_json::json;

const ROWS: u64 = 1_000_000;

fn queries() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        (
            "filter_count",
            json!({"query": {"conditions": [{"filter": ["event", "==", "transaction"], "target": ["count", ">=", 3]}]}}),
        ),
        (
            "mfilter_sum",
            json!({"query": {"conditions": [{"filters": [
            {"column": "event", "op": "==", "value": "transaction"}, {"column": "categoryid", "op": "==", "value": "999"}],
            "target": ["sum", "price", ">", 100000]}]}}),
        ),
        (
            "sequence_3_steps_window",
            json!({"query": {"conditions": [{"sequence": [
            {"filter": ["event", "==", "view"]}, {"filter": ["event", "==", "addtocart"]}, {"filter": ["event", "==", "transaction"]}],
            "maxDuration": 3600}]}}),
        ),
        (
            "funnel_4_steps_step_aggs",
            json!({
            "query": {"conditions": [{"filter": ["event", "==", "view"], "target": ["count", ">=", 5]}]},
            "funnel": {"sequence": [{"filter": ["event", "==", "addtocart"]}, {"filter": ["event", "==", "transaction"]},
                {"filter": ["event", "==", "addtocart"]}, {"filter": ["event", "==", "transaction"]}],
                "stepAggregations": [{"column": "event", "type": "countPerValue"}]}}),
        ),
        (
            "aggregations_matched",
            json!({"query": {
            "conditions": [{"filter": ["event", "==", "transaction"], "target": ["count", ">=", 3]}],
            "aggregations": [{"column": "event", "type": "countPerValue"}, {"column": "categoryid", "type": "groupsPerValue", "top": 10},
                {"column": "event", "type": "sumPerValue", "otherColumn": "price"}]}}),
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let df = generate_frame(&SynthConfig::new(ROWS, 1), 0).expect("synthetic part");
    let n = df.height() as u64;
    let all: Vec<String> = ["event", "categoryid", "price"].map(String::from).to_vec();
    let frame = Frame::prepare(&df, "visitorid", "timestamp", &all).expect("prepare");
    let opts = EngineOptions::default();
    let mut g = c.benchmark_group("engine_1M_rows");
    g.throughput(Throughput::Elements(n));
    g.sample_size(20);
    for (name, q) in queries() {
        let q = validate_query_value(&q, None).expect("valid benchmark query");
        g.bench_function(name, |b| b.iter(|| execute(&frame, &q.query, &opts).expect("runs")));
    }
    g.bench_function("prepare_3_columns", |b| {
        b.iter(|| Frame::prepare(&df, "visitorid", "timestamp", &all).expect("prepare"))
    });
    // The same data with its strings stored as categoricals (as repartitioned parts are read).
    let mut cat_df = df.clone();
    for c in ["event", "categoryid"] {
        let s = cat_df
            .column(c)
            .expect("column")
            .cast(&polars::prelude::DataType::from_categories(polars::prelude::Categories::global()))
            .expect("cast");
        cat_df.replace(c, s).expect("replace");
    }
    g.bench_function("prepare_3_columns_categorical", |b| {
        b.iter(|| Frame::prepare(&cat_df, "visitorid", "timestamp", &all).expect("prepare"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
