//! Live themes end to end: the running service (filesystem storage in a temporary folder,
//! SQLite, HTTP on loopback) with WebSocket clients and a headless Chromium.
//!
//! Changes are made live with `POST /api/bots/{bot}/sync` after each edit; the poll interval
//! is an hour so that no cycle runs unasked.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use drive_core::{BotEvent, BotName, ContentHash, EventBus as _};
use drive_server::{App, Config, Hub, Service};

use crate::cdp::Browser;
use crate::support::notice;

/// Longest wait for a message that should come.
const ARRIVAL: Duration = Duration::from_secs(10);

/// How long a client must hear nothing for a message to count as not sent.
const SILENCE: Duration = Duration::from_millis(400);

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The service over a temporary folder of bots.
struct Running {
    service: Service,
    hub: Arc<Hub>,
    addr: SocketAddr,
    root: PathBuf,
    work: tempfile::TempDir,
}

/// Writes `content` to `relative` under `root`, creating folders.
fn write(root: &Path, relative: &str, content: &str) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

fn css_key(bot: &str) -> String {
    format!("{bot}.gbai/{bot}.gbtheme/default.css")
}

/// Writes a bot with a stylesheet and theme settings.
fn seed_bot(root: &Path, bot: &str, css: &str) {
    write(root, &css_key(bot), css);
    let settings = "name,value\ntheme-color1,#112233\ntheme-title,Live Shop\nllm-key,sk-secret-1\n";
    write(root, &format!("{bot}.gbai/{bot}.gbot/config.csv"), settings);
}

fn config_for(work: &Path) -> Config {
    let mut config = Config {
        storage: format!("fs:{}", work.join("bots").display()),
        database: format!("sqlite:{}", work.join("drive.db").display()),
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    };
    config.monitor.interval = Duration::from_secs(3600);
    config
}

/// Starts the service over `work` (bots under `work/bots`), after `tune` adjusted its
/// configuration, and waits for the first cycle of each bot in `bots`.
async fn start(work: tempfile::TempDir, bots: &[&str], tune: impl FnOnce(&mut Config)) -> Running {
    let mut config = config_for(work.path());
    tune(&mut config);
    let app = App::open(config).await.unwrap();
    let hub = app.hub.clone();
    let service = Service::start(app).await.unwrap();
    let addr = service.local_addr();
    for bot in bots {
        sync(addr, bot).await;
    }
    let root = work.path().join("bots");
    Running { service, hub, addr, root, work }
}

/// An HTTP response: status, headers (lower-case names) and body.
struct Reply {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

/// Sends one HTTP/1.1 request with `headers` and returns the response.
async fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let extra: String =
        headers.iter().map(|(name, value)| format!("{name}: {value}\r\n")).collect();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n{extra}Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let mut lines = head.lines();
    let status = lines.next().and_then(|line| line.split_whitespace().nth(1)).unwrap_or("0");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Reply { status: status.parse().unwrap_or(0), headers, body: body.to_owned() }
}

/// Runs a cycle of `bot` now and returns its report.
async fn sync(addr: SocketAddr, bot: &str) -> Value {
    let reply = http(addr, "POST", &format!("/api/bots/{bot}/sync"), &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    serde_json::from_str(&reply.body).unwrap()
}

fn ws_url(addr: SocketAddr, bot: &str, token: Option<&str>) -> String {
    match token {
        Some(token) => format!("ws://{addr}/ws/{bot}?token={token}"),
        None => format!("ws://{addr}/ws/{bot}"),
    }
}

async fn connect(addr: SocketAddr, bot: &str, token: Option<&str>) -> Client {
    let (client, _) = tokio_tungstenite::connect_async(ws_url(addr, bot, token)).await.unwrap();
    client
}

/// Returns the HTTP status that refused an upgrade, or panics when it succeeded.
async fn refused(request: impl tungstenite::client::IntoClientRequest + Unpin) -> u16 {
    match tokio_tungstenite::connect_async(request).await {
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("unexpected failure: {other}"),
        Ok(_) => panic!("the upgrade was accepted"),
    }
}

/// Returns the next event a client receives, skipping control frames.
async fn next_event(client: &mut Client) -> Value {
    loop {
        let message = tokio::time::timeout(ARRIVAL, client.next())
            .await
            .expect("an event within the arrival time")
            .expect("the connection is open")
            .expect("a readable frame");
        match message {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Close(frame) => panic!("closed by the server: {frame:?}"),
            _ => {}
        }
    }
}

/// Asserts that a client receives no event for a while.
async fn assert_silent(client: &mut Client) {
    let deadline = tokio::time::Instant::now() + SILENCE;
    while let Ok(message) = tokio::time::timeout_at(deadline, client.next()).await {
        if let Some(Ok(Message::Text(text))) = message {
            panic!("unexpected event {text}");
        }
    }
}

fn hash(content: &str) -> String {
    ContentHash::of(content.as_bytes()).to_hex()
}

/// The stylesheet of version `idx`, of a length that changes with it, so that a filesystem
/// with coarse timestamps still sees every write as a change.
fn css_version(idx: usize) -> String {
    format!("/*{}*/ body {{ background-color: rgb({idx}, 0, 0) }}", "v".repeat(idx))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_css_change_reaches_exactly_its_bots_clients_once_and_in_order() {
    let work = tempfile::tempdir().unwrap();
    seed_bot(&work.path().join("bots"), "alpha", &css_version(0));
    seed_bot(&work.path().join("bots"), "beta", "body { color: blue }");
    let run = start(work, &["alpha", "beta"], |_| {}).await;
    let mut clients = [
        connect(run.addr, "alpha", None).await,
        connect(run.addr, "alpha", None).await,
        connect(run.addr, "beta", None).await,
    ];

    let mut first_seq = Vec::new();
    for (client, bot) in clients.iter_mut().zip(["alpha", "alpha", "beta"]) {
        let state = next_event(client).await;
        assert_eq!(
            (state["type"].as_str(), state["bot"].as_str()),
            (Some("theme.changed"), Some(bot))
        );
        assert_eq!(state["payload"]["files"][0]["path"], "default.css");
        assert_eq!(
            state["payload"]["settings"],
            json!({"theme-color1": "#112233", "theme-title": "Live Shop"})
        );
        assert!(!state.to_string().contains("sk-secret"), "{state}");
        first_seq.push(state["seq"].as_u64().unwrap());
    }
    assert_eq!(first_seq[0], first_seq[1]);

    for idx in 1..=3 {
        let css = css_version(idx);
        write(&run.root, &css_key("alpha"), &css);
        sync(run.addr, "alpha").await;
        for client in &mut clients[..2] {
            let event = next_event(client).await;
            assert_eq!(event["type"], "theme.changed");
            assert_eq!(
                event["seq"].as_u64(),
                Some(first_seq[0] + idx as u64),
                "in order, none lost"
            );
            let file = &event["payload"]["files"][0];
            assert_eq!(
                (file["path"].as_str(), file["hash"].as_str()),
                (Some("default.css"), Some(&*hash(&css)))
            );
            assert_eq!(event["payload"]["files"].as_array().unwrap().len(), 1);
        }
    }
    for client in &mut clients {
        assert_silent(client).await;
    }
    assert!(run.service.stop().await);
    drop(run.work);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bot_with_a_token_refuses_clients_without_it() {
    let work = tempfile::tempdir().unwrap();
    seed_bot(&work.path().join("bots"), "alpha", "a{}");
    seed_bot(&work.path().join("bots"), "beta", "b{}");
    let beta = BotName::new("beta").unwrap();
    let run = start(work, &["alpha", "beta"], |config| {
        config.ws.tokens.insert(beta, "beta-token".to_owned());
    })
    .await;

    assert_eq!(refused(ws_url(run.addr, "beta", None)).await, 401);
    assert_eq!(refused(ws_url(run.addr, "beta", Some("beta-tokem"))).await, 401);
    assert_eq!(refused(ws_url(run.addr, "beta", Some("alpha-token"))).await, 401);
    assert_eq!(refused(ws_url(run.addr, "gamma", None)).await, 404);
    let mut bearer = ws_url(run.addr, "beta", None).into_client_request().unwrap();
    bearer.headers_mut().insert("authorization", HeaderValue::from_static("Bearer wrong"));
    assert_eq!(refused(bearer).await, 401);

    let mut by_query = connect(run.addr, "beta", Some("beta-token")).await;
    assert_eq!(next_event(&mut by_query).await["bot"], "beta");
    let mut bearer = ws_url(run.addr, "beta", None).into_client_request().unwrap();
    bearer.headers_mut().insert("authorization", HeaderValue::from_static("Bearer beta-token"));
    let (mut by_header, _) = tokio_tungstenite::connect_async(bearer).await.unwrap();
    assert_eq!(next_event(&mut by_header).await["bot"], "beta");
    let mut open = connect(run.addr, "alpha", None).await;
    assert_eq!(next_event(&mut open).await["bot"], "alpha", "bots without a token stay open");

    assert_eq!(http(run.addr, "GET", "/demo/beta", &[]).await.status, 401);
    assert_eq!(http(run.addr, "GET", "/demo/beta?token=beta-token", &[]).await.status, 200);
    assert!(run.service.stop().await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_reading_is_resynced_while_the_others_keep_receiving() {
    const N_EVENTS: u64 = 300;
    let work = tempfile::tempdir().unwrap();
    seed_bot(&work.path().join("bots"), "alpha", "a{}");
    let run = start(work, &["alpha"], |config| config.ws.event_buffer = 8).await;
    let alpha = BotName::new("alpha").unwrap();

    // A small receive buffer keeps the kernel from absorbing megabytes for the slow client.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(run.addr).await.unwrap();
    let url = ws_url(run.addr, "alpha", None);
    let (mut slow, _) =
        tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream)).await.unwrap();
    let mut fast = [connect(run.addr, "alpha", None).await, connect(run.addr, "alpha", None).await];
    let start_seq = next_event(&mut slow).await["seq"].as_u64().unwrap();
    for client in &mut fast {
        next_event(client).await;
    }

    // 64 KiB events: 300 of them are far more than socket buffers hold.
    let bulky = "x".repeat(64 * 1024);
    for idx in 1..=N_EVENTS {
        let event =
            BotEvent::KbIndexed { collection: bulky.clone(), documents: idx as usize, chunks: 0 };
        run.hub.publish(&alpha, event);
        for client in &mut fast {
            let event = next_event(client).await;
            assert_eq!(
                (event["type"].as_str(), event["seq"].as_u64()),
                (Some("kb.indexed"), Some(start_seq + idx))
            );
        }
    }

    // The slow client reads again: what the sockets held, then the whole state instead of
    // the rest, then nothing it already has.
    let mut seen = 0;
    let resync = loop {
        let event = next_event(&mut slow).await;
        if event["type"] == "resync" {
            break event;
        }
        seen += 1;
        assert!(seen < N_EVENTS, "the slow client got every event and no resync");
    };
    assert_eq!(resync["seq"].as_u64(), Some(start_seq + N_EVENTS));
    assert_eq!(resync["payload"]["files"][0]["path"], "default.css");
    run.hub.publish(&alpha, BotEvent::SettingsChanged { keys: vec!["late".into()] });
    assert_eq!(next_event(&mut slow).await["seq"].as_u64(), Some(start_seq + N_EVENTS + 1));
    assert_eq!(run.hub.stats().resyncs, 1);
    assert!(run.service.stop().await);
}

#[tokio::test(flavor = "multi_thread")]
async fn theme_files_are_served_by_version_survive_a_restart_and_empty_saves_are_held() {
    let work = tempfile::tempdir().unwrap();
    let css = css_version(7);
    seed_bot(&work.path().join("bots"), "alpha", &css);
    let run = start(work, &["alpha"], |config| {
        config.monitor.retry_base = Duration::from_secs(3600);
    })
    .await;
    let pinned = format!("/themes/alpha/default.css?v={}", hash(&css));

    let reply = http(run.addr, "GET", &pinned, &[]).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, css.as_str()));
    assert_eq!(reply.headers["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(reply.headers["content-type"], "text/css; charset=utf-8");
    let reply = http(run.addr, "GET", "/themes/alpha/default.css", &[]).await;
    assert_eq!(reply.headers["cache-control"], "no-cache");
    let etag = reply.headers["etag"].clone();
    let reply =
        http(run.addr, "GET", "/themes/alpha/default.css", &[("If-None-Match", &etag)]).await;
    assert_eq!(reply.status, 304);
    let reply = http(run.addr, "GET", "/themes/alpha/live.js", &[]).await;
    assert_eq!(
        (reply.status, reply.headers["content-type"].as_str()),
        (200, "text/javascript; charset=utf-8")
    );
    let reply = http(run.addr, "GET", "/demo/alpha", &[]).await;
    assert!(reply.body.contains(&format!("href=\"{pinned}\"")), "{}", reply.body);

    // After a restart nothing is processed again, and the file is still served.
    let Running { service, work, root, .. } = run;
    assert!(service.stop().await);
    let app = App::open(config_for(work.path())).await.unwrap();
    let report = app.monitor.sync(&BotName::new("alpha").unwrap()).await.unwrap();
    assert_eq!(report.n_changes(), 0, "{report:?}");
    let state = app.state.clone();
    let service = Service::start(app).await.unwrap();
    let addr = service.local_addr();
    assert_eq!(http(addr, "GET", &pinned, &[]).await.body, css);

    // An editor's truncation is held: clients hear nothing, the old version stays served.
    // (The status is read from the state: the service's own first cycle may be the one
    // that met the truncation.)
    let mut client = connect(addr, "alpha", None).await;
    next_event(&mut client).await;
    write(&root, &css_key("alpha"), "");
    sync(addr, "alpha").await;
    let records = state.load(&BotName::new("alpha").unwrap()).await.unwrap();
    let record = records.iter().find(|r| r.key().as_str() == "alpha.gbtheme/default.css").unwrap();
    let error = record.status.error().unwrap_or_default();
    assert!(error.contains("became empty"), "{:?}", record.status);
    assert_silent(&mut client).await;
    assert_eq!(http(addr, "GET", "/themes/alpha/default.css", &[]).await.body, css);

    // The write that follows goes live at once; a removal withdraws the file.
    let rewritten = css_version(8);
    write(&root, &css_key("alpha"), &rewritten);
    sync(addr, "alpha").await;
    assert_eq!(next_event(&mut client).await["payload"]["files"][0]["hash"], hash(&rewritten));
    std::fs::remove_file(root.join(css_key("alpha"))).unwrap();
    sync(addr, "alpha").await;
    let removed = next_event(&mut client).await;
    assert_eq!(
        removed["payload"]["files"][0],
        json!({"path": "default.css", "url": null, "hash": null})
    );
    assert_eq!(http(addr, "GET", "/themes/alpha/default.css", &[]).await.status, 404);
    assert!(service.stop().await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_page_takes_theme_changes_without_reloading() {
    let Some(mut browser) = Browser::launch().await else {
        notice("a_browser_page_takes_theme_changes_without_reloading: skipped, no chromium found");
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("bots");
    let main = "@import \"text.css\";\nbody { background-color: rgb(1, 2, 3) }\n";
    write(&root, &css_key("alpha"), main);
    write(&root, "alpha.gbai/alpha.gbtheme/text.css", "body { color: rgb(0, 0, 255) }\n");
    write(&root, "alpha.gbai/alpha.gbot/config.csv", "name,value\ntheme-color1,#112233\n");
    let run = start(work, &["alpha"], |_| {}).await;

    browser.open(&format!("http://{}/demo/alpha", run.addr)).await;
    let live = "window.DriveLiveTheme !== undefined && window.DriveLiveTheme.connected";
    browser.wait_for(live, json!(true), ARRIVAL).await;
    browser.eval("window.marker = 42").await;
    let background = "getComputedStyle(document.body).backgroundColor";
    assert_eq!(browser.eval(background).await, json!("rgb(1, 2, 3)"));

    // The linked sheet changes.
    let changed = "@import \"text.css\";\nbody { background-color: rgb(200, 10, 10) }\n";
    write(&run.root, &css_key("alpha"), changed);
    sync(run.addr, "alpha").await;
    browser.wait_for(background, json!("rgb(200, 10, 10)"), ARRIVAL).await;

    // A sheet it imports changes.
    let color = "getComputedStyle(document.body).color";
    assert_eq!(browser.eval(color).await, json!("rgb(0, 0, 255)"));
    write(&run.root, "alpha.gbai/alpha.gbtheme/text.css", "body { color: rgb(0, 128, 0) }\n");
    sync(run.addr, "alpha").await;
    browser.wait_for(color, json!("rgb(0, 128, 0)"), ARRIVAL).await;

    // A theme setting changes.
    let property =
        "getComputedStyle(document.documentElement).getPropertyValue('--theme-color1').trim()";
    assert_eq!(browser.eval(property).await, json!("#112233"));
    write(&run.root, "alpha.gbai/alpha.gbot/config.csv", "name,value\ntheme-color1,#445566\n");
    sync(run.addr, "alpha").await;
    browser.wait_for(property, json!("#445566"), ARRIVAL).await;

    assert_eq!(browser.eval("window.marker").await, json!(42), "the page never reloaded");
    let sheets = "document.querySelectorAll('link[rel=stylesheet]').length";
    assert_eq!(browser.eval(sheets).await, json!(1), "old links are removed once replaced");
    browser.close().await;
    assert!(run.service.stop().await);
}
