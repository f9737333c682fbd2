//! `spec` → line endings: a lone carriage return (an old Mac line ending) is a line break to
//! YAML but not to an editor, so job.yaml refuses it where it is; every other diagnostic's line
//! number is then the line an editor shows.

use std::path::Path;

use super::Diagnostic;

/// The diagnostic for the first `\r` not followed by `\n` in `text`, if there is one.
pub(super) fn lone_carriage_return(text: &str, path: &Path) -> Option<Diagnostic> {
    let bytes = text.as_bytes();
    let at = memchr::memchr_iter(b'\r', bytes).find(|&i| bytes.get(i + 1) != Some(&b'\n'))?;
    let before = &text[..at];
    Some(Diagnostic {
        file: path.to_path_buf(),
        line: before.matches('\n').count() as u64 + 1,
        column: before.rsplit('\n').next().unwrap_or("").chars().count() as u64 + 1,
        field: String::new(),
        message: "a carriage return without a line feed (an old Mac line ending)".into(),
        hint: Some(
            "save the file with LF or CRLF line endings (`mac2unix FILE` converts it)".into(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::super::{JobSpec, SpecError};
    use std::path::Path;

    #[test]
    fn a_lone_carriage_return_is_refused_where_it_is() {
        let text = "name: j\r\nsteps:\n  - name: a\r    tasklet: { plugin: t }\n";
        let Err(SpecError::Parse(d)) = JobSpec::from_str(text, Path::new("job.yaml")) else {
            panic!("a lone CR parses");
        };
        assert_eq!((d.line, d.column), (3, 12), "{d}");
        assert!(
            d.message.contains("carriage return without a line feed"),
            "{d}"
        );
        assert!(d.hint.unwrap().contains("mac2unix"));
        // CRLF line endings are fine.
        let crlf = "name: j\r\nsteps:\r\n  - name: a\r\n    tasklet: { plugin: t }\r\n";
        assert!(JobSpec::from_str(crlf, Path::new("job.yaml")).is_ok());
    }
}
