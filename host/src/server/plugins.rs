//! `server` → plugins: `/api/v1/plugins` — upload a component (validated, compiled once and
//! sealed, like `batch-host plugin register`), list, inspect and remove the tenant's own
//! registrations.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::api::query;
use super::auth::Caller;
use super::error::ApiError;
use crate::registry::{Catalogue, PluginName, RegisterError, valid_label};
use crate::views::{inspect_json, plugin_json};

type ApiResult = Result<Response, ApiError>;

/// `GET /api/v1/plugins`: the tenant's registrations, by name then registration time.
pub(super) async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult {
    let repo = state.repo(&caller.tenant).await?;
    let plugins = Catalogue::new(&repo, None).list().await?;
    let items: Vec<_> = plugins.iter().map(plugin_json).collect();
    Ok((StatusCode::OK, Json(json!({ "plugins": items }))).into_response())
}

/// The query of `POST /api/v1/plugins`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UploadQuery {
    name: String,
    version: Option<String>,
}

/// `POST /api/v1/plugins?name=NAME&version=V`: the body is the component's bytes.
pub(super) async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    q: Result<Query<UploadQuery>, QueryRejection>,
    bytes: Bytes,
) -> ApiResult {
    let q = query(q)?;
    let version = q.version.unwrap_or_else(|| "0.1.0".to_owned());
    if !valid_label(&q.name) || !valid_label(&version) {
        return Err(ApiError::bad_request(
            "plugin name and version must be 1-100 letters, digits, `.`, `_` or `-`",
        ));
    }
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "the request body must be the component's bytes (Content-Type: application/wasm)",
        ));
    }
    let policy = state.setup(&caller.tenant).policy_or_error()?;
    let runtime = crate::setup::plugin_runtime(&policy, Default::default())?;
    let repo = state.repo(&caller.tenant).await?;
    // Validating and compiling a component is CPU work: off the request threads.
    let record = {
        let wasm = bytes.clone();
        let (name, version) = (q.name.clone(), version.clone());
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            handle.block_on(async {
                Catalogue::new(&repo, None)
                    .register(&runtime, &wasm, &name, &version)
                    .await
            })
        })
        .await
        .map_err(|e| ApiError::internal(format!("registration stopped: {e}")))?
    };
    let record = record.map_err(|e| match e {
        RegisterError::Invalid(e) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_plugin",
            format!("the upload cannot be registered: {e}"),
        ),
        RegisterError::Repository(e) => e.into(),
    })?;
    Ok((StatusCode::CREATED, Json(plugin_json(&record))).into_response())
}

fn plugin_name(raw: &str) -> Result<PluginName, ApiError> {
    PluginName::parse(raw).map_err(|e| ApiError::bad_request(e.to_string()))
}

fn not_registered(raw: &str) -> ApiError {
    ApiError::not_found(format!(
        "plugin `{}` is not registered for this tenant; GET /api/v1/plugins lists them",
        crate::telemetry::label(raw)
    ))
}

/// `GET /api/v1/plugins/{name}` (`name`, `name@version` or `name@sha256:HEX`).
pub(super) async fn inspect(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> ApiResult {
    let name = plugin_name(&raw)?;
    let repo = state.repo(&caller.tenant).await?;
    let (all, selected) = Catalogue::new(&repo, None).inspect(&name).await?;
    let Some((record, Some(wasm))) = selected else {
        return Err(not_registered(&raw));
    };
    let surface = crate::plugin::Surface::of(&wasm)
        .map_err(|e| ApiError::internal(format!("the stored component cannot be read: {e}")))?;
    let producers = crate::plugin::Producers::of(&wasm);
    Ok((
        StatusCode::OK,
        Json(inspect_json(&record, &all, &surface, &producers)),
    )
        .into_response())
}

/// `DELETE /api/v1/plugins/{name}`: every version of `name`, or one (`name@version`).
pub(super) async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> ApiResult {
    let name = plugin_name(&raw)?;
    let repo = state.repo(&caller.tenant).await?;
    match Catalogue::new(&repo, None).remove(&name).await? {
        0 => Err(not_registered(&raw)),
        n => Ok((StatusCode::OK, Json(json!({ "removed": n }))).into_response()),
    }
}
