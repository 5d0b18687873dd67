//! `aws-emulator`: the AWS stand-in as a program (what `cargo xtask emulate` runs): moto with
//! the project's extension, the Lambda emulator running the deployed bundles, one endpoint
//! (`integration_tests::aws_emulator`, docs/deploy.md "The emulator"). It prints the
//! environment a client needs, writes it to `--env-file` when given, and runs in the
//! foreground until Ctrl-C / SIGTERM; its state (stacks, buckets, Redis servers) goes with it.
//!
//! `aws-emulator [--env-file PATH] [--region eu-west-1]`

use integration_tests::aws_emulator::AwsEmulator;
use std::path::PathBuf;
use std::process::ExitCode;

async fn run(env_file: Option<PathBuf>, region: String) -> Result<(), String> {
    let emulator = AwsEmulator::start().await?;
    let banner = format!("AWS emulator at {} (moto + the Lambda emulator; its state goes with it)", emulator.endpoint);
    integration_tests::announce_and_wait(&banner, &emulator.client_env(&region), env_file.as_deref()).await?;
    drop(emulator);
    Ok(())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter("warn").init();
    let (mut env_file, mut region) = (None, "us-east-1".to_string());
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match (a.as_str(), it.next()) {
            ("--env-file", Some(p)) => env_file = Some(PathBuf::from(p)),
            ("--region", Some(r)) => region = r,
            _ => {
                eprintln!("usage: aws-emulator [--env-file PATH] [--region REGION]");
                return ExitCode::from(2);
            }
        }
    }
    integration_tests::run_main(run(env_file, region))
}
