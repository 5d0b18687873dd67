//! How a command ends badly, and the one mapping from that to an exit code and to what is
//! printed. Exit codes: **0** success; **1** the job failed or a service/IO failure (a part could
//! not be read, Redis or S3 unreachable, a refused unregister, a full disk); **2** the command
//! was used wrongly (bad arguments, invalid query or configuration, unknown dataset).

use invoker::InvokerError;
use protocol::ErrorKind;
use serde::Serialize;

/// What a command that ran to its end reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success,
    /// The command printed its answer, which says it did not do what was asked (a refused
    /// unregister): exit 1, nothing more to print.
    Unsuccessful,
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line, a file it names or the configuration is wrong: exit 2.
    #[error("{0}")]
    Usage(String),
    /// From a job: classified by the invoker error's kind.
    #[error(transparent)]
    Invoker(#[from] InvokerError),
    /// Data preparation: invalid arguments are usage errors, IO and Parquet failures are not.
    #[error(transparent)]
    Dataprep(#[from] dataprep::DataprepError),
    /// A service or IO failure, or a job that failed: exit 1.
    #[error("{0:#}")]
    Failed(#[from] anyhow::Error),
    /// A deployed API function (`--env`) answered an error: its status and body (the same
    /// `{errors: [{kind, message, path?}]}` the local commands print). 4xx other than 429 is
    /// usage (exit 2); the rest exit 1.
    #[error("{}", remote_message(*status, body))]
    Remote { status: u16, body: serde_json::Value },
}

fn remote_message(status: u16, body: &serde_json::Value) -> String {
    let messages: Vec<String> = body["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| match e["path"].as_str() {
                    Some(p) if !p.is_empty() => format!("{p}: {}", e["message"].as_str().unwrap_or_default()),
                    _ => e["message"].as_str().unwrap_or_default().to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    if messages.is_empty() { format!("the API answered {status}: {body}") } else { messages.join("; ") }
}

/// One error as printed in JSON: `{kind, message, path?}` (the validation format).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorEntry {
    pub kind: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl CliError {
    pub fn usage(msg: impl Into<String>) -> CliError {
        CliError::Usage(msg.into())
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Invoker(e) if e.is_usage_error() => 2,
            CliError::Dataprep(
                dataprep::DataprepError::InvalidArguments(_) | dataprep::DataprepError::OutputNotEmpty(_),
            ) => 2,
            CliError::Remote { status, .. } if (400..500).contains(status) && *status != 429 => 2,
            CliError::Invoker(_) | CliError::Dataprep(_) | CliError::Failed(_) | CliError::Remote { .. } => 1,
        }
    }

    /// The error's kind as printed (validation kinds are per fault).
    fn kind(&self) -> &'static str {
        match self {
            CliError::Usage(_) => "USAGE",
            CliError::Invoker(e) => match e {
                InvokerError::Validation(_) => ErrorKind::Schema.as_str(),
                InvokerError::InvalidArguments(_) => ErrorKind::InvalidArguments.as_str(),
                InvokerError::DatasetNotFound(_) => "DATASET_NOT_FOUND",
                InvokerError::DataValidation(_) => "DATA_VALIDATION",
                InvokerError::Storage { .. } => "STORAGE",
                InvokerError::TasksFailed(_) => "TASKS_FAILED",
                InvokerError::Internal(_) => "INTERNAL",
            },
            CliError::Dataprep(_) if self.exit_code() == 2 => ErrorKind::InvalidArguments.as_str(),
            CliError::Dataprep(_) => "IO",
            CliError::Failed(_) => "FAILED",
            CliError::Remote { .. } => "REMOTE",
        }
    }

    /// Every fault, each with its kind and (for query validation) its JSON path.
    pub fn entries(&self) -> Vec<ErrorEntry> {
        match self {
            CliError::Invoker(InvokerError::Validation(v)) => v
                .errors
                .iter()
                .map(|e| ErrorEntry {
                    kind: e.kind.as_str().into(),
                    message: e.message.clone(),
                    path: Some(e.path.clone()),
                })
                .collect(),
            CliError::Remote { body, .. } if body["errors"].as_array().is_some_and(|a| !a.is_empty()) => body["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| ErrorEntry {
                    kind: e["kind"].as_str().unwrap_or("REMOTE").into(),
                    message: e["message"].as_str().unwrap_or_default().into(),
                    path: e["path"].as_str().map(str::to_string),
                })
                .collect(),
            other => vec![ErrorEntry { kind: other.kind().into(), message: other.to_string(), path: None }],
        }
    }

    /// Prints the error (JSON on stdout, or lines on stderr) and returns the exit code.
    pub fn report(&self, json: bool) -> u8 {
        if json {
            crate::output::print_json(&self.json_body());
        } else {
            match self {
                CliError::Invoker(InvokerError::Validation(v)) => {
                    eprintln!("error: the query is invalid ({} problems):", v.errors.len());
                    for x in &v.errors {
                        let at = if x.path.is_empty() { "(query)" } else { x.path.as_str() };
                        eprintln!("  {at}: {} [{}]", x.message, x.kind);
                    }
                }
                other => eprintln!("error: {other}"),
            }
        }
        self.exit_code()
    }

    /// `{"success": false, "errors": [...]}`; errors other than query validation also carry
    /// 0.5.3's `errorMessage`.
    pub fn json_body(&self) -> serde_json::Value {
        match self {
            CliError::Invoker(InvokerError::Validation(v)) => serde_json::json!({"success": false, "errors": v.errors}),
            other => {
                serde_json::json!({"success": false, "errorMessage": other.to_string(), "errors": other.entries()})
            }
        }
    }
}

/// Prints the outcome of a command and returns the process exit code.
pub fn finish(outcome: Result<Exit, CliError>, json: bool) -> u8 {
    match outcome {
        Ok(Exit::Success) => 0,
        Ok(Exit::Unsuccessful) => 1,
        Err(e) => e.report(json),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{ValidationError, ValidationErrors};

    #[test]
    fn one_mapping_from_error_kinds_to_exit_codes() {
        let invalid = ValidationErrors {
            errors: vec![ValidationError { kind: ErrorKind::TypeMismatch, message: "m".into(), path: "query".into() }],
        };
        let storage = InvokerError::Storage {
            context: "read dataset 'd'".into(),
            source: storage::StorageError::Transient("refused".into()),
        };
        let cases: Vec<(CliError, u8, &str)> = vec![
            (CliError::usage("give --file"), 2, "USAGE"),
            (InvokerError::Validation(invalid).into(), 2, "TYPE_MISMATCH"),
            (InvokerError::DatasetNotFound("x".into()).into(), 2, "DATASET_NOT_FOUND"),
            (InvokerError::InvalidArguments("bad pattern".into()).into(), 2, "INVALID_ARGUMENTS"),
            (InvokerError::DataValidation("schemas differ".into()).into(), 1, "DATA_VALIDATION"),
            (storage.into(), 1, "STORAGE"),
            (InvokerError::TasksFailed("1 of 2 tasks failed".into()).into(), 1, "TASKS_FAILED"),
            (dataprep::DataprepError::InvalidArguments("zero parts".into()).into(), 2, "INVALID_ARGUMENTS"),
            (
                dataprep::DataprepError::Io {
                    action: "write",
                    path: "/x".into(),
                    source: std::io::Error::other("disk full"),
                }
                .into(),
                1,
                "IO",
            ),
            (anyhow::anyhow!("connect to Redis").into(), 1, "FAILED"),
        ];
        for (e, code, kind) in cases {
            assert_eq!(e.exit_code(), code, "{e}");
            let body = e.json_body();
            assert_eq!(body["success"], serde_json::json!(false));
            assert_eq!(body["errors"][0]["kind"], serde_json::json!(kind), "{e}");
            if kind == "TYPE_MISMATCH" {
                assert_eq!(body["errors"][0]["path"], serde_json::json!("query"));
                assert!(body.get("errorMessage").is_none(), "validation output is unchanged");
            } else {
                assert_eq!(body["errorMessage"], serde_json::json!(e.to_string()));
                assert!(body["errors"][0].get("path").is_none());
            }
        }
        assert_eq!(finish(Ok(Exit::Success), false), 0);
        assert_eq!(finish(Ok(Exit::Unsuccessful), false), 1);
    }
}
