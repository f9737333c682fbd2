//! Authenticated precompiled code. The host loads native code (`Component::deserialize`) only
//! from artifacts sealed with its artifact key: an HMAC-SHA256 over the component digest, the
//! engine configuration, the world and the artifact bytes. Whoever can write the repository but
//! does not hold the key (a plugin that reached a repository file, a database user) cannot plant
//! code the host will run: a seal that does not verify means "compile again from the component".
//!
//! The key is 32 random bytes in a file the host creates with mode 0600, by default in the
//! host's home directory (never inside a directory granted to plugins; the plan checks that).
//! Hosts that share one repository (PostgreSQL) share precompiled code only when they share the
//! key file; otherwise each keeps its own artifacts, told apart by the key's id.

use std::fmt;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hmac::{KeyInit as _, Mac as _};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

const KEY_BYTES: usize = 32;

/// Why the artifact key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file exists but cannot be read.
    #[error("cannot read the artifact key `{}`: {source}", path.display())]
    Read {
        /// The key file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a key this host wrote.
    #[error("the artifact key `{}` is not {KEY_BYTES} bytes long; delete it to have a new one made (precompiled code is then compiled again)", path.display())]
    Malformed {
        /// The key file.
        path: PathBuf,
    },
    /// Others may read or write the file.
    #[error("the artifact key `{}` is readable or writable by other users (mode {mode:o}); run `chmod 600 {}`", path.display(), path.display())]
    Exposed {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A new key could not be written.
    #[error("cannot create the artifact key `{}`: {source}", path.display())]
    Create {
        /// The key file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The key that seals precompiled artifacts (cheap to clone; its bytes are never printed).
#[derive(Clone)]
pub struct ArtifactKey {
    key: Arc<[u8; KEY_BYTES]>,
    id: Arc<str>,
}

impl fmt::Debug for ArtifactKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ArtifactKey(id {})", self.id)
    }
}

impl ArtifactKey {
    /// Reads the key at `path`, or creates one there (mode 0600, its folder 0700) when there is
    /// none.
    pub fn load_or_create(path: &Path) -> Result<ArtifactKey, KeyError> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let mode = std::fs::metadata(path)
                    .map(|m| m.permissions().mode())
                    .unwrap_or(0);
                if mode & 0o077 != 0 {
                    return Err(KeyError::Exposed {
                        path: path.to_path_buf(),
                        mode: mode & 0o777,
                    });
                }
                let key: [u8; KEY_BYTES] = bytes.try_into().map_err(|_| KeyError::Malformed {
                    path: path.to_path_buf(),
                })?;
                Ok(ArtifactKey::from_bytes(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::create(path),
            Err(source) => Err(KeyError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    fn create(path: &Path) -> Result<ArtifactKey, KeyError> {
        let err = |source| KeyError::Create {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(err)?;
        }
        let mut key = [0u8; KEY_BYTES];
        getrandom::fill(&mut key).map_err(|e| err(std::io::Error::other(e.to_string())))?;
        // `create_new`: two hosts starting at once do not overwrite each other's key.
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(mut file) => {
                file.write_all(&key).map_err(err)?;
                file.sync_all().map_err(err)?;
                Ok(ArtifactKey::from_bytes(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::load_or_create(path),
            Err(e) => Err(err(e)),
        }
    }

    /// A key that lives only as long as this process (precompiled code it seals is useless to
    /// any other process, so it is compiled again there).
    pub fn ephemeral() -> ArtifactKey {
        let mut key = [0u8; KEY_BYTES];
        // Without randomness, a fixed key would be guessable; abort instead.
        getrandom::fill(&mut key).expect("the operating system's random number generator");
        ArtifactKey::from_bytes(key)
    }

    fn from_bytes(key: [u8; KEY_BYTES]) -> ArtifactKey {
        let mut mac = HmacSha256::new_from_slice(&key).expect("HMAC takes keys of any length");
        mac.update(b"batch-host artifact key id");
        let id = hex::encode(&mac.finalize().into_bytes()[..8]);
        ArtifactKey {
            key: Arc::new(key),
            id: id.into(),
        }
    }

    /// A public name of the key (it tells keys apart, and reveals nothing of them).
    pub fn id(&self) -> &str {
        &self.id
    }

    fn mac(&self, digest: &str, engine: &str, world: &str, artifact: &[u8]) -> HmacSha256 {
        let mut mac =
            HmacSha256::new_from_slice(&self.key[..]).expect("HMAC takes keys of any length");
        for part in [digest.as_bytes(), engine.as_bytes(), world.as_bytes()] {
            mac.update(&(part.len() as u64).to_le_bytes());
            mac.update(part);
        }
        mac.update(artifact);
        mac
    }

    /// The seal of an artifact, hex.
    pub fn seal(&self, digest: &str, engine: &str, world: &str, artifact: &[u8]) -> String {
        hex::encode(
            self.mac(digest, engine, world, artifact)
                .finalize()
                .into_bytes(),
        )
    }

    /// True when `seal` is this key's seal of the artifact (compared in constant time).
    pub fn verify(
        &self,
        digest: &str,
        engine: &str,
        world: &str,
        artifact: &[u8],
        seal: &str,
    ) -> bool {
        let Ok(tag) = hex::decode(seal) else {
            return false;
        };
        self.mac(digest, engine, world, artifact)
            .verify_slice(&tag)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_verify_only_unchanged_artifacts_under_the_same_key() {
        let k = ArtifactKey::ephemeral();
        let seal = k.seal("d", "e", "processor", b"native code");
        assert!(k.verify("d", "e", "processor", b"native code", &seal));
        assert!(!k.verify("d", "e", "processor", b"native codf", &seal));
        assert!(!k.verify("d", "e", "reader", b"native code", &seal));
        assert!(!k.verify("d", "e", "processor", b"native code", "00"));
        assert!(!k.verify("d", "e", "processor", b"native code", "not hex"));
        let other = ArtifactKey::ephemeral();
        assert!(!other.verify("d", "e", "processor", b"native code", &seal));
        assert_ne!(k.id(), other.id());
    }

    #[test]
    fn the_key_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("home/artifact.key");
        let a = ArtifactKey::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = ArtifactKey::load_or_create(&path).unwrap();
        assert_eq!(a.id(), b.id());

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = ArtifactKey::load_or_create(&path).unwrap_err();
        assert!(e.to_string().contains("chmod 600"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, b"short").unwrap();
        let e = ArtifactKey::load_or_create(&path).unwrap_err();
        assert!(e.to_string().contains("not 32 bytes"), "{e}");
    }
}
