//! Measures the knowledge pipeline with the local sentence encoder: extraction and chunking
//! throughput over the corpus's knowledge documents, embedding throughput of their chunks,
//! and the share of a 200-paragraph document embedded again after one paragraph changes.
//!
//! Needs the model (`cargo xtask model`, or a folder in `DRIVE_EMBEDDING_MODEL_DIR`) and the
//! `local-embedder` feature; `cargo xtask bench kb` fetches the one and turns on the other.
//! The corpus folder is the first argument, by default the shared corpus beside the
//! repository. Prints one table.
//!
//! Known limits: wall time on a shared machine, so figures vary by some percent between
//! runs; the index is the in-memory one, so database writes are not part of the figures.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use drive_core::testing::{MemoryKnowledgeIndexForTests, MemorySinkForTests};
use drive_core::{BotName, Change, ChangeHandler, Content, Embedder, Kind, ObjectMeta};
use drive_handlers::knowledge::{ChunkConfig, LocalEmbedder, chunk_document};
use drive_handlers::{KnowledgeConfig, KnowledgeHandler};

/// How long extraction is repeated to measure it.
const EXTRACT_FOR: Duration = Duration::from_secs(3);

/// Paragraphs of the edited document.
const PARAGRAPHS: usize = 200;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), String> {
    let root = std::env::args_os().nth(1).map_or_else(default_corpus, PathBuf::from);
    let documents = read_documents(&root)?;
    if documents.is_empty() {
        return Err(format!("no knowledge documents under {}", root.display()));
    }
    let folder = std::env::var_os("DRIVE_EMBEDDING_MODEL_DIR")
        .map_or_else(|| workspace().join("models/all-MiniLM-L6-v2"), PathBuf::from);
    let embedder = Arc::new(LocalEmbedder::load(&folder).map_err(|err| err.to_string())?);

    let extraction = measure_extraction(&documents)?;
    let embedding = measure_embedding(&documents, embedder.as_ref()).await?;
    let edit = measure_edit(embedder).await?;

    report("| step | input | chunks | seconds | chunks/s |");
    report("|---|---|---:|---:|---:|");
    report(&extraction.row());
    report(&embedding.row());
    report("");
    report("| document | chunks | embedded after a one-paragraph edit | reused | share embedded |");
    report("|---|---:|---:|---:|---:|");
    report(&format!(
        "| {PARAGRAPHS} paragraphs | {} | {} | {} | {:.1}% |",
        edit.chunks,
        edit.embedded,
        edit.reused,
        percent(edit.embedded, edit.chunks)
    ));
    Ok(())
}

/// One measured step.
struct Step {
    name: &'static str,
    input: String,
    chunks: usize,
    seconds: f64,
}

impl Step {
    fn row(&self) -> String {
        let rate = ratio(self.chunks, self.seconds);
        format!(
            "| {} | {} | {} | {:.2} | {rate:.0} |",
            self.name, self.input, self.chunks, self.seconds
        )
    }
}

/// Extracts and chunks every document over and over for [`EXTRACT_FOR`].
fn measure_extraction(documents: &[(String, Vec<u8>)]) -> Result<Step, String> {
    let config = ChunkConfig::default();
    let bytes: usize = documents.iter().map(|(_, content)| content.len()).sum();
    let started = Instant::now();
    let mut chunks = 0;
    let mut passes = 0;
    while started.elapsed() < EXTRACT_FOR {
        for (name, content) in documents {
            chunks += black_box(chunk_document(name, content, config)?).len();
        }
        passes += 1;
    }
    let input = format!("{} documents, {} KiB, {passes} passes", documents.len(), bytes / 1024);
    Ok(Step { name: "extract + chunk", input, chunks, seconds: started.elapsed().as_secs_f64() })
}

/// Embeds every chunk of the documents once, in batches as the handler sends them.
async fn measure_embedding(
    documents: &[(String, Vec<u8>)],
    embedder: &LocalEmbedder,
) -> Result<Step, String> {
    let mut texts = Vec::new();
    for (name, content) in documents {
        for (heading, text) in chunk_document(name, content, ChunkConfig::default())? {
            texts.push(drive_core::embedding_input(&heading, &text));
        }
    }
    let batch = KnowledgeConfig::default().embed_batch;
    let started = Instant::now();
    for group in texts.chunks(batch) {
        let vectors = embedder.embed(group).await.map_err(|err| err.to_string())?;
        black_box(vectors);
    }
    let input = format!("{} corpus chunks, {}", texts.len(), embedder.model());
    Ok(Step {
        name: "embed (local model)",
        input,
        chunks: texts.len(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// What indexing a document again after a one-paragraph edit cost.
struct Edit {
    chunks: usize,
    embedded: u64,
    reused: u64,
}

/// Indexes a long document, edits one paragraph in its middle, indexes it again.
async fn measure_edit(embedder: Arc<LocalEmbedder>) -> Result<Edit, String> {
    let index = Arc::new(MemoryKnowledgeIndexForTests::new());
    let config = KnowledgeConfig { background_reembed: false, ..KnowledgeConfig::default() };
    let handler = KnowledgeHandler::new(index.clone(), Arc::new(MemorySinkForTests::new()))
        .with_default_embedder(embedder)
        .with_config(config);
    let bot = BotName::new("bench").map_err(|err| err.to_string())?;
    let key = "bench.gbkb/manual/handbook.md";
    let apply = async |text: String| {
        let new = ObjectMeta::new(key, text.len() as u64);
        let change = Change::Added { kind: Kind::Knowledge, new };
        let input = drive_core::ChangeInput { change, content: Some(Content::new(text)) };
        handler.apply(&bot, &[input]).await
    };
    apply(handbook(None)).await;
    let before = handler.counts(&bot);
    apply(handbook(Some(PARAGRAPHS / 2))).await;
    let after = handler.counts(&bot);
    let chunks = drive_core::KnowledgeIndex::stats(index.as_ref(), &bot)
        .await
        .map_err(|err| err.to_string())?
        .chunks;
    Ok(Edit {
        chunks,
        embedded: after.embedded - before.embedded,
        reused: after.reused - before.reused,
    })
}

/// A document of [`PARAGRAPHS`] paragraphs of about 600 characters under a heading every
/// ten; `edited` names the paragraph that says something else.
fn handbook(edited: Option<usize>) -> String {
    let mut text = String::new();
    for idx in 0..PARAGRAPHS {
        if idx % 10 == 0 {
            text.push_str(&format!("## Chapter {}\n\n", idx / 10 + 1));
        }
        let opening = if Some(idx) == edited {
            format!("Rule {idx} was rewritten: visitors now sign in at the north gate")
        } else {
            format!("Rule {idx} keeps the wording the members agreed last spring")
        };
        let filler = " and the secretary explains how the usual procedure works".repeat(9);
        text.push_str(&format!("{opening}{filler}.\n\n"));
    }
    text
}

/// Returns `(file name, content)` of every file under a `*.gbkb` folder below `root`.
fn read_documents(root: &Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut found = Vec::new();
    collect(root, false, &mut found)?;
    found.sort();
    Ok(found)
}

fn collect(dir: &Path, in_kb: bool, out: &mut Vec<(String, Vec<u8>)>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|err| format!("{}: {err}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|err| err.to_string())?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if path.is_dir() {
            collect(&path, in_kb || name.ends_with(".gbkb"), out)?;
        } else if in_kb {
            let content = std::fs::read(&path).map_err(|err| format!("{name}: {err}"))?;
            out.push((name, content));
        }
    }
    Ok(())
}

#[expect(clippy::print_stdout, reason = "the benchmark's table")]
fn report(line: &str) {
    println!("{line}");
}

#[expect(clippy::cast_precision_loss, reason = "counts of a benchmark report")]
fn ratio(count: usize, seconds: f64) -> f64 {
    count as f64 / seconds.max(f64::EPSILON)
}

#[expect(clippy::cast_precision_loss, reason = "counts of a benchmark report")]
fn percent(part: u64, whole: usize) -> f64 {
    100.0 * part as f64 / (whole.max(1) as f64)
}

fn workspace() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn default_corpus() -> PathBuf {
    workspace().join("../shared/corpus")
}
