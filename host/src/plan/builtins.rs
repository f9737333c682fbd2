//! `plan` → built-ins: the readers and writers the host provides (`skipped-items`,
//! `sql-table`), checked like components.

use serde_json::Value;

use super::diagnostics::Collector;
use super::{ReaderPlan, SkippedItemsConfig, WriterPlan, valid_name};
use crate::spec::{PluginRef, Spanned, location};

pub(super) fn plan_builtin_reader(
    r: &Spanned<PluginRef>,
    builtin: &Spanned<String>,
    field: &str,
    c: &mut Collector<'_>,
) -> Option<ReaderPlan> {
    if r.value.plugin.is_some() || r.value.path.is_some() {
        c.push(
            location(r),
            field.to_owned(),
            "give exactly one of `plugin`, `path` or `builtin`".into(),
            None,
        );
        return None;
    }
    if builtin.value != "skipped-items" {
        c.push(
            location(builtin),
            format!("{field}.builtin"),
            format!("unknown built-in reader `{}`", builtin.value),
            Some("the built-in readers are: skipped-items".into()),
        );
        return None;
    }
    let config = r
        .value
        .config
        .clone()
        .unwrap_or(Value::Object(Default::default()));
    match serde_json::from_value::<SkippedItemsConfig>(config) {
        Ok(cfg)
            if cfg
                .phase
                .as_deref()
                .is_some_and(|p| !matches!(p, "process" | "write")) =>
        {
            c.push(
                location(r),
                format!("{field}.config.phase"),
                "phase must be `process` or `write`".into(),
                Some("read skips carry no item to reprocess".into()),
            );
            None
        }
        Ok(cfg) => Some(ReaderPlan::SkippedItems(cfg)),
        Err(e) => {
            c.push(
                location(r),
                format!("{field}.config"),
                format!("invalid skipped-items config: {e}"),
                Some("write `config: { execution: 12, step: migrate, phase: process }` (step and phase optional)".into()),
            );
            None
        }
    }
}

pub(super) fn plan_builtin_writer(
    w: &Spanned<PluginRef>,
    builtin: &Spanned<String>,
    field: &str,
    c: &mut Collector<'_>,
) -> Option<WriterPlan> {
    if w.value.plugin.is_some() || w.value.path.is_some() {
        c.push(
            location(w),
            field.to_owned(),
            "give exactly one of `plugin`, `path` or `builtin`".into(),
            None,
        );
        return None;
    }
    if builtin.value != "sql-table" {
        c.push(
            location(builtin),
            format!("{field}.builtin"),
            format!("unknown built-in writer `{}`", builtin.value),
            Some("the built-in writers are: sql-table".into()),
        );
        return None;
    }
    let table = w
        .value
        .config
        .as_ref()
        .and_then(|c| c.get("table"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    match table {
        Some(t) if valid_name(&t) => Some(WriterPlan::SqlTable { table: t }),
        _ => {
            c.push(
                location(w),
                format!("{field}.config.table"),
                "the sql-table writer needs `config: { table: NAME }`".into(),
                Some("use 1-100 letters, digits, `.`, `_` or `-`".into()),
            );
            None
        }
    }
}
