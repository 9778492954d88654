//! Output escaping by context, and the one allow-list sanitiser for fields that must hold HTML.
//!
//! Input is validated, never mangled; it is escaped when written into a page. Which function
//! fits which place:
//!
//! | where the text goes | use |
//! | --- | --- |
//! | element content: `<p>HERE</p>` | [`html_escape`] |
//! | a quoted attribute value: `<input value="HERE">` | [`html_escape`] (or [`html_attr_escape`]) |
//! | an unquoted attribute value (avoid): `<td class=HERE>` | [`html_attr_escape`] |
//! | a field that must keep some markup | [`sanitize_rich_html`] |
//!
//! Neither escape makes untrusted text safe inside `<script>`, `<style>`, an event-handler
//! attribute (`onclick`), or as a URL (`href`, `src`): a `javascript:` URL contains nothing
//! to escape. Do not put untrusted text there; pass data to scripts in a JSON
//! `data-` attribute escaped with [`html_escape`].

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::LazyLock;

/// Escapes `&`, `<`, `>`, `"` and `'` (OWASP XSS Prevention Cheat Sheet, rule 1): safe for
/// element content and for attribute values in double or single quotes. Every other character
/// is kept, so the escaped text displays exactly as the input.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut start = 0;
    for (i, b) in text.bytes().enumerate() {
        let entity = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#x27;",
            _ => continue,
        };
        // `i` is at an ASCII byte, hence on a char boundary.
        out.push_str(&text[start..i]);
        out.push_str(entity);
        start = i + 1;
    }
    out.push_str(&text[start..]);
    out
}

/// Escapes every ASCII character except letters and digits, and every character below U+0100,
/// as `&#xHH;` (OWASP XSS Prevention Cheat Sheet, rule 2): safe even in an unquoted attribute
/// value, where a space, `=`, or backtick would otherwise end or extend the value.
pub fn html_attr_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || u32::from(c) >= 0x100 {
            out.push(c);
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "&#x{:X};", u32::from(c));
        }
    }
    out
}

/// The single sanitiser configuration. Allowed: basic text structure and emphasis, lists,
/// quotes, code, and links to `http`, `https` and `mailto` URLs only (absolute; relative and
/// protocol-relative links are dropped), which get `rel="noopener noreferrer nofollow"`. No
/// `class`, `style`, `id`, images, forms, frames or event attributes; comments are removed and
/// `<script>`/`<style>` are removed with their content.
static RICH_HTML: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let tags: HashSet<&str> =
        ["a", "b", "blockquote", "br", "code", "em", "i", "li", "ol", "p", "pre", "strong", "ul"]
            .into_iter()
            .collect();
    let mut builder = ammonia::Builder::empty();
    builder
        .tags(tags)
        .add_tag_attributes("a", ["href"])
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean_content_tags(["script", "style"].into_iter().collect())
        .strip_comments(true);
    builder
});

/// Sanitises untrusted HTML against the allow-list above (with `ammonia`, whose HTML5 parser
/// sees markup as a browser does). Use it only for fields that must hold markup; plain text
/// is escaped with [`html_escape`] instead.
pub fn sanitize_rich_html(html: &str) -> String {
    RICH_HTML.clean(html).to_string()
}

#[cfg(test)]
mod tests;
