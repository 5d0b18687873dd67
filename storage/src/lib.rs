//! All of Funnel Rocket's external state:
//! - [`BlobStore`]: where part files live — local filesystem, S3 (and S3-compatible stores via a
//!   custom endpoint), and a failure-injecting wrapper for tests;
//! - [`Datastore`]: where dataset metadata lives — the embedded local store under
//!   `FROCKET_HOME` (embedded mode), or Redis (distributed modes), which also carries the work
//!   queue and the per-request status and result keys (`redis.rs`).

pub mod aws;
pub mod blob;
pub mod clock;
pub mod datastore;
pub mod embedded;
pub mod error;
pub mod faulty;
pub mod glob;
pub mod local;
pub mod location;
pub mod redis;
pub mod s3;
pub mod secrets;
pub mod stores;

pub use blob::{BlobStore, ObjectMeta};
pub use datastore::Datastore;
pub use stores::Stores;

pub use error::StorageError;
pub use location::Location;
