//! Offline data preparation for Funnel Rocket: [`repartition`] (any Parquet dataset → parts
//! holding disjoint groups, sorted by group and time) and [`synth`], a deterministic generator
//! of realistic user-activity data written as group-partitioned Parquet parts.

pub mod csv_input;
pub mod error;
pub mod part_writer;
pub mod repartition;
pub mod retailrocket;
pub mod synth;

pub use error::DataprepError;
