//! Hostile and broken input through the whole service: each class is refused or tracked
//! with a clear reason, never fatal for the rest of the bot, and the last good state stays.

use drive_core::BotName;
use drive_server::{App, Config};

fn config_for(work: &std::path::Path) -> Config {
    Config {
        storage: format!("fs:{}", work.join("bots").display()),
        database: format!("sqlite:{}", work.join("drive.db").display()),
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    }
}

async fn synced(config: Config) -> (App, drive_core::BotReport) {
    let app = App::open(config).await.unwrap();
    let report = app.monitor.sync(&BotName::new("crm").unwrap()).await.unwrap();
    (app, report)
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_with_backslashes_or_control_characters_are_tracked_never_read() {
    let work = tempfile::tempdir().unwrap();
    let gbot = work.path().join("bots/crm.gbai/crm.gbot");
    std::fs::create_dir_all(&gbot).unwrap();
    std::fs::write(gbot.join("config.csv"), "answer,42\n").unwrap();
    std::fs::write(gbot.join("back\\slash-prompt.md"), "x").unwrap();
    std::fs::write(gbot.join("line\nbreak-prompt.md"), "x").unwrap();

    let (app, report) = synced(config_for(work.path())).await;
    assert_eq!(report.added, 3, "{report:?}");
    assert_eq!(report.processed, 1, "the good file is applied: {report:?}");
    assert_eq!(report.failed, 2);
    for error in &report.errors {
        assert!(error.error.contains("cannot be read safely"), "{error:?}");
        assert!(!error.retrying, "an unsafe key is not retried: {error:?}");
    }
    let settings = app.settings.settings(&BotName::new("crm").unwrap()).await.unwrap();
    assert_eq!(settings.len(), 1);
    let again = app.monitor.sync(&BotName::new("crm").unwrap()).await.unwrap();
    assert_eq!(again.n_changes(), 0);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn a_file_name_that_is_not_utf8_does_not_stop_the_listing() {
    use std::os::unix::ffi::OsStrExt as _;

    let work = tempfile::tempdir().unwrap();
    let gbot = work.path().join("bots/crm.gbai/crm.gbot");
    std::fs::create_dir_all(&gbot).unwrap();
    std::fs::write(gbot.join("config.csv"), "answer,42\n").unwrap();
    let name = std::ffi::OsStr::from_bytes(b"bad-\xff-prompt.md");
    std::fs::write(gbot.join(name), "x").unwrap();

    let (app, report) = synced(config_for(work.path())).await;
    assert_eq!(report.processed, 1, "{report:?}");
    let refused = report.errors.iter().find(|e| e.key.contains(char::REPLACEMENT_CHARACTER));
    assert!(refused.unwrap().error.contains("not valid UTF-8"), "{report:?}");
    let settings = app.settings.settings(&BotName::new("crm").unwrap()).await.unwrap();
    assert_eq!(settings[0].value, "42");
    assert_eq!(app.monitor.sync(&BotName::new("crm").unwrap()).await.unwrap().n_changes(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_files_are_refused_with_their_size_and_binary_config_keeps_settings() {
    let work = tempfile::tempdir().unwrap();
    let bot_dir = work.path().join("bots/crm.gbai");
    std::fs::create_dir_all(bot_dir.join("crm.gbot")).unwrap();
    std::fs::create_dir_all(bot_dir.join("crm.gbdialog")).unwrap();
    std::fs::write(bot_dir.join("crm.gbot/config.csv"), "answer,42\n").unwrap();
    let mut config = config_for(work.path());
    config.monitor.size_limits.script = 1024;
    let (app, _) = synced(config.clone()).await;

    std::fs::write(bot_dir.join("crm.gbdialog/huge.bas"), "TALK \"x\"\n".repeat(1000)).unwrap();
    std::fs::write(bot_dir.join("crm.gbot/config.csv"), b"\x00\x01\x02binary\xff\xfe").unwrap();
    let report = app.monitor.sync(&BotName::new("crm").unwrap()).await.unwrap();
    assert_eq!(report.failed, 2, "{report:?}");
    let huge = report.errors.iter().find(|e| e.key.ends_with("huge.bas")).unwrap();
    assert_eq!(huge.error, "file is 9000 bytes, over the limit of 1024 bytes");
    let config_error = report.errors.iter().find(|e| e.key.ends_with("config.csv")).unwrap();
    assert!(!config_error.retrying);
    let settings = app.settings.settings(&BotName::new("crm").unwrap()).await.unwrap();
    assert_eq!(settings[0].value, "42", "the last good settings stay live");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_storage_root_that_does_not_exist_is_a_clear_error() {
    let work = tempfile::tempdir().unwrap();
    let mut config = config_for(work.path());
    config.storage = format!("fs:{}", work.path().join("missing").display());
    let err = App::open(config).await.unwrap_err();
    assert!(format!("{err:#}").contains("missing"), "{err:#}");
}
