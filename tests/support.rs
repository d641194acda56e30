//! Helpers shared by the integration tests: running the command line in-process, finding
//! and copying the corpus, PostgreSQL databases for one test.

use std::path::{Path, PathBuf};

use clap::Parser as _;
use drive_server::{Cli, Exit};

/// Runs `drive-server ARGS` in-process and returns its exit and standard output.
pub(crate) async fn run_cli(args: &[&str]) -> (Exit, String) {
    let cli = Cli::try_parse_from(std::iter::once("drive-server").chain(args.iter().copied()))
        .unwrap_or_else(|err| panic!("bad arguments {args:?}: {err}"));
    let mut out = Vec::new();
    let exit = drive_server::execute(cli, &mut out)
        .await
        .unwrap_or_else(|err| panic!("drive-server {args:?} failed: {err:#}"));
    (exit, String::from_utf8(out).expect("output is UTF-8"))
}

/// Runs `drive-server ARGS --json` and parses its output.
pub(crate) async fn run_json(args: &[&str]) -> (Exit, serde_json::Value) {
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let (exit, out) = run_cli(&with_json).await;
    let value = serde_json::from_str(&out).unwrap_or_else(|err| panic!("{err}: {out}"));
    (exit, value)
}

/// Returns the folder of real bot packages, or `None` (with a notice) when it is absent.
pub(crate) fn corpus_dir(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("DRIVE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"));
    if dir.is_dir() {
        return Some(dir);
    }
    notice(&format!("{test}: skipped, no corpus at {} (set DRIVE_CORPUS)", dir.display()));
    None
}

#[expect(clippy::print_stderr, reason = "a skipped test says so where the runner shows it")]
pub(crate) fn notice(message: &str) {
    eprintln!("{message}");
}

/// Copies the `*.gbai` folders of `from` into `to`.
pub(crate) fn copy_packages(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().ends_with(".gbai") {
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Returns the number of files under `dir`, counted by walking the folder.
pub(crate) fn count_files(dir: &Path) -> usize {
    let mut n_files = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            n_files += count_files(&entry.path());
        } else {
            n_files += 1;
        }
    }
    n_files
}

/// Returns the report of `bot` in a `sync --json` or `status --json` document.
pub(crate) fn bot_entry<'a>(doc: &'a serde_json::Value, bot: &str) -> &'a serde_json::Value {
    doc["bots"]
        .as_array()
        .and_then(|bots| bots.iter().find(|entry| entry["bot"] == bot))
        .unwrap_or_else(|| panic!("no bot {bot} in {doc}"))
}

/// Returns the sum of `field` over every bot of a `sync --json` document.
pub(crate) fn total(doc: &serde_json::Value, field: &str) -> u64 {
    doc["bots"].as_array().unwrap().iter().map(|bot| bot[field].as_u64().unwrap()).sum()
}
