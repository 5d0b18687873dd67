//! The endpoints (docs/api.md). Each takes its inputs as `Result`s of axum's extractors so that
//! every rejection becomes an [`ApiError`] in the JSON format, and runs jobs through
//! `stream.rs` under a job permit.

use super::openapi::{ErrorBody, Health, RegisterRequest, UnregisterBody, ValidateResponse};
use super::stream::{JobOutcome, run_streamed, run_whole};
use super::{ApiError, ServerState};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use invoker::{InvokerError, ProgressFn, ValidationMode};
use protocol::validate_query_value;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use storage::Location;
use tokio::sync::OwnedSemaphorePermit;

type St = State<Arc<ServerState>>;
type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

/// Dataset names longer than this are never registered (and so never found).
const MAX_NAME_LEN: usize = 256;

/// The query string's parameters, or 400.
fn query_params(params: &Params) -> Result<&HashMap<String, String>, ApiError> {
    match params {
        Ok(Query(p)) => Ok(p),
        Err(e) => Err(ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", format!("bad query string: {e}"))),
    }
}

/// A boolean URL flag: absent is false; `true` or `false` (trimmed, any case; 0.5.3 read
/// anything but `true` as false, which hid typos such as `force=ture`); anything else is 400.
fn flag(params: &Params, key: &str) -> Result<bool, ApiError> {
    match query_params(params)?.get(key).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) if v == "true" => Ok(true),
        Some(v) if v == "false" => Ok(false),
        Some(v) => Err(ApiError::at(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            format!("query parameter '{key}' must be true or false, not {v:?}"),
            key,
        )),
    }
}

/// Whether `name` can be a dataset's: registration refuses any other, so lookups of one are 404.
fn is_dataset_name(name: &str) -> bool {
    !name.trim().is_empty() && name.len() <= MAX_NAME_LEN && !name.chars().any(char::is_control)
}

/// A dataset name from the URL path; one that can never be registered is an unknown dataset.
fn dataset_name(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(name) = path.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", e.body_text()))?;
    known_name(name)
}

fn known_name(name: String) -> Result<String, ApiError> {
    if is_dataset_name(&name) { Ok(name) } else { Err(InvokerError::DatasetNotFound(name).into()) }
}

/// The body as JSON: 413 above the limit, 400 when it is not JSON.
fn json_body(body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let bytes = body.map_err(|e| {
        let status = e.status();
        let kind = if status == StatusCode::PAYLOAD_TOO_LARGE { "PAYLOAD_TOO_LARGE" } else { "BAD_REQUEST" };
        ApiError::new(status, kind, e.body_text())
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "INVALID_JSON", format!("the body is not valid JSON: {e}")))
}

/// Runs a job under `permit`: streamed (200 and NDJSON) or answered whole.
async fn run_job<F, Fut>(permit: OwnedSemaphorePermit, stream: bool, job: F) -> Result<Response, ApiError>
where
    F: FnOnce(Option<ProgressFn>) -> Fut,
    Fut: Future<Output = JobOutcome> + Send + 'static,
{
    if stream {
        Ok(run_streamed(permit, |progress| job(Some(progress))))
    } else {
        run_whole(permit, job(None)).await.map(ok)
    }
}

/// A job permit, or 429.
fn permit(state: &ServerState) -> Result<OwnedSemaphorePermit, ApiError> {
    state.jobs.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_JOBS",
            format!("{} jobs are running, the most this server runs at once; retry shortly", state.opts.max_jobs),
        )
    })
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", e.to_string()))
}

fn ok(v: Value) -> Response {
    (StatusCode::OK, Json(v)).into_response()
}

/// Liveness and the execution mode; with a datastore, whether it answers.
#[utoipa::path(get, path = "/healthz", tag = "service",
    responses((status = 200, description = "Serving", body = Health),
              (status = 503, description = "The datastore does not answer", body = Health)))]
pub async fn healthz(State(s): St) -> Response {
    let mode = s.app.config.describe_datastore();
    match s.app.datastore.datasets().await {
        Ok(_) => ok(json!({"status": "ok", "mode": mode})),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "mode": mode, "error": e.to_string()})),
        )
            .into_response(),
    }
}

/// Registered datasets, most recently registered first.
#[utoipa::path(get, path = "/datasets", tag = "datasets", security((), ("bearer" = [])),
    responses((status = 200, description = "The registered datasets (DatasetInfo objects)", body = Vec<Object>),
              (status = 401, description = "No or wrong token", body = ErrorBody),
              (status = 503, description = "Datastore unreachable", body = ErrorBody)))]
pub async fn list_datasets(State(s): St) -> Result<Response, ApiError> {
    let list = s.app.datastore.datasets().await?;
    Ok(ok(to_value(&list)?))
}

async fn record(s: &ServerState, name: &str) -> Result<protocol::dataset::DatasetRecord, ApiError> {
    s.app.datastore.dataset(name).await?.ok_or_else(|| InvokerError::DatasetNotFound(name.into()).into())
}

/// A dataset's schema: short (columns and types), or full (with value statistics).
#[utoipa::path(get, path = "/datasets/{name}/schema", tag = "datasets", security((), ("bearer" = [])),
    params(("name" = String, Path, description = "Dataset name"),
           ("full" = Option<bool>, Query, description = "The full schema (top values, min/max)")),
    responses((status = 200, description = "The schema", body = Object),
              (status = 400, description = "A query parameter is not true/false", body = ErrorBody),
              (status = 401, description = "No or wrong token", body = ErrorBody),
              (status = 404, description = "Unknown dataset", body = ErrorBody),
              (status = 503, description = "Datastore unreachable", body = ErrorBody)))]
pub async fn schema(State(s): St, path: Result<Path<String>, PathRejection>, q: Params) -> Result<Response, ApiError> {
    let name = dataset_name(path)?;
    let full = flag(&q, "full")?;
    let rec = record(&s, &name).await?;
    Ok(ok(if full { to_value(&rec.schema)? } else { to_value(&rec.schema.short())? }))
}

/// A dataset's parts (admin).
#[utoipa::path(get, path = "/datasets/{name}/parts", tag = "admin", security((), ("bearer" = [])),
    params(("name" = String, Path, description = "Dataset name")),
    responses((status = 200, description = "`{filenames, namingMethod, totalParts, totalSize}`", body = Object),
              (status = 401, description = "No or wrong token", body = ErrorBody),
              (status = 403, description = "Admin endpoints disabled, or not the admin token", body = ErrorBody),
              (status = 404, description = "Unknown dataset", body = ErrorBody),
              (status = 503, description = "Datastore unreachable", body = ErrorBody)))]
pub async fn parts(State(s): St, path: Result<Path<String>, PathRejection>) -> Result<Response, ApiError> {
    let name = dataset_name(path)?;
    let rec = record(&s, &name).await?;
    Ok(ok(to_value(&rec.parts)?))
}

/// Runs a query job and answers its result, whole or streamed.
async fn query_response(s: Arc<ServerState>, name: String, query: Value, stream: bool) -> Result<Response, ApiError> {
    if stream {
        // Faults found before the job starts keep their status codes.
        let rec = record(&s, &name).await?;
        validate_query_value(&query, Some(&rec.schema.validation_schema())).map_err(InvokerError::from)?;
    }
    let p = permit(&s)?;
    run_job(p, stream, move |progress| async move {
        let opts = s.app.job_options();
        let r = invoker::run_query_job(&*s.app.datastore, &*s.app.executor, &name, &query, &opts, progress).await;
        r.map_err(ApiError::from).and_then(|r| to_value(&r))
    })
    .await
}

/// Runs a query (canonical or 0.5.3 format, docs/query-language.md) on a dataset.
#[utoipa::path(post, path = "/datasets/{name}/query", tag = "queries", security((), ("bearer" = [])),
    params(("name" = String, Path, description = "Dataset name"),
           ("stream" = Option<bool>, Query, description = "Stream progress then the result as NDJSON")),
    request_body(content = Object, description = "The query (docs/query-language.md)", content_type = "application/json"),
    responses((status = 200, description = "The result (docs/results.md); with stream=true, NDJSON progress lines then the result", content((Object = "application/json"), (String = "application/x-ndjson"))),
              (status = 400, description = "Not JSON, or an invalid query (every fault with its JSON path)", body = ErrorBody),
              (status = 401, description = "No or wrong token", body = ErrorBody),
              (status = 404, description = "Unknown dataset", body = ErrorBody),
              (status = 413, description = "Body too large", body = ErrorBody),
              (status = 422, description = "The dataset's registration is unusable", body = ErrorBody),
              (status = 429, description = "Too many jobs running", body = ErrorBody),
              (status = 502, description = "Tasks failed or timed out", body = ErrorBody),
              (status = 503, description = "Datastore unreachable", body = ErrorBody)))]
pub async fn query(
    State(s): St,
    path: Result<Path<String>, PathRejection>,
    q: Params,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let name = dataset_name(path)?;
    let stream = flag(&q, "stream")?;
    let query = json_body(body)?;
    query_response(s, name, query, stream).await
}

/// Runs the empty query (every group) on a dataset.
#[utoipa::path(get, path = "/datasets/{name}/empty-query", tag = "queries", security((), ("bearer" = [])),
    params(("name" = String, Path, description = "Dataset name"),
           ("stream" = Option<bool>, Query, description = "Stream progress then the result as NDJSON")),
    responses((status = 200, description = "The result", content((Object = "application/json"), (String = "application/x-ndjson"))),
              (status = 400, description = "A query parameter is not true/false", body = ErrorBody),
              (status = 401, description = "No or wrong token", body = ErrorBody),
              (status = 404, description = "Unknown dataset", body = ErrorBody),
              (status = 422, description = "The dataset's registration is unusable", body = ErrorBody),
              (status = 429, description = "Too many jobs running", body = ErrorBody),
              (status = 502, description = "Tasks failed or timed out", body = ErrorBody),
              (status = 503, description = "Datastore unreachable", body = ErrorBody)))]
pub async fn empty_query(
    State(s): St,
    path: Result<Path<String>, PathRejection>,
    q: Params,
) -> Result<Response, ApiError> {
    let name = dataset_name(path)?;
    let stream = flag(&q, "stream")?;
    query_response(s, name, json!({}), stream).await
}

/// Validates a query: the expanded canonical query, or every fault with its JSON path. With
/// `?dataset=NAME`, columns and types are checked against that dataset's schema too.
#[utoipa::path(post, path = "/queries/validate", tag = "queries", security((), ("bearer" = [])),
    params(("dataset" = Option<String>, Query, description = "Check columns against this dataset's schema")),
    request_body(content = Object, description = "The query", content_type = "application/json"),
    responses((status = 200, description = "Valid: the expanded canonical query", body = ValidateResponse),
              (status = 400, description = "Not JSON, or invalid: every fault with its JSON path", body = ErrorBody),
              (status = 401, description = "No or wrong token", body = ErrorBody),
              (status = 404, description = "Unknown dataset", body = ErrorBody),
              (status = 413, description = "Body too large", body = ErrorBody),
              (status = 503, description = "Datastore unreachable", body = ErrorBody)))]
pub async fn validate(State(s): St, q: Params, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let dataset = query_params(&q)?.get("dataset").cloned();
    let query = json_body(body)?;
    let schema = match dataset {
        Some(name) => Some(record(&s, &known_name(name)?).await?.schema.validation_schema()),
        None => None,
    };
    let vq = validate_query_value(&query, schema.as_ref()).map_err(InvokerError::from)?;
    Ok(ok(json!({"success": true, "query": vq.query.to_json()})))
}

/// Checks a registration's base path against the allowed roots; returns the path to register
/// (local paths canonical, so `..` and symlinks cannot leave a root).
fn allowed_basepath(s: &ServerState, basepath: &str) -> Result<String, ApiError> {
    let loc = Location::parse(basepath)
        .map_err(|e| ApiError::at(StatusCode::UNPROCESSABLE_ENTITY, "INVALID_ARGUMENTS", e.to_string(), "basepath"))?;
    match loc {
        Location::S3 { .. } if s.opts.allow_s3 => Ok(basepath.to_string()),
        Location::S3 { .. } => Err(ApiError::at(
            StatusCode::UNPROCESSABLE_ENTITY,
            "PATH_NOT_ALLOWED",
            "this server does not register S3 paths",
            "basepath",
        )),
        Location::Local(p) => {
            // One message whether the path is missing or outside the roots: the answer must
            // not tell what exists elsewhere on the server.
            let refused = || {
                ApiError::at(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "PATH_NOT_ALLOWED",
                    format!("'{basepath}' is not an existing directory under a root this server allows (--allow-root)"),
                    "basepath",
                )
            };
            let canon = std::fs::canonicalize(&p).map_err(|_| refused())?;
            if s.opts.allow_roots.iter().any(|r| canon.starts_with(r)) && canon.is_dir() {
                Ok(canon.to_string_lossy().into_owned())
            } else {
                Err(refused())
            }
        }
    }
}

/// The request body as registration arguments: unknown or mistyped fields are 422 with the
/// field named.
fn register_args(s: &ServerState, body: Value) -> Result<invoker::RegisterArgs, ApiError> {
    let r: RegisterRequest = serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        ApiError::at(StatusCode::UNPROCESSABLE_ENTITY, "INVALID_ARGUMENTS", e.inner().to_string(), &path)
    })?;
    if !is_dataset_name(&r.name) {
        return Err(ApiError::at(
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_ARGUMENTS",
            format!("a dataset name is 1 to {MAX_NAME_LEN} bytes without control characters"),
            "name",
        ));
    }
    let basepath = allowed_basepath(s, &r.basepath)?;
    let mut a = invoker::RegisterArgs::new(&r.name, &basepath, &r.group_id_column, &r.timestamp_column);
    a.pattern = r.pattern;
    a.parts = r.parts;
    if let Some(v) = &r.validation_mode {
        a.validation = ValidationMode::parse(v).ok_or_else(|| {
            ApiError::at(
                StatusCode::UNPROCESSABLE_ENTITY,
                "INVALID_ARGUMENTS",
                format!("validationMode {v:?} is not one of single, first_last, sample"),
                "validationMode",
            )
        })?;
    }
    if let Some(v) = r.validate_uniques {
        a.validate_uniques = v;
    }
    a.skip_validation = r.skip_validation.unwrap_or(false);
    a.revision = r.revision;
    Ok(a)
}

/// Registers (or re-registers) a dataset (admin).
#[utoipa::path(post, path = "/datasets/register", tag = "admin", security((), ("bearer" = [])),
    params(("stream" = Option<bool>, Query, description = "Stream progress then the result as NDJSON")),
    request_body(content = RegisterRequest, content_type = "application/json"),
    responses((status = 200, description = "Registered: the registration result", content((Object = "application/json"), (String = "application/x-ndjson"))),
              (status = 400, description = "The body is not JSON", body = ErrorBody),
              (status = 401, description = "No or wrong token", body = ErrorBody),
              (status = 403, description = "Admin endpoints disabled, or not the admin token", body = ErrorBody),
              (status = 413, description = "Body too large", body = ErrorBody),
              (status = 422, description = "Bad arguments: a field, a path not allowed, data unfit", body = ErrorBody),
              (status = 429, description = "Too many jobs running", body = ErrorBody),
              (status = 502, description = "Tasks failed or timed out", body = ErrorBody),
              (status = 503, description = "Datastore unreachable", body = ErrorBody)))]
pub async fn register(State(s): St, q: Params, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let stream = flag(&q, "stream")?;
    let args = register_args(&s, json_body(body)?)?;
    let p = permit(&s)?;
    run_job(p, stream, move |progress| async move {
        let opts = s.app.job_options();
        let r =
            invoker::register_dataset(&s.app.stores, &*s.app.datastore, &*s.app.executor, &args, &opts, progress).await;
        r.map_err(ApiError::from).and_then(|r| to_value(&r))
    })
    .await
}

/// Removes a registration (admin); refused (409) within the safety interval after the
/// dataset's last query unless `force=true`. Files are never touched.
#[utoipa::path(post, path = "/datasets/{name}/unregister", tag = "admin", security((), ("bearer" = [])),
    params(("name" = String, Path, description = "Dataset name"),
           ("force" = Option<bool>, Query, description = "Unregister even if queried recently")),
    responses((status = 200, description = "Unregistered, or was not registered (`datasetFound`)", body = UnregisterBody),
              (status = 400, description = "A query parameter is not true/false", body = ErrorBody),
              (status = 401, description = "No or wrong token", body = ErrorBody),
              (status = 403, description = "Admin endpoints disabled, or not the admin token", body = ErrorBody),
              (status = 404, description = "Unknown dataset", body = ErrorBody),
              (status = 409, description = "Refused: queried within the safety interval", body = UnregisterBody),
              (status = 503, description = "Datastore unreachable", body = ErrorBody)))]
pub async fn unregister(
    State(s): St,
    path: Result<Path<String>, PathRejection>,
    q: Params,
) -> Result<Response, ApiError> {
    let name = dataset_name(path)?;
    let force = flag(&q, "force")?;
    let o = invoker::unregister_dataset(&*s.app.datastore, &name, force, s.app.config.unregister_interval).await?;
    let mut body = to_value(&o)?;
    if o.success {
        return Ok(ok(body));
    }
    let message = o.error_message.clone().unwrap_or_else(|| "unregister refused".into());
    body["errors"] = json!([{"kind": "UNREGISTER_REFUSED", "message": message}]);
    Ok((StatusCode::CONFLICT, Json(body)).into_response())
}

/// The Prometheus text exposition of the job and task metrics this server recorded.
#[utoipa::path(get, path = "/metrics", tag = "service", security((), ("bearer" = [])),
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
              (status = 401, description = "No or wrong token", body = ErrorBody)))]
pub async fn metrics(State(s): St) -> Response {
    let mut r = s.app.metrics.export().into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    r
}

pub async fn no_route() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such endpoint (see /openapi.json)")
}

pub async fn wrong_method() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "this endpoint does not take that method")
}
