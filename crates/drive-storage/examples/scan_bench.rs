//! `cargo xtask bench scan`: what a full scan of an unchanged bucket costs, against rclone.
//!
//! For 10 000 and 100 000 objects in an S3-protocol server on loopback (moto), it measures
//! a monitor cycle over an unchanged bucket (list, diff against the known state, nothing to
//! read) and, in the same run and on the same bucket, rclone at its fastest
//! (`rclone lsjson -R --fast-list --use-server-modtime --no-mimetype`). Both run as child
//! processes under `/usr/bin/time`, so wall time, CPU time and peak resident memory are
//! measured the same way; requests are counted by our transport and by rclone's request dump.
//!
//! The server is reused: `DRIVE_BENCH_S3_ENDPOINT` names one, or moto is started on
//! 127.0.0.1:45550 and left running for the next run (its state is in memory, and filling
//! 100 000 objects takes minutes). A bucket is filled once; a marker object in the bucket
//! `drive-bench-markers` says it is complete. Needs `python3 -m pip install "moto[server]"`,
//! `apt-get install rclone time`.
//!
//! Known limits: the known state is handed to the scan from a file the parent wrote, so the
//! child's figures include reading it (tens of milliseconds at 100 000 objects) and, as
//! with a database, holding every record in exchange form until the monitor has compacted
//! them, which is most of the child's peak memory at 100 000 objects; the bucket
//! spreads its objects over eight top-level folders, the shape the concurrent listing is
//! built for (one folder holding everything lists at rclone's pace).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::StreamExt;

use drive_core::{
    BotName, ETag, FileRecord, FileStateStore, FileStatus, MonitorBuilder, ObjectMeta, ObjectStore,
    PersistError, StateUpdate, Timestamp, classify,
};
use drive_storage::{RequestCounter, S3ObjectStore, S3Settings, Secret};

const DEFAULT_PORT: u16 = 45_550;
const SIZES: [usize; 2] = [10_000, 100_000];
/// Measured runs per client and size: three at 10 000 objects, one at 100 000, where one
/// rclone listing takes over a minute against moto and the whole benchmark must stay short.
fn runs(n_objects: usize) -> usize {
    if n_objects > 10_000 { 1 } else { 3 }
}
const FOLDERS: [&str; 8] = [
    "bench.gbkb",
    "bench.gbdialog",
    "bench.gbtheme",
    "bench.gbot",
    "media",
    "archive",
    "drafts",
    "shared",
];
const MARKERS: &str = "drive-bench-markers";
/// Writes in flight while filling a bucket.
const FILL_CONCURRENCY: usize = 32;

type Result<T> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.as_slice() {
        [flag, endpoint, bot, state] if flag == "--child" => child(endpoint, bot, Path::new(state)),
        [] => parent(),
        _ => Err("usage: scan_bench [--child ENDPOINT BOT STATE_FILE]".into()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            say(&format!("scan bench: {message}"));
            ExitCode::FAILURE
        }
    }
}

#[expect(clippy::print_stdout, reason = "a benchmark prints its table")]
fn say(line: &str) {
    println!("{line}");
}

fn settings() -> S3Settings {
    S3Settings::with_keys("bench", Secret::new("bench"))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())
}

/// One measured run of a client.
#[derive(Clone, Copy, Debug, Default)]
struct Run {
    wall: f64,
    cpu: f64,
    peak_kib: u64,
    list: u64,
    get: u64,
    head: u64,
}

fn parent() -> Result<()> {
    opendal::HttpTransporter::install_default(
        opendal_http_transport_reqwest::ReqwestTransport::default(),
    );
    let endpoint = ensure_server()?;
    let work = std::env::temp_dir().join("drive-scan-bench");
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let rt = runtime()?;

    let mut rows = Vec::new();
    for n_objects in SIZES {
        let bot = BotName::new(format!("scan-{n_objects}")).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let filled = rt.block_on(fill_once(&endpoint, &bot, n_objects))?;
        if filled {
            say(&format!("filled {} in {:.0} s", bot.bucket(), started.elapsed().as_secs_f64()));
        }
        let state = work.join(format!("{}.state", bot.as_str()));
        let n_listed = rt.block_on(write_state(&endpoint, &bot, &state))?;
        if n_listed != n_objects {
            return Err(format!("{} holds {n_listed} objects, not {n_objects}", bot.bucket()));
        }

        let rclone_requests = rclone_requests(&endpoint, &bot)?;
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..runs(n_objects) {
            ours.push(measure_ours(&endpoint, &bot, &state, &work)?);
            let mut run = measure_rclone(&endpoint, &bot, &work)?;
            (run.list, run.get, run.head) = rclone_requests;
            theirs.push(run);
        }
        rows.push((n_objects, median(&ours), median(&theirs)));
    }
    print_table(&rows);
    Ok(())
}

/// Returns the endpoint of a running S3 server, starting moto when none answers.
fn ensure_server() -> Result<String> {
    if let Ok(endpoint) = std::env::var("DRIVE_BENCH_S3_ENDPOINT") {
        return Ok(endpoint);
    }
    let endpoint = format!("http://127.0.0.1:{DEFAULT_PORT}");
    if std::net::TcpStream::connect(("127.0.0.1", DEFAULT_PORT)).is_ok() {
        say(&format!("reusing the S3 server at {endpoint}"));
        return Ok(endpoint);
    }
    // setsid keeps the server alive after this process, for the next run.
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let port = DEFAULT_PORT.to_string();
    Command::new("setsid")
        .args([python.as_str(), "-m", "moto.server", "-H", "127.0.0.1", "-p", &port])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start moto (python3 -m pip install 'moto[server]'): {e}"))?;
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", DEFAULT_PORT)).is_err() {
        if started.elapsed() > Duration::from_secs(30) {
            return Err("moto did not start listening within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    say(&format!("started moto at {endpoint}; it keeps running for the next run"));
    Ok(endpoint)
}

/// Returns the key of object `idx` of a bucket of `n_objects`.
fn key(idx: usize) -> String {
    let folder = FOLDERS[idx % FOLDERS.len()];
    format!("{folder}/section-{:02}/document-{idx:06}.txt", (idx / FOLDERS.len()) % 25)
}

/// Fills the bot's bucket unless its marker says it is complete; returns true when it
/// filled it.
async fn fill_once(endpoint: &str, bot: &BotName, n_objects: usize) -> Result<bool> {
    let markers = operator(endpoint, MARKERS)?;
    let marker = bot.bucket();
    if markers.exists(&marker).await.unwrap_or(false) {
        return Ok(false);
    }
    let http = reqwest::Client::new();
    for bucket in [MARKERS.to_owned(), bot.bucket()] {
        // Creating a bucket that exists fails harmlessly; the writes below tell.
        let _ = http.put(format!("{endpoint}/{bucket}")).send().await;
    }

    let objects = operator(endpoint, &bot.bucket())?;
    let writes = futures::stream::iter(0..n_objects).map(|idx| {
        let objects = objects.clone();
        async move {
            let key = key(idx);
            objects.write(&key, key.clone().into_bytes()).await.map(drop).map_err(|e| e.to_string())
        }
    });
    let results: Vec<Result<()>> = writes.buffer_unordered(FILL_CONCURRENCY).collect().await;
    results.into_iter().collect::<Result<Vec<()>>>()?;
    markers.write(&marker, "complete").await.map_err(|e| e.to_string())?;
    Ok(true)
}

fn operator(endpoint: &str, bucket: &str) -> Result<opendal::Operator> {
    let builder = opendal::services::S3::default()
        .bucket(bucket)
        .endpoint(endpoint)
        .region("us-east-1")
        .access_key_id("bench")
        .secret_access_key("bench")
        .disable_config_load()
        .disable_ec2_metadata();
    opendal::Operator::new(builder).map_err(|e| e.to_string())
}

/// Lists the bucket and writes what a monitor that saw it would know; returns the number of
/// objects.
async fn write_state(endpoint: &str, bot: &BotName, path: &Path) -> Result<usize> {
    let store = S3ObjectStore::new(endpoint, &settings()).map_err(|e| e.to_string())?;
    let mut lister = store.list(bot).await.map_err(|e| e.to_string())?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| e.to_string())?);
    let mut n_objects = 0;
    while let Some(page) = lister.next_page().await.map_err(|e| e.to_string())? {
        for meta in page {
            let etag = meta.etag.as_ref().map(ETag::as_str).unwrap_or_default();
            let modified = meta.last_modified.map(Timestamp::as_nanos).unwrap_or_default();
            writeln!(out, "{}\t{etag}\t{}\t{modified}", meta.key, meta.size)
                .map_err(|e| e.to_string())?;
            n_objects += 1;
        }
    }
    out.flush().map_err(|e| e.to_string())?;
    Ok(n_objects)
}

fn measure_ours(endpoint: &str, bot: &BotName, state: &Path, work: &Path) -> Result<Run> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut command = Command::new(exe);
    command.args(["--child", endpoint, bot.as_str()]).arg(state);
    let (mut run, stdout) = timed(command, work)?;
    let figures: Vec<u64> =
        stdout.split_whitespace().filter_map(|figure| figure.parse().ok()).collect();
    let [list, get, head, changes] = figures[..] else {
        return Err(format!("unexpected child output {stdout:?}"));
    };
    if changes != 0 {
        return Err(format!("the unchanged scan found {changes} changes"));
    }
    (run.list, run.get, run.head) = (list, get, head);
    Ok(run)
}

fn rclone(endpoint: &str, bot: &BotName) -> Command {
    let mut command = Command::new("env");
    command
        .args(["-u", "AWS_CA_BUNDLE", "rclone", "lsjson", "-R", "--fast-list"])
        .args(["--use-server-modtime", "--no-mimetype"])
        .arg(format!("bench:{}", bot.bucket()))
        .env("RCLONE_CONFIG", "/dev/null")
        .env("RCLONE_CONFIG_BENCH_TYPE", "s3")
        .env("RCLONE_CONFIG_BENCH_PROVIDER", "Other")
        .env("RCLONE_CONFIG_BENCH_ENDPOINT", endpoint)
        .env("RCLONE_CONFIG_BENCH_ACCESS_KEY_ID", "bench")
        .env("RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY", "bench")
        .env("RCLONE_CONFIG_BENCH_REGION", "us-east-1");
    command
}

fn measure_rclone(endpoint: &str, bot: &BotName, work: &Path) -> Result<Run> {
    Ok(timed(rclone(endpoint, bot), work)?.0)
}

/// Returns rclone's LIST, GET and HEAD requests for one listing, from its request dump.
fn rclone_requests(endpoint: &str, bot: &BotName) -> Result<(u64, u64, u64)> {
    let output = rclone(endpoint, bot)
        .args(["--dump", "headers", "--log-level", "DEBUG"])
        .stdout(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run rclone (apt-get install rclone): {e}"))?;
    if !output.status.success() {
        return Err(format!("rclone failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    let (mut list, mut get, mut head) = (0, 0, 0);
    for line in output.stderr.lines().map_while(std::result::Result::ok) {
        if !line.contains(" HTTP/1.1") {
            continue;
        }
        // rclone lists with ListObjects (v1) on servers it does not know: a GET of the
        // bucket whose query has `max-keys` or `delimiter`.
        let listing = ["list-type=", "max-keys=", "delimiter="].iter().any(|q| line.contains(q));
        if line.contains("GET /") && listing {
            list += 1;
        } else if line.contains("GET /") {
            get += 1;
        } else if line.contains("HEAD /") {
            head += 1;
        }
    }
    Ok((list, get, head))
}

/// Runs `command` under `/usr/bin/time`; returns its figures and its standard output.
fn timed(command: Command, work: &Path) -> Result<(Run, String)> {
    let report: PathBuf = work.join("time.out");
    let mut timed = Command::new("/usr/bin/time");
    timed.args(["-f", "%e %U %S %M", "-o"]).arg(&report).arg(command.get_program());
    timed.args(command.get_args());
    for (name, value) in command.get_envs() {
        if let Some(value) = value {
            timed.env(name, value);
        }
    }
    let output = timed
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run /usr/bin/time (apt-get install time): {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{:?} failed: {}",
            command.get_program(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let text = std::fs::read_to_string(&report).map_err(|e| e.to_string())?;
    let figures: Vec<f64> =
        text.split_whitespace().filter_map(|figure| figure.parse().ok()).collect();
    let [wall, user, system, peak_kib] = figures[..] else {
        return Err(format!("unexpected /usr/bin/time output {text:?}"));
    };
    let run = Run { wall, cpu: user + system, peak_kib: peak_kib as u64, ..Run::default() };
    Ok((run, String::from_utf8_lossy(&output.stdout).into_owned()))
}

/// Returns the run with the median wall time, with the median CPU time and memory.
fn median(runs: &[Run]) -> Run {
    let pick = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let mut run = runs[0];
    run.wall = pick(runs.iter().map(|run| run.wall).collect());
    run.cpu = pick(runs.iter().map(|run| run.cpu).collect());
    run.peak_kib = pick(runs.iter().map(|run| run.peak_kib as f64).collect()) as u64;
    run
}

fn print_table(rows: &[(usize, Run, Run)]) {
    say("");
    say("scan of an unchanged bucket, moto on loopback, both clients in the same run");
    say("(median of 3 runs at 10 000 objects, one run at 100 000)");
    say("| objects | client | LIST | GET | HEAD | wall s | CPU s | peak MiB |");
    say("|---:|---|---:|---:|---:|---:|---:|---:|");
    for (n_objects, ours, theirs) in rows {
        for (name, run) in [("drive-monitor", ours), ("rclone lsjson --fast-list", theirs)] {
            say(&format!(
                "| {n_objects} | {name} | {} | {} | {} | {:.2} | {:.2} | {:.1} |",
                run.list,
                run.get,
                run.head,
                run.wall,
                run.cpu,
                run.peak_kib as f64 / 1024.0
            ));
        }
    }
    say("");
    say("| objects | wall ours/rclone | CPU ours/rclone | memory ours/rclone |");
    say("|---:|---:|---:|---:|");
    for (n_objects, ours, theirs) in rows {
        say(&format!(
            "| {n_objects} | {:.2} | {:.2} | {:.2} |",
            ours.wall / theirs.wall,
            ours.cpu / theirs.cpu.max(0.01),
            ours.peak_kib as f64 / theirs.peak_kib as f64
        ));
    }
}

/// The measured process: one monitor cycle over the unchanged bucket.
fn child(endpoint: &str, bot: &str, state: &Path) -> Result<()> {
    let bot = BotName::new(bot).map_err(|e| e.to_string())?;
    let counter = RequestCounter::new();
    let store = S3ObjectStore::new(endpoint, &settings())
        .map_err(|e| e.to_string())?
        .with_request_counter(counter.clone());
    let known = Arc::new(StateFile(state.to_path_buf()));
    let monitor = MonitorBuilder::new(Arc::new(store), known).build();

    let report = runtime()?.block_on(monitor.sync(&bot)).map_err(|e| e.to_string())?;
    let counts = counter.snapshot();
    say(&format!("{} {} {} {}", counts.list, counts.get, counts.head, report.n_changes()));
    Ok(())
}

/// The known state of one bot, read from a file: each object live at its listed version.
struct StateFile(PathBuf);

#[async_trait]
impl FileStateStore for StateFile {
    async fn load(&self, _bot: &BotName) -> std::result::Result<Vec<FileRecord>, PersistError> {
        // Read line by line, as a database adapter reads rows, not as one string.
        let file =
            std::fs::File::open(&self.0).map_err(|err| PersistError::Unavailable(Box::new(err)))?;
        let mut records = Vec::new();
        for line in std::io::BufReader::new(file).lines() {
            let line = line.map_err(|err| PersistError::Unavailable(Box::new(err)))?;
            let mut fields = line.split('\t');
            let (Some(key), Some(etag), Some(size), Some(modified)) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let mut meta = ObjectMeta::new(key, size.parse().unwrap_or_default());
            meta.etag = ETag::parse(etag);
            meta.last_modified = modified.parse().ok().map(Timestamp::from_nanos);
            let Some(kind) = classify(&meta) else { continue };
            records.push(FileRecord {
                kind,
                live: Some(meta.clone()),
                current: meta,
                status: FileStatus::Live,
            });
        }
        Ok(records)
    }

    async fn commit(
        &self,
        _bot: &BotName,
        _updates: &[StateUpdate],
    ) -> std::result::Result<(), PersistError> {
        Ok(())
    }

    async fn bots(&self) -> std::result::Result<Vec<BotName>, PersistError> {
        Ok(Vec::new())
    }
}
