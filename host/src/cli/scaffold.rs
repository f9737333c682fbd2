//! `cli` → `plugin new`: writes a complete plugin project — manifest, a small working plugin of
//! the chosen role, a README, and a sample job with its input that run as they are.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::{CliError, CliResult, exit};
use crate::domain::Role;

/// The languages `plugin new` writes projects for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum Lang {
    /// Rust with batch-sdk (built by `plugin build` for wasm32-wasip2).
    Rust,
    /// Python with componentize-py.
    Python,
    /// JavaScript with componentize-js.
    Js,
}

/// The roles a project can play (a partitioner is written by hand; see docs/partitioning.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum NewRole {
    /// Produces items (Spring's ItemReader), with a restartable checkpoint.
    Reader,
    /// Transforms, filters or fails items (ItemProcessor).
    Processor,
    /// Writes chunks of items (ItemWriter), with a restartable checkpoint.
    Writer,
    /// A step of its own, called until it reports FINISHED (Tasklet).
    Tasklet,
    /// Chooses where the flow goes next (JobExecutionDecider).
    Decider,
}

impl NewRole {
    fn role(self) -> Role {
        match self {
            NewRole::Reader => Role::Reader,
            NewRole::Processor => Role::Processor,
            NewRole::Writer => Role::Writer,
            NewRole::Tasklet => Role::Tasklet,
            NewRole::Decider => Role::Decider,
        }
    }

    /// The plugin source of the Rust template.
    fn rust_source(self) -> &'static str {
        match self {
            NewRole::Reader => include_str!("templates/reader.rs"),
            NewRole::Processor => include_str!("templates/processor.rs"),
            NewRole::Writer => include_str!("templates/writer.rs"),
            NewRole::Tasklet => include_str!("templates/tasklet.rs"),
            NewRole::Decider => include_str!("templates/decider.rs"),
        }
    }

    /// The plugin source of the Python template.
    fn python_source(self) -> &'static str {
        match self {
            NewRole::Reader => include_str!("templates/python/reader.py"),
            NewRole::Processor => include_str!("templates/python/processor.py"),
            NewRole::Writer => include_str!("templates/python/writer.py"),
            NewRole::Tasklet => include_str!("templates/python/tasklet.py"),
            NewRole::Decider => include_str!("templates/python/decider.py"),
        }
    }

    /// The plugin source of the JavaScript template.
    fn js_source(self) -> &'static str {
        match self {
            NewRole::Reader => include_str!("templates/js/reader.js"),
            NewRole::Processor => include_str!("templates/js/processor.js"),
            NewRole::Writer => include_str!("templates/js/writer.js"),
            NewRole::Tasklet => include_str!("templates/js/tasklet.js"),
            NewRole::Decider => include_str!("templates/js/decider.js"),
        }
    }

    /// A job that runs the plugin on the sample input as it is.
    fn sample_job(self, name: &str, lang: Lang) -> String {
        let steps = match (self, lang) {
            // componentize-js has no file system API: the JavaScript writer logs its chunks and
            // the JavaScript tasklet counts its calls instead of writing a file.
            (NewRole::Writer, Lang::Js) => format!(
                "  - name: write\n    chunk:\n      size: 2\n      reader: {{ builtin: csv, config: {{ path: input.csv }} }}\n      writer: {{ plugin: {name}, config: {{ label: members }} }}\n"
            ),
            (NewRole::Tasklet, Lang::Js) => format!(
                "  - name: work\n    tasklet: {{ plugin: {name}, config: {{ times: 3 }} }}\n"
            ),
            _ => return self.file_sample_job(name),
        };
        format!("name: {name}-sample\nsteps:\n{steps}")
    }

    /// The sample job of the templates that read and write files.
    fn file_sample_job(self, name: &str) -> String {
        let steps = match self {
            NewRole::Reader => format!(
                "  - name: read\n    chunk:\n      size: 4\n      reader: {{ plugin: {name}, config: {{ count: 10 }} }}\n      writer: {{ builtin: jsonl, config: {{ path: out.jsonl }} }}\n"
            ),
            NewRole::Processor => format!(
                "  - name: process\n    chunk:\n      size: 2\n      reader: {{ builtin: csv, config: {{ path: input.csv }} }}\n      processor: {{ plugin: {name}, config: {{ field: name }} }}\n      writer: {{ builtin: jsonl, config: {{ path: out.jsonl }} }}\n      fault-tolerance: {{ skip: {{ kinds: [validation], limit: 10 }} }}\n"
            ),
            NewRole::Writer => format!(
                "  - name: write\n    chunk:\n      size: 2\n      reader: {{ builtin: csv, config: {{ path: input.csv }} }}\n      writer: {{ plugin: {name}, config: {{ path: out.jsonl }} }}\n"
            ),
            NewRole::Tasklet => format!(
                "  - name: work\n    tasklet: {{ plugin: {name}, config: {{ path: done.txt, text: finished }} }}\n"
            ),
            NewRole::Decider => format!(
                "  - name: load\n    chunk:\n      size: 2\n      reader: {{ builtin: csv, config: {{ path: input.csv }} }}\n      writer: {{ builtin: jsonl, config: {{ path: out.jsonl }} }}\n  - name: route\n    decider: {{ plugin: {name}, config: {{ threshold: 3 }} }}\n    next:\n      - {{ on: BIG, end: COMPLETED, exit-code: BIG }}\n      - {{ on: SMALL, end: COMPLETED, exit-code: SMALL }}\n"
            ),
        };
        format!("name: {name}-sample\nsteps:\n{steps}")
    }

    /// What the sample job leaves behind, for the README.
    fn sample_result(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (NewRole::Writer, Lang::Js) => {
                "the log shows one record per chunk (3 chunks, 5 members)"
            }
            (NewRole::Tasklet, Lang::Js) => {
                "the step completes after 3 calls; its exit message says `called 3 times`"
            }
            _ => self.file_sample_result(),
        }
    }

    fn file_sample_result(self) -> &'static str {
        match self {
            NewRole::Reader => "`out.jsonl` holds items 1 to 10",
            NewRole::Processor => {
                "`out.jsonl` holds 4 members with upper-cased names; the one without a name is skipped (`batch-host skipped 1` shows it with its bytes)"
            }
            NewRole::Writer => "`out.jsonl` holds the 5 members of `input.csv`",
            NewRole::Tasklet => "`done.txt` says `finished`",
            NewRole::Decider => "the job ends with exit code `BIG` (5 members read)",
        }
    }
}

const SAMPLE_CSV: &str = "id,name\n1,ada\n2,grace\n3,\n4,edsger\n5,barbara\n";

/// `batch-host plugin new NAME --role ROLE [--lang rust] [DIR]`.
#[derive(Debug, Args)]
pub(super) struct NewCommand {
    /// The plugin's name (its crate name and its registry name): letters, digits and `-`.
    #[arg(value_name = "NAME")]
    name: String,
    /// The role it plays in a job.
    #[arg(long, value_enum)]
    role: NewRole,
    /// The language of the project.
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    lang: Lang,
    /// The batch-sdk crate to depend on (default: the SDK of the source tree this batch-host
    /// was built from).
    #[arg(long, value_name = "DIR")]
    sdk: Option<PathBuf>,
    /// Where to write the project (default: ./NAME); it must not exist or be empty.
    #[arg(value_name = "DIR")]
    dir: Option<PathBuf>,
}

impl NewCommand {
    pub(super) fn execute(self) -> CliResult {
        let valid = !self.name.is_empty()
            && self.name.len() <= 64
            && self.name.starts_with(|c: char| c.is_ascii_lowercase())
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid {
            return Err(CliError::invalid(format!(
                "`{}` is not a plugin name; use 1-64 lowercase letters, digits and `-`, starting with a letter (e.g. `member-check`)",
                self.name
            )));
        }
        if self.sdk.is_some() && self.lang != Lang::Rust {
            return Err(CliError::invalid(
                "--sdk names the batch-sdk crate of a Rust project; Python and JavaScript projects build with the SDK this batch-host carries",
            ));
        }
        let dir = self
            .dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(&self.name));
        if dir.exists()
            && std::fs::read_dir(&dir)
                .map(|mut d| d.next().is_some())
                .unwrap_or(true)
        {
            return Err(CliError::invalid(format!(
                "`{}` already exists and is not empty; choose another directory",
                dir.display()
            )));
        }
        let role = self.role.role().world();
        let files = self.files(role, &dir)?;
        for (rel, text) in &files {
            let path = dir.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| write_error(parent, e))?;
            }
            std::fs::write(&path, text).map_err(|e| write_error(&path, e))?;
        }
        println!(
            "wrote the {role} plugin `{}` in {}/ ({})",
            self.name,
            dir.display(),
            match self.lang {
                Lang::Rust => "Rust, batch-sdk",
                Lang::Python => "Python, componentize-py",
                Lang::Js => "JavaScript, componentize-js",
            }
        );
        println!(
            "next: cd {} && batch-host plugin build --register && batch-host run job.yaml",
            dir.display()
        );
        Ok(exit::OK)
    }

    /// The project's files, by path inside it.
    fn files(&self, role: &str, dir: &Path) -> Result<Vec<(&'static str, String)>, CliError> {
        let fill = |t: &str| t.replace("__NAME__", &self.name).replace("__ROLE__", role);
        let mut files = match self.lang {
            Lang::Rust => {
                let sdk = self.sdk_dir()?;
                let sdk = sdk.to_string_lossy();
                vec![
                    (
                        "Cargo.toml",
                        fill(include_str!("templates/Cargo.toml.tmpl")).replace("__SDK__", &sdk),
                    ),
                    ("src/lib.rs", fill(self.role.rust_source())),
                    (".gitignore", "/target\n/*.wasm\n".to_owned()),
                ]
            }
            Lang::Python => vec![
                (
                    "pyproject.toml",
                    fill(include_str!("templates/python/pyproject.toml.tmpl")),
                ),
                ("app.py", fill(self.role.python_source())),
                (
                    ".gitignore",
                    "/*.wasm\n/*.wasm.inputs\n__pycache__/\n".to_owned(),
                ),
            ],
            Lang::Js => vec![
                (
                    "package.json",
                    fill(include_str!("templates/js/package.json.tmpl")),
                ),
                ("plugin.js", fill(self.role.js_source())),
                (
                    ".gitignore",
                    "/*.wasm\n/*.wasm.inputs\nnode_modules/\n".to_owned(),
                ),
            ],
        };
        files.push(("job.yaml", self.role.sample_job(&self.name, self.lang)));
        files.push(("input.csv", SAMPLE_CSV.to_owned()));
        files.push(("README.md", self.readme(dir)));
        Ok(files)
    }

    /// The SDK to depend on: `--sdk`, or the source tree's `sdk/` next to this binary's crate.
    fn sdk_dir(&self) -> Result<PathBuf, CliError> {
        let dir = match &self.sdk {
            Some(d) => d.clone(),
            None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk"),
        };
        let manifest = dir.join("Cargo.toml");
        match std::fs::read_to_string(&manifest) {
            Ok(text) if text.contains("name = \"batch-sdk\"") => dir
                .canonicalize()
                .map_err(|e| CliError::invalid(format!("{}: {e}", dir.display()))),
            _ => Err(CliError::invalid(format!(
                "no batch-sdk crate at `{}`; pass --sdk DIR pointing at the `sdk/` folder of a batch-host source tree",
                dir.display()
            ))),
        }
    }

    fn readme(&self, dir: &Path) -> String {
        let role = self.role.role().world();
        let (source, how, edit) = match self.lang {
            Lang::Rust => (
                "src/lib.rs",
                "wasm32-wasip2, with rustup's target or Debian's Rust",
                "The plugin's `config` in `job.yaml` is deserialized into `Config`; unknown fields are\nrefused so typos do not pass silently.",
            ),
            Lang::Python => (
                "app.py",
                "componentize-py, installed on first use",
                "The plugin subclasses a role of the Python SDK (`batch_sdk`); `setup.config_fields(...)`\nfills in defaults and refuses unknown config keys. Items are JSON values (`raw_items = True`\nfor bytes). The component embeds CPython (about 18 MB); registering it compiles it once.",
            ),
            Lang::Js => (
                "plugin.js",
                "componentize-js and rolldown, installed on first use",
                "The plugin extends a role of the JavaScript SDK (`batch-sdk`, bundled in at build time);\n`setup.configFields({...})` fills in defaults and refuses unknown config keys. Items are JSON\nvalues (`static rawItems = true` for bytes). componentize-js has no file system API: read and\nwrite files with the host's built-in readers and writers. The component embeds a JavaScript\nengine (about 12 MB); registering it compiles it once.",
            ),
        };
        format!(
            "# {name}\n\nA batch-host {role} plugin, written by `batch-host plugin new`.\n\n```sh\ncd {dir}\nbatch-host plugin build --register   # builds {name}.wasm ({how}) and registers it\nbatch-host validate job.yaml\nbatch-host run job.yaml               # {result}\nbatch-host executions                 # what ran, in the Spring Batch tables\n```\n\nEdit `{source}`, then build and register again (an unchanged plugin rebuilds in about a\nsecond). A failed run restarts from its last committed chunk with the same `batch-host run`\ncommand. {edit} Errors carry a dotted kind (`validation.missing`) that the job's\n`fault-tolerance` rules can skip or retry.\n",
            name = self.name,
            dir = dir.display(),
            result = self.role.sample_result(self.lang),
        )
    }
}

fn write_error(path: &Path, e: std::io::Error) -> CliError {
    CliError::invalid(format!("cannot write `{}`: {e}", path.display()))
}
