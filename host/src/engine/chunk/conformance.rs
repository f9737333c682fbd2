//! `engine` → chunk loop → conformance: the Spring Batch fault-tolerance conformance table
//! (`tests/conformance/scenarios.rs`, also run through `batch-host run` and WebAssembly by
//! `tests/all/conformance.rs`) run natively: the same testkit reader, processor and writer crates,
//! compiled into this test and adapted to the loop's host-side item traits, against a real SQLite
//! repository. Same counters, statuses, messages, committed output and call logs.

use std::collections::BTreeMap;
use std::path::Path;

use batch_sdk::Item as _;

use super::{ChunkLoop, ChunkSettings, FtState};
use crate::domain::{ExecutionContext, ItemError, JobParameters, StepExecution, now};
use crate::engine::Clock;
use crate::engine::StopFlag;
use crate::engine::failure::StepFailure;
use crate::engine::items::{ItemProcessor, ItemReader, ItemWriter};
use crate::engine::plugins::{Labels, Plugins};
use crate::engine::report::RunListener;
use crate::plugin::{PluginError, ReadBatch};
use crate::repository::{JobRepository, SqlRepository};

include!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/conformance/scenarios.rs"
));

fn failed(e: batch_sdk::Error) -> PluginError {
    PluginError::Failed(ItemError::new(e.kind, e.message))
}

fn to_sdk(ctx: &ExecutionContext) -> batch_sdk::ExecutionContext {
    let entries: BTreeMap<String, serde_json::Value> =
        ctx.iter().map(|(k, v)| (k.to_owned(), v.clone())).collect();
    batch_sdk::ExecutionContext::from_json(entries)
}

fn from_sdk(ctx: batch_sdk::ExecutionContext) -> ExecutionContext {
    let mut out = ExecutionContext::new();
    for (k, v) in ctx.to_json() {
        out.put(k, v);
    }
    out
}

/// An SDK reader run in the host, with the component glue's `read-batch` rule: read until `max`
/// outcomes, the end, or the first error (returned last).
struct SdkReader<T>(T);

impl<T: batch_sdk::ItemReader + Send> ItemReader for SdkReader<T> {
    fn open(&mut self, ctx: &ExecutionContext) -> Result<(), PluginError> {
        self.0.open(&to_sdk(ctx)).map_err(failed)
    }

    fn read_batch(&mut self, max: u32) -> Result<ReadBatch, PluginError> {
        let mut outcomes = Vec::new();
        let mut end = false;
        while outcomes.len() < max as usize {
            match self
                .0
                .read()
                .and_then(|i| i.map(|i| i.encode()).transpose())
            {
                Ok(Some(item)) => outcomes.push(Ok(item)),
                Ok(None) => {
                    end = true;
                    break;
                }
                Err(e) => {
                    outcomes.push(Err(ItemError::new(e.kind, e.message)));
                    break;
                }
            }
        }
        Ok(ReadBatch { outcomes, end })
    }

    fn update(&mut self) -> Result<ExecutionContext, PluginError> {
        self.0.update().map(from_sdk).map_err(failed)
    }

    fn close(&mut self) -> Result<(), PluginError> {
        self.0.close().map_err(failed)
    }
}

/// An SDK processor run in the host.
struct SdkProcessor<T>(T);

impl<T: batch_sdk::ItemProcessor + Send> ItemProcessor for SdkProcessor<T> {
    fn process(&mut self, item: &[u8]) -> Result<Option<Vec<u8>>, PluginError> {
        let input = T::In::decode(item.to_vec()).map_err(failed)?;
        match self.0.process(input).map_err(failed)? {
            Some(out) => out.encode().map(Some).map_err(failed),
            None => Ok(None),
        }
    }
}

/// An SDK writer run in the host.
struct SdkWriter<T>(T);

impl<T: batch_sdk::ItemWriter + Send> ItemWriter for SdkWriter<T> {
    fn open(&mut self, ctx: &ExecutionContext) -> Result<(), PluginError> {
        self.0.open(&to_sdk(ctx)).map_err(failed)
    }

    fn before_chunk(&mut self) -> Result<(), PluginError> {
        self.0.before_chunk().map_err(failed)
    }

    fn write(&mut self, items: &[Vec<u8>]) -> Result<(), PluginError> {
        let items = items
            .iter()
            .map(|i| T::Item::decode(i.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(failed)?;
        self.0.write(items).map_err(failed)
    }

    fn update(&mut self) -> Result<ExecutionContext, PluginError> {
        self.0.update().map(from_sdk).map_err(failed)
    }

    fn after_chunk(&mut self) -> Result<(), PluginError> {
        self.0.after_chunk().map_err(failed)
    }

    fn after_chunk_error(&mut self) -> Result<(), PluginError> {
        self.0.after_chunk_error().map_err(failed)
    }

    fn close(&mut self) -> Result<(), PluginError> {
        self.0.close().map_err(failed)
    }
}

struct Quiet;
impl RunListener for Quiet {}

/// Retries happen at once (the table's scenarios have no backoff to observe).
struct NoWait;
impl Clock for NoWait {
    fn sleep(
        &self,
        _: std::time::Duration,
    ) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async {})
    }
}

/// A config fragment as job.yaml writes it, as the JSON a plugin's `init` receives.
fn config(yaml: &str) -> serde_json::Value {
    serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("config `{yaml}`: {e}"))
}

fn with(base: &str, extra: &str) -> String {
    if extra.is_empty() {
        format!("{{ {base} }}")
    } else {
        format!("{{ {base}, {extra} }}")
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e} (the plugin never ran?)", path.display()))
        .lines()
        .map(|l| l.trim_matches('"').to_owned())
        .collect()
}

fn join(items: &[u32]) -> Vec<String> {
    items.iter().map(|i| i.to_string()).collect()
}

/// Runs one scenario natively; the differences from the table, if any.
async fn run(s: &Scenario, repo: &SqlRepository, dir: &Path) -> Vec<String> {
    use batch_sdk::{ItemProcessor as _, ItemReader as _, ItemWriter as _, Setup};
    let file = |ext: &str| dir.join(format!("{}.{ext}", s.name));
    let items: Vec<String> = (1..=s.items).map(|i| format!("\"{i}\"")).collect();
    let reader_config = config(&with(&format!("items: [{}]", items.join(", ")), s.reader));
    let reader = testkit_reader::TestkitReader::init(&Setup::for_test(reader_config)).unwrap();
    let processor = s.processor.map(|cfg| {
        let c = config(&with(&format!("log: \"{}\"", file("plog").display()), cfg));
        let p = testkit_processor::TestkitProcessor::init(&Setup::for_test(c)).unwrap();
        Box::new(SdkProcessor(p)) as Box<dyn ItemProcessor>
    });
    let writer_config = config(&with(
        &format!(
            "log: \"{}\", output: \"{}\"",
            file("wlog").display(),
            file("out").display()
        ),
        s.writer,
    ));
    let writer = testkit_writer::TestkitWriter::init(&Setup::for_test(writer_config)).unwrap();
    let mut plugins = Plugins::native(
        Box::new(SdkReader(reader)),
        processor,
        Box::new(SdkWriter(writer)),
    );
    plugins.labels = Labels {
        reader: "testkit-reader@0.1.0".into(),
        processor: "testkit-processor@0.1.0".into(),
        writer: "testkit-writer@0.1.0".into(),
    };
    let ft =
        s.ft.map(|f| crate::plan::fault_tolerance_from_yaml(f).expect("a valid fault-tolerance"));

    let job = repo
        .create_job_execution(s.name, &JobParameters::default(), true)
        .await
        .unwrap();
    let mut step = StepExecution::new(job.id, "step", now());
    repo.add_step_execution(&mut step).await.unwrap();
    let chunk_loop = ChunkLoop {
        repo,
        listener: &Quiet,
        clock: &NoWait,
        stop: &StopFlag::default(),
        settings: ChunkSettings {
            step_name: "step",
            size: s.chunk as u32,
            fault_tolerance: ft.as_ref(),
            exit_status_on_skips: None,
        },
    };
    plugins.reader.open(&ExecutionContext::new()).await.unwrap();
    plugins.writer.open(&ExecutionContext::new()).await.unwrap();
    let result = chunk_loop
        .run(&mut plugins, &mut step, &mut FtState::default())
        .await;

    let mut problems = Vec::new();
    let (status, message) = match &result {
        Ok(_) => ("COMPLETED", String::new()),
        Err(StepFailure::Plugin(f)) => ("FAILED", f.to_string()),
        Err(other) => ("FAILED", format!("{other:?}")),
    };
    if status != s.status {
        problems.push(format!("status {status}, expected {}", s.status));
    }
    if !message.contains(s.exit_message) {
        problems.push(format!(
            "exit message `{message}` lacks `{}`",
            s.exit_message
        ));
    }
    let got = n(
        step.read_count,
        step.write_count,
        step.filter_count,
        step.read_skip_count,
        step.process_skip_count,
        step.write_skip_count,
        step.commit_count,
        step.rollback_count,
    );
    if got != s.counts {
        problems.push(format!("counters {got:?}, expected {:?}", s.counts));
    }
    if lines(&file("out")) != join(s.output) {
        problems.push(format!(
            "committed output {:?}, expected {:?}",
            lines(&file("out")),
            join(s.output)
        ));
    }
    for (log, expected, what) in [
        ("plog", s.process_log, "processor calls"),
        ("wlog", s.write_log, "writer saw"),
    ] {
        if let Some(expected) = expected
            && lines(&file(log)) != join(expected)
        {
            problems.push(format!(
                "{what} {:?}, expected {:?}",
                lines(&file(log)),
                join(expected)
            ));
        }
    }
    problems
}

#[tokio::test]
async fn the_conformance_table_holds_natively() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("repo.db").display());
    let repo = SqlRepository::connect(&url).await.unwrap();
    let mut failures = Vec::new();
    for s in SCENARIOS {
        let problems = run(s, &repo, dir.path()).await;
        if !problems.is_empty() {
            failures.push(format!(
                "{} ({}):\n  {}",
                s.name,
                s.spring,
                problems.join("\n  ")
            ));
        }
    }
    repo.close().await;
    assert!(
        failures.is_empty(),
        "{} of {} scenarios differ natively:\n\n{}",
        failures.len(),
        SCENARIOS.len(),
        failures.join("\n\n")
    );
}
