//! Funnel Rocket's query engine: runs one validated query on one part.
//!
//! Two stages (see ARCHITECTURE.md):
//! 1. [`Frame::prepare`] turns a polars `DataFrame` into the engine's columnar form: only the
//!    needed columns, rows ordered by (group, timestamp) (already-sorted parts are detected in
//!    one pass and not re-sorted), strings dictionary-encoded, and group runs as offsets.
//!    A prepared frame does not depend on the query's timeframe, so workers may cache it.
//! 2. [`execute`] runs the query on a frame with kernels over group runs: the timeframe is a
//!    sub-range of each run, row filters are byte masks, counts and sums are per-run loops,
//!    sequences are a greedy scan or an exact DP per group (docs/query-language.md "Sequences and funnels").
//!
//! The engine does no IO, reads no environment and never panics on bad data: problems with the
//! part (missing columns, wrong types, nulls in the group column) are [`EngineError`]s.

mod aggregate;
mod builder;
mod codes;
mod describe;
mod error;
mod execute;
mod frame;
mod insights;
mod predicate;
mod select;
mod sequence;
mod timeframe;

pub use builder::{ChunkColumn, CodeSink, FrameBuilder};
pub use describe::{DescribeOptions, describe_part};
pub use error::EngineError;
pub use execute::{EngineOptions, execute};
pub use frame::{Frame, TimestampKind, describe, query_type};
pub use select::SelectPlan;
pub use timeframe::TimeBounds;

use polars::prelude::DataFrame;
use protocol::{PartialResult, ValidQuery};

/// Prepares the columns `query` needs from `df` and runs it: the whole per-part job.
pub fn run_query(
    df: &DataFrame,
    group_column: &str,
    timestamp_column: &str,
    query: &ValidQuery,
    opts: &EngineOptions,
) -> Result<PartialResult, EngineError> {
    let columns = query.query.referenced_columns();
    let frame = Frame::prepare(df, group_column, timestamp_column, &columns)?;
    execute(&frame, &query.query, opts)
}
