//! `engine` → chunk loop → unit tests: both loops over readers, processors and writers that run
//! in the host, against a real SQLite repository in a temporary directory. Each rule of the
//! fault-tolerance table is checked by its counts, its committed output and its messages.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{ChunkLoop, ChunkSettings, FtState};
use crate::domain::{ExecutionContext, ItemError, JobParameters, SkipPhase, StepExecution, now};
use crate::engine::failure::StepFailure;
use crate::engine::items::{ItemProcessor, ItemReader, ItemWriter};
use crate::engine::plugins::Plugins;
use crate::engine::report::RunListener;
use crate::engine::{Clock, StopFlag};
use crate::plugin::{PluginError, ReadBatch};
use crate::policy::{
    Backoff, FaultTolerance, KindRules, Model, RetryPolicy, RollbackPolicy, SkipLimit, SkipPolicy,
};
use crate::repository::{JobExplorer, JobRepository, SqlRepository};

/// Reads `1..=n` as text items, `read_batch` at a time; position is its ItemStream state.
struct Numbers {
    n: u32,
    next: u32,
    /// Positions that come back as read errors of kind `bad.read`.
    bad: Vec<u32>,
}

impl ItemReader for Numbers {
    fn open(&mut self, ctx: &ExecutionContext) -> Result<(), PluginError> {
        self.next = ctx.get("next").and_then(|v| v.as_u64()).unwrap_or(1) as u32;
        Ok(())
    }

    fn read_batch(&mut self, max: u32) -> Result<ReadBatch, PluginError> {
        let mut outcomes = Vec::new();
        while outcomes.len() < max as usize && self.next <= self.n {
            let i = self.next;
            self.next += 1;
            outcomes.push(if self.bad.contains(&i) {
                Err(ItemError::new("bad.read", format!("line {i}")))
            } else {
                Ok(i.to_string().into_bytes())
            });
        }
        Ok(ReadBatch {
            outcomes,
            end: self.next > self.n,
        })
    }

    fn update(&mut self) -> Result<ExecutionContext, PluginError> {
        let mut ctx = ExecutionContext::new();
        ctx.put("next", serde_json::json!(self.next));
        Ok(ctx)
    }
}

/// Fails items in `bad` with `bad.item` (`failures` more times each, then passes them; `u32::MAX`
/// for always), filters items in `filter`, and records every call.
struct Picky {
    bad: Vec<(u32, u32)>,
    filter: Vec<u32>,
    calls: Arc<Mutex<Vec<u32>>>,
}

impl ItemProcessor for Picky {
    fn process(&mut self, item: &[u8]) -> Result<Option<Vec<u8>>, PluginError> {
        let i: u32 = std::str::from_utf8(item).unwrap().parse().unwrap();
        self.calls.lock().unwrap().push(i);
        if let Some((_, left)) = self.bad.iter_mut().find(|(b, left)| *b == i && *left > 0) {
            *left = left.saturating_sub(1);
            return Err(PluginError::Failed(ItemError::new(
                "bad.item",
                format!("item {i}"),
            )));
        }
        if self.filter.contains(&i) {
            return Ok(None);
        }
        Ok(Some(format!("<{i}>").into_bytes()))
    }
}

/// Keeps what committed; fails any write that contains an item in `bad`.
#[derive(Clone, Default)]
struct Sink {
    committed: Arc<Mutex<Vec<String>>>,
    pending: Arc<Mutex<Vec<String>>>,
    bad: Vec<String>,
}

impl ItemWriter for Sink {
    fn open(&mut self, _: &ExecutionContext) -> Result<(), PluginError> {
        Ok(())
    }

    fn before_chunk(&mut self) -> Result<(), PluginError> {
        self.pending.lock().unwrap().clear();
        Ok(())
    }

    fn write(&mut self, items: &[Vec<u8>]) -> Result<(), PluginError> {
        let items: Vec<String> = items
            .iter()
            .map(|i| String::from_utf8(i.clone()).unwrap())
            .collect();
        if let Some(b) = items.iter().find(|i| self.bad.contains(i)) {
            return Err(PluginError::Failed(ItemError::new("bad.write", b.clone())));
        }
        self.pending.lock().unwrap().extend(items);
        Ok(())
    }

    fn update(&mut self) -> Result<ExecutionContext, PluginError> {
        Ok(ExecutionContext::new())
    }

    fn after_chunk(&mut self) -> Result<(), PluginError> {
        let mut pending = self.pending.lock().unwrap();
        self.committed.lock().unwrap().append(&mut pending);
        Ok(())
    }

    fn after_chunk_error(&mut self) -> Result<(), PluginError> {
        self.pending.lock().unwrap().clear();
        Ok(())
    }
}

struct Quiet;
impl RunListener for Quiet {}

/// Records the pauses it was asked for instead of sleeping.
#[derive(Default)]
struct Recorder(Mutex<Vec<Duration>>);

impl Clock for Recorder {
    fn sleep(&self, d: Duration) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        self.0.lock().unwrap().push(d);
        Box::pin(async {})
    }
}

fn rules(kinds: &[&str]) -> KindRules {
    KindRules::new(kinds.iter().map(|s| s.to_string()).collect(), Vec::new())
}

fn tolerant(skip: &[&str], limit: i64, retry: &[&str], attempts: u32) -> FaultTolerance {
    FaultTolerance {
        skip: SkipPolicy::new(rules(skip), SkipLimit::Limit(limit)),
        retry: RetryPolicy::new(rules(retry), attempts),
        rollback: RollbackPolicy::default(),
        fatal: KindRules::default(),
        backoff: Backoff::Fixed(Duration::from_millis(250)),
        processor_non_transactional: false,
        model: Model::Replay,
    }
}

/// What a run left behind.
struct Outcome {
    result: Result<(), StepFailure>,
    step: StepExecution,
    committed: Vec<String>,
    skipped: Vec<(SkipPhase, i64, Option<String>)>,
    pauses: Vec<Duration>,
    calls: Vec<u32>,
}

struct Case {
    items: u32,
    chunk: u32,
    bad_reads: Vec<u32>,
    bad_items: Vec<(u32, u32)>,
    filter: Vec<u32>,
    bad_writes: Vec<&'static str>,
    ft: Option<FaultTolerance>,
}

impl Case {
    fn new(items: u32, chunk: u32) -> Self {
        Case {
            items,
            chunk,
            bad_reads: Vec::new(),
            bad_items: Vec::new(),
            filter: Vec::new(),
            bad_writes: Vec::new(),
            ft: None,
        }
    }

    async fn run(self) -> Outcome {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("repo.db").display());
        let repo = SqlRepository::connect(&url).await.unwrap();
        let job = repo
            .create_job_execution("unit", &JobParameters::default(), true)
            .await
            .unwrap();
        let mut step = StepExecution::new(job.id, "load", now());
        repo.add_step_execution(&mut step).await.unwrap();

        let calls = Arc::new(Mutex::new(Vec::new()));
        let sink = Sink {
            bad: self.bad_writes.iter().map(|s| s.to_string()).collect(),
            ..Sink::default()
        };
        let mut plugins = Plugins::native(
            Box::new(Numbers {
                n: self.items,
                next: 1,
                bad: self.bad_reads,
            }),
            Some(Box::new(Picky {
                bad: self.bad_items,
                filter: self.filter,
                calls: calls.clone(),
            })),
            Box::new(sink.clone()),
        );
        let clock = Recorder::default();
        let stop = StopFlag::default();
        let chunk_loop = ChunkLoop {
            repo: &repo,
            listener: &Quiet,
            clock: &clock,
            stop: &stop,
            settings: ChunkSettings {
                step_name: "load",
                size: self.chunk,
                fault_tolerance: self.ft.as_ref(),
                exit_status_on_skips: None,
            },
        };
        plugins.reader.open(&ExecutionContext::new()).await.unwrap();
        let mut st = FtState::default();
        let result = chunk_loop
            .run(&mut plugins, &mut step, &mut st)
            .await
            .map(|_| ());
        let skipped = repo
            .skipped_items(job.id)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, s)| {
                let payload = s.payload.map(|p| String::from_utf8(p).unwrap());
                (s.phase, s.position, payload)
            })
            .collect();
        let committed = sink.committed.lock().unwrap().clone();
        let pauses = clock.0.lock().unwrap().clone();
        let calls = calls.lock().unwrap().clone();
        repo.close().await;
        Outcome {
            result,
            step,
            committed,
            skipped,
            pauses,
            calls,
        }
    }
}

fn wrapped(items: &[u32]) -> Vec<String> {
    items.iter().map(|i| format!("<{i}>")).collect()
}

fn message(result: &Result<(), StepFailure>) -> String {
    match result {
        Err(StepFailure::Plugin(f)) => f.to_string(),
        other => panic!("expected a plugin failure, got {other:?}"),
    }
}

#[tokio::test]
async fn simple_loop_commits_every_chunk_and_the_last_partial_one() {
    let out = Case::new(7, 3).run().await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    assert_eq!(out.committed, wrapped(&[1, 2, 3, 4, 5, 6, 7]));
    assert_eq!(
        (
            out.step.read_count,
            out.step.write_count,
            out.step.commit_count,
            out.step.rollback_count
        ),
        (7, 7, 3, 0)
    );
    assert_eq!(
        out.step.context.get("reader.next"),
        Some(&serde_json::json!(8))
    );
}

#[tokio::test]
async fn simple_loop_counts_filtered_items() {
    let mut case = Case::new(6, 3);
    case.filter = vec![2, 6];
    let out = case.run().await;
    assert!(out.result.is_ok());
    assert_eq!(out.committed, wrapped(&[1, 3, 4, 5]));
    assert_eq!((out.step.filter_count, out.step.write_count), (2, 4));
}

#[tokio::test]
async fn simple_loop_fails_on_the_first_error_and_keeps_earlier_chunks() {
    let mut case = Case::new(9, 3);
    case.bad_items = vec![(5, u32::MAX)];
    let out = case.run().await;
    assert_eq!(
        message(&out.result),
        "processor native-processor failed on item 5: bad.item: item 5"
    );
    assert_eq!(out.committed, wrapped(&[1, 2, 3]));
    assert_eq!((out.step.commit_count, out.step.rollback_count), (1, 1));
    assert_eq!(
        out.step.context.get("reader.next"),
        Some(&serde_json::json!(4))
    );
}

#[tokio::test]
async fn processor_errors_are_skipped_with_their_payload() {
    let mut case = Case::new(8, 4);
    case.bad_items = vec![(2, u32::MAX), (7, u32::MAX)];
    case.ft = Some(tolerant(&["bad"], 10, &[], 1));
    let out = case.run().await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    assert_eq!(out.committed, wrapped(&[1, 3, 4, 5, 6, 8]));
    assert_eq!(out.step.process_skip_count, 2);
    assert_eq!(out.step.write_count, 6);
    assert_eq!(
        out.skipped,
        vec![
            (SkipPhase::Process, 2, Some("2".into())),
            (SkipPhase::Process, 7, Some("7".into()))
        ]
    );
}

#[tokio::test]
async fn read_errors_are_skipped_in_place_without_a_rollback() {
    let mut case = Case::new(6, 3);
    case.bad_reads = vec![2];
    case.ft = Some(tolerant(&["bad.read"], 10, &[], 1));
    let out = case.run().await;
    assert!(out.result.is_ok());
    assert_eq!(out.committed, wrapped(&[1, 3, 4, 5, 6]));
    assert_eq!((out.step.read_skip_count, out.step.rollback_count), (1, 0));
    assert_eq!(out.skipped, vec![(SkipPhase::Read, 2, None)]);
}

#[tokio::test]
async fn a_retryable_error_rolls_back_and_succeeds_with_backoff() {
    let mut case = Case::new(6, 3);
    case.bad_items = vec![(2, 2)];
    case.ft = Some(tolerant(&[], 0, &["bad.item"], 3));
    let out = case.run().await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    assert_eq!(out.committed, wrapped(&[1, 2, 3, 4, 5, 6]));
    assert_eq!((out.step.rollback_count, out.step.commit_count), (2, 3));
    assert_eq!(out.pauses, vec![Duration::from_millis(250); 2]);
    // Item 1 is processed again in each replay of its chunk; item 2 three times in all.
    assert_eq!(out.calls.iter().filter(|&&i| i == 2).count(), 3);
}

#[tokio::test]
async fn an_exhausted_retry_without_skip_fails_the_step() {
    let mut case = Case::new(4, 2);
    case.bad_items = vec![(3, u32::MAX)];
    case.ft = Some(tolerant(&[], 0, &["bad.item"], 2));
    let out = case.run().await;
    assert_eq!(
        message(&out.result),
        "processor native-processor failed on item 3 after 2 attempt(s) and the error is not skippable: bad.item: item 3"
    );
    assert_eq!(out.committed, wrapped(&[1, 2]));
}

#[tokio::test]
async fn the_skip_limit_fails_the_step_and_names_itself() {
    let mut case = Case::new(6, 6);
    case.bad_items = vec![(1, u32::MAX), (2, u32::MAX), (3, u32::MAX)];
    case.ft = Some(tolerant(&["bad"], 2, &[], 1));
    let out = case.run().await;
    assert_eq!(
        message(&out.result),
        "skip limit 2 exceeded: processor native-processor failed on item 3: bad.item: item 3"
    );
    assert!(out.committed.is_empty());
    assert!(
        out.skipped.is_empty(),
        "the failed chunk's skips rolled back too"
    );
}

#[tokio::test]
async fn a_failing_write_is_scanned_item_by_item_and_only_the_culprit_is_skipped() {
    let mut case = Case::new(6, 3);
    case.bad_writes = vec!["<5>"];
    case.ft = Some(tolerant(&["bad.write"], 5, &[], 1));
    let out = case.run().await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    assert_eq!(out.committed, wrapped(&[1, 2, 3, 4, 6]));
    assert_eq!(out.step.write_skip_count, 1);
    assert_eq!(out.skipped, vec![(SkipPhase::Write, 5, Some("<5>".into()))]);
}
