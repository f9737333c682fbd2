//! `server` → api: the handlers of `/api/v1` for jobs and executions, health, readiness, the
//! OpenAPI document and `/metrics`. Each acts on the caller's tenant only.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::AppState;
use super::auth::{Admin, Caller};
use super::error::ApiError;
use crate::engine::JobOperator;
use crate::repository::{ExecutionFilter, JobExplorer, MAX_JOB_TEXT};
use crate::setup::JobInput;
use crate::views::{execution_json, skipped_json, step_json, summarize_jobs};

/// The OpenAPI document, checked against the router by the tests.
pub(super) const OPENAPI: &str = include_str!("openapi.json");

/// The most executions one page lists.
const MAX_PAGE: i64 = 500;

type ApiResult = Result<Response, ApiError>;

/// A JSON body, parsed with a message that names the field at fault.
pub(super) fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request("the request needs a JSON body"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de)
        .map_err(|e| ApiError::bad_request(format!("the JSON body is not valid: {e}")))
}

/// A query string, or a 400 that says what is wrong with it.
pub(super) fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(q)| q).map_err(|e| {
        ApiError::bad_request(format!("the query string is not valid: {}", e.body_text()))
    })
}

/// An execution id from the path.
fn execution_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        ApiError::bad_request(format!(
            "`{}` is not an execution id (a positive integer)",
            crate::telemetry::label(raw)
        ))
    })
}

fn json(status: StatusCode, value: Value) -> Response {
    (status, Json(value)).into_response()
}

/// `GET /api/v1/health`: the process is up.
pub(super) async fn health() -> Response {
    json(
        StatusCode::OK,
        json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }),
    )
}

/// `GET /api/v1/ready`: the repository answers and a worker is free.
pub(super) async fn ready(State(state): State<AppState>) -> Response {
    use crate::repository::TokenStore as _;
    let (busy, workers) = state.runs.load();
    match state.tokens.list_tokens().await {
        Ok(_) => json(
            StatusCode::OK,
            json!({ "status": "ready", "workers": workers, "running": busy }),
        ),
        Err(e) => json(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "unavailable", "error": { "code": "repository_unavailable", "message": format!("the repository does not answer: {e}") } }),
        ),
    }
}

/// `GET /api/v1/openapi.json`.
pub(super) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// `GET /metrics`: Prometheus's text format (admin tokens only).
pub(super) async fn metrics(_admin: Admin) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::render(),
    )
        .into_response()
}

/// `GET /api/v1/whoami`: the tenant the token acts for.
pub(super) async fn whoami(caller: Caller) -> Response {
    json(
        StatusCode::OK,
        json!({ "tenant": caller.tenant, "admin": caller.admin, "token_id": caller.token_id }),
    )
}

/// Anything else: a JSON 404.
pub(super) async fn no_route() -> ApiError {
    ApiError::not_found("no such endpoint; GET /api/v1/openapi.json lists them")
}

/// `GET /api/v1/jobs`: every job of the tenant, with its instances and last execution.
pub(super) async fn jobs(State(state): State<AppState>, caller: Caller) -> ApiResult {
    let repo = state.repo(&caller.tenant).await?;
    let executions = repo.find_executions(&ExecutionFilter::default()).await?;
    let jobs: Vec<Value> = summarize_jobs(&executions)
        .iter()
        .map(|j| j.json())
        .collect();
    Ok(json(StatusCode::OK, json!({ "jobs": jobs })))
}

/// The body of `POST /api/v1/jobs` and `/jobs/validate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobRequest {
    /// The job.yaml text.
    job: String,
    /// The name its diagnostics show (default `job.yaml`).
    #[serde(default)]
    file: Option<String>,
    /// Job parameters: `name` → `value[,type[,identifying]]`.
    #[serde(default)]
    params: BTreeMap<String, String>,
    /// Start a new instance (`run.id` + 1).
    #[serde(default)]
    next: bool,
    /// Restart even though the plugins changed.
    #[serde(default)]
    allow_code_change: bool,
}

impl JobRequest {
    fn input(&self, workdir: std::path::PathBuf) -> Result<JobInput, ApiError> {
        if self.job.len() > MAX_JOB_TEXT {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!(
                    "the job text is {} bytes; at most {MAX_JOB_TEXT} are accepted",
                    self.job.len()
                ),
            ));
        }
        let name = self.file.as_deref().unwrap_or("job.yaml");
        let simple = !name.is_empty()
            && name.len() <= 100
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            && !name.starts_with('.');
        if !simple {
            return Err(ApiError::bad_request(
                "`file` is the job's file name for messages: 1-100 letters, digits, `.`, `_` or `-`, not starting with `.`",
            ));
        }
        // The text is planned as it is; the file name only labels diagnostics (a file of that
        // name in the work directory is never read).
        Ok(JobInput {
            file: std::path::PathBuf::from(format!("(api)/{name}")),
            text: Some(self.job.clone()),
            params: self
                .params
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            workdir: Some(workdir),
            allow_code_change: self.allow_code_change,
            registered_only: true,
        })
    }
}

/// `POST /api/v1/jobs`: plans a submitted job.yaml and launches it (or restarts its failed
/// instance); 202 with the new execution.
pub(super) async fn launch(
    State(state): State<AppState>,
    caller: Caller,
    bytes: Bytes,
) -> ApiResult {
    let (request, repo, mut plan, runtime) = plan_request(&state, &caller, &bytes).await?;
    if request.next {
        JobOperator::new(&repo).next_instance(&mut plan).await?;
    }
    let execution = state
        .runs
        .launch(&caller.tenant, repo, plan, runtime)
        .await?;
    Ok(accepted(&execution))
}

/// A planned submission: the request, the tenant's repository, the plan and its runtime.
type Planned = (
    JobRequest,
    crate::repository::SqlRepository,
    crate::plan::JobPlan,
    crate::plugin::PluginRuntime,
);

/// Parses a job submission and plans it in the caller's tenant and work directory; a job that
/// does not plan is a 422 with every problem.
async fn plan_request(
    state: &AppState,
    caller: &Caller,
    bytes: &Bytes,
) -> Result<Planned, ApiError> {
    let request: JobRequest = body(bytes)?;
    let input = request.input(state.workdir(&caller.tenant)?)?;
    let repo = state.repo(&caller.tenant).await?;
    match state.setup(&caller.tenant).plan(&input, &repo).await? {
        Ok((plan, runtime)) => Ok((request, repo, plan, runtime)),
        Err(problems) => Err(ApiError::invalid_job(&problems)),
    }
}

fn accepted(execution: &crate::domain::JobExecution) -> Response {
    let location = format!("/api/v1/executions/{}", execution.id);
    let mut response = json(
        StatusCode::ACCEPTED,
        json!({ "execution": execution_json(execution), "href": location }),
    );
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// `POST /api/v1/jobs/validate`: every check a launch makes, and nothing else.
pub(super) async fn validate(
    State(state): State<AppState>,
    caller: Caller,
    bytes: Bytes,
) -> ApiResult {
    let (_, _, plan, _) = plan_request(&state, &caller, &bytes).await?;
    let steps: Vec<Value> = plan
        .steps
        .iter()
        .map(|s| json!({ "name": s.name, "kind": s.kind.name() }))
        .collect();
    Ok(json(
        StatusCode::OK,
        json!({ "valid": true, "job": plan.name, "steps": steps }),
    ))
}

/// The query of `GET /api/v1/executions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExecutionsQuery {
    job: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// `GET /api/v1/executions`: newest first, filtered by job and status, paged.
pub(super) async fn executions(
    State(state): State<AppState>,
    caller: Caller,
    q: Result<Query<ExecutionsQuery>, QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let status = match &q.status {
        Some(s) => Some(
            s.parse::<crate::domain::BatchStatus>()
                .map_err(|e| ApiError::bad_request(format!("status: {e}")))?,
        ),
        None => None,
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!("limit must be 1-{MAX_PAGE}")));
    }
    let offset = q.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::bad_request("offset must be 0 or more"));
    }
    let repo = state.repo(&caller.tenant).await?;
    let filter = ExecutionFilter {
        job_name: q.job.clone(),
        status: status.map(|s| s.as_str().to_owned()),
        // One more than asked tells whether there is a next page.
        limit: Some(limit + 1),
        offset: Some(offset),
        ..Default::default()
    };
    let mut found = repo.find_executions(&filter).await?;
    let more = found.len() as i64 > limit;
    found.truncate(limit as usize);
    let mut items = Vec::with_capacity(found.len());
    for e in &found {
        let mut v = execution_json(e);
        v["totals"] = crate::views::totals_json(&repo.step_executions(e.id).await?);
        items.push(v);
    }
    Ok(json(
        StatusCode::OK,
        json!({ "executions": items, "offset": offset, "limit": limit, "next_offset": more.then_some(offset.saturating_add(limit)) }),
    ))
}

/// `GET /api/v1/executions/{id}`: the execution with its steps, counters, exit codes, contexts
/// and plugin digests, and the flow it took.
pub(super) async fn execution(
    State(state): State<AppState>,
    Known { caller, repo, id }: Known,
) -> ApiResult {
    let filter = ExecutionFilter {
        execution_id: Some(id),
        ..Default::default()
    };
    let Some(e) = repo.find_executions(&filter).await?.into_iter().next() else {
        return Err(ApiError::no_execution(id));
    };
    let steps = repo.step_executions(e.id).await?;
    let mut v = execution_json(&e);
    v["steps"] = Value::Array(steps.iter().map(step_json).collect());
    v["flow"] = Value::Array(
        steps
            .iter()
            .map(|s| Value::String(s.step_name.clone()))
            .collect(),
    );
    v["running_here"] = json!(state.runs.stop_flag(&caller.tenant, id).is_some());
    Ok(json(StatusCode::OK, v))
}

/// An execution of the caller's tenant, named by the path's `{id}`: 400 for an id that is not
/// one, 404 when the tenant has no such execution (another tenant's included).
pub(super) struct Known {
    caller: Caller,
    repo: crate::repository::SqlRepository,
    id: i64,
}

impl axum::extract::FromRequestParts<AppState> for Known {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        let id = execution_id(&raw)?;
        let repo = state.repo(&caller.tenant).await?;
        match repo.execution_status(id).await? {
            Some(_) => Ok(Known { caller, repo, id }),
            None => Err(ApiError::no_execution(id)),
        }
    }
}

/// `POST /api/v1/executions/{id}/stop`: asks a running execution to stop after its chunk.
pub(super) async fn stop(
    State(state): State<AppState>,
    Known { caller, repo, id }: Known,
) -> ApiResult {
    JobOperator::new(&repo).stop(id).await?;
    if let Some(flag) = state.runs.stop_flag(&caller.tenant, id) {
        flag.request();
    }
    Ok(json(
        StatusCode::ACCEPTED,
        json!({ "execution_id": id, "status": "STOPPING", "message": "the execution stops after its current chunk; it can be restarted" }),
    ))
}

/// `POST /api/v1/executions/{id}/restart`: restarts a FAILED or STOPPED execution from the job
/// text recorded at its launch.
pub(super) async fn restart(
    State(state): State<AppState>,
    Known { caller, repo, id }: Known,
) -> ApiResult {
    let source = JobOperator::new(&repo).restart_source(id).await?;
    let Some(text) = source.job.text.clone() else {
        return Err(ApiError::conflict(format!(
            "execution {id} has no recorded job text (over 1 MiB); submit the job again with POST /api/v1/jobs"
        )));
    };
    // Only what ran in this tenant's work directory restarts here: an execution launched from
    // the command line elsewhere keeps its own grant, restarted where it ran.
    let workdir = state.workdir(&caller.tenant)?;
    let inside = match (
        std::fs::canonicalize(&source.job.workdir),
        std::fs::canonicalize(&workdir),
    ) {
        (Ok(ran_in), Ok(ours)) => ran_in.starts_with(ours),
        _ => false,
    };
    if !inside {
        return Err(ApiError::conflict(format!(
            "execution {id} ran outside this server's work directory for the tenant; restart it where it ran, with `batch-host --tenant {} restart {id}`",
            caller.tenant
        )));
    }
    let mut input = crate::setup::recorded_input(&source.job, &source.params);
    input.text = Some(text);
    input.registered_only = true;
    let (plan, runtime) = match state.setup(&caller.tenant).plan(&input, &repo).await? {
        Ok(planned) => planned,
        Err(problems) => return Err(ApiError::invalid_job(&problems)),
    };
    let execution = state
        .runs
        .launch(&caller.tenant, repo, plan, runtime)
        .await?;
    Ok(accepted(&execution))
}

/// `POST /api/v1/executions/{id}/abandon`.
pub(super) async fn abandon(Known { repo, id, .. }: Known) -> ApiResult {
    JobOperator::new(&repo).abandon(id).await?;
    Ok(json(
        StatusCode::OK,
        json!({ "execution_id": id, "status": "ABANDONED" }),
    ))
}

/// `POST /api/v1/executions/{id}/recover`: marks FAILED an execution whose process died.
pub(super) async fn recover(
    State(state): State<AppState>,
    Known { caller, repo, id }: Known,
) -> ApiResult {
    if state.runs.stop_flag(&caller.tenant, id).is_some() {
        return Err(ApiError::conflict(format!(
            "execution {id} is running in this server; stop it with POST /api/v1/executions/{id}/stop"
        )));
    }
    JobOperator::new(&repo)
        .recover(id, Duration::from_secs(60))
        .await?;
    Ok(json(
        StatusCode::OK,
        json!({ "execution_id": id, "status": "FAILED", "message": format!("restart it with POST /api/v1/executions/{id}/restart") }),
    ))
}

/// The query of `GET /api/v1/executions/{id}/skipped`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SkippedQuery {
    format: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

/// `GET /api/v1/executions/{id}/skipped`: the dead letters, as a JSON page or (`format=jsonl`) a
/// JSON-lines download of all of them.
pub(super) async fn skipped(
    Known { repo, id, .. }: Known,
    q: Result<Query<SkippedQuery>, QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let items = repo.skipped_items(id).await?;
    match q.format.as_deref() {
        None | Some("json") => {
            let limit = q.limit.unwrap_or(100);
            if !(1..=MAX_PAGE as usize).contains(&limit) {
                return Err(ApiError::bad_request(format!("limit must be 1-{MAX_PAGE}")));
            }
            let offset = q.offset.unwrap_or(0);
            let page: Vec<Value> = items
                .iter()
                .skip(offset)
                .take(limit)
                .map(|(step, item)| skipped_json(id, step, item))
                .collect();
            let end = offset.saturating_add(limit);
            let next = (end < items.len()).then_some(end);
            Ok(json(
                StatusCode::OK,
                json!({ "total": items.len(), "items": page, "offset": offset, "limit": limit, "next_offset": next }),
            ))
        }
        Some("jsonl") => {
            let mut out = String::new();
            for (step, item) in &items {
                out.push_str(&skipped_json(id, step, item).to_string());
                out.push('\n');
            }
            Ok((
                [
                    (header::CONTENT_TYPE, "application/x-ndjson".to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"skipped-{id}.jsonl\""),
                    ),
                ],
                out,
            )
                .into_response())
        }
        Some(_) => Err(ApiError::bad_request("format must be `json` or `jsonl`")),
    }
}

/// `GET /api/v1/executions/{id}/throughput`: each step's counters over time (sampled at chunk
/// commits, about once a second, plus the step's start and, once it ended, its end), for charts.
pub(super) async fn throughput(Known { repo, id, .. }: Known) -> ApiResult {
    let steps = repo.step_executions(id).await?;
    let samples = repo.step_progress(id).await?;
    let out: Vec<Value> = steps
        .iter()
        .map(|s| {
            let mut points = Vec::new();
            if let Some(start) = s.start_time {
                points.push(json!({ "at": start.to_rfc3339(), "commits": 0, "read": 0, "write": 0, "skip": 0 }));
            }
            points.extend(samples.iter().filter(|p| p.step_execution_id == s.id).map(|p| {
                json!({ "at": p.at.to_rfc3339(), "commits": p.commits, "read": p.read, "write": p.write, "skip": p.skip })
            }));
            let last = s.end_time.or(s.last_updated);
            if let Some(at) = last.filter(|_| s.commit_count > 0) {
                points.push(json!({ "at": at.to_rfc3339(), "commits": s.commit_count, "read": s.read_count, "write": s.write_count,
                    "skip": s.read_skip_count + s.process_skip_count + s.write_skip_count }));
            }
            json!({ "step": s.step_name, "step_execution_id": s.id, "status": s.status.as_str(), "points": points })
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        json!({ "execution_id": id, "steps": out }),
    ))
}
