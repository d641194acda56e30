//! The fault suite: drives the service through storage and database outages, crashes and
//! mass deletions against a real S3-protocol server and PostgreSQL, and prints what it tried
//! and found.
//!
//! Outages are made by TCP proxies on loopback that the suite starts, cuts and heals; the
//! servers themselves are never stopped, so other users of the same PostgreSQL are not
//! disturbed (every run works in a database of its own).
//!
//! Run it with `cargo xtask fault`, which starts the S3 server, builds the `drive-server`
//! binary and passes `DRIVE_TEST_S3_ENDPOINT`, `DATABASE_URL` and `DRIVE_SERVER_BIN`.
//! Exits with status 1 when any expectation failed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use futures::StreamExt as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use drive_core::{BotName, FileRecord, FileStatus};
use drive_db::contract::PgTestDatabase;
use drive_server::{App, Config, Service};
use drive_storage::contract::StoreFixture as _;
use drive_storage::{S3ObjectStore, S3Settings, Secret};

/// Objects written or deleted at once while populating buckets.
const PARALLEL_REQUESTS: usize = 32;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let endpoint = std::env::var("DRIVE_TEST_S3_ENDPOINT").context("DRIVE_TEST_S3_ENDPOINT")?;
    let server_bin = std::env::var("DRIVE_SERVER_BIN").context("DRIVE_SERVER_BIN")?;
    let s3 = Arc::new(S3ObjectStore::new(
        &endpoint,
        &S3Settings::with_keys("test", Secret::new("test")),
    )?);
    let database = PgTestDatabase::create().await.context("PostgreSQL at DATABASE_URL")?;

    let mut rows = Vec::new();
    // First, while the S3 server holds no other bucket the running service would mount.
    rows.push(database_outage_while_running(&s3, &endpoint, database.url()).await);
    rows.push(storage_cut_mid_listing(&s3, &endpoint, database.url()).await);
    rows.push(kill_mid_batch_in_a_loop(&s3, &endpoint, database.url(), &server_bin).await);
    rows.push(mass_deletion_is_held(&s3, &endpoint, database.url()).await);
    database.drop_database().await?;

    report(&rows)
}

/// One scenario's line of the printed table.
struct Row {
    scenario: &'static str,
    tried: String,
    found: anyhow::Result<String>,
}

#[expect(clippy::print_stdout, reason = "the suite's output is its table")]
fn report(rows: &[Row]) -> anyhow::Result<()> {
    println!("| scenario | tried | found | verdict |");
    println!("|---|---|---|---|");
    let mut failures = 0;
    for row in rows {
        let (found, verdict) = match &row.found {
            Ok(found) => (found.clone(), "pass"),
            Err(err) => {
                failures += 1;
                (format!("{err:#}"), "FAIL")
            }
        };
        println!("| {} | {} | {} | {verdict} |", row.scenario, row.tried, found);
    }
    if failures > 0 {
        bail!("{failures} scenario(s) failed");
    }
    Ok(())
}

fn config(storage: String, database: &str) -> Config {
    let mut config = Config {
        storage,
        database: database.to_owned(),
        listen: "127.0.0.1:0".parse().expect("valid address"),
        ..Config::default()
    };
    config.s3.access_key = Some("test".to_owned());
    config.s3.secret_key = Some("test".to_owned());
    config
}

/// Writes `count` small objects named by `key_of` into `bucket`, many at a time.
async fn populate(
    s3: &S3ObjectStore,
    bucket: &str,
    count: usize,
    key_of: impl Fn(usize) -> String,
) -> anyhow::Result<()> {
    let keys: Vec<String> = (0..count).map(key_of).collect();
    let results: Vec<_> = futures::stream::iter(keys)
        .map(
            |key| async move { s3.put(bucket, &key, format!("content of {key}").as_bytes()).await },
        )
        .buffer_unordered(PARALLEL_REQUESTS)
        .collect()
        .await;
    for result in results {
        result?;
    }
    Ok(())
}

fn fresh_bot(case: &str) -> BotName {
    let stamp =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    BotName::new(format!("{case}-{}", stamp.as_nanos() % 1_000_000_000_000)).expect("valid name")
}

/// Prompt files of the bot the database outage scenario runs.
const OUTAGE_FILES: usize = 40;

/// The running service loses its database for a few seconds while objects change in
/// storage: the changes stay pending (nothing is recorded that was not stored, readiness
/// says the database is unavailable), and once the database is back every change is applied
/// exactly once by the same process.
async fn database_outage_while_running(s3: &S3ObjectStore, endpoint: &str, database: &str) -> Row {
    let tried = format!(
        "service running on PostgreSQL through a TCP proxy, {OUTAGE_FILES} prompts + config.csv; \
         the proxy drops every database connection, then 10 prompts are edited, 10 added and 5 \
         deleted; healed {} s later",
        OUTAGE.as_secs()
    );
    let found = async {
        let bot = fresh_bot("dbcut");
        let bucket = bot.bucket();
        s3.create_bucket(&bucket).await?;
        let prompt_key = |n: usize| format!("{bot}.gbot/part-{n:03}-prompt.md");
        populate(s3, &bucket, OUTAGE_FILES, prompt_key).await?;
        s3.put(&bucket, &format!("{bot}.gbot/config.csv"), b"answer,42\n").await?;

        let direct = drive_db::open(database).await?;
        let proxy = Proxy::start(&database_authority(database)?).await?;
        let mut service_config =
            config(format!("s3:{endpoint}"), &via_proxy(database, proxy.addr)?);
        service_config.monitor.interval = Duration::from_millis(500);
        service_config.monitor.jitter = 0.0;
        let service = Service::start(App::open(service_config).await?).await?;
        let addr = service.local_addr();
        let outcome = outage_round(s3, &bot, &direct, &proxy, addr, &prompt_key).await;
        let stopped = service.stop().await;
        let found = outcome?;
        ensure!(stopped, "the service did not stop within its deadline");
        s3.remove_bucket(&bucket).await?;
        Ok(found)
    }
    .await;
    Row { scenario: "database outage while running", tried, found }
}

/// How long the database stays unreachable.
const OUTAGE: Duration = Duration::from_secs(5);

/// Longest wait for the service to reach an expected state.
const SETTLE_LIMIT: Duration = Duration::from_secs(60);

/// The outage itself, against a running service at `addr`; `direct` reaches the database
/// without the proxy, to see what is really stored.
async fn outage_round(
    s3: &S3ObjectStore,
    bot: &BotName,
    direct: &drive_db::Database,
    proxy: &Proxy,
    addr: SocketAddr,
    prompt_key: &dyn Fn(usize) -> String,
) -> anyhow::Result<String> {
    let bucket = bot.bucket();
    let state = direct.state_store();
    let prompts = direct.prompt_sink();
    let state = &state;
    wait_until("the first sync to record every file", || async move {
        Ok(state.load(bot).await?.len() == OUTAGE_FILES + 1)
    })
    .await?;
    let applied_before = applied_prompt_changes(addr).await?;
    let before = sorted(state.load(bot).await?);
    let prompt_before = prompts.prompt(bot).await?.unwrap_or_default();

    // The outage: connections dropped, then the bucket changes under the running service.
    proxy.cut();
    let edited = 0..10;
    let added = OUTAGE_FILES..OUTAGE_FILES + 10;
    let deleted = OUTAGE_FILES - 5..OUTAGE_FILES;
    for n in edited.clone() {
        s3.put(&bucket, &prompt_key(n), format!("edited {}", prompt_key(n)).as_bytes()).await?;
    }
    for n in added.clone() {
        s3.put(&bucket, &prompt_key(n), format!("added {}", prompt_key(n)).as_bytes()).await?;
    }
    for n in deleted.clone() {
        s3.delete(&bucket, &prompt_key(n)).await?;
    }
    let n_changes = edited.len() + added.len() + deleted.len();

    // While it lasts: readiness degraded, and nothing recorded or stored.
    let outage_started = Instant::now();
    let (status, body) = http_get(addr, "/readyz").await?;
    ensure!(
        status == 503 && body.contains("\"database\":\"unavailable\""),
        "readyz: {status} {body}"
    );
    tokio::time::sleep(OUTAGE.saturating_sub(outage_started.elapsed())).await;
    let (status, _) = http_get(addr, "/readyz").await?;
    ensure!(status == 503, "readyz answered {status} at the end of the outage");
    ensure!(
        sorted(state.load(bot).await?) == before,
        "records changed while the database was away"
    );
    ensure!(
        prompts.prompt(bot).await?.unwrap_or_default() == prompt_before,
        "the prompt changed while the database was away"
    );
    ensure!(
        applied_prompt_changes(addr).await? == applied_before,
        "changes counted as applied while the database was away"
    );

    // Healed: the same process applies every change, once.
    proxy.heal();
    let healed = Instant::now();
    wait_until("every change to be applied after healing", || async move {
        Ok(applied_prompt_changes(addr).await? >= applied_before + n_changes as u64)
    })
    .await?;
    let caught_up = healed.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let applied = applied_prompt_changes(addr).await? - applied_before;
    ensure!(applied == n_changes as u64, "{applied} changes applied for {n_changes} made");
    let (status, body) = http_get(addr, "/readyz").await?;
    ensure!(status == 200, "readyz after healing: {status} {body}");

    let records = state.load(bot).await?;
    ensure!(records.len() == OUTAGE_FILES + 1 + 10 - 5, "{} records after healing", records.len());
    ensure!(records.iter().all(|r| r.status == FileStatus::Live), "a record is not live");
    let prompt = prompts.prompt(bot).await?.unwrap_or_default();
    for n in 0..OUTAGE_FILES + 10 {
        let key = prompt_key(n);
        let expected = if edited.contains(&n) {
            format!("edited {key}")
        } else if added.contains(&n) {
            format!("added {key}")
        } else if deleted.contains(&n) {
            continue;
        } else {
            format!("content of {key}")
        };
        ensure!(prompt.matches(&expected).count() == 1, "{expected:?} not in the prompt once");
    }
    for n in deleted {
        let key = prompt_key(n);
        ensure!(!prompt.contains(&key), "deleted {key} still in the prompt");
    }
    Ok(format!(
        "readyz 503 (database unavailable) during the outage; records and prompt unchanged, 0 \
         changes counted; {:.1} s after healing all {n_changes} changes applied exactly once \
         (applied-changes counter +{applied}), readyz 200, no restart",
        caught_up.as_secs_f64()
    ))
}

/// Splits a PostgreSQL URL around its `host[:port]`: what comes before, the authority with
/// the default port made explicit, and what comes after.
fn split_database_url(url: &str) -> anyhow::Result<(&str, String, &str)> {
    let after_scheme = url.find("://").context("a URL with a scheme")? + 3;
    let host_start =
        url[after_scheme..].rfind('@').map_or(after_scheme, |at| after_scheme + at + 1);
    let host_len = url[host_start..].find(['/', '?']).unwrap_or(url.len() - host_start);
    let host = &url[host_start..host_start + host_len];
    let authority = if host.contains(':') { host.to_owned() } else { format!("{host}:5432") };
    Ok((&url[..host_start], authority, &url[host_start + host_len..]))
}

/// Returns the `host:port` of a PostgreSQL URL.
fn database_authority(url: &str) -> anyhow::Result<String> {
    Ok(split_database_url(url)?.1)
}

/// Returns `url` with its host and port replaced by `proxy`.
fn via_proxy(url: &str, proxy: SocketAddr) -> anyhow::Result<String> {
    let (before, _, after) = split_database_url(url)?;
    Ok(format!("{before}{proxy}{after}"))
}

fn sorted(mut records: Vec<FileRecord>) -> Vec<FileRecord> {
    records.sort_by(|a, b| a.key().cmp(b.key()));
    records
}

/// Returns how many prompt changes the service counted as applied (`drive_changes_total`).
async fn applied_prompt_changes(addr: SocketAddr) -> anyhow::Result<u64> {
    let (status, body) = http_get(addr, "/metrics").await?;
    ensure!(status == 200, "metrics: {status}");
    let total = body
        .lines()
        .filter(|line| line.starts_with("drive_changes_total{"))
        .filter(|line| line.contains("kind=\"prompt\"") && line.contains("outcome=\"applied\""))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>();
    Ok(total as u64)
}

/// Polls `check` every 100 ms until it holds; fails after [`SETTLE_LIMIT`].
async fn wait_until<F, Fut>(what: &str, check: F) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let started = Instant::now();
    loop {
        if check().await? {
            return Ok(());
        }
        ensure!(started.elapsed() < SETTLE_LIMIT, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends one `GET` and returns the status code and body.
async fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

/// The storage goes away while a listing of 3 000 objects is under way.
async fn storage_cut_mid_listing(s3: &S3ObjectStore, endpoint: &str, database: &str) -> Row {
    let tried = "3 000 objects; a TCP proxy in front of S3 drops every connection 40 ms into a \
                 sync, then heals"
        .to_owned();
    let found = async {
        let bot = fresh_bot("cut");
        let bucket = bot.bucket();
        s3.create_bucket(&bucket).await?;
        populate(s3, &bucket, 3_000, |n| format!("{bot}.gbdata/object-{n:05}.txt")).await?;
        s3.put(&bucket, &format!("{bot}.gbot/config.csv"), b"answer,42\n").await?;

        let proxy = Proxy::start(endpoint.trim_start_matches("http://")).await?;
        let app = App::open(config(format!("s3:http://{}", proxy.addr), database)).await?;
        let first = app.monitor.sync(&bot).await?;
        ensure!(first.added == 3_001, "first sync added {}", first.added);

        let monitor = app.monitor.clone();
        let cut_bot = bot.clone();
        let sync = tokio::spawn(async move { monitor.sync(&cut_bot).await });
        tokio::time::sleep(Duration::from_millis(40)).await;
        proxy.cut();
        let outcome = sync.await?;
        let error = match outcome {
            Err(err) => format!("{:#}", anyhow::Error::from(err)),
            Ok(report) if report.n_changes() == 0 => "sync finished before the cut".to_owned(),
            Ok(report) => bail!("a cut listing produced changes: {report:?}"),
        };
        let kept = app.state.load(&bot).await?.len();
        ensure!(kept == 3_001, "records after the cut: {kept}");

        proxy.heal();
        let recovered = app.monitor.sync(&bot).await?;
        ensure!(recovered.n_changes() == 0, "after healing: {recovered:?}");
        s3.remove_bucket(&bucket).await?;
        Ok(format!(
            "cycle failed ({}); 0 deletions, 3 001 records kept; after healing 0 changes, no restart",
            error.lines().next().unwrap_or_default()
        ))
    }
    .await;
    Row { scenario: "storage cut mid-listing", tried, found }
}

/// `drive-server sync` is killed with SIGKILL at random points, five times, then runs to
/// the end: every prompt file ends up applied exactly once.
async fn kill_mid_batch_in_a_loop(
    s3: &S3ObjectStore,
    endpoint: &str,
    database: &str,
    server_bin: &str,
) -> Row {
    const FILES: usize = 600;
    let tried = format!(
        "{FILES} prompt files; `drive-server sync` killed with SIGKILL after 0.2-1.0 s, five times, then run to the end"
    );
    let found = async {
        let bot = fresh_bot("kill");
        let bucket = bot.bucket();
        s3.create_bucket(&bucket).await?;
        populate(s3, &bucket, FILES, |n| format!("{bot}.gbot/part-{n:04}-prompt.md")).await?;

        let work = tempfile::tempdir()?;
        let config_file = work.path().join("drive.toml");
        std::fs::write(&config_file, "[s3]\naccess_key = \"test\"\nsecret_key = \"test\"\n")?;
        let storage = format!("s3:{endpoint}");
        let args = |extra: &[&str]| -> Vec<String> {
            let mut args: Vec<String> = ["--config", config_file.to_str().unwrap_or_default(), "--storage", &storage, "--database", database]
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
            args.extend(extra.iter().map(|s| (*s).to_owned()));
            args
        };

        let mut killed = 0;
        for round in 0..5u64 {
            let mut child = tokio::process::Command::new(server_bin)
                .args(args(&["sync", "--bot", bot.as_str()]))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()?;
            tokio::time::sleep(Duration::from_millis(200 + round * 200)).await;
            if child.try_wait()?.is_none() {
                child.start_kill()?;
                killed += 1;
            }
            child.wait().await?;
        }
        let status = tokio::process::Command::new(server_bin)
            .args(args(&["sync", "--bot", bot.as_str()]))
            .stdout(std::process::Stdio::null())
            .status()
            .await?;
        ensure!(status.success(), "the final sync failed: {status}");

        let app = App::open(config(format!("s3:{endpoint}"), database)).await?;
        let prompt = app.prompts.prompt(&bot).await?.unwrap_or_default();
        for n in 0..FILES {
            let marker = format!("content of {bot}.gbot/part-{n:04}-prompt.md");
            let seen = prompt.matches(&marker).count();
            ensure!(seen == 1, "{marker} applied {seen} times");
        }
        let again = app.monitor.sync(&bot).await?;
        ensure!(again.n_changes() == 0, "a sync after recovery found {again:?}");
        s3.remove_bucket(&bucket).await?;
        Ok(format!("{killed} of 5 runs killed mid-sync; afterwards all {FILES} prompts applied exactly once, next sync 0 changes"))
    }
    .await;
    Row { scenario: "kill -9 mid-batch", tried, found }
}

/// 60% of a 10 000-object bucket disappears at once: the deletions are held until allowed.
async fn mass_deletion_is_held(s3: &S3ObjectStore, endpoint: &str, database: &str) -> Row {
    let tried = "10 000 objects synced, then 6 000 deleted from storage".to_owned();
    let found = async {
        let bot = fresh_bot("mass");
        let bucket = bot.bucket();
        s3.create_bucket(&bucket).await?;
        let key_of = |n: usize| format!("{bot}.gbdata/object-{n:05}.txt");
        populate(s3, &bucket, 10_000, key_of).await?;
        let app = App::open(config(format!("s3:{endpoint}"), database)).await?;
        let started = Instant::now();
        let first = app.monitor.sync(&bot).await?;
        let first_took = started.elapsed();
        ensure!(first.added == 10_000, "first sync added {}", first.added);

        let doomed: Vec<String> = (0..6_000).map(key_of).collect();
        let bucket_name = bucket.as_str();
        let results: Vec<_> = futures::stream::iter(doomed)
            .map(|key| async move { s3.delete(bucket_name, &key).await })
            .buffer_unordered(PARALLEL_REQUESTS)
            .collect()
            .await;
        for result in results {
            result?;
        }
        let held = app.monitor.sync(&bot).await?;
        ensure!(held.held_deletions == 6_000 && held.removed == 0, "{held:?}");
        ensure!(app.state.load(&bot).await?.len() == 10_000, "records changed while held");
        let allowed = app.monitor.sync_with(&bot, true).await?;
        ensure!(allowed.removed == 6_000, "{allowed:?}");
        ensure!(app.state.load(&bot).await?.len() == 4_000, "records after allowing");
        s3.remove_bucket(&bucket).await?;
        Ok(format!(
            "first sync {:.1} s; 6 000 deletions held, 10 000 records kept; applied with \
             --allow-mass-deletion: 4 000 left",
            first_took.as_secs_f64()
        ))
    }
    .await;
    Row { scenario: "60% deleted at once", tried, found }
}

/// A TCP proxy in front of a server (S3 or PostgreSQL) that can drop every connection and
/// refuse new ones, as a network outage would.
struct Proxy {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    connections: Arc<std::sync::Mutex<CancellationToken>>,
}

impl Proxy {
    /// Starts a proxy on a free loopback port forwarding to `upstream` (`host:port`).
    async fn start(upstream: &str) -> anyhow::Result<Self> {
        let upstream = upstream.to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let cut = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(std::sync::Mutex::new(CancellationToken::new()));
        let (accept_cut, accept_connections) = (cut.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if accept_cut.load(Ordering::SeqCst) {
                    continue;
                }
                let token = accept_connections.lock().map(|t| t.clone()).unwrap_or_default();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&upstream).await else { return };
                    tokio::select! {
                        () = token.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    }
                });
            }
        });
        Ok(Self { addr, cut, connections })
    }

    /// Drops every open connection and refuses new ones.
    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        if let Ok(mut token) = self.connections.lock() {
            token.cancel();
            *token = CancellationToken::new();
        }
    }

    fn heal(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}
