//! `member-processor`: validates and normalises a member record, the classic member-migration
//! example of the batch world.
//!
//! Every string field is trimmed; the email is lowercased and must look like
//! `local@domain.tld`, otherwise the item fails with kind `validation.email`. Required fields
//! (config `required`, default `["id", "email"]`) must be present and non-empty
//! (`validation.required`). `country` is uppercased, `first_name`/`last_name` get a capital
//! initial. Config: `email-field` (default `email`), `required`.

use batch_sdk::{Error, ItemProcessor, Setup};
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Config {
    #[serde(default = "default_email_field")]
    email_field: String,
    #[serde(default = "default_required")]
    required: Vec<String>,
}

fn default_email_field() -> String {
    "email".into()
}

fn default_required() -> Vec<String> {
    vec!["id".into(), "email".into()]
}

/// The processor; holds only its configuration.
#[derive(Debug)]
pub struct MemberProcessor {
    config: Config,
}

/// True when `email` has the shape `local@domain.tld` with no spaces and one `@`.
pub fn is_valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    local_ok
        && labels.len() >= 2
        && labels.iter().all(|l| label_ok(l))
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()))
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

impl MemberProcessor {
    /// Normalises one record; the logic behind `process`, testable natively.
    pub fn normalise(&self, mut member: Map<String, Value>) -> Result<Map<String, Value>, Error> {
        for value in member.values_mut() {
            if let Value::String(s) = value {
                let trimmed = s.trim();
                if trimmed.len() != s.len() {
                    *s = trimmed.to_owned();
                }
            }
        }
        for field in &self.config.required {
            let present = match member.get(field) {
                Some(Value::String(s)) => !s.is_empty(),
                Some(Value::Null) | None => false,
                Some(_) => true,
            };
            if !present {
                return Err(Error::validation(
                    "required",
                    format!("field `{field}` is missing or empty"),
                ));
            }
        }
        let id = member.get("id").map(|v| v.to_string()).unwrap_or_default();
        if let Some(Value::String(email)) = member.get_mut(&self.config.email_field) {
            *email = email.to_lowercase();
            if !is_valid_email(email) {
                return Err(Error::validation(
                    "email",
                    format!("member {id}: invalid email `{email}`"),
                ));
            }
        }
        if let Some(Value::String(country)) = member.get_mut("country") {
            *country = country.to_uppercase();
        }
        for name in ["first_name", "last_name"] {
            if let Some(Value::String(s)) = member.get_mut(name) {
                *s = capitalise(s);
            }
        }
        Ok(member)
    }
}

impl ItemProcessor for MemberProcessor {
    type In = Map<String, Value>;
    type Out = Map<String, Value>;

    fn init(setup: &Setup) -> Result<Self, Error> {
        Ok(MemberProcessor {
            config: setup.config()?,
        })
    }

    fn process(&mut self, item: Self::In) -> Result<Option<Self::Out>, Error> {
        self.normalise(item).map(Some)
    }
}

batch_sdk::export_processor!(MemberProcessor);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn processor() -> MemberProcessor {
        MemberProcessor::init(&Setup::for_test(json!({}))).unwrap()
    }

    #[test]
    fn email_shapes() {
        for ok in ["a@b.co", "first.last+tag@example.org", "x_y@sub.domain.io"] {
            assert!(is_valid_email(ok), "{ok}");
        }
        for bad in [
            "",
            "a",
            "a@b",
            "@b.co",
            "a@@b.co",
            "a b@c.de",
            "a@b.c",
            "a@-b.com",
            ".a@b.co",
            "a..b@c.de",
            "a@b.c0m",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
    }

    #[test]
    fn normalises_a_member() {
        let m = json!({"id": "7", "email": "  Ann.Lee@Example.COM ", "first_name": " aNN", "country": "de"});
        let out = processor()
            .normalise(m.as_object().unwrap().clone())
            .unwrap();
        assert_eq!(
            Value::Object(out),
            json!({"id": "7", "email": "ann.lee@example.com", "first_name": "Ann", "country": "DE"})
        );
    }

    #[test]
    fn invalid_email_is_a_validation_error() {
        let m = json!({"id": "9", "email": "not-an-email"});
        let err = processor()
            .normalise(m.as_object().unwrap().clone())
            .unwrap_err();
        assert_eq!(err.kind, "validation.email");
        assert!(err.message.contains("member \"9\""), "{}", err.message);
    }

    #[test]
    fn missing_required_field() {
        let m = json!({"email": "a@b.co"});
        let err = processor()
            .normalise(m.as_object().unwrap().clone())
            .unwrap_err();
        assert_eq!(err.kind, "validation.required");
    }
}
