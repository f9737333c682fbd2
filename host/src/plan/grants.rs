//! `plan` → grants: the directory a step's plugins may see, resolved inside the work
//! directory, and never one that holds the host's repository, key or configuration.

use std::path::{Path, PathBuf};

use super::Protected;
use super::diagnostics::Collector;
use crate::spec::{Spanned, location};

/// Refuses a grant that holds one of the host's protected files.
pub(super) fn check_protected(
    granted: &Path,
    protected: &[Protected],
    at: (u64, u64),
    field: String,
    c: &mut Collector<'_>,
) {
    for p in protected {
        let target = match p.folder {
            true => p.path.parent().unwrap_or(&p.path),
            false => &p.path,
        };
        if lexically_resolved(target).starts_with(granted) {
            c.push(
                at,
                field.clone(),
                format!(
                    "{} lies inside `{}`, the directory this step grants its plugins: a plugin could read or change it",
                    p.what,
                    granted.display()
                ),
                Some(p.hint.clone()),
            );
        }
    }
}

/// `path` made absolute with symlinks resolved as far as it exists (a file that is not there
/// yet — a repository about to be created — is judged by its folder).
pub(super) fn lexically_resolved(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            return rest.iter().rev().fold(real, |acc, part| acc.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

/// Resolves a step's `directory` inside the work directory.
pub(super) fn plan_directory(
    dir: &Spanned<String>,
    workdir: Option<&Path>,
    field: &str,
    c: &mut Collector<'_>,
) -> Option<PathBuf> {
    let workdir = workdir?;
    let full = workdir.join(&dir.value);
    match std::fs::canonicalize(&full) {
        Ok(p) if p.is_dir() && p.starts_with(workdir) => Some(p),
        Ok(p) if p.is_dir() => {
            c.push(
                location(dir),
                field.to_owned(),
                format!("`{}` is outside the work directory", dir.value),
                Some(format!(
                    "a step may only be granted a folder inside `{}`",
                    workdir.display()
                )),
            );
            None
        }
        _ => {
            c.push(
                location(dir),
                field.to_owned(),
                format!("directory `{}` does not exist", full.display()),
                Some("create it first; it is relative to the job's work directory".into()),
            );
            None
        }
    }
}
