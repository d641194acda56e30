//! How long one event takes to reach N WebSocket clients of one bot.
//!
//! `cargo run --release -p drive-server --example ws_bench [-- N... --events E]` (or
//! `cargo xtask bench ws`) starts the real service over a temporary bot folder (SQLite, HTTP
//! on loopback), connects N clients to `/ws/bench` from a child process, then publishes E
//! events one after another through the hub, each once the previous one reached every
//! client. Per N it prints the time for an event to reach all N clients (p50, p99, max over
//! the events) and the time each single delivery took (p50, p99 over N × E deliveries).
//!
//! The clients live in a child process so that server and clients each hold N descriptors:
//! one process holding both sides needs 2 N, more than a default limit allows at N = 10 000.
//! Times are wall-clock (`SystemTime`) differences between the two processes on one machine.
//!
//! Known limits: both processes share the machine's cores, so the figures include the
//! clients' own work; events are small (about 100 bytes of JSON).

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use clap::Parser;
use futures::StreamExt as _;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use drive_core::{BotEvent, BotName, EventBus as _};
use drive_server::{App, Config, Service};

/// Connections opened at once: well under the listen backlog, so no SYN is dropped.
const CONNECTS_IN_FLIGHT: usize = 256;

/// Longest wait for all clients to connect or for one event to reach them all.
const STEP_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Parser)]
#[command(about = "Time for one event to reach N WebSocket clients")]
struct Args {
    /// Numbers of clients to measure, one run each.
    #[arg(default_values_t = [1_000, 10_000])]
    clients: Vec<usize>,
    /// Events published per run.
    #[arg(long, default_value_t = 50)]
    events: usize,
    /// Runs as the client process of a run (internal).
    #[arg(long, hide = true)]
    client_of: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match &args.client_of {
        Some(url) => runtime.block_on(run_clients(url, args.clients[0], args.events)),
        None => runtime.block_on(run_server(&args)),
    }
}

/// What one run measured.
struct Run {
    clients: usize,
    connect: Duration,
    /// Resident memory of the server process with every client connected, when known.
    server_rss_mb: Option<f64>,
    all_reached: Vec<u64>,
    single: (u64, u64),
}

async fn run_server(args: &Args) -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let theme = work.path().join("bots/bench.gbai/bench.gbtheme");
    std::fs::create_dir_all(&theme)?;
    std::fs::write(theme.join("default.css"), "body { background: #fff }\n")?;
    let mut config = Config {
        storage: format!("fs:{}", work.path().join("bots").display()),
        database: format!("sqlite:{}", work.path().join("drive.db").display()),
        listen: "127.0.0.1:0".parse()?,
        ..Config::default()
    };
    config.monitor.interval = Duration::from_secs(3600);
    config.ws.max_connections_per_bot = args.clients.iter().copied().max().unwrap_or(0) + 1;
    config.ws.ping_interval = Duration::from_secs(600);
    let app = App::open(config).await?;
    let hub = app.hub.clone();
    let service = Service::start(app).await?;
    let url = format!("ws://{}/ws/bench", service.local_addr());

    let mut runs = Vec::new();
    for &clients in &args.clients {
        runs.push(measure(&hub, &url, clients, args.events).await?);
    }
    service.stop().await;
    print_table(&runs, args.events)?;
    Ok(())
}

/// Connects `clients` clients in a child process and times `events` events.
async fn measure(
    hub: &drive_server::Hub,
    url: &str,
    clients: usize,
    events: usize,
) -> anyhow::Result<Run> {
    let started = Instant::now();
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--client-of", url, "--events", &events.to_string(), &clients.to_string()])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting the client process")?;
    let stdout = child.stdout.take().context("client output")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut next_line = async || -> anyhow::Result<String> {
        let line = tokio::time::timeout(STEP_TIMEOUT, lines.next_line()).await;
        line.context("the client process took too long")??.context("the client process ended")
    };
    anyhow::ensure!(next_line().await? == "ready", "the client process did not get ready");
    let connect = started.elapsed();
    let server_rss_mb = resident_mb();

    let bot = BotName::new("bench")?;
    let mut all_reached = Vec::with_capacity(events);
    for idx in 0..events {
        let sent = now_ns();
        hub.publish(
            &bot,
            BotEvent::KbIndexed { collection: format!("{idx} {sent}"), documents: 0, chunks: 0 },
        );
        let done = next_line().await?;
        let Some(("done", slowest)) = done.split_once(' ') else { bail!("unexpected {done:?}") };
        all_reached.push(slowest.parse()?);
    }
    let summary = next_line().await?;
    let mut parts = summary.split(' ').skip(1).map(str::parse::<u64>);
    let single = (parts.next().context("p50")??, parts.next().context("p99")??);
    child.wait().await?;
    Ok(Run { clients, connect, server_rss_mb, all_reached, single })
}

/// The client process: connects, says `ready`, then says `done NS` each time an event
/// reached every client (NS: nanoseconds from publishing to the last delivery), and at the
/// end `single P50 P99` over every delivery.
async fn run_clients(url: &str, clients: usize, events: usize) -> anyhow::Result<()> {
    let tally = Arc::new(Tally {
        received: (0..events).map(|_| AtomicUsize::new(0)).collect(),
        slowest: (0..events).map(|_| AtomicU64::new(0)).collect(),
    });
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let (latency_tx, mut latency_rx) = mpsc::unbounded_channel::<Vec<u64>>();
    let gate = Arc::new(Semaphore::new(CONNECTS_IN_FLIGHT));
    let mut connecting = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let permit = gate.clone().acquire_owned().await?;
        let url = url.to_owned();
        connecting.spawn(async move {
            let client = connect(&url).await;
            drop(permit);
            client
        });
    }
    let mut streams = Vec::with_capacity(clients);
    while let Some(client) = connecting.join_next().await {
        streams.push(client??);
    }
    for stream in streams {
        let (tally, done_tx, latency_tx) = (tally.clone(), done_tx.clone(), latency_tx.clone());
        tokio::spawn(read_events(stream, tally, clients, events, done_tx, latency_tx));
    }
    drop(latency_tx);
    say("ready")?;

    for _ in 0..events {
        let slowest =
            tokio::time::timeout(STEP_TIMEOUT, done_rx.recv()).await?.context("readers")?;
        say(&format!("done {slowest}"))?;
    }
    let mut latencies = Vec::with_capacity(clients * events);
    while let Some(batch) = latency_rx.recv().await {
        latencies.extend(batch);
    }
    latencies.sort_unstable();
    say(&format!("single {} {}", percentile(&latencies, 50), percentile(&latencies, 99)))
}

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects one client and waits for the theme state every client gets first.
async fn connect(url: &str) -> anyhow::Result<Stream> {
    // Clients read small frames: a 4 KiB read buffer instead of the 128 KiB default keeps
    // ten thousand of them in a few tens of megabytes.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (mut stream, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
        .await
        .context("connecting a client")?;
    stream.next().await.context("no first message")??;
    Ok(stream)
}

/// What the readers found, per event.
struct Tally {
    received: Vec<AtomicUsize>,
    slowest: Vec<AtomicU64>,
}

/// Reads `events` events on one client, noting when each arrived.
async fn read_events(
    mut stream: Stream,
    tally: Arc<Tally>,
    clients: usize,
    events: usize,
    done: mpsc::UnboundedSender<u64>,
    latencies: mpsc::UnboundedSender<Vec<u64>>,
) {
    let mut mine = Vec::with_capacity(events);
    while mine.len() < events {
        let Some(Ok(message)) = stream.next().await else { break };
        let Message::Text(text) = message else { continue };
        let arrived = now_ns();
        let Some((idx, sent)) = parse_event(&text) else { continue };
        let took = arrived.saturating_sub(sent);
        mine.push(took);
        tally.slowest[idx].fetch_max(took, Ordering::Relaxed);
        if tally.received[idx].fetch_add(1, Ordering::AcqRel) + 1 == clients {
            let _ = done.send(tally.slowest[idx].load(Ordering::Relaxed));
        }
    }
    let _ = latencies.send(mine);
}

/// Returns the event number and send time carried by a `kb.indexed` bench event.
fn parse_event(text: &str) -> Option<(usize, u64)> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let (idx, sent) = value["payload"]["collection"].as_str()?.split_once(' ')?;
    Some((idx.parse().ok()?, sent.parse().ok()?))
}

/// Returns this process's resident memory in MiB, read from `/proc` (Linux only).
fn resident_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn now_ns() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX)
}

fn percentile(sorted: &[u64], pct: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[(sorted.len() * pct / 100).min(sorted.len() - 1)]
}

fn say(line: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

fn print_table(runs: &[Run], events: usize) -> anyhow::Result<()> {
    let ms = |ns: u64| ns as f64 / 1e6;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{events} events per run; times in ms; server MiB: resident memory of the server"
    )?;
    writeln!(
        out,
        "{:>8} {:>10} {:>10} | {:>10} {:>10} {:>10} | {:>10} {:>10}",
        "clients", "connect", "server MiB", "all p50", "all p99", "all max", "one p50", "one p99"
    )?;
    for run in runs {
        let mut all = run.all_reached.clone();
        all.sort_unstable();
        writeln!(
            out,
            "{:>8} {:>10.0} {:>10} | {:>10.2} {:>10.2} {:>10.2} | {:>10.2} {:>10.2}",
            run.clients,
            run.connect.as_secs_f64() * 1e3,
            run.server_rss_mb.map_or_else(|| "-".to_owned(), |mb| format!("{mb:.0}")),
            ms(percentile(&all, 50)),
            ms(percentile(&all, 99)),
            ms(all.last().copied().unwrap_or(0)),
            ms(run.single.0),
            ms(run.single.1),
        )?;
    }
    Ok(())
}
