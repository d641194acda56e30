//! The fault suite: drives the service through storage outages, crashes and mass deletions
//! against a real S3-protocol server and PostgreSQL, and prints what it tried and found.
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
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use drive_core::BotName;
use drive_db::contract::PgTestDatabase;
use drive_server::{App, Config};
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

        let proxy = Proxy::start(endpoint).await?;
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

/// A TCP proxy in front of the S3 server that can drop every connection and refuse new
/// ones, as a network outage would.
struct Proxy {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    connections: Arc<std::sync::Mutex<CancellationToken>>,
}

impl Proxy {
    async fn start(endpoint: &str) -> anyhow::Result<Self> {
        let upstream = endpoint.trim_start_matches("http://").to_owned();
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
