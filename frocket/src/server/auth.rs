//! Bearer tokens: `Authorization: Bearer <token>`, compared in constant time (`subtle`), so
//! the time an answer takes says nothing about how much of a guess was right. With no token
//! configured for a level, that level is open (the local default: the server binds loopback).

use super::{ApiError, ServerState};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The token a request presents, if any.
fn presented(req: &Request) -> Option<&str> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn matches(given: Option<&str>, expected: &Option<String>) -> bool {
    match (given, expected) {
        (Some(g), Some(e)) => bool::from(g.as_bytes().ct_eq(e.as_bytes())),
        _ => false,
    }
}

/// What a request may do.
#[derive(Debug, PartialEq, Eq)]
enum Access {
    Admin,
    Read,
    None,
}

/// The rule (docs/api.md, "Security"): the admin token grants everything, the read token the
/// read endpoints; with only a read token configured it is the one token and grants
/// everything; with no token at all everything is open.
fn access(state: &ServerState, req: &Request) -> Access {
    let o = &state.opts;
    let given = presented(req);
    let admin = match (&o.admin_token, &o.read_token) {
        (Some(_), _) => matches(given, &o.admin_token),
        (None, Some(_)) => matches(given, &o.read_token),
        (None, None) => true,
    };
    if admin {
        Access::Admin
    } else if o.admin_token.is_some() && o.read_token.is_some() && matches(given, &o.read_token) {
        Access::Read
    } else {
        Access::None
    }
}

fn unauthorized() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
        "a valid bearer token is required (Authorization: Bearer <token>)",
    )
}

pub async fn require_read(
    State(state): State<Arc<ServerState>>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    match access(&state, &req) {
        Access::Admin | Access::Read => Ok(next.run(req).await),
        Access::None => Err(unauthorized()),
    }
}

pub async fn require_admin(
    State(state): State<Arc<ServerState>>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if !state.opts.admin_enabled {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "ADMIN_DISABLED",
            "admin endpoints are disabled on this server",
        ));
    }
    match access(&state, &req) {
        Access::Admin => Ok(next.run(req).await),
        Access::Read => Err(ApiError::new(StatusCode::FORBIDDEN, "FORBIDDEN", "this endpoint needs the admin token")),
        Access::None => Err(unauthorized()),
    }
}
