//! Reads a `config.csv` into settings, warnings for what was skipped or overridden, or the
//! diagnostics that make the file unusable.
//!
//! The rules, in the order they apply:
//! - Bytes become text through `text::decode_text` (UTF-8 with or without BOM, UTF-16 with
//!   BOM, otherwise Windows-1252 with a warning); binary files are refused. CRLF and lone CR
//!   line breaks count as LF.
//! - Blank lines, lines whose first non-blank character is `#`, and lines made only of the
//!   separator (`,`, `,,`; `;` in a `;`-separated file) are skipped.
//! - The separator is `,` unless the first data rows say `;` (see [`detect_separator`]).
//! - A row is a name, the separator, and a value. The name is trimmed and kept as written,
//!   spaces and case included. An unquoted value is the raw text after the first separator,
//!   trimmed, further separators and quotes included, so `a,b,c` sets `a` to `b,c`. A value
//!   (or name) that starts with `"` is quoted: it may hold separators, `""` for a quote, and
//!   line breaks, and is kept exactly, blanks included.
//! - A first row `name,value` (any case) is a header and skipped.
//! - A name set twice takes its last value, with a warning naming both lines.
//! - A row with text but no separator is skipped with a warning rather than failing the
//!   file: it is most often a stray line or a value broken over lines without quotes, and one
//!   such slip should not keep every other setting from going live. Its text is not quoted in
//!   the warning, as it may be part of a secret. A file that sets nothing although some rows
//!   lack a separator is refused: it is junk (a binary file read as Windows-1252), or rows
//!   with a separator other than the header's, and must not wipe live settings.
//! - A quote that is never closed, or text after a closing quote, makes the file invalid.
//!
//! This module does not decide what names mean or whether values are valid for them.
//!
//! Known limits, all deliberate: a trailing separator stays in an unquoted value (`a,1,`
//! sets `1,`), which is what the raw-text rule says but not what a spreadsheet with an empty
//! third column meant; names are compared exactly, so `Theme Color` and `theme color` are two
//! settings; without a header, the separator is a vote over the first ten rows and a file of
//! names holding `;` reads as `;`-separated.

use std::collections::HashMap;

use drive_core::{Diagnostic, Setting, Severity};

use super::rows::{Problem, Row, RowBody, Rows};
use crate::text::{GUESSED_ENCODING_WARNING, decode_text, normalize_line_breaks};

/// The settings a `config.csv` holds, in the order of their first appearance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigFile {
    /// One entry per name; a name set twice holds its last value.
    pub settings: Vec<Setting>,
    /// What the author should know: skipped rows, overridden names, a guessed encoding.
    pub warnings: Vec<Diagnostic>,
}

/// A `config.csv` that cannot be applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid settings file: {}", first_error(diagnostics))]
pub struct InvalidConfig {
    /// Errors first, then the warnings found on the way; never empty.
    pub diagnostics: Vec<Diagnostic>,
}

/// Most diagnostics of each severity kept for one file; the rest are counted.
const MAX_DIAGNOSTICS: usize = 100;

/// How many data rows decide the separator.
const ROWS_FOR_DETECTION: usize = 10;

/// Reads the settings of a `config.csv`.
///
/// Pure and total: any bytes give an answer, and the same bytes always give the same one.
///
/// # Errors
/// [`InvalidConfig`] when the bytes are not text, when a quoted field is malformed, or when
/// no row has a separator although some rows have text.
pub fn read_config(bytes: &[u8]) -> Result<ConfigFile, InvalidConfig> {
    let decoded = decode_text(bytes).map_err(|err| InvalidConfig {
        diagnostics: vec![Diagnostic::error(0, format!("{err}; save it as CSV text"))],
    })?;
    let mut report = Report::default();
    if decoded.encoding.is_guess() {
        report.warning(0, GUESSED_ENCODING_WARNING);
    }

    let text = normalize_line_breaks(&decoded.text);
    let separator = detect_separator(&text);
    let collected = collect(Rows::new(&text, separator), separator, &mut report);

    // A file that sets nothing is taken at its word only when nothing in it looks like a
    // failed attempt at a row; otherwise it is junk or a slip, and must not wipe settings.
    if collected.settings.is_empty() && report.errors.is_empty() {
        if collected.n_without_separator > 0 {
            report.file_error(format!(
                "no setting found: no row has a `{separator}` between a name and a value, so \
                 this does not look like a settings file"
            ));
        } else {
            report.warning(0, "the file sets nothing, so the settings it set before are removed");
        }
    }
    report.finish(collected.settings)
}

/// Returns the separator of `text`.
///
/// A header decides: `name,value` or `name;value`. Without one, the first ten rows read as
/// `,`-separated vote: a row votes `;` when its name holds a `;` or when it has a `;` and
/// no `,`, and `,` otherwise; `;` needs a strict majority. A file whose header and rows
/// disagree comes out with rows lacking a separator, which [`read_config`] refuses.
pub(crate) fn detect_separator(text: &str) -> char {
    let mut votes_comma = 0usize;
    let mut votes_semicolon = 0usize;
    for (row_idx, row) in Rows::new(text, ',').take(ROWS_FOR_DETECTION).enumerate() {
        match row.body {
            RowBody::Pair { name, value } if row_idx == 0 && is_header(&name, &value) => {
                return ',';
            }
            RowBody::Pair { name, .. } if name.contains(';') => votes_semicolon += 1,
            RowBody::Pair { .. } => votes_comma += 1,
            RowBody::NoSeparator { text } if row_idx == 0 && is_semicolon_header(&text) => {
                return ';';
            }
            RowBody::NoSeparator { text } if text.contains(';') => votes_semicolon += 1,
            RowBody::NoSeparator { .. } => {}
            // Read with the wrong separator, a row may look broken; it casts no vote.
            RowBody::Malformed { .. } => {}
        }
    }
    if votes_semicolon > votes_comma { ';' } else { ',' }
}

/// What the rows of a file amount to.
struct Collected {
    settings: Vec<Setting>,
    n_without_separator: usize,
}

fn collect(rows: Rows<'_>, separator: char, report: &mut Report) -> Collected {
    let mut settings: Vec<Setting> = Vec::new();
    // For each name: its index in `settings` and the line that last set it.
    let mut seen: HashMap<String, (usize, u32)> = HashMap::new();
    let mut n_without_separator = 0;

    for (row_idx, Row { line, body }) in rows.enumerate() {
        match body {
            RowBody::Pair { name, value } if row_idx == 0 && is_header(&name, &value) => {}
            RowBody::Pair { name, .. } if name.is_empty() => {
                report.warning(line, "a value without a name is ignored");
            }
            RowBody::Pair { name, value } => match seen.get_mut(&name) {
                Some((setting_idx, previous_line)) => {
                    let message = format!(
                        "`{name}` is set again: this value replaces the one on line {previous_line}"
                    );
                    report.warning(line, message);
                    settings[*setting_idx].value = value;
                    *previous_line = line;
                }
                None => {
                    seen.insert(name.clone(), (settings.len(), line));
                    settings.push(Setting::new(name, value));
                }
            },
            RowBody::NoSeparator { .. } => {
                n_without_separator += 1;
                report.warning(
                    line,
                    format!("no `{separator}` between a name and a value, so the line is ignored"),
                );
            }
            RowBody::Malformed { line: problem_line, column, problem } => {
                report.error(problem_line, column, problem);
            }
        }
    }
    Collected { settings, n_without_separator }
}

fn is_header(name: &str, value: &str) -> bool {
    name.eq_ignore_ascii_case("name") && value.eq_ignore_ascii_case("value")
}

fn is_semicolon_header(text: &str) -> bool {
    text.split_once(';').is_some_and(|(name, value)| is_header(name.trim(), value.trim()))
}

fn problem_message(problem: Problem) -> &'static str {
    match problem {
        Problem::UnterminatedQuote => {
            "unterminated quoted value starting here: its closing `\"` is missing \
             (a quote inside a quoted value is written `\"\"`)"
        }
        Problem::TextAfterQuote => {
            "unexpected text after a closing quote: put the whole value inside the quotes, \
             or remove them"
        }
    }
}

fn first_error(diagnostics: &[Diagnostic]) -> String {
    diagnostics.first().map(ToString::to_string).unwrap_or_default()
}

/// The diagnostics of one file, capped per severity.
#[derive(Debug, Default)]
struct Report {
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    n_dropped: usize,
}

impl Report {
    fn warning(&mut self, line: u32, message: impl Into<String>) {
        if self.warnings.len() < MAX_DIAGNOSTICS {
            self.warnings.push(Diagnostic::warning(line, message));
        } else {
            self.n_dropped += 1;
        }
    }

    fn error(&mut self, line: u32, column: u32, problem: Problem) {
        if self.errors.len() < MAX_DIAGNOSTICS {
            let message = problem_message(problem).to_owned();
            self.errors.push(Diagnostic { severity: Severity::Error, line, column, message });
        } else {
            self.n_dropped += 1;
        }
    }

    /// Records an error about the whole file, shown before the others.
    fn file_error(&mut self, message: String) {
        self.errors.insert(0, Diagnostic::error(0, message));
    }

    fn finish(mut self, settings: Vec<Setting>) -> Result<ConfigFile, InvalidConfig> {
        if self.n_dropped > 0 {
            let message = format!("{} more problems are not shown", self.n_dropped);
            self.warnings.push(Diagnostic::warning(0, message));
        }
        if self.errors.is_empty() {
            return Ok(ConfigFile { settings, warnings: self.warnings });
        }
        let mut diagnostics = self.errors;
        diagnostics.append(&mut self.warnings);
        Err(InvalidConfig { diagnostics })
    }
}
