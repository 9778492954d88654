//! Tests for output escaping and the sanitiser, against payloads from the OWASP XSS Filter
//! Evasion Cheat Sheet.

use proptest::prelude::*;

use super::*;

/// Payloads from the OWASP XSS Filter Evasion Cheat Sheet (and its classic variants).
const OWASP_PAYLOADS: &[&str] = &[
    "<SCRIPT SRC=https://cdn.jsdelivr.net/gh/Moksh45/host-xss.rocks/index.js></SCRIPT>",
    "javascript:/*--></title></style></textarea></script></xmp><svg/onload='+/\"/+/onmouseover=1/+/[*/[]/+alert(1)//'>",
    "<IMG SRC=\"javascript:alert('XSS');\">",
    "<IMG SRC=javascript:alert('XSS')>",
    "<IMG SRC=JaVaScRiPt:alert('XSS')>",
    "<IMG SRC=javascript:alert(&quot;XSS&quot;)>",
    "<IMG SRC=`javascript:alert(\"RSnake says, 'XSS'\")`>",
    "<a onmouseover=\"alert(document.cookie)\">xxs link</a>",
    "<a onmouseover=alert(document.cookie)>xxs link</a>",
    "<IMG \"\"\"><SCRIPT>alert(\"XSS\")</SCRIPT>\"\\>",
    "<IMG SRC=javascript:alert(String.fromCharCode(88,83,83))>",
    "<IMG SRC=# onmouseover=\"alert('xxs')\">",
    "<IMG SRC= onmouseover=\"alert('xxs')\">",
    "<IMG onmouseover=\"alert('xxs')\">",
    "<IMG SRC=/ onerror=\"alert(String.fromCharCode(88,83,83))\"></img>",
    "<img src=x onerror=\"&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105&#0000112&#0000116&#0000058&#0000097&#0000108&#0000101&#0000114&#0000116&#0000040&#0000039&#0000088&#0000083&#0000083&#0000039&#0000041\">",
    "<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;&#97;&#108;&#101;&#114;&#116;&#40;&#39;&#88;&#83;&#83;&#39;&#41;>",
    "<IMG SRC=&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A&#x61&#x6C&#x65&#x72&#x74&#x28&#x27&#x58&#x53&#x53&#x27&#x29>",
    "<IMG SRC=\"jav\tascript:alert('XSS');\">",
    "<IMG SRC=\"jav&#x09;ascript:alert('XSS');\">",
    "<IMG SRC=\"jav&#x0A;ascript:alert('XSS');\">",
    "<IMG SRC=\" &#14;  javascript:alert('XSS');\">",
    "<SCRIPT/XSS SRC=\"http://xss.rocks/xss.js\"></SCRIPT>",
    "<BODY onload!#$%&()*~+-_.,:;?@[/|\\]^`=alert(\"XSS\")>",
    "<SCRIPT/SRC=\"http://xss.rocks/xss.js\"></SCRIPT>",
    "<<SCRIPT>alert(\"XSS\");//\\<</SCRIPT>",
    "<SCRIPT SRC=http://xss.rocks/xss.js?< B >",
    "<SCRIPT SRC=//xss.rocks/.j>",
    "<IMG SRC=\"`<javascript:alert>`('XSS')\"",
    "<iframe src=http://xss.rocks/scriptlet.html <",
    "\\\";alert('XSS');//",
    "</TITLE><SCRIPT>alert(\"XSS\");</SCRIPT>",
    "<INPUT TYPE=\"IMAGE\" SRC=\"javascript:alert('XSS');\">",
    "<BODY BACKGROUND=\"javascript:alert('XSS')\">",
    "<IMG DYNSRC=\"javascript:alert('XSS')\">",
    "<STYLE>li {list-style-image: url(\"javascript:alert('XSS')\");}</STYLE><UL><LI>XSS</br>",
    "<svg/onload=alert('XSS')>",
    "<BODY ONLOAD=alert('XSS')>",
    "<BGSOUND SRC=\"javascript:alert('XSS');\">",
    "<BR SIZE=\"&{alert('XSS')}\">",
    "<LINK REL=\"stylesheet\" HREF=\"javascript:alert('XSS');\">",
    "<STYLE>@import'http://xss.rocks/xss.css';</STYLE>",
    "<META HTTP-EQUIV=\"Link\" Content=\"<http://xss.rocks/xss.css>; REL=stylesheet\">",
    "<IMG STYLE=\"xss:expr/*XSS*/ession(alert('XSS'))\">",
    "<META HTTP-EQUIV=\"refresh\" CONTENT=\"0;url=javascript:alert('XSS');\">",
    "<IFRAME SRC=\"javascript:alert('XSS');\"></IFRAME>",
    "<FRAMESET><FRAME SRC=\"javascript:alert('XSS');\"></FRAMESET>",
    "<TABLE BACKGROUND=\"javascript:alert('XSS')\">",
    "<DIV STYLE=\"background-image: url(javascript:alert('XSS'))\">",
    "<DIV STYLE=\"width: expression(alert('XSS'));\">",
    "<!--[if gte IE 4]><SCRIPT>alert('XSS');</SCRIPT><![endif]-->",
    "<BASE HREF=\"javascript:alert('XSS');//\">",
    "<OBJECT TYPE=\"text/x-scriptlet\" DATA=\"http://xss.rocks/scriptlet.html\"></OBJECT>",
    "<EMBED SRC=\"data:image/svg+xml;base64,PHN2ZyB4bWxuczpzdmc9Imh0dH A6Ly93d3cudzMub3JnLzIwMDAvc3ZnIiB4bWxucz0iaHR0cDovL3d3dy53My5vcmcv MjAwMC9zdmciIHhtbG5zOnhsaW5rPSJodHRwOi8vd3d3LnczLm9yZy8xOTk5L3hs aW5rIiB2ZXJzaW9uPSIxLjAiIHg9IjAiIHk9IjAiIHdpZHRoPSIxOTQiIGhlaWdodD0iMjAw IiBpZD0ieHNzIj48c2NyaXB0IHR5cGU9InRleHQvZWNtYXNjcmlwdCI+YWxlcnQoIlh TUyIpOzwvc2NyaXB0Pjwvc3ZnPg==\" type=\"image/svg+xml\" AllowScriptAccess=\"always\"></EMBED>",
    "<SCRIPT a=\">\" SRC=\"httx://xss.rocks/xss.js\"></SCRIPT>",
    "<A HREF=\"http://0x42.0x0000066.0x7.0x93/\">XSS</A>",
    "<A HREF=\"//google.com/\">XSS</A>",
    "<A HREF=\"javascript:document.location='http://www.google.com/'\">XSS</A>",
    "\"><script>alert(1)</script>",
    "' onmouseover='alert(1)",
    "\" autofocus onfocus=\"alert(1)",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<math><mi xlink:href=\"javascript:alert(1)\">x</mi></math>",
    "<a href=\"&#1;javascript:alert(1)\">x</a>",
    "<x onclick=alert(1)>click",
    "jaVasCript:/*-/*`/*\\`/*'/*\"/**/(/* */oNcliCk=alert() )//%0D%0A%0d%0a//</stYle/</titLe/</teXtarEa/</scRipt/--!>\\x3csVg/<sVg/oNloAd=alert()//>\\x3e",
];

/// Undoes `html_escape` (test oracle).
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

/// Undoes `html_attr_escape` (test oracle).
fn unescape_numeric(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("&#x") {
        out.push_str(&rest[..i]);
        let end = rest[i..].find(';').map(|e| i + e).unwrap_or(rest.len());
        let code =
            u32::from_str_radix(&rest[i + 3..end], 16).ok().and_then(char::from_u32).unwrap_or('?');
        out.push(code);
        rest = &rest[(end + 1).min(rest.len())..];
    }
    out.push_str(rest);
    out
}

#[test]
fn escaped_payloads_contain_no_markup_and_display_as_typed() {
    for payload in OWASP_PAYLOADS {
        let escaped = html_escape(payload);
        assert!(!escaped.contains(['<', '>', '"', '\'']), "{escaped}");
        // Every `&` starts one of our five entities, so the browser shows the input verbatim.
        for (i, _) in escaped.match_indices('&') {
            let rest = &escaped[i..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&#x27;"].iter().any(|e| rest.starts_with(e)),
                "stray & in {escaped}"
            );
        }
        assert_eq!(unescape(&escaped), *payload);
    }
}

#[test]
fn attribute_escaping_leaves_only_letters_digits_and_entities() {
    for payload in OWASP_PAYLOADS {
        let escaped = html_attr_escape(payload);
        let without_entities: String = {
            let mut s = escaped.clone();
            while let Some(i) = s.find("&#x") {
                let end = s[i..].find(';').map_or(s.len(), |e| i + e + 1);
                s.replace_range(i..end, "");
            }
            s
        };
        assert!(
            without_entities.chars().all(|c| c.is_ascii_alphanumeric() || u32::from(c) >= 0x100),
            "{escaped}"
        );
        assert_eq!(unescape_numeric(&escaped), *payload);
    }
}

#[test]
fn html_escape_handles_each_special_character() {
    assert_eq!(
        html_escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
        "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#x27;Jerry&#x27;&lt;/a&gt;"
    );
    assert_eq!(
        html_escape("plain text, unchanged (really) / 100%"),
        "plain text, unchanged (really) / 100%"
    );
    assert_eq!(html_escape("Zoë — 🙂 <"), "Zoë — 🙂 &lt;");
    assert_eq!(html_escape(""), "");
    assert_eq!(html_attr_escape("a b=c`d"), "a&#x20;b&#x3D;c&#x60;d");
}

/// The `<…>` spans of sanitised output.
fn tags(html: &str) -> Vec<&str> {
    html.match_indices('<')
        .map(|(i, _)| &html[i..html[i..].find('>').map_or(html.len(), |e| i + e + 1)])
        .collect()
}

#[test]
fn sanitized_payloads_lose_every_script_vector() {
    for payload in OWASP_PAYLOADS {
        let clean = sanitize_rich_html(payload).to_ascii_lowercase();
        // Text `<` comes out as `&lt;`, so any `<` left opens a real tag.
        for banned in [
            "<script", "<img", "<iframe", "<svg", "<style", "<meta", "<object", "<embed", "<base",
            "<link", "<math", "<body", "<input", "<frame", "<table", "<div",
        ] {
            assert!(!clean.contains(banned), "{banned} survived in {clean:?} from {payload:?}");
        }
        // Inside the tags that remain, no script-bearing attribute or URL.
        for tag in tags(&clean) {
            for banned in ["javascript:", " on", "style=", "data:", "src=", "expression("] {
                assert!(!tag.contains(banned), "{banned} survived in tag {tag:?} from {payload:?}");
            }
        }
    }
}

#[test]
fn the_allow_list_keeps_ordinary_formatting_and_safe_links() {
    let input = "<p>Hello <b>bold</b> <em>em</em> <a href=\"https://example.com/x?a=1&amp;b=2\" onclick=\"evil()\">link</a></p><ul><li>one</li></ul>";
    assert_eq!(
        sanitize_rich_html(input),
        "<p>Hello <b>bold</b> <em>em</em> <a href=\"https://example.com/x?a=1&amp;b=2\" rel=\"noopener noreferrer nofollow\">link</a></p><ul><li>one</li></ul>"
    );
    // Relative and protocol-relative links lose their href; text is kept.
    assert_eq!(
        sanitize_rich_html("<a href=\"//evil.example/\">x</a>"),
        "<a rel=\"noopener noreferrer nofollow\">x</a>"
    );
    // Text content is kept and escaped, never stripped.
    assert_eq!(sanitize_rich_html("O'Brien (admin) & co"), "O'Brien (admin) &amp; co");
    assert_eq!(sanitize_rich_html("<script>alert(1)</script>after"), "after");
}

proptest! {
    #[test]
    fn escape_round_trips_any_text(s in "\\PC*") {
        let escaped = html_escape(&s);
        prop_assert!(!escaped.contains(['<', '>', '"', '\'']));
        prop_assert_eq!(unescape(&escaped), s.clone());
        prop_assert_eq!(unescape_numeric(&html_attr_escape(&s)), s);
    }

    #[test]
    fn sanitizer_never_panics_and_never_emits_script(s in "(<[a-zA-Z/!]{0,8}( [a-z]{1,8}(=\"?[a-z:()/ ]{0,12}\"?)?){0,3}>|[a-z &;<>\"'])*") {
        let clean = sanitize_rich_html(&s).to_ascii_lowercase();
        prop_assert!(!clean.contains("<script"));
        for tag in tags(&clean) {
            prop_assert!(!tag.contains("javascript:") && !tag.contains(" on"), "{}", tag);
        }
    }
}
