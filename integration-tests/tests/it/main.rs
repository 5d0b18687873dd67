//! Integration tests against real services started by the harness (an S3 API server, Redis,
//! the Lambda emulator running the real worker binary).

mod bad_input;
mod datasets;
mod faults;
mod lambda;
mod lambda_cases;
