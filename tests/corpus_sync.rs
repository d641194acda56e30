//! The main job over copies of the real packages: every file recorded, every setting
//! loaded, nothing re-done, an edit and a deletion applied exactly, on SQLite and on
//! PostgreSQL; and a lost file state rebuilt without running the handlers again whose
//! results are stored.

use std::path::Path;

use drive_core::{Kind, ObjectMeta, classify};
use drive_db::contract::PgTestDatabase;
use drive_server::Exit;

use crate::support::{bot_entry, copy_packages, corpus_dir, count_files, run_json, total};

/// Settings rows of four corpus `config.csv` files, counted by hand: non-blank rows that
/// are neither the `name,value` header, a `#` comment nor a lone `,` separator.
const HAND_COUNTED_SETTINGS: &[(&str, usize)] =
    &[("store-server", 5), ("edu", 4), ("contacts", 8), ("law", 1)];

#[tokio::test(flavor = "multi_thread")]
async fn corpus_syncs_exactly_once_with_sqlite() {
    let Some(corpus) = corpus_dir("corpus_syncs_exactly_once_with_sqlite") else { return };
    let work = tempfile::tempdir().unwrap();
    let database = format!("sqlite:{}", work.path().join("state.db").display());
    sync_corpus_edit_and_delete(&corpus, work.path(), &database).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn corpus_syncs_exactly_once_with_postgres() {
    let Some(corpus) = corpus_dir("corpus_syncs_exactly_once_with_postgres") else { return };
    let work = tempfile::tempdir().unwrap();
    let database = PgTestDatabase::create().await.expect("PostgreSQL at DATABASE_URL");
    sync_corpus_edit_and_delete(&corpus, work.path(), database.url()).await;
    database.drop_database().await.unwrap();
}

async fn sync_corpus_edit_and_delete(corpus: &Path, work: &Path, database: &str) {
    let root = work.join("bots");
    copy_packages(corpus, &root);
    let storage = format!("fs:{}", root.display());
    let global = ["--storage", storage.as_str(), "--database", database];
    let args = |rest: &[&'static str]| -> Vec<&str> {
        global.iter().copied().chain(rest.iter().copied()).collect()
    };

    // First pass: every file of every package is recorded. The only failures allowed are
    // scripts the compiler finds real faults in: invalid, never retried, with their line.
    let (exit, first) = run_json(&args(&["sync"])).await;
    let n_failed = total(&first, "failed");
    assert_eq!(exit, if n_failed == 0 { Exit::Success } else { Exit::Failures });
    for bot in first["bots"].as_array().unwrap() {
        for error in bot["errors"].as_array().unwrap() {
            let key = error["key"].as_str().unwrap();
            assert!(key.to_ascii_lowercase().ends_with(".bas"), "only scripts may fail: {error}");
            assert_eq!(error["retrying"], false, "{error}");
            assert!(error["error"].as_str().unwrap().starts_with("line "), "{error}");
        }
    }
    let (_, status) = run_json(&args(&["status"])).await;
    let mut n_bots = 0;
    for package in std::fs::read_dir(&root).unwrap() {
        let package = package.unwrap();
        let name = package.file_name().to_string_lossy().trim_end_matches(".gbai").to_owned();
        let n_files = count_files(&package.path()) as u64;
        assert_eq!(bot_entry(&first, &name)["added"], n_files, "files added for {name}");
        assert_eq!(bot_entry(&status, &name)["tracked"], n_files, "files tracked for {name}");
        n_bots += 1;
    }
    assert_eq!(first["bots"].as_array().unwrap().len(), n_bots);

    // Every config.csv row is loaded.
    for (bot, n_settings) in HAND_COUNTED_SETTINGS {
        let (_, settings) = run_json(&args(&["settings", bot])).await;
        assert_eq!(settings.as_object().unwrap().len(), *n_settings, "settings of {bot}");
    }
    let (_, edu) = run_json(&args(&["settings", "edu"])).await;
    assert_eq!(edu["Theme Color"], "indigo");
    let (_, default) = run_json(&args(&["settings", "default"])).await;
    assert_eq!(default["llm-key"], "<redacted>", "secrets are not printed by default");
    let (_, default) = run_json(&args(&["settings", "default", "--show-secrets"])).await;
    assert_eq!(default["llm-key"], "none");

    // Second pass: nothing to do.
    let (_, second) = run_json(&args(&["sync"])).await;
    for field in ["added", "modified", "removed", "processed", "failed"] {
        assert_eq!(total(&second, field), 0, "{field} on the second pass: {second:#}");
    }

    // Editing one config.csv processes exactly that change.
    let config = root.join("contacts.gbai/contacts.gbot/config.csv");
    let text = std::fs::read_to_string(&config).unwrap();
    let edited = text.replace("episodic-memory-history,2", "episodic-memory-history,3");
    std::fs::write(&config, format!("{edited}reply-language,pt-BR\n")).unwrap();
    let (_, third) = run_json(&args(&["sync"])).await;
    assert_eq!(total(&third, "modified"), 1, "{third:#}");
    assert_eq!(total(&third, "processed"), 1);
    assert_eq!(total(&third, "added") + total(&third, "removed"), 0);
    assert_eq!(bot_entry(&third, "contacts")["modified"], 1);
    let (_, contacts) = run_json(&args(&["settings", "contacts"])).await;
    assert_eq!(contacts["episodic-memory-history"], "3");
    assert_eq!(contacts["reply-language"], "pt-BR");
    assert_eq!(contacts.as_object().unwrap().len(), 9);

    // Deleting it removes its state and the settings it provided.
    std::fs::remove_file(&config).unwrap();
    let (_, fourth) = run_json(&args(&["sync"])).await;
    assert_eq!(total(&fourth, "removed"), 1, "{fourth:#}");
    assert_eq!(bot_entry(&fourth, "contacts")["processed"], 1);
    let (_, contacts) = run_json(&args(&["settings", "contacts"])).await;
    assert_eq!(contacts, serde_json::json!({}));
    let (_, status) = run_json(&args(&["status", "--bot", "contacts"])).await;
    let n_left = count_files(&root.join("contacts.gbai")) as u64;
    assert_eq!(bot_entry(&status, "contacts")["tracked"], n_left);
}

#[tokio::test(flavor = "multi_thread")]
async fn lost_file_state_is_rebuilt_without_running_stored_handlers_again() {
    let Some(corpus) =
        corpus_dir("lost_file_state_is_rebuilt_without_running_stored_handlers_again")
    else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("bots");
    copy_packages(&corpus, &root);
    // The corpus has no theme: one file gives the theme handler something to store.
    let theme = root.join("edu.gbai/edu.gbtheme/default.css");
    std::fs::create_dir_all(theme.parent().unwrap()).unwrap();
    std::fs::write(&theme, "body { color: indigo; }\n").unwrap();
    let database = format!("sqlite:{}", work.path().join("state.db").display());
    let storage = format!("fs:{}", root.display());
    let global = ["--storage", storage.as_str(), "--database", database.as_str()];
    let args = |rest: &[&'static str]| -> Vec<&str> {
        global.iter().copied().chain(rest.iter().copied()).collect()
    };
    let (_, first) = run_json(&args(&["sync"])).await;
    let n_failed = total(&first, "failed");

    // The file state is lost; a document is edited meanwhile.
    let db = drive_db::open(&database).await.unwrap();
    db.execute_for_tests("DELETE FROM file_state").await.unwrap();
    drop(db);
    let guide = root.join("edu.gbai/edu.gbkb/student-guide/student-guide.md");
    let mut text = std::fs::read_to_string(&guide).unwrap();
    text.push_str("\n\n## Lost and found\n\nAsk the zanzibarite desk for anything left behind.\n");
    std::fs::write(&guide, text).unwrap();

    // Every file is recorded again; only settings, prompts and the edit are applied again,
    // and what failed before fails again (nothing of it was stored).
    let (_, second) = run_json(&args(&["sync"])).await;
    let kinds = count_kinds(&root);
    let n = |kind: Kind| kinds.iter().filter(|k| **k == kind).count() as u64;
    assert_eq!(total(&second, "added"), total(&first, "added"), "{second:#}");
    assert_eq!(total(&second, "failed"), n_failed, "{second:#}");
    assert_eq!(total(&second, "processed"), n(Kind::Settings) + n(Kind::Prompt) + 1);
    let stored = n(Kind::Script) + n(Kind::Theme) + n(Kind::Knowledge) - n_failed - 1;
    assert_eq!(total(&second, "same_content"), stored, "{second:#}");
    assert!(n(Kind::Theme) == 1 && n(Kind::Knowledge) > 1 && n(Kind::Script) > 1, "{kinds:?}");
    let (_, status) = run_json(&args(&["status"])).await;
    for package in std::fs::read_dir(&root).unwrap() {
        let package = package.unwrap();
        let name = package.file_name().to_string_lossy().trim_end_matches(".gbai").to_owned();
        let n_files = count_files(&package.path()) as u64;
        assert_eq!(bot_entry(&status, &name)["tracked"], n_files, "files tracked for {name}");
    }
    let (_, found) = run_json(&args(&["search", "edu", "zanzibarite"])).await;
    assert!(found["results"][0]["text"].as_str().unwrap().contains("zanzibarite"), "{found:#}");

    let (_, third) = run_json(&args(&["sync"])).await;
    assert_eq!(total(&third, "added") + total(&third, "modified"), 0, "{third:#}");
}

/// Returns the kind of every tracked file under the packages in `root`.
fn count_kinds(root: &Path) -> Vec<Kind> {
    fn walk(dir: &Path, package: &Path, kinds: &mut Vec<Kind>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, package, kinds);
                continue;
            }
            let key = path.strip_prefix(package).unwrap().to_string_lossy().replace('\\', "/");
            let size = std::fs::metadata(&path).unwrap().len();
            kinds.extend(classify(&ObjectMeta::new(key, size)));
        }
    }
    let mut kinds = Vec::new();
    for package in std::fs::read_dir(root).unwrap() {
        let package = package.unwrap().path();
        walk(&package, &package, &mut kinds);
    }
    kinds
}
