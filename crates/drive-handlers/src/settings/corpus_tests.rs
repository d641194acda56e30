//! Reads every `config.csv` of the real bot packages in the shared corpus.
//!
//! The corpus lives outside the repository (`../shared/corpus` from the workspace root, or
//! the folder named by `DRIVE_CORPUS`); without it the test says so and passes.

use std::path::{Path, PathBuf};

use super::reader::read_config;

/// Settings per file. Counted by hand, reading each file: ai-search (4 theme rows),
/// attendance-crm (26, between 11 comment headings and blank lines), bling (18, with `,`
/// separator rows and empty values), contacts (8), edu (4, names with spaces and a padded
/// value), law (1, no final line break), llm-server (3), llm-tools (3, trailing blanks),
/// store-server (5, a value with commas). default (80, between 126 comment lines and 21 `,`
/// lines) was counted with grep, not by hand.
const EXPECTED_COUNTS: [(&str, usize); 10] = [
    ("ai-search.gbai/ai-search.gbot/config.csv", 4),
    ("attendance-crm.gbai/attendance-crm.gbot/config.csv", 26),
    ("bling.gbai/bling.gbot/config.csv", 18),
    ("contacts.gbai/contacts.gbot/config.csv", 8),
    ("default.gbai/default.gbot/config.csv", 80),
    ("edu.gbai/edu.gbot/config.csv", 4),
    ("law.gbai/law.gbot/config.csv", 1),
    ("llm-server.gbai/llm-server.gbot/config.csv", 3),
    ("llm-tools.gbai/llm-tools.gbot/config.csv", 3),
    ("store-server.gbai/store-server.gbot/config.csv", 5),
];

/// Values worth checking one by one: spaces in names, padding, commas, no final line break.
const EXPECTED_VALUES: [(&str, &str, &str); 5] = [
    ("edu.gbai/edu.gbot/config.csv", "Theme Color", "indigo"),
    ("llm-tools.gbai/llm-tools.gbot/config.csv", "Theme Color", "teal"),
    ("law.gbai/law.gbot/config.csv", "Theme Color", "lime"),
    ("ai-search.gbai/ai-search.gbot/config.csv", "theme-color1", "#0d2111"),
    (
        "store-server.gbai/store-server.gbot/config.csv",
        "bot-description",
        "Store Server API - Product search, classification, barcode scanning and enrichment",
    ),
];

#[test]
fn every_corpus_config_parses_clean_with_the_expected_rows() {
    let (root, is_default) = corpus_root();
    if !root.is_dir() {
        notice_missing(&root);
        return;
    }

    let files = config_files(&root);
    assert!(!files.is_empty(), "no config.csv under {}", root.display());
    for relative in &files {
        let bytes = std::fs::read(root.join(relative)).unwrap();
        let file = read_config(&bytes).unwrap_or_else(|invalid| panic!("{relative}: {invalid}"));
        assert_eq!(file.warnings, [], "{relative}");

        if let Some((_, expected)) = EXPECTED_COUNTS.iter().find(|(path, _)| path == relative) {
            assert_eq!(file.settings.len(), *expected, "{relative}");
        }
        for (_, name, value) in EXPECTED_VALUES.iter().filter(|(path, ..)| path == relative) {
            let setting = file.settings.iter().find(|setting| setting.name == *name);
            assert_eq!(setting.map(|setting| setting.value.as_str()), Some(*value), "{relative}");
        }
    }

    // The shared corpus must hold every file counted above; another one need not.
    if is_default {
        for (path, _) in EXPECTED_COUNTS {
            assert!(files.iter().any(|file| file == path), "{path} is missing from the corpus");
        }
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
    eprintln!("corpus not found at {}; skipping the corpus test", root.display());
}

/// Returns the `*.gbai/*.gbot/config.csv` files under `root`, as sorted `/`-joined paths.
fn config_files(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for package in read_dir_names(root).into_iter().filter(|name| name.ends_with(".gbai")) {
        for folder in read_dir_names(&root.join(&package)) {
            if !folder.to_ascii_lowercase().ends_with(".gbot") {
                continue;
            }
            for file in read_dir_names(&root.join(&package).join(&folder)) {
                if file.eq_ignore_ascii_case("config.csv") {
                    files.push(format!("{package}/{folder}/{file}"));
                }
            }
        }
    }
    files.sort();
    files
}

fn read_dir_names(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.filter_map(|entry| entry.ok()?.file_name().into_string().ok()).collect()
}
