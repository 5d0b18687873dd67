//! `frocket serve [--bind ADDR] [--allow-root DIR]... [--no-admin] ...`: the HTTP API and the
//! funnel explorer page (docs/api.md) on the configured execution mode.

use crate::app::App;
use crate::cli::ServeArgs;
use crate::error::{CliError, Exit};
use crate::server::{ServeOptions, ServerState, serve};
use anyhow::Context;
use std::path::Path;

/// Tokens shorter than this are refused: they would be guessable.
const MIN_TOKEN_LEN: usize = 16;

/// A token from its file, else from its variable; empty means none.
fn token(file: Option<&Path>, var: &str) -> Result<Option<String>, CliError> {
    let t = match file {
        Some(f) => std::fs::read_to_string(f)
            .map_err(|e| CliError::usage(format!("read token file {}: {e}", f.display())))?
            .trim()
            .to_string(),
        None => std::env::var(var).unwrap_or_default().trim().to_string(),
    };
    if t.is_empty() {
        return Ok(None);
    }
    if t.len() < MIN_TOKEN_LEN || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(CliError::usage(format!(
            "the token from {} must be at least {MIN_TOKEN_LEN} characters without spaces",
            file.map_or_else(|| var.to_string(), |f| f.display().to_string())
        )));
    }
    Ok(Some(t))
}

pub fn options(args: &ServeArgs) -> Result<ServeOptions, CliError> {
    let mut roots = Vec::new();
    for r in &args.allow_roots {
        let c = std::fs::canonicalize(r).map_err(|e| CliError::usage(format!("--allow-root {}: {e}", r.display())))?;
        if !c.is_dir() {
            return Err(CliError::usage(format!("--allow-root {}: not a directory", r.display())));
        }
        roots.push(c);
    }
    if args.max_jobs == 0 {
        return Err(CliError::usage("--max-jobs must be at least 1"));
    }
    Ok(ServeOptions {
        admin_token: token(args.admin_token_file.as_deref(), "FROCKET_API_ADMIN_TOKEN")?,
        read_token: token(args.read_token_file.as_deref(), "FROCKET_API_READ_TOKEN")?,
        admin_enabled: !args.no_admin,
        body_limit: args.max_body_bytes,
        allow_roots: roots,
        allow_s3: !args.no_s3,
        max_jobs: args.max_jobs,
    })
}

pub async fn run(app: App, args: &ServeArgs) -> Result<Exit, CliError> {
    let opts = options(args)?;
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        // As a Lambda function behind a function URL (docs/api.md "As a Lambda function"): one
        // request per invocation, the same router; answers are buffered (no live stream).
        let router = crate::server::router(ServerState::new(app, opts));
        lambda_http::run(router).await.map_err(|e| anyhow::anyhow!("the Lambda runtime loop ended: {e}"))?;
        return Ok(Exit::Success);
    }
    let listener =
        tokio::net::TcpListener::bind(&args.bind).await.with_context(|| format!("listen on {}", args.bind))?;
    serve(ServerState::new(app, opts), listener).await?;
    Ok(Exit::Success)
}
