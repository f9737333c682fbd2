//! `registry` → name: the one reading of how users name a registered plugin — `NAME`,
//! `NAME@VERSION` or `NAME@sha256:HEX` (12 or more hex digits of its component's digest).

use std::fmt;

/// Which registration of a name is meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// The most recently registered version.
    Latest,
    /// This version.
    Version(String),
    /// The registration whose component digest starts with these hex digits.
    Digest(String),
}

/// A plugin as a job, or the command line, names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginName {
    /// The registered name.
    pub name: String,
    /// Which of its registrations.
    pub selector: Selector,
}

/// The shortest digest prefix accepted in `NAME@sha256:HEX`.
pub const MIN_DIGEST_PREFIX: usize = 12;

/// Why a plugin name cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Nothing before the `@`.
    #[error("`{0}` has no plugin name before `@`")]
    NoName(String),
    /// Nothing after the `@`.
    #[error("`{0}` has no version after `@`; write `NAME`, `NAME@VERSION` or `NAME@sha256:HEX`")]
    NoVersion(String),
    /// A digest prefix that is too short or not hex.
    #[error(
        "`{0}`: a digest pin needs at least {MIN_DIGEST_PREFIX} hex digits after `sha256:` (`batch-host plugin list` shows them)"
    )]
    BadDigest(String),
}

impl PluginName {
    /// Reads `NAME`, `NAME@VERSION` or `NAME@sha256:HEX`.
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let (name, selector) = match text.split_once('@') {
            None => (text, Selector::Latest),
            Some((name, rest)) => match rest.strip_prefix("sha256:") {
                Some(hex) => {
                    let hex = hex.to_ascii_lowercase();
                    if hex.len() < MIN_DIGEST_PREFIX || !hex.chars().all(|c| c.is_ascii_hexdigit())
                    {
                        return Err(NameError::BadDigest(text.to_owned()));
                    }
                    (name, Selector::Digest(hex))
                }
                None if rest.is_empty() => return Err(NameError::NoVersion(text.to_owned())),
                None => (name, Selector::Version(rest.to_owned())),
            },
        };
        if name.is_empty() {
            return Err(NameError::NoName(text.to_owned()));
        }
        Ok(PluginName {
            name: name.to_owned(),
            selector,
        })
    }

    /// The version, when one is named.
    pub fn version(&self) -> Option<&str> {
        match &self.selector {
            Selector::Version(v) => Some(v),
            _ => None,
        }
    }
}

impl fmt::Display for PluginName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.selector {
            Selector::Latest => f.write_str(&self.name),
            Selector::Version(v) => write!(f, "{}@{v}", self.name),
            Selector::Digest(d) => write!(f, "{}@sha256:{d}", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_three_forms() {
        let latest = PluginName::parse("csv-reader").unwrap();
        assert_eq!(latest.selector, Selector::Latest);
        let v = PluginName::parse("csv-reader@1.2.0").unwrap();
        assert_eq!(v.version(), Some("1.2.0"));
        assert_eq!(v.to_string(), "csv-reader@1.2.0");
        let d = PluginName::parse("csv-reader@sha256:ABCDEF012345aa").unwrap();
        assert_eq!(d.selector, Selector::Digest("abcdef012345aa".into()));
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert!(matches!(
            PluginName::parse("@1.0"),
            Err(NameError::NoName(_))
        ));
        assert!(matches!(
            PluginName::parse("x@"),
            Err(NameError::NoVersion(_))
        ));
        assert!(matches!(
            PluginName::parse("x@sha256:abc"),
            Err(NameError::BadDigest(_))
        ));
        assert!(matches!(
            PluginName::parse("x@sha256:zzzzzzzzzzzzzz"),
            Err(NameError::BadDigest(_))
        ));
    }
}
