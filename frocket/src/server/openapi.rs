//! The OpenAPI 3 document, generated from the handlers' `#[utoipa::path]` annotations and the
//! request/response types below (served at `/openapi.json`; schemathesis runs against it in
//! the test suite). Results and schemas are described as objects: their fields are documented
//! in docs/results.md and docs/datasets.md, and the server never constrains them further.

use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// One fault (the CLI's format, docs/results.md).
#[derive(Serialize, ToSchema)]
pub struct ErrorEntry {
    /// `SCHEMA`, `TYPE_MISMATCH`, ... for query faults; `DATASET_NOT_FOUND`, `TOO_MANY_JOBS`, ...
    pub kind: String,
    pub message: String,
    /// The JSON path of the fault in the query (or the field of a registration body).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// Every error answer.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Always false.
    pub success: bool,
    /// All faults in one line (absent for query validation faults, as 0.5.3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    pub errors: Vec<ErrorEntry>,
}

/// `/healthz`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: String,
    /// The execution mode and datastore.
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `/queries/validate` of a valid query.
#[derive(Serialize, ToSchema)]
pub struct ValidateResponse {
    pub success: bool,
    /// The expanded canonical query.
    #[schema(value_type = Object)]
    pub query: serde_json::Value,
}

/// The unregister outcome (0.5.3's fields; `errors` when refused).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnregisterBody {
    pub success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    pub dataset_found: bool,
    /// Unix seconds of the dataset's last query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_last_used: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ErrorEntry>>,
}

/// The registration request: camelCase keys, or 0.5.3's snake_case ones.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterRequest {
    /// Dataset name (1 to 256 bytes).
    pub name: String,
    /// A directory under one of the server's allowed roots, `file://...`, or `s3://bucket/prefix`.
    pub basepath: String,
    #[serde(alias = "group_id_column")]
    pub group_id_column: String,
    #[serde(alias = "timestamp_column")]
    pub timestamp_column: String,
    /// A glob (default `*.parquet`) or a running-number pattern (`part-{:05}.parquet`).
    #[serde(default)]
    pub pattern: Option<String>,
    /// Number of parts, with a running-number pattern.
    #[serde(default)]
    pub parts: Option<usize>,
    /// `single`, `first_last` or `sample` (default).
    #[serde(default, alias = "validation_mode", alias = "validation")]
    pub validation_mode: Option<String>,
    #[serde(default, alias = "validate_uniques")]
    pub validate_uniques: Option<bool>,
    #[serde(default, alias = "skip_validation")]
    pub skip_validation: Option<bool>,
    #[serde(default)]
    pub revision: Option<String>,
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Funnel Rocket API", description = "Register Parquet datasets and run user-centric funnel queries (docs/api.md)."),
    paths(
        super::api::healthz,
        super::api::list_datasets,
        super::api::schema,
        super::api::parts,
        super::api::query,
        super::api::empty_query,
        super::api::validate,
        super::api::register,
        super::api::unregister,
        super::api::metrics,
    ),
    components(schemas(ErrorEntry, ErrorBody, Health, ValidateResponse, UnregisterBody, RegisterRequest)),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

pub async fn spec() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
