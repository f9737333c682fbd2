//! `server` → auth: who is calling. Every request but health, readiness and the OpenAPI
//! document carries `Authorization: Bearer <token>`; the token names one tenant (or is an admin
//! token, which picks a tenant with the `X-Batch-Tenant` header). No token, or a wrong one: 401.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;

use super::error::ApiError;
use super::{AppState, tokens};

/// The header an admin token names the tenant it acts for with.
pub(super) const TENANT_HEADER: &str = "x-batch-tenant";

/// An authenticated caller.
#[derive(Debug, Clone)]
pub(super) struct Caller {
    /// The tenant the request acts for.
    pub(super) tenant: String,
    /// The token is an admin token.
    pub(super) admin: bool,
    /// The token's public id (for logs).
    pub(super) token_id: String,
}

/// An authenticated caller holding an admin token.
#[derive(Debug, Clone)]
pub(super) struct Admin;

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            return Err(unauthorized(
                "this request needs `Authorization: Bearer <token>`; an operator creates tokens with `batch-host token create --tenant NAME`",
            ));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or_default();
        let Some(record) = tokens::verify(&state.tokens, token).await? else {
            return Err(unauthorized(
                "the bearer token is unknown, revoked or malformed; ask the operator for a new one (`batch-host token create`)",
            ));
        };
        let asked = parts
            .headers
            .get(TENANT_HEADER)
            .map(|v| v.to_str().map(str::to_owned))
            .transpose()
            .map_err(|_| ApiError::bad_request("the X-Batch-Tenant header is not text"))?;
        let tenant = match (&record.tenant, asked) {
            (Some(own), None) => own.clone(),
            (Some(own), Some(asked)) if *own == asked => own.clone(),
            (Some(_), Some(_)) => {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "a tenant token acts for its own tenant only; leave out X-Batch-Tenant",
                ));
            }
            (None, asked) => {
                let tenant = asked.unwrap_or_else(|| crate::config::DEFAULT_TENANT.to_owned());
                if !crate::config::valid_tenant(&tenant) {
                    return Err(ApiError::bad_request(format!(
                        "X-Batch-Tenant `{}` is not a valid tenant name (1-40 of a-z, 0-9 and `-`, starting with a letter)",
                        crate::telemetry::label(&tenant)
                    )));
                }
                tenant
            }
        };
        Ok(Caller {
            tenant,
            admin: record.tenant.is_none(),
            token_id: record.id,
        })
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if !caller.admin {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this needs an admin token (`batch-host token create --admin`)",
            ));
        }
        Ok(Admin)
    }
}
