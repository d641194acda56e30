//! Measures how fast the BASIC compiler turns scripts into trees, tools and manifests.
//!
//! Reads every `.bas` file under a folder (the first argument, by default the shared corpus
//! beside the repository), then compiles all of them over and over for about two seconds and
//! prints one line: scripts, bytes, iterations and throughput in MB/s. Run it in release
//! mode (`cargo run --release -p drive-handlers --example compile_bench`); a debug build
//! measures the debug build.
//!
//! Known limits: the clock is wall time on a shared machine, so numbers vary by a few percent
//! from run to run; decoding the bytes is not measured, only compiling text.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use drive_handlers::basic::compile;

/// How long to keep compiling.
const RUN_FOR: Duration = Duration::from_secs(2);

fn main() -> Result<(), String> {
    let root = std::env::args_os().nth(1).map_or_else(default_corpus, PathBuf::from);
    let scripts = read_scripts(&root)?;
    if scripts.is_empty() {
        return Err(format!("no .bas scripts under {}", root.display()));
    }
    let bytes: usize = scripts.iter().map(|(_, text)| text.len()).sum();

    let started = Instant::now();
    let mut iterations = 0_u64;
    while started.elapsed() < RUN_FOR {
        for (stem, text) in &scripts {
            black_box(compile(stem, black_box(text)));
        }
        iterations += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();

    // Casts for the report only: the counts are far below the precision f64 keeps.
    #[expect(clippy::cast_precision_loss, reason = "byte counts of a benchmark report")]
    let megabytes = (bytes as f64) * (iterations as f64) / 1_000_000.0;
    report(&format!(
        "compile: {} scripts, {bytes} bytes, {iterations} iterations in {elapsed:.2} s, {:.1} MB/s",
        scripts.len(),
        megabytes / elapsed
    ));
    Ok(())
}

#[expect(clippy::print_stdout, reason = "the benchmark's one line of output")]
fn report(line: &str) {
    println!("{line}");
}

fn default_corpus() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus"))
}

/// Returns `(file stem, text)` of every `.bas` file under `root`, sorted by path.
fn read_scripts(root: &Path) -> Result<Vec<(String, String)>, String> {
    let mut paths = Vec::new();
    collect(root, &mut paths).map_err(|err| format!("cannot read {}: {err}", root.display()))?;
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).map_err(|err| format!("{}: {err}", path.display()))?;
            let decoded = drive_handlers::decode_text(&bytes)
                .map_err(|err| format!("{}: {err}", path.display()))?;
            let stem = path.file_stem().and_then(|stem| stem.to_str()).unwrap_or_default();
            Ok((stem.to_owned(), decoded.text))
        })
        .collect()
}

fn collect(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, found)?;
        } else if path.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("bas")) {
            found.push(path);
        }
    }
    Ok(())
}
