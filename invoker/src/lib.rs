//! The invoker: turns user requests into jobs of one task per part, runs them through a
//! [`TaskExecutor`] (the embedded pool of the `frocket` binary, or the Redis work queue of
//! [`queue`]), retries what is worth retrying, merges exactly one successful attempt per part,
//! and returns typed results with stats ([`protocol::job`]). It never links polars: all data
//! work happens behind the executor (checked by the tidy test in `xtask`).

pub mod cost;
pub mod error;
pub mod executor;
pub mod job;
pub mod lambda;
pub mod metrics;
pub mod query;
pub mod queue;
pub mod redis_tasks;
pub mod registration;
pub mod stats;

pub use error::InvokerError;
pub use executor::{JobOptions, Progress, ProgressFn, TaskExecutor};
pub use protocol::job::{QueryJobResult, RegistrationJobResult, UnregisterOutcome};
pub use query::run_query_job;
pub use registration::{RegisterArgs, ValidationMode, register_dataset, unregister_dataset};

/// A new request id: `<unix seconds>-<8 hex chars>` (as 0.5.3).
pub fn new_request_id() -> String {
    let secs = chrono::Utc::now().timestamp();
    format!("{secs}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}
