//! Compiles every `.bas` script of the real bot packages in the shared corpus.
//!
//! The corpus lives outside the repository (`../shared/corpus` from the workspace root, or
//! the folder named by `DRIVE_CORPUS`); without it the tests say so and pass. The counts
//! below hold for the shared corpus and are checked only when it is the one read.

use std::path::{Path, PathBuf};

use super::test_support::{json_nesting, without_positions};
use super::{CompiledScript, SyntaxTree, compile, compile_bytes, depth, print};
use drive_core::Severity;

/// Scripts with real faults, each with what is wrong in it. Every other script must compile
/// without an error, and each of these must still report one.
const SCRIPTS_WITH_FAULTS: [(&str, &str); 13] = [
    (
        "attendance-crm.gbai/attendance-crm.gbdialog/attendant-helper.bas",
        "uses STARTS WITH as an operator and FOR EACH ... IN list LAST 10, neither of which \
         the dialect has",
    ),
    (
        "bi.gbai/bi.gbai/bi-admin.bas",
        "an SQL SELECT with '/' in single quotes: the ' starts a comment, so the line ends in +",
    ),
    (
        "bi.gbai/bi.gbai/bi-user.bas",
        "the same single-quoted '/' in an SQL SELECT that also runs over several lines",
    ),
    (
        "bling.gbai/bling.gbdialog/sync-erp.bas",
        "JavaScript in BASIC: `&&` instead of AND (twice) and 'f' in single quotes",
    ),
    (
        "customer-support-workflow.gbai/customer-support-workflow.bas",
        "orchestration syntax the dialect does not have: `STEP n:` and `BRANCH A:` lines, \
         `ON TIMEOUT:`, and END ON / END PARALLEL closing no block",
    ),
    (
        "marketing-campaign.gbai/marketing-campaign.bas",
        "the same orchestration syntax, and a LLM call continued on lines starting with WITH",
    ),
    ("llm-server.gbai/llm-server.gbdialog/start.bas", "DESCRIPTION text without double quotes"),
    (
        "public-apis.gbai/public-apis.gbdialog/animals-apis.bas",
        "many tools pasted into one file: 18 DESCRIPTION lines and repeated PARAM names",
    ),
    (
        "public-apis.gbai/public-apis.gbdialog/data-utility-apis.bas",
        "many tools pasted into one file: 26 DESCRIPTION lines and repeated PARAM names",
    ),
    (
        "public-apis.gbai/public-apis.gbdialog/entertainment-apis.bas",
        "many tools pasted into one file: 25 DESCRIPTION lines",
    ),
    (
        "public-apis.gbai/public-apis.gbdialog/food-apis.bas",
        "many tools pasted into one file: 16 DESCRIPTION lines",
    ),
    (
        "public-apis.gbai/public-apis.gbdialog/science-space-apis.bas",
        "many tools pasted into one file: 18 DESCRIPTION lines",
    ),
    (
        "public-apis.gbai/public-apis.gbdialog/weather-apis.bas",
        "many tools pasted into one file: 8 DESCRIPTION lines and repeated PARAM names",
    ),
];

/// Number of `.bas` files in the shared corpus.
const SCRIPTS: usize = 57;

/// PARAM lines in the shared corpus, counted with
/// `grep -rhiE '^\s*PARAM\s' --include='*.bas' corpus | wc -l`; 20 of them say OPTIONAL.
const PARAM_LINES: usize = 129;

#[test]
fn corpus_scripts_compile_without_errors_except_the_known_faulty_ones() {
    let Some(corpus) = Corpus::read() else { return };

    for script in &corpus.scripts {
        let faulty = SCRIPTS_WITH_FAULTS.iter().any(|(path, _)| *path == script.path);
        let errors: Vec<String> = script
            .compiled
            .diagnostics
            .iter()
            .filter(|diagnostic| diagnostic.severity == Severity::Error)
            .map(ToString::to_string)
            .collect();
        if faulty {
            assert!(!errors.is_empty(), "{} is listed as faulty but compiles", script.path);
        } else {
            assert_eq!(errors, Vec::<String>::new(), "{}", script.path);
        }
    }

    if corpus.is_default {
        assert_eq!(corpus.scripts.len(), SCRIPTS);
        for (path, _) in SCRIPTS_WITH_FAULTS {
            assert!(corpus.scripts.iter().any(|s| s.path == path), "{path} is missing");
        }
    }
}

#[test]
fn every_param_line_becomes_one_tool_parameter() {
    let Some(corpus) = Corpus::read() else { return };

    let mut total_lines = 0;
    let mut total_params = 0;
    for script in &corpus.scripts {
        let lines = param_lines(&script.source);
        let params = script.compiled.tool.as_ref().map_or(0, |tool| tool.params.len());
        assert_eq!(params, lines.len(), "{}", script.path);
        total_lines += lines.len();
        total_params += params;
    }
    assert_eq!(total_params, total_lines);
    if corpus.is_default {
        assert_eq!(total_lines, PARAM_LINES);
    }
}

#[test]
fn optional_params_are_not_required() {
    let Some(corpus) = Corpus::read() else { return };

    let mut optional = 0;
    for script in &corpus.scripts {
        let Some(tool) = &script.compiled.tool else { continue };
        for (line_no, text) in param_lines(&script.source) {
            let param = tool.params.iter().find(|param| param.line == line_no).unwrap();
            let says_optional = words_outside_strings(text)
                .iter()
                .any(|word| word.eq_ignore_ascii_case("OPTIONAL"));
            optional += usize::from(says_optional);
            assert_eq!(param.required, !says_optional, "{}:{line_no}", script.path);
            let schema = tool.input_schema();
            assert_eq!(
                schema.required.contains(&param.name),
                !says_optional,
                "{}:{line_no}",
                script.path
            );
        }
    }
    if corpus.is_default {
        assert_eq!(optional, 20);
    }
}

#[test]
fn corpus_scripts_print_back_to_the_same_tree() {
    let Some(corpus) = Corpus::read() else { return };

    for script in corpus.scripts.iter().filter(|script| !script.compiled.has_errors()) {
        let printed = print(&script.compiled.tree);
        let again = compile("again", &printed);
        assert!(!again.has_errors(), "{}\n{printed}\n{:?}", script.path, again.diagnostics);
        assert_eq!(
            without_positions(&script.compiled.tree),
            without_positions(&again.tree),
            "{}",
            script.path
        );
    }
}

#[test]
fn corpus_trees_are_stored_and_read_back_as_json() {
    let Some(corpus) = Corpus::read() else { return };

    for script in &corpus.scripts {
        let json = script.compiled.tree_json();
        assert_eq!(
            depth::tree_depth(&script.compiled.tree),
            json_nesting(&json),
            "{}",
            script.path
        );
        let tree: SyntaxTree = serde_json::from_str(&json).unwrap();
        assert_eq!(tree, script.compiled.tree, "{}", script.path);
    }
}

#[test]
fn corpus_manifests_hold_schedules_tables_and_registrations() {
    let Some(corpus) = Corpus::read() else { return };
    if !corpus.is_default {
        return;
    }

    let crons: Vec<String> =
        corpus.scripts.iter().flat_map(|script| script.compiled.manifest.crons()).collect();
    assert_eq!(crons.len(), 6, "{crons:?}");
    assert!(crons.contains(&"0 0 0 */2 * *".to_owned()));

    let tables = &corpus.script("bling.gbai/bling.gbdialog/tables.bas").manifest.tables;
    assert_eq!(tables.len(), 15);
    assert_eq!(tables.iter().map(|table| table.fields.len()).sum::<usize>(), 240);
    assert!(tables.iter().all(|table| table.connection.as_deref() == Some("maria")));

    let edu = &corpus.script("edu.gbai/edu.gbdialog/start.bas").manifest;
    assert_eq!(edu.websites[0].url, "https://pragmatismo.com.br");
    assert_eq!(edu.websites[0].refresh.as_deref(), Some("30d"));

    let bling = &corpus.script("bling.gbai/bling.gbdialog/start.bas").manifest;
    let added: Vec<&str> = bling.tools_added.iter().map(|tool| tool.name.as_str()).collect();
    assert_eq!(
        added,
        [
            "add-stock",
            "sync-erp",
            "sync-inventory",
            "sync-accounts",
            "sync-suppliers",
            "data-analysis",
            "refresh-llm"
        ]
    );
    for name in added {
        let path = format!("bling.gbai/bling.gbdialog/{name}.bas");
        assert!(corpus.scripts.iter().any(|script| script.path == path), "no {path}");
    }
    // Those with PARAM or DESCRIPTION are tools; the others are scripts a tool call runs.
    let tool = corpus.script("bling.gbai/bling.gbdialog/refresh-llm.bas").tool.as_ref();
    assert_eq!(tool.map(|tool| tool.params.len()), Some(0));
}

struct Corpus {
    scripts: Vec<Script>,
    is_default: bool,
}

struct Script {
    /// Path under the corpus root, `/`-separated.
    path: String,
    source: String,
    compiled: CompiledScript,
}

impl Corpus {
    /// Compiles every script of the corpus, or says why there is none.
    fn read() -> Option<Self> {
        let (root, is_default) = corpus_root();
        if !root.is_dir() {
            notice_missing(&root);
            return None;
        }
        let mut paths = Vec::new();
        collect_scripts(&root, &mut paths);
        paths.sort();
        assert!(!paths.is_empty(), "no .bas under {}", root.display());

        let scripts = paths
            .into_iter()
            .map(|path| {
                let bytes = std::fs::read(&path).unwrap();
                let stem = path.file_stem().and_then(|stem| stem.to_str()).unwrap_or_default();
                let compiled = compile_bytes(stem, &bytes).unwrap();
                let source = String::from_utf8_lossy(&bytes).into_owned();
                let relative = path.strip_prefix(&root).unwrap_or(&path);
                let parts: Vec<String> = relative
                    .components()
                    .map(|part| part.as_os_str().to_string_lossy().into_owned())
                    .collect();
                Script { path: parts.join("/"), source, compiled }
            })
            .collect();
        Some(Corpus { scripts, is_default })
    }

    fn script(&self, path: &str) -> &CompiledScript {
        &self.scripts.iter().find(|script| script.path == path).unwrap().compiled
    }
}

/// Returns the corpus folder and whether it is the default one.
fn corpus_root() -> (PathBuf, bool) {
    match std::env::var_os("DRIVE_CORPUS") {
        Some(root) => (PathBuf::from(root), false),
        None => {
            (PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus")), true)
        }
    }
}

#[expect(clippy::print_stderr, reason = "a skipped corpus test must say why it passed")]
fn notice_missing(root: &Path) {
    eprintln!("corpus not found at {}; skipping the script corpus tests", root.display());
}

fn collect_scripts(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_scripts(&path, found);
        } else if path.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("bas")) {
            found.push(path);
        }
    }
}

/// Returns the lines whose first word is PARAM, with their 1-based numbers.
fn param_lines(source: &str) -> Vec<(u32, &str)> {
    source
        .lines()
        .enumerate()
        .filter(|(_, line)| {
            let line = line.trim_start();
            line.get(..5).is_some_and(|word| word.eq_ignore_ascii_case("PARAM"))
                && line[5..].starts_with(char::is_whitespace)
        })
        .map(|(idx, line)| (u32::try_from(idx + 1).unwrap(), line))
        .collect()
}

/// Returns the words of a line with its string literals left out.
fn words_outside_strings(line: &str) -> Vec<&str> {
    line.split('"').step_by(2).flat_map(str::split_whitespace).collect()
}
