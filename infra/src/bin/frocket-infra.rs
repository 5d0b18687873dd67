//! `frocket-infra`: deploy, inspect and destroy an environment's stack; upload a prepared
//! dataset to its bucket. `cargo xtask deploy | status | destroy | dataprep --env` run it after
//! building the bundles (docs/deploy.md); it can be run directly with bundles built elsewhere.
//!
//! Environments are `<envs dir>/<env>.toml` (`--envs-dir`, `FROCKET_ENVS_DIR`, default
//! `infra/envs`); outputs go next to them as `<env>.outputs.json`. AWS credentials and
//! endpoint come from the standard chain (`AWS_PROFILE`, `AWS_ENDPOINT_URL` for the emulator).
//!
//! Exit codes: 0 done (a no-op deploy included), 1 AWS or stack failure, 2 usage (bad
//! command line, invalid environment, declined confirmation).

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use infra::deploy::{self, Aws, DeployError, DeployOutcome, DeployRequest, Progress, StackEvent};
use infra::{EnvSpec, bundle};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "frocket-infra", about = "Deploy Funnel Rocket stacks (docs/deploy.md)")]
struct Cli {
    /// Where `<env>.toml` and `<env>.outputs.json` are.
    #[arg(long, global = true, env = "FROCKET_ENVS_DIR", default_value = "infra/envs")]
    envs_dir: PathBuf,
    /// Longest wait for CloudFormation, in seconds.
    #[arg(long, global = true, default_value_t = 3600)]
    timeout_s: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create or update the stack through a change set; save its outputs.
    Deploy {
        #[arg(long)]
        env: String,
        /// The worker executable (`frocket-lambda` built for Lambda).
        #[arg(long)]
        worker: PathBuf,
        /// The `frocket` executable built for Lambda: deploys the API function too.
        #[arg(long)]
        api: Option<PathBuf>,
        /// Print the change set and stop.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete the stack (the dataset bucket is kept) and the unused artifact bucket.
    Destroy {
        #[arg(long)]
        env: String,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
    /// The stack, its outputs, the Redis replication group and the functions.
    Status {
        #[arg(long)]
        env: String,
    },
    /// Print the environment's region and Lambda architecture (`key=value` lines), validated.
    Describe {
        #[arg(long)]
        env: String,
    },
    /// Upload a prepared dataset directory's Parquet files to the stack's dataset bucket under
    /// `datasets/<name>/`; prints the S3 path to register.
    Upload {
        #[arg(long)]
        env: String,
        /// The dataset's name (its prefix in the bucket).
        #[arg(long)]
        name: String,
        dir: PathBuf,
    },
}

/// Steps as lines, stack events above a bar counting finished resources.
struct Bar {
    bar: ProgressBar,
}

impl Bar {
    fn new() -> Bar {
        let bar = if std::io::stderr().is_terminal() { ProgressBar::new(0) } else { ProgressBar::hidden() };
        bar.set_style(
            ProgressStyle::with_template("{spinner} {pos}/{len} resources {wide_msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        Bar { bar }
    }
}

impl Progress for Bar {
    fn step(&self, message: &str) {
        self.bar.suspend(|| eprintln!("{message}"));
    }
    fn event(&self, e: &StackEvent) {
        let line = match &e.reason {
            Some(r) if !r.is_empty() => format!("  {:<28} {:<22} {}  {r}", e.logical_id, e.status, e.resource_type),
            _ => format!("  {:<28} {:<22} {}", e.logical_id, e.status, e.resource_type),
        };
        self.bar.suspend(|| eprintln!("{line}"));
        if e.resource_type != "AWS::CloudFormation::Stack" {
            if e.status.ends_with("_IN_PROGRESS") {
                self.bar.inc_length(1);
            } else {
                self.bar.inc(1);
            }
            self.bar.set_message(format!("{} {}", e.logical_id, e.status));
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

fn load_env(dir: &Path, env: &str) -> Result<EnvSpec, DeployError> {
    let path = dir.join(format!("{env}.toml"));
    EnvSpec::load(&path).map_err(|e| DeployError::Usage(e.to_string()))
}

fn confirm(question: &str) -> bool {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).is_ok() && matches!(line.trim(), "y" | "Y" | "yes")
}

async fn run(cli: Cli) -> Result<(), DeployError> {
    let timeout = Duration::from_secs(cli.timeout_s);
    match cli.command {
        Command::Deploy { env, worker, api, dry_run } => {
            let spec = load_env(&cli.envs_dir, &env)?;
            let worker = bundle::worker_bundle(&worker).map_err(|e| DeployError::Usage(e.to_string()))?;
            let api = api.map(|p| bundle::api_bundle(&p)).transpose().map_err(|e| DeployError::Usage(e.to_string()))?;
            let aws = Aws::connect(&spec.region).await;
            let req = DeployRequest {
                env: &env,
                spec: &spec,
                worker: &worker,
                api: api.as_ref(),
                dry_run,
                envs_dir: &cli.envs_dir,
                timeout,
            };
            let outcome = deploy::deploy(&aws, &req, &Bar::new()).await?;
            match outcome {
                DeployOutcome::DryRun { change_set_type, changes } => {
                    println!("dry run: change set ({change_set_type}) of stack {}:", deploy::stack_name(&env));
                    for c in &changes {
                        println!("  {c}");
                    }
                    if changes.is_empty() {
                        println!("  (no changes)");
                    }
                    println!("nothing was changed");
                }
                DeployOutcome::NoChanges { deployed, path } => {
                    println!("no changes: stack {} is up to date; outputs in {}", deployed.stack_name, path.display());
                }
                DeployOutcome::Created { deployed, path } | DeployOutcome::Updated { deployed, path, .. } => {
                    println!("stack {} deployed; outputs in {}:", deployed.stack_name, path.display());
                    for (k, v) in &deployed.outputs {
                        println!("  {k} = {v}");
                    }
                }
            }
            Ok(())
        }
        Command::Destroy { env, yes } => {
            let spec = load_env(&cli.envs_dir, &env)?;
            if !yes {
                if !std::io::stdin().is_terminal() {
                    return Err(DeployError::Usage(
                        "destroy asks for confirmation: run it in a terminal or pass --yes".into(),
                    ));
                }
                if !confirm(&format!("Delete stack {} in {}?", deploy::stack_name(&env), spec.region)) {
                    return Err(DeployError::Usage("not confirmed: nothing deleted".into()));
                }
            }
            let aws = Aws::connect(&spec.region).await;
            let r = deploy::destroy(&aws, &env, &cli.envs_dir, &Bar::new(), timeout).await?;
            println!("stack {} deleted", r.stack);
            if r.artifact_bucket_deleted {
                println!("artifact bucket deleted");
            }
            if let Some(b) = r.retained_bucket {
                println!("dataset bucket {b} kept (your data; delete it yourself when you no longer need it)");
            }
            Ok(())
        }
        Command::Status { env } => {
            let spec = load_env(&cli.envs_dir, &env)?;
            let aws = Aws::connect(&spec.region).await;
            print!("{}", deploy::status(&aws, &env).await?);
            Ok(())
        }
        Command::Describe { env } => {
            let spec = load_env(&cli.envs_dir, &env)?;
            let faults = spec.faults();
            if !faults.is_empty() {
                let list: Vec<String> = faults.iter().map(|f| format!("{}: {}", f.path, f.message)).collect();
                return Err(DeployError::Usage(format!("environment {env}: {}", list.join("; "))));
            }
            println!("region={}\narchitecture={}", spec.region, spec.lambda.architecture.as_str());
            Ok(())
        }
        Command::Upload { env, name, dir } => {
            let spec = load_env(&cli.envs_dir, &env)?;
            let deployed = settings::deployed::DeployedEnv::load(&cli.envs_dir, &env)
                .map_err(|e| DeployError::Usage(e.to_string()))?;
            let bucket = deployed
                .output(&cli.envs_dir, "DatasetBucketName")
                .map_err(|e| DeployError::Usage(e.to_string()))?
                .to_string();
            let aws = Aws::connect(&spec.region).await;
            let url = deploy::upload_dataset(&aws, &bucket, &name, &dir, &Bar::new()).await?;
            println!("{url}");
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(if matches!(e, DeployError::Usage(_)) { 2 } else { 1 })
        }
    }
}
