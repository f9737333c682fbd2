//! `plan` → limits: a step's sandbox limits, its `limits` section over the host's defaults and
//! under its ceilings.

use super::diagnostics::Collector;
use crate::config::HostPolicy;
use crate::plugin::Limits;
use crate::spec::{Spanned, location};

pub(super) fn plan_limits(
    spec: Option<&Spanned<crate::spec::LimitsSpec>>,
    field: &str,
    policy: &HostPolicy,
    c: &mut Collector<'_>,
) -> Limits {
    let Some(spec) = spec else {
        return policy.defaults;
    };
    let whose = if policy.tenant == crate::config::DEFAULT_TENANT {
        "this host".to_owned()
    } else {
        format!("tenant `{}`", policy.tenant)
    };
    let ceiling = crate::config::Ceilings {
        limits: &policy.ceilings,
        whose: &whose,
    };
    let (mut limits, problems) =
        crate::config::resolve_limits(&spec.value, policy.defaults, Some(ceiling));
    if spec.value.wall_per_call.is_none() && limits.wall_per_call < limits.cpu_per_call {
        // A job that raises its CPU budget gets the wall-clock room to use it.
        limits.wall_per_call = limits.cpu_per_call.min(policy.ceilings.wall_per_call);
    }
    for p in problems {
        c.push(
            location(spec),
            format!("{field}.{}", p.field),
            p.message,
            Some(p.hint),
        );
    }
    limits
}
