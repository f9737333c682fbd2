//! Integration tests: the real `batch-host` binary, real components built from `plugins/` and
//! `tests/guests/` (by `make plugins`), and the real repository on SQLite and, when
//! `BATCH_HOST_TEST_PG` names a reachable server, PostgreSQL.

#![allow(
    unreachable_pub,
    reason = "test helpers are shared between test modules"
)]

mod support;

mod builtins;
mod cli;
mod concurrency;
mod conformance;
mod crash;
mod dashboard;
mod fault_tolerance;
mod flows;
mod jobs;
mod operator;
mod partition;
mod polyglot;
mod registry;
mod remote;
mod repository_errors;
mod restart;
mod sandbox;
mod scaffold;
mod security;
mod server;
mod stop;
mod tenants;
mod traces;
mod ui;
