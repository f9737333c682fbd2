//! `setup`: what every front end (the CLI, `batch-host serve`) needs before the engine runs a
//! job — the tenant's host policy, the host files no plugin may reach, a plugin runtime sealed
//! with the artifact key, and a job planned from its file or its text.

use std::path::{Path, PathBuf};

use crate::config::HostPolicy;
use crate::plan::{self, JobPlan, PlanFailure, PlanOptions, Protected};
use crate::plugin::{PluginRuntime, PoolSize, RuntimeOptions};
use crate::repository::{RepositoryError, SqlRepository};
use crate::spec::{Diagnostic, JobSpec};

/// Where the host keeps its state and how it is configured, for one tenant.
#[derive(Debug, Clone)]
pub struct HostSetup {
    /// The repository URL (`sqlite:…` or `postgres://…`).
    pub repository: String,
    /// The tenant.
    pub tenant: String,
    /// The host configuration file, if any.
    pub config: Option<PathBuf>,
}

/// Why a job could not be set up to run.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The host configuration, or something else the caller gave, is wrong.
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
    /// The host cannot do it (the WebAssembly runtime, the artifact key).
    #[error("{0}")]
    Internal(String),
    /// The repository failed.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// What is wrong with a job file: it does not parse, or it does not plan.
#[derive(Debug)]
pub enum Problems {
    /// YAML syntax or structure.
    Spec(Diagnostic),
    /// Every validation problem of the plan.
    Plan(crate::plan::PlanErrors),
}

impl Problems {
    /// Each problem with its file, line, column and field.
    pub fn diagnostics(&self) -> Vec<&Diagnostic> {
        match self {
            Problems::Spec(d) => vec![d],
            Problems::Plan(e) => e.problems.iter().collect(),
        }
    }
}

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problems::Spec(d) => d.fmt(f),
            Problems::Plan(e) => e.fmt(f),
        }
    }
}

/// The job to plan.
#[derive(Debug, Clone, Default)]
pub struct JobInput {
    /// The job file (for a job given as text: the name its diagnostics show).
    pub file: PathBuf,
    /// The job's text instead of reading `file`.
    pub text: Option<String>,
    /// Parameters in Spring Batch's notation, in order.
    pub params: Vec<(String, String)>,
    /// The directory plugins may see (default: the folder of the job file).
    pub workdir: Option<PathBuf>,
    /// Restart a failed instance even though its plugins changed.
    pub allow_code_change: bool,
    /// Refuse plugins given by `path:` (the server's jobs).
    pub registered_only: bool,
}

impl HostSetup {
    /// The host policy for the tenant, or every problem of the host configuration.
    pub fn policy(&self) -> Result<HostPolicy, Vec<Diagnostic>> {
        crate::config::load(self.config.as_deref(), &self.tenant)
    }

    /// [`policy`](Self::policy) as a [`SetupError`].
    pub fn policy_or_error(&self) -> Result<HostPolicy, SetupError> {
        self.policy()
            .map_err(|p| SetupError::Invalid(p.iter().map(|d| d.to_string()).collect()))
    }

    /// The files of the host no plugin may reach: the repository (a SQLite file's whole folder,
    /// which holds every tenant's file and the journal files), the artifact key and the host
    /// configuration.
    pub fn protected(&self, policy: &HostPolicy) -> Vec<Protected> {
        let mut out = Vec::new();
        let url = &self.repository;
        if let Some(file) = crate::repository::sqlite_file(url) {
            out.push(Protected {
                what: format!("the repository `{url}` (every tenant's SQLite file lies in its folder)"),
                path: file,
                folder: true,
                hint: "keep the repository outside the work directory: leave out `--repository` (and BATCH_HOST_REPOSITORY) to use the default in the host's home directory, point it at another folder, or pass `--workdir DIR` for a folder that does not hold it".into(),
            });
        }
        out.push(Protected {
            what: format!(
                "the artifact key `{}` (it seals precompiled plugin code)",
                policy.artifact_key_file.display()
            ),
            path: policy.artifact_key_file.clone(),
            folder: false,
            hint: "set `artifact-key-file` in the host configuration to a path outside every work directory, or move the job".into(),
        });
        if let Some(config) = &self.config {
            out.push(Protected {
                what: format!("the host configuration `{}`", config.display()),
                path: config.clone(),
                folder: false,
                hint: "keep the host configuration outside the work directory".into(),
            });
        }
        out
    }

    /// Parses and plans a job, with a runtime that meters fuel only if the job (or the host's
    /// defaults) sets a fuel budget. The job's own problems come back as data.
    pub async fn plan(
        &self,
        input: &JobInput,
        repo: &SqlRepository,
    ) -> Result<Result<(JobPlan, PluginRuntime), Problems>, SetupError> {
        let policy = self.policy_or_error()?;
        let parsed = match &input.text {
            Some(text) => JobSpec::from_str(text, &input.file),
            None => JobSpec::from_path(&input.file),
        };
        let spec = match parsed {
            Ok(spec) => spec,
            Err(crate::spec::SpecError::Parse(d)) => return Ok(Err(Problems::Spec(d))),
            Err(e) => return Err(SetupError::Invalid(vec![e.to_string()])),
        };
        let runtime = plugin_runtime(
            &policy,
            RuntimeOptions {
                fuel: policy.defaults.fuel_per_item.is_some() || spec.sets_fuel(),
                pool: Some(PoolSize {
                    instances: spec.max_instances(),
                    max_memory: policy.ceilings.memory,
                }),
                artifact_key: None,
            },
        )?;
        let options = PlanOptions {
            params: input.params.clone(),
            workdir: input.workdir.clone(),
            allow_code_change: input.allow_code_change,
            protected: self.protected(&policy),
            shared_repository: repo.backend_name() == "postgres",
            registered_only: input.registered_only,
            policy,
        };
        let catalogue = crate::registry::shared_catalogue(&self.repository, &self.tenant)
            .await
            .map_err(|e| SetupError::Internal(format!("the shared plugin catalogue: {e}")))?;
        let plan = plan::compile_with_catalogue(
            spec,
            &input.file,
            &options,
            repo,
            catalogue.as_ref(),
            &runtime,
        )
        .await;
        match plan {
            Ok(plan) => Ok(Ok((plan, runtime))),
            Err(PlanFailure::Invalid(problems)) => Ok(Err(Problems::Plan(problems))),
            Err(PlanFailure::Repository(e)) => Err(e.into()),
        }
    }
}

/// A plugin runtime sealing precompiled code with the host's artifact key.
pub fn plugin_runtime(
    policy: &HostPolicy,
    options: RuntimeOptions,
) -> Result<PluginRuntime, SetupError> {
    let key = crate::plugin::ArtifactKey::load_or_create(&policy.artifact_key_file)
        .map_err(|e| SetupError::Internal(e.to_string()))?;
    PluginRuntime::with_options(RuntimeOptions {
        artifact_key: Some(key),
        ..options
    })
    .map_err(|e| SetupError::Internal(format!("cannot start the WebAssembly runtime: {e:#}")))
}

/// The job file a recorded execution ran, as a [`JobInput`]: the file as it is now if it is still
/// there, otherwise the text recorded at launch.
pub fn recorded_input(
    source: &crate::repository::JobSource,
    params: &crate::domain::JobParameters,
) -> JobInput {
    let params = params
        .iter()
        .map(|(name, p)| {
            (
                name.to_owned(),
                format!("{},{},{}", p.value, p.kind.java_class(), p.identifying),
            )
        })
        .collect();
    let text = match Path::new(&source.file).is_file() {
        true => None,
        false => source.text.clone(),
    };
    JobInput {
        file: source.file.clone().into(),
        text,
        params,
        workdir: Some(source.workdir.clone().into()),
        allow_code_change: false,
        registered_only: false,
    }
}
