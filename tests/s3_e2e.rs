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
    assert_eq!(entry["failed"], 0, "{first:#}");
    // Every file of the package has a handler and is made live.
    assert_eq!(entry["processed"].as_u64(), Some(EXAMPLE_FILES.len() as u64));
    assert_eq!(entry["unhandled"], 0);
    let (_, tools) = run(args(&["tools", &bot])).await;
    assert_eq!(tools["tools"][0]["name"], "open-ticket");
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

/// Waits until `check` holds, polling every 50 ms for at most `limit`; returns how long it
/// took, or `None`.
async fn wait_until<F, Fut>(limit: std::time::Duration, mut check: F) -> Option<std::time::Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    None
}

/// Posts an S3 event notification naming `key` in `bucket` with the given token.
async fn post_event(addr: std::net::SocketAddr, token: &str, bucket: &str, key: &str) -> u16 {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let encoded = key.replace('/', "%2F").replace(' ', "+");
    let body = format!(
        r#"{{"Records":[{{"eventName":"s3:ObjectCreated:Put","s3":{{"bucket":{{"name":"{bucket}"}},"object":{{"key":"{encoded}"}}}}}}]}}"#
    );
    let request = format!(
        "POST /hooks/storage HTTP/1.1\r\nHost: localhost\r\nAuthorization: {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_webhook_event_applies_a_change_without_waiting_for_the_poll() {
    use std::time::Duration;

    use drive_core::BotName;

    let Ok(endpoint) = std::env::var("DRIVE_TEST_S3_ENDPOINT") else {
        notice(
            "s3_webhook_event_applies_a_change_without_waiting_for_the_poll: skipped, no DRIVE_TEST_S3_ENDPOINT",
        );
        return;
    };
    let s3 = S3ObjectStore::new(&endpoint, &S3Settings::with_keys("test", Secret::new("test")))
        .expect("valid S3 settings");
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let name = format!("hook-{}", stamp.as_nanos());
    let bucket = format!("{name}.gbai");
    let config_key = format!("{name}.gbot/config.csv");
    s3.create_bucket(&bucket).await.unwrap();
    s3.put(&bucket, &config_key, b"answer,1\n").await.unwrap();

    let database = PgTestDatabase::create().await.expect("PostgreSQL at DATABASE_URL");
    let mut config = drive_server::Config {
        storage: format!("s3:{endpoint}"),
        database: database.url().to_owned(),
        listen: "127.0.0.1:0".parse().unwrap(),
        webhook_token: Some("hook-token".to_owned()),
        ..drive_server::Config::default()
    };
    config.s3.access_key = Some("test".to_owned());
    config.s3.secret_key = Some("test".to_owned());
    config.monitor.interval = Duration::from_secs(300);
    config.monitor.intervals.insert(drive_core::Kind::Prompt, Duration::from_secs(1));
    let app = drive_server::App::open(config).await.unwrap();
    let settings = app.settings.clone();
    let prompts = app.prompts.clone();
    let monitor = app.monitor.clone();
    let service = drive_server::Service::start(app).await.unwrap();
    let addr = service.local_addr();
    let bot = BotName::new(name.clone()).unwrap();
    let has = |value: &'static str| {
        let (settings, bot) = (settings.clone(), bot.clone());
        move || {
            let (settings, bot) = (settings.clone(), bot.clone());
            async move {
                let all = settings.settings(&bot).await.unwrap();
                all.iter().any(|s| s.name == "answer" && s.value == value)
            }
        }
    };
    assert!(wait_until(Duration::from_secs(20), has("1")).await.is_some(), "first cycle");

    // A wrong token is refused and changes nothing.
    s3.put(&bucket, &config_key, b"answer,2\n").await.unwrap();
    assert_eq!(post_event(addr, "Bearer wrong", &bucket, &config_key).await, 401);
    assert!(wait_until(Duration::from_millis(1500), has("2")).await.is_none());

    // The event, delivered three times, makes the change live with a 300 s poll.
    for _ in 0..3 {
        assert_eq!(post_event(addr, "hook-token", &bucket, &config_key).await, 200);
    }
    let took = wait_until(Duration::from_secs(10), has("2")).await;
    notice(&format!("s3 webhook: change applied {took:?} after the event"));
    assert!(took.is_some(), "applied by the event, not the 300 s poll");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let applied_by_events: usize = monitor
        .recent_cycles(&bot)
        .iter()
        .filter(|cycle| cycle.trigger == "events")
        .filter_map(|cycle| cycle.report.as_ref())
        .map(|report| report.processed)
        .sum();
    assert_eq!(applied_by_events, 1, "the event delivered three times is applied once");

    // A change without any event is applied by the next poll of its kind.
    s3.put(&bucket, &format!("{name}.gbot/system-prompt.md"), b"be brief").await.unwrap();
    let prompt_live = || {
        let (prompts, bot) = (prompts.clone(), bot.clone());
        async move { prompts.prompt(&bot).await.unwrap().as_deref() == Some("be brief") }
    };
    assert!(wait_until(Duration::from_secs(10), prompt_live).await.is_some());

    assert!(service.stop().await);
    s3.remove_bucket(&bucket).await.unwrap();
    database.drop_database().await.unwrap();
}
