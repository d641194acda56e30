//! Tests of the `config.csv` reader: one `check` per rule, then properties.

use proptest::prelude::*;

use super::reader::{ConfigFile, InvalidConfig, read_config};

/// Reads `input` and compares a rendering of the result with `expected`.
///
/// The rendering has one `name=value` line per setting, then one line per diagnostic as
/// drive-core displays it (`line 3: warning: ...`). Values are shown with `\n`, `\r` and `\t`
/// escaped, and inside `«»` when they start or end with a blank. Expected lines are trimmed
/// and blank ones dropped; an expected line ending in `...` matches any line it starts.
#[track_caller]
fn check(input: impl AsRef<[u8]>, expected: &str) {
    let actual = render(&read_config(input.as_ref()));
    let expected: Vec<&str> =
        expected.lines().map(str::trim).filter(|line| !line.is_empty()).collect();
    let actual_lines: Vec<&str> = actual.lines().collect();
    let matches = actual_lines.len() == expected.len()
        && actual_lines.iter().zip(&expected).all(|(actual, expected)| {
            match expected.strip_suffix("...") {
                Some(prefix) => actual.starts_with(prefix),
                None => actual == expected,
            }
        });
    assert!(matches, "expected:\n{}\nactual:\n{actual}", expected.join("\n"));
}

fn render(result: &Result<ConfigFile, InvalidConfig>) -> String {
    let mut lines = Vec::new();
    match result {
        Ok(file) => {
            for setting in &file.settings {
                lines.push(format!("{}={}", show(&setting.name), show(&setting.value)));
            }
            lines.extend(file.warnings.iter().map(ToString::to_string));
        }
        Err(invalid) => lines.extend(invalid.diagnostics.iter().map(ToString::to_string)),
    }
    lines.join("\n")
}

fn show(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('\n', "\\n").replace('\r', "\\r");
    let escaped = escaped.replace('\t', "\\t");
    if text.starts_with(char::is_whitespace) || text.ends_with(char::is_whitespace) {
        format!("«{escaped}»")
    } else {
        escaped
    }
}

#[test]
fn header_row_is_skipped_in_any_case() {
    check("name,value\ntheme,blue\n", "theme=blue");
    check("Name,Value\ntheme,blue\n", "theme=blue");
    check(" NAME , value \ntheme,blue\n", "theme=blue");
    check("\"name\",\"value\"\ntheme,blue\n", "theme=blue");
}

#[test]
fn header_counts_only_as_the_first_row() {
    check(
        "theme,blue\nname,value\n",
        "
        theme=blue
        name=value
        ",
    );
}

#[test]
fn bom_and_crlf_config_parses_clean() {
    check(
        "\u{feff}name,value\r\nbot-name,Acme\r\nbot-port,8080\r\n",
        "bot-name=Acme\nbot-port=8080",
    );
}

#[test]
fn lone_cr_and_lf_line_breaks_both_end_rows() {
    check("name,value\ra,1\rb,2\nc,3\r\nd,4", "a=1\nb=2\nc=3\nd=4");
}

#[test]
fn last_row_without_a_line_break_is_read() {
    check("name,value\nTheme Color,lime", "Theme Color=lime");
}

#[test]
fn quoted_values_keep_separators_quotes_line_breaks_and_blanks() {
    check(
        "a,\"x, y\"\nb,\"say \"\"hi\"\"\"\nc,\"line 1\r\nline 2\"\nd, \" padded \" \ne,\"\"\n",
        r#"
        a=x, y
        b=say "hi"
        c=line 1\nline 2
        d=« padded »
        e=
        "#,
    );
}

#[test]
fn quoted_names_may_hold_separators() {
    check(
        "\"Greeting, formal\",Good day\n\"say \"\"x\"\"\" , 1\n",
        "Greeting, formal=Good day\nsay \"x\"=1",
    );
}

#[test]
fn comment_lines_are_skipped_but_hashes_in_values_are_kept() {
    check(
        "# Bot identity\n   # indented comment\nbot-name,Acme\ncolor,#0d2111\n#last,1\n",
        "
        bot-name=Acme
        color=#0d2111
        ",
    );
}

#[test]
fn blank_and_separator_only_rows_are_skipped() {
    check("name,value\n\n,\n,,\n  ,  \n   \t\na,1\n,\n", "a=1");
    check("name;value\n;\n;;\na;1\n", "a=1");
}

#[test]
fn unquoted_value_is_the_raw_text_after_the_first_separator() {
    check(
        "name,a,b,c\nurl, http://x/?a=1,b=2 \nsay,he said \"hi\" twice\nempty,\nblank,   \n",
        r#"
        name=a,b,c
        url=http://x/?a=1,b=2
        say=he said "hi" twice
        empty=
        blank=
        "#,
    );
}

#[test]
fn names_keep_inner_spaces_and_case_but_not_outer_blanks() {
    check(
        "Answer Mode,tool\n  Theme Color , indigo \ntheme color,red\n",
        "
        Answer Mode=tool
        Theme Color=indigo
        theme color=red
        ",
    );
}

#[test]
fn duplicate_names_keep_the_last_value_and_warn_with_both_lines() {
    check(
        "name,value\ncolor,red\nsize,1\ncolor,blue\ncolor,green\n",
        "
        color=green
        size=1
        line 4: warning: `color` is set again: this value replaces the one on line 2
        line 5: warning: `color` is set again: this value replaces the one on line 4
        ",
    );
}

#[test]
fn semicolon_separated_file_is_read_like_a_comma_one() {
    check("name;value\nbot;Acme, Inc\nurl;\"a;b\"\n", "bot=Acme, Inc\nurl=a;b");
    check("Name ; Value\r\nprice;1,50\r\n", "price=1,50");
    check("bot;Acme\nprice;1,50\nwelcome;Hi, there\n", "bot=Acme\nprice=1,50\nwelcome=Hi, there");
    check(";\n;;\nbot;Acme\n", "bot=Acme");
}

#[test]
fn semicolons_in_values_of_a_comma_file_do_not_switch_separator() {
    check("a,x;y\nb,1\n", "a=x;y\nb=1");
    check("name,value\nlist,a;b;c\n", "list=a;b;c");
}

#[test]
fn windows_1252_config_is_decoded_with_a_warning() {
    check(
        b"name,value\ncidade,S\xE3o Paulo\nsaudacao,Ol\xE1 \x93amigo\x94\n",
        "
        cidade=São Paulo
        saudacao=Olá “amigo”
        warning: the file is not UTF-8, so it was read as Windows-1252...
        ",
    );
}

#[test]
fn utf16_config_with_bom_is_read() {
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend("name,value\r\nbot,Acme\r\n".encode_utf16().flat_map(u16::to_le_bytes));
    check(bytes, "bot=Acme");
}

#[test]
fn binary_files_are_rejected() {
    check(
        b"PK\x03\x04\x14\x00\x06\x00\x08\x00",
        "error: the file is binary, not text: it contains NUL bytes...",
    );
    check(
        b"a,\x01\x02\x03\x04\x05\x06",
        "error: the file is binary, not text: 75% of its characters are control characters; \
         save it as CSV text",
    );
}

#[test]
fn junk_without_any_separator_is_rejected_and_keeps_nothing() {
    check(
        b"\x89\xAB\xCD\xEF\x92\x91\n\xF0\xF1\xF2",
        "
        error: no setting found: no row has a `,` between a name and a value...
        warning: the file is not UTF-8...
        line 1: warning: no `,` between a name and a value, so the line is ignored
        line 2: warning: no `,` between a name and a value, so the line is ignored
        ",
    );
}

#[test]
fn rows_that_disagree_with_the_header_separator_are_refused_not_applied_as_empty() {
    check(
        "name,value\nbot;Acme\nport;8080\n",
        "
        error: no setting found: no row has a `,` between a name and a value...
        line 2: warning: no `,` between a name and a value, so the line is ignored
        line 3: warning: no `,` between a name and a value, so the line is ignored
        ",
    );
}

#[test]
fn semicolon_rows_without_a_header_win_the_vote_over_a_comma_row() {
    check(
        "bot;Acme\nport;8080\nodd,row\n",
        "
        bot=Acme
        port=8080
        line 3: warning: no `;` between a name and a value, so the line is ignored
        ",
    );
}

#[test]
fn row_without_separator_is_ignored_with_a_warning() {
    check(
        "name,value\ndebug\nbot,Acme\n",
        "
        bot=Acme
        line 2: warning: no `,` between a name and a value, so the line is ignored
        ",
    );
}

#[test]
fn value_without_name_is_ignored_with_a_warning() {
    check(
        "a,1\n,orphan\n  ,  x,y\n",
        "
        a=1
        line 2: warning: a value without a name is ignored
        line 3: warning: a value without a name is ignored
        ",
    );
}

#[test]
fn unterminated_quote_names_its_line_and_column() {
    check(
        "name,value\nbot,Acme\nwelcome,  \"Hello\nthere,1\n",
        "line 3, column 11: error: unterminated quoted value starting here: its closing `\"` is \
         missing (a quote inside a quoted value is written `\"\"`)",
    );
    check("\"bot,Acme\n", "line 1, column 1: error: unterminated quoted value starting here...");
}

#[test]
fn text_after_a_closing_quote_is_an_error_on_its_own_line() {
    check(
        "a,\"x\" y\nb,\"multi\nline\"tail\n\"c\"d,1\ne,1\n",
        "
        line 1, column 7: error: unexpected text after a closing quote...
        line 3, column 6: error: unexpected text after a closing quote...
        line 4, column 4: error: unexpected text after a closing quote...
        ",
    );
}

#[test]
fn errors_come_before_warnings_in_an_invalid_file() {
    check(
        "stray\na,\"x\" y\n",
        "
        line 2, column 7: error: unexpected text after a closing quote...
        line 1: warning: no `,` between a name and a value...
        ",
    );
}

#[test]
fn file_that_sets_nothing_is_valid_with_a_warning() {
    let warning = "warning: the file sets nothing, so the settings it set before are removed";
    check("", warning);
    check("\u{feff}", warning);
    check("name,value\r\n", warning);
    check("# nothing yet\n,\n\n", warning);
}

#[test]
fn many_problems_are_capped_and_counted() {
    let input = "stray\n".repeat(150) + "a,1\n";
    let result = read_config(input.as_bytes()).unwrap();
    assert_eq!(result.settings.len(), 1);
    assert_eq!(result.warnings.len(), 101);
    assert_eq!(result.warnings[100].to_string(), "warning: 50 more problems are not shown");
}

#[test]
fn invalid_config_displays_its_first_error() {
    let invalid = read_config(b"a,\"x").unwrap_err();
    assert!(
        invalid.to_string().starts_with(
            "invalid settings file: line 1, column 3: error: unterminated quoted value"
        )
    );
}

/// Names the `csv` writer round-trips through the reader: trimmed, non-empty, not starting
/// with `#` (a comment) or U+FEFF (a byte order mark, when first in the file), without `;`
/// (which makes the separator ambiguous) and without control characters other than line
/// feed (CR is read as a line break, and many control characters make a file binary).
fn name_strategy() -> impl Strategy<Value = String> {
    "[^\\p{Cc};]{1,12}|[a-z]{1,3}\n[ ,\"a-z]{0,4}"
        .prop_map(|name| name.trim().to_owned())
        .prop_filter("names are non-empty and not comments", |name| {
            !name.is_empty() && !name.starts_with(['#', '\u{feff}'])
        })
}

/// Values as the `csv` writer writes them: anything without CR or other control characters
/// but line feed, trimmed (an unquoted value is read trimmed).
fn value_strategy() -> impl Strategy<Value = String> {
    "[^\\p{Cc}]{0,20}|[ ,;\"a-z\n]{0,20}".prop_map(|value| value.trim().to_owned())
}

fn pairs_strategy() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec((name_strategy(), value_strategy()), 0..12).prop_map(|pairs| {
        let mut seen = std::collections::HashSet::new();
        pairs.into_iter().filter(|(name, _)| seen.insert(name.clone())).collect()
    })
}

fn write_csv(pairs: &[(String, String)], header: bool, delimiter: u8, crlf: bool) -> Vec<u8> {
    let terminator = if crlf { csv::Terminator::CRLF } else { csv::Terminator::Any(b'\n') };
    let mut writer =
        csv::WriterBuilder::new().delimiter(delimiter).terminator(terminator).from_writer(vec![]);
    if header {
        writer.write_record(["name", "value"]).unwrap();
    }
    for (name, value) in pairs {
        writer.write_record([name, value]).unwrap();
    }
    writer.into_inner().unwrap()
}

fn read_pairs(bytes: &[u8]) -> Result<Vec<(String, String)>, String> {
    let file = read_config(bytes).map_err(|invalid| invalid.to_string())?;
    Ok(file.settings.into_iter().map(|setting| (setting.name, setting.value)).collect())
}

proptest! {
    #[test]
    fn reader_never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = read_config(&bytes);
    }

    #[test]
    fn reader_never_panics_on_csv_like_text(text in "[a-c ,;\"#\t\r\n\u{feff}é]{0,300}") {
        let _ = read_config(text.as_bytes());
    }

    #[test]
    fn pairs_written_by_the_csv_crate_read_back_identical(
        pairs in pairs_strategy(),
        header in any::<bool>(),
        crlf in any::<bool>(),
    ) {
        // Without a header, a first pair `name,value` would be taken for one.
        let first_is_header_like = pairs.first().is_some_and(|(name, value)| {
            name.eq_ignore_ascii_case("name") && value.eq_ignore_ascii_case("value")
        });
        prop_assume!(header || !first_is_header_like);
        let bytes = write_csv(&pairs, header, b',', crlf);
        prop_assert_eq!(read_pairs(&bytes), Ok(pairs));
    }

    #[test]
    fn semicolon_files_with_a_header_read_back_identical(
        pairs in pairs_strategy(),
        crlf in any::<bool>(),
    ) {
        let bytes = write_csv(&pairs, true, b';', crlf);
        prop_assert_eq!(read_pairs(&bytes), Ok(pairs));
    }
}
