//! Worker integration tests: the `frocket-lambda` binary as Lambda starts it. (Building this
//! test also builds the binary, which the Lambda-mode tests in `integration-tests` run as the
//! emulator's function instances.)

mod lambda_bin;
