//! `cli` → `serve` and `token`: starts the HTTP server, and creates, lists and revokes the
//! bearer tokens it accepts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::{CliError, CliResult, GlobalArgs, connect, exit};
use crate::repository::{SqlRepository, TokenStore};
use crate::server::{ServeOptions, Server};

/// `batch-host serve`.
#[derive(Debug, Args)]
pub(super) struct ServeCommand {
    /// The address to listen on (`127.0.0.1:0` picks a free port and prints it).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// Each tenant's jobs run in DIR/<tenant> (default: `serve-work` in the host's home
    /// directory); put a tenant's input files there.
    #[arg(long, value_name = "DIR")]
    work_root: Option<PathBuf>,
    /// At most this many executions run at once; a launch beyond is refused with 503.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// The largest request body (job submissions and the rest).
    #[arg(long, default_value = "1MiB", value_parser = parse_bytes)]
    max_body: usize,
    /// The largest component upload.
    #[arg(long, default_value = "256MiB", value_parser = parse_bytes)]
    max_upload: usize,
    /// On SIGTERM or Ctrl-C, how long running executions get to stop after their current chunk
    /// before their plugin calls are cut (they stay restartable either way).
    #[arg(long, default_value = "30s", value_parser = parse_grace)]
    shutdown_grace: Duration,
}

fn parse_bytes(s: &str) -> Result<usize, String> {
    crate::spec::parse_size(s).ok_or_else(|| format!("`{s}` is not a size like 1MiB or 512KiB"))
}

fn parse_grace(s: &str) -> Result<Duration, String> {
    crate::spec::parse_duration(s).ok_or_else(|| format!("`{s}` is not a duration like 30s or 2m"))
}

impl ServeCommand {
    pub(super) async fn execute(self, global: &GlobalArgs) -> CliResult {
        // The host configuration must be valid before anything listens.
        super::host_policy(global)?;
        let options = ServeOptions {
            listen: self.listen,
            repository: global.repository(),
            config: global.config.clone(),
            work_root: self
                .work_root
                .unwrap_or_else(|| crate::config::home().join("serve-work")),
            workers: self.workers,
            max_body: self.max_body,
            max_upload: self.max_upload,
            shutdown_grace: self.shutdown_grace,
        };
        let server = Server::bind(options.clone())
            .await
            .map_err(|e| CliError::new(exit::INVALID_INPUT, e))?;
        let addr = server.local_addr().unwrap_or(options.listen);
        // Written with errors ignored: a closed stdout (a supervisor that read the address and
        // went away) must not bring the server down.
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "batch-host {} serving on http://{addr}",
            env!("CARGO_PKG_VERSION")
        );
        let _ = writeln!(out, "  dashboard  http://{addr}/");
        let _ = writeln!(
            out,
            "  API        http://{addr}/api/v1 (described at /api/v1/openapi.json)"
        );
        let _ = writeln!(out, "  metrics    http://{addr}/metrics (admin token)");
        let _ = writeln!(out, "  work root  {}", options.work_root.display());
        let _ = out.flush();
        drop(out);
        server.run(shutdown_signal()).await;
        super::output::notice(
            "server stopped; running executions were stopped and can be restarted",
        );
        Ok(exit::OK)
    }
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => std::future::pending::<()>().await,
    }
}

/// `batch-host token …`.
#[derive(Debug, Subcommand)]
pub(super) enum TokenCommand {
    /// Create a bearer token for `--tenant` (or, with `--admin`, for every tenant and
    /// `/metrics`). The token is printed once; only its hash is stored.
    Create(CreateToken),
    /// List tokens (ids, tenants, names, dates; never the secrets).
    List {
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id (the 16 hex digits after `bh_`).
    Revoke {
        /// The token id.
        #[arg(value_name = "TOKEN_ID")]
        id: String,
    },
}

/// `batch-host token create`.
#[derive(Debug, Args)]
pub(super) struct CreateToken {
    /// What the token is for (shown by `token list`).
    #[arg(long, default_value = "token")]
    name: String,
    /// An admin token: any tenant (with the X-Batch-Tenant header) and `/metrics`.
    #[arg(long)]
    admin: bool,
    /// Print `{"id", "tenant", "token"}` as JSON.
    #[arg(long)]
    json: bool,
}

/// The repository that holds the tokens: the `shared` tenant's.
async fn token_store(global: &GlobalArgs) -> Result<SqlRepository, CliError> {
    let url = global.repository();
    SqlRepository::connect_tenant(&url, crate::config::SHARED_TENANT)
        .await
        .map_err(|e| CliError::internal(format!("repository `{url}`: {e}")))
}

impl TokenCommand {
    pub(super) async fn execute(self, global: &GlobalArgs) -> CliResult {
        match self {
            TokenCommand::Create(c) => {
                if c.name.is_empty() || c.name.len() > 100 || c.name.chars().any(char::is_control) {
                    return Err(CliError::invalid(
                        "--name must be 1-100 printable characters",
                    ));
                }
                let tenant = match c.admin {
                    true => None,
                    false => {
                        // The tenant must exist (or be declared), as for every other command.
                        connect(global).await?.close().await;
                        Some(global.tenant.as_str())
                    }
                };
                let (record, token, hash) =
                    crate::server::tokens::generate(tenant, &c.name).map_err(CliError::internal)?;
                let store = token_store(global).await?;
                let added = store.add_token(&record, &hash).await;
                store.close().await;
                added?;
                if c.json {
                    println!(
                        "{}",
                        serde_json::json!({ "id": record.id, "tenant": record.tenant, "admin": c.admin, "token": token })
                    );
                } else {
                    let whom = match &record.tenant {
                        Some(t) => format!("tenant `{t}`"),
                        None => "admin (every tenant, /metrics)".to_owned(),
                    };
                    println!("{token}");
                    eprintln!(
                        "token {} for {whom}; it is shown only now (the repository keeps its hash); revoke it with `batch-host token revoke {}`",
                        record.id, record.id
                    );
                }
                Ok(exit::OK)
            }
            TokenCommand::List { json } => {
                let store = token_store(global).await?;
                let tokens = store.list_tokens().await;
                store.close().await;
                let tokens = tokens?;
                if json {
                    for t in &tokens {
                        println!(
                            "{}",
                            serde_json::json!({ "id": t.id, "tenant": t.tenant, "admin": t.tenant.is_none(), "name": t.name, "created_at": t.created_at.to_rfc3339(), "revoked_at": t.revoked_at.map(|r| r.to_rfc3339()) })
                        );
                    }
                    return Ok(exit::OK);
                }
                if tokens.is_empty() {
                    println!("no tokens; create one with `batch-host --tenant NAME token create`");
                    return Ok(exit::OK);
                }
                let mut t = super::output::table(
                    &["ID", "TENANT", "NAME", "CREATED", "REVOKED"],
                    &[],
                    &[2],
                );
                for tok in &tokens {
                    t.add_row(vec![
                        tok.id.clone(),
                        tok.tenant.clone().unwrap_or_else(|| "(admin)".into()),
                        crate::domain::neutralise(&tok.name, crate::domain::GuestField::LogLine),
                        tok.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                        tok.revoked_at
                            .map(|r| r.format("%Y-%m-%d %H:%M:%S").to_string())
                            .unwrap_or_else(|| "-".into()),
                    ]);
                }
                super::output::print_table(&t);
                Ok(exit::OK)
            }
            TokenCommand::Revoke { id } => {
                let store = token_store(global).await?;
                let revoked = store.revoke_token(&id).await;
                store.close().await;
                match revoked? {
                    true => {
                        println!("token {id} revoked; requests carrying it now get 401");
                        Ok(exit::OK)
                    }
                    false => Err(CliError::invalid(format!(
                        "no live token `{}`; `batch-host token list` shows them",
                        crate::domain::neutralise(&id, crate::domain::GuestField::LogLine)
                    ))),
                }
            }
        }
    }
}
