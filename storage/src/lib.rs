//! All of Funnel Rocket's external state:
//! - [`BlobStore`]: where part files live — local filesystem, S3 (and S3-compatible stores via a
//!   custom endpoint), and a failure-injecting wrapper for tests;
//! - [`Datastore`]: where dataset metadata lives — today the embedded local store under
//!   `FROCKET_HOME`; Redis comes with distributed execution.

pub mod blob;
pub mod datastore;
pub mod embedded;
pub mod error;
pub mod faulty;
pub mod glob;
pub mod local;
pub mod location;
pub mod redis;
pub mod s3;

pub use blob::{BlobStore, ObjectMeta, Stores};
pub use datastore::Datastore;

pub use error::StorageError;
pub use location::Location;
