//! `cargo xtask bench memory`: resident memory per tracked object, at 100 000 and 1 000 000.
//!
//! Builds the state the monitor keeps for one bot (`KnownObjects`, every object live at its
//! listed version: MD5 ETag, size, modification time, content hash), inserted one record at
//! a time as cycles do, and reports how much the resident set grew, per object and per
//! object beyond its key bytes. Beside it, in the same run: the same records in their
//! exchange form (`HashMap<ObjectKey, FileRecord>`, what the monitor used to keep), and the
//! floor a plain map can reach, `HashMap<String, String>` from key to ETag, what a minimal
//! sync tool keeps per object (without the size, time and content hash the monitor needs).
//!
//! Each measurement runs in a fresh child process, so memory freed by one does not lower the
//! next. Linux only (reads `/proc/self/status`).
//!
//! Known limits: growth of the resident set includes the allocator's slack and the map's
//! spare capacity, which is what a deployment pays; it does not separate them.

use std::collections::HashMap;
use std::process::{Command, ExitCode};

use drive_core::{
    ContentHash, ETag, FileRecord, FileStatus, KnownObjects, ObjectKey, ObjectMeta, Timestamp,
    classify,
};

const SIZES: [usize; 2] = [100_000, 1_000_000];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.as_slice() {
        [flag, shape, n] if flag == "--child" => n
            .parse()
            .map_err(|_| format!("not a count: {n}"))
            .and_then(|n_objects| child(shape, n_objects)),
        [] => parent(),
        _ => Err("usage: memory_bench [--child known|records|plain N]".into()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            say(&format!("memory bench: {message}"));
            ExitCode::FAILURE
        }
    }
}

#[expect(clippy::print_stdout, reason = "a benchmark prints its table")]
fn say(line: &str) {
    println!("{line}");
}

fn parent() -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    say("resident memory per tracked object (growth of the resident set over the build)");
    say("| objects | state | bytes/object | beyond key bytes | key bytes/object |");
    say("|---:|---|---:|---:|---:|");
    for n_objects in SIZES {
        for shape in ["known", "records", "plain"] {
            let output = Command::new(&exe)
                .args(["--child", shape, &n_objects.to_string()])
                .output()
                .map_err(|e| e.to_string())?;
            let text = String::from_utf8_lossy(&output.stdout);
            let figures: Vec<f64> =
                text.split_whitespace().filter_map(|figure| figure.parse().ok()).collect();
            let [grown, key_bytes] = figures[..] else {
                return Err(format!("unexpected child output {text:?}"));
            };
            let per_object = grown / n_objects as f64;
            let per_key = key_bytes / n_objects as f64;
            let name = match shape {
                "known" => "monitor state (`KnownObjects`)",
                "records" => "exchange form (`HashMap<ObjectKey, FileRecord>`)",
                _ => "floor: `HashMap<String, String>` key to ETag",
            };
            say(&format!(
                "| {n_objects} | {name} | {per_object:.0} | {:.0} | {per_key:.0} |",
                per_object - per_key
            ));
        }
    }
    Ok(())
}

/// Builds one shape of state and prints the growth of the resident set and the key bytes.
fn child(shape: &str, n_objects: usize) -> Result<(), String> {
    let before = resident_bytes()?;
    let key_bytes: usize = (0..n_objects).map(|idx| key(idx).len()).sum();
    let grown = match shape {
        "known" => {
            let mut known = KnownObjects::new();
            for record in records(n_objects) {
                known.upsert(record);
            }
            let grown = resident_bytes()?.saturating_sub(before);
            std::hint::black_box(&known);
            grown
        }
        "records" => {
            let state: HashMap<ObjectKey, FileRecord> =
                records(n_objects).map(|record| (record.key().clone(), record)).collect();
            let grown = resident_bytes()?.saturating_sub(before);
            std::hint::black_box(&state);
            grown
        }
        _ => {
            let plain: HashMap<String, String> =
                (0..n_objects).map(|idx| (key(idx), etag(idx))).collect();
            let grown = resident_bytes()?.saturating_sub(before);
            std::hint::black_box(&plain);
            grown
        }
    };
    say(&format!("{grown} {key_bytes}"));
    Ok(())
}

/// Returns the records of `n_objects` objects, each live at its listed version.
fn records(n_objects: usize) -> impl Iterator<Item = FileRecord> {
    (0..n_objects).filter_map(|idx| {
        let key = key(idx);
        let mut meta = ObjectMeta::new(key.clone(), 1_000 + idx as u64 % 5_000);
        meta.etag = ETag::parse(&etag(idx));
        meta.last_modified = Some(Timestamp::from_millis(1_700_000_000_000 + idx as i64));
        meta.content_hash = Some(ContentHash::of(key.as_bytes()));
        let kind = classify(&meta)?;
        Some(FileRecord { kind, live: Some(meta.clone()), current: meta, status: FileStatus::Live })
    })
}

/// Returns a key shaped like those of a large knowledge base (about 50 bytes).
fn key(idx: usize) -> String {
    format!("bench.gbkb/collection-{:02}/section-{:03}/doc-{idx:07}.md", idx % 13, idx % 977)
}

/// Returns an MD5-shaped ETag, 32 hex digits.
fn etag(idx: usize) -> String {
    format!("{:032x}", (idx as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835))
}

/// Returns the resident set size of this process.
fn resident_bytes() -> Result<usize, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).ok_or("no VmRSS")?;
    let kib: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|figure| figure.parse().ok())
        .ok_or("unreadable VmRSS")?;
    Ok(kib * 1024)
}
