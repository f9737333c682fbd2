//! `domain`: a plugin's error, a dotted kind and a message.

use std::fmt;

/// A plugin's error: a dotted kind (`validation.email`) and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    /// The dotted kind, most general part first.
    pub kind: String,
    /// The explanation.
    pub message: String,
}

impl ItemError {
    /// An error of `kind`.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        ItemError {
            kind: kind.into(),
            message: message.into(),
        }
    }

    /// True when a rule for `rule` applies to this error: the kind equals `rule` or is one of
    /// its sub-kinds (`validation` matches `validation.email`, not `validations`).
    pub fn is_kind_of(&self, rule: &str) -> bool {
        self.kind == rule
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
