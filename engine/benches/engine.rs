//! Criterion benchmarks of the engine on a 1M-row synthetic part (warm: columns decoded and
//! prepared in memory), of both data shapes: heavy-tailed (`engine_1M_rows`) and bounce
//! (`engine_1M_rows_bounce`: ~560k users of 1–3 events, where per-group cost dominates; the
//! round-2 kernels — candidate-first selection, the timeframe mask, the group index — with
//! the every-group plan beside the candidate-first one). Throughput is reported in rows/s.
//! Run: `cargo xtask bench kernels`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dataprep::synth::Shape;
use dataprep::synth::{SynthConfig, generate_frame};
use engine::{EngineOptions, Frame, SelectPlan, execute};
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
            // The timeframe kernel (timeframe.rs: bitmap of 32-bit offsets, walk over groups).
            "timeframe_10pct",
            json!({"timeframe": {"from": 1435806000, "to": 1437006960},
                   "query": {"conditions": [{"filter": ["event", "==", "view"], "target": ["count", ">=", 2]}]}}),
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

/// The round-2 kernels on the bounce shape (the suite's q2, q8, q9 and q10 queries).
fn bench_bounce(c: &mut Criterion) {
    let cfg = SynthConfig { shape: Shape::Bounce, ..SynthConfig::new(ROWS, 1) };
    let df = generate_frame(&cfg, 0).expect("synthetic part");
    let n = df.height() as u64;
    let all: Vec<String> = ["event", "categoryid", "price"].map(String::from).to_vec();
    let frame = Frame::prepare(&df, "visitorid", "timestamp", &all).expect("prepare");
    let mut g = c.benchmark_group("engine_1M_rows_bounce");
    g.throughput(Throughput::Elements(n));
    g.sample_size(20);
    let selective_and = json!({"query": {"conditions": [
        {"filter": ["event", "==", "transaction"], "target": ["count", ">=", 3]},
        {"filter": ["event", "==", "view"], "target": ["count", "<", 50]}]}});
    let common_first = json!({"query": {"conditions": [
        {"filter": ["event", "==", "view"], "target": ["count", ">=", 2]},
        {"filters": [{"column": "event", "op": "==", "value": "transaction"}, {"column": "categoryid", "op": "==", "value": "999"}],
         "target": ["count", ">=", 1]}]}});
    let cases = [
        ("selective_and", selective_and.clone(), SelectPlan::Auto),
        ("selective_and_every_group", selective_and, SelectPlan::EveryGroup),
        ("common_first_and", common_first.clone(), SelectPlan::Auto),
        ("common_first_and_every_group", common_first, SelectPlan::EveryGroup),
        (
            "timeframe_10pct",
            json!({"timeframe": {"from": 1435806000, "to": 1437006960},
                   "query": {"conditions": [{"filter": ["event", "==", "view"], "target": ["count", ">=", 2]}]}}),
            SelectPlan::Auto,
        ),
        (
            "funnel_6_steps_window",
            json!({"funnel": {"sequence": [
                {"filter": ["event", "==", "view"]}, {"filter": ["event", "==", "addtocart"]}, {"filter": ["event", "==", "transaction"]},
                {"filter": ["event", "==", "view"]}, {"filter": ["event", "==", "addtocart"]}, {"filter": ["event", "==", "transaction"]}],
                "maxDuration": 604800}}),
            SelectPlan::Auto,
        ),
    ];
    for (name, q, plan) in cases {
        let q = validate_query_value(&q, None).expect("valid benchmark query");
        let opts = EngineOptions { plan, ..EngineOptions::default() };
        g.bench_function(name, |b| b.iter(|| execute(&frame, &q.query, &opts).expect("runs")));
    }
    g.finish();
}

criterion_group!(benches, bench, bench_bounce);
criterion_main!(benches);
