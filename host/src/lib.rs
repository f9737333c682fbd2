//! # batch-host
//!
//! Runs Spring-Batch-style jobs whose readers, processors, writers, tasklets and deciders are
//! WebAssembly components. The data flow, one module per arrow (each imports only those below):
//!
//! ```text
//! job.yaml ─ spec (parse, line:col errors; units)
//!          ─ plan (validate all, report all problems at once; resolve plugins in the registry,
//!                  compile + pre-link them)
//!          ─ engine::JobOperator (start, next instance, restart, stop, abandon, recover)
//!          ─ engine launcher (JobInstance / JobExecution, restart rules, heartbeat)
//!          ─ engine flow (transitions on exit codes, deciders, concurrent splits)
//!          ─ engine step (skip COMPLETED steps, start limit, restart context)
//!          ─ engine chunk loop (simple or fault tolerant) or tasklet loop
//!          ─ engine plugins (setup, grant, sandbox, role wrappers)
//!          ─ plugin (wasmtime; only `plugin` touches it)
//!          ─ repository (counters + ExecutionContext in one transaction; only `repository`
//!            touches SQL)
//! ```
//!
//! `domain` holds Spring Batch's model (`JobInstance`, `JobExecution`, `StepExecution`,
//! `ExecutionContext`, `BatchStatus`, `ExitStatus`, the plugin `Role`) and imports none of
//! wasmtime, SQL or YAML; `policy` decides skip/retry/no-rollback over error kinds; `config`
//! reads the host configuration (sandbox defaults, ceilings, quotas); `registry` is the plugin
//! catalogue; `setup` is what the CLI and the server share before a run (policy, runtime,
//! planning); `views` the JSON shapes both print; `telemetry` the Prometheus metrics; `server`
//! is `batch-host serve` (the HTTP API and the dashboard); `cli` is the command line and the only
//! module that prints; `fuzzing` holds the properties the fuzz targets in `fuzz/` check.
//!
//! To embed the host, start with the re-exports below: parse a [`JobSpec`], [`compile`] it into
//! a [`JobPlan`] against a [`SqlRepository`], and [`JobOperator::start`] it.

#![deny(unsafe_code)]

pub mod cli;
pub mod config;
pub mod domain;
pub mod engine;
pub mod fuzzing;
pub mod plan;
pub mod plugin;
pub mod policy;
pub mod registry;
pub mod repository;
pub mod server;
pub mod setup;
pub mod spec;
pub mod telemetry;
pub mod traces;
pub mod views;

pub use engine::{JobOperator, JobReport, LaunchError, OperatorError, RunListener, StopFlag};
pub use plan::{JobPlan, PlanFailure, PlanOptions, compile};
pub use plugin::PluginRuntime;
pub use registry::Catalogue;
pub use repository::{JobExplorer, JobRepository, PluginStore, SqlRepository};
pub use spec::JobSpec;
