//! Deploying, inspecting and destroying an environment's stack (`cargo xtask deploy | status |
//! destroy --env <env>`, through the `frocket-infra` binary). The same code runs against AWS
//! and against the emulator (`AWS_ENDPOINT_URL`, docs/deploy.md "The emulator").
//!
//! Deploy, step by step:
//! 1. the artifact bucket (`frocket-artifacts-<account>-<region>`: SSE, public access blocked,
//!    made here because the stack's functions need their code before the stack exists);
//! 2. the bundles ([`crate::bundle`]) uploaded under content-addressed keys (skipped when the
//!    key is there: same bytes);
//! 3. a change set (explicit `ChangeSetType`: CREATE for a new stack, UPDATE otherwise); a
//!    stack left `ROLLBACK_COMPLETE` by a failed creation is deleted first (CloudFormation cannot
//!    update it); one in progress is refused;
//! 4. no changes → the change set is deleted and the deploy says so and succeeds. AWS fails such
//!    a change set ("The submitted information didn't contain changes"); moto completes it with
//!    no changes — both are read as "no changes";
//! 5. `--dry-run` uploads nothing, prints the changes and deletes the change set (and the
//!    empty stack a CREATE change set made);
//! 6. otherwise execute, stream the stack's events (each resource's progress, the reason of any
//!    failure) until a final status; success saves the outputs
//!    (`infra/envs/<env>.outputs.json`, [`settings::deployed::DeployedEnv`]); a failure is an
//!    error naming each failed resource and its reason, the stack rolled back by CloudFormation
//!    (`UPDATE_ROLLBACK_COMPLETE` keeps the previous deployment working; `ROLLBACK_COMPLETE` is
//!    cleaned up by the next deploy).
//!
//! Destroy deletes the stack (waits, streaming events), then empties and deletes the artifact
//! bucket when no other stack of the account uses it; the dataset bucket is retained (the data
//! is the user's) and named in the report.

use crate::bundle::Bundle;
use crate::env::EnvSpec;
use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::{Capability, ChangeSetType, Parameter, Tag};
use settings::deployed::DeployedEnv;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a deployment command failed, by what the user does about it.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// Fix the environment description or the command line.
    #[error("{0}")]
    Usage(String),
    /// An AWS call failed (credentials, permissions, limits, the network): the message is AWS's.
    #[error("{operation}: {message}")]
    Aws { operation: String, message: String },
    /// The stack did not reach the wanted state; `failures` names each failed resource.
    #[error("stack {stack} ended {status}{}", failures.iter().map(|f| format!("\n  {f}")).collect::<String>())]
    StackFailed { stack: String, status: String, failures: Vec<ResourceFailure> },
    /// Another operation is running on the stack: wait for it.
    #[error("stack {stack} is {status}: wait for that operation to finish, then run again")]
    Busy { stack: String, status: String },
    /// Nothing is deployed under this name.
    #[error("no stack {stack} in {region}")]
    NotDeployed { stack: String, region: String },
    /// Waiting took longer than the limit; the operation goes on in CloudFormation.
    #[error("stack {stack}: still {status} after {waited:?}; CloudFormation goes on with it (cargo xtask status)")]
    Timeout { stack: String, status: String, waited: Duration },
}

/// One failed resource, from the stack's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceFailure {
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: String,
}

impl std::fmt::Display for ResourceFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}) {}: {}", self.logical_id, self.resource_type, self.status, self.reason)
    }
}

fn aws_err<E: ProvideErrorMetadata + std::error::Error>(operation: &str, e: E) -> DeployError {
    let message = match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (None, Some(m)) => m.to_string(),
        // No service answer (unreachable endpoint, no credentials): the whole chain of causes.
        _ => aws_sdk_cloudformation::error::DisplayErrorContext(&e).to_string(),
    };
    DeployError::Aws { operation: operation.into(), message }
}

/// The clients of one region.
#[derive(Clone)]
pub struct Aws {
    pub region: String,
    pub cfn: aws_sdk_cloudformation::Client,
    pub s3: aws_sdk_s3::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub elasticache: aws_sdk_elasticache::Client,
    pub sts: aws_sdk_sts::Client,
}

impl Aws {
    /// Clients from the standard chain (profile, environment, role), in `region`. With
    /// `AWS_ENDPOINT_URL` set (the emulator), S3 uses path-style addressing.
    pub async fn connect(region: &str) -> Aws {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_string()))
            .load()
            .await;
        Aws::with_config(&sdk)
    }

    /// Clients from a loaded configuration (tests give the emulator's endpoint and
    /// credentials); S3 uses path-style addressing when an endpoint is set.
    pub fn with_config(sdk: &aws_config::SdkConfig) -> Aws {
        let region = sdk.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into());
        let custom_endpoint = sdk.endpoint_url().is_some();
        let s3 = aws_sdk_s3::config::Builder::from(sdk).force_path_style(custom_endpoint).build();
        Aws {
            region,
            cfn: aws_sdk_cloudformation::Client::new(sdk),
            s3: aws_sdk_s3::Client::from_conf(s3),
            lambda: aws_sdk_lambda::Client::new(sdk),
            elasticache: aws_sdk_elasticache::Client::new(sdk),
            sts: aws_sdk_sts::Client::new(sdk),
        }
    }

    async fn account(&self) -> Result<String, DeployError> {
        let id = self.sts.get_caller_identity().send().await.map_err(|e| aws_err("sts:GetCallerIdentity", e))?;
        id.account().map(str::to_string).ok_or_else(|| DeployError::Aws {
            operation: "sts:GetCallerIdentity".into(),
            message: "no account in the answer".into(),
        })
    }
}

/// The stack of an environment.
pub fn stack_name(env: &str) -> String {
    format!("frocket-{env}")
}

/// The bucket holding the bundles of every environment of an account and region.
pub fn artifact_bucket(account: &str, region: &str) -> String {
    format!("frocket-artifacts-{account}-{region}")
}

/// What is being deployed.
pub struct DeployRequest<'a> {
    pub env: &'a str,
    pub spec: &'a EnvSpec,
    pub worker: &'a Bundle,
    pub api: Option<&'a Bundle>,
    pub dry_run: bool,
    /// Where `<env>.outputs.json` goes.
    pub envs_dir: &'a Path,
    /// The longest wait for the stack.
    pub timeout: Duration,
}

/// One planned change of a change set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedChange {
    /// Add, Modify, Remove.
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    /// For Modify: True, False or Conditional.
    pub replacement: Option<String>,
}

impl std::fmt::Display for PlannedChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:<7} {:<28} {}", self.action, self.logical_id, self.resource_type)?;
        if let Some(r) = &self.replacement
            && r != "False"
        {
            write!(f, " (replacement: {r})")?;
        }
        Ok(())
    }
}

/// How a deploy ended.
#[derive(Debug, Clone, PartialEq)]
pub enum DeployOutcome {
    Created {
        deployed: DeployedEnv,
        path: PathBuf,
    },
    Updated {
        deployed: DeployedEnv,
        path: PathBuf,
        changes: Vec<PlannedChange>,
    },
    /// Nothing to change: the stack was already this; outputs saved again.
    NoChanges {
        deployed: DeployedEnv,
        path: PathBuf,
    },
    /// `--dry-run`: what an execution would do; nothing changed.
    DryRun {
        change_set_type: String,
        changes: Vec<PlannedChange>,
    },
}

/// What a long operation reports as it goes (a progress bar, a log, a test's recorder).
pub trait Progress: Send + Sync {
    /// A step of the command ("upload the worker bundle").
    fn step(&self, message: &str);
    /// A stack event, oldest first, each once.
    fn event(&self, event: &StackEvent);
}

/// One stack event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackEvent {
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: Option<String>,
}

/// Prints steps and events as lines on stderr.
pub struct LineProgress;

impl Progress for LineProgress {
    fn step(&self, message: &str) {
        eprintln!("{message}");
    }
    fn event(&self, e: &StackEvent) {
        match &e.reason {
            Some(r) if !r.is_empty() => eprintln!("  {:<28} {:<20} {}  {r}", e.logical_id, e.status, e.resource_type),
            _ => eprintln!("  {:<28} {:<20} {}", e.logical_id, e.status, e.resource_type),
        }
    }
}

/// The stack's status, or None when there is no such stack (or only a deleted one).
async fn stack_status(aws: &Aws, stack: &str) -> Result<Option<aws_sdk_cloudformation::types::Stack>, DeployError> {
    match aws.cfn.describe_stacks().stack_name(stack).send().await {
        Ok(out) => Ok(out
            .stacks()
            .first()
            .filter(|s| s.stack_status().is_some_and(|st| st.as_str() != "DELETE_COMPLETE"))
            .cloned()),
        Err(e) if e.message().is_some_and(|m| m.contains("does not exist")) => Ok(None),
        Err(e) => Err(aws_err("cloudformation:DescribeStacks", e)),
    }
}

/// A stack's outputs by name.
fn stack_outputs(s: &aws_sdk_cloudformation::types::Stack) -> BTreeMap<String, String> {
    s.outputs().iter().filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string()))).collect()
}

fn is_in_progress(status: &str) -> bool {
    status.ends_with("_IN_PROGRESS")
}

/// Event ids already seen, to report each event once.
struct EventCursor {
    seen: HashSet<String>,
}

impl EventCursor {
    /// Starts after every event the stack has now.
    async fn after_now(aws: &Aws, stack: &str) -> EventCursor {
        let mut c = EventCursor { seen: HashSet::new() };
        if let Ok(events) = all_events(aws, stack).await {
            c.seen.extend(events.into_iter().map(|(id, _)| id));
        }
        c
    }

    /// New events, oldest first.
    async fn poll(&mut self, aws: &Aws, stack: &str) -> Result<Vec<StackEvent>, DeployError> {
        let events = all_events(aws, stack).await?;
        let mut new: Vec<StackEvent> =
            events.into_iter().filter(|(id, _)| self.seen.insert(id.clone())).map(|(_, e)| e).collect();
        new.reverse(); // CloudFormation lists newest first
        Ok(new)
    }
}

async fn all_events(aws: &Aws, stack: &str) -> Result<Vec<(String, StackEvent)>, DeployError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = aws
            .cfn
            .describe_stack_events()
            .stack_name(stack)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws_err("cloudformation:DescribeStackEvents", e))?;
        for e in page.stack_events() {
            out.push((
                e.event_id().unwrap_or_default().to_string(),
                StackEvent {
                    logical_id: e.logical_resource_id().unwrap_or_default().to_string(),
                    resource_type: e.resource_type().unwrap_or_default().to_string(),
                    status: e.resource_status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                    reason: e.resource_status_reason().map(str::to_string),
                },
            ));
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// Polls until the stack leaves `*_IN_PROGRESS`, reporting events; returns the final status
/// and the failures the events named.
async fn wait_for_stack(
    aws: &Aws,
    stack: &str,
    cursor: &mut EventCursor,
    progress: &dyn Progress,
    timeout: Duration,
) -> Result<(String, Vec<ResourceFailure>), DeployError> {
    let start = std::time::Instant::now();
    let mut failures = Vec::new();
    let mut delay = Duration::from_millis(200);
    loop {
        // The stack id keeps working after deletion (the name does not).
        let events = cursor.poll(aws, stack).await?;
        for e in &events {
            progress.event(e);
            if e.status.ends_with("_FAILED") && e.resource_type != "AWS::CloudFormation::Stack" {
                let reason = e.reason.clone().unwrap_or_default();
                // CloudFormation also reports the resources it cancelled because of the first.
                if !reason.contains("Resource creation cancelled") && !reason.contains("Resource update cancelled") {
                    failures.push(ResourceFailure {
                        logical_id: e.logical_id.clone(),
                        resource_type: e.resource_type.clone(),
                        status: e.status.clone(),
                        reason,
                    });
                }
            }
        }
        let status = match aws.cfn.describe_stacks().stack_name(stack).send().await {
            Ok(out) => out
                .stacks()
                .first()
                .and_then(|s| s.stack_status())
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|| "DELETE_COMPLETE".into()),
            Err(e) if e.message().is_some_and(|m| m.contains("does not exist")) => "DELETE_COMPLETE".into(),
            Err(e) => return Err(aws_err("cloudformation:DescribeStacks", e)),
        };
        if !is_in_progress(&status) {
            // Events written just before the final status.
            for e in cursor.poll(aws, stack).await? {
                progress.event(&e);
            }
            return Ok((status, failures));
        }
        if start.elapsed() > timeout {
            return Err(DeployError::Timeout { stack: stack.into(), status, waited: start.elapsed() });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Creates the artifact bucket when missing: encrypted, public access blocked.
async fn ensure_artifact_bucket(aws: &Aws, bucket: &str, progress: &dyn Progress) -> Result<(), DeployError> {
    if aws.s3.head_bucket().bucket(bucket).send().await.is_ok() {
        return Ok(());
    }
    progress.step(&format!("create the artifact bucket {bucket}"));
    let mut create = aws.s3.create_bucket().bucket(bucket);
    if aws.region != "us-east-1" {
        use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(aws.region.as_str()))
                .build(),
        );
    }
    create.send().await.map_err(|e| aws_err("s3:CreateBucket", e))?;
    use aws_sdk_s3::types::{
        PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
        ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    };
    aws.s3
        .put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .block_public_policy(true)
                .ignore_public_acls(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .map_err(|e| aws_err("s3:PutPublicAccessBlock", e))?;
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(
            ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::Aes256)
                .build()
                .map_err(|e| DeployError::Usage(e.to_string()))?,
        )
        .build();
    aws.s3
        .put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(rule)
                .build()
                .map_err(|e| DeployError::Usage(e.to_string()))?,
        )
        .send()
        .await
        .map_err(|e| aws_err("s3:PutBucketEncryption", e))?;
    Ok(())
}

/// Uploads a bundle under its content-addressed key unless it is there.
async fn upload(aws: &Aws, bucket: &str, key: &str, b: &Bundle, progress: &dyn Progress) -> Result<(), DeployError> {
    if aws.s3.head_object().bucket(bucket).key(key).send().await.is_ok() {
        progress.step(&format!("s3://{bucket}/{key} is there (same content)"));
        return Ok(());
    }
    progress.step(&format!("upload s3://{bucket}/{key} ({:.1} MiB)", b.bytes.len() as f64 / 1048576.0));
    aws.s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(b.bytes.clone().into())
        .send()
        .await
        .map_err(|e| aws_err("s3:PutObject", e))?;
    Ok(())
}

fn planned(changes: &[aws_sdk_cloudformation::types::Change]) -> Vec<PlannedChange> {
    changes
        .iter()
        .filter_map(|c| c.resource_change())
        .map(|r| PlannedChange {
            action: r.action().map(|a| a.as_str().to_string()).unwrap_or_default(),
            logical_id: r.logical_resource_id().unwrap_or_default().to_string(),
            resource_type: r.resource_type().unwrap_or_default().to_string(),
            replacement: r.replacement().map(|x| x.as_str().to_string()),
        })
        .collect()
}

/// "No changes": AWS fails the change set with this reason.
fn is_no_change_reason(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

/// Deploys (or plans, with `dry_run`) an environment.
pub async fn deploy(aws: &Aws, req: &DeployRequest<'_>, progress: &dyn Progress) -> Result<DeployOutcome, DeployError> {
    let faults = req.spec.faults();
    if !faults.is_empty() {
        let list: Vec<String> = faults.iter().map(|f| format!("{}: {}", f.path, f.message)).collect();
        return Err(DeployError::Usage(format!("environment {}: {}", req.env, list.join("; "))));
    }
    if req.spec.region != aws.region {
        return Err(DeployError::Usage(format!(
            "clients are in {} but the environment is in {}",
            aws.region, req.spec.region
        )));
    }
    let stack = stack_name(req.env);
    let account = aws.account().await?;
    let bucket = artifact_bucket(&account, &aws.region);

    // A stack another operation is busy with, or one a failed creation left, first.
    let mut existing = stack_status(aws, &stack).await?;
    if let Some(s) = &existing {
        let status = s.stack_status().map(|x| x.as_str().to_string()).unwrap_or_default();
        if is_in_progress(&status) && status != "REVIEW_IN_PROGRESS" {
            return Err(DeployError::Busy { stack, status });
        }
        if status == "ROLLBACK_COMPLETE" || status == "ROLLBACK_FAILED" {
            if req.dry_run {
                return Err(DeployError::Usage(format!(
                    "stack {stack} is {status} from a failed creation: a deploy deletes it and creates it again (run without --dry-run)"
                )));
            }
            progress.step(&format!("stack {stack} is {status} (a failed creation): delete it first"));
            delete_and_wait(aws, &stack, progress, req.timeout).await?;
            existing = None;
        }
    }
    let create = existing.as_ref().is_none_or(|s| s.stack_status().is_some_and(|x| x.as_str() == "REVIEW_IN_PROGRESS"));

    let worker_key = req.worker.key("worker");
    let api_key = req.api.map(|b| b.key("api"));
    if req.dry_run {
        // The change set only needs the keys; CloudFormation reads the code when it executes.
        progress.step("dry run: the bundles are not uploaded");
    } else {
        ensure_artifact_bucket(aws, &bucket, progress).await?;
        upload(aws, &bucket, &worker_key, req.worker, progress).await?;
        if let (Some(b), Some(k)) = (req.api, &api_key) {
            upload(aws, &bucket, k, b, progress).await?;
        }
    }

    let parameters: Vec<Parameter> = req
        .spec
        .parameters(req.env, &bucket, &worker_key, api_key.as_deref())
        .into_iter()
        .map(|(k, v)| Parameter::builder().parameter_key(k).parameter_value(v).build())
        .collect();
    let mut tags: BTreeMap<&str, &str> = req.spec.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    tags.insert("frocket:env", req.env);
    let tags: Vec<Tag> = tags.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
    let change_set = format!(
        "frocket-{}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis())
    );
    let kind = if create { ChangeSetType::Create } else { ChangeSetType::Update };
    progress.step(&format!("create change set {change_set} ({}) for stack {stack}", kind.as_str()));
    aws.cfn
        .create_change_set()
        .stack_name(&stack)
        .change_set_name(&change_set)
        .change_set_type(kind.clone())
        .template_body(crate::TEMPLATE)
        .set_parameters(Some(parameters))
        .capabilities(Capability::CapabilityNamedIam)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| aws_err("cloudformation:CreateChangeSet", e))?;

    // Wait for the change set to be computed.
    let start = std::time::Instant::now();
    let described = loop {
        let d = aws
            .cfn
            .describe_change_set()
            .stack_name(&stack)
            .change_set_name(&change_set)
            .send()
            .await
            .map_err(|e| aws_err("cloudformation:DescribeChangeSet", e))?;
        let status = d.status().map(|s| s.as_str().to_string()).unwrap_or_default();
        if status != "CREATE_PENDING" && status != "CREATE_IN_PROGRESS" {
            break d;
        }
        if start.elapsed() > req.timeout {
            return Err(DeployError::Timeout { stack, status, waited: start.elapsed() });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let status = described.status().map(|s| s.as_str().to_string()).unwrap_or_default();
    let reason = described.status_reason().unwrap_or_default().to_string();
    let changes = planned(described.changes());
    let no_changes = !create && (is_no_change_reason(&reason) || (status == "CREATE_COMPLETE" && changes.is_empty()));
    if no_changes || req.dry_run {
        let _ = aws.cfn.delete_change_set().stack_name(&stack).change_set_name(&change_set).send().await;
        if create {
            // The CREATE change set made an empty stack (REVIEW_IN_PROGRESS): remove it.
            let _ = aws.cfn.delete_stack().stack_name(&stack).send().await;
        }
    }
    if no_changes {
        progress.step(&format!("stack {stack} is up to date: no changes"));
        let (deployed, path) = save_outputs(aws, req, &stack, &account).await?;
        return Ok(DeployOutcome::NoChanges { deployed, path });
    }
    if status == "FAILED" {
        return Err(DeployError::StackFailed {
            stack,
            status: "change set FAILED".into(),
            failures: vec![ResourceFailure {
                logical_id: change_set,
                resource_type: "AWS::CloudFormation::ChangeSet".into(),
                status: status.clone(),
                reason,
            }],
        });
    }
    if req.dry_run {
        return Ok(DeployOutcome::DryRun { change_set_type: kind.as_str().to_string(), changes });
    }

    let mut cursor = EventCursor::after_now(aws, &stack).await;
    progress.step(&format!("execute change set {change_set}: {} change(s)", changes.len()));
    aws.cfn
        .execute_change_set()
        .stack_name(&stack)
        .change_set_name(&change_set)
        .send()
        .await
        .map_err(|e| aws_err("cloudformation:ExecuteChangeSet", e))?;
    let (status, failures) = wait_for_stack(aws, &stack, &mut cursor, progress, req.timeout).await?;
    let wanted = if create { "CREATE_COMPLETE" } else { "UPDATE_COMPLETE" };
    if status != wanted {
        let hint = match status.as_str() {
            "UPDATE_ROLLBACK_COMPLETE" => " (rolled back: the previous deployment is in place and working)",
            "ROLLBACK_COMPLETE" => {
                " (the failed creation was rolled back; the next deploy deletes the stack and creates it again)"
            }
            _ => "",
        };
        return Err(DeployError::StackFailed { stack, status: format!("{status}{hint}"), failures });
    }
    let (deployed, path) = save_outputs(aws, req, &stack, &account).await?;
    Ok(if create {
        DeployOutcome::Created { deployed, path }
    } else {
        DeployOutcome::Updated { deployed, path, changes }
    })
}

async fn save_outputs(
    aws: &Aws,
    req: &DeployRequest<'_>,
    stack: &str,
    account: &str,
) -> Result<(DeployedEnv, PathBuf), DeployError> {
    let s = stack_status(aws, stack)
        .await?
        .ok_or_else(|| DeployError::NotDeployed { stack: stack.into(), region: aws.region.clone() })?;
    let deployed = DeployedEnv {
        env: req.env.into(),
        region: aws.region.clone(),
        account: account.into(),
        stack_name: stack.into(),
        stack_id: s.stack_id().unwrap_or_default().into(),
        outputs: stack_outputs(&s),
        deployed_at: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
    };
    let path = deployed
        .save(req.envs_dir)
        .map_err(|e| DeployError::Usage(format!("write {}: {e}", req.envs_dir.display())))?;
    Ok((deployed, path))
}

async fn delete_and_wait(
    aws: &Aws,
    stack: &str,
    progress: &dyn Progress,
    timeout: Duration,
) -> Result<(), DeployError> {
    // Follow the stack by id: after deletion its name no longer resolves.
    let id = stack_status(aws, stack).await?.and_then(|s| s.stack_id().map(str::to_string));
    let Some(id) = id else { return Ok(()) };
    let mut cursor = EventCursor::after_now(aws, &id).await;
    aws.cfn.delete_stack().stack_name(&id).send().await.map_err(|e| aws_err("cloudformation:DeleteStack", e))?;
    let (status, failures) = wait_for_stack(aws, &id, &mut cursor, progress, timeout).await?;
    if status != "DELETE_COMPLETE" {
        return Err(DeployError::StackFailed { stack: stack.into(), status, failures });
    }
    Ok(())
}

/// What `destroy` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestroyReport {
    pub stack: String,
    /// The dataset bucket, kept (DeletionPolicy Retain: the data is the user's).
    pub retained_bucket: Option<String>,
    /// The artifact bucket, deleted when no other frocket stack of the account used it.
    pub artifact_bucket_deleted: bool,
}

/// Deletes the environment's stack and, when unused, the artifact bucket.
pub async fn destroy(
    aws: &Aws,
    env: &str,
    envs_dir: &Path,
    progress: &dyn Progress,
    timeout: Duration,
) -> Result<DestroyReport, DeployError> {
    let stack = stack_name(env);
    let Some(s) = stack_status(aws, &stack).await? else {
        return Err(DeployError::NotDeployed { stack, region: aws.region.clone() });
    };
    let status = s.stack_status().map(|x| x.as_str().to_string()).unwrap_or_default();
    if is_in_progress(&status) && status != "REVIEW_IN_PROGRESS" {
        return Err(DeployError::Busy { stack, status });
    }
    let retained_bucket = s
        .outputs()
        .iter()
        .find(|o| o.output_key() == Some("DatasetBucketName"))
        .and_then(|o| o.output_value().map(str::to_string));
    progress.step(&format!("delete stack {stack}"));
    delete_and_wait(aws, &stack, progress, timeout).await?;
    let _ = std::fs::remove_file(settings::deployed::outputs_path(envs_dir, env));

    // The artifact bucket, unless another frocket stack still runs code from it.
    let account = aws.account().await?;
    let bucket = artifact_bucket(&account, &aws.region);
    let mut others = false;
    let listed = aws.cfn.list_stacks().send().await.map_err(|e| aws_err("cloudformation:ListStacks", e))?;
    for st in listed.stack_summaries() {
        let live = st.stack_status().is_some_and(|x| x.as_str() != "DELETE_COMPLETE");
        if live && st.stack_name().is_some_and(|n| n.starts_with("frocket-") && n != stack) {
            others = true;
        }
    }
    let mut artifact_bucket_deleted = false;
    if !others && aws.s3.head_bucket().bucket(&bucket).send().await.is_ok() {
        progress.step(&format!("empty and delete the artifact bucket {bucket}"));
        empty_bucket(aws, &bucket).await?;
        aws.s3.delete_bucket().bucket(&bucket).send().await.map_err(|e| aws_err("s3:DeleteBucket", e))?;
        artifact_bucket_deleted = true;
    }
    Ok(DestroyReport { stack, retained_bucket, artifact_bucket_deleted })
}

async fn empty_bucket(aws: &Aws, bucket: &str) -> Result<(), DeployError> {
    loop {
        let page = aws.s3.list_objects_v2().bucket(bucket).send().await.map_err(|e| aws_err("s3:ListObjectsV2", e))?;
        if page.contents().is_empty() {
            return Ok(());
        }
        for o in page.contents() {
            if let Some(k) = o.key() {
                aws.s3.delete_object().bucket(bucket).key(k).send().await.map_err(|e| aws_err("s3:DeleteObject", e))?;
            }
        }
    }
}

/// `status`: the stack, its outputs, the Redis replication group and the functions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    pub stack: String,
    pub stack_status: String,
    pub outputs: BTreeMap<String, String>,
    /// Replication group: status, node type, nodes, multi-AZ, automatic failover, TLS.
    pub redis: Option<RedisStatus>,
    pub functions: Vec<FunctionStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisStatus {
    pub id: String,
    pub status: String,
    pub node_type: String,
    pub nodes: usize,
    pub multi_az: String,
    pub automatic_failover: String,
    pub transit_encryption: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionStatus {
    pub name: String,
    pub version: String,
    pub state: String,
    pub last_modified: String,
    pub code_sha256: String,
    pub memory_mb: i32,
    pub timeout_s: i32,
    pub reserved_concurrency: Option<i32>,
    /// Async invocation retries (the worker's EventInvokeConfig: 0).
    pub max_retries: Option<i32>,
}

/// Reads the environment's state from CloudFormation, ElastiCache and Lambda.
pub async fn status(aws: &Aws, env: &str) -> Result<StatusReport, DeployError> {
    let stack = stack_name(env);
    let Some(s) = stack_status(aws, &stack).await? else {
        return Err(DeployError::NotDeployed { stack, region: aws.region.clone() });
    };
    let stack_status = s.stack_status().map(|x| x.as_str().to_string()).unwrap_or_default();
    let outputs = stack_outputs(&s);
    let resources = aws
        .cfn
        .describe_stack_resources()
        .stack_name(&stack)
        .send()
        .await
        .map_err(|e| aws_err("cloudformation:DescribeStackResources", e))?;
    let physical = |logical: &str| {
        resources
            .stack_resources()
            .iter()
            .find(|r| r.logical_resource_id() == Some(logical))
            .and_then(|r| r.physical_resource_id().map(str::to_string))
    };
    let redis = match physical("Redis") {
        None => None,
        Some(id) => {
            let out = aws
                .elasticache
                .describe_replication_groups()
                .replication_group_id(&id)
                .send()
                .await
                .map_err(|e| aws_err("elasticache:DescribeReplicationGroups", e))?;
            out.replication_groups().first().map(|g| RedisStatus {
                id: id.clone(),
                status: g.status().unwrap_or_default().into(),
                node_type: g.cache_node_type().unwrap_or_default().into(),
                nodes: g.member_clusters().len(),
                multi_az: g.multi_az().map(|m| m.as_str().to_string()).unwrap_or_default(),
                automatic_failover: g.automatic_failover().map(|m| m.as_str().to_string()).unwrap_or_default(),
                transit_encryption: g.transit_encryption_enabled().unwrap_or(false),
            })
        }
    };
    let mut functions = Vec::new();
    for logical in ["WorkerFunction", "ApiFunction"] {
        let Some(name) = physical(logical) else { continue };
        let f = aws
            .lambda
            .get_function()
            .function_name(&name)
            .send()
            .await
            .map_err(|e| aws_err("lambda:GetFunction", e))?;
        let c = f.configuration();
        let retries = aws
            .lambda
            .get_function_event_invoke_config()
            .function_name(&name)
            .send()
            .await
            .ok()
            .and_then(|e| e.maximum_retry_attempts());
        functions.push(FunctionStatus {
            name: name.clone(),
            version: c.and_then(|c| c.version()).unwrap_or_default().into(),
            state: c.and_then(|c| c.state()).map(|s| s.as_str().to_string()).unwrap_or_else(|| "Active".into()),
            last_modified: c.and_then(|c| c.last_modified()).unwrap_or_default().into(),
            code_sha256: c.and_then(|c| c.code_sha256()).unwrap_or_default().into(),
            memory_mb: c.and_then(|c| c.memory_size()).unwrap_or_default(),
            timeout_s: c.and_then(|c| c.timeout()).unwrap_or_default(),
            reserved_concurrency: f.concurrency().and_then(|c| c.reserved_concurrent_executions()),
            max_retries: retries,
        });
    }
    Ok(StatusReport { stack, stack_status, outputs, redis, functions })
}

impl std::fmt::Display for StatusReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "stack      {} {}", self.stack, self.stack_status)?;
        if let Some(r) = &self.redis {
            writeln!(
                f,
                "redis      {} {}: {} × {}, multi-AZ {}, failover {}, TLS {}",
                r.id, r.status, r.nodes, r.node_type, r.multi_az, r.automatic_failover, r.transit_encryption
            )?;
        }
        for fun in &self.functions {
            writeln!(
                f,
                "function   {} {} (version {}, {} MB, {} s, reserved concurrency {}, async retries {}, code {})",
                fun.name,
                fun.state,
                fun.version,
                fun.memory_mb,
                fun.timeout_s,
                fun.reserved_concurrency.map_or("none".to_string(), |c| c.to_string()),
                fun.max_retries.map_or("default".to_string(), |c| c.to_string()),
                fun.code_sha256
            )?;
        }
        for (k, v) in &self.outputs {
            writeln!(f, "output     {k} = {v}")?;
        }
        Ok(())
    }
}

/// Uploads the Parquet files of `dir` to `s3://<bucket>/datasets/<name>/` and removes any
/// other object under that prefix, so that the prefix holds exactly this dataset's parts;
/// returns the prefix's URL, ready to register.
pub async fn upload_dataset(
    aws: &Aws,
    bucket: &str,
    name: &str,
    dir: &Path,
    progress: &dyn Progress,
) -> Result<String, DeployError> {
    if name.is_empty() || name.len() > 128 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(DeployError::Usage(format!("dataset name {name:?}: use 1-128 letters, digits, '-' or '_'")));
    }
    let read = std::fs::read_dir(dir).map_err(|e| DeployError::Usage(format!("read {}: {e}", dir.display())))?;
    let mut files: Vec<PathBuf> = read
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(DeployError::Usage(format!("{} has no .parquet files", dir.display())));
    }
    let prefix = format!("datasets/{name}/");
    let mut keep = HashSet::new();
    for f in &files {
        let file = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let key = format!("{prefix}{file}");
        let body = aws_sdk_s3::primitives::ByteStream::from_path(f)
            .await
            .map_err(|e| DeployError::Usage(format!("read {}: {e}", f.display())))?;
        progress.step(&format!("upload s3://{bucket}/{key}"));
        aws.s3.put_object().bucket(bucket).key(&key).body(body).send().await.map_err(|e| aws_err("s3:PutObject", e))?;
        keep.insert(key);
    }
    let listed = aws
        .s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(&prefix)
        .send()
        .await
        .map_err(|e| aws_err("s3:ListObjectsV2", e))?;
    for o in listed.contents() {
        if let Some(k) = o.key()
            && !keep.contains(k)
        {
            progress.step(&format!("remove s3://{bucket}/{k} (not part of the dataset now)"));
            aws.s3.delete_object().bucket(bucket).key(k).send().await.map_err(|e| aws_err("s3:DeleteObject", e))?;
        }
    }
    Ok(format!("s3://{bucket}/{prefix}"))
}
