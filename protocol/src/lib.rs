//! The wire contract of Funnel Rocket: the query DSL (canonical 0.5.3 JSON and the legacy seed
//! format), its validation, dataset schemas, partial (per-part) results and their pure merge.
//!
//! This crate does no IO and knows nothing of polars or tokio: it is shared by the engine, the
//! workers and the invoker, and everything in it is deterministic.

pub mod dataset;
pub mod error;
pub mod exact_sum;
pub mod insights;
pub mod job;
mod json_path;
pub mod legacy;
pub mod num;
pub mod numbers;
pub mod query;
pub mod relation;
pub mod result;
pub mod schema;
pub mod task;
pub mod validate;

pub use error::{ErrorKind, MergeError, ValidationError, ValidationErrors};
pub use query::{
    AggType, Aggregation, Condition, Filter, FilterSet, Funnel, Literal, Op, Query, QuerySection, Step, Target,
    TargetOp, Timeframe,
};
pub use relation::RelationExpr;
pub use result::{AggOptions, PartialAgg, PartialAggValue, PartialFunnel, PartialResult, QueryResult};
pub use schema::{ColumnType, DatasetSchema};
pub use validate::{ValidQuery, validate_query, validate_query_value};
