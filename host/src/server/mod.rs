//! `server`: `batch-host serve` — the tenant-scoped HTTP API (`/api/v1`, described by
//! `/api/v1/openapi.json`), the dashboard (`/`), and Prometheus metrics (`/metrics`), on axum.
//!
//! Each request is authenticated by its bearer token (`auth.rs`, `tokens.rs`), acts on its
//! tenant's repository only (another tenant's resources are 404), and runs jobs in the server's
//! bounded pool (`runs.rs`). `api.rs` and `plugins.rs` hold the handlers, `error.rs` the JSON
//! errors, `openapi.json` the API's description, `dashboard/` the embedded web pages.

mod api;
mod auth;
mod dashboard;
mod error;
mod plugins;
mod runs;
pub mod tokens;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tracing::{info, warn};

use crate::repository::{RepositoryError, SqlRepository};
use crate::setup::HostSetup;
pub use error::ApiError;

/// How `batch-host serve` is set up.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// The repository URL; every tenant's repository derives from it.
    pub repository: String,
    /// The host configuration (limits, quotas).
    pub config: Option<PathBuf>,
    /// Each tenant's jobs run in `<work_root>/<tenant>` (created on first use).
    pub work_root: PathBuf,
    /// At most this many executions run at once.
    pub workers: usize,
    /// The largest request body, component uploads aside.
    pub max_body: usize,
    /// The largest component upload.
    pub max_upload: usize,
    /// How long a shutdown waits for running executions to stop after their chunk.
    pub shutdown_grace: Duration,
}

/// What every handler sees.
#[derive(Debug, Clone)]
pub(crate) struct AppState(Arc<Inner>);

/// The server's shared state.
#[derive(Debug)]
pub(crate) struct Inner {
    options: ServeOptions,
    /// The `shared` tenant's repository, which holds the tokens.
    tokens: SqlRepository,
    tenants: tokio::sync::Mutex<HashMap<String, SqlRepository>>,
    runs: runs::Runs,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Inner {
    /// The setup of `tenant` (repository, configuration).
    fn setup(&self, tenant: &str) -> HostSetup {
        HostSetup {
            repository: self.options.repository.clone(),
            tenant: tenant.to_owned(),
            config: self.options.config.clone(),
        }
    }

    /// `tenant`'s repository (connected once, then shared by requests). A tenant other than
    /// `default` must exist: an admin token naming a mistyped tenant gets 404, never a new
    /// empty repository.
    async fn repo(&self, tenant: &str) -> Result<SqlRepository, ApiError> {
        let mut tenants = self.tenants.lock().await;
        if let Some(repo) = tenants.get(tenant) {
            return Ok(repo.clone());
        }
        let url = &self.options.repository;
        let repo = match tenant == crate::config::DEFAULT_TENANT {
            true => SqlRepository::connect_tenant(url, tenant).await?,
            false => SqlRepository::connect_existing_tenant(url, tenant)
                .await?
                .ok_or_else(|| {
                    ApiError::not_found(format!(
                        "tenant `{tenant}` does not exist; an operator creates it with `batch-host --tenant {tenant} tenant create`"
                    ))
                })?,
        };
        tenants.insert(tenant.to_owned(), repo.clone());
        Ok(repo)
    }

    /// The folder `tenant`'s jobs run in (created on first use, private to the server's user).
    fn workdir(&self, tenant: &str) -> Result<PathBuf, ApiError> {
        use std::os::unix::fs::DirBuilderExt as _;
        let dir = self.options.work_root.join(tenant);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| {
                ApiError::internal(format!(
                    "cannot create the work directory `{}`: {e}",
                    dir.display()
                ))
            })?;
        Ok(dir)
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The repository holding the tokens is unreachable.
    #[error("repository `{url}`: {source}")]
    Repository {
        /// The URL.
        url: String,
        /// Why.
        source: RepositoryError,
    },
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Metrics or the work root cannot be set up.
    #[error("{0}")]
    Setup(String),
}

/// A bound server, ready to [`run`](Server::run).
#[derive(Debug)]
pub struct Server {
    state: AppState,
    listener: tokio::net::TcpListener,
}

impl Server {
    /// Connects to the repository, recovers executions a previous server left running, and binds
    /// the address.
    pub async fn bind(mut options: ServeOptions) -> Result<Self, ServeError> {
        crate::telemetry::install().map_err(ServeError::Setup)?;
        std::fs::create_dir_all(&options.work_root)
            .and_then(|()| std::fs::canonicalize(&options.work_root))
            .map(|root| options.work_root = root)
            .map_err(|e| {
                ServeError::Setup(format!(
                    "cannot create the work root `{}`: {e}",
                    options.work_root.display()
                ))
            })?;
        let tokens =
            SqlRepository::connect_tenant(&options.repository, crate::config::SHARED_TENANT)
                .await
                .map_err(|source| ServeError::Repository {
                    url: options.repository.clone(),
                    source,
                })?;
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .map_err(|source| ServeError::Bind {
                addr: options.listen,
                source,
            })?;
        let state = AppState(Arc::new(Inner {
            runs: runs::Runs::new(options.workers),
            options,
            tokens,
            tenants: tokio::sync::Mutex::new(HashMap::new()),
        }));
        state.recover().await;
        Ok(Server { state, listener })
    }

    /// The address the server listens on (the port the OS chose for `:0`).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until `shutdown` completes, then stops every running execution restartably
    /// (after its current chunk, or cut after the grace period) and returns.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) {
        let state = self.state.clone();
        let app = router(self.state.clone());
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            let _ = stopping_tx.send(());
        };
        let serving = axum::serve(self.listener, app).with_graceful_shutdown(signal);
        let stopper = {
            let state = state.clone();
            async move {
                if stopping_rx.await.is_ok() {
                    info!("shutting down: stopping running executions after their current chunk");
                    state.runs.shutdown(state.options.shutdown_grace).await;
                }
            }
        };
        let (served, ()) = tokio::join!(serving, stopper);
        if let Err(e) = served {
            warn!(error = %e, "the HTTP server ended with an error");
        }
        for repo in state.tenants.lock().await.values() {
            repo.close().await;
        }
        state.tokens.close().await;
    }
}

impl AppState {
    /// Marks FAILED what a previous process left running in the tenants that have tokens.
    async fn recover(&self) {
        use crate::repository::TokenStore as _;
        let mut tenants: Vec<String> = match self.tokens.list_tokens().await {
            Ok(list) => list.into_iter().filter_map(|t| t.tenant).collect(),
            Err(e) => {
                warn!(error = %e, "cannot list tokens; skipping recovery");
                return;
            }
        };
        tenants.push(crate::config::DEFAULT_TENANT.to_owned());
        tenants.sort();
        tenants.dedup();
        for tenant in tenants {
            let Ok(repo) = self.repo(&tenant).await else {
                continue;
            };
            let ids = runs::recover_orphans(&repo, Duration::from_secs(60)).await;
            if !ids.is_empty() {
                warn!(tenant = %tenant, executions = ?ids, "marked FAILED the executions a previous process left running; restart them with POST /api/v1/executions/{{id}}/restart");
            }
        }
    }
}

/// Every route.
fn router(state: AppState) -> Router {
    let max_body = state.options.max_body;
    let max_upload = state.options.max_upload;
    let api = Router::new()
        .route("/health", get(api::health))
        .route("/ready", get(api::ready))
        .route("/openapi.json", get(api::openapi))
        .route("/whoami", get(api::whoami))
        .route(
            "/plugins",
            get(plugins::list)
                .post(plugins::upload)
                .layer(DefaultBodyLimit::max(max_upload)),
        )
        .route(
            "/plugins/{name}",
            get(plugins::inspect).delete(plugins::remove),
        )
        .route("/jobs", get(api::jobs).post(api::launch))
        .route("/jobs/validate", post(api::validate))
        .route("/executions", get(api::executions))
        .route("/executions/{id}", get(api::execution))
        .route("/executions/{id}/stop", post(api::stop))
        .route("/executions/{id}/restart", post(api::restart))
        .route("/executions/{id}/abandon", post(api::abandon))
        .route("/executions/{id}/recover", post(api::recover))
        .route("/executions/{id}/skipped", get(api::skipped))
        .route("/executions/{id}/throughput", get(api::throughput))
        .fallback(api::no_route);
    Router::new()
        .nest("/api/v1", api)
        .route("/metrics", get(api::metrics))
        .merge(dashboard::routes())
        .fallback(api::no_route)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            refuse_oversized,
        ))
        .with_state(state)
}

/// Answers 413 at once to a request whose Content-Length is over its route's limit, before any
/// of the body is read (bodies without a length are cut by `DefaultBodyLimit` as they arrive).
async fn refuse_oversized(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let upload =
        request.method() == axum::http::Method::POST && request.uri().path() == "/api/v1/plugins";
    let limit = match upload {
        true => state.options.max_upload,
        false => state.options.max_body,
    };
    let length = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = length.filter(|n| *n > limit as u64) {
        let what = if upload {
            "component upload"
        } else {
            "request body"
        };
        return ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the {what} is {n} bytes; this server accepts at most {limit} (`batch-host serve --max-{}`)", if upload { "upload" } else { "body" }),
        )
        .into_response();
    }
    next.run(request).await
}
