//! Directory grants: the one directory a step's plugins may see, opened when the step starts,
//! beneath the work directory and without following a symbolic link at any component.
//!
//! A grant is checked at plan time and opened here, later; between the two, a plugin of an
//! earlier step may have renamed the granted folder and put a symlink pointing outside in its
//! place. `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` refuses that at the moment of opening,
//! and every plugin instance of the step is then given that one open directory (through its
//! `/proc/self/fd` entry, which names the opened directory itself, not a path to resolve again).

use std::fmt;
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Why a grant could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the step's directory grant `{shown}` cannot be opened safely: {reason}")]
pub struct GrantError {
    shown: String,
    reason: String,
}

/// An open directory granted to a step's plugins (cheap to clone).
#[derive(Clone)]
pub struct Grant {
    fd: Arc<OwnedFd>,
    shown: Arc<str>,
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Grant({})", self.shown)
    }
}

impl Grant {
    /// Opens `dir` (the work directory itself, or a directory inside it) for a step.
    ///
    /// `workdir` is the operator's choice and trusted; every component of `dir` below it must be
    /// a real directory: a symlink anywhere, `..`, or a path leading outside is refused.
    pub fn open(workdir: &Path, dir: &Path) -> Result<Grant, GrantError> {
        let shown = dir
            .strip_prefix(workdir)
            .map(|rel| {
                if rel.as_os_str().is_empty() {
                    ".".to_owned()
                } else {
                    rel.display().to_string()
                }
            })
            .unwrap_or_else(|_| dir.display().to_string());
        let error = |reason: String| GrantError {
            shown: shown.clone(),
            reason,
        };
        let flags = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC;
        let root = rustix::fs::open(workdir, flags, Mode::empty()).map_err(|e| {
            error(format!(
                "the work directory `{}` cannot be opened: {e}",
                workdir.display()
            ))
        })?;
        let rel = dir.strip_prefix(workdir).map_err(|_| {
            error(format!(
                "it is not inside the work directory `{}`",
                workdir.display()
            ))
        })?;
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(error("it is not a plain relative path".into()));
        }
        let fd = if rel.as_os_str().is_empty() {
            root
        } else {
            rustix::fs::openat2(
                &root,
                rel,
                flags,
                Mode::empty(),
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
            )
            .map_err(|e| error(describe(e)))?
        };
        Ok(Grant {
            fd: Arc::new(fd),
            shown: shown.as_str().into(),
        })
    }

    /// A path naming exactly the opened directory, for APIs that take a path.
    pub(super) fn fd_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }

    /// The grant as job.yaml names it (relative to the work directory).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Opens the file `rel` (a plain relative path) inside the grant for reading. As for a
    /// plugin's own opens, a symbolic link may be followed only while it stays inside the grant.
    pub fn open_read(&self, rel: &Path) -> std::io::Result<std::fs::File> {
        let fd = rustix::fs::openat2(
            &*self.fd,
            rel,
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
        )?;
        Ok(fd.into())
    }

    /// Opens (creating it if missing) the file `rel` inside the grant for reading and writing,
    /// creating its missing folders first; a folder on the way may not be a symbolic link.
    pub fn open_write(&self, rel: &Path) -> std::io::Result<std::fs::File> {
        let dir_flags = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC;
        let beneath = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
        let mut dir = rustix::fs::openat2(&*self.fd, ".", dir_flags, Mode::empty(), beneath)?;
        let parent = rel.parent().unwrap_or(Path::new(""));
        for name in parent.components() {
            match rustix::fs::mkdirat(&dir, name.as_os_str(), Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            }
            dir = rustix::fs::openat2(
                &dir,
                name.as_os_str(),
                dir_flags,
                Mode::empty(),
                beneath | ResolveFlags::NO_SYMLINKS,
            )?;
        }
        let name = rel.file_name().ok_or(Errno::ISDIR)?;
        let fd = rustix::fs::openat2(
            &dir,
            name,
            OFlags::RDWR | OFlags::CREATE | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
            beneath,
        )?;
        Ok(fd.into())
    }
}

impl Grant {
    /// The names of the regular files in the folder `rel` (a plain relative path; empty: the
    /// grant itself), sorted; a folder on the way may not be a symbolic link.
    pub fn list_files(&self, rel: &Path) -> std::io::Result<Vec<String>> {
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        let dir = rustix::fs::openat2(
            &*self.fd,
            rel,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        )?;
        let mut names = Vec::new();
        for entry in rustix::fs::Dir::read_from(&dir)? {
            let entry = entry?;
            if entry.file_type() == rustix::fs::FileType::RegularFile
                && let Ok(name) = entry.file_name().to_str()
            {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }
}

/// Why a file inside a grant could not be opened, in the host's words.
pub fn describe_open_error(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match (e.raw_os_error().map(Errno::from_raw_os_error), e.kind()) {
        (Some(Errno::XDEV), _) => "it leads outside the step's directory".into(),
        (Some(Errno::LOOP), _) => "a folder on the way to it is a symbolic link".into(),
        (Some(Errno::ISDIR), _) => "it is a directory".into(),
        (Some(Errno::NOTDIR), _) => "a folder on the way to it is a file".into(),
        (Some(Errno::ROFS), _) => "the file system is read-only".into(),
        (_, ErrorKind::NotFound) => "it does not exist in the step's directory".into(),
        (_, ErrorKind::PermissionDenied) => "permission denied".into(),
        _ => {
            let text = e.to_string();
            match text.find(" (os error") {
                Some(i) => text[..i].to_owned(),
                None => text,
            }
        }
    }
}

fn describe(e: Errno) -> String {
    match e {
        Errno::LOOP => "it, or a folder on the way to it, is a symbolic link (a plugin of an earlier step may have replaced the directory); restore a real directory there, then restart".into(),
        Errno::XDEV => "the path leads outside the work directory".into(),
        Errno::NOENT => "it does not exist (a plugin of an earlier step may have moved it); create it, then restart".into(),
        Errno::NOTDIR => "it is not a directory".into(),
        Errno::NOSYS => "this kernel has no openat2 (Linux 5.6 or later is required for directory grants)".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_subdirectory_opens_and_a_symlink_anywhere_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let work = tmp.path().join("work");
        std::fs::create_dir_all(work.join("data/inner")).unwrap();
        std::fs::create_dir_all(tmp.path().join("outside")).unwrap();
        std::fs::write(tmp.path().join("outside/secret.txt"), "s").unwrap();

        let g = Grant::open(&work, &work.join("data/inner")).unwrap();
        assert_eq!(g.shown(), "data/inner");
        assert!(std::fs::read_dir(g.fd_path()).is_ok());
        assert_eq!(Grant::open(&work, &work).unwrap().shown(), ".");

        // The swap: the granted folder is renamed and a relative symlink put in its place.
        std::fs::rename(work.join("data"), work.join("data.orig")).unwrap();
        std::os::unix::fs::symlink("../outside", work.join("data")).unwrap();
        let e = Grant::open(&work, &work.join("data")).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        // A symlink on the way to the grant, not only at its end.
        std::os::unix::fs::symlink("data.orig", work.join("via")).unwrap();
        let e = Grant::open(&work, &work.join("via/inner")).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        let e = Grant::open(&work, &work.join("missing")).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        let e = Grant::open(&work, &tmp.path().join("outside")).unwrap_err();
        assert!(
            e.to_string().contains("not inside the work directory"),
            "{e}"
        );
    }
}
