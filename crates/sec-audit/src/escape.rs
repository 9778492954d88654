//! Field formatting for the human-readable log: every value is written with its control
//! characters escaped, so user-controlled text can neither start a new line (forging an entry)
//! nor send terminal escape sequences to whoever reads the log.
//!
//! JSON output needs none of this: serde_json escapes control characters itself.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

/// Writes `text` with CR, LF, tab, every other C0/C1 control character and DEL, and the
/// Unicode line separators and bidirectional overrides (which can make a line read differently
/// than it is stored) replaced by escapes: `\n`, `\r`, `\t`, `\u{1b}`, `\u{202e}`.
///
/// Backslashes are left as they are: a literal `\n` typed by a user stays on the same line, so
/// it cannot forge an entry, and paths stay readable.
pub fn escape_control(text: &str, out: &mut impl fmt::Write) -> fmt::Result {
    let mut rest = text;
    while let Some((at, ch)) = rest.char_indices().find(|&(_, c)| needs_escape(c)) {
        out.write_str(&rest[..at])?;
        match ch {
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            other => write!(out, "\\u{{{:x}}}", u32::from(other))?,
        }
        rest = &rest[at + ch.len_utf8()..];
    }
    out.write_str(rest)
}

/// True for the characters [`escape_control`] escapes: the C0 and C1 control characters, DEL,
/// the Unicode line separators and the bidirectional overrides. Code that shortens untrusted
/// text for a log field drops these (the CSP report endpoint), so the field is plain whichever
/// format writes it.
pub fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// `text` escaped as by [`escape_control`].
pub fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // Writing to a String cannot fail.
    let _ = escape_control(text, &mut out);
    out
}

/// The text formatter's field formatter: `message key=value key=value`, every part escaped.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct EscapedFields;

impl<'w> FormatFields<'w> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = EscapingVisitor { writer: &mut writer, first: true, result: Ok(()) };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct EscapingVisitor<'a, 'w> {
    writer: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl EscapingVisitor<'_, '_> {
    fn write(&mut self, field: &Field, value: &str) {
        if self.result.is_ok() {
            self.result = self.try_write(field, value);
        }
    }

    fn try_write(&mut self, field: &Field, value: &str) -> fmt::Result {
        if !self.first {
            self.writer.write_char(' ')?;
        }
        self.first = false;
        if field.name() != "message" {
            self.writer.write_str(field.name())?;
            self.writer.write_char('=')?;
        }
        escape_control(value, &mut *self.writer)
    }
}

impl Visit for EscapingVisitor<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.write(field, value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.write(field, &value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `log` crate records arrive with their metadata as fields; the text format shows them
        // through the event's own target and location instead.
        if field.name().starts_with("log.") {
            return;
        }
        self.write(field, &format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_and_terminal_escapes_become_visible_text() {
        let hostile = "bob\n{\"event\":\"LoginSucceeded\"}\r\x1b[2J\x1b]0;owned\x07\u{202e}txt.exe";
        let out = escaped(hostile);
        assert_eq!(
            out,
            "bob\\n{\"event\":\"LoginSucceeded\"}\\r\\u{1b}[2J\\u{1b}]0;owned\\u{7}\\u{202e}txt.exe"
        );
        assert!(!out.chars().any(needs_escape));
    }

    #[test]
    fn ordinary_text_is_unchanged() {
        for text in ["alice", "Zoë Ünïcødé 東京", "C:\\path\\n", "a=b \"q\""] {
            assert_eq!(escaped(text), text);
        }
    }
}
