//! The job's flow graph, checked before anything runs: split branches, `next` transitions,
//! reachability and loops without a way out.

use std::collections::{HashMap, HashSet};

use super::Collector;
use crate::domain::{BatchStatus, FlowAction, Transition, pattern_matches};
use crate::spec::{JobSpec, Spanned, TransitionSpec, location};

/// Which flow a step belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum FlowId {
    /// The job's main flow.
    Main,
    /// Branch `.1` of the split step `.0`.
    Branch(usize, usize),
}

/// The checked flow structure, by step index.
#[derive(Debug, Default)]
pub(super) struct Layout {
    /// The main flow.
    pub(super) main: Vec<usize>,
    /// The branches of each split step.
    pub(super) branches: HashMap<usize, Vec<Vec<usize>>>,
    /// Each step's transitions.
    pub(super) next: Vec<Option<Vec<Transition>>>,
}

/// Checks the graph; `None` when a problem was reported.
pub(super) fn check(spec: &JobSpec, c: &mut Collector<'_>) -> Option<Layout> {
    let steps = &spec.steps.value;
    let before = c.problems.len();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, s) in steps.iter().enumerate() {
        index.entry(s.name.value.as_str()).or_insert(i);
    }

    // Split branches and flow membership.
    let mut flow_of: Vec<FlowId> = vec![FlowId::Main; steps.len()];
    let mut member_of: HashMap<usize, usize> = HashMap::new();
    let mut branches: HashMap<usize, Vec<Vec<usize>>> = HashMap::new();
    for (i, step) in steps.iter().enumerate() {
        let Some(split) = &step.split else { continue };
        let field = format!("steps[{i}].split");
        if split.value.is_empty() {
            c.push(
                location(split),
                field.clone(),
                "a split needs at least one flow".into(),
                Some("write `split: [ [step-a, step-b], [step-c] ]`".into()),
            );
        }
        let mut planned = Vec::new();
        for (b, branch) in split.value.iter().enumerate() {
            if branch.value.is_empty() {
                c.push(
                    location(branch),
                    format!("{field}[{b}]"),
                    "a flow of a split needs at least one step".into(),
                    None,
                );
            }
            let mut flow = Vec::new();
            for member in &branch.value {
                let name = &member.value;
                let Some(&m) = index.get(name.as_str()) else {
                    unknown(c, member, &format!("{field}[{b}]"), &index);
                    continue;
                };
                if m == i || steps[m].split.is_some() {
                    c.push(
                        location(member),
                        format!("{field}[{b}]"),
                        format!("`{name}` is a split; a split cannot run inside a split"),
                        Some(
                            "list the steps of the inner flows in this split's flows instead"
                                .into(),
                        ),
                    );
                    continue;
                }
                if let Some(&other) = member_of.get(&m) {
                    c.push(
                        location(member),
                        format!("{field}[{b}]"),
                        format!(
                            "step `{name}` already belongs to a flow of split `{}`",
                            steps[other].name.value
                        ),
                        Some("a step runs in one flow only; give the copy its own name".into()),
                    );
                    continue;
                }
                member_of.insert(m, i);
                flow_of[m] = FlowId::Branch(i, b);
                flow.push(m);
            }
            planned.push(flow);
        }
        branches.insert(i, planned);
    }
    // A partitioned step's worker runs once per partition, as a flow of one step.
    for (i, step) in steps.iter().enumerate() {
        let Some(partition) = &step.partition else {
            continue;
        };
        let field = format!("steps[{i}].partition.step");
        let member = &partition.value.step;
        let Some(&m) = index.get(member.value.as_str()) else {
            unknown(c, member, &field, &index);
            continue;
        };
        let w = &steps[m];
        let problem = if m == i {
            Some("a partitioned step cannot be its own worker".to_owned())
        } else if w.chunk.is_none() && w.tasklet.is_none() {
            Some(format!(
                "the worker `{}` must be a chunk or tasklet step",
                member.value
            ))
        } else if w.next.is_some() {
            Some(format!(
                "the worker `{}` has `next`; its partitions end where they end, so route the partitioned step `{}` instead",
                member.value, step.name.value
            ))
        } else if let Some(&other) = member_of.get(&m) {
            Some(format!(
                "step `{}` already belongs to `{}`",
                member.value, steps[other].name.value
            ))
        } else {
            None
        };
        if let Some(message) = problem {
            c.push(
                location(member),
                field,
                message,
                Some(
                    "declare a worker step of its own in `steps`, used by this partition only"
                        .into(),
                ),
            );
            continue;
        }
        member_of.insert(m, i);
        flow_of[m] = FlowId::Branch(i, 0);
        branches.insert(i, vec![vec![m]]);
    }
    let main: Vec<usize> = (0..steps.len())
        .filter(|i| flow_of[*i] == FlowId::Main)
        .collect();
    if let Some(first) = steps.first()
        && flow_of[0] != FlowId::Main
    {
        c.push(
            location(&first.name),
            "steps[0]".into(),
            format!(
                "the first step `{}` starts the job, so it cannot be part of a split",
                first.name.value
            ),
            Some("move the split's member steps after the split step".into()),
        );
    }
    let flows: HashMap<FlowId, Vec<usize>> = branches
        .iter()
        .flat_map(|(s, bs)| {
            bs.iter()
                .enumerate()
                .map(|(b, f)| (FlowId::Branch(*s, b), f.clone()))
        })
        .chain([(FlowId::Main, main.clone())])
        .collect();
    let successor = |i: usize| -> Option<usize> {
        let flow = &flows[&flow_of[i]];
        let pos = flow.iter().position(|x| *x == i)?;
        flow.get(pos + 1).copied()
    };

    // Transitions.
    let mut next: Vec<Option<Vec<Transition>>> = vec![None; steps.len()];
    for (i, step) in steps.iter().enumerate() {
        let Some(list) = &step.next else { continue };
        let field = format!("steps[{i}].next");
        if list.value.is_empty() {
            c.push(
                location(list),
                field.clone(),
                "`next` is empty".into(),
                Some("remove it to go on to the following step, or add transitions".into()),
            );
            continue;
        }
        let mut planned = Vec::new();
        let mut seen = HashSet::new();
        for (t, entry) in list.value.iter().enumerate() {
            let field = format!("{field}[{t}]");
            if !seen.insert(entry.value.on.value.as_str()) {
                c.push(
                    location(&entry.value.on),
                    format!("{field}.on"),
                    format!("pattern `{}` appears twice", entry.value.on.value),
                    Some("each pattern may lead to one place only".into()),
                );
            }
            if let Some(action) = transition(entry, &field, i, &index, &flow_of, c) {
                planned.push(Transition {
                    pattern: entry.value.on.value.clone(),
                    action,
                });
            }
        }
        let fails = step.chunk.is_some()
            || step.tasklet.is_some()
            || step.split.is_some()
            || step.partition.is_some();
        if fails
            && !planned
                .iter()
                .any(|t| pattern_matches(&t.pattern, "FAILED"))
        {
            c.push(
                location(list),
                field.clone(),
                format!("no transition of step `{}` matches FAILED, so a failure would have nowhere to go", step.name.value),
                Some("add `{ on: FAILED, fail: true }` (or route it with `to`, or use `*`)".into()),
            );
        }
        next[i] = Some(planned);
    }
    if c.problems.len() > before {
        return None;
    }

    // Edges for reachability and loop detection.
    let edges: Vec<Vec<usize>> = (0..steps.len())
        .map(|i| {
            let mut out: Vec<usize> = match &next[i] {
                None => successor(i).into_iter().collect(),
                Some(ts) => ts
                    .iter()
                    .filter_map(|t| match t.action {
                        FlowAction::To(j) => Some(j),
                        FlowAction::Stop {
                            restart_at: Some(j),
                            ..
                        } => Some(j),
                        _ => None,
                    })
                    .collect(),
            };
            if let Some(bs) = branches.get(&i) {
                out.extend(bs.iter().filter_map(|b| b.first().copied()));
            }
            out
        })
        .collect();
    let mut reached = vec![false; steps.len()];
    let mut stack: Vec<usize> = main.first().copied().into_iter().collect();
    while let Some(i) = stack.pop() {
        if !std::mem::replace(&mut reached[i], true) {
            stack.extend(edges[i].iter().copied());
        }
    }
    for (i, step) in steps.iter().enumerate() {
        if !reached[i] {
            c.push(
                location(&step.name),
                format!("steps[{i}]"),
                format!("step `{}` is never reached", step.name.value),
                Some("route to it with `next: [{ on: ..., to: NAME }]`, list it in a split, or remove it".into()),
            );
        }
    }

    // A loop (a strongly connected set of steps) needs a way out: a transition that ends the
    // job or leads out of the loop, or the end of its flow.
    for scc in strongly_connected(&edges) {
        let looping = scc.len() > 1 || edges[scc[0]].contains(&scc[0]);
        if !looping {
            continue;
        }
        let inside: HashSet<usize> = scc.iter().copied().collect();
        let exit = scc.iter().any(|&i| match &next[i] {
            None => successor(i).is_none_or(|s| !inside.contains(&s)),
            Some(ts) => ts.iter().any(|t| match t.action {
                FlowAction::To(j) => !inside.contains(&j),
                _ => true,
            }),
        });
        if !exit {
            let mut names: Vec<usize> = scc.clone();
            names.sort_unstable();
            let first = names[0];
            c.push(
                location(&steps[first].name),
                format!("steps[{first}]"),
                format!(
                    "steps {} form a loop with no way out",
                    names
                        .iter()
                        .map(|i| format!("`{}`", steps[*i].name.value))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Some("add a transition that leaves the loop or ends the job, e.g. a decider with `{ on: DONE, end: COMPLETED }`".into()),
            );
        }
    }
    if c.problems.len() > before {
        return None;
    }
    Some(Layout {
        main,
        branches,
        next,
    })
}

/// Plans one `next` entry.
fn transition(
    entry: &Spanned<TransitionSpec>,
    field: &str,
    from: usize,
    index: &HashMap<&str, usize>,
    flow_of: &[FlowId],
    c: &mut Collector<'_>,
) -> Option<FlowAction> {
    let t = &entry.value;
    let at = location(entry);
    if t.on.value.is_empty() {
        c.push(
            location(&t.on),
            format!("{field}.on"),
            "the pattern is empty".into(),
            Some("use an exit code such as `FAILED`, or `*` for any".into()),
        );
    }
    let actions = [t.to.is_some(), t.end.is_some(), t.fail, t.stop];
    if actions.iter().filter(|a| **a).count() != 1 {
        c.push(
            at,
            field.to_owned(),
            "give exactly one of `to`, `end`, `fail` or `stop`".into(),
            Some(
                "for example `{ on: FAILED, to: cleanup }` or `{ on: \"*\", end: COMPLETED }`"
                    .into(),
            ),
        );
        return None;
    }
    if t.restart_at.is_some() && !t.stop {
        c.push(
            at,
            format!("{field}.restart-at"),
            "`restart-at` goes with `stop: true`".into(),
            None,
        );
        return None;
    }
    if t.exit_code.is_some() && t.to.is_some() {
        c.push(
            at,
            format!("{field}.exit-code"),
            "`exit-code` goes with `end`, `fail` or `stop`".into(),
            None,
        );
        return None;
    }
    let target = |name: &Spanned<String>, what: &str, c: &mut Collector<'_>| -> Option<usize> {
        let Some(&j) = index.get(name.value.as_str()) else {
            unknown(c, name, &format!("{field}.{what}"), index);
            return None;
        };
        let want = if what == "restart-at" {
            FlowId::Main
        } else {
            flow_of[from]
        };
        if flow_of[j] != want {
            c.push(
                location(name),
                format!("{field}.{what}"),
                format!(
                    "`{}` is in another flow; `{what}` must name a step of {}",
                    name.value,
                    if want == FlowId::Main {
                        "the job's main flow".to_owned()
                    } else {
                        "the same split flow".to_owned()
                    }
                ),
                Some("a split's flows are entered through the split step only".into()),
            );
            return None;
        }
        Some(j)
    };
    if let Some(to) = &t.to {
        return target(to, "to", c).map(FlowAction::To);
    }
    if t.fail {
        return Some(FlowAction::End {
            status: BatchStatus::Failed,
            exit_code: t.exit_code.clone().unwrap_or_else(|| "FAILED".into()),
        });
    }
    if t.stop {
        let restart_at = match &t.restart_at {
            Some(r) => Some(target(r, "restart-at", c)?),
            None => None,
        };
        return Some(FlowAction::Stop {
            restart_at,
            exit_code: t.exit_code.clone().unwrap_or_else(|| "STOPPED".into()),
        });
    }
    let end = t.end.as_ref()?;
    let status = match end.value.as_str() {
        "COMPLETED" => BatchStatus::Completed,
        "FAILED" => BatchStatus::Failed,
        "STOPPED" => BatchStatus::Stopped,
        other => {
            c.push(
                location(end),
                format!("{field}.end"),
                format!("`{other}` is not a status a job can end with"),
                Some("use COMPLETED, FAILED or STOPPED; set a custom code with `exit-code`".into()),
            );
            return None;
        }
    };
    Some(FlowAction::End {
        status,
        exit_code: t.exit_code.clone().unwrap_or_else(|| end.value.clone()),
    })
}

fn unknown(
    c: &mut Collector<'_>,
    name: &Spanned<String>,
    field: &str,
    index: &HashMap<&str, usize>,
) {
    let mut known: Vec<&str> = index.keys().copied().collect();
    known.sort_unstable();
    c.push(
        location(name),
        field.to_owned(),
        format!("there is no step named `{}`", name.value),
        Some(format!("the steps are: {}", known.join(", "))),
    );
}

/// Tarjan's strongly connected components (iterative), each as a list of nodes.
fn strongly_connected(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = edges.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut out = Vec::new();
    let mut counter = 0;
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        while let Some(&mut (v, ref mut next_edge)) = work.last_mut() {
            if *next_edge == 0 && index[v] == usize::MAX {
                index[v] = counter;
                low[v] = counter;
                counter += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            if let Some(&w) = edges[v].get(*next_edge) {
                *next_edge += 1;
                if index[w] == usize::MAX {
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut scc = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    scc.push(w);
                    if w == v {
                        break;
                    }
                }
                out.push(scc);
            }
        }
    }
    out
}
