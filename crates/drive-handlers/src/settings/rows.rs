//! Splits the text of a `config.csv` into rows: a name, a separator, a value.
//!
//! This is the lexical half of the reader. It knows blank lines, `#` comments, separator-only
//! lines, quoted fields (doubled quotes, line breaks inside) and the rule that an unquoted
//! value is the raw text after the first separator. It does not know headers, duplicates or
//! which separator a file uses: [`super::reader`] decides those.
//!
//! The input must have LF line breaks only (see `text::normalize_line_breaks`), so that a
//! line number means the same thing in every editor.

/// One row that is neither blank, a comment, nor made of the separator only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Row {
    /// 1-based line where the row starts.
    pub(crate) line: u32,
    pub(crate) body: RowBody,
}

/// What a row holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RowBody {
    /// A name and a value; the name is trimmed and may be empty.
    Pair { name: String, value: String },
    /// Text without a separator after the name. Its text is the trimmed line.
    NoSeparator { text: String },
    /// A row that cannot be read; `line` and `column` (1-based) point at the problem, which
    /// may lie after the row's first line.
    Malformed { line: u32, column: u32, problem: Problem },
}

/// Why a row cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    /// A quote opens a field and is never closed; the rest of the file is lost in it.
    UnterminatedQuote,
    /// Text follows the closing quote of a field.
    TextAfterQuote,
}

/// The rows of a text, in order.
#[derive(Debug)]
pub(crate) struct Rows<'a> {
    lines: Vec<&'a str>,
    next_line: usize,
    separator: char,
}

impl<'a> Rows<'a> {
    /// Returns the rows of `text`, whose line breaks must be LF, split at `separator`.
    pub(crate) fn new(text: &'a str, separator: char) -> Self {
        Self { lines: text.split('\n').collect(), next_line: 0, separator }
    }
}

impl Iterator for Rows<'_> {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        while let Some(line) = self.lines.get(self.next_line) {
            let line_idx = self.next_line;
            self.next_line += 1;
            let content = line.trim_start();
            if content.is_empty() || content.starts_with('#') || self.is_separators_only(content) {
                continue;
            }
            let start = line.len() - content.len();
            let body = self.row_body(line_idx, start);
            return Some(Row { line: line_number(line_idx), body });
        }
        None
    }
}

impl Rows<'_> {
    /// Reads the row starting at byte `start` of line `line_idx`, moving `next_line` past
    /// every line the row spans.
    fn row_body(&mut self, line_idx: usize, start: usize) -> RowBody {
        let line = self.lines[line_idx];

        // The name: quoted, or everything up to the first separator.
        let (name, name_end_idx, after_name) = if line[start..].starts_with('"') {
            match self.quoted(line_idx, start) {
                Ok(field) => field,
                Err(malformed) => return malformed,
            }
        } else {
            match line[start..].find(self.separator) {
                Some(offset) => {
                    (line[start..start + offset].trim().to_owned(), line_idx, start + offset)
                }
                None => return RowBody::NoSeparator { text: line[start..].trim().to_owned() },
            }
        };

        // The separator, which must follow the name (after blanks, for a quoted name).
        let name_line = self.lines[name_end_idx];
        let rest = &name_line[after_name..];
        let blanks = rest.len() - rest.trim_start().len();
        let separator_at = after_name + blanks;
        if separator_at == name_line.len() {
            return RowBody::NoSeparator { text: name };
        }
        if !name_line[separator_at..].starts_with(self.separator) {
            return self.malformed(name_end_idx, separator_at, Problem::TextAfterQuote);
        }

        let value_start = separator_at + self.separator.len_utf8();
        match self.value(name_end_idx, value_start) {
            Ok(value) => RowBody::Pair { name, value },
            Err(malformed) => malformed,
        }
    }

    /// Reads the value that starts at byte `start` of line `line_idx`: a quoted field, or
    /// the raw rest of the line, trimmed.
    fn value(&mut self, line_idx: usize, start: usize) -> Result<String, RowBody> {
        let line = self.lines[line_idx];
        let rest = &line[start..];
        let content = rest.trim_start();
        if !content.starts_with('"') {
            return Ok(content.trim_end().to_owned());
        }

        let quote_at = start + (rest.len() - content.len());
        let (value, end_idx, after) = self.quoted(line_idx, quote_at)?;
        let end_line = self.lines[end_idx];
        let trailing = &end_line[after..];
        if !trailing.trim().is_empty() {
            let text_at = after + (trailing.len() - trailing.trim_start().len());
            return Err(self.malformed(end_idx, text_at, Problem::TextAfterQuote));
        }
        Ok(value)
    }

    /// Reads the quoted field whose opening quote is at byte `quote_at` of line `line_idx`.
    ///
    /// Returns the unescaped text (line breaks inside as LF), the index of the line holding
    /// the closing quote, and the byte just after it on that line; `next_line` moves past
    /// the closing line.
    fn quoted(
        &mut self,
        line_idx: usize,
        quote_at: usize,
    ) -> Result<(String, usize, usize), RowBody> {
        let mut text = String::new();
        let mut current_idx = line_idx;
        let mut position = quote_at + 1;
        loop {
            let line = self.lines[current_idx];
            let rest = &line[position..];
            let Some(offset) = rest.find('"') else {
                // The field goes on on the next line, if there is one.
                text.push_str(rest);
                current_idx += 1;
                if current_idx >= self.lines.len() {
                    self.next_line = current_idx;
                    return Err(self.malformed(line_idx, quote_at, Problem::UnterminatedQuote));
                }
                text.push('\n');
                position = 0;
                continue;
            };

            text.push_str(&rest[..offset]);
            let after = position + offset + 1;
            if line[after..].starts_with('"') {
                // A doubled quote stands for one quote inside the field.
                text.push('"');
                position = after + 1;
            } else {
                self.next_line = self.next_line.max(current_idx + 1);
                return Ok((text, current_idx, after));
            }
        }
    }
}

impl Rows<'_> {
    /// Returns true for a line made of separators and blanks, which spreadsheet programs
    /// write for an empty row.
    fn is_separators_only(&self, content: &str) -> bool {
        content.chars().all(|c| c == self.separator || c.is_whitespace())
    }

    /// Returns a malformed body pointing at byte `at` of line `line_idx`.
    fn malformed(&self, line_idx: usize, at: usize, problem: Problem) -> RowBody {
        let column = column_of(self.lines[line_idx], at);
        RowBody::Malformed { line: line_number(line_idx), column, problem }
    }
}

fn line_number(line_idx: usize) -> u32 {
    u32::try_from(line_idx + 1).unwrap_or(u32::MAX)
}

/// Returns the 1-based column, in characters, of byte `at` of `line`.
fn column_of(line: &str, at: usize) -> u32 {
    u32::try_from(line[..at].chars().count() + 1).unwrap_or(u32::MAX)
}
