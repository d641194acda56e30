//! Benchmark: how long a change takes from the storage event's arrival to the WebSocket
//! event a bot's browser receives, measured by the client side of both (so it includes
//! the HTTP request, the coalescing quiet period, the stat, the handler, the database
//! commit and the hub).
//!
//! The service runs on filesystem storage with SQLite on loopback and a 300 s poll, so only
//! events make changes live. Each round rewrites the bot's `config.csv`, posts the event,
//! and waits for `settings.changed`. Printed: p50, p99 and max over the rounds, for the
//! default quiet period and for a short one.
//!
//! Run with `cargo xtask bench latency`.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use drive_server::{App, Config, Service};

const ROUNDS: usize = 200;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for quiet in [Duration::from_millis(300), Duration::from_millis(20)] {
        let mut latencies = measure(quiet).await?;
        latencies.sort();
        rows.push((quiet, latencies));
    }
    print_table(&rows);
    Ok(())
}

#[expect(clippy::print_stdout, reason = "a benchmark prints its table")]
fn print_table(rows: &[(Duration, Vec<Duration>)]) {
    println!("| hint quiet period | changes | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|");
    for (quiet, latencies) in rows {
        let at = |q: f64| {
            let idx = ((latencies.len() as f64 - 1.0) * q).round() as usize;
            latencies[idx].as_secs_f64() * 1000.0
        };
        println!(
            "| {} ms | {} | {:.1} | {:.1} | {:.1} |",
            quiet.as_millis(),
            latencies.len(),
            at(0.5),
            at(0.99),
            at(1.0)
        );
    }
}

async fn measure(quiet: Duration) -> anyhow::Result<Vec<Duration>> {
    let work = tempfile::tempdir()?;
    let root = work.path().join("bots");
    let config_path = root.join("bench.gbai/bench.gbot/config.csv");
    std::fs::create_dir_all(config_path.parent().context("config folder")?)?;
    std::fs::write(&config_path, "counter,0\n")?;

    let mut config = Config {
        storage: format!("fs:{}", root.display()),
        database: format!("sqlite:{}", work.path().join("drive.db").display()),
        listen: "127.0.0.1:0".parse()?,
        webhook_token: Some("bench".to_owned()),
        ..Config::default()
    };
    config.monitor.interval = Duration::from_secs(300);
    config.monitor.hint_quiet = quiet;
    let service = Service::start(App::open(config).await?).await?;
    let addr = service.local_addr();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws/bench")).await?;
    let body = r#"{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"bench.gbai"},"object":{"key":"bench.gbot%2Fconfig.csv"}}}]}"#;

    let mut latencies = Vec::with_capacity(ROUNDS);
    for round in 1..=ROUNDS {
        std::fs::write(&config_path, format!("counter,{round}\n"))?;
        let started = Instant::now();
        post(addr, body).await?;
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
                .await
                .context("no event within 10 s")?
                .context("the socket closed")??;
            let text = message.into_text().unwrap_or_default();
            if text.contains("\"settings.changed\"") {
                break;
            }
        }
        latencies.push(started.elapsed());
    }
    if !service.stop().await {
        bail!("the service did not stop in time");
    }
    Ok(latencies)
}

async fn post(addr: std::net::SocketAddr, body: &str) -> anyhow::Result<()> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!(
        "POST /hooks/storage HTTP/1.1\r\nHost: localhost\r\nAuthorization: bench\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    if !response.starts_with("HTTP/1.1 200") {
        bail!("the event was refused: {}", response.lines().next().unwrap_or_default());
    }
    Ok(())
}
