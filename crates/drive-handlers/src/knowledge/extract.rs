//! Text extraction: turns a knowledge document's bytes into blocks (headings, paragraphs,
//! table rows) that the chunker groups.
//!
//! The format comes from the file name's extension. Text formats (plain text, Markdown,
//! HTML, CSV, JSON) go through [`decode_text`], so any encoding it knows ends as UTF-8.
//! PDF goes through `pdf-extract`; DOCX, PPTX and ODT are read from their zip and XML;
//! XLSX, XLS and ODS through `calamine`, every sheet.
//!
//! Extraction is CPU work on one document and runs on the blocking pool (the caller's
//! job). It never panics on bad input: a library that panics on a broken PDF is contained
//! and reported as an unreadable document.
//!
//! Known limits: Markdown and HTML are read by small line and tag scanners, not full
//! parsers (nested lists flatten, HTML entities beyond the common named ones and numeric
//! ones stay as written); PDF text comes in the order the file draws it, with paragraph
//! breaks only where the PDF has blank lines; scanned PDFs (images) have no text and are
//! reported as empty; images and other binary formats are refused as unsupported.

use std::io::{Cursor, Read};

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::text::{DecodeError, decode_text};

/// What a block of a document is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BlockKind {
    /// A heading of the given level (1 is the top).
    Heading(u8),
    Paragraph,
    /// One row of a table or sheet, or one leaf of a JSON document.
    Row,
}

/// One block of text, with no leading or trailing whitespace and never empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Block {
    pub(crate) kind: BlockKind,
    pub(crate) text: String,
}

/// Why a document gave no text.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExtractError {
    #[error("documents of type {extension:?} are not indexed (supported: {SUPPORTED})")]
    Unsupported { extension: String },
    #[error("the document is not text")]
    NotText(#[from] DecodeError),
    #[error("the {format} document cannot be read: {reason}")]
    Unreadable { format: &'static str, reason: String },
    #[error("the document holds no text to index")]
    Empty,
}

/// Returns `err` with its causes, for the author.
pub(crate) fn describe(err: &ExtractError) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The extensions read, for messages.
const SUPPORTED: &str = "txt, md, html, csv, tsv, json, pdf, docx, odt, pptx, xlsx, xlsm, xls, ods";

/// Returns the blocks of the document named `file_name`.
///
/// # Errors
/// [`ExtractError::Unsupported`] for an unknown extension, [`ExtractError::Unreadable`] or
/// [`ExtractError::NotText`] for a broken file, [`ExtractError::Empty`] when nothing is
/// left to index.
pub(crate) fn extract(file_name: &str, bytes: &[u8]) -> Result<Vec<Block>, ExtractError> {
    let extension = match file_name.rsplit_once('.') {
        Some((_, ext)) => ext.to_ascii_lowercase(),
        None => String::new(),
    };
    let blocks = match extension.as_str() {
        "" | "txt" | "text" | "log" | "rst" => plain_text(&decode_text(bytes)?.text),
        "md" | "markdown" | "mdx" => markdown(&decode_text(bytes)?.text),
        "html" | "htm" | "xhtml" => html(&decode_text(bytes)?.text),
        "csv" => delimited(&decode_text(bytes)?.text, b',')?,
        "tsv" => delimited(&decode_text(bytes)?.text, b'\t')?,
        "json" => json(&decode_text(bytes)?.text)?,
        "pdf" => pdf(bytes)?,
        "docx" => office_xml(bytes, "docx", &["word/document.xml"], &DOCX)?,
        "odt" => office_xml(bytes, "odt", &["content.xml"], &ODT)?,
        "pptx" => pptx(bytes)?,
        "xlsx" | "xlsm" | "xls" | "xlsb" | "ods" => spreadsheet(&extension, bytes)?,
        _ => return Err(ExtractError::Unsupported { extension }),
    };
    if blocks.is_empty() { Err(ExtractError::Empty) } else { Ok(blocks) }
}

/// Pushes a block of `text` trimmed, unless it is blank.
fn push(blocks: &mut Vec<Block>, kind: BlockKind, text: &str) {
    let text = text.trim();
    if !text.is_empty() {
        blocks.push(Block { kind, text: text.to_owned() });
    }
}

/// Paragraphs are separated by blank lines; lines of one paragraph join with a space.
fn plain_text(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut paragraph = String::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            push(&mut blocks, BlockKind::Paragraph, &paragraph);
            paragraph.clear();
        } else {
            if !paragraph.is_empty() {
                paragraph.push('\n');
            }
            paragraph.push_str(line.trim_end());
        }
    }
    push(&mut blocks, BlockKind::Paragraph, &paragraph);
    blocks
}

/// ATX headings (`#`), table rows (`|`), fenced code kept whole, paragraphs between blank
/// lines.
fn markdown(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut paragraph = String::new();
    let mut in_fence = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
        }
        if in_fence || trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            paragraph.push_str(line);
            paragraph.push('\n');
            continue;
        }
        let level = trimmed.bytes().take_while(|b| *b == b'#').count();
        let is_heading =
            (1..=6).contains(&level) && trimmed[level..].starts_with(|c: char| c.is_whitespace());
        if is_heading || trimmed.is_empty() || trimmed.starts_with('|') {
            push(&mut blocks, BlockKind::Paragraph, &paragraph);
            paragraph.clear();
        }
        if is_heading {
            let title = trimmed[level..].trim().trim_end_matches('#').trim();
            push(&mut blocks, BlockKind::Heading(level as u8), title);
        } else if trimmed.starts_with('|') {
            let is_rule = trimmed.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '));
            if !is_rule {
                push(&mut blocks, BlockKind::Row, trimmed);
            }
        } else if !trimmed.is_empty() {
            paragraph.push_str(line.trim_end());
            paragraph.push('\n');
        }
    }
    push(&mut blocks, BlockKind::Paragraph, &paragraph);
    blocks
}

/// Tags that end a block of text.
const HTML_BLOCK_TAGS: &[&str] = &[
    "p",
    "div",
    "br",
    "li",
    "tr",
    "section",
    "article",
    "table",
    "ul",
    "ol",
    "blockquote",
    "pre",
    "header",
    "footer",
    "main",
    "nav",
    "aside",
    "dd",
    "dt",
    "hr",
    "title",
    "body",
];

/// Tags whose content is never text for a reader.
const HTML_SKIPPED_TAGS: &[&str] = &["script", "style", "noscript", "template", "svg", "head"];

/// A tag scanner: block tags end paragraphs, `h1`..`h6` are headings, cells are separated
/// by ` | `, script and style are skipped.
fn html(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current = String::new();
    let mut rest = text;
    let mut skipping: Option<String> = None;
    while let Some(open) = rest.find('<') {
        if skipping.is_none() {
            current.push_str(&decode_entities(&rest[..open]));
        }
        rest = &rest[open..];
        if let Some(comment) = rest.strip_prefix("<!--") {
            rest = comment.find("-->").map_or("", |end| &comment[end + 3..]);
            continue;
        }
        let Some(close) = rest.find('>') else { break };
        let tag = &rest[1..close];
        rest = &rest[close + 1..];
        let is_end = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if let Some(skipped) = &skipping {
            if is_end && *skipped == name {
                skipping = None;
            }
            continue;
        }
        if !is_end && HTML_SKIPPED_TAGS.contains(&name.as_str()) && !tag.ends_with('/') {
            skipping = Some(name);
            continue;
        }
        let heading = match name.as_bytes() {
            [b'h', level @ b'1'..=b'6'] => Some(level - b'0'),
            _ => None,
        };
        if let Some(level) = heading {
            // The text gathered between `<hN>` and `</hN>` is the heading.
            let kind = if is_end { BlockKind::Heading(level) } else { BlockKind::Paragraph };
            flush_html(&mut blocks, &mut current, kind);
        } else if name == "td" || name == "th" {
            if is_end {
                current.push_str(" | ");
            }
        } else if HTML_BLOCK_TAGS.contains(&name.as_str()) {
            let kind = if name == "tr" { BlockKind::Row } else { BlockKind::Paragraph };
            flush_html(&mut blocks, &mut current, kind);
        }
    }
    if skipping.is_none() {
        current.push_str(&decode_entities(rest));
    }
    flush_html(&mut blocks, &mut current, BlockKind::Paragraph);
    blocks
}

/// Pushes the gathered text with its whitespace collapsed.
fn flush_html(blocks: &mut Vec<Block>, current: &mut String, kind: BlockKind) {
    let collapsed = current.split_whitespace().collect::<Vec<_>>().join(" ");
    let collapsed = collapsed.trim_end_matches(" |").trim_end_matches('|');
    push(blocks, kind, collapsed);
    current.clear();
}

/// Decodes the common named entities and numeric ones; others stay as written.
fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest.char_indices().take(12).find(|(_, c)| *c == ';').map(|(idx, _)| idx);
        let decoded = end.and_then(|end| entity(&rest[1..end]).map(|c| (c, end)));
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        return char::from_u32(code);
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "copy" => '©',
        "reg" => '®',
        "mdash" => '—',
        "ndash" => '–',
        "hellip" => '…',
        _ => return None,
    })
}

/// One row per record after the header: `column: value; column: value`.
fn delimited(text: &str, delimiter: u8) -> Result<Vec<Block>, ExtractError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(false)
        .from_reader(text.as_bytes());
    let mut header: Option<Vec<String>> = None;
    let mut blocks = Vec::new();
    for record in reader.records() {
        let record = record
            .map_err(|err| ExtractError::Unreadable { format: "csv", reason: err.to_string() })?;
        let Some(names) = &header else {
            header = Some(record.iter().map(|name| name.trim().to_owned()).collect());
            push(&mut blocks, BlockKind::Row, &record.iter().collect::<Vec<_>>().join(" | "));
            continue;
        };
        let cells: Vec<String> = record
            .iter()
            .enumerate()
            .filter(|(_, value)| !value.trim().is_empty())
            .map(|(idx, value)| match names.get(idx).filter(|name| !name.is_empty()) {
                Some(name) => format!("{name}: {}", value.trim()),
                None => value.trim().to_owned(),
            })
            .collect();
        push(&mut blocks, BlockKind::Row, &cells.join("; "));
    }
    Ok(blocks)
}

/// One row per leaf: `path.to.leaf: value`.
fn json(text: &str) -> Result<Vec<Block>, ExtractError> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|err| ExtractError::Unreadable { format: "json", reason: err.to_string() })?;
    let mut blocks = Vec::new();
    let mut stack = vec![(String::new(), &value)];
    // Depth-first with an explicit stack, so deep documents cannot overflow the real one.
    while let Some((path, value)) = stack.pop() {
        match value {
            serde_json::Value::Object(map) => {
                for (name, child) in map.iter().rev() {
                    let child_path =
                        if path.is_empty() { name.clone() } else { format!("{path}.{name}") };
                    stack.push((child_path, child));
                }
            }
            serde_json::Value::Array(items) => {
                for (idx, child) in items.iter().enumerate().rev() {
                    stack.push((format!("{path}[{idx}]"), child));
                }
            }
            serde_json::Value::String(text) => push_leaf(&mut blocks, &path, text),
            serde_json::Value::Null => {}
            other => push_leaf(&mut blocks, &path, &other.to_string()),
        }
    }
    Ok(blocks)
}

fn push_leaf(blocks: &mut Vec<Block>, path: &str, value: &str) {
    if path.is_empty() {
        push(blocks, BlockKind::Row, value);
    } else if !value.trim().is_empty() {
        push(blocks, BlockKind::Row, &format!("{path}: {value}"));
    }
}

/// The PDF's text, paragraphs at blank lines.
fn pdf(bytes: &[u8]) -> Result<Vec<Block>, ExtractError> {
    let unreadable = |reason: String| ExtractError::Unreadable { format: "pdf", reason };
    // The PDF library panics on some malformed files; one bad document must not take the
    // blocking thread's task down with it, so a panic becomes an unreadable document.
    let result =
        std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem(bytes)).map_err(|_| {
            unreadable("the file is malformed (the PDF reader gave up on it)".to_owned())
        })?;
    let text = result.map_err(|err| unreadable(err.to_string()))?;
    Ok(plain_text(&text))
}

/// The XML elements of an office format that make blocks.
struct OfficeTags {
    /// A paragraph element.
    paragraph: &'static str,
    /// A heading element, when the format has one (`text:h`).
    heading: Option<&'static str>,
    /// An element whose text is run text.
    text: &'static str,
    /// Elements that stand for a tab or line break inside a paragraph.
    breaks: &'static [&'static str],
    /// A table row element: its paragraphs join into one row block.
    row: Option<&'static str>,
    /// The paragraph style attribute value prefix that marks a heading (`Heading`).
    heading_style: Option<&'static str>,
}

const DOCX: OfficeTags = OfficeTags {
    paragraph: "w:p",
    heading: None,
    text: "w:t",
    breaks: &["w:tab", "w:br"],
    row: Some("w:tr"),
    heading_style: Some("w:pStyle"),
};

const ODT: OfficeTags = OfficeTags {
    paragraph: "text:p",
    heading: Some("text:h"),
    text: "text:p",
    breaks: &["text:tab", "text:line-break", "text:s"],
    row: Some("table:table-row"),
    heading_style: None,
};

const PPTX: OfficeTags = OfficeTags {
    paragraph: "a:p",
    heading: None,
    text: "a:t",
    breaks: &["a:br"],
    row: Some("a:tr"),
    heading_style: None,
};

/// Reads the named parts of a zip-based office document, in order.
fn office_xml(
    bytes: &[u8],
    format: &'static str,
    parts: &[&str],
    tags: &OfficeTags,
) -> Result<Vec<Block>, ExtractError> {
    let mut archive = open_zip(bytes, format)?;
    let mut blocks = Vec::new();
    for part in parts {
        let xml = read_part(&mut archive, format, part)?;
        blocks.extend(office_blocks(&xml, format, tags)?);
    }
    Ok(blocks)
}

/// Every slide in number order, each under a `Slide N` heading.
fn pptx(bytes: &[u8]) -> Result<Vec<Block>, ExtractError> {
    let mut archive = open_zip(bytes, "pptx")?;
    let names: Vec<String> =
        archive.file_names().filter_map(Result::ok).map(|name| name.into_owned()).collect();
    let mut slides: Vec<(u32, String)> = names
        .iter()
        .filter_map(|name| {
            let number = name.strip_prefix("ppt/slides/slide")?.strip_suffix(".xml")?;
            Some((number.parse().ok()?, name.to_owned()))
        })
        .collect();
    if slides.is_empty() {
        return Err(ExtractError::Unreadable {
            format: "pptx",
            reason: "it holds no slides".to_owned(),
        });
    }
    slides.sort();
    let mut blocks = Vec::new();
    for (number, part) in slides {
        let xml = read_part(&mut archive, "pptx", &part)?;
        let slide = office_blocks(&xml, "pptx", &PPTX)?;
        if !slide.is_empty() {
            push(&mut blocks, BlockKind::Heading(1), &format!("Slide {number}"));
            blocks.extend(slide);
        }
    }
    Ok(blocks)
}

fn open_zip<'a>(
    bytes: &'a [u8],
    format: &'static str,
) -> Result<zip::ZipArchive<Cursor<&'a [u8]>>, ExtractError> {
    zip::ZipArchive::new(Cursor::new(bytes)).map_err(|err| ExtractError::Unreadable {
        format,
        reason: format!("it is not a valid zip package: {err}"),
    })
}

/// Largest XML part read, so that a zip bomb cannot exhaust memory.
const MAX_PART_BYTES: u64 = 256 * 1024 * 1024;

fn read_part(
    archive: &mut zip::ZipArchive<Cursor<&[u8]>>,
    format: &'static str,
    name: &str,
) -> Result<String, ExtractError> {
    let unreadable = |reason: String| ExtractError::Unreadable { format, reason };
    let part = archive.by_name(name).map_err(|err| unreadable(format!("{name}: {err}")))?;
    let mut xml = String::new();
    part.take(MAX_PART_BYTES)
        .read_to_string(&mut xml)
        .map_err(|err| unreadable(format!("{name}: {err}")))?;
    Ok(xml)
}

/// Walks office XML: paragraphs (headings by element or style), run text, breaks, and
/// table rows whose cells join with ` | `.
fn office_blocks(
    xml: &str,
    format: &'static str,
    tags: &OfficeTags,
) -> Result<Vec<Block>, ExtractError> {
    let mut reader = Reader::from_str(xml);
    let mut blocks = Vec::new();
    let mut paragraph = String::new();
    let mut heading: Option<u8> = None;
    let mut in_text = false;
    let mut row: Option<Vec<String>> = None;
    loop {
        let event = reader.read_event().map_err(|err| ExtractError::Unreadable {
            format,
            reason: format!("its XML is malformed: {err}"),
        })?;
        match event {
            Event::Start(element) => {
                let name = element.name().0;
                if name == tags.text {
                    in_text = true;
                }
                if Some(name) == tags.heading {
                    heading = Some(outline_level(&element).unwrap_or(1));
                    in_text = true;
                }
                if Some(name) == tags.row {
                    row = Some(Vec::new());
                }
            }
            Event::Empty(element) => {
                let name = element.name().0;
                if tags.breaks.contains(&name) {
                    paragraph.push(' ');
                }
                if Some(name) == tags.heading_style {
                    heading = style_heading_level(&element);
                }
            }
            Event::Text(text) if in_text => {
                paragraph.push_str(&text.into_inner());
            }
            Event::GeneralRef(reference) if in_text => {
                let name = reference.into_inner();
                match entity(&name) {
                    Some(c) => paragraph.push(c),
                    None => paragraph.push_str(&format!("&{name};")),
                }
            }
            Event::End(element) => {
                let name = element.name().0;
                if name == tags.text && Some(name) != Some(tags.paragraph) {
                    in_text = false;
                }
                let ends_paragraph = name == tags.paragraph || Some(name) == tags.heading;
                if ends_paragraph {
                    in_text = false;
                    match (&mut row, heading.take()) {
                        (Some(cells), _) => cells.push(paragraph.trim().to_owned()),
                        (None, Some(level)) => {
                            push(&mut blocks, BlockKind::Heading(level), &paragraph);
                        }
                        (None, None) => push(&mut blocks, BlockKind::Paragraph, &paragraph),
                    }
                    paragraph.clear();
                }
                if Some(name) == tags.row
                    && let Some(cells) = row.take()
                {
                    let cells: Vec<String> = cells.into_iter().filter(|c| !c.is_empty()).collect();
                    push(&mut blocks, BlockKind::Row, &cells.join(" | "));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(blocks)
}

/// Returns the level of an ODF heading from its `text:outline-level` attribute.
fn outline_level(element: &quick_xml::events::BytesStart<'_>) -> Option<u8> {
    let attribute = element.try_get_attribute("text:outline-level").ok()??;
    attribute.value.parse().ok()
}

/// Returns the heading level a DOCX paragraph style names (`Heading2`, `Title`).
fn style_heading_level(element: &quick_xml::events::BytesStart<'_>) -> Option<u8> {
    let attribute = element.try_get_attribute("w:val").ok()??;
    let style = attribute.value.to_ascii_lowercase();
    if style == "title" {
        return Some(1);
    }
    let level = style.strip_prefix("heading")?;
    Some(level.parse().unwrap_or(1))
}

/// Every sheet under a heading with its name; one row block per non-empty row.
fn spreadsheet(extension: &str, bytes: &[u8]) -> Result<Vec<Block>, ExtractError> {
    use calamine::Reader as _;

    let unreadable = |reason: String| ExtractError::Unreadable { format: "spreadsheet", reason };
    let cursor = Cursor::new(bytes);
    let mut workbook = match extension {
        "ods" => calamine::Ods::new(cursor).map(calamine::Sheets::Ods).map_err(|e| e.to_string()),
        "xls" => calamine::Xls::new(cursor).map(calamine::Sheets::Xls).map_err(|e| e.to_string()),
        "xlsb" => {
            calamine::Xlsb::new(cursor).map(calamine::Sheets::Xlsb).map_err(|e| e.to_string())
        }
        _ => calamine::Xlsx::new(cursor).map(calamine::Sheets::Xlsx).map_err(|e| e.to_string()),
    }
    .map_err(unreadable)?;
    let mut blocks = Vec::new();
    for name in workbook.sheet_names() {
        let range = workbook.worksheet_range(&name).map_err(|err| unreadable(err.to_string()))?;
        let mut rows = Vec::new();
        for row in range.rows() {
            let cells: Vec<String> = row
                .iter()
                .map(|cell| cell.to_string().trim().to_owned())
                .filter(|cell| !cell.is_empty())
                .collect();
            push(&mut rows, BlockKind::Row, &cells.join(" | "));
        }
        if !rows.is_empty() {
            push(&mut blocks, BlockKind::Heading(1), &name);
            blocks.extend(rows);
        }
    }
    Ok(blocks)
}

#[cfg(test)]
#[path = "extract_tests.rs"]
mod tests;
