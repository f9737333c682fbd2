//! Fault-tolerance policies: pure decisions over [`ItemError`] kinds, no WebAssembly in sight.
//!
//! Kind rules follow our dotted-kind convention: a rule for `validation` matches
//! `validation.email`; when several rules match, the most specific (longest) wins, and at equal
//! specificity an exclusion beats an inclusion. This is Spring Batch's "nearest ancestor wins"
//! classification with kinds in place of exception classes. The rule `*` matches every kind and
//! is the least specific of all (Spring's `Exception.class`). Fatal kinds veto every rule: they
//! are never skipped, never retried and always roll back (Spring's fatal-exception proxies).

use std::time::Duration;

use crate::domain::ItemError;

/// Include/exclude rules over dotted error kinds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindRules {
    include: Vec<String>,
    exclude: Vec<String>,
    veto: Vec<String>,
}

/// The kind of the error the host raises when a skip would exceed the skip limit (Spring's
/// `SkipLimitExceededException`). It is never skippable; whether it rolls back follows the
/// step's no-rollback rules, as Spring classifies it.
pub const SKIP_LIMIT_KIND: &str = "batch.skip-limit";

impl KindRules {
    /// Rules from `kinds` (include) and `exclude`.
    pub fn new(include: Vec<String>, exclude: Vec<String>) -> Self {
        KindRules {
            include,
            exclude,
            veto: Vec::new(),
        }
    }

    /// The same rules, never matching an error of a `veto` kind whatever else they say.
    pub fn vetoed_by(mut self, veto: &KindRules) -> Self {
        self.veto = veto.include.clone();
        self
    }

    /// True when a veto (fatal) kind covers `e`.
    pub fn is_vetoed(&self, e: &ItemError) -> bool {
        self.veto.iter().any(|r| e.is_kind_of(r))
    }

    /// True when the most specific matching rule is an inclusion (and no veto applies).
    pub fn matches(&self, e: &ItemError) -> bool {
        if self.is_vetoed(e) {
            return false;
        }
        let best = |rules: &[String]| {
            rules
                .iter()
                .filter(|r| e.is_kind_of(r))
                .map(|r| if r == "*" { 0 } else { r.len() })
                .max()
        };
        match (best(&self.include), best(&self.exclude)) {
            (Some(i), Some(x)) => i > x,
            (Some(_), None) => true,
            _ => false,
        }
    }

    /// True when there are no inclusion rules.
    pub fn is_empty(&self) -> bool {
        self.include.is_empty()
    }
}

/// How skips are limited (Spring's `LimitCheckingItemSkipPolicy`, `AlwaysSkipItemSkipPolicy`,
/// `NeverSkipItemSkipPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipLimit {
    /// At most this many skips in the step execution.
    Limit(i64),
    /// Every error is skipped, whatever the kinds say (Spring's `AlwaysSkipItemSkipPolicy`);
    /// fatal kinds and `batch.skip-limit` excepted.
    Always,
    /// Nothing is skipped.
    Never,
}

/// The skip limit was reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("skip limit {limit} exceeded")]
pub struct SkipLimitExceeded {
    /// The configured limit.
    pub limit: i64,
}

/// Which errors may be skipped, and how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkipPolicy {
    rules: KindRules,
    limit: SkipLimit,
}

impl SkipPolicy {
    /// A policy.
    pub fn new(rules: KindRules, limit: SkipLimit) -> Self {
        SkipPolicy { rules, limit }
    }

    /// Skips nothing.
    pub fn none() -> Self {
        SkipPolicy::new(KindRules::default(), SkipLimit::Never)
    }

    /// Classification only: could `e` ever be skipped?
    pub fn is_skippable(&self, e: &ItemError) -> bool {
        if e.is_kind_of(SKIP_LIMIT_KIND) || self.rules.is_vetoed(e) {
            return false;
        }
        match self.limit {
            SkipLimit::Never => false,
            SkipLimit::Always => true,
            SkipLimit::Limit(_) => self.rules.matches(e),
        }
    }

    /// Spring's `shouldSkip(t, skipCount)`: `Ok(true)` to skip, `Ok(false)` when not skippable,
    /// `Err` when skippable but `skip_count` already reached the limit. A negative `skip_count`
    /// is Spring's classification-only call and never trips the limit.
    pub fn should_skip(&self, e: &ItemError, skip_count: i64) -> Result<bool, SkipLimitExceeded> {
        if !self.is_skippable(e) {
            return Ok(false);
        }
        match self.limit {
            SkipLimit::Limit(limit) if skip_count >= 0 && skip_count >= limit => {
                Err(SkipLimitExceeded { limit })
            }
            _ => Ok(true),
        }
    }
}

/// Which errors may be retried, and how many attempts in total (Spring's `retryLimit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    rules: KindRules,
    attempts: u32,
}

impl RetryPolicy {
    /// `attempts` in total; 0 and 1 both mean a single attempt.
    pub fn new(rules: KindRules, attempts: u32) -> Self {
        RetryPolicy { rules, attempts }
    }

    /// No retries.
    pub fn none() -> Self {
        RetryPolicy::new(KindRules::default(), 1)
    }

    /// True when `attempts` failed attempts still leave room for another (the limit alone).
    pub fn has_attempts_left(&self, attempts: u32) -> bool {
        attempts < self.attempts.max(1)
    }

    /// Whether another attempt may be made after `attempts` failed ones, the last with `last`.
    /// A fresh context (no failure yet) can always make its first attempt.
    pub fn can_retry(&self, last: Option<&ItemError>, attempts: u32) -> bool {
        match last {
            None => true,
            Some(e) => self.rules.matches(e) && attempts < self.attempts.max(1),
        }
    }
}

/// Which errors leave the transaction committed (Spring's `noRollback`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollbackPolicy {
    no_rollback: KindRules,
}

impl RollbackPolicy {
    /// Errors matching `no_rollback` do not roll the chunk back.
    pub fn new(no_rollback: KindRules) -> Self {
        RollbackPolicy { no_rollback }
    }

    /// True when `e` rolls the transaction back.
    pub fn rolls_back(&self, e: &ItemError) -> bool {
        !self.no_rollback.matches(e)
    }
}

/// The pause between retry attempts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Backoff {
    /// Retry at once.
    None,
    /// The same pause every time.
    Fixed(Duration),
    /// `initial × multiplier^(n-1)`, capped at `max`.
    Exponential {
        /// The first pause.
        initial: Duration,
        /// Growth per attempt.
        multiplier: f64,
        /// The cap.
        max: Duration,
    },
}

impl Backoff {
    /// The pause before retry number `retry` (1 = the first retry).
    pub fn delay(&self, retry: u32) -> Duration {
        match *self {
            Backoff::None => Duration::ZERO,
            Backoff::Fixed(d) => d,
            Backoff::Exponential {
                initial,
                multiplier,
                max,
            } => {
                let factor = multiplier
                    .max(1.0)
                    .powi(retry.saturating_sub(1).min(64) as i32);
                let secs = (initial.as_secs_f64() * factor).min(max.as_secs_f64());
                Duration::from_secs_f64(secs.max(0.0))
            }
        }
    }
}

/// Everything the chunk loop asks when something fails.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultTolerance {
    /// Skip rules and limit.
    pub skip: SkipPolicy,
    /// Retry rules and attempts.
    pub retry: RetryPolicy,
    /// No-rollback rules.
    pub rollback: RollbackPolicy,
    /// Fatal kinds: never skipped or retried; the step fails at the first rollback they cause.
    pub fatal: KindRules,
    /// Pause between retries.
    pub backoff: Backoff,
    /// Cache processor outputs across replays instead of re-processing.
    pub processor_non_transactional: bool,
    /// How process errors are handled: where they stand, or by rolling back and replaying.
    pub model: Model,
}

impl FaultTolerance {
    /// True when `e` fails the step at once (Spring's fatal exceptions).
    pub fn is_fatal(&self, e: &ItemError) -> bool {
        self.fatal.matches(e)
    }
}

/// The fault-tolerance model of a chunk step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Model {
    /// Spring Batch 6's `ChunkOrientedStep`: a failing process call is retried for that item and
    /// then skipped where it stands, without rolling the chunk back; processed items are never
    /// processed again (a write retry or scan writes the same outputs).
    #[default]
    InPlace,
    /// Spring Batch 5.x's `FaultTolerantChunkProcessor`: every error rolls the chunk back and the
    /// chunk is processed again (retries and skips happen on the replay).
    Replay,
}

impl Model {
    /// Parses job.yaml's spelling.
    pub fn parse(s: &str) -> Option<Model> {
        match s {
            "in-place" => Some(Model::InPlace),
            "replay" => Some(Model::Replay),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(kind: &str) -> ItemError {
        ItemError::new(kind, "x")
    }

    fn rules(i: &[&str], x: &[&str]) -> KindRules {
        KindRules::new(
            i.iter().map(|s| s.to_string()).collect(),
            x.iter().map(|s| s.to_string()).collect(),
        )
    }

    #[test]
    fn most_specific_rule_wins() {
        let r = rules(&["validation"], &["validation.fatal"]);
        assert!(r.matches(&e("validation")));
        assert!(r.matches(&e("validation.email")));
        assert!(!r.matches(&e("validation.fatal")));
        assert!(!r.matches(&e("validation.fatal.deep")));
        assert!(!r.matches(&e("io.timeout")));
        let r = rules(&["validation.fatal.ok"], &["validation"]);
        assert!(r.matches(&e("validation.fatal.ok")));
        assert!(!r.matches(&e("validation.email")));
        // Equal specificity: exclusion wins.
        assert!(!rules(&["io"], &["io"]).matches(&e("io.timeout")));
    }

    #[test]
    fn skip_limit_allows_exactly_n() {
        let p = SkipPolicy::new(rules(&["validation"], &[]), SkipLimit::Limit(2));
        assert_eq!(p.should_skip(&e("validation.email"), 0), Ok(true));
        assert_eq!(p.should_skip(&e("validation.email"), 1), Ok(true));
        assert_eq!(
            p.should_skip(&e("validation.email"), 2),
            Err(SkipLimitExceeded { limit: 2 })
        );
        assert_eq!(
            p.should_skip(&e("validation.email"), -1),
            Ok(true),
            "classification only"
        );
        assert_eq!(p.should_skip(&e("io"), 5), Ok(false));
        let never = SkipPolicy::new(rules(&["validation"], &[]), SkipLimit::Never);
        assert_eq!(never.should_skip(&e("validation"), 0), Ok(false));
        let always = SkipPolicy::new(rules(&["validation"], &[]), SkipLimit::Always);
        assert_eq!(always.should_skip(&e("validation"), 1_000_000), Ok(true));
        assert_eq!(
            always.should_skip(&e("io"), 0),
            Ok(true),
            "always skips every kind"
        );
    }

    #[test]
    fn retry_limit_counts_attempts() {
        let p = RetryPolicy::new(rules(&["io.timeout"], &[]), 3);
        assert!(p.can_retry(None, 0));
        assert!(p.can_retry(Some(&e("io.timeout")), 1));
        assert!(p.can_retry(Some(&e("io.timeout")), 2));
        assert!(!p.can_retry(Some(&e("io.timeout")), 3));
        assert!(!p.can_retry(Some(&e("validation")), 1));
        assert!(!RetryPolicy::new(rules(&["io"], &[]), 0).can_retry(Some(&e("io")), 1));
    }

    #[test]
    fn backoff_grows_and_caps() {
        let b = Backoff::Exponential {
            initial: Duration::from_millis(100),
            multiplier: 2.0,
            max: Duration::from_millis(500),
        };
        let ms: Vec<u128> = (1..=5).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 500, 500]);
        assert_eq!(
            Backoff::Fixed(Duration::from_secs(1)).delay(7),
            Duration::from_secs(1)
        );
        assert_eq!(Backoff::None.delay(3), Duration::ZERO);
    }

    #[test]
    fn star_is_least_specific_and_fatal_vetoes() {
        let r = rules(&["*"], &["io"]);
        assert!(r.matches(&e("validation")));
        assert!(!r.matches(&e("io.timeout")));
        assert!(rules(&["io.timeout"], &["*"]).matches(&e("io.timeout")));
        let fatal = rules(&["io.disk"], &[]);
        let r = rules(&["io.disk.full", "*"], &[]).vetoed_by(&fatal);
        assert!(
            !r.matches(&e("io.disk.full")),
            "a fatal kind beats a more specific rule"
        );
        assert!(r.matches(&e("io.timeout")));
        let skip = SkipPolicy::new(rules(&["*"], &[]), SkipLimit::Always);
        assert!(!skip.is_skippable(&e(SKIP_LIMIT_KIND)));
    }

    #[test]
    fn no_rollback() {
        let r = RollbackPolicy::new(rules(&["warn"], &[]));
        assert!(!r.rolls_back(&e("warn.minor")));
        assert!(r.rolls_back(&e("error")));
    }
}
