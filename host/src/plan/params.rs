//! `plan` → params: the job parameters (job.yaml `params` under `--param`), and the `${…}`
//! placeholders of every plugin config checked against them.

use std::collections::HashSet;

use serde_json::Value;

use super::PlanOptions;
use super::diagnostics::Collector;
use crate::domain::{JobParameter, JobParameters};
use crate::spec::{JobSpec, PluginRef, Spanned, location};

/// Checks every `${…}` in the plugin configs: syntax, parameters that exist (or have a
/// default), job-context keys some step promotes (or with a default), and partition keys in
/// partitions' worker steps only.
pub(super) fn check_placeholders(spec: &JobSpec, params: &JobParameters, c: &mut Collector<'_>) {
    use crate::domain::{PlaceholderSource, placeholders};
    let promoted: HashSet<&str> = spec
        .steps
        .value
        .iter()
        .flat_map(|s| s.promote.iter().map(String::as_str))
        .collect();
    let workers: HashSet<&str> = spec
        .steps
        .value
        .iter()
        .filter_map(|s| Some(s.partition.as_ref()?.value.step.value.as_str()))
        .collect();
    for (i, step) in spec.steps.value.iter().enumerate() {
        let step_name = step.name.value.as_str();
        let mut refs: Vec<(&Spanned<PluginRef>, String)> = Vec::new();
        if let Some(chunk) = &step.chunk {
            let ch = &chunk.value;
            refs.push((&ch.reader, format!("steps[{i}].chunk.reader.config")));
            if let Some(p) = &ch.processor {
                refs.push((p, format!("steps[{i}].chunk.processor.config")));
            }
            refs.push((&ch.writer, format!("steps[{i}].chunk.writer.config")));
        }
        if let Some(t) = &step.tasklet {
            refs.push((t, format!("steps[{i}].tasklet.config")));
        }
        if let Some(d) = &step.decider {
            refs.push((d, format!("steps[{i}].decider.config")));
        }
        for (r, field) in refs {
            let Some(config) = &r.value.config else {
                continue;
            };
            let found = match placeholders(config) {
                Ok(found) => found,
                Err(e) => {
                    c.push(
                        location(r),
                        field,
                        e,
                        Some("write `$${` for a literal `${`".into()),
                    );
                    continue;
                }
            };
            for p in found.into_iter().filter(|p| p.default.is_none()) {
                match &p.source {
                    PlaceholderSource::Param(name) if params.get(name).is_none() => c.push(
                        location(r),
                        field.clone(),
                        format!("`${{params.{name}}}` refers to a parameter the job does not have"),
                        Some(format!(
                            "pass `--param {name}=VALUE`, add it under `params`, or give a default: `${{params.{name}:-VALUE}}`"
                        )),
                    ),
                    PlaceholderSource::Partition(key) if !workers.contains(step_name) => c.push(
                        location(r),
                        field.clone(),
                        format!("`${{partition.{key}}}` is set only in a partition's worker step"),
                        Some(format!("name this step in a `partition: {{ step: ... }}`, or give a default: `${{partition.{key}:-VALUE}}`")),
                    ),
                    PlaceholderSource::JobContext(key) if !promoted.contains(key.as_str()) => {
                        c.push(
                            location(r),
                            field.clone(),
                            format!("`${{job.context.{key}}}` refers to a key no step promotes"),
                            Some(format!(
                                "list `{key}` under `promote` of the step that sets it, or give a default: `${{job.context.{key}:-VALUE}}`"
                            )),
                        )
                    }
                    _ => {}
                }
            }
        }
    }
}

pub(super) fn plan_params(
    spec: &JobSpec,
    options: &PlanOptions,
    c: &mut Collector<'_>,
) -> JobParameters {
    let mut params = JobParameters::new();
    for (name, value) in &spec.params {
        let text = match &value.value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                c.push(
                    location(value),
                    format!("params.{name}"),
                    "a parameter value must be a single value, not a list or map".into(),
                    Some("write `value[,type[,identifying]]`, e.g. `2026-11-21,date`".into()),
                );
                continue;
            }
        };
        match JobParameter::parse_notation(name, &text) {
            Ok(p) => params.insert(name.clone(), p),
            Err(e) => c.push(location(value), format!("params.{name}"), e.reason, None),
        }
    }
    for (name, text) in &options.params {
        match JobParameter::parse_notation(name, text) {
            Ok(p) => params.insert(name.clone(), p),
            Err(e) => c.push(
                (0, 0),
                format!("--param {name}"),
                e.reason,
                Some("the notation is `--param name=value[,type[,identifying]]`".into()),
            ),
        }
    }
    params
}
