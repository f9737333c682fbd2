//! `cli`: the command line — one struct per command (clap derive). Only this module prints.
//!
//! Every command returns `Result<u8, CliError>`: the exit code of a command that did its work
//! (`OK`, or `JOB_FAILED` / `STOPPED` for a job that ran), or a [`CliError`] that
//! [`Cli::execute`] prints, one `error: ` line per line, and maps to its documented exit code.

mod build;
mod ops;
mod output;
mod plugin;
mod run;
mod scaffold;
mod serve;
mod skipped;
mod toolkit;
mod worker;

use std::process::ExitCode;

use std::os::unix::fs::DirBuilderExt as _;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::repository::{RepositoryError, SqlRepository};

/// Exit codes scripts can branch on (documented in docs/cli.md).
pub mod exit {
    /// The job COMPLETED (or had nothing left to do); the command succeeded.
    pub const OK: u8 = 0;
    /// The job ran and FAILED; restart it with the same command.
    pub const JOB_FAILED: u8 = 1;
    /// Invalid input: command line, job.yaml, parameters or plugin file. Nothing was run.
    pub const INVALID_INPUT: u8 = 2;
    /// The launch was refused: the job is already running or already completed.
    pub const REFUSED: u8 = 3;
    /// The repository or the host failed (database unreachable, disk full, …).
    pub const INTERNAL: u8 = 4;
    /// The job STOPPED on request (Ctrl-C, SIGTERM, `batch-host stop`); restartable.
    pub const STOPPED: u8 = 5;
}

/// A command that could not do its work: what to tell the user and the exit code scripts see.
#[derive(Debug)]
pub(crate) struct CliError {
    code: u8,
    /// Each is printed after `error: ` (and may span lines, such as a problem and its hint).
    pub(crate) errors: Vec<String>,
}

impl CliError {
    /// An error with an explicit exit code.
    pub(crate) fn new(code: u8, message: impl std::fmt::Display) -> Self {
        CliError {
            code,
            errors: vec![message.to_string()],
        }
    }

    /// Several errors with one exit code (every problem of a host configuration).
    pub(crate) fn all(code: u8, errors: Vec<String>) -> Self {
        CliError { code, errors }
    }

    /// Bad input: command line, job.yaml, parameters, plugin file (`INVALID_INPUT`).
    pub(crate) fn invalid(message: impl std::fmt::Display) -> Self {
        Self::new(exit::INVALID_INPUT, message)
    }

    /// Refused because of the state of things (`REFUSED`).
    pub(crate) fn refused(message: impl std::fmt::Display) -> Self {
        Self::new(exit::REFUSED, message)
    }

    /// The repository or the host failed (`INTERNAL`).
    pub(crate) fn internal(message: impl std::fmt::Display) -> Self {
        Self::new(exit::INTERNAL, message)
    }

    /// Prints each error after `error: ` and returns the exit code.
    fn report(&self) -> u8 {
        for e in &self.errors {
            output::notice_error(e.trim_end());
        }
        self.code
    }
}

impl From<RepositoryError> for CliError {
    fn from(e: RepositoryError) -> Self {
        CliError::internal(e)
    }
}

impl From<crate::engine::OperatorError> for CliError {
    fn from(e: crate::engine::OperatorError) -> Self {
        use crate::engine::OperatorError;
        match e {
            OperatorError::Repository(e) => e.into(),
            e if e.is_not_found() => CliError::invalid(e),
            e => CliError::refused(e),
        }
    }
}

/// What a command returns.
pub(crate) type CliResult = Result<u8, CliError>;

/// batch-host runs Spring-Batch-style jobs whose steps are WebAssembly components.
#[derive(Debug, Parser)]
#[command(
    name = "batch-host",
    version,
    about,
    long_about = None,
    after_help = "Exit codes (for scripts):\n  0  the job COMPLETED (or had nothing left to do); the command succeeded\n  1  the job ran and FAILED; run the same command to restart it\n  2  invalid input (command line, job.yaml, parameters, plugin file); nothing ran\n  3  refused (already running, already complete, quota, changed code)\n  4  the repository or the host failed\n  5  the job STOPPED on request; run the same command to restart it"
)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
struct GlobalArgs {
    /// The job repository: `sqlite:PATH` (created if missing) or `postgres://USER@HOST/DB`.
    /// Default: `sqlite:` + `batch-host.db` in the host's home directory (`BATCH_HOST_HOME`, else
    /// `~/.local/share/batch-host`), outside every work directory plugins can see.
    #[arg(long, global = true, env = "BATCH_HOST_REPOSITORY", value_name = "URL")]
    repository: Option<String>,
    /// The tenant: its plugins, jobs, executions and dead letters are invisible to every other
    /// tenant (a separate SQLite file or PostgreSQL schema; see docs/security.md).
    #[arg(
        long,
        global = true,
        env = "BATCH_HOST_TENANT",
        default_value = crate::config::DEFAULT_TENANT,
        value_name = "NAME"
    )]
    tenant: String,
    /// The host configuration: sandbox defaults and ceilings, tenant quotas (docs/security.md).
    #[arg(long, global = true, env = "BATCH_HOST_CONFIG", value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// More log output (-v: info, -vv: debug, -vvv: trace). `BATCH_HOST_LOG` takes a full filter.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Export the job, step and chunk spans to this OpenTelemetry collector (OTLP over HTTP,
    /// such as http://127.0.0.1:4318); off when not given. `OTEL_EXPORTER_OTLP_PROTOCOL`:
    /// http/protobuf (default) or http/json.
    #[arg(
        long,
        global = true,
        env = "OTEL_EXPORTER_OTLP_ENDPOINT",
        value_name = "URL"
    )]
    otlp_endpoint: Option<String>,
}

/// How logs are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a job (or restart its failed instance) from a job.yaml.
    Run(run::RunCommand),
    /// Restart a FAILED or STOPPED execution from what the repository recorded (no job.yaml
    /// path needed).
    Restart(run::RestartCommand),
    /// Check a job.yaml and its plugins without running anything.
    Validate(run::ValidateCommand),
    /// List the jobs in the repository with their instances and last execution.
    Jobs(ops::JobsCommand),
    /// List job executions, newest first.
    Executions(ops::ExecutionsCommand),
    /// Show one job execution: steps, counters, exit codes, contexts, durations.
    Execution(ops::ExecutionCommand),
    /// Ask a running execution (in any process) to stop after its current chunk.
    Stop(ops::StopCommand),
    /// Mark an execution whose process died (no heartbeat) FAILED, so it can be restarted.
    Recover(ops::RecoverCommand),
    /// Mark a FAILED or STOPPED execution ABANDONED: its instance is never restarted.
    Abandon(ops::AbandonCommand),
    /// List the items a job execution skipped (the dead-letter table).
    Skipped(skipped::SkippedCommand),
    /// Manage the plugin registry.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Manage tenants: `tenant create` makes `--tenant`'s repository.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Print a shell completion script: `batch-host completions bash >
    /// ~/.local/share/bash-completion/completions/batch-host`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `batch-host man | man -l -`.
    Man,
    /// Serve the HTTP API, the dashboard and Prometheus metrics (docs/server.md).
    Serve(serve::ServeCommand),
    /// Manage the bearer tokens of `batch-host serve`.
    #[command(subcommand)]
    Token(serve::TokenCommand),
    /// Run partitions of `workers: remote` steps that `batch-host run` offers through the
    /// shared PostgreSQL repository.
    Worker(worker::WorkerCommand),
}

impl Cli {
    /// Sets up logging and runs the command; returns the process exit code.
    pub fn execute(self) -> ExitCode {
        output::set_json_logs(self.global.log_format == LogFormat::Json);
        let exporter = match init_tracing(
            self.global.log_format,
            self.global.verbose,
            self.global.otlp_endpoint.as_deref(),
        ) {
            Ok(exporter) => exporter,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(exit::INVALID_INPUT);
            }
        };
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("error: cannot start the async runtime: {e}");
                return ExitCode::from(exit::INTERNAL);
            }
        };
        // Every command reads the host configuration it is given, so a wrong `--config` is an
        // error everywhere, not only where the configuration's limits are used.
        if self.global.config.is_some()
            && let Err(e) = host_policy(&self.global)
        {
            return ExitCode::from(e.report());
        }
        let result = runtime.block_on(async {
            match self.command {
                Command::Run(cmd) => cmd.execute(&self.global).await,
                Command::Validate(cmd) => cmd.execute(&self.global).await,
                Command::Restart(cmd) => cmd.execute(&self.global).await,
                Command::Plugin(cmd) => cmd.execute(&self.global).await,
                Command::Skipped(cmd) => cmd.execute(&self.global).await,
                Command::Jobs(cmd) => cmd.execute(&self.global).await,
                Command::Stop(cmd) => cmd.execute(&self.global).await,
                Command::Abandon(cmd) => cmd.execute(&self.global).await,
                Command::Recover(cmd) => cmd.execute(&self.global).await,
                Command::Executions(cmd) => cmd.execute(&self.global).await,
                Command::Execution(cmd) => cmd.execute(&self.global).await,
                Command::Worker(cmd) => cmd.execute(&self.global).await,
                Command::Tenant(cmd) => cmd.execute(&self.global).await,
                Command::Serve(cmd) => cmd.execute(&self.global).await,
                Command::Token(cmd) => cmd.execute(&self.global).await,
                Command::Completions { shell } => {
                    use clap::CommandFactory as _;
                    let mut cmd = Cli::command();
                    clap_complete::generate(shell, &mut cmd, "batch-host", &mut std::io::stdout());
                    Ok(exit::OK)
                }
                Command::Man => {
                    use clap::CommandFactory as _;
                    clap_mangen::Man::new(Cli::command())
                        .render(&mut std::io::stdout())
                        .map(|()| exit::OK)
                        .map_err(|e| {
                            CliError::internal(format!("cannot write the manual page: {e}"))
                        })
                }
            }
        });
        let code = result.unwrap_or_else(|e| e.report());
        // The runtime goes first: the exporter's HTTP client must not be dropped inside it.
        drop(runtime);
        if let Some(exporter) = exporter {
            exporter.shutdown();
        }
        ExitCode::from(code)
    }
}

impl GlobalArgs {
    /// The repository URL: `--repository`, or the default in the host's home directory.
    fn repository(&self) -> String {
        self.repository
            .clone()
            .unwrap_or_else(crate::config::default_repository)
    }

    /// The repository, tenant and host configuration, for the code the CLI shares with the
    /// server.
    pub(crate) fn setup(&self) -> crate::setup::HostSetup {
        crate::setup::HostSetup {
            repository: self.repository(),
            tenant: self.tenant.clone(),
            config: self.config.clone(),
        }
    }
}

impl From<crate::setup::SetupError> for CliError {
    fn from(e: crate::setup::SetupError) -> Self {
        use crate::setup::SetupError;
        match e {
            SetupError::Invalid(errors) => CliError::all(exit::INVALID_INPUT, errors),
            SetupError::Internal(e) => CliError::internal(e),
            SetupError::Repository(e) => e.into(),
        }
    }
}

/// A plugin runtime sealing precompiled code with the host's artifact key.
fn plugin_runtime(
    policy: &crate::config::HostPolicy,
    options: crate::plugin::RuntimeOptions,
) -> Result<crate::plugin::PluginRuntime, CliError> {
    Ok(crate::setup::plugin_runtime(policy, options)?)
}

/// The host policy for the tenant, or prints why it cannot be read.
fn host_policy(global: &GlobalArgs) -> Result<crate::config::HostPolicy, CliError> {
    Ok(global.setup().policy_or_error()?)
}

/// Connects to the tenant's repository or prints why not.
async fn connect(global: &GlobalArgs) -> Result<SqlRepository, CliError> {
    if !crate::config::valid_tenant(&global.tenant) {
        return Err(CliError::invalid(format!(
            "`{}` is not a valid tenant name; use 1-40 of a-z, 0-9 and `-`, starting with a letter",
            global.tenant
        )));
    }
    let url = global.repository();
    if global.repository.is_none() {
        // The default repository's folder is the host's own: made private on first use.
        let home = crate::config::home();
        if let Err(e) = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&home)
        {
            return Err(CliError::internal(format!(
                "cannot create the host's home directory `{}`: {e}; set BATCH_HOST_HOME or pass --repository",
                home.display()
            )));
        }
    }
    let failed = |e: RepositoryError| {
        let code = match e {
            RepositoryError::BadUrl(_) | RepositoryError::Unavailable(_) => exit::INVALID_INPUT,
            _ => exit::INTERNAL,
        };
        CliError::new(code, format!("repository `{url}`: {e}"))
    };
    // A tenant other than `default` (and the operator's `shared`) must exist: a typo in
    // `--tenant` must not start an empty repository.
    let implicit = global.tenant == crate::config::DEFAULT_TENANT
        || global.tenant == crate::config::SHARED_TENANT
        || host_policy(global).is_ok_and(|p| p.declared);
    if implicit {
        return SqlRepository::connect_tenant(&url, &global.tenant)
            .await
            .map_err(failed);
    }
    match SqlRepository::connect_existing_tenant(&url, &global.tenant).await {
        Ok(Some(repo)) => Ok(repo),
        Ok(None) => Err(CliError::invalid(format!(
            "tenant `{0}` does not exist in repository `{url}`; create it with `batch-host --tenant {0} tenant create` (or list it under `tenants:` in the host configuration), or check the spelling of --tenant",
            global.tenant
        ))),
        Err(e) => Err(failed(e)),
    }
}

/// `batch-host tenant …`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum TenantCommand {
    /// Create the repository of `--tenant` (a SQLite file next to the default one, or a
    /// PostgreSQL schema), so commands can use it. Every other command refuses a tenant that does
    /// not exist.
    Create,
}

impl TenantCommand {
    async fn execute(self, global: &GlobalArgs) -> CliResult {
        match self {
            TenantCommand::Create => {
                if !crate::config::valid_tenant(&global.tenant) {
                    return Err(CliError::invalid(format!(
                        "`{}` is not a valid tenant name; use 1-40 of a-z, 0-9 and `-`, starting with a letter",
                        global.tenant
                    )));
                }
                let existed =
                    SqlRepository::connect_existing_tenant(&global.repository(), &global.tenant)
                        .await
                        .ok()
                        .flatten()
                        .is_some();
                create_tenant(global).await?.close().await;
                println!(
                    "tenant `{}` {} in repository `{}`",
                    global.tenant,
                    if existed { "already exists" } else { "created" },
                    global.repository()
                );
                Ok(exit::OK)
            }
        }
    }
}

/// Connects to the tenant's repository, creating it when it does not exist yet (`tenant
/// create`).
async fn create_tenant(global: &GlobalArgs) -> Result<SqlRepository, CliError> {
    let url = global.repository();
    SqlRepository::connect_tenant(&url, &global.tenant)
        .await
        .map_err(|e| CliError::new(exit::INTERNAL, format!("repository `{url}`: {e}")))
}

/// Logs on stderr (filtered by `-v` / `BATCH_HOST_LOG`) and, with an OTLP endpoint, the job,
/// step and chunk spans to the collector; returns the exporter to shut down at the end.
fn init_tracing(
    format: LogFormat,
    verbose: u8,
    otlp: Option<&str>,
) -> Result<Option<crate::traces::Exporter>, String> {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::prelude::*;
    let default = match verbose {
        0 => "warn",
        1 => "warn,batch_host=info,batch.plugin=info",
        2 => "info,batch_host=debug,batch.plugin=debug",
        _ => "debug,batch_host=trace,batch.plugin=trace",
    };
    // Progress notices (JSON logs only) show at every verbosity, as the text ones do.
    let default = match format {
        LogFormat::Json => format!("{default},batch.progress=info"),
        LogFormat::Text => default.to_owned(),
    };
    let filter =
        EnvFilter::try_from_env("BATCH_HOST_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    use std::io::IsTerminal as _;
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = match format {
        LogFormat::Text => fmt
            .with_ansi(std::io::stderr().is_terminal())
            .with_filter(filter)
            .boxed(),
        LogFormat::Json => fmt.json().flatten_event(true).with_filter(filter).boxed(),
    };
    let (exporter, spans) = match otlp {
        Some(endpoint) => {
            let (exporter, layer) = crate::traces::exporter(endpoint)?;
            (Some(exporter), Some(layer))
        }
        None => (None, None),
    };
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(spans)
        .try_init();
    Ok(exporter)
}
