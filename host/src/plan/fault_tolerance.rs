//! `plan` → fault tolerance: a chunk's `fault-tolerance` section as skip, retry, no-rollback
//! and backoff policies.

use std::time::Duration;

use super::diagnostics::Collector;
use crate::policy::*;
use crate::spec::{FaultToleranceSpec, Spanned, location, parse_duration};

pub(super) fn valid_kind(k: &str) -> bool {
    k == "*"
        || !k.is_empty()
            && k.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            })
}

pub(super) fn plan_fault_tolerance(
    ft: &Spanned<FaultToleranceSpec>,
    field: &str,
    c: &mut Collector<'_>,
) -> Option<FaultTolerance> {
    let at = location(ft);
    let spec = &ft.value;
    let before = c.problems.len();
    let check_kinds = |what: &str, kinds: &[String], c: &mut Collector<'_>| {
        for k in kinds {
            if !valid_kind(k) {
                c.push(
                    at,
                    format!("{field}.{what}"),
                    format!("`{k}` is not an error kind"),
                    Some(
                        "kinds are dotted names such as `validation.email` or `io.timeout`, or `\"*\"` (quoted) for every error".into(),
                    ),
                );
            }
        }
    };
    let model = match &spec.model {
        None => Model::default(),
        Some(m) => Model::parse(&m.value).unwrap_or_else(|| {
            c.push(
                location(m),
                format!("{field}.model"),
                format!("unknown fault-tolerance model `{}`", m.value),
                Some("use `in-place` (the default, Spring Batch 6: process errors are retried and skipped where they stand) or `replay` (Spring Batch 5.x: every error rolls the chunk back)".into()),
            );
            Model::default()
        }),
    };
    let fatal = match &spec.fatal {
        None => KindRules::default(),
        Some(f) => {
            check_kinds("fatal.kinds", &f.kinds, c);
            KindRules::new(f.kinds.clone(), Vec::new())
        }
    };
    let skip = match &spec.skip {
        None => SkipPolicy::none(),
        Some(s) => {
            check_kinds("skip.kinds", &s.kinds, c);
            check_kinds("skip.exclude", &s.exclude, c);
            let limit = s
                .limit
                .as_ref()
                .map(|l| (l.value, location(l)))
                .unwrap_or((10, at));
            if limit.0 < 0 {
                c.push(
                    limit.1,
                    format!("{field}.skip.limit"),
                    "the skip limit cannot be negative".into(),
                    None,
                );
            }
            let kind = match s.policy.as_ref().map(|p| p.value.as_str()) {
                None | Some("limit") => SkipLimit::Limit(limit.0.max(0)),
                Some("always") => SkipLimit::Always,
                // Spring Batch 5's builder combines a custom skip policy with the limit-checking
                // one (`FaultTolerantStepBuilder#createSkipPolicy`, a `CompositeSkipPolicy`), so
                // under `replay` the listed kinds stay skippable up to the limit; Spring Batch 6
                // uses the policy alone.
                Some("never") if model == Model::Replay => SkipLimit::Limit(limit.0.max(0)),
                Some("never") => SkipLimit::Never,
                Some(other) => {
                    let loc = s.policy.as_ref().map(location).unwrap_or(at);
                    c.push(
                        loc,
                        format!("{field}.skip.policy"),
                        format!("unknown skip policy `{other}`"),
                        Some("use `limit` (default), `always` or `never`".into()),
                    );
                    SkipLimit::Never
                }
            };
            SkipPolicy::new(
                KindRules::new(s.kinds.clone(), s.exclude.clone()).vetoed_by(&fatal),
                kind,
            )
        }
    };
    let (retry, backoff) = match &spec.retry {
        None => (RetryPolicy::none(), Backoff::None),
        Some(r) => {
            check_kinds("retry.kinds", &r.kinds, c);
            check_kinds("retry.exclude", &r.exclude, c);
            let limit = r.limit.as_ref().map(|l| l.value).unwrap_or(1);
            if let Some(l) = &r.limit
                && !(0..=1_000).contains(&l.value)
            {
                c.push(
                    location(l),
                    format!("{field}.retry.limit"),
                    format!("retry limit {} is out of range", l.value),
                    Some("use 0 to 1000 attempts in total".into()),
                );
            }
            if limit > 1 && r.kinds.is_empty() {
                // Spring's builder refuses a retry limit without retryable exceptions.
                c.push(
                    r.limit.as_ref().map(location).unwrap_or(at),
                    format!("{field}.retry"),
                    "a retry limit needs retryable kinds".into(),
                    Some("add `kinds: [io.timeout, …]` to `retry`".into()),
                );
            }
            let backoff = match &r.backoff {
                None => Backoff::None,
                Some(b) => {
                    let loc = location(b);
                    let dur = |name: &str,
                               v: &Option<String>,
                               default: Duration,
                               c: &mut Collector<'_>| match v {
                        None => default,
                        Some(text) => parse_duration(text).unwrap_or_else(|| {
                            c.push(
                                loc,
                                format!("{field}.retry.backoff.{name}"),
                                format!("`{text}` is not a duration"),
                                Some("write e.g. `250ms`, `2s` or `1m`".into()),
                            );
                            default
                        }),
                    };
                    match (&b.value.fixed, &b.value.initial) {
                        (Some(_), Some(_)) => {
                            c.push(
                                loc,
                                format!("{field}.retry.backoff"),
                                "give either `fixed` or `initial` (exponential), not both".into(),
                                None,
                            );
                            Backoff::None
                        }
                        (Some(_), None) => {
                            Backoff::Fixed(dur("fixed", &b.value.fixed, Duration::ZERO, c))
                        }
                        (None, _) => {
                            let multiplier = b.value.multiplier.unwrap_or(2.0);
                            if !(1.0..=100.0).contains(&multiplier) {
                                c.push(
                                    loc,
                                    format!("{field}.retry.backoff.multiplier"),
                                    format!("multiplier {multiplier} is out of range"),
                                    Some("use a number from 1.0 to 100".into()),
                                );
                            }
                            Backoff::Exponential {
                                initial: dur(
                                    "initial",
                                    &b.value.initial,
                                    Duration::from_millis(100),
                                    c,
                                ),
                                multiplier,
                                max: dur("max", &b.value.max, Duration::from_secs(30), c),
                            }
                        }
                    }
                }
            };
            (
                RetryPolicy::new(
                    KindRules::new(r.kinds.clone(), r.exclude.clone()).vetoed_by(&fatal),
                    limit.clamp(0, 1_000) as u32,
                ),
                backoff,
            )
        }
    };
    let rollback = match &spec.no_rollback {
        None => RollbackPolicy::default(),
        Some(n) => {
            check_kinds("no-rollback.kinds", &n.kinds, c);
            RollbackPolicy::new(KindRules::new(n.kinds.clone(), Vec::new()).vetoed_by(&fatal))
        }
    };
    (c.problems.len() == before).then_some(FaultTolerance {
        skip,
        retry,
        rollback,
        fatal,
        backoff,
        processor_non_transactional: spec.processor_non_transactional,
        model,
    })
}
