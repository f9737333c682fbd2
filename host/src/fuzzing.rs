//! Fuzzing entry points: the properties behind the cargo-fuzz targets in `fuzz/` (`make fuzz`)
//! and behind the seed-corpus test that `make test` runs. Each takes arbitrary bytes; a panic is
//! a finding — either in the code under test or a broken property asserted here.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::domain::{ExecutionContext, JobParameter, split_param};
use crate::plan::{PlanFailure, PlanOptions, compile};
use crate::plugin::PluginRuntime;
use crate::repository::SqlRepository;
use crate::spec::{JobSpec, SpecError};

/// Inputs longer than this are cut: job files are small, and long inputs only slow the search.
const MAX_INPUT: usize = 64 * 1024;

/// What planning needs, made once per process: a runtime, a registry and a work directory.
struct Planner {
    rt: tokio::runtime::Runtime,
    repo: SqlRepository,
    plugins: PluginRuntime,
    dir: PathBuf,
}

fn planner() -> &'static Planner {
    static PLANNER: OnceLock<Planner> = OnceLock::new();
    PLANNER.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("batch-host-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the fuzzing work directory");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let url = format!("sqlite:{}", dir.join("repo.db").display());
        let repo = rt
            .block_on(SqlRepository::connect(&url))
            .expect("a SQLite repository for fuzzing");
        let plugins = PluginRuntime::new().expect("a plugin runtime");
        Planner {
            rt,
            repo,
            plugins,
            dir,
        }
    })
}

/// Every diagnostic points inside the document (line 0: unknown).
fn check_lines(text: &str, line: u64, what: &str) {
    let lines = text.lines().count() as u64 + 1;
    assert!(
        line <= lines,
        "{what} at line {line} of a {lines}-line file"
    );
}

/// job.yaml parsing and planning: any text parses or fails with a located diagnostic, and any
/// parsed job plans or fails with located problems — never a panic or a hang.
pub fn job_yaml(data: &[u8]) {
    let text = String::from_utf8_lossy(&data[..data.len().min(MAX_INPUT)]);
    let p = planner();
    let file = p.dir.join("job.yaml");
    let spec = match JobSpec::from_str(&text, Path::new("job.yaml")) {
        Ok(spec) => spec,
        Err(SpecError::Parse(d)) => return check_lines(&text, d.line, "a parse error"),
        Err(e) => return assert!(!e.to_string().is_empty()),
    };
    let options = PlanOptions {
        workdir: Some(p.dir.clone()),
        ..PlanOptions::default()
    };
    match p
        .rt
        .block_on(compile(spec, &file, &options, &p.repo, &p.plugins))
    {
        Ok(_) => {}
        Err(PlanFailure::Invalid(e)) => {
            assert!(!e.problems.is_empty(), "an invalid plan names its problems");
            for d in &e.problems {
                check_lines(&text, d.line, "a plan problem");
            }
        }
        Err(PlanFailure::Repository(e)) => panic!("the fuzzing repository failed: {e}"),
    }
}

/// `--param name=value[,type[,identifying]]`: parsing never panics, and a parsed parameter
/// reads back the same from its canonical notation.
pub fn param(data: &[u8]) {
    let text = String::from_utf8_lossy(&data[..data.len().min(MAX_INPUT)]);
    let Ok((name, notation)) = split_param(&text) else {
        return;
    };
    let Ok(p) = JobParameter::parse_notation(&name, &notation) else {
        return;
    };
    let canonical = format!("{},{},{}", p.value, p.kind.java_class(), p.identifying);
    let again = JobParameter::parse_notation(&name, &canonical)
        .unwrap_or_else(|e| panic!("`{canonical}` (from `{notation}`) does not parse: {e}"));
    assert_eq!(
        again, p,
        "`{notation}` and its canonical form `{canonical}` differ"
    );
    let _ = p.java_to_string();
}

/// The stored ExecutionContext decoder (Spring's Jackson shape): any text decodes or fails,
/// and a decoded context survives a write and a read unchanged.
pub fn context(data: &[u8]) {
    let text = String::from_utf8_lossy(&data[..data.len().min(MAX_INPUT)]);
    let Ok(ctx) = ExecutionContext::from_jackson_json(&text) else {
        return;
    };
    let written = ctx.to_jackson_json();
    let back = ExecutionContext::from_jackson_json(&written)
        .unwrap_or_else(|e| panic!("our own context JSON does not read back: {e}: {written}"));
    assert_eq!(
        back, ctx,
        "the context changed on a write and read: {written}"
    );
}

#[cfg(test)]
mod tests {
    /// The committed seed corpus of every fuzz target runs clean (the fuzzers themselves run in
    /// `make fuzz`).
    #[test]
    fn the_seed_corpora_run_clean() {
        let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds");
        type Check = fn(&[u8]);
        let targets: [(&str, Check); 3] = [
            ("job_yaml", super::job_yaml),
            ("param", super::param),
            ("context", super::context),
        ];
        for (target, check) in targets {
            let dir = seeds.join(target);
            let mut n = 0;
            for entry in
                std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            {
                let path = entry.unwrap().path();
                check(&std::fs::read(&path).unwrap());
                n += 1;
            }
            assert!(n >= 3, "{target}: only {n} seeds in {}", dir.display());
        }
    }
}
