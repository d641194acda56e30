//! Turns the bytes of an author's file into text: byte order marks, UTF-8 with a Windows-1252
//! fallback, and the refusal of binary files.
//!
//! Every handler that reads text an author wrote (settings, prompts, and later scripts and
//! knowledge documents) goes through [`decode_text`], so one file is read the same way
//! everywhere. This module does not split lines, trim, or interpret the text; line breaks are
//! left as they were unless the caller asks [`normalize_line_breaks`].
//!
//! Known limits: text that is not UTF-8 is assumed to be Windows-1252, the usual encoding of
//! files saved by spreadsheet programs on Windows; Latin-9, Mac Roman or Shift-JIS files come
//! out as wrong letters rather than as an error, which is why callers warn when the guess was
//! made. Binary detection is a heuristic: NUL characters, or more than 5% control characters.

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252};

/// How the bytes of a file were read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceEncoding {
    /// UTF-8 without a byte order mark.
    Utf8,
    /// UTF-8 after a byte order mark, which is not part of the text.
    Utf8WithBom,
    /// UTF-16 little-endian, recognised by its byte order mark only.
    Utf16Le,
    /// UTF-16 big-endian, recognised by its byte order mark only.
    Utf16Be,
    /// Not valid UTF-8, so read as Windows-1252: a guess, which may be wrong.
    Windows1252,
}

impl SourceEncoding {
    /// Returns true when the encoding was guessed rather than known from the bytes.
    pub fn is_guess(self) -> bool {
        self == SourceEncoding::Windows1252
    }
}

/// The text of a file and how it was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedText {
    /// The text, without any byte order mark, line breaks as in the file.
    pub text: String,
    pub encoding: SourceEncoding,
}

/// Why bytes were not accepted as text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes hold NUL characters, as images, archives and office documents do.
    #[error(
        "the file is binary, not text: it contains NUL bytes (an image, archive or \
         spreadsheet saved under a text name?)"
    )]
    NulBytes,
    /// Too many of the characters are control characters for the bytes to be text.
    #[error("the file is binary, not text: {percent}% of its characters are control characters")]
    ControlCharacters { percent: u32 },
    /// The bytes start with a UTF-16 byte order mark but the rest is not valid UTF-16.
    #[error("the file starts with a {encoding} byte order mark but is not valid {encoding}")]
    MalformedUtf16 { encoding: &'static str },
}

/// What to tell an author whose file was read as Windows-1252.
pub(crate) const GUESSED_ENCODING_WARNING: &str = "the file is not UTF-8, so it was read as \
    Windows-1252; save it as UTF-8 if accented letters look wrong";

/// Share of control characters, in percent, above which bytes count as binary.
const MAX_CONTROL_PERCENT: usize = 5;

/// Returns the text of `bytes`.
///
/// A UTF-8 or UTF-16 byte order mark decides the encoding and is dropped. Without one, valid
/// UTF-8 is taken as UTF-8 and anything else is decoded as Windows-1252, which maps every
/// byte to a character. Empty input is empty text.
///
/// # Errors
/// [`DecodeError::NulBytes`] when the text would contain a NUL character;
/// [`DecodeError::ControlCharacters`] when more than 5% of its characters are control
/// characters other than tab, line feed, carriage return and form feed;
/// [`DecodeError::MalformedUtf16`] when a UTF-16 byte order mark is followed by bytes that
/// are not UTF-16.
pub fn decode_text(bytes: &[u8]) -> Result<DecodedText, DecodeError> {
    let decoded = decode_by_bom_or_guess(bytes)?;
    check_is_text(&decoded.text)?;
    Ok(decoded)
}

/// Returns `text` with every CRLF pair and every lone CR turned into LF.
///
/// A lone CR is a line break in the files of old Mac editors, and no author means anything
/// else by one; borrowing when there is no CR keeps the common case free.
pub fn normalize_line_breaks(text: &str) -> Cow<'_, str> {
    if !text.contains('\r') {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
}

fn decode_by_bom_or_guess(bytes: &[u8]) -> Result<DecodedText, DecodeError> {
    // A byte order mark is the only reliable sign of an encoding, so it goes first.
    if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        let rest = &bytes[bom_len..];
        if encoding == UTF_16LE || encoding == UTF_16BE {
            return decode_utf16(encoding, rest);
        }
        if encoding == UTF_8 {
            return Ok(utf8_or_guess(rest, SourceEncoding::Utf8WithBom));
        }
    }
    Ok(utf8_or_guess(bytes, SourceEncoding::Utf8))
}

fn decode_utf16(encoding: &'static Encoding, rest: &[u8]) -> Result<DecodedText, DecodeError> {
    let text = encoding
        .decode_without_bom_handling_and_without_replacement(rest)
        .ok_or(DecodeError::MalformedUtf16 { encoding: encoding.name() })?;
    let source =
        if encoding == UTF_16LE { SourceEncoding::Utf16Le } else { SourceEncoding::Utf16Be };
    Ok(DecodedText { text: text.into_owned(), encoding: source })
}

fn utf8_or_guess(bytes: &[u8], if_utf8: SourceEncoding) -> DecodedText {
    match std::str::from_utf8(bytes) {
        Ok(text) => DecodedText { text: text.to_owned(), encoding: if_utf8 },
        Err(_) => {
            // Windows-1252 maps every byte to some character, so this cannot fail.
            let (text, _had_errors) = WINDOWS_1252.decode_without_bom_handling(bytes);
            DecodedText { text: text.into_owned(), encoding: SourceEncoding::Windows1252 }
        }
    }
}

fn check_is_text(text: &str) -> Result<(), DecodeError> {
    if text.contains('\0') {
        return Err(DecodeError::NulBytes);
    }

    let mut n_chars = 0usize;
    let mut n_control = 0usize;
    for c in text.chars() {
        n_chars += 1;
        if c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{c}') {
            n_control += 1;
        }
    }
    if n_control * 100 > n_chars * MAX_CONTROL_PERCENT {
        let percent = u32::try_from(n_control * 100 / n_chars).unwrap_or(100);
        return Err(DecodeError::ControlCharacters { percent });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[track_caller]
    fn check(bytes: &[u8], expected: Result<(&str, SourceEncoding), DecodeError>) {
        let actual = decode_text(bytes);
        let actual = actual.as_ref().map(|decoded| (decoded.text.as_str(), decoded.encoding));
        assert_eq!(actual, expected.as_ref().map(|(text, encoding)| (*text, *encoding)));
    }

    #[test]
    fn utf8_is_read_as_is() {
        check(b"", Ok(("", SourceEncoding::Utf8)));
        check("olá, mundo\r\n".as_bytes(), Ok(("olá, mundo\r\n", SourceEncoding::Utf8)));
    }

    #[test]
    fn utf8_bom_is_dropped() {
        check(b"\xEF\xBB\xBFname,value", Ok(("name,value", SourceEncoding::Utf8WithBom)));
        check(b"\xEF\xBB\xBF", Ok(("", SourceEncoding::Utf8WithBom)));
    }

    #[test]
    fn invalid_utf8_is_read_as_windows_1252() {
        check(b"caf\xE9 \x80 5", Ok(("café € 5", SourceEncoding::Windows1252)));
        check(b"\xEF\xBB\xBFcaf\xE9", Ok(("café", SourceEncoding::Windows1252)));
    }

    #[test]
    fn utf16_with_bom_is_decoded() {
        check(b"\xFF\xFEa\x00,\x00b\x00", Ok(("a,b", SourceEncoding::Utf16Le)));
        check(b"\xFE\xFF\x00a\x00,\x00b", Ok(("a,b", SourceEncoding::Utf16Be)));
        check(b"\xFF\xFEa", Err(DecodeError::MalformedUtf16 { encoding: "UTF-16LE" }));
    }

    #[test]
    fn binary_files_are_refused() {
        check(b"PK\x03\x04\x14\x00\x06\x00", Err(DecodeError::NulBytes));
        check(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", Err(DecodeError::NulBytes));
        check(b"ab\x01\x02\x03\x04", Err(DecodeError::ControlCharacters { percent: 66 }));
    }

    #[test]
    fn a_stray_control_character_in_long_text_is_tolerated() {
        let text = format!("{}\x1b", "a".repeat(40));
        check(text.as_bytes(), Ok((&text, SourceEncoding::Utf8)));
    }

    #[test]
    fn line_breaks_normalise_to_lf() {
        assert_eq!(normalize_line_breaks("a\r\nb\rc\nd\r"), "a\nb\nc\nd\n");
        assert!(matches!(normalize_line_breaks("a\nb"), Cow::Borrowed("a\nb")));
    }

    proptest! {
        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_text(&bytes);
        }

        #[test]
        fn utf8_text_without_controls_round_trips(text in "[^\\p{Cc}]{0,200}") {
            // A leading U+FEFF is a byte order mark once encoded, and is dropped by design.
            prop_assume!(!text.starts_with('\u{feff}'));
            let decoded = decode_text(text.as_bytes()).unwrap();
            prop_assert_eq!(decoded.text, text);
        }
    }
}
