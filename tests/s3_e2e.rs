//! The main job against a real S3-protocol server with PostgreSQL: the bundled example
//! package uploaded to a bucket, synced, edited and pruned through the command line.
//!
//! Runs when `DRIVE_TEST_S3_ENDPOINT` names the server (`cargo xtask test` and
//! `cargo xtask e2e` start one on loopback); prints a notice and returns otherwise.

use drive_db::contract::PgTestDatabase;
use drive_server::Exit;
use drive_server::example::EXAMPLE_FILES;
use drive_storage::contract::StoreFixture as _;
use drive_storage::{S3ObjectStore, S3Settings, Secret};

use crate::support::{bot_entry, notice, run_json, total};

#[tokio::test(flavor = "multi_thread")]
async fn example_package_syncs_over_s3_with_postgres() {
    let Ok(endpoint) = std::env::var("DRIVE_TEST_S3_ENDPOINT") else {
        notice("example_package_syncs_over_s3_with_postgres: skipped, no DRIVE_TEST_S3_ENDPOINT");
        return;
    };
    let s3 = S3ObjectStore::new(&endpoint, &S3Settings::with_keys("test", Secret::new("test")))
        .expect("valid S3 settings");
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let bot = format!("e2e-{}", stamp.as_nanos());
    let bucket = format!("{bot}.gbai");
    s3.create_bucket(&bucket).await.unwrap();
    for (path, content) in EXAMPLE_FILES {
        let key =
            path.strip_prefix("example.gbai/").unwrap().replace("example.", &format!("{bot}."));
        s3.put(&bucket, &key, content).await.unwrap();
    }

    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("drive.toml");
    std::fs::write(&config, "[s3]\naccess_key = \"test\"\nsecret_key = \"test\"\n").unwrap();
    let database = PgTestDatabase::create().await.expect("PostgreSQL at DATABASE_URL");
    let storage = format!("s3:{endpoint}");
    let config_path = config.display().to_string();
    let global =
        ["--config", config_path.as_str(), "--storage", &storage, "--database", database.url()];
    let args = |rest: &[&str]| -> Vec<String> {
        global.iter().chain(rest.iter()).map(|s| (*s).to_owned()).collect()
    };
    let run = |rest: Vec<String>| async move {
        let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
        run_json(&rest).await
    };

    let (exit, first) = run(args(&["sync", "--bot", &bot])).await;
    assert_eq!(exit, Exit::Success, "{first:#}");
    let entry = bot_entry(&first, &bot);
    assert_eq!(entry["added"], EXAMPLE_FILES.len() as u64);
    assert_eq!((entry["processed"].as_u64(), entry["failed"].as_u64()), (Some(2), Some(0)));
    let (_, settings) = run(args(&["settings", &bot])).await;
    assert_eq!(settings["max-history"], "12");

    let (_, second) = run(args(&["sync", "--bot", &bot])).await;
    assert_eq!(
        total(&second, "added") + total(&second, "modified") + total(&second, "processed"),
        0
    );

    let config_key = format!("{bot}.gbot/config.csv");
    s3.put(&bucket, &config_key, b"name,value\nmax-history,30\n").await.unwrap();
    let (_, third) = run(args(&["sync", "--bot", &bot])).await;
    assert_eq!((total(&third, "modified"), total(&third, "processed")), (1, 1), "{third:#}");
    let (_, settings) = run(args(&["settings", &bot])).await;
    assert_eq!(settings, serde_json::json!({ "max-history": "30" }));

    s3.delete(&bucket, &config_key).await.unwrap();
    let (_, fourth) = run(args(&["sync", "--bot", &bot])).await;
    assert_eq!(total(&fourth, "removed"), 1, "{fourth:#}");
    let (_, settings) = run(args(&["settings", &bot])).await;
    assert_eq!(settings, serde_json::json!({}));

    s3.remove_bucket(&bucket).await.unwrap();
    database.drop_database().await.unwrap();
}
