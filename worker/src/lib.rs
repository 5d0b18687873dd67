//! The worker side of the task protocol: given a task request, get the part's data (reading
//! local files in place, downloading remote ones into an LRU disk cache, optionally reusing
//! prepared frames from memory), run the engine off the async runtime, and build the result.
//! The same functions serve every execution mode (embedded pool, queue worker, Lambda): the
//! task shell (`shell.rs`) is shared by the queue worker (`queue.rs`) and the Lambda worker
//! (`lambda.rs`, binary `frocket-lambda`).

pub mod cache;
pub mod error;
pub mod lambda;
pub mod loader;
pub mod parquet;
pub mod queue;
pub mod shell;
pub mod tasks;
pub mod threads;

pub use error::WorkerError;
pub use loader::{FrameNeeds, LoaderConfig, PartLoader};
pub use tasks::Worker;
