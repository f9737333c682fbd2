//! `domain`: a plugin's error, a dotted kind and a message.

use std::fmt;

/// A plugin's error: a dotted kind (`validation.email`) and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    /// The dotted kind, most general part first.
    pub kind: String,
    /// The explanation.
    pub message: String,
    /// A read error's record as it was in the input (a built-in reader's malformed line), kept
    /// with the skip so nothing is lost.
    pub raw: Option<Vec<u8>>,
}

impl ItemError {
    /// An error of `kind`.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        ItemError {
            kind: kind.into(),
            message: message.into(),
            raw: None,
        }
    }

    /// The same error, carrying the input record it is about.
    pub fn with_raw(mut self, raw: Vec<u8>) -> Self {
        self.raw = Some(raw);
        self
    }

    /// True when a rule for `rule` applies to this error: the kind equals `rule` or is one of
    /// its sub-kinds (`validation` matches `validation.email`, not `validations`). The rule `*`
    /// applies to every error.
    pub fn is_kind_of(&self, rule: &str) -> bool {
        rule == "*"
            || self.kind == rule
            || (self.kind.starts_with(rule) && self.kind.as_bytes().get(rule.len()) == Some(&b'.'))
    }
}

impl fmt::Display for ItemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_kinds() {
        let e = ItemError::new("validation.email", "x");
        assert!(e.is_kind_of("validation"));
        assert!(e.is_kind_of("validation.email"));
        assert!(!e.is_kind_of("validation.email.mx"));
        assert!(!ItemError::new("validations", "x").is_kind_of("validation"));
    }
}
