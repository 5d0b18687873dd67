//! The invoker: turns user requests into jobs of one task per part, runs them through a
//! [`TaskExecutor`] (embedded pool today; Redis queue and Lambda next), retries what is worth
//! retrying, merges exactly one successful attempt per part, and reports results with stats.
//! It never links polars: all data work happens behind the executor.

pub mod error;
pub mod executor;
pub mod job;
pub mod metrics;
pub mod query;
pub mod queue;
pub mod registration;
pub mod stats;

pub use error::InvokerError;
pub use executor::{Progress, ProgressFn, TaskExecutor};
pub use query::{QueryJobOptions, run_query_job};
pub use registration::{RegisterArgs, UnregisterOutcome, ValidationMode, register_dataset, unregister_dataset};

/// A new request id: `<unix seconds>-<8 hex chars>` (as 0.5.3).
pub fn new_request_id() -> String {
    let secs = chrono::Utc::now().timestamp();
    format!("{secs}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

pub fn unix_now() -> f64 {
    chrono::Utc::now().timestamp_micros() as f64 / 1e6
}
