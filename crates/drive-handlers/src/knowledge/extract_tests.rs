//! Extraction per format, on tiny documents built here byte by byte.

use std::io::Write as _;

use proptest::prelude::*;

use super::*;

/// Returns the blocks of a document as `kind: text` lines.
#[track_caller]
fn dump(file_name: &str, bytes: &[u8]) -> String {
    let blocks = extract(file_name, bytes).unwrap_or_else(|err| panic!("{file_name}: {err}"));
    blocks
        .iter()
        .map(|block| {
            let kind = match block.kind {
                BlockKind::Heading(level) => format!("h{level}"),
                BlockKind::Paragraph => "p".to_owned(),
                BlockKind::Row => "row".to_owned(),
            };
            format!("{kind}: {}", block.text)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[track_caller]
fn check(file_name: &str, bytes: &[u8], expected: &str) {
    assert_eq!(dump(file_name, bytes), expected.trim(), "{file_name}");
}

/// Returns a zip archive of `parts` (name, content), stored without compression.
pub(crate) fn zip_of(parts: &[(&str, &str)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in parts {
        writer.start_file(*name, options).unwrap();
        writer.write_all(content.as_bytes()).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// Returns a one-page PDF drawing `lines` in Helvetica, with a correct cross-reference
/// table.
pub(crate) fn pdf_of(lines: &[&str]) -> Vec<u8> {
    let mut content = String::from("BT /F1 12 Tf 72 720 Td 14 TL\n");
    for line in lines {
        content.push_str(&format!("({line}) Tj T*\n"));
    }
    content.push_str("ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_owned(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_owned(),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (idx, object) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", idx + 1).as_bytes());
    }
    let xref = pdf.len();
    pdf.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    let trailer = format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    );
    pdf.extend_from_slice(trailer.as_bytes());
    pdf
}

pub(crate) fn docx_of(body: &str) -> Vec<u8> {
    let document = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
         <w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">\
         <w:body>{body}</w:body></w:document>"
    );
    zip_of(&[("[Content_Types].xml", "<Types/>"), ("word/document.xml", &document)])
}

fn xlsx_of(sheets: &[(&str, &str)]) -> Vec<u8> {
    let mut workbook_sheets = String::new();
    let mut relationships = String::new();
    let mut parts: Vec<(String, String)> = Vec::new();
    for (idx, (name, rows)) in sheets.iter().enumerate() {
        let n = idx + 1;
        workbook_sheets
            .push_str(&format!("<sheet name=\"{name}\" sheetId=\"{n}\" r:id=\"rId{n}\"/>"));
        relationships.push_str(&format!(
            "<Relationship Id=\"rId{n}\" Type=\"http://schemas.openxmlformats.org/officeDocument/\
             2006/relationships/worksheet\" Target=\"worksheets/sheet{n}.xml\"/>"
        ));
        parts.push((
            format!("xl/worksheets/sheet{n}.xml"),
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><worksheet xmlns=\"http://schemas.\
                 openxmlformats.org/spreadsheetml/2006/main\"><sheetData>{rows}</sheetData>\
                 </worksheet>"
            ),
        ));
    }
    let workbook = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><workbook xmlns=\"http://schemas.\
         openxmlformats.org/spreadsheetml/2006/main\" xmlns:r=\"http://schemas.openxmlformats.\
         org/officeDocument/2006/relationships\"><sheets>{workbook_sheets}</sheets></workbook>"
    );
    let rels = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Relationships xmlns=\"http://schemas.\
         openxmlformats.org/package/2006/relationships\">{relationships}</Relationships>"
    );
    let content_types = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Types xmlns=\"http://schemas.\
         openxmlformats.org/package/2006/content-types\"><Override PartName=\"/xl/workbook.xml\" \
         ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"\
         /></Types>";
    let package_rels = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Relationships xmlns=\"http://\
         schemas.openxmlformats.org/package/2006/relationships\"><Relationship Id=\"rId1\" \
         Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/\
         officeDocument\" Target=\"xl/workbook.xml\"/></Relationships>";
    let mut all: Vec<(&str, &str)> = vec![
        ("[Content_Types].xml", content_types),
        ("_rels/.rels", package_rels),
        ("xl/workbook.xml", &workbook),
        ("xl/_rels/workbook.xml.rels", &rels),
    ];
    all.extend(parts.iter().map(|(name, xml)| (name.as_str(), xml.as_str())));
    zip_of(&all)
}

fn inline_row(n: usize, cells: &[&str]) -> String {
    let cells: String = cells
        .iter()
        .enumerate()
        .map(|(idx, text)| {
            let column = char::from(b'A' + idx as u8);
            match text.parse::<f64>() {
                Ok(_) => format!("<c r=\"{column}{n}\"><v>{text}</v></c>"),
                Err(_) => {
                    format!("<c r=\"{column}{n}\" t=\"inlineStr\"><is><t>{text}</t></is></c>")
                }
            }
        })
        .collect();
    format!("<row r=\"{n}\">{cells}</row>")
}

#[test]
fn plain_text_paragraphs_split_at_blank_lines() {
    check(
        "a.txt",
        b"First line\nsame paragraph\n\n\nSecond.\n",
        "p: First line\nsame paragraph\np: Second.",
    );
}

#[test]
fn latin1_text_is_decoded_to_utf8() {
    check("a.txt", b"Informa\xe7\xe3o \xfatil", "p: Informação útil");
}

#[test]
fn markdown_keeps_headings_tables_and_code() {
    let text = "# Guide\n\nIntro line\ncontinues.\n\n## Setup ##\n| a | b |\n|---|---|\n| 1 | 2 |\n\n\
                ```\n# not a heading\n```\n";
    check(
        "guide.md",
        text.as_bytes(),
        "h1: Guide\np: Intro line\ncontinues.\nh2: Setup\nrow: | a | b |\nrow: | 1 | 2 |\n\
         p: ```\n# not a heading\n```",
    );
}

#[test]
fn html_keeps_headings_paragraphs_and_rows_and_skips_scripts() {
    let html = "<html><head><title>T</title><style>p{}</style></head><body>\
                <h1>Title &amp; more</h1><p>One <b>bold</b>\nword.</p><script>var x = 1;</script>\
                <!-- hidden --><table><tr><td>a</td><td>b</td></tr></table><p>caf&#233; &lt;3</p>";
    check(
        "page.html",
        html.as_bytes(),
        "h1: Title & more\np: One bold word.\nrow: a | b\np: café <3",
    );
}

#[test]
fn csv_rows_carry_their_column_names() {
    let csv = "name,price\nWidget,10\n\"Big, gadget\",\n";
    check(
        "prices.csv",
        csv.as_bytes(),
        "row: name | price\nrow: name: Widget; price: 10\nrow: name: Big, gadget",
    );
}

#[test]
fn json_leaves_become_paths() {
    let json = r#"{"faq": [{"q": "Hours?", "a": "9 to 5"}], "open": true, "none": null}"#;
    // Object members come in name order.
    check(
        "faq.json",
        json.as_bytes(),
        "row: faq[0].a: 9 to 5\nrow: faq[0].q: Hours?\nrow: open: true",
    );
}

#[test]
fn pdf_text_is_extracted() {
    let pdf = pdf_of(&["Hello PDF world", "Second line"]);
    let text = dump("doc.pdf", &pdf);
    assert!(text.contains("Hello PDF world") && text.contains("Second line"), "{text:?}");
}

#[test]
fn docx_headings_paragraphs_and_tables() {
    let body = "<w:p><w:pPr><w:pStyle w:val=\"Heading1\"/></w:pPr><w:r><w:t>Manual</w:t></w:r></w:p>\
                <w:p><w:r><w:t xml:space=\"preserve\">Plug it </w:t></w:r><w:r><w:t>in &amp; go.</w:t></w:r></w:p>\
                <w:tbl><w:tr><w:tc><w:p><w:r><w:t>k</w:t></w:r></w:p></w:tc>\
                <w:tc><w:p><w:r><w:t>v</w:t></w:r></w:p></w:tc></w:tr></w:tbl>";
    check("m.docx", &docx_of(body), "h1: Manual\np: Plug it in & go.\nrow: k | v");
}

#[test]
fn odt_headings_and_paragraphs() {
    let content = "<office:document-content xmlns:office=\"o\" xmlns:text=\"t\"><office:body>\
                   <office:text><text:h text:outline-level=\"2\">Part</text:h>\
                   <text:p>Some <text:span>styled</text:span> text.</text:p></office:text>\
                   </office:body></office:document-content>";
    let odt = zip_of(&[
        ("mimetype", "application/vnd.oasis.opendocument.text"),
        ("content.xml", content),
    ]);
    check("n.odt", &odt, "h2: Part\np: Some styled text.");
}

#[test]
fn pptx_slides_come_in_number_order() {
    let slide = |text: &str| {
        format!(
            "<p:sld xmlns:p=\"p\" xmlns:a=\"a\"><p:cSld><p:spTree><p:sp><p:txBody>\
             <a:p><a:r><a:t>{text}</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:sld>"
        )
    };
    let (one, two, ten) = (slide("first"), slide("second"), slide("tenth"));
    let pptx = zip_of(&[
        ("ppt/slides/slide10.xml", &ten),
        ("ppt/slides/slide2.xml", &two),
        ("ppt/slides/slide1.xml", &one),
    ]);
    check(
        "deck.pptx",
        &pptx,
        "h1: Slide 1\np: first\nh1: Slide 2\np: second\nh1: Slide 10\np: tenth",
    );
}

#[test]
fn xlsx_reads_every_sheet() {
    let xlsx = xlsx_of(&[
        (
            "People",
            &format!("{}{}", inline_row(1, &["name", "age"]), inline_row(2, &["Ana", "41"])),
        ),
        ("Prices", &inline_row(1, &["tea", "2.5"])),
    ]);
    check(
        "book.xlsx",
        &xlsx,
        "h1: People\nrow: name | age\nrow: Ana | 41\nh1: Prices\nrow: tea | 2.5",
    );
}

#[test]
fn ods_reads_every_sheet() {
    let content = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
        <office:document-content xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" \
        xmlns:table=\"urn:oasis:names:tc:opendocument:xmlns:table:1.0\" \
        xmlns:text=\"urn:oasis:names:tc:opendocument:xmlns:text:1.0\"><office:body><office:spreadsheet>\
        <table:table table:name=\"One\"><table:table-row><table:table-cell office:value-type=\"string\">\
        <text:p>alpha</text:p></table:table-cell><table:table-cell office:value-type=\"float\" \
        office:value=\"3\"><text:p>3</text:p></table:table-cell></table:table-row></table:table>\
        <table:table table:name=\"Two\"><table:table-row><table:table-cell office:value-type=\"string\">\
        <text:p>beta</text:p></table:table-cell></table:table-row></table:table>\
        </office:spreadsheet></office:body></office:document-content>";
    let ods = zip_of(&[
        ("mimetype", "application/vnd.oasis.opendocument.spreadsheet"),
        (
            "META-INF/manifest.xml",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><manifest:manifest \
          xmlns:manifest=\"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0\"><manifest:file-entry \
          manifest:full-path=\"/\" manifest:media-type=\"application/vnd.oasis.opendocument.\
          spreadsheet\"/></manifest:manifest>",
        ),
        ("content.xml", content),
    ]);
    check("sheet.ods", &ods, "h1: One\nrow: alpha | 3\nh1: Two\nrow: beta");
}

#[track_caller]
fn check_error(file_name: &str, bytes: &[u8], expected: &str) {
    match extract(file_name, bytes) {
        Ok(blocks) => panic!("{file_name}: expected an error, got {blocks:?}"),
        Err(err) => assert!(describe(&err).contains(expected), "{file_name}: {}", describe(&err)),
    }
}

#[test]
fn unsupported_broken_and_empty_documents_say_why() {
    check_error("logo.png", b"\x89PNG", "documents of type \"png\" are not indexed");
    check_error("broken.pdf", b"%PDF-1.4 garbage", "the pdf document cannot be read");
    check_error("broken.docx", b"PK not really", "not a valid zip package");
    check_error("broken.xlsx", b"nope", "the spreadsheet document cannot be read");
    check_error("broken.json", b"{", "the json document cannot be read");
    check_error("empty.md", b"\n\n  \n", "holds no text");
    check_error("binary.txt", b"a\0b", "binary");
    check_error("nodoc.docx", &zip_of(&[("x.xml", "<a/>")]), "word/document.xml");
}

proptest! {
    #[test]
    fn extraction_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        ext in prop_oneof![
            Just("txt"), Just("md"), Just("html"), Just("csv"), Just("json"), Just("pdf"),
            Just("docx"), Just("pptx"), Just("xlsx"), Just("ods"),
        ],
    ) {
        let _ = extract(&format!("doc.{ext}"), &bytes);
    }

    #[test]
    fn damaged_office_packages_never_panic(cut in 0usize..400, flip in 0usize..400) {
        let mut docx = docx_of("<w:p><w:r><w:t>hello</w:t></w:r></w:p>");
        if let Some(byte) = docx.get_mut(flip) {
            *byte ^= 0x5a;
        }
        docx.truncate(docx.len().saturating_sub(cut));
        let _ = extract("d.docx", &docx);
        let mut pdf = pdf_of(&["hello"]);
        if let Some(byte) = pdf.get_mut(flip) {
            *byte ^= 0x5a;
        }
        pdf.truncate(pdf.len().saturating_sub(cut));
        let _ = extract("d.pdf", &pdf);
    }
}
