//! `server` → error: every failure of a request as a JSON body with a status code, a stable
//! `code` scripts can branch on, a message that says what to do, and (for a job file) the same
//! file:line:column problems the CLI prints.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::engine::{LaunchError, OperatorError};
use crate::repository::RepositoryError;
use crate::setup::{Problems, SetupError};

/// A request that could not be served.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable machine-readable code (`not_found`, `invalid_job`, …).
    pub code: &'static str,
    /// What went wrong and what to do.
    pub message: String,
    /// The job file's problems, for `invalid_job`.
    pub problems: Vec<Value>,
}

impl ApiError {
    /// An error with no problem list.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            problems: Vec::new(),
        }
    }

    /// 400: the request itself is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 404: no such resource for this tenant (another tenant's resources are 404 too).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409: refused because of the state of things.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 500: the server or the repository failed.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// 422: the job file does not parse or plan; every problem with its place.
    pub fn invalid_job(problems: &Problems) -> Self {
        let list = problems
            .diagnostics()
            .iter()
            .map(|d| json!({ "file": d.file.display().to_string(), "line": d.line, "column": d.column, "field": d.field, "message": d.message, "hint": d.hint }))
            .collect::<Vec<_>>();
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_job",
            message: format!("the job file has {} problem(s)", list.len()),
            problems: list,
        }
    }

    /// The execution `id` is not in the caller's repository.
    pub fn no_execution(id: i64) -> Self {
        Self::not_found(format!(
            "no job execution {id} for this tenant; GET /api/v1/executions lists them"
        ))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "request failed");
        }
        let mut body = json!({ "error": { "code": self.code, "message": self.message } });
        if !self.problems.is_empty() {
            body["error"]["problems"] = Value::Array(self.problems);
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"batch-host\""),
            );
        }
        response
    }
}

impl From<RepositoryError> for ApiError {
    fn from(e: RepositoryError) -> Self {
        match e {
            RepositoryError::ExecutionRunning { .. }
            | RepositoryError::InstanceComplete { .. }
            | RepositoryError::NotRestartable { .. } => ApiError::conflict(e.to_string()),
            e => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "repository_unavailable",
                format!("the repository failed: {e}; retry, and check the server's log"),
            ),
        }
    }
}

impl From<SetupError> for ApiError {
    fn from(e: SetupError) -> Self {
        match e {
            SetupError::Invalid(errors) => ApiError::bad_request(errors.join("\n")),
            SetupError::Internal(e) => ApiError::internal(e),
            SetupError::Repository(e) => e.into(),
        }
    }
}

impl From<OperatorError> for ApiError {
    fn from(e: OperatorError) -> Self {
        match e {
            OperatorError::Repository(e) => e.into(),
            e if e.is_not_found() => ApiError::not_found(e.to_string()),
            e => ApiError::conflict(e.to_string()),
        }
    }
}

impl From<LaunchError> for ApiError {
    fn from(e: LaunchError) -> Self {
        match e {
            LaunchError::Repository(e) => e.into(),
            e @ LaunchError::QuotaExceeded { .. } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "quota_exceeded",
                e.to_string(),
            ),
            e @ LaunchError::RepositoryLost { .. } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "repository_unavailable",
                e.to_string(),
            ),
            e => ApiError::conflict(e.to_string()),
        }
    }
}
