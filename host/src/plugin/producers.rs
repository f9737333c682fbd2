//! `plugin` → producers: which language and toolchain built a component, read from the
//! `producers` custom sections of the component and the modules inside it (what `plugin
//! inspect` shows). Best effort: a component without such sections says nothing.

use std::collections::BTreeSet;

/// What the producers sections say, deduplicated: `language`, `processed-by` and `sdk` entries
/// as `name version`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Producers {
    /// The source languages (`Rust`, `C11`).
    pub language: BTreeSet<String>,
    /// The tools that transformed the code (`componentize-py 0.25.1`, `wit-component 0.2`).
    pub processed_by: BTreeSet<String>,
    /// The SDKs linked in (`wit-bindgen 0.61.1`).
    pub sdk: BTreeSet<String>,
    /// The CPython a componentize-py component embeds (`3.14`), told by the names of its
    /// dynamically linked modules (`libpython3.14.so`, `libcomponentize_py_runtime.so`), as
    /// componentize-py writes no producers entry of its own.
    pub python: Option<String>,
}

/// The CPython version of a componentize-py component, if `wasm` is one.
fn componentize_py(wasm: &[u8]) -> Option<String> {
    memchr::memmem::find(wasm, b"libcomponentize_py_runtime.so")?;
    let at = memchr::memmem::find(wasm, b"libpython3.")? + "libpython".len();
    let version: String = wasm[at..]
        .iter()
        .take(8)
        .take_while(|b| b.is_ascii_digit() || **b == b'.')
        .map(|b| char::from(*b))
        .collect();
    Some(version.trim_end_matches('.').to_owned())
}

/// Bounds a guest-controlled name for display: printable, at most 80 characters.
fn clean(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(80)
        .collect::<String>()
        .trim()
        .to_owned()
}

impl Producers {
    /// Reads every producers section of `wasm`; a malformed one is skipped.
    pub fn of(wasm: &[u8]) -> Producers {
        let mut out = Producers::default();
        for payload in wasmparser::Parser::new(0).parse_all(wasm) {
            let Ok(wasmparser::Payload::CustomSection(section)) = payload else {
                continue;
            };
            let wasmparser::KnownCustom::Producers(reader) = section.as_known() else {
                continue;
            };
            for field in reader.into_iter().flatten() {
                let set = match field.name {
                    "language" => &mut out.language,
                    "processed-by" => &mut out.processed_by,
                    "sdk" => &mut out.sdk,
                    _ => continue,
                };
                for value in field.values.into_iter().flatten() {
                    // Keep the listing small whatever a component carries.
                    if set.len() < 16 {
                        set.insert(clean(&format!("{} {}", value.name, value.version)));
                    }
                }
            }
        }
        out.python = componentize_py(wasm);
        out
    }

    /// The language the plugin was written in, with the tool that made it a component, when
    /// the component tells: `Python 3.14 (componentize-py)`, `JavaScript (ComponentizeJS
    /// 0.23.0)`, `Rust (rustc 1.87.0)`.
    pub fn summary(&self) -> Option<String> {
        let tool = |prefix: &str| {
            self.processed_by
                .iter()
                .chain(&self.sdk)
                .find(|p| p.starts_with(prefix))
                .cloned()
        };
        if let Some(version) = &self.python {
            return Some(format!("Python {version} (componentize-py)"));
        }
        if let Some(t) = tool("componentize-js").or_else(|| tool("ComponentizeJS")) {
            return Some(format!("JavaScript ({t})"));
        }
        if self.language.iter().any(|l| l.starts_with("Rust")) {
            let rustc = tool("rustc");
            return Some(match rustc {
                Some(r) => format!("Rust ({r})"),
                None => "Rust".to_owned(),
            });
        }
        self.language.iter().next().cloned()
    }
}
