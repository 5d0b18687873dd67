//! Offline data preparation for Funnel Rocket. Today: [`synth`], a deterministic generator of
//! realistic user-activity data written as group-partitioned Parquet parts.

pub mod error;
pub mod synth;

pub use error::DataprepError;
