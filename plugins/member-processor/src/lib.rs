//! `member-processor`: validates and normalises a member record, the classic member-migration
//! example of the batch world.
//!
//! Every string field is trimmed; the email is lowercased and must look like
//! `local@domain.tld`, otherwise the item fails with kind `validation.email`. Required fields
//! (config `required`, default `["id", "email"]`) must be present and non-empty
//! (`validation.required`). `country` is uppercased, `first_name`/`last_name` get a capital
//! initial. Config: `email-field` (default `email`), `required`.

use std::borrow::Cow;
use std::fmt;

use batch_sdk::{Error, ItemProcessor, Raw, Setup};
use serde::Deserialize;
use serde::de::{MapAccess, Visitor};

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

/// The bytes allowed in an email's local part besides ASCII letters and digits.
const LOCAL_SPECIALS: &[u8] = b"!#$%&'*+-/=?^_`{|}~.";

/// Which bytes may appear in an email's local part: a table, so the check is one load per byte.
const LOCAL_OK: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    while i < LOCAL_SPECIALS.len() {
        table[LOCAL_SPECIALS[i] as usize] = true;
        i += 1;
    }
    table
};

/// True when `email` has the shape `local@domain.tld` with no spaces and one `@`.
pub fn is_valid_email(email: &str) -> bool {
    let bytes = email.as_bytes();
    let Some(at) = bytes.iter().position(|&b| b == b'@') else {
        return false;
    };
    let (local, domain) = (&bytes[..at], &bytes[at + 1..]);
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local[0] != b'.'
        && local[local.len() - 1] != b'.'
        && !local.windows(2).any(|w| w == b"..")
        && local.iter().all(|&b| LOCAL_OK[b as usize]);
    if !local_ok {
        return false;
    }
    // The domain's labels in one pass, without collecting them.
    let (mut labels, mut tld): (usize, &[u8]) = (0, &[]);
    for label in domain.split(|&b| b == b'.') {
        let label_ok = !label.is_empty()
            && label[0] != b'-'
            && label[label.len() - 1] != b'-'
            && label
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'-');
        if !label_ok {
            return false;
        }
        labels += 1;
        tld = label;
    }
    labels >= 2 && tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic)
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

/// One field value: a string (borrowed from the input when it holds no escapes), or any other
/// JSON value, kept as its JSON text.
#[derive(Debug, PartialEq)]
enum Field<'a> {
    Str(Cow<'a, str>),
    Other(Cow<'a, str>),
}

impl<'de> Deserialize<'de> for Field<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Any;
        impl<'de> Visitor<'de> for Any {
            type Value = Field<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Field<'de>, E> {
                Ok(Field::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Field<'de>, E> {
                Ok(Field::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Field<'de>, E> {
                Ok(Field::Str(Cow::Owned(v)))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Field<'de>, E> {
                Ok(Field::Other(Cow::Borrowed(if v {
                    "true"
                } else {
                    "false"
                })))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Field<'de>, E> {
                Ok(Field::Other(Cow::Owned(v.to_string())))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Field<'de>, E> {
                Ok(Field::Other(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Field<'de>, E> {
                let n = serde_json::Number::from_f64(v);
                Ok(Field::Other(Cow::Owned(
                    n.map_or_else(|| "null".to_owned(), |n| n.to_string()),
                )))
            }
            fn visit_unit<E>(self) -> Result<Field<'de>, E> {
                Ok(Field::Other(Cow::Borrowed("null")))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<Field<'de>, A::Error> {
                let v = serde_json::Value::deserialize(
                    serde::de::value::SeqAccessDeserializer::new(seq),
                )?;
                Ok(Field::Other(Cow::Owned(v.to_string())))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Field<'de>, A::Error> {
                let v = serde_json::Value::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(Field::Other(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_any(Any)
    }
}

/// A member record: its fields in input order, borrowed from the item's bytes.
#[derive(Debug, Default, PartialEq)]
pub struct Member<'a> {
    fields: Vec<(Cow<'a, str>, Field<'a>)>,
}

#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

impl<'de> Deserialize<'de> for Member<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = Member<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Member<'de>, A::Error> {
                let mut m = Member::default();
                while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
                    let value: Field<'de> = map.next_value()?;
                    // A repeated key keeps its first place and its last value, as a JSON map does.
                    match m.fields.iter_mut().find(|(k, _)| *k == key) {
                        Some(slot) => slot.1 = value,
                        None => m.fields.push((key, value)),
                    }
                }
                Ok(m)
            }
        }
        d.deserialize_map(Fields)
    }
}

impl<'a> Member<'a> {
    /// Parses a member from its JSON bytes, borrowing its strings.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        match Self::scan_flat(bytes) {
            Some(member) => Ok(member),
            None => Self::parse_general(bytes),
        }
    }

    /// Any JSON object, through serde_json.
    pub fn parse_general(bytes: &'a [u8]) -> Result<Self, Error> {
        serde_json::from_slice(bytes).map_err(|e| Error::new("item.decode", e.to_string()))
    }

    /// The common shape, read without a general parser: an object of string values holding no
    /// escapes and no whitespace between tokens, with distinct keys — what the built-in readers
    /// write. `None` for anything else, which [`Member::parse_general`] then reads (so both
    /// give the same member for every input this accepts).
    pub fn scan_flat(bytes: &'a [u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let b = text.as_bytes();
        // A plain string starting at `b[i] == '"'`: its text and the index after its closing quote.
        let string = |i: usize| -> Option<(&'a str, usize)> {
            if b.get(i) != Some(&b'"') {
                return None;
            }
            let len = b[i + 1..]
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
            let end = i + 1 + len;
            (b[end] == b'"').then(|| (&text[i + 1..end], end + 1))
        };
        if b.first() != Some(&b'{') {
            return None;
        }
        let mut member = Member {
            fields: Vec::with_capacity(4),
        };
        let mut i = 1;
        loop {
            let (key, after_key) = string(i)?;
            if b.get(after_key) != Some(&b':') {
                return None;
            }
            let (value, after_value) = string(after_key + 1)?;
            if member.fields.iter().any(|(k, _)| k == key) {
                return None;
            }
            member
                .fields
                .push((Cow::Borrowed(key), Field::Str(Cow::Borrowed(value))));
            match b.get(after_value) {
                Some(b',') => i = after_value + 1,
                Some(b'}') if after_value + 1 == b.len() => return Some(member),
                _ => return None,
            }
        }
    }

    fn get(&self, name: &str) -> Option<&Field<'a>> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    fn get_str(&mut self, name: &str) -> Option<&mut Cow<'a, str>> {
        self.fields.iter_mut().find_map(|(k, v)| match v {
            Field::Str(s) if k == name => Some(s),
            _ => None,
        })
    }

    /// Appends the member as JSON, fields in input order, to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.reserve(64 + 24 * self.fields.len());
        out.push(b'{');
        for (i, (k, v)) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(out, k);
            out.push(b':');
            match v {
                Field::Str(s) => write_str(out, s),
                Field::Other(json) => out.extend_from_slice(json.as_bytes()),
            }
        }
        out.push(b'}');
    }
}

/// Appends `s` as a JSON string: copied as it is when it needs no escape (the common case),
/// else escaped by serde_json.
fn write_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|c| c == b'"' || c == b'\\' || c < 0x20) {
        // Writing a JSON string to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

impl MemberProcessor {
    /// Normalises one record; the logic behind `process`, testable natively.
    pub fn normalise<'a>(&self, mut member: Member<'a>) -> Result<Member<'a>, Error> {
        for (_, value) in member.fields.iter_mut() {
            if let Field::Str(s) = value {
                // Most values start and end with a visible ASCII character: nothing to trim.
                let edge = |b: Option<&u8>| b.is_some_and(|&b| b <= b' ' || b >= 0x80);
                if !edge(s.as_bytes().first()) && !edge(s.as_bytes().last()) {
                    continue;
                }
                let trimmed = s.trim();
                if trimmed.len() != s.len() {
                    *s = Cow::Owned(trimmed.to_owned());
                }
            }
        }
        for field in &self.config.required {
            let present = match member.get(field) {
                Some(Field::Str(s)) => !s.is_empty(),
                Some(Field::Other(json)) => json != "null",
                None => false,
            };
            if !present {
                return Err(Error::validation(
                    "required",
                    format!("field `{field}` is missing or empty"),
                ));
            }
        }
        if let Some(email) = member.get_str(&self.config.email_field) {
            if !email.is_ascii() {
                *email = Cow::Owned(email.to_lowercase());
            } else if email.bytes().any(|b| b.is_ascii_uppercase()) {
                *email = Cow::Owned(email.to_ascii_lowercase());
            }
            if !is_valid_email(email) {
                let email = email.to_string();
                // The id, as JSON, only for the message of an invalid member.
                let id = match member.get("id") {
                    Some(Field::Str(s)) => serde_json::to_string(s.as_ref()).unwrap_or_default(),
                    Some(Field::Other(json)) => json.to_string(),
                    None => String::new(),
                };
                return Err(Error::validation(
                    "email",
                    format!("member {id}: invalid email `{email}`"),
                ));
            }
        }
        if let Some(country) = member.get_str("country") {
            *country = Cow::Owned(country.to_uppercase());
        }
        for name in ["first_name", "last_name"] {
            if let Some(s) = member.get_str(name) {
                *s = Cow::Owned(capitalise(s));
            }
        }
        Ok(member)
    }
}

impl ItemProcessor for MemberProcessor {
    // Raw bytes in and out: the member is parsed with strings borrowed from the input and
    // written straight into the output, without building a JSON tree.
    type In = Raw;
    type Out = Raw;

    fn init(setup: &Setup) -> Result<Self, Error> {
        Ok(MemberProcessor {
            config: setup.config()?,
        })
    }

    fn process(&mut self, item: Raw) -> Result<Option<Raw>, Error> {
        let mut out = Vec::new();
        self.process_bytes(&item.0, &mut out)?;
        Ok(Some(Raw(out)))
    }

    // The block call's path: parsed from the chunk's buffer, written into the outputs' buffer.
    fn process_bytes(&mut self, item: &[u8], out: &mut Vec<u8>) -> Result<bool, Error> {
        self.normalise(Member::parse(item)?)?.write_json(out);
        Ok(true)
    }
}

batch_sdk::export_processor!(MemberProcessor);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn processor() -> MemberProcessor {
        MemberProcessor::init(&Setup::for_test(json!({}))).unwrap()
    }

    /// Runs `process` on `item` and parses what comes out.
    fn run(item: Value) -> Result<Value, Error> {
        let out = processor()
            .process(Raw(item.to_string().into_bytes()))?
            .unwrap();
        Ok(serde_json::from_slice(&out.0).unwrap())
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
        let m = json!({"id": "7", "email": "  Ann.Lee@Example.COM ", "first_name": " aNN", "country": "de", "n": 3, "tags": ["x"]});
        assert_eq!(
            run(m).unwrap(),
            json!({"id": "7", "email": "ann.lee@example.com", "first_name": "Ann", "country": "DE", "n": 3, "tags": ["x"]})
        );
        // Key order is kept, escapes survive the round trip.
        let out = processor()
            .process(Raw(br#"{"z":"a\"b","id":"1","email":"a@b.co"}"#.to_vec()))
            .unwrap()
            .unwrap();
        assert_eq!(out.0, br#"{"z":"a\"b","id":"1","email":"a@b.co"}"#);
    }

    /// The flat scanner reads exactly what serde_json reads, or leaves the input to it.
    #[test]
    fn flat_scan_agrees_with_the_general_parser() {
        let inputs: &[&[u8]] = &[
            br#"{"id":"1","name":"Ann","email":"a@b.co"}"#,
            br#"{"id":"1","name":"  Lee, Ann ","email":"A.B@C.DE"}"#,
            br#"{"a":""}"#,
            br#"{"id":"\u00e9","email":"a@b.co"}"#,
            br#"{"id":"1","id":"2","email":"a@b.co"}"#,
            br#"{"id": "1","email":"a@b.co"}"#,
            br#"{"id":"1","email":"a@b.co"} "#,
            br#"{"id":"1","email":"a@b.co"}x"#,
            br#"{"id":"1","email":"a@b.co",}"#,
            br#"{"id":"1","email":"a@b.co""#,
            br#"{"id":"1","email":"a\"b@c.de"}"#,
            br#"{"id":1,"email":"a@b.co"}"#,
            br#"{}"#,
            br#"[]"#,
            br#""#,
            br#"{"id":"1","email":"x"}{"#,
            "{\"id\":\"caf\u{e9}\",\"email\":\"\u{c9}T\u{c9}@b.co\",\"country\":\"de\"}".as_bytes(),
            b"{\"id\":\"1\",\"email\":\"a\tb@c.de\"}",
            b"{\"id\":\"\xff\",\"email\":\"a@b.co\"}",
        ];
        let mut scanned = 0;
        for input in inputs {
            let general = Member::parse_general(input);
            let Some(flat) = Member::scan_flat(input) else {
                continue;
            };
            scanned += 1;
            let text = String::from_utf8_lossy(input);
            assert_eq!(Some(&flat), general.as_ref().ok(), "{text}");
            let p = processor();
            let (a, b) = (p.normalise(flat), p.normalise(general.unwrap()));
            assert_eq!(a.is_ok(), b.is_ok(), "{text}");
            if let (Ok(a), Ok(b)) = (a, b) {
                let (mut x, mut y) = (Vec::new(), Vec::new());
                a.write_json(&mut x);
                b.write_json(&mut y);
                assert_eq!(x, y, "{text}");
            }
        }
        assert_eq!(scanned, 4, "the plain inputs take the fast path");
    }

    #[test]
    fn invalid_email_is_a_validation_error() {
        let err = run(json!({"id": "9", "email": "not-an-email"})).unwrap_err();
        assert_eq!(err.kind, "validation.email");
        assert!(err.message.contains("member \"9\""), "{}", err.message);
    }

    #[test]
    fn missing_required_field() {
        let err = run(json!({"email": "a@b.co"})).unwrap_err();
        assert_eq!(err.kind, "validation.required");
        let err = run(json!({"id": null, "email": "a@b.co"})).unwrap_err();
        assert_eq!(err.kind, "validation.required");
    }
}
