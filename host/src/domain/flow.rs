//! Flow transitions: which way a job goes after a step, by the step's exit code
//! (Spring Batch's `StateTransition`, `PatternMatcher` and `DefaultStateTransitionComparator`).

use std::cmp::Ordering;

use super::BatchStatus;

/// Where a transition leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowAction {
    /// Go on with the step at this index of the plan.
    To(usize),
    /// End the flow with this status and exit code (`end:` and `fail:`).
    End {
        /// The job's BatchStatus.
        status: BatchStatus,
        /// The job's exit code.
        exit_code: String,
    },
    /// Stop the job (STOPPED); a restart begins at `restart_at` when given.
    Stop {
        /// The step index a restart begins at.
        restart_at: Option<usize>,
        /// The job's exit code.
        exit_code: String,
    },
}

/// One `next` entry: an exit-code pattern and where it leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// `*` matches any run of characters (also none), `?` exactly one; anything else itself.
    pub pattern: String,
    /// Where to go.
    pub action: FlowAction,
}

/// True when `pattern` matches the whole of `code`.
pub fn pattern_matches(pattern: &str, code: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = code.chars().collect();
    // Classic wildcard matching with backtracking to the last `*`.
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Spring's order of precedence between two patterns: `Greater` means `a` is tried first.
///
/// A pattern without `*` before one with `*`; then more `*` first; then no `?` before `?`; then
/// more `?` first; then, for wildcard patterns, the longer first; then lexicographic order.
pub fn precedence(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let count = |s: &str, c: char| s.chars().filter(|x| *x == c).count();
    let (a_star, b_star) = (count(a, '*'), count(b, '*'));
    let (a_q, b_q) = (count(a, '?'), count(b, '?'));
    // Spring's comparator returns -1 when `a` sorts *after* `b` in its descending walk.
    let spring = || -> Ordering {
        if a_star > 0 && b_star == 0 {
            return Ordering::Less;
        }
        if a_star == 0 && b_star > 0 {
            return Ordering::Greater;
        }
        if a_star > 0 && b_star > 0 && a_star != b_star {
            return a_star.cmp(&b_star);
        }
        if a_q > 0 && b_q == 0 {
            return Ordering::Less;
        }
        if a_q == 0 && b_q > 0 {
            return Ordering::Greater;
        }
        if a_q > 0 && b_q > 0 && a_q != b_q {
            return a_q.cmp(&b_q);
        }
        if a.len() != b.len() && (a_star > 0 || a_q > 0) {
            return a.len().cmp(&b.len());
        }
        b.cmp(a)
    };
    spring()
}

/// The transition taken for `exit_code`: the matching pattern of highest precedence.
pub fn select<'a>(transitions: &'a [Transition], exit_code: &str) -> Option<&'a Transition> {
    let mut sorted: Vec<&Transition> = transitions.iter().collect();
    sorted.sort_by(|a, b| precedence(&b.pattern, &a.pattern));
    sorted
        .into_iter()
        .find(|t| pattern_matches(&t.pattern, exit_code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to(pattern: &str, i: usize) -> Transition {
        Transition {
            pattern: pattern.into(),
            action: FlowAction::To(i),
        }
    }

    #[test]
    fn wildcards_match_whole_codes() {
        assert!(pattern_matches("*", ""));
        assert!(pattern_matches("*", "COMPLETED WITH SKIPS"));
        assert!(pattern_matches("C*T", "CAT"));
        assert!(pattern_matches("C*T", "CT"));
        assert!(!pattern_matches("C*T", "CATS"));
        assert!(pattern_matches("COMPLETED?", "COMPLETEDX"));
        assert!(!pattern_matches("COMPLETED?", "COMPLETED"));
        assert!(pattern_matches("*ED", "FAILED"));
        assert!(pattern_matches("F*L*D", "FAILED"));
        assert!(!pattern_matches("FAILED", "FAILED2"));
    }

    #[test]
    fn the_most_specific_pattern_wins() {
        // The FlowJobBuilderTests precedence cases.
        let cases = [
            (
                vec!["*", "COMPLETED*", "COMPLETED_PARTIALLY"],
                "COMPLETED_PARTIALLY",
                2,
            ),
            (vec!["*", "COMPLETED*"], "COMPLETED_PARTIALLY", 1),
            (
                vec!["COMPLETED_*ARTIALLY", "COMPLETED_?ARTIALLY"],
                "COMPLETED_PARTIALLY",
                1,
            ),
            (vec!["CONTIN*", "CONTINUABLE"], "CONTINUABLE", 1),
            (vec!["*", "**"], "X", 1),
            (vec!["C*T", "*", "CAT"], "CAT", 2),
            (vec!["C*T", "*", "CAT"], "COAT", 0),
            (vec!["C*T", "*", "CAT"], "DOG", 1),
        ];
        for (patterns, code, want) in cases {
            let ts: Vec<Transition> = patterns.iter().enumerate().map(|(i, p)| to(p, i)).collect();
            let got = select(&ts, code).map(|t| t.action.clone());
            assert_eq!(got, Some(FlowAction::To(want)), "{patterns:?} for {code}");
        }
        assert_eq!(select(&[to("FAILED", 0)], "COMPLETED"), None);
    }
}
