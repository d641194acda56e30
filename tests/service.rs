//! The running service on the embedded default shape (filesystem storage with the bundled
//! example package, SQLite, HTTP on loopback): an edit made live, the HTTP API, a clean
//! stop, and state that survives the restart.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use drive_core::BotName;
use drive_server::{App, Config, Service};

fn config_for(work: &Path) -> Config {
    let mut config = Config {
        storage: format!("fs:{}", work.join("bots").display()),
        database: format!("sqlite:{}", work.join("drive.db").display()),
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    };
    config.monitor.interval = Duration::from_millis(200);
    config
}

/// Sends one HTTP/1.1 request and returns the status code and body.
async fn http(addr: std::net::SocketAddr, method: &str, path: &str) -> (u16, String) {
    http_with(addr, method, path, "", "").await
}

/// Sends one HTTP/1.1 request with extra header lines and a body.
async fn http_with(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Content-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// Waits until `bot`'s setting `name` has `value`, polling the sink; panics after 20 s.
async fn wait_for_setting(
    app_settings: &std::sync::Arc<dyn drive_core::ConfigSink>,
    name: &str,
    value: &str,
) {
    let bot = BotName::new("example").unwrap();
    for _ in 0..200 {
        let settings = app_settings.settings(&bot).await.unwrap();
        if settings.iter().any(|s| s.name == name && s.value == value) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("setting {name} never became {value:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn running_service_applies_an_edit_serves_http_and_restarts_clean() {
    let work = tempfile::tempdir().unwrap();
    assert!(drive_server::example::seed_if_missing(&work.path().join("bots")).unwrap());
    let app = App::open(config_for(work.path())).await.unwrap();
    let settings = app.settings.clone();
    let prompts = app.prompts.clone();
    let service = Service::start(app).await.unwrap();

    // The first cycle applies the bundled package.
    wait_for_setting(&settings, "max-history", "12").await;
    let prompt = prompts.prompt(&BotName::new("example").unwrap()).await.unwrap().unwrap();
    assert!(prompt.starts_with("You are the helpdesk assistant"));

    // An edit is applied by the next poll, without a restart.
    let config = work.path().join("bots/example.gbai/example.gbot/config.csv");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("max-history,12", "max-history,20")).unwrap();
    wait_for_setting(&settings, "max-history", "20").await;

    // The HTTP API.
    let addr = service.local_addr();
    assert_eq!(http(addr, "GET", "/healthz").await, (200, "ok\n".to_owned()));
    let (status, body) = http(addr, "POST", "/api/bots/example/sync").await;
    assert_eq!(status, 200, "{body}");
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["bot"], "example");
    assert_eq!(report["failed"], 0);
    assert_eq!(http(addr, "POST", "/api/bots/nobody/sync").await.0, 404);

    // The status page, readiness, the status API and metrics.
    let (status, body) = http(addr, "GET", "/").await;
    assert_eq!(status, 200);
    assert!(body.contains("<title>Drive Monitor</title>") && body.contains("/api/bots"));
    let (status, body) = http(addr, "GET", "/readyz").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(addr, "GET", "/api/bots").await;
    assert_eq!(status, 200);
    let bots: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(bots["bots"][0]["bot"], "example");
    assert_eq!(bots["bots"][0]["tracked"], 6);
    let (status, body) = http(addr, "GET", "/api/bots/example").await;
    assert_eq!(status, 200);
    let detail: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(detail["files"]["settings"]["live"], 1);
    assert!(!detail["recent_cycles"].as_array().unwrap().is_empty());
    assert_eq!(http(addr, "GET", "/api/bots/nobody").await.0, 404);
    let (status, body) = http(addr, "GET", "/metrics").await;
    assert_eq!(status, 200);
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let value_of = |name: &str, label: (&str, &str)| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == name && s.labels.get(label.0) == Some(label.1))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => v,
                _ => 0.0,
            })
            .sum()
    };
    assert!(value_of("drive_changes_total", ("outcome", "applied")) >= 3.0, "{body}");
    assert!(value_of("drive_storage_requests_total", ("op", "list")) >= 1.0);
    assert!(scrape.samples.iter().any(|s| s.metric.starts_with("drive_handler_seconds")));
    assert_eq!(http(addr, "POST", "/api/bots/..%2Fetc/sync").await.0, 400);

    assert!(service.stop().await, "stopped within the shutdown deadline");

    // After a restart over the unchanged folder nothing is processed again.
    let app = App::open(config_for(work.path())).await.unwrap();
    let report = app.monitor.sync(&BotName::new("example").unwrap()).await.unwrap();
    assert_eq!(report.n_changes(), 0, "{report:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_config_keeps_the_last_good_settings_and_says_where() {
    let work = tempfile::tempdir().unwrap();
    drive_server::example::seed_if_missing(&work.path().join("bots")).unwrap();
    let app = App::open(config_for(work.path())).await.unwrap();
    let bot = BotName::new("example").unwrap();
    app.monitor.sync(&bot).await.unwrap();

    let config = work.path().join("bots/example.gbai/example.gbot/config.csv");
    std::fs::write(&config, "name,value\nbot-title,\"Unclosed\nmax-history,99\n").unwrap();
    let report = app.monitor.sync(&bot).await.unwrap();
    assert_eq!(report.failed, 1);
    let error = &report.errors[0];
    assert_eq!(error.key, "example.gbot/config.csv");
    assert!(error.error.contains("line 2"), "{}", error.error);
    assert!(!error.retrying);

    let settings = app.settings.settings(&bot).await.unwrap();
    let value = |name: &str| settings.iter().find(|s| s.name == name).map(|s| s.value.clone());
    assert_eq!(value("max-history").as_deref(), Some("12"), "last good settings stay live");
    assert_eq!(value("bot-title").as_deref(), Some("Example Helpdesk"));
}

/// An S3 event notification for one key of the example bot, as MinIO sends it.
fn event_for(key: &str) -> String {
    format!(
        r#"{{"EventName":"s3:ObjectCreated:Put","Records":[{{"eventName":"s3:ObjectCreated:Put",
        "s3":{{"bucket":{{"name":"example.gbai"}},"object":{{"key":"{key}","size":1}}}}}}]}}"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn storage_event_applies_a_change_long_before_the_next_poll() {
    let work = tempfile::tempdir().unwrap();
    drive_server::example::seed_if_missing(&work.path().join("bots")).unwrap();
    let mut config = config_for(work.path());
    config.monitor.interval = Duration::from_secs(300);
    config.webhook_token = Some("hook-secret".to_owned());
    let app = App::open(config).await.unwrap();
    let settings = app.settings.clone();
    let service = Service::start(app).await.unwrap();
    wait_for_setting(&settings, "max-history", "12").await;
    let addr = service.local_addr();

    let path = work.path().join("bots/example.gbai/example.gbot/config.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("max-history,12", "max-history,13")).unwrap();
    let event = event_for("example.gbot%2Fconfig.csv");

    // A wrong token is refused and changes nothing.
    let (status, _) =
        http_with(addr, "POST", "/hooks/storage", "Authorization: Bearer nope\r\n", &event).await;
    assert_eq!(status, 401);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let bot = BotName::new("example").unwrap();
    let current = settings.settings(&bot).await.unwrap();
    assert!(current.iter().any(|s| s.name == "max-history" && s.value == "12"));

    // The right token, bare as MinIO sends it, makes the change live without a poll.
    for _ in 0..3 {
        let (status, body) =
            http_with(addr, "POST", "/hooks/storage", "Authorization: hook-secret\r\n", &event)
                .await;
        assert_eq!(status, 200, "{body}");
    }
    wait_for_setting(&settings, "max-history", "13").await;
    let (_, metrics) = http(addr, "GET", "/metrics").await;
    let counted = |outcome: &str| {
        metrics
            .lines()
            .filter(|line| line.starts_with("drive_webhook_events_total"))
            .filter(|line| line.contains(&format!("outcome=\"{outcome}\"")))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    assert_eq!(counted("unauthorized"), 1.0, "{metrics}");
    assert_eq!(counted("accepted"), 3.0, "{metrics}");
    let (status, _) =
        http_with(addr, "POST", "/hooks/storage", "Authorization: hook-secret\r\n", "{").await;
    assert_eq!(status, 400);
    assert!(service.stop().await);
}

#[tokio::test(flavor = "multi_thread")]
async fn watched_folder_applies_edits_and_new_bots_without_polling() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("bots");
    drive_server::example::seed_if_missing(&root).unwrap();
    let mut config = config_for(work.path());
    config.monitor.interval = Duration::from_secs(300);
    config.monitor.discovery_interval = Duration::from_millis(200);
    config.monitor.unmount_grace = Duration::from_millis(400);
    config.watch = true;
    let app = App::open(config).await.unwrap();
    let settings = app.settings.clone();
    let service = Service::start(app).await.unwrap();
    wait_for_setting(&settings, "max-history", "12").await;

    // An edit reported by the OS is applied without waiting for the 300 s poll.
    let path = root.join("example.gbai/example.gbot/config.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("max-history,12", "max-history,14")).unwrap();
    wait_for_setting(&settings, "max-history", "14").await;

    // A new bot folder is mounted and synced; a removed one is unmounted after the grace.
    std::fs::create_dir_all(root.join("second.gbai/second.gbot")).unwrap();
    std::fs::write(root.join("second.gbai/second.gbot/config.csv"), "answer,42\n").unwrap();
    let second = BotName::new("second").unwrap();
    let mut mounted = false;
    for _ in 0..100 {
        let values = settings.settings(&second).await.unwrap();
        if values.iter().any(|s| s.name == "answer" && s.value == "42") {
            mounted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(mounted, "the new bot's settings were applied");
    std::fs::remove_dir_all(root.join("second.gbai")).unwrap();
    let addr = service.local_addr();
    let mut unmounted = false;
    for _ in 0..100 {
        if http(addr, "POST", "/api/bots/second/sync").await.0 == 404 {
            unmounted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(unmounted, "the removed bot was unmounted");
    assert!(service.stop().await);
}
