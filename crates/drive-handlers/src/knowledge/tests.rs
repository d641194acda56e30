//! The knowledge handler against the in-memory index, with embedders that count.

use std::sync::atomic::AtomicUsize;

use drive_core::testing::{MemoryKnowledgeIndexForTests, MemorySinkForTests};
use drive_core::{Change, Content, ObjectMeta, Setting};

use super::*;
use crate::theme::tests::RecordingBusForTests;

/// An embedder that counts the texts it embeds; vectors are letter frequencies, so texts
/// sharing words are near each other.
#[derive(Debug)]
pub(crate) struct CountingEmbedderForTests {
    model: String,
    pub(crate) texts: AtomicUsize,
    pub(crate) fail: AtomicBool,
    /// The last text embedded.
    last: Mutex<String>,
}

impl CountingEmbedderForTests {
    pub(crate) fn new(model: &str) -> Self {
        Self {
            model: model.to_owned(),
            texts: AtomicUsize::new(0),
            fail: AtomicBool::new(false),
            last: Mutex::default(),
        }
    }

    fn take(&self) -> usize {
        self.texts.swap(0, Ordering::SeqCst)
    }
}

#[async_trait]
impl Embedder for CountingEmbedderForTests {
    fn model(&self) -> &str {
        &self.model
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(EmbedError::Unavailable("scripted failure".into()));
        }
        self.texts.fetch_add(texts.len(), Ordering::SeqCst);
        if let Some(text) = texts.last() {
            *self.last.lock().unwrap() = text.clone();
        }
        Ok(texts.iter().map(|text| letter_frequencies(text)).collect())
    }
}

fn letter_frequencies(text: &str) -> Vec<f32> {
    let mut vector = vec![0.0; 26];
    for byte in text.to_ascii_lowercase().bytes().filter(u8::is_ascii_lowercase) {
        vector[usize::from(byte - b'a')] += 1.0;
    }
    vector
}

fn bot() -> BotName {
    BotName::new("crm").unwrap()
}

fn added(key: &str, text: &str) -> ChangeInput {
    let new = ObjectMeta::new(key, text.len() as u64);
    ChangeInput {
        change: Change::Added { kind: Kind::Knowledge, new },
        content: Some(Content::new(text.as_bytes().to_vec())),
    }
}

fn removed(key: &str) -> ChangeInput {
    ChangeInput {
        change: Change::Removed { kind: Kind::Knowledge, old: ObjectMeta::new(key, 1) },
        content: None,
    }
}

struct Setup {
    handler: KnowledgeHandler,
    index: Arc<MemoryKnowledgeIndexForTests>,
    settings: Arc<MemorySinkForTests>,
    embedder: Arc<CountingEmbedderForTests>,
    bus: Arc<RecordingBusForTests>,
}

fn setup() -> Setup {
    let index = Arc::new(MemoryKnowledgeIndexForTests::new());
    let settings = Arc::new(MemorySinkForTests::new());
    let embedder = Arc::new(CountingEmbedderForTests::new("count-v1"));
    let bus = Arc::new(RecordingBusForTests::default());
    let config = KnowledgeConfig {
        chunk: ChunkConfig { target_chars: 120, overlap_chars: 0 },
        embed_batch: 4,
        background_reembed: false,
    };
    let handler = KnowledgeHandler::new(index.clone(), settings.clone())
        .with_default_embedder(embedder.clone())
        .with_events(bus.clone())
        .with_config(config);
    Setup { handler, index, settings, embedder, bus }
}

/// A manual of `n` sections, each a heading and a paragraph about as long as a chunk.
fn manual(n: usize, edited: Option<usize>) -> String {
    (0..n)
        .map(|idx| {
            let topic = if Some(idx) == edited { "revised wording" } else { "original wording" };
            format!(
                "## Section {idx}\n\nParagraph {idx} explains step {idx} in {topic} with \
                 enough words to fill most of one chunk on its own.\n\n"
            )
        })
        .collect()
}

#[tokio::test]
async fn reindexing_the_same_document_embeds_nothing() {
    let s = setup();
    let doc = manual(20, None);
    let outcomes = s.handler.apply(&bot(), &[added("crm.gbkb/guide/manual.md", &doc)]).await;
    assert_eq!(outcomes, [Outcome::applied()]);
    let first = s.embedder.take();
    let stats = s.index.stats(&bot()).await.unwrap();
    assert_eq!(stats.chunks, first, "every chunk embedded once");
    assert!(first >= 20, "{first}");

    s.handler.apply(&bot(), &[added("crm.gbkb/guide/manual.md", &doc)]).await;
    assert_eq!(s.embedder.take(), 0, "the same text needs no new vector");
    assert_eq!(s.index.stats(&bot()).await.unwrap(), stats, "and makes no duplicate");
}

#[tokio::test]
async fn editing_one_paragraph_embeds_only_its_chunks() {
    let s = setup();
    let key = "crm.gbkb/guide/manual.md";
    s.handler.apply(&bot(), &[added(key, &manual(30, None))]).await;
    let chunks = s.index.stats(&bot()).await.unwrap().chunks;
    s.embedder.take();

    s.handler.apply(&bot(), &[added(key, &manual(30, Some(12)))]).await;
    let embedded = s.embedder.take();
    assert!((1..=2).contains(&embedded), "{embedded} of {chunks} chunks embedded again");
    assert_eq!(s.index.stats(&bot()).await.unwrap().chunks, chunks);
    let hits = s.handler.search(&bot(), "revised wording", None, 3).await.unwrap();
    assert!(hits.results[0].text.contains("Paragraph 12"), "{:?}", hits.results[0]);
}

#[tokio::test]
async fn removed_documents_leave_search() {
    let s = setup();
    let docs = [
        added("crm.gbkb/faq/hours.md", "# Hours\n\nWe open at nine on weekdays."),
        added("crm.gbkb/faq/refunds.md", "# Refunds\n\nRefunds take five business days."),
    ];
    s.handler.apply(&bot(), &docs).await;
    let found = s.handler.search(&bot(), "refunds days", None, 5).await.unwrap();
    assert_eq!(found.mode, "hybrid");
    assert_eq!(found.results[0].key.as_str(), "crm.gbkb/faq/refunds.md");

    s.handler.apply(&bot(), &[removed("crm.gbkb/faq/refunds.md")]).await;
    let found = s.handler.search(&bot(), "refunds days", None, 5).await.unwrap();
    assert!(found.results.iter().all(|hit| hit.key.as_str() != "crm.gbkb/faq/refunds.md"));
}

#[tokio::test]
async fn collections_come_from_folders_and_filter_search() {
    let s = setup();
    let docs = [
        added("crm.gbkb/sales/pricing.md", "Pricing starts at ten euros."),
        added("crm.gbkb/loose.txt", "Pricing for partners is private."),
    ];
    s.handler.apply(&bot(), &docs).await;
    let sales = s.handler.search(&bot(), "pricing", Some("sales"), 5).await.unwrap();
    assert_eq!(sales.results.len(), 1);
    assert_eq!(sales.results[0].collection, "sales");
    let default = s.handler.search(&bot(), "pricing", Some("default"), 5).await.unwrap();
    assert_eq!(default.results[0].key.as_str(), "crm.gbkb/loose.txt");

    let events = s.bus.take();
    let collections: Vec<&str> = events
        .iter()
        .filter_map(|(_, event)| match event {
            BotEvent::KbIndexed { collection, .. } => Some(collection.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(collections, ["default", "sales"]);
}

#[tokio::test]
async fn a_broken_document_is_invalid_and_the_others_are_indexed() {
    let s = setup();
    let outcomes = s
        .handler
        .apply(
            &bot(),
            &[
                added("crm.gbkb/a/broken.pdf", "%PDF-1.4 not really"),
                added("crm.gbkb/a/logo.png", "png"),
                added("crm.gbkb/a/good.md", "Good text."),
            ],
        )
        .await;
    let Outcome::Invalid { diagnostics } = &outcomes[0] else { panic!("{outcomes:?}") };
    assert!(diagnostics[0].message.contains("pdf"), "{diagnostics:?}");
    assert!(
        matches!(&outcomes[1], Outcome::Invalid { diagnostics } if diagnostics[0].message.contains("png"))
    );
    assert_eq!(outcomes[2], Outcome::applied());
    assert_eq!(s.index.stats(&bot()).await.unwrap().documents, 1);
}

#[tokio::test]
async fn a_failing_embedder_leaves_documents_searchable_by_words_until_vectors_follow() {
    let s = setup();
    s.embedder.fail.store(true, Ordering::SeqCst);
    let changes = [added("crm.gbkb/a/x.md", "Some text."), added("crm.gbkb/a/y.md", "More text.")];
    let outcomes = s.handler.apply(&bot(), &changes).await;
    for outcome in &outcomes {
        assert!(
            matches!(outcome, Outcome::Applied { warnings } if warnings[0].message.contains("vectors follow")),
            "{outcome:?}"
        );
    }
    let stats = s.index.stats(&bot()).await.unwrap();
    assert_eq!((stats.documents, stats.chunks), (2, 2));
    assert!(stats.vectors.is_empty());
    let found = s.handler.search(&bot(), "more", None, 5).await.unwrap();
    assert_eq!(found.results[0].key.as_str(), "crm.gbkb/a/y.md");

    // Once the embedder answers, a repair pass gives every chunk its vector.
    s.embedder.fail.store(false, Ordering::SeqCst);
    let handler = KnowledgeHandler::new(s.index.clone(), s.settings.clone())
        .with_default_embedder(s.embedder.clone());
    handler.reconcile(&bot()).await.unwrap();
    wait_for_vectors(&s, 2).await;
}

#[tokio::test]
async fn without_an_embedder_search_is_lexical_and_says_so() {
    let index = Arc::new(MemoryKnowledgeIndexForTests::new());
    let handler = KnowledgeHandler::new(index.clone(), Arc::new(MemorySinkForTests::new()));
    handler.apply(&bot(), &[added("crm.gbkb/a/x.md", "Lexical search works.")]).await;
    let found = handler.search(&bot(), "lexical", None, 5).await.unwrap();
    assert_eq!(found.mode, "lexical");
    assert!(found.note.unwrap().contains("no embedder"));
    assert_eq!(found.results.len(), 1);
    assert!(index.stats(&bot()).await.unwrap().vectors.is_empty());
}

#[tokio::test]
async fn chunk_size_settings_take_effect_on_the_next_batch() {
    let s = setup();
    let source = ObjectKey::new("crm.gbot/config.csv");
    let doc: String = (0..10).map(|n| format!("Paragraph {n} of a long text.\n\n")).collect();
    s.handler.apply(&bot(), &[added("crm.gbkb/a/m.md", &doc)]).await;
    let small = s.index.stats(&bot()).await.unwrap().chunks;

    let settings = [Setting::new(CHUNK_CHARS_SETTING, "4000")];
    s.settings.replace_settings(&bot(), &source, &settings).await.unwrap();
    s.handler.apply(&bot(), &[added("crm.gbkb/a/m.md", &doc)]).await;
    let large = s.index.stats(&bot()).await.unwrap().chunks;
    assert!(large < small, "{large} chunks at 4000 characters, {small} at 120");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_model_reembeds_the_other_documents_in_the_background() {
    let s = setup();
    s.handler.apply(&bot(), &[added("crm.gbkb/a/one.md", &manual(5, None))]).await;
    let n_chunks = s.index.stats(&bot()).await.unwrap().chunks;

    // The same index under a handler whose default model is another one.
    let newer = Arc::new(CountingEmbedderForTests::new("count-v2"));
    let handler = KnowledgeHandler::new(s.index.clone(), s.settings.clone())
        .with_default_embedder(newer.clone());
    handler.apply(&bot(), &[added("crm.gbkb/a/two.md", "Another document.")]).await;
    for _ in 0..200 {
        let stats = s.index.stats(&bot()).await.unwrap();
        if stats.vectors == [("count-v2".to_owned(), n_chunks + 1)] {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("not re-embedded: {:?}", s.index.stats(&bot()).await.unwrap());
}

#[tokio::test]
async fn repeated_paragraphs_keep_distinct_identities() {
    let s = setup();
    let doc = "Same words.\n\nOther words here to break the chunk.\n\nSame words.";
    let config = ChunkConfig { target_chars: 16, overlap_chars: 0 };
    let blocks = extract::extract("x.md", doc.as_bytes()).unwrap();
    let hash = drive_core::ContentHash::of(doc.as_bytes());
    let document = identify(&ObjectKey::new("crm.gbkb/x.md"), chunk_blocks(&blocks, config), hash);
    let ids: HashSet<&ChunkId> = document.chunks.iter().map(|c| &c.id).collect();
    assert_eq!(ids.len(), document.chunks.len());
    drop(s);
}

#[test]
fn the_embedding_key_setting_counts_as_a_secret() {
    // It is then redacted wherever settings are shown.
    assert!(drive_core::is_secret_setting(EMBEDDING_KEY_SETTING));
    assert!(!drive_core::is_secret_setting(EMBEDDING_URL_SETTING));
}

/// A manual of 200 paragraphs, each about 600 characters (so each is one chunk of the
/// default 1 000-character target), under a heading every ten paragraphs.
fn long_manual(edited: Option<usize>) -> String {
    let mut text = String::new();
    for idx in 0..200 {
        if idx % 10 == 0 {
            text.push_str(&format!("## Part {}\n\n", idx / 10));
        }
        let words = if Some(idx) == edited {
            "the quartermaster now signs every requisition in green ink".to_owned()
        } else {
            format!("clause {idx} keeps the original requisition wording")
        };
        let filler = " and describes the ordinary procedure at length".repeat(11);
        text.push_str(&format!("Paragraph {idx}: {words}{filler}.\n\n"));
    }
    text
}

#[tokio::test]
async fn editing_one_paragraph_of_two_hundred_embeds_at_most_two_percent() {
    let s = setup();
    let handler = KnowledgeHandler::new(s.index.clone(), s.settings.clone())
        .with_default_embedder(s.embedder.clone())
        .with_config(KnowledgeConfig { background_reembed: false, ..KnowledgeConfig::default() });
    let key = "crm.gbkb/guide/manual.md";
    handler.apply(&bot(), &[added(key, &long_manual(None))]).await;
    let chunks = s.index.stats(&bot()).await.unwrap().chunks;
    assert!(chunks >= 200, "{chunks} chunks");
    let before = handler.counts(&bot());
    assert_eq!(before, IndexCounts { embedded: chunks as u64, reused: 0 });

    handler.apply(&bot(), &[added(key, &long_manual(Some(117)))]).await;
    let after = handler.counts(&bot());
    let embedded = after.embedded - before.embedded;
    let reused = after.reused - before.reused;
    assert_eq!(embedded + reused, chunks as u64, "every chunk counted once");
    assert!(embedded >= 1 && embedded * 50 <= chunks as u64, "{embedded} of {chunks}");

    let found = handler.search(&bot(), "quartermaster green ink", None, 3).await.unwrap();
    assert!(found.results[0].text.contains("Paragraph 117"), "{:?}", found.results[0]);
    let old = handler.search(&bot(), "clause 117 keeps", None, 20).await.unwrap();
    assert!(
        old.results.iter().all(|hit| !hit.text.contains("clause 117 keeps")),
        "the old wording left search"
    );
}

#[tokio::test]
async fn chunks_are_embedded_with_the_headings_above_them() {
    let s = setup();
    let doc = "# Billing\n\n## Refunds\n\nAsk within thirty days.";
    s.handler.apply(&bot(), &[added("crm.gbkb/faq.md", doc)]).await;
    let last = s.embedder.last.lock().unwrap().clone();
    assert_eq!(last, "Billing\n\nRefunds\n\nAsk within thirty days.");
    let hits = s.handler.search(&bot(), "thirty", None, 1).await.unwrap();
    assert_eq!(hits.results[0].heading, "Billing > Refunds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_restores_lost_chunks_and_embeds_them_again() {
    let s = setup();
    let handler = KnowledgeHandler::new(s.index.clone(), s.settings.clone())
        .with_default_embedder(s.embedder.clone());
    handler.apply(&bot(), &[added("crm.gbkb/guide/manual.md", &manual(6, None))]).await;
    let stats = s.index.stats(&bot()).await.unwrap();
    wait_for_vectors(&s, stats.chunks).await;

    s.index.lose_chunks(&bot());
    assert_eq!(s.index.stats(&bot()).await.unwrap().chunks, 0);
    let report = handler.reconcile(&bot()).await.unwrap();
    assert_eq!(report.chunks_restored, stats.chunks);
    wait_for_vectors(&s, stats.chunks).await;
    let status = handler.status(&bot()).await.unwrap();
    assert_eq!((status.mode, status.pending_vectors), ("hybrid", 0));
    assert_eq!(status.stats, stats, "the same chunks, each with a vector again");
    let hits = handler.search(&bot(), "Paragraph 3", None, 1).await.unwrap();
    assert!(hits.results[0].text.contains("Paragraph 3"));
}

async fn wait_for_vectors(s: &Setup, chunks: usize) {
    for _ in 0..500 {
        let stats = s.index.stats(&bot()).await.unwrap();
        if stats.chunks == chunks && stats.vectors == [("count-v1".to_owned(), chunks)] {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("vectors missing: {:?}", s.index.stats(&bot()).await.unwrap());
}

#[tokio::test]
async fn stored_hashes_name_the_indexed_version_of_each_document() {
    let s = setup();
    let text = manual(3, None);
    s.handler.apply(&bot(), &[added("crm.gbkb/a.md", &text)]).await;
    let keys = [ObjectKey::new("crm.gbkb/a.md"), ObjectKey::new("crm.gbkb/never.md")];
    let hashes = s.handler.stored_hashes(&bot(), &keys).await;
    assert_eq!(hashes, [Some(ContentHash::of(text.as_bytes())), None]);

    s.handler.apply(&bot(), &[removed("crm.gbkb/a.md")]).await;
    assert_eq!(s.handler.stored_hashes(&bot(), &keys).await, [None, None]);
}
