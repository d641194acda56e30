//! The references a stylesheet makes to other theme files (`@import "x.css"`, `url(x.png)`),
//! found so that the server can pin each to the version it names (`x.css?v=...`).
//!
//! Pinning is what lets a browser pick up a changed imported file: a page that loads its
//! importing sheet again under a new URL gets imports with new URLs too, instead of the
//! copies its document already holds for the old ones.
//!
//! The scanner knows comments, quoted strings, `url(...)` and `@import`; it does not parse
//! CSS. Only relative references are considered: those with a scheme (`data:`, `https:`),
//! an absolute path, a query, a backslash escape, or that climb above the theme folder are
//! left exactly as written.

use std::ops::Range;

use drive_core::ThemePath;

/// One reference to a theme file inside a stylesheet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reference {
    /// Where the URL text lies in the stylesheet, without quotes, query or fragment.
    pub(crate) range: Range<usize>,
    /// The theme file it names.
    pub(crate) target: ThemePath,
}

/// Returns the references of `css`, a stylesheet at `path`, to other files of its theme, in
/// the order they appear.
pub(crate) fn references(css: &str, path: &ThemePath) -> Vec<Reference> {
    let base: Vec<&str> = match path.as_str().rsplit_once('/') {
        Some((folder, _)) => folder.split('/').collect(),
        None => Vec::new(),
    };
    url_spans(css)
        .into_iter()
        .filter_map(|span| {
            let text = &css[span.clone()];
            let end = text.find('#').unwrap_or(text.len());
            let target = resolve(&base, &text[..end])?;
            Some(Reference { range: span.start..span.start + end, target })
        })
        .collect()
}

/// Returns `css` with `version(target)` appended as `?v=` to every reference for which it
/// gives one.
pub(crate) fn pin_references(
    css: &str,
    references: &[Reference],
    mut version: impl FnMut(&ThemePath) -> Option<String>,
) -> String {
    let mut out = String::with_capacity(css.len() + references.len() * 70);
    let mut copied = 0;
    for reference in references {
        let Some(version) = version(&reference.target) else { continue };
        out.push_str(&css[copied..reference.range.end]);
        out.push_str("?v=");
        out.push_str(&version);
        copied = reference.range.end;
    }
    out.push_str(&css[copied..]);
    out
}

/// Returns the spans of the URL texts of `@import "..."` and `url(...)` in `css`.
fn url_spans(css: &str) -> Vec<Range<usize>> {
    let bytes = css.as_bytes();
    let mut spans = Vec::new();
    let mut idx = 0;
    let mut after_import = false;
    while idx < bytes.len() {
        match bytes[idx] {
            b'/' if bytes.get(idx + 1) == Some(&b'*') => {
                idx = css[idx + 2..].find("*/").map_or(bytes.len(), |end| idx + 2 + end + 2);
                continue;
            }
            quote @ (b'"' | b'\'') => {
                let (inner, next) = string_at(bytes, idx, quote);
                if after_import {
                    spans.push(inner);
                }
                after_import = false;
                idx = next;
                continue;
            }
            b'@' if starts_with_ignore_case(&bytes[idx..], b"@import") => {
                after_import = true;
                idx += b"@import".len();
                continue;
            }
            b'u' | b'U'
                if starts_with_ignore_case(&bytes[idx..], b"url(")
                    && (idx == 0 || !is_name_byte(bytes[idx - 1])) =>
            {
                let (span, next) = url_function_at(bytes, idx + b"url(".len());
                spans.extend(span);
                after_import = false;
                idx = next;
                continue;
            }
            byte if byte.is_ascii_whitespace() => {}
            _ => after_import = false,
        }
        idx += 1;
    }
    spans
}

/// Returns the span inside the string opened by `quote` at `start`, and the index after it.
fn string_at(bytes: &[u8], start: usize, quote: u8) -> (Range<usize>, usize) {
    let mut idx = start + 1;
    while idx < bytes.len() {
        match bytes[idx] {
            b'\\' => idx += 2,
            byte if byte == quote || byte == b'\n' => return (start + 1..idx, idx + 1),
            _ => idx += 1,
        }
    }
    (start + 1..bytes.len().min(idx), bytes.len())
}

/// Returns the URL span of a `url(` whose argument starts at `start`, and the index after
/// the function.
fn url_function_at(bytes: &[u8], start: usize) -> (Option<Range<usize>>, usize) {
    let mut idx = start;
    while bytes.get(idx).is_some_and(u8::is_ascii_whitespace) {
        idx += 1;
    }
    match bytes.get(idx) {
        Some(&quote @ (b'"' | b'\'')) => {
            let (span, next) = string_at(bytes, idx, quote);
            (Some(span), next)
        }
        Some(_) => {
            let end = bytes[idx..]
                .iter()
                .position(|b| *b == b')' || b.is_ascii_whitespace())
                .map_or(bytes.len(), |offset| idx + offset);
            (Some(idx..end), end)
        }
        None => (None, idx),
    }
}

/// Returns the theme file a relative URL names from the folder `base`, or `None` when the
/// URL is not a plain relative reference into the theme.
fn resolve(base: &[&str], url: &str) -> Option<ThemePath> {
    let plain = !url.is_empty()
        && !url.starts_with('/')
        && !url.contains(['?', '\\', '"', '\''])
        && url.find(':').is_none_or(|colon| url[..colon].contains('/'));
    if !plain {
        return None;
    }
    let mut segments: Vec<String> = base.iter().map(|segment| (*segment).to_owned()).collect();
    for segment in url.split('/') {
        match segment {
            "." => {}
            ".." => {
                segments.pop()?;
            }
            other => segments.push(percent_decode(other)?),
        }
    }
    ThemePath::new(segments.join("/"))
}

/// Returns `text` with `%XX` escapes decoded, `None` when an escape is malformed or the
/// result is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut idx = 0;
    while idx < bytes.len() {
        if bytes[idx] == b'%' {
            let hex = std::str::from_utf8(bytes.get(idx + 1..idx + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            idx += 3;
        } else {
            out.push(bytes[idx]);
            idx += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn starts_with_ignore_case(bytes: &[u8], prefix: &[u8]) -> bool {
    bytes.len() >= prefix.len() && bytes[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' || byte >= 0x80
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[track_caller]
    fn check(path: &str, css: &str, expected: &[(&str, &str)]) {
        let path = ThemePath::new(path).unwrap();
        let found: Vec<(String, String)> = references(css, &path)
            .into_iter()
            .map(|r| (css[r.range].to_owned(), r.target.to_string()))
            .collect();
        let expected: Vec<(String, String)> =
            expected.iter().map(|(t, p)| ((*t).to_owned(), (*p).to_owned())).collect();
        assert_eq!(found, expected, "in {css:?}");
    }

    #[test]
    fn imports_and_urls_resolve_against_the_sheet_folder() {
        check(
            "css/main.css",
            "@import 'base.css';\n@import url(\"../fonts.css\") screen;\n\
             body { background: url( img/bg.png ) }\n.a { src: url('../f/Open%20Sans.woff2#x') }",
            &[
                ("base.css", "css/base.css"),
                ("../fonts.css", "fonts.css"),
                ("img/bg.png", "css/img/bg.png"),
                ("../f/Open%20Sans.woff2", "f/Open Sans.woff2"),
            ],
        );
        check("main.css", "@IMPORT \"./a.css\";", &[("./a.css", "a.css")]);
    }

    #[test]
    fn foreign_absolute_and_escaping_references_are_left_alone() {
        check(
            "main.css",
            "@import 'https://cdn.example/x.css'; a{b:url(data:image/png;base64,AAAA)}\
             c{d:url(/abs.png)} e{f:url(../../up.png)} g{h:url(x.png?v=1)} i{j:url('a\\'b.png')}\
             k{l:url(#mask)} m{n:url()}",
            &[],
        );
    }

    #[test]
    fn comments_strings_and_lookalikes_are_not_references() {
        check(
            "main.css",
            "/* @import 'no.css'; url(no.png) */ a::after { content: \"url(no.png)\" }\
             .x { background: myurl(no.png) } @import-ish 'no.css'; a { content: 'no.css' }",
            &[],
        );
        check("main.css", "a{b:url(a.png)}/* unclosed", &[("a.png", "a.png")]);
    }

    #[test]
    fn pinned_references_carry_their_version_before_any_fragment() {
        let path = ThemePath::new("main.css").unwrap();
        let css = "@import 'a.css'; b { c: url(b.svg#icon) } d { e: url(gone.png) }";
        let found = references(css, &path);
        let pinned = pin_references(css, &found, |target| match target.as_str() {
            "a.css" => Some("v1".to_owned()),
            "b.svg" => Some("v2".to_owned()),
            _ => None,
        });
        assert_eq!(
            pinned,
            "@import 'a.css?v=v1'; b { c: url(b.svg?v=v2#icon) } d { e: url(gone.png) }"
        );
    }

    proptest! {
        #[test]
        fn any_text_scans_without_panicking_and_pins_to_itself_without_versions(
            css in "[@import url(/*'\"\\\\)a.#%: \n-]{0,64}"
        ) {
            let path = ThemePath::new("a/b.css").unwrap();
            let found = references(&css, &path);
            for reference in &found {
                prop_assert!(css.is_char_boundary(reference.range.start));
                prop_assert!(css.is_char_boundary(reference.range.end));
            }
            prop_assert_eq!(pin_references(&css, &found, |_| None), css);
        }
    }
}
