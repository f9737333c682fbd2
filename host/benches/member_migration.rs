//! `make bench`: throughput of the member-migration job (see docs/performance.md).
//!
//! 1. The whole job (csv-reader → member-processor → jsonl-writer, chunk 1000, SQLite repository)
//!    through the real engine, with the processor in WebAssembly.
//! 2. The same job with the processing done natively in the host: the job without the Wasm
//!    processor, plus the same member-processor code compiled natively, run over the same items
//!    (JSON decode, normalise, JSON encode), timed separately and added.
//! 3. Plugin call shape: the member-processor component called once per item (`process`) vs once
//!    per 1000 items (`process-batch`), and the csv-reader with `read` vs `read-batch`.
//!
//! `BENCH_ROWS` sets the row count (default 1,000,000). Components come from `make plugins`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use batch_host::engine::{RunListener, launch};
use batch_host::plan::{self, PlanOptions};
use batch_host::plugin::{
    Grant, Interrupt, PluginRuntime, PoolSize, ProcessorInstance, ReaderInstance, RuntimeOptions,
    Setup,
};
use batch_host::repository::{PluginStore, SqlRepository};
use batch_host::spec::JobSpec;
use batch_sdk::ItemProcessor;

struct Quiet;
impl RunListener for Quiet {}

fn components() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/components")
}

fn write_csv(path: &Path, rows: usize) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "id,first_name,last_name,email,country,joined").unwrap();
    for i in 1..=rows {
        writeln!(
            f,
            "{i}, ann{i} ,LEE,  User{i}@Example.COM ,de,2020-01-{:02}",
            i % 28 + 1
        )
        .unwrap();
    }
}

async fn register(repo: &SqlRepository, runtime: &PluginRuntime, name: &str) {
    let wasm = std::fs::read(components().join(format!("{name}.wasm")))
        .unwrap_or_else(|e| panic!("{name}.wasm: {e}; run `make plugins` first"));
    batch_host::registry::register(repo, runtime, &wasm, name, "bench")
        .await
        .unwrap();
}

async fn run_job(
    dir: &Path,
    repo: &SqlRepository,
    runtime: &PluginRuntime,
    name: &str,
    with_processor: bool,
) -> Duration {
    let processor = if with_processor {
        "      processor: { plugin: member-processor }\n"
    } else {
        ""
    };
    let yaml = format!(
        "name: {name}\nsteps:\n  - name: migrate\n    chunk:\n      size: 1000\n      reader: {{ plugin: csv-reader, config: {{ path: members.csv }} }}\n{processor}      writer: {{ plugin: jsonl-writer, config: {{ path: {name}.jsonl }} }}\n"
    );
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, yaml).unwrap();
    let spec = JobSpec::from_path(&file).unwrap();
    let plan = plan::compile(spec, &file, &PlanOptions::default(), repo, runtime)
        .await
        .unwrap();
    let t = Instant::now();
    let report = launch(&plan, repo, runtime, &Quiet).await.unwrap();
    let d = t.elapsed();
    assert_eq!(report.execution.status.to_string(), "COMPLETED");
    d
}

fn rate(n: usize, d: Duration) -> String {
    format!(
        "{:>12.0} items/s  ({:.2} s)",
        n as f64 / d.as_secs_f64(),
        d.as_secs_f64()
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo test --all-targets` runs bench binaries once as a smoke test; only `cargo bench`
    // (which passes `--bench`) runs the measurement.
    if !std::env::args().any(|a| a == "--bench") {
        println!("member_migration: run with `make bench` (cargo bench) to measure");
        return;
    }
    let rows: usize = std::env::var("BENCH_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    write_csv(&dir.path().join("members.csv"), rows);
    let repo = SqlRepository::connect(&format!("sqlite:{}", dir.path().join("bench.db").display()))
        .await
        .unwrap();
    let runtime = PluginRuntime::new().unwrap();
    for p in ["csv-reader", "member-processor", "jsonl-writer"] {
        register(&repo, &runtime, p).await;
    }
    println!("member-migration, {rows} rows, chunk 1000, SQLite repository\n");

    // 1. Whole job, Wasm processor.
    let wasm = run_job(dir.path(), &repo, &runtime, "wasm", true).await;
    println!("job, Wasm processor:                 {}", rate(rows, wasm));

    // 2. Whole job without processor + the same processing natively.
    let copy = run_job(dir.path(), &repo, &runtime, "copy", false).await;
    let lines = std::fs::read_to_string(dir.path().join("copy.jsonl")).unwrap();
    let mut native =
        member_processor::MemberProcessor::init(&batch_sdk::Setup::for_test(serde_json::json!({})))
            .unwrap();
    let t = Instant::now();
    let mut out = 0usize;
    for line in lines.lines() {
        let item = batch_sdk::Raw(line.as_bytes().to_vec());
        let normalised = native.process(item).unwrap().unwrap();
        out += normalised.0.len();
    }
    let native_processing = t.elapsed();
    assert!(out > 0);
    println!(
        "job, native processing in the host:  {}",
        rate(rows, copy + native_processing)
    );
    println!(
        "   (job without processor {:.2} s + native processing {:.2} s)",
        copy.as_secs_f64(),
        native_processing.as_secs_f64()
    );

    // 3. Call shape: per item vs batched.
    let items: Vec<Vec<u8>> = lines.lines().map(|l| l.as_bytes().to_vec()).collect();
    let plan_proc = repo
        .find_plugin("member-processor", None)
        .await
        .unwrap()
        .unwrap();
    let stored = repo
        .plugin_artifact(&plan_proc.digest, runtime.engine_hash())
        .await
        .unwrap()
        .unwrap();
    let prepared = runtime
        .load(
            &plan_proc.digest,
            &stored.artifact,
            &stored.seal,
            batch_host::plugin::Role::Processor,
        )
        .unwrap();
    let grant = Grant::open(dir.path(), dir.path()).unwrap();
    let interrupt = Interrupt::default();
    let sandbox = runtime.sandbox(
        &grant,
        false,
        "bench/processor".into(),
        Default::default(),
        &interrupt,
    );
    let setup = Setup {
        config: serde_json::json!({}),
        params: Default::default(),
        job_name: "bench".into(),
        step_name: "bench".into(),
    };
    let mut p = ProcessorInstance::new(&prepared, &sandbox).await.unwrap();
    p.init(&setup).await.unwrap();
    let t = Instant::now();
    for item in &items {
        p.process(item).await.unwrap();
    }
    let per_item = t.elapsed();
    let mut p = ProcessorInstance::new(&prepared, &sandbox).await.unwrap();
    p.init(&setup).await.unwrap();
    let t = Instant::now();
    for chunk in items.chunks(1000) {
        p.process_batch(chunk).await.unwrap();
    }
    let batched = t.elapsed();
    println!(
        "processor, one call per item:        {}",
        rate(rows, per_item)
    );
    println!(
        "processor, one call per 1000 items:  {}",
        rate(rows, batched)
    );

    let reader_rec = repo.find_plugin("csv-reader", None).await.unwrap().unwrap();
    let stored = repo
        .plugin_artifact(&reader_rec.digest, runtime.engine_hash())
        .await
        .unwrap()
        .unwrap();
    let prepared = runtime
        .load(
            &reader_rec.digest,
            &stored.artifact,
            &stored.seal,
            batch_host::plugin::Role::Reader,
        )
        .unwrap();
    let rsetup = Setup {
        config: serde_json::json!({"path": "members.csv"}),
        ..setup.clone()
    };
    let mut r = ReaderInstance::new(&prepared, &sandbox).await.unwrap();
    r.init(&rsetup).await.unwrap();
    r.open(&Default::default()).await.unwrap();
    let t = Instant::now();
    let mut n = 0;
    while r.read().await.unwrap().is_some() {
        n += 1;
    }
    let read_one = t.elapsed();
    assert_eq!(n, rows);
    let mut r = ReaderInstance::new(&prepared, &sandbox).await.unwrap();
    r.init(&rsetup).await.unwrap();
    r.open(&Default::default()).await.unwrap();
    let t = Instant::now();
    let mut n = 0;
    loop {
        let b = r.read_batch(1000).await.unwrap();
        n += b.outcomes.len();
        if b.end || b.outcomes.is_empty() {
            break;
        }
    }
    let read_batched = t.elapsed();
    assert_eq!(n, rows);
    println!(
        "reader, one call per item:           {}",
        rate(rows, read_one)
    );
    println!(
        "reader, one call per 1000 items:     {}",
        rate(rows, read_batched)
    );

    // 4. Instantiation: what a step start (or an instance recycled after a trap) costs, with
    //    wasmtime's on-demand allocator and with the pooling allocator the CLI uses.
    const N: u32 = 2_000;
    let pooled = PluginRuntime::with_options(RuntimeOptions {
        fuel: false,
        pool: Some(PoolSize {
            instances: 8,
            max_memory: 256 << 20,
        }),
        artifact_key: None,
    })
    .unwrap();
    for (name, rt) in [("on demand", &runtime), ("pooled", &pooled)] {
        let wasm = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/components/member-processor.wasm"),
        )
        .unwrap();
        let prepared = rt.compile(&wasm).unwrap().prepared;
        let sandbox = rt.sandbox(
            &grant,
            false,
            "bench/instantiate".into(),
            Default::default(),
            &interrupt,
        );
        let t = Instant::now();
        for _ in 0..N {
            let mut p = ProcessorInstance::new(&prepared, &sandbox).await.unwrap();
            p.init(&setup).await.unwrap();
        }
        let each = t.elapsed() / N;
        println!(
            "instantiate + init a processor, {name}: {:>6.1} µs",
            each.as_secs_f64() * 1e6
        );
    }
    repo.close().await;
}
