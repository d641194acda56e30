//! A headless Chromium driven through the DevTools protocol, just enough for end-to-end
//! tests: open a page, evaluate expressions in it, close.
//!
//! The browser is Debian's `chromium` (or the one `DRIVE_CHROMIUM` names), started with a
//! fresh profile in a temporary folder and every background service off, so that it talks
//! to nothing but the loopback server under test. The protocol runs over the WebSocket
//! the browser prints on start; no chromedriver is needed.
//!
//! Known limits: one page per browser; protocol events are read and dropped.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Flags that keep a headless Chromium quiet and self-contained on a build machine.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
];

/// How long the browser may take to start and to answer one command.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A running headless Chromium with one page attached.
pub(crate) struct Browser {
    child: Child,
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    session: String,
    next_id: u64,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium with a blank page; `None` when no Chromium is installed.
    ///
    /// # Panics
    /// When Chromium is installed but does not start, as a test failure.
    pub(crate) async fn launch() -> Option<Self> {
        let program = chromium()?;
        let profile = tempfile::tempdir().expect("a profile folder");
        let mut child = Command::new(&program)
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", program.display()));
        let endpoint = devtools_endpoint(&mut child);
        let (socket, _) = tokio_tungstenite::connect_async(endpoint.as_str())
            .await
            .expect("connecting to the DevTools endpoint");

        let mut browser =
            Self { child, socket, session: String::new(), next_id: 0, _profile: profile };
        let target = browser.call(None, "Target.createTarget", json!({"url": "about:blank"})).await;
        let target_id = target["targetId"].clone();
        let params = json!({"targetId": target_id, "flatten": true});
        let attached = browser.call(None, "Target.attachToTarget", params).await;
        browser.session = attached["sessionId"].as_str().expect("a session id").to_owned();
        Some(browser)
    }

    /// Opens `url` in the page (returns once navigation started).
    pub(crate) async fn open(&mut self, url: &str) {
        let session = Some(self.session.clone());
        let result = self.call(session, "Page.navigate", json!({"url": url})).await;
        assert!(result.get("errorText").is_none(), "navigation to {url} failed: {result}");
    }

    /// Returns the value of `expression` evaluated in the page (`null` for `undefined`).
    pub(crate) async fn eval(&mut self, expression: &str) -> Value {
        let session = Some(self.session.clone());
        let params = json!({"expression": expression, "returnByValue": true});
        let result = self.call(session, "Runtime.evaluate", params).await;
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression} threw: {exception}");
        }
        result["result"].get("value").cloned().unwrap_or(Value::Null)
    }

    /// Evaluates `expression` until it gives `expected`, every 100 ms; panics with the last
    /// value after `timeout`.
    pub(crate) async fn wait_for(&mut self, expression: &str, expected: Value, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let value = self.eval(expression).await;
            if value == expected {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{expression} is {value}, still not {expected} after {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Asks the browser to close and waits for it; kills it after a few seconds.
    pub(crate) async fn close(mut self) {
        let id = self.send(None, "Browser.close", json!({})).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.reply(id)).await;
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn call(&mut self, session: Option<String>, method: &str, params: Value) -> Value {
        let id = self.send(session, method, params).await;
        tokio::time::timeout(TIMEOUT, self.reply(id))
            .await
            .unwrap_or_else(|_| panic!("no answer to {method} within {TIMEOUT:?}"))
    }

    async fn send(&mut self, session: Option<String>, method: &str, params: Value) -> u64 {
        self.next_id += 1;
        let mut command = json!({"id": self.next_id, "method": method, "params": params});
        if let Some(session) = session {
            command["sessionId"] = Value::String(session);
        }
        self.socket.send(Message::text(command.to_string())).await.expect("sending a command");
        self.next_id
    }

    /// Returns the result of command `id`, dropping the events that come first.
    async fn reply(&mut self, id: u64) -> Value {
        while let Some(message) = self.socket.next().await {
            let Ok(Message::Text(text)) = message else { continue };
            let reply: Value = serde_json::from_str(&text).expect("DevTools sends JSON");
            if reply["id"] != id {
                continue;
            }
            if let Some(error) = reply.get("error") {
                panic!("DevTools command {id} failed: {error}");
            }
            return reply["result"].clone();
        }
        panic!("the browser closed the DevTools connection");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Only the browser this test started, by its own handle; its helpers exit with it.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Returns the Chromium to run, `None` when there is none.
fn chromium() -> Option<PathBuf> {
    if let Some(program) = std::env::var_os("DRIVE_CHROMIUM") {
        return Some(PathBuf::from(program));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Returns the DevTools WebSocket URL Chromium prints on standard error, and keeps draining
/// that stream so the browser never blocks on it.
fn devtools_endpoint(child: &mut Child) -> String {
    const BANNER: &str = "DevTools listening on ";
    let stderr = child.stderr.take().expect("piped standard error");
    let (found, endpoint) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut found = Some(found);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.split_once(BANNER).map(|(_, url)| url.trim().to_owned())
                && let Some(found) = found.take()
            {
                let _ = found.send(url);
            }
        }
    });
    endpoint.recv_timeout(TIMEOUT).expect("Chromium printed its DevTools endpoint")
}
