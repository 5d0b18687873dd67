//! Engine integration tests: data-driven cases, brute-force reference comparisons, property
//! tests, and merge-of-partitions equivalence.

mod cases;
mod data;
mod errors;
mod expect;
mod props;
mod reference;

use data::TestData;
use data::V;
use engine::{EngineOptions, Frame, FrameBuilder, TimeBounds, execute};
use protocol::{AggOptions, PartialResult, ValidQuery, validate_query_value};
use serde_json::Value;

/// The one place tests touch the engine API: prepare + execute on one part. Queries that do not
/// need timestamps also run on a frame prepared without them, which must give the same result.
pub fn run_part(d: &TestData, q: &ValidQuery, opts: &EngineOptions) -> Result<PartialResult, engine::EngineError> {
    let df = d.to_df();
    let columns = q.query.referenced_columns();
    let frame = Frame::prepare(&df, &d.group, &d.ts, &columns)?;
    let result = execute(&frame, &q.query, opts)?;
    // The same frame queried again (as a cached frame is) gives the same answer: nothing a
    // query builds lazily in the frame (the group index) changes it.
    for run in 2..=3 {
        assert_eq!(execute(&frame, &q.query, opts)?, result, "run {run} on the same frame: {}", q.query.to_json());
    }
    // The same part delivered in uneven chunks (as Parquet row groups are) builds the same frame.
    let n = df.height() as i64;
    let mut b = FrameBuilder::new(&d.group, Some(&d.ts), &columns, df.height());
    for (offset, len) in [(0, n / 3), (n / 3, 1), (n / 3 + 1, n)] {
        b.push(&df.slice(offset, len as usize))?;
    }
    assert_eq!(execute(&b.finish()?, &q.query, opts)?, result, "chunked: {}", q.query.to_json());
    // A reader that builds the frame for this query alone may leave out the rows outside its
    // timeframe (engine::TimeBounds, the Parquet reader's timeframe pushdown): the same answer.
    // (Integer timestamps only: the reader never leaves rows out of float ones.)
    let int_ts = (0..d.n_rows()).all(|r| matches!(d.value(&d.ts, r), V::Int(_)));
    if let Some(bounds) = q.query.timeframe.as_ref().and_then(TimeBounds::of).filter(|_| int_ts) {
        let keep: Vec<usize> =
            (0..d.n_rows()).filter(|&r| matches!(d.value(&d.ts, r), V::Int(t) if bounds.contains(*t))).collect();
        assert!(keep.len() <= d.n_rows());
        let inside = Frame::prepare(&d.select_rows(&keep).to_df(), &d.group, &d.ts, &columns)?;
        assert_eq!(execute(&inside, &q.query, opts)?, result, "timeframe's rows only: {}", q.query.to_json());
    }
    if !q.query.needs_timestamps() {
        let bare = Frame::prepare_without_timestamps(&df, &d.group, &columns)?;
        assert!(!bare.has_timestamps());
        assert_eq!(execute(&bare, &q.query, opts)?, result, "without timestamps: {}", q.query.to_json());
    } else {
        let bare = Frame::prepare_without_timestamps(&df, &d.group, &columns)?;
        assert!(execute(&bare, &q.query, opts).is_err(), "a query needing timestamps must be refused without them");
    }
    Ok(result)
}

pub fn validate(q: &Value) -> ValidQuery {
    validate_query_value(q, None).unwrap_or_else(|e| panic!("query should be valid: {e}\n{q}"))
}

/// Final result JSON of the engine on one part.
pub fn engine_json(d: &TestData, q: &ValidQuery) -> Value {
    let p = run_part(d, q, &EngineOptions::default()).unwrap_or_else(|e| panic!("engine failed: {e}"));
    serde_json::to_value(p.finalize(false)).unwrap()
}

/// Options under which per-value maps never truncate (for exact comparisons).
pub fn exact_opts() -> EngineOptions {
    EngineOptions { agg: AggOptions { exact_limit: usize::MAX, grace_factor: 2.0 }, ..EngineOptions::default() }
}
