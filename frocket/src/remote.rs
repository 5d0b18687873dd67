//! `frocket --env <env> ...`: the commands run on a deployed environment, from outside its VPC.
//!
//! The workers and Redis live in the stack's private subnets; nothing outside can reach Redis.
//! So a laptop talks to the stack's **API function** (`frocket serve` under Lambda, docs/api.md)
//! and the API function runs the job on the Lambda workers, as any invoker in the VPC would.
//! The request is a function URL event (payload format 2.0) sent with the Lambda Invoke API
//! (synchronous), signed by the caller's AWS credentials: `lambda:InvokeFunction` on the API
//! function is the permission needed, the same IAM decision as the function URL's `AWS_IAM`
//! auth (whose URL also works, e.g. with `awscurl`). Answers are the API's JSON, typed here
//! into the same results the local commands print.
//!
//! The environment is read from `<envs dir>/<env>.outputs.json` (`FROCKET_ENVS_DIR`, default
//! `infra/envs`), written by `cargo xtask deploy --env <env>`.

use crate::cli::{Command, JsonFlag, RegisterArgs, RunArgs};
use crate::error::{CliError, Exit};
use crate::output;
use protocol::job::{QueryJobResult, RegistrationJobResult};
use serde_json::{Value, json};
use settings::deployed::{DeployedEnv, envs_dir};

/// The API function of a deployed environment.
pub struct Remote {
    lambda: aws_sdk_lambda::Client,
    function: String,
}

impl Remote {
    pub async fn connect(env: &str) -> Result<Remote, CliError> {
        let dir = envs_dir();
        let deployed = DeployedEnv::load(&dir, env).map_err(|e| CliError::usage(e.to_string()))?;
        let function = deployed
            .output(&dir, "ApiFunctionName")
            .map_err(|e| CliError::usage(format!("{e}; the API function is deployed with `cargo xtask deploy`")))?
            .to_string();
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(deployed.region.clone()))
            .load()
            .await;
        Ok(Remote { lambda: aws_sdk_lambda::Client::new(&sdk), function })
    }

    /// One API request; answers the status and the JSON body. Non-2xx answers are errors
    /// carrying the API's error body.
    pub async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, CliError> {
        let event = function_url_event(method, path, body);
        let out = self
            .lambda
            .invoke()
            .function_name(&self.function)
            .payload(aws_sdk_lambda::primitives::Blob::new(event.to_string()))
            .send()
            .await
            .map_err(|e| {
                use aws_sdk_lambda::error::ProvideErrorMetadata;
                let msg = e.message().map(str::to_string).unwrap_or_else(|| format!("{e:?}"));
                anyhow::anyhow!("invoke the API function {}: {msg}", self.function)
            })?;
        let payload = out.payload().map(|b| b.as_ref().to_vec()).unwrap_or_default();
        if let Some(err) = out.function_error() {
            return Err(anyhow::anyhow!(
                "the API function {} failed ({err}): {}",
                self.function,
                String::from_utf8_lossy(&payload)
            )
            .into());
        }
        let (status, body) =
            http_response(&payload).map_err(|e| anyhow::anyhow!("the API function {} answered {e}", self.function))?;
        if (200..300).contains(&status) { Ok(body) } else { Err(CliError::Remote { status, body }) }
    }
}

/// A function URL request event (payload format 2.0).
fn function_url_event(method: &str, path: &str, body: Option<&Value>) -> Value {
    let (raw_path, query) = path.split_once('?').unwrap_or((path, ""));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": raw_path, "rawQueryString": query,
        "headers": {"content-type": "application/json", "accept": "application/json", "host": "frocket.lambda-url"},
        "requestContext": {
            "accountId": "anonymous", "apiId": "frocket", "domainName": "frocket.lambda-url", "domainPrefix": "frocket",
            "requestId": format!("frocket-cli-{now}"), "routeKey": "$default", "stage": "$default",
            "time": "01/Jan/1970:00:00:00 +0000", "timeEpoch": now as u64,
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "frocket-cli"}
        },
        "body": body.map(|b| b.to_string()), "isBase64Encoded": false
    })
}

/// The function's HTTP response: `{statusCode, headers, body, isBase64Encoded}`.
fn http_response(payload: &[u8]) -> Result<(u16, Value), String> {
    let v: Value = serde_json::from_slice(payload).map_err(|e| format!("not JSON ({e})"))?;
    let status = v["statusCode"].as_u64().ok_or_else(|| format!("no statusCode in {v}"))? as u16;
    let text = match v["body"].as_str() {
        None => String::new(),
        Some(b) if v["isBase64Encoded"].as_bool() == Some(true) => {
            use base64::Engine;
            let bytes =
                base64::engine::general_purpose::STANDARD.decode(b).map_err(|e| format!("bad base64 body: {e}"))?;
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Some(b) => b.to_string(),
    };
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    Ok((status, body))
}

fn typed<T: serde::de::DeserializeOwned>(v: Value, what: &str) -> Result<T, CliError> {
    serde_json::from_value(v)
        .map_err(|e| anyhow::anyhow!("the API's {what} is not what this frocket reads: {e}").into())
}

fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs a command on the environment's API function.
pub async fn run(env: &str, command: Command) -> Result<Exit, CliError> {
    let remote = Remote::connect(env).await?;
    match command {
        Command::Run(args) => run_query(&remote, &args).await,
        Command::Register(args) => register(&remote, args).await,
        Command::List(JsonFlag { json }) => {
            let v = remote.call("GET", "/datasets", None).await?;
            let list: Vec<protocol::dataset::DatasetInfo> = typed(v, "dataset list")?;
            if json {
                output::print_json(&list);
            } else {
                print!("{}", output::dataset_table(&list));
            }
            Ok(Exit::Success)
        }
        Command::Unregister(a) => {
            let path = format!("/datasets/{}/unregister?force={}", encode(&a.name), a.force);
            let v = remote.call("POST", &path, None).await?;
            if a.json {
                output::print_json(&v);
            } else {
                println!("Unregistered dataset '{}'", a.name);
            }
            Ok(Exit::Success)
        }
        _ => Err(CliError::usage(
            "with --env, only run, register, unregister and list are available (they go through the deployed API function)",
        )),
    }
}

async fn run_query(remote: &Remote, args: &RunArgs) -> Result<Exit, CliError> {
    if args.repeat > 1 {
        return Err(CliError::usage("--repeat is not available with --env"));
    }
    let query = crate::commands::read_query(args)?;
    let v = remote.call("POST", &format!("/datasets/{}/query", encode(&args.name)), Some(&query)).await?;
    let r: QueryJobResult = typed(v, "query result")?;
    if args.json {
        output::print_json(&r);
    } else {
        print!("{}", output::query_summary(&args.name, &r));
    }
    Ok(Exit::Success)
}

async fn register(remote: &Remote, a: RegisterArgs) -> Result<Exit, CliError> {
    let body = json!({
        "name": a.name, "basepath": a.basepath, "groupIdColumn": a.group_id_column,
        "timestampColumn": a.timestamp_column, "pattern": a.pattern, "parts": a.parts,
        "validationMode": a.validation, "validateUniques": !a.skip_uniques,
        "skipValidation": a.skip_validation, "revision": a.revision,
    });
    let v = remote.call("POST", "/datasets/register", Some(&body)).await?;
    let r: RegistrationJobResult = typed(v, "registration result")?;
    if a.json {
        output::print_json(&r);
    } else {
        println!("{}", output::registration_line(&r));
    }
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_and_responses() {
        let e = function_url_event("POST", "/datasets/a%20b/query?stream=false", Some(&json!({"q": 1})));
        assert_eq!(e["rawPath"], "/datasets/a%20b/query");
        assert_eq!(e["rawQueryString"], "stream=false");
        assert_eq!(e["requestContext"]["http"]["method"], "POST");
        assert_eq!(e["body"], r#"{"q":1}"#);
        assert_eq!(encode("a b/ü"), "a%20b%2F%C3%BC");

        let (s, b) = http_response(br#"{"statusCode": 404, "body": "{\"errors\": [{\"kind\": \"X\"}]}"}"#).unwrap();
        assert_eq!((s, b["errors"][0]["kind"].clone()), (404, json!("X")));
        let (s, b) = http_response(br#"{"statusCode": 200, "body": "eyJhIjogMX0=", "isBase64Encoded": true}"#).unwrap();
        assert_eq!((s, b), (200, json!({"a": 1})));
        assert!(http_response(b"nope").unwrap_err().contains("not JSON"));
        assert!(http_response(br#"{"errorMessage": "boom"}"#).unwrap_err().contains("no statusCode"));
    }
}
