//! # batch-host
//!
//! Runs Spring-Batch-style jobs whose readers, processors and writers are WebAssembly
//! components. The data flow, one module per arrow:
//!
//! ```text
//! job.yaml ─ spec (parse, line:col errors) ─ plan (validate all, compile + pre-link plugins)
//!          ─ engine::launch (JobInstance / JobExecution, restart rules)
//!          ─ engine flow runner (transitions on exit codes, deciders, concurrent splits)
//!          ─ engine step runner (skip COMPLETED steps, open plugins with the last committed context)
//!          ─ engine chunk loop (read ≤ N → process → write) or tasklet loop
//!          ─ plugin calls (wasmtime; only `plugin` touches it)
//!          ─ repository commit (counters + ExecutionContext in one transaction; only
//!            `repository` touches SQL)
//! ```
//!
//! `domain` holds Spring Batch's model (`JobInstance`, `JobExecution`, `StepExecution`,
//! `ExecutionContext`, `BatchStatus`, `ExitStatus`) and imports none of wasmtime, SQL or YAML.

#![deny(unsafe_code)]

pub mod cli;
pub mod config;
pub mod domain;
pub mod engine;
pub mod plan;
pub mod plugin;
pub mod policy;
pub mod registry;
pub mod repository;
pub mod spec;
