//! Properties of the compiler: it never panics, whatever the input; every program it
//! accepts prints back to source that parses to the same tree; generated valid programs are
//! accepted; and the JSON depth it checks is the depth of the JSON it stores.

use std::path::PathBuf;
use std::sync::LazyLock;

use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;

use super::test_support::{assert_round_trip, json_nesting, without_positions};
use super::{SyntaxTree, compile, compile_bytes, depth, print};

/// Checks what holds for any input: no panic, and when the input compiles without errors,
/// its printed form compiles to the same tree and the measured JSON depth is the real one.
fn check_any(source: &str) {
    let compiled = compile("prop", source);
    let json = compiled.tree_json();
    assert_eq!(depth::tree_depth(&compiled.tree), json_nesting(&json), "{source}");
    if compiled.has_errors() {
        // Printing a tree with errors must not panic either.
        let _ = print(&compiled.tree);
        return;
    }
    let reread: SyntaxTree = serde_json::from_str(&json).unwrap();
    assert_eq!(reread, compiled.tree);
    assert_positioned(&serde_json::from_str(&json).unwrap(), source);
    let printed = print(&compiled.tree);
    let again = compile("prop", &printed);
    assert!(!again.has_errors(), "source:\n{source}\nprinted:\n{printed}\n{:?}", again.diagnostics);
    assert_eq!(
        without_positions(&compiled.tree),
        without_positions(&again.tree),
        "source:\n{source}\nprinted:\n{printed}"
    );
}

/// Asserts that every statement and expression of a tree's JSON has a line and a column.
fn assert_positioned(value: &serde_json::Value, source: &str) {
    match value {
        serde_json::Value::Object(fields) => {
            if fields.contains_key("statement") || fields.contains_key("expr") {
                for key in ["line", "column"] {
                    let position = fields.get(key).and_then(serde_json::Value::as_u64);
                    assert!(position.is_some_and(|n| n > 0), "{key} missing in {value}\n{source}");
                }
            }
            fields.values().for_each(|field| assert_positioned(field, source));
        }
        serde_json::Value::Array(items) => {
            items.iter().for_each(|item| assert_positioned(item, source))
        }
        _ => {}
    }
}

/// Inputs the properties once found wrong, kept as plain tests rather than as a proptest
/// regression file.
#[test]
fn inputs_the_properties_found_stay_fixed() {
    for source in [
        // A non-ASCII unknown command: upper-casing it must not change its letters.
        "ῖ",
        // A keyword call whose argument is a keyword call prints without brackets.
        "USE KB IF BEGIN TALK 0",
        "x = 1 + (AAA BBB CCC FROB 0)",
        // `CASE [..]` is a CASE with an array, not an assignment to `CASE`.
        "SELECT CASE 0\nCASE ([]).id, 1\nCASE [1]\nEND SELECT",
        // `IF (GET "t") = "v" THEN` is an IF, not an assignment to `IF(...)`.
        "IF (GET \"t\") = \"v\" THEN\nEND IF",
        // A variable named like a command still has methods.
        "list.PUSH(x)\nfirst.id = 2",
        // Statement keywords never start a keyword call; a keyword call compared at the
        // start of an argument prints without brackets, but with them after `=`.
        "EE IF INSTR(a, \"b\") > 0 THEN",
        "FROB GET \"x\" = 1\nx = (GET \"a\") = \"b\"\ny = (GET \"a\").b = 1",
        // REM after `=` is a word, and stays one when printed.
        "img = REM CHART \"timeseries\", data",
    ] {
        check_any(source);
    }
}

proptest! {
    // Failures are shrunk and kept as the plain tests above, not in a regression file.
    // PROPTEST_CASES runs more cases, as a longer search before a release.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(512),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn parser_never_panics_on_arbitrary_text(source in "\\PC*") {
        check_any(&source);
    }

    #[test]
    fn parser_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(compiled) = compile_bytes("prop", &bytes) {
            let _ = print(&compiled.tree);
        }
    }

    #[test]
    fn parser_never_panics_on_basic_like_lines(lines in proptest::collection::vec(basic_like_line(), 0..24)) {
        check_any(&lines.join("\n"));
    }

    #[test]
    fn mutated_corpus_scripts_keep_every_property(
        pick in any::<prop::sample::Index>(),
        edits in proptest::collection::vec(edit(), 1..8),
    ) {
        let scripts = corpus_scripts();
        if scripts.is_empty() {
            return Ok(());
        }
        let mut source = scripts[pick.index(scripts.len())].clone();
        for edit in &edits {
            edit.apply(&mut source);
        }
        check_any(&source);
    }

    #[test]
    fn generated_programs_parse_and_print_back_to_the_same_tree(program in program()) {
        assert_round_trip(&program);
        check_any(&program);
    }
}

/// Returns the text of every script of the shared corpus, or nothing when it is absent (the
/// corpus tests say so).
fn corpus_scripts() -> &'static [String] {
    static SCRIPTS: LazyLock<Vec<String>> = LazyLock::new(|| {
        let root = std::env::var_os("DRIVE_CORPUS").map_or_else(
            || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus")),
            PathBuf::from,
        );
        let mut scripts = Vec::new();
        let mut dirs = vec![root];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for path in entries.flatten().map(|entry| entry.path()) {
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|ext| ext == "bas") {
                    scripts.extend(std::fs::read_to_string(&path).ok());
                }
            }
        }
        scripts.sort();
        scripts
    });
    &SCRIPTS
}

/// A change to a script, at a place chosen relative to its length.
#[derive(Clone, Debug)]
enum Edit {
    Insert(prop::sample::Index, String),
    Delete(prop::sample::Index, usize),
    DuplicateLine(prop::sample::Index),
    DeleteLine(prop::sample::Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    let snippet = prop_oneof![
        prop::sample::select(vec![
            "\"",
            "'",
            "(",
            ")",
            "[",
            "]",
            "{",
            "}",
            ",",
            "=",
            "\n",
            "END IF\n",
            "IF x THEN\n",
            "NEXT\n",
            " AND ",
            " REM ",
            "#{",
            "?.",
            "\r",
            "\u{feff}",
            "🎫",
            " WITH ",
            " AS ",
        ])
        .prop_map(str::to_owned),
        "[ -~]{1,4}",
    ];
    prop_oneof![
        (any::<prop::sample::Index>(), snippet).prop_map(|(at, text)| Edit::Insert(at, text)),
        (any::<prop::sample::Index>(), 1..6_usize).prop_map(|(at, len)| Edit::Delete(at, len)),
        any::<prop::sample::Index>().prop_map(Edit::DuplicateLine),
        any::<prop::sample::Index>().prop_map(Edit::DeleteLine),
    ]
}

impl Edit {
    fn apply(&self, source: &mut String) {
        let boundaries: Vec<usize> =
            source.char_indices().map(|(idx, _)| idx).chain([source.len()]).collect();
        let mut lines: Vec<String> = source.split('\n').map(str::to_owned).collect();
        match self {
            Edit::Insert(at, text) => {
                source.insert_str(boundaries[at.index(boundaries.len())], text)
            }
            Edit::Delete(at, len) => {
                let start = at.index(boundaries.len());
                let end = (start + len).min(boundaries.len() - 1);
                source.replace_range(boundaries[start]..boundaries[end], "");
            }
            Edit::DuplicateLine(at) => {
                let line = lines[at.index(lines.len())].clone();
                lines.insert(at.index(lines.len()), line);
                *source = lines.join("\n");
            }
            Edit::DeleteLine(at) => {
                lines.remove(at.index(lines.len()));
                *source = lines.join("\n");
            }
        }
    }
}

/// Fragments real scripts are made of, in any order: keywords, names, literals, operators,
/// brackets, quotes and comments, so that most lines are nearly valid.
fn basic_like_line() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        4 => prop::sample::select(vec![
            "IF", "THEN", "ELSE", "ELSE IF", "END IF", "FOR EACH", "IN", "FOR", "TO", "STEP",
            "NEXT", "DO", "WHILE", "UNTIL", "LOOP", "WEND", "SELECT CASE", "CASE", "END",
            "SUB", "FUNCTION", "WITH", "END WITH", "BEGIN TALK", "END TALK", "TABLE", "PARAM",
            "AS", "LIKE", "ENUM", "OPTIONAL", "DESCRIPTION", "HEAR", "DEFAULT", "RETURN",
            "EXIT", "GOTO", "ON ERROR", "RESUME", "LET", "REM", "TALK", "GET", "SET", "FIND",
            "NEW OBJECT", "SET SCHEDULE", "USE KB", "ADD TOOL", "WEBHOOK", "AND", "OR", "NOT",
            "MOD", "IS", "CONTAINS", "TRUE", "FALSE", "NULL", "FOO", "BAR BAZ", "SEARCH",
        ]).prop_map(str::to_owned),
        3 => prop::sample::select(vec!["a", "b", "item", "x1", "list", "ação", "user_name"])
            .prop_map(str::to_owned),
        2 => prop::sample::select(vec![
            "=", "<>", "<", ">=", "+", "-", "*", "/", "\\", "&", "^", ",", ".", "?.", ":",
            "(", ")", "[", "]", "{", "}", "#{", "'", "\"", "!", ";",
        ]).prop_map(str::to_owned),
        2 => "[0-9]{1,3}(\\.[0-9])?".prop_map(|number| number),
        2 => "[a-z '{}$çã🎫]{0,6}".prop_map(|text| format!("\"{text}\"")),
        1 => Just("\"0 9 * * 1\"".to_owned()),
    ];
    proptest::collection::vec(fragment, 0..10).prop_map(|fragments| fragments.join(" "))
}

const NAMES: [&str; 7] = ["a", "b", "total", "item", "user_name", "x1", "ação"];
const FIELDS: [&str; 4] = ["id", "name", "count", "status"];

fn name() -> impl Strategy<Value = String> + Clone {
    prop::sample::select(NAMES.to_vec()).prop_map(str::to_owned)
}

fn string_literal() -> impl Strategy<Value = String> + Clone {
    "[a-zA-Z0-9 '{}$çã🎫,.:\"-]{0,10}".prop_map(|text| format!("\"{}\"", text.replace('"', "\"\"")))
}

/// A value that can stand as an operand anywhere: a literal, a name, or something in
/// brackets.
fn atom() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        "[0-9]{1,4}(\\.[0-9]{1,2})?".prop_map(|number| number),
        string_literal(),
        name(),
        prop::sample::select(vec!["TRUE", "FALSE", "NULL", "NOW"]).prop_map(str::to_owned),
    ]
}

fn expression() -> BoxedStrategy<String> {
    let leaf = atom().boxed();
    leaf.prop_recursive(4, 24, 4, |inner| {
        let op = prop::sample::select(vec![
            "OR", "AND", "=", "<>", "<", ">", "<=", ">=", "IS", "IS NOT", "CONTAINS", "+", "-",
            "&", "*", "/", "\\", "MOD", "^",
        ]);
        prop_oneof![
            (inner.clone(), op, inner.clone()).prop_map(|(l, op, r)| format!("({l} {op} {r})")),
            // A chain without brackets exercises precedence.
            proptest::collection::vec(
                (atom(), prop::sample::select(vec!["+", "*", "-", "^", "AND", "="])),
                1..4
            )
            .prop_map(|parts| {
                let mut text = String::new();
                for (idx, (atom, op)) in parts.iter().enumerate() {
                    if idx > 0 {
                        text.push_str(&format!(" {op} "));
                    }
                    text.push_str(atom);
                }
                format!("({text})")
            }),
            inner.clone().prop_map(|e| format!("(-{e})")),
            inner.clone().prop_map(|e| format!("(NOT {e})")),
            (name(), proptest::collection::vec(inner.clone(), 0..3))
                .prop_map(|(f, args)| format!("UCASE{f}({})", args.join(", "))),
            (inner.clone(), prop::sample::select(FIELDS.to_vec()), any::<bool>()).prop_map(
                |(e, field, optional)| {
                    format!("({e}){}{field}", if optional { "?." } else { "." })
                }
            ),
            (inner.clone(), inner.clone()).prop_map(|(e, i)| format!("({e})[{i}]")),
            proptest::collection::vec(inner.clone(), 0..3)
                .prop_map(|items| format!("[{}]", items.join(", "))),
            proptest::collection::vec((prop::sample::select(FIELDS.to_vec()), inner.clone()), 0..3)
                .prop_map(|entries| {
                    let entries: Vec<String> =
                        entries.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
                    format!("{{{}}}", entries.join(", "))
                }),
            (prop::sample::select(vec!["GET", "FIND", "LLM", "GET SESSION", "FROB"]), atom())
                .prop_map(|(keyword, arg)| format!("({keyword} {arg})")),
        ]
    })
    .boxed()
}

/// Arguments of a command: values after commas, or clause words with values.
fn arguments() -> impl Strategy<Value = String> {
    let argument = prop_oneof![
        3 => expression().prop_map(|e| format!(", {e}")),
        1 => (prop::sample::select(vec!["AS", "WITH", "BY", "WHERE", "REFRESH"]), expression())
            .prop_map(|(keyword, e)| format!(" {keyword} {e}")),
        1 => prop::sample::select(vec![" ASC", " DESC"]).prop_map(str::to_owned),
    ];
    // An unknown one-word command followed by `(` is a call, so the first argument starts
    // bare.
    let first =
        prop_oneof![atom(), (atom(), expression()).prop_map(|(atom, e)| format!("{atom} + {e}")),];
    (first, proptest::collection::vec(argument, 0..3))
        .prop_map(|(first, rest)| format!(" {first}{}", rest.concat()))
}

fn simple_statement() -> impl Strategy<Value = Vec<String>> {
    let phrase = prop::sample::select(vec![
        "TALK",
        "PRINT",
        "SAVE",
        "ADD SUGGESTION",
        "SET BOT MEMORY",
        "SEND MAIL",
        "WAIT",
        "FROB",
        "SEARCH PRODUCTS",
        "TAG CONVERSATION",
        "REFRESH",
    ]);
    let value_call = prop::sample::select(vec![
        "FIND",
        "GET",
        "LLM",
        "GET SESSION",
        "FORMAT",
        "MAX",
        "SCAN BARCODE",
        "FIRST",
    ]);
    prop_oneof![
        (name(), expression()).prop_map(|(n, e)| format!("{n} = {e}")),
        (name(), prop::sample::select(FIELDS.to_vec()), expression())
            .prop_map(|(n, f, e)| format!("{n}.{f} = {e}")),
        (name(), expression(), expression()).prop_map(|(n, i, e)| format!("{n}[{i}] = {e}")),
        (name(), value_call, arguments()).prop_map(|(n, k, args)| format!("{n} = {k}{args}")),
        Just("o = NEW OBJECT".to_owned()),
        (phrase, arguments()).prop_map(|(p, args)| format!("{p}{args}")),
        Just("CLEAR SUGGESTIONS".to_owned()),
        (name(), expression()).prop_map(|(n, e)| format!("{n}.PUSH({e})")),
        (name(), string_literal()).prop_map(|(n, s)| format!("HEAR {n} AS {s}, \"no\" WITH {s}")),
        name().prop_map(|n| format!("HEAR {n} AS STRING")),
        expression().prop_map(|e| format!("RETURN {e}")),
        Just("RETURN".to_owned()),
        Just("SET SCHEDULE \"0 9 * * 1\"".to_owned()),
        string_literal().prop_map(|s| format!("USE KB {s}")),
        Just("GOTO done".to_owned()),
        (expression(), expression(), expression())
            .prop_map(|(c, a, b)| format!("IF {c} THEN TALK {a} ELSE x1 = {b}")),
    ]
    .prop_map(|line| vec![line])
}

fn statement() -> BoxedStrategy<Vec<String>> {
    simple_statement()
        .boxed()
        .prop_recursive(3, 32, 4, |inner| {
            let body = proptest::collection::vec(inner.clone(), 0..3).prop_map(|bodies| {
                bodies.into_iter().flatten().map(|line| format!("    {line}")).collect::<Vec<_>>()
            });
            prop_oneof![
                (
                    expression(),
                    body.clone(),
                    proptest::option::of((expression(), body.clone())),
                    proptest::option::of(body.clone())
                )
                    .prop_map(|(c, then, else_if, otherwise)| {
                        let mut lines = vec![format!("IF {c} THEN")];
                        lines.extend(then);
                        if let Some((c, body)) = else_if {
                            lines.push(format!("ELSE IF {c} THEN"));
                            lines.extend(body);
                        }
                        if let Some(body) = otherwise {
                            lines.push("ELSE".to_owned());
                            lines.extend(body);
                        }
                        lines.push("END IF".to_owned());
                        lines
                    }),
                (expression(), body.clone()).prop_map(|(list, body)| {
                    let mut lines =
                        vec![format!("FOR EACH row IN {list}"), "    EXIT FOR".to_owned()];
                    lines.extend(body);
                    lines.push("NEXT row".to_owned());
                    lines
                }),
                (expression(), expression(), body.clone()).prop_map(|(from, to, body)| {
                    let mut lines = vec![format!("FOR i = {from} TO {to} STEP 2")];
                    lines.extend(body);
                    lines.push("NEXT".to_owned());
                    lines
                }),
                (expression(), body.clone(), any::<bool>()).prop_map(|(c, body, at_end)| {
                    let mut lines =
                        vec![if at_end { "DO".to_owned() } else { format!("DO UNTIL {c}") }];
                    lines.extend(body);
                    lines.push(if at_end { format!("LOOP WHILE {c}") } else { "LOOP".to_owned() });
                    lines
                }),
                (expression(), body.clone()).prop_map(|(c, body)| {
                    let mut lines = vec![format!("WHILE {c}")];
                    lines.extend(body);
                    lines.push("WEND".to_owned());
                    lines
                }),
                (
                    expression(),
                    proptest::collection::vec((expression(), body.clone()), 1..3),
                    body.clone()
                )
                    .prop_map(|(subject, cases, otherwise)| {
                        let mut lines = vec![format!("SELECT CASE {subject}")];
                        for (value, body) in cases {
                            lines.push(format!("CASE {value}, 1"));
                            lines.extend(body);
                        }
                        lines.push("CASE ELSE".to_owned());
                        lines.extend(otherwise);
                        lines.push("END SELECT".to_owned());
                        lines
                    }),
                (
                    name(),
                    proptest::collection::vec(
                        (prop::sample::select(FIELDS.to_vec()), expression()),
                        0..3
                    )
                )
                    .prop_map(|(object, fields)| {
                        let mut lines = vec![format!("WITH {object}")];
                        lines.extend(fields.iter().map(|(f, e)| format!("    {f} = {e}")));
                        lines.push("END WITH".to_owned());
                        lines
                    }),
                proptest::collection::vec("[a-zA-Z0-9 '\"*{}.,:-]{0,20}", 0..3).prop_map(|text| {
                    let mut lines = vec!["BEGIN TALK".to_owned()];
                    lines.extend(text);
                    lines.push("END TALK".to_owned());
                    lines
                }),
            ]
        })
        .boxed()
}

/// A valid program: an optional tool header, top-level routines and tables, statements, and
/// the label every `GOTO done` jumps to.
fn program() -> impl Strategy<Value = String> {
    let params = proptest::collection::vec(
        (
            prop::sample::select(vec!["string", "integer", "date", "QRCODE", "list"]),
            proptest::option::of(string_literal()),
            any::<bool>(),
        ),
        0..3,
    );
    let table = proptest::collection::vec(
        (
            prop::sample::select(FIELDS.to_vec()),
            prop::sample::select(vec!["number", "string(20)", "decimal(10, 2)"]),
            any::<bool>(),
        ),
        0..3,
    );
    (
        params,
        proptest::option::of(string_literal()),
        table,
        proptest::collection::vec(statement(), 0..6),
        statement(),
    )
        .prop_map(|(params, description, table, body, routine_body)| {
            let mut lines = Vec::new();
            for (idx, (kind, example, optional)) in params.iter().enumerate() {
                let like = example.as_ref().map(|e| format!(" LIKE {e}")).unwrap_or_default();
                let optional = if *optional { " OPTIONAL" } else { "" };
                lines.push(format!("PARAM p{idx} AS {kind}{like} DESCRIPTION \"param\"{optional}"));
            }
            if let Some(description) = description {
                lines.push(format!("DESCRIPTION {description}"));
            }
            if !table.is_empty() {
                lines.push("TABLE t ON db".to_owned());
                for (field, kind, key) in table {
                    lines.push(format!("    {field} {kind}{}", if key { " KEY" } else { "" }));
                }
                lines.push("END TABLE".to_owned());
            }
            lines.push("SUB helper(a, b)".to_owned());
            lines.extend(routine_body.into_iter().map(|line| format!("    {line}")));
            lines.push("    EXIT SUB".to_owned());
            lines.push("END SUB".to_owned());
            lines.extend(body.into_iter().flatten());
            lines.push("done:".to_owned());
            lines.join("\n")
        })
}
