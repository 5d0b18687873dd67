//! [`ApiError`]: every way a request ends badly, as a status code and the CLI's JSON error
//! body. The status says who must act (docs/api.md, "Errors"):
//!
//! | status | when |
//! |---|---|
//! | 400 | the body is not JSON, or the query is invalid (every fault with its JSON path) |
//! | 401 / 403 | no or wrong token / admin endpoints disabled or a read token on one |
//! | 404 | unknown dataset or route |
//! | 405 | a method the route does not have |
//! | 409 | unregister refused (the dataset was queried within the safety interval) |
//! | 413 | the body is larger than the limit |
//! | 422 | registration arguments are wrong (a missing or mistyped field, a path outside the allowed roots, data unfit for registration) |
//! | 429 | too many jobs running (`Retry-After` given) |
//! | 502 | the job's tasks failed or timed out (the workers or the data are at fault) |
//! | 503 | the datastore (Redis) or storage is unreachable |
//! | 500 | a bug |

use crate::error::CliError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use invoker::InvokerError;
use serde_json::{Value, json};
use storage::StorageError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Value,
}

impl ApiError {
    /// An error of one entry.
    pub fn new(status: StatusCode, kind: &str, message: impl Into<String>) -> ApiError {
        let message = message.into();
        ApiError {
            status,
            body: json!({"success": false, "errorMessage": message, "errors": [{"kind": kind, "message": message}]}),
        }
    }

    /// An error of one entry with the JSON path (or field) at fault.
    pub fn at(status: StatusCode, kind: &str, message: impl Into<String>, path: &str) -> ApiError {
        let message = message.into();
        ApiError {
            status,
            body: json!({"success": false, "errorMessage": message,
                         "errors": [{"kind": kind, "message": message, "path": path}]}),
        }
    }

    /// The body, with the status added (a stream's last line carries it: the stream itself
    /// answered 200 before the outcome was known).
    pub fn into_stream_line(self) -> Value {
        let mut body = self.body;
        if let Some(o) = body.as_object_mut() {
            o.insert("status".into(), json!(self.status.as_u16()));
        }
        body
    }
}

/// The status of each invoker error (the body is the CLI's, `CliError::json_body`).
fn invoker_status(e: &InvokerError) -> StatusCode {
    match e {
        InvokerError::Validation(_) => StatusCode::BAD_REQUEST,
        InvokerError::DatasetNotFound(_) => StatusCode::NOT_FOUND,
        InvokerError::InvalidArguments(_) | InvokerError::DataValidation(_) => StatusCode::UNPROCESSABLE_ENTITY,
        InvokerError::Storage { source, .. } => match source {
            StorageError::Transient(_) => StatusCode::SERVICE_UNAVAILABLE,
            // Registration reads the dataset's files through storage: a path that is not
            // there or not readable is the caller's argument.
            StorageError::NotFound(_) | StorageError::InvalidPath(_) | StorageError::AccessDenied(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            StorageError::DiskFull(_) | StorageError::Other(_) => StatusCode::SERVICE_UNAVAILABLE,
        },
        InvokerError::TasksFailed(_) => StatusCode::BAD_GATEWAY,
        InvokerError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<InvokerError> for ApiError {
    fn from(e: InvokerError) -> ApiError {
        let status = invoker_status(&e);
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!("internal error: {e}");
        }
        ApiError { status, body: CliError::Invoker(e).json_body() }
    }
}

/// A datastore read outside a job (list, schema, parts).
impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> ApiError {
        InvokerError::Storage { context: "read the datastore".into(), source: e }.into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(self.body)).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{ErrorKind, ValidationError, ValidationErrors};

    #[test]
    fn invoker_errors_map_to_the_documented_statuses() {
        let invalid = ValidationErrors {
            errors: vec![ValidationError { kind: ErrorKind::TypeMismatch, message: "m".into(), path: "query".into() }],
        };
        let storage = |s| InvokerError::Storage { context: "c".into(), source: s };
        let cases: Vec<(InvokerError, u16, &str)> = vec![
            (InvokerError::Validation(invalid), 400, "TYPE_MISMATCH"),
            (InvokerError::DatasetNotFound("x".into()), 404, "DATASET_NOT_FOUND"),
            (InvokerError::InvalidArguments("bad".into()), 422, "INVALID_ARGUMENTS"),
            (InvokerError::DataValidation("differ".into()), 422, "DATA_VALIDATION"),
            (storage(StorageError::Transient("refused".into())), 503, "STORAGE"),
            (storage(StorageError::NotFound("/x".into())), 422, "STORAGE"),
            (InvokerError::TasksFailed("1 of 2".into()), 502, "TASKS_FAILED"),
            (InvokerError::Internal("bug".into()), 500, "INTERNAL"),
        ];
        for (e, status, kind) in cases {
            let a = ApiError::from(e);
            assert_eq!(a.status.as_u16(), status, "{}", a.body);
            assert_eq!(a.body["success"], json!(false));
            assert_eq!(a.body["errors"][0]["kind"], json!(kind));
        }
        let line = ApiError::new(StatusCode::BAD_GATEWAY, "TASKS_FAILED", "m").into_stream_line();
        assert_eq!(line["status"], json!(502));
    }
}
