//! Guest-controlled text: the one place that bounds and neutralises every string a plugin hands
//! the host (error kinds and messages, exit codes and descriptions, decider answers, log
//! records, stdout lines, trap messages) before anything stores, logs or prints it.
//!
//! Neutralised text has no control characters at all — C0 (newline, carriage return, escape,
//! bell, …), DEL, C1 (which some terminals read as escape sequences) and the invisible Unicode
//! format characters used to reorder or hide text (bidirectional overrides, zero-width
//! characters, line and paragraph separators). Each is written as a visible escape (`\n`,
//! `\u{1b}`, `\u{202e}`), so a plugin can neither forge log lines nor drive a terminal, and the
//! text is bounded in characters to fit the column it is stored in.

/// Where a guest string goes; each destination has its own length bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestField {
    /// An exit code set by a plugin, or a decider's answer (an exit code to route on).
    ExitCode,
    /// An exit description (Spring's `EXIT_MESSAGE`, `VARCHAR(2500)`).
    ExitDescription,
    /// An error kind (`BH_SKIPPED_ITEM.KIND`, `VARCHAR(200)`).
    ErrorKind,
    /// An error or trap message (`BH_SKIPPED_ITEM.MESSAGE` and `EXIT_MESSAGE`, `VARCHAR(2500)`).
    ErrorMessage,
    /// One log record or output line of a plugin.
    LogLine,
    /// The name of a structured field of a log record.
    LogFieldName,
}

impl GuestField {
    /// The largest number of characters text for this destination may have.
    pub fn max_chars(self) -> usize {
        match self {
            GuestField::ExitCode => EXIT_CODE_CHARS,
            GuestField::ExitDescription | GuestField::ErrorMessage => MESSAGE_CHARS,
            GuestField::ErrorKind => KIND_CHARS,
            GuestField::LogLine => 8 << 10,
            GuestField::LogFieldName => 64,
        }
    }
}

/// Longest exit code (a code is an identifier such as `COMPLETED WITH SKIPS`; Spring's own codes
/// are far shorter).
pub const EXIT_CODE_CHARS: usize = 100;
/// Width of Spring's `EXIT_MESSAGE` and of the dead-letter `MESSAGE` column.
pub const MESSAGE_CHARS: usize = 2500;
/// Width of the dead-letter `KIND` column.
pub const KIND_CHARS: usize = 200;

/// `text` made safe for every destination and bounded for `field`.
pub fn neutralise(text: &str, field: GuestField) -> String {
    bounded(text, text.len(), false, field.max_chars(), true)
}

/// [`neutralise`] for bytes that may not be UTF-8 (invalid sequences become `\u{fffd}`).
pub fn neutralise_bytes(bytes: &[u8], field: GuestField) -> String {
    // Look at no more than the bound could ever need (a character is at most 4 bytes).
    let window = &bytes[..bytes.len().min(field.max_chars() * 4)];
    bounded(
        &String::from_utf8_lossy(window),
        bytes.len(),
        window.len() < bytes.len(),
        field.max_chars(),
        true,
    )
}

/// `text` cut to at most `max_chars` characters (with a note saying how long it was); control
/// characters are kept. For host-composed text that must fit a column.
pub fn fit(text: &str, max_chars: usize) -> String {
    bounded(text, text.len(), false, max_chars, false)
}

/// True when `c` must not reach a terminal, a log line or a column as it is.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        )
}

fn truncation_note(total_bytes: usize) -> String {
    format!("… [truncated; {total_bytes} bytes in all]")
}

/// The first characters of `text` (escaped when `escape`) that fit `max_chars`; when they do not
/// all fit, or `more` says the caller cut `text` already, as many as leave room for a note
/// giving the original size, `total_bytes`.
fn bounded(text: &str, total_bytes: usize, more: bool, max_chars: usize, escape: bool) -> String {
    let note = truncation_note(total_bytes);
    let note_chars = note.chars().count();
    let mut out = String::with_capacity(text.len().min(max_chars * 2));
    let mut chars = 0usize;
    // The length of `out` up to which the note still fits after it.
    let mut cut = 0usize;
    for c in text.chars() {
        let start = out.len();
        if escape && is_unsafe_char(c) {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            }
        } else {
            out.push(c);
        }
        chars += out[start..].chars().count();
        if chars + note_chars <= max_chars {
            cut = out.len();
        }
        if chars > max_chars {
            return with_note(out, cut, &note, note_chars, max_chars);
        }
    }
    if more {
        return with_note(out, cut, &note, note_chars, max_chars);
    }
    out
}

fn with_note(mut out: String, cut: usize, note: &str, note_chars: usize, max: usize) -> String {
    out.truncate(cut);
    if note_chars <= max {
        out.push_str(note);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_format_characters_are_escaped() {
        let evil = "ok\x1b]0;pwned\x07\r\nFAKE LINE\u{202e}txt.exe\u{9b}31m\x7f";
        let out = neutralise(evil, GuestField::ErrorMessage);
        assert!(!out.chars().any(is_unsafe_char), "{out:?}");
        assert_eq!(
            out,
            "ok\\u{1b}]0;pwned\\u{7}\\r\\nFAKE LINE\\u{202e}txt.exe\\u{9b}31m\\u{7f}"
        );
    }

    #[test]
    fn plain_text_is_unchanged() {
        let text = "validation.email: `bob@@x` is not an e-mail address (Zoë, 東京)";
        assert_eq!(neutralise(text, GuestField::ErrorMessage), text);
    }

    #[test]
    fn long_text_is_bounded_with_a_note() {
        let long = "é".repeat(20 << 20);
        for field in [
            GuestField::ExitCode,
            GuestField::ErrorKind,
            GuestField::ErrorMessage,
            GuestField::LogLine,
            GuestField::LogFieldName,
        ] {
            let out = neutralise(&long, field);
            assert!(out.chars().count() <= field.max_chars(), "{field:?}");
            assert!(out.ends_with("bytes in all]"), "{field:?}: {out}");
            assert!(out.contains(&(long.len()).to_string()));
        }
        let escapes = "\x1b".repeat(10_000);
        let out = neutralise(&escapes, GuestField::ExitCode);
        assert!(out.chars().count() <= EXIT_CODE_CHARS);
        assert!(out.starts_with("\\u{1b}\\u{1b}"));
    }

    #[test]
    fn text_of_exactly_the_bound_is_kept_whole() {
        let exact = "x".repeat(EXIT_CODE_CHARS);
        assert_eq!(neutralise(&exact, GuestField::ExitCode), exact);
        let over = "x".repeat(EXIT_CODE_CHARS + 1);
        let out = neutralise(&over, GuestField::ExitCode);
        assert!(out.chars().count() <= EXIT_CODE_CHARS);
        assert!(out.contains("truncated"));
    }

    #[test]
    fn bytes_are_read_only_as_far_as_the_bound_needs() {
        let mut bytes = b"\xff\xfe bad utf-8 ".to_vec();
        bytes.extend(std::iter::repeat_n(b'a', 30 << 20));
        let out = neutralise_bytes(&bytes, GuestField::ErrorMessage);
        assert!(out.starts_with("\u{fffd}\u{fffd} bad utf-8"));
        assert!(out.chars().count() <= MESSAGE_CHARS);
        assert!(out.contains(&bytes.len().to_string()), "{out}");
    }

    #[test]
    fn fit_keeps_host_text_but_bounds_it() {
        assert_eq!(fit("a\nb", 10), "a\nb");
        let out = fit(&"y".repeat(3000), MESSAGE_CHARS);
        assert!(out.chars().count() <= MESSAGE_CHARS);
        assert!(out.ends_with("bytes in all]"));
    }
}
