//! Integration tests against real services started by the harness (an S3 API server).

mod bad_input;
mod datasets;
mod faults;
