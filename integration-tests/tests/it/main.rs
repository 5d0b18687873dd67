//! Integration tests against real services started by the harness (an S3 API server, Redis,
//! the Lambda emulator running the real worker binary).

#[path = "../shared/mod.rs"]
mod shared;

mod bad_input;
mod datasets;
mod faults;
mod lambda;
mod lambda_cases;
mod redis_requests;
