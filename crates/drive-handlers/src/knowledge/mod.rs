//! The knowledge handler: keeps a bot's searchable knowledge equal to its `*.gbkb/`
//! documents.
//!
//! For each added or modified document: extract its text ([`extract`]), group it into
//! chunks ([`chunk`]), give each chunk its identity ([`ChunkId`]: document key, text and
//! occurrence), embed only the chunks the index has no vector for under the current model,
//! and replace the document's chunks in the [`KnowledgeIndex`] in one call (one transaction
//! in the database adapters). Re-indexing an unchanged document embeds nothing; editing one
//! paragraph embeds the chunks that paragraph touches. A removed document's chunks leave the
//! index, and so search. An unsupported or broken document is reported as invalid with the
//! reason and does not stop the others.
//!
//! The embedder is chosen when a batch is indexed, from the bot's settings (`embedding-url`,
//! `embedding-model`, `embedding-key`: an OpenAI-compatible service), else the host's
//! default embedder (for example the local model), else none: the index is then lexical
//! only, which is logged once and reported by every search. The chunk size comes from the
//! settings `kb-chunk-chars` and `kb-chunk-overlap` when set, else the host's
//! [`KnowledgeConfig`]; changing it gives chunks new identities, and so embeds them again.
//!
//! Chunks are embedded from their headings and text together ([`embedding_input`]), so a
//! paragraph is found by the topic its section names.
//!
//! A failing embedder never keeps a document out of search: the document is indexed with a
//! warning, its chunks without vectors, the rest of the batch is indexed without asking the
//! embedder again, and the background embedding fills the vectors in once it answers.
//!
//! When the model changes, changed documents are embedded with the new model at once and a
//! background task embeds the other chunks, with its progress in [`KnowledgeHandler::status`]
//! and the log. It starts when settings naming the embedder change
//! ([`KnowledgeHandler::settings_changed`]), after each batch and search, and at every
//! [`KnowledgeHandler::reconcile`] (which the service runs at start, so an interrupted
//! re-embedding resumes after a restart, from the index's contents). Until it is done, vector
//! search sees only the chunks with a vector of the new model (lexical search sees all), so
//! two models' vectors are never compared.
//!
//! Known limits: changing `kb-chunk-chars` or `kb-chunk-overlap` applies to documents indexed
//! afterwards; documents already indexed keep their chunks until they change.

mod chunk;
mod extract;
mod http;
#[cfg(feature = "local-embedder")]
mod local;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use drive_core::{
    BotEvent, BotName, ChangeHandler, ChangeInput, Chunk, ChunkId, ConfigSink, ContentHash,
    Diagnostic, EmbedError, Embedder, EventBus, IndexedDocument, Kind, KnowledgeIndex,
    KnowledgeStats, NoEventBus, ObjectKey, Outcome, PendingChunk, PersistError, RepairReport,
    SearchHit, SearchQuery, embedding_input,
};
use serde::Serialize;
use tracing::{Instrument as _, debug, info, info_span, warn};

pub use chunk::ChunkConfig;
pub use http::{HttpEmbedder, HttpEmbedderConfig};
#[cfg(feature = "local-embedder")]
pub use local::{LoadError, LocalEmbedder, MAX_TOKENS};

use crate::outcome::{content_missing, parse_interrupted, sink_failed};
use chunk::{TextChunk, chunk_blocks};

/// Settings of a bot read by the handler.
pub const EMBEDDING_URL_SETTING: &str = "embedding-url";
pub const EMBEDDING_MODEL_SETTING: &str = "embedding-model";
pub const EMBEDDING_KEY_SETTING: &str = "embedding-key";
pub const CHUNK_CHARS_SETTING: &str = "kb-chunk-chars";
pub const CHUNK_OVERLAP_SETTING: &str = "kb-chunk-overlap";

/// Time between two progress lines of a background embedding.
const REEMBED_LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Documents between two progress lines of a long batch.
const PROGRESS_EVERY: usize = 50;

/// The model asked of an embedding service when the bot names none.
pub const DEFAULT_HTTP_MODEL: &str = "text-embedding-3-small";

/// How the handler indexes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnowledgeConfig {
    /// Chunk sizes when the bot's settings name none.
    pub chunk: ChunkConfig,
    /// Texts per call to the embedder (default 32).
    pub embed_batch: usize,
    /// Whether chunks without a vector of the current model are embedded in the
    /// background after a batch (default true).
    pub background_reembed: bool,
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        Self { chunk: ChunkConfig::default(), embed_batch: 32, background_reembed: true }
    }
}

/// Applies changes of [`Kind::Knowledge`] objects and answers searches over what it
/// indexed.
///
/// Idempotent: indexing the same version again changes nothing and embeds nothing.
pub struct KnowledgeHandler {
    inner: Arc<Inner>,
}

struct Inner {
    index: Arc<dyn KnowledgeIndex>,
    settings: Arc<dyn ConfigSink>,
    events: Arc<dyn EventBus>,
    config: KnowledgeConfig,
    default_embedder: Option<Arc<dyn Embedder>>,
    /// Service embedders by (url, model, key), so their HTTP clients are reused.
    http_embedders: Mutex<HashMap<ServiceId, Arc<dyn Embedder>>>,
    /// Set once the lexical-only state has been logged.
    said_lexical_only: AtomicBool,
    /// Bots with a background re-embedding running, with its progress.
    reembedding: Mutex<HashMap<BotName, EmbedProgress>>,
    /// Chunks embedded and reused since the start, per bot.
    counts: Mutex<HashMap<BotName, IndexCounts>>,
    /// Batches being indexed, per bot.
    indexing: Mutex<HashMap<BotName, IndexingProgress>>,
}

/// Chunks embedded and chunks whose stored vector was reused, counted since the handler
/// started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IndexCounts {
    pub embedded: u64,
    pub reused: u64,
}

/// A background embedding of the chunks without a vector of the current model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EmbedProgress {
    pub model: String,
    /// Chunks embedded so far, of `total` found waiting when it started.
    pub done: usize,
    pub total: usize,
}

/// A batch of documents being indexed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IndexingProgress {
    pub documents_done: usize,
    pub documents_total: usize,
    /// Chunks of the documents done so far.
    pub chunks_done: usize,
}

/// What the knowledge of one bot looks like, for status pages.
#[derive(Clone, Debug, Serialize)]
pub struct KnowledgeStatus {
    /// `hybrid` when an embedder is configured, else `lexical`.
    pub mode: &'static str,
    /// The current embedder's model, when there is one.
    pub model: Option<String>,
    #[serde(flatten)]
    pub stats: KnowledgeStats,
    /// Chunks without a vector of the current model.
    pub pending_vectors: usize,
    pub counts: IndexCounts,
    pub reembedding: Option<EmbedProgress>,
    pub indexing: Option<IndexingProgress>,
}

/// An embedding service as a bot's settings name it: url, model and key.
type ServiceId = (String, String, String);

/// What a search found, and how.
#[derive(Clone, Debug, Serialize)]
pub struct SearchResults {
    /// `hybrid` (lexical and vector), or `lexical` with the reason in `note`.
    pub mode: &'static str,
    /// The model of the query's vector, when there was one.
    pub model: Option<String>,
    pub note: Option<String>,
    pub results: Vec<SearchHit>,
}

/// A search that could not run.
#[derive(Debug, thiserror::Error)]
#[error("knowledge search failed")]
pub struct SearchError(#[from] PersistError);

impl KnowledgeHandler {
    /// Returns a handler writing to `index`, reading bot settings from `settings`, with no
    /// default embedder.
    pub fn new(index: Arc<dyn KnowledgeIndex>, settings: Arc<dyn ConfigSink>) -> Self {
        let inner = Inner {
            index,
            settings,
            events: Arc::new(NoEventBus),
            config: KnowledgeConfig::default(),
            default_embedder: None,
            http_embedders: Mutex::default(),
            said_lexical_only: AtomicBool::new(false),
            reembedding: Mutex::default(),
            counts: Mutex::default(),
            indexing: Mutex::default(),
        };
        Self { inner: Arc::new(inner) }
    }

    /// Returns this handler announcing indexed collections on `events`.
    pub fn with_events(self, events: Arc<dyn EventBus>) -> Self {
        self.map_inner(|inner| inner.events = events)
    }

    /// Returns this handler embedding with `embedder` for bots whose settings name no
    /// embedding service.
    pub fn with_default_embedder(self, embedder: Arc<dyn Embedder>) -> Self {
        self.map_inner(|inner| inner.default_embedder = Some(embedder))
    }

    pub fn with_config(self, config: KnowledgeConfig) -> Self {
        self.map_inner(|inner| inner.config = config)
    }

    fn map_inner(self, change: impl FnOnce(&mut Inner)) -> Self {
        // Builder methods run before the handler is shared, so the inner state is ours;
        // should a background task still hold it, a copy is changed instead.
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| shared.copy());
        change(&mut inner);
        Self { inner: Arc::new(inner) }
    }

    /// Returns the best chunks of `bot` for `text`, in `collection` or all of them.
    ///
    /// Hybrid when the bot has an embedder and it answers; lexical otherwise, with the
    /// reason in the results. Starts the background embedding of chunks that have no
    /// vector of the bot's current model, if any.
    ///
    /// # Errors
    /// When the index cannot be read.
    pub async fn search(
        &self,
        bot: &BotName,
        text: &str,
        collection: Option<&str>,
        limit: usize,
    ) -> Result<SearchResults, SearchError> {
        let inner = &self.inner;
        let mut query = SearchQuery {
            text: text.to_owned(),
            collection: collection.map(str::to_owned),
            limit: limit.clamp(1, 100),
            vector: None,
        };
        let (embedder, _) = inner.resolve(bot).await;
        // Settings may have named a new embedder since the last batch: the chunks it has
        // no vectors for catch up in the background, as after a batch.
        if let Some(embedder) = &embedder
            && inner.config.background_reembed
        {
            Inner::spawn_reembed(inner, bot, embedder.clone());
        }
        let note = match &embedder {
            None => Some("no embedder is configured: search is lexical only".to_owned()),
            Some(embedder) => match embedder.embed(&[text.to_owned()]).await {
                Ok(mut vectors) if vectors.len() == 1 => {
                    query.vector = vectors.pop().map(|v| (embedder.model().to_owned(), v));
                    None
                }
                Ok(_) => Some("the embedder answered no vector: lexical only".to_owned()),
                Err(err) => {
                    warn!(bot = %bot, error = %err, "query embedding failed, searching lexically");
                    Some(format!("the embedder failed ({err}): lexical only"))
                }
            },
        };
        let hits = inner.index.search(bot, &query).await?;
        let model = query.vector.map(|(model, _)| model);
        let mode = if model.is_some() { "hybrid" } else { "lexical" };
        Ok(SearchResults { mode, model, note, results: hits })
    }

    /// Returns the chunks embedded and reused for `bot` since the handler started.
    pub fn counts(&self, bot: &BotName) -> IndexCounts {
        lock(&self.inner.counts).get(bot).copied().unwrap_or_default()
    }

    /// Returns what the index holds for `bot`, how it searches, and the progress of any
    /// indexing or background embedding.
    ///
    /// # Errors
    /// When the index cannot be read.
    pub async fn status(&self, bot: &BotName) -> Result<KnowledgeStatus, PersistError> {
        let inner = &self.inner;
        let stats = inner.index.stats(bot).await?;
        let (embedder, _) = inner.resolve(bot).await;
        let model = embedder.map(|embedder| embedder.model().to_owned());
        Ok(KnowledgeStatus {
            mode: if model.is_some() { "hybrid" } else { "lexical" },
            pending_vectors: model.as_deref().map_or(0, |model| stats.without_vector_of(model)),
            model,
            stats,
            counts: self.counts(bot),
            reembedding: lock(&inner.reembedding).get(bot).cloned(),
            indexing: lock(&inner.indexing).get(bot).copied(),
        })
    }

    /// Repairs the bot's index from the stored chunk lists ([`KnowledgeIndex::repair`]),
    /// then starts embedding, in the background, every chunk without a vector of the bot's
    /// current model. Cheap when nothing is wrong; the service runs it at start and now and
    /// then.
    ///
    /// # Errors
    /// When the index cannot be read or written.
    pub async fn reconcile(&self, bot: &BotName) -> Result<RepairReport, PersistError> {
        let inner = &self.inner;
        let report = inner.index.repair(bot).await?;
        if report.repaired_anything() {
            warn!(
                bot = %bot,
                chunks.restored = report.chunks_restored,
                chunks.orphaned = report.orphans_removed,
                schema.rebuilt = report.schema_rebuilt,
                "knowledge index repaired from stored text"
            );
        }
        if let (Some(embedder), _) = inner.resolve(bot).await {
            Inner::spawn_reembed(inner, bot, embedder);
        }
        Ok(report)
    }

    /// Reacts to changed settings of `bot` (names only): when they name the embedder, the
    /// chunks without a vector of the new model start embedding now, not at the next batch.
    pub fn settings_changed(&self, bot: &BotName, names: &[String]) {
        let embedder_named = names.iter().any(|name| {
            [EMBEDDING_URL_SETTING, EMBEDDING_MODEL_SETTING, EMBEDDING_KEY_SETTING]
                .iter()
                .any(|setting| name.eq_ignore_ascii_case(setting))
        });
        if !embedder_named || !self.inner.config.background_reembed {
            return;
        }
        let (inner, bot) = (Arc::clone(&self.inner), bot.clone());
        tokio::spawn(async move {
            if let (Some(embedder), _) = inner.resolve(&bot).await {
                info!(bot = %bot, model = embedder.model(), "embedder changed, re-embedding");
                Inner::spawn_reembed(&inner, &bot, embedder);
            }
        });
    }
}

/// Locks `mutex`, taking the data of a poisoned lock as it is (every update is one step).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

impl fmt::Debug for KnowledgeHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KnowledgeHandler")
            .field("config", &self.inner.config)
            .field("default_embedder", &self.inner.default_embedder)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ChangeHandler for KnowledgeHandler {
    fn kind(&self) -> Kind {
        Kind::Knowledge
    }

    /// Applies the changes one after another, in order, then announces each collection
    /// that changed.
    async fn apply(&self, bot: &BotName, changes: &[ChangeInput]) -> Vec<Outcome> {
        let inner = &self.inner;
        let (embedder, chunk_config) = inner.resolve(bot).await;
        // Once the embedder fails in a batch, the rest of the batch is indexed without
        // asking it again; the background embedding gives those chunks their vectors.
        let mut embedder_now = embedder.clone();
        let mut outcomes = Vec::with_capacity(changes.len());
        let mut indexed: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        let mut progress =
            IndexingProgress { documents_total: changes.len(), ..Default::default() };
        lock(&inner.indexing).insert(bot.clone(), progress);
        for input in changes {
            let span = info_span!(
                "knowledge_change",
                bot = %bot,
                object.key = %input.change.key(),
                change.op = input.change.op_name(),
            );
            let skipped_embedder = embedder.is_some() && embedder_now.is_none();
            let work = inner.apply_one(bot, input, embedder_now.as_ref(), chunk_config);
            let (mut outcome, n_chunks, embedder_failed) = work.instrument(span).await;
            if embedder_failed {
                embedder_now = None;
            }
            if let Outcome::Applied { warnings } = &mut outcome
                && skipped_embedder
                && !input.change.is_removal()
            {
                let message = "not embedded: the embedder failed earlier in this batch; \
                               searchable by words until its vectors follow";
                warnings.push(Diagnostic::warning(0, message.to_owned()));
            }
            if matches!(outcome, Outcome::Applied { .. }) {
                let collection = Kind::collection(input.change.key().as_str()).unwrap_or("default");
                let entry = indexed.entry(collection.to_owned()).or_default();
                entry.0 += 1;
                entry.1 += n_chunks;
            }
            outcomes.push(outcome);
            progress.documents_done += 1;
            progress.chunks_done += n_chunks;
            lock(&inner.indexing).insert(bot.clone(), progress);
            if changes.len() >= PROGRESS_EVERY
                && progress.documents_done.is_multiple_of(PROGRESS_EVERY)
            {
                info!(
                    bot = %bot,
                    documents.done = progress.documents_done,
                    documents.total = progress.documents_total,
                    chunks.done = progress.chunks_done,
                    "indexing knowledge"
                );
            }
        }
        lock(&inner.indexing).remove(bot);
        for (collection, (documents, chunks)) in indexed {
            inner.events.publish(bot, BotEvent::KbIndexed { collection, documents, chunks });
        }
        if let Some(embedder) = embedder
            && inner.config.background_reembed
        {
            Inner::spawn_reembed(inner, bot, embedder);
        }
        outcomes
    }

    /// Answers from the content hashes stored with each indexed document, written in the
    /// same transaction as its chunks.
    async fn stored_hashes(&self, bot: &BotName, keys: &[ObjectKey]) -> Vec<Option<ContentHash>> {
        let stored: HashMap<ObjectKey, ContentHash> =
            match self.inner.index.document_hashes(bot).await {
                Ok(hashes) => hashes.into_iter().collect(),
                Err(err) => {
                    warn!(bot = %bot, error = %err, "indexed document hashes unreadable");
                    HashMap::new()
                }
            };
        keys.iter().map(|key| stored.get(key).copied()).collect()
    }
}

impl Inner {
    fn copy(&self) -> Self {
        Self {
            index: self.index.clone(),
            settings: self.settings.clone(),
            events: self.events.clone(),
            config: self.config,
            default_embedder: self.default_embedder.clone(),
            http_embedders: Mutex::default(),
            said_lexical_only: AtomicBool::new(self.said_lexical_only.load(Ordering::Relaxed)),
            reembedding: Mutex::default(),
            counts: Mutex::default(),
            indexing: Mutex::default(),
        }
    }

    /// Returns the embedder and chunk sizes for `bot`, from its settings.
    async fn resolve(&self, bot: &BotName) -> (Option<Arc<dyn Embedder>>, ChunkConfig) {
        let settings = match self.settings.settings(bot).await {
            Ok(settings) => settings,
            Err(err) => {
                warn!(bot = %bot, error = %err, "bot settings unreadable, using defaults");
                Vec::new()
            }
        };
        let get = |name: &str| {
            settings
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case(name))
                .map(|s| s.value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        let mut chunk = self.config.chunk;
        if let Some(chars) = get(CHUNK_CHARS_SETTING).and_then(|v| v.parse().ok()) {
            chunk.target_chars = chars;
        }
        if let Some(overlap) = get(CHUNK_OVERLAP_SETTING).and_then(|v| v.parse().ok()) {
            chunk.overlap_chars = overlap;
        }

        let embedder = match get(EMBEDDING_URL_SETTING) {
            Some(url) => {
                let model = get(EMBEDDING_MODEL_SETTING).unwrap_or(DEFAULT_HTTP_MODEL.to_owned());
                let key = get(EMBEDDING_KEY_SETTING).unwrap_or_default();
                Some(self.http_embedder(url, model, key))
            }
            None => self.default_embedder.clone(),
        };
        if embedder.is_none() && !self.said_lexical_only.swap(true, Ordering::Relaxed) {
            info!("no embedder configured: knowledge search is lexical only");
        }
        (embedder, chunk.sanitised())
    }

    fn http_embedder(&self, url: String, model: String, key: String) -> Arc<dyn Embedder> {
        let mut cache = self.http_embedders.lock().unwrap_or_else(|p| p.into_inner());
        let id = (url, model, key);
        cache
            .entry(id.clone())
            .or_insert_with(|| {
                let (url, model, key) = id;
                let config = HttpEmbedderConfig::new(url, model).with_key(key);
                Arc::new(HttpEmbedder::new(config))
            })
            .clone()
    }

    /// Applies one change; returns its outcome, how many chunks the document has and
    /// whether the embedder failed (the document is then indexed for lexical search, with
    /// a warning, and its chunks wait for a vector).
    async fn apply_one(
        &self,
        bot: &BotName,
        input: &ChangeInput,
        embedder: Option<&Arc<dyn Embedder>>,
        chunk_config: ChunkConfig,
    ) -> (Outcome, usize, bool) {
        let key = input.change.key();
        if input.change.is_removal() {
            return match self.index.remove_document(bot, key).await {
                Ok(()) => {
                    info!("document removed from the knowledge index");
                    (Outcome::applied(), 0, false)
                }
                Err(err) => (sink_failed(&err), 0, false),
            };
        }
        let Some(content) = &input.content else { return (content_missing(), 0, false) };

        let (file_name, bytes) = (key.file_name().to_owned(), content.bytes.clone());
        let extracted = tokio::task::spawn_blocking(move || {
            extract::extract(&file_name, &bytes).map(|blocks| chunk_blocks(&blocks, chunk_config))
        })
        .await;
        let chunks = match extracted {
            Ok(Ok(chunks)) => chunks,
            Ok(Err(err)) => {
                let reason = extract::describe(&err);
                info!(error = %reason, "document not indexed");
                let diagnostic = Diagnostic::error(0, reason);
                return (Outcome::Invalid { diagnostics: vec![diagnostic] }, 0, false);
            }
            Err(err) => return (parse_interrupted(&err), 0, false),
        };

        let mut document = identify(key, chunks, content.hash);
        let n_chunks = document.chunks.len();
        let mut warnings = Vec::new();
        if let Some(embedder) = embedder {
            match self.embed_new_chunks(bot, &mut document, embedder).await {
                Ok(None) => {}
                Ok(Some(err)) => {
                    warn!(error = %err, "embedding failed, document indexed for lexical search");
                    warnings.push(Diagnostic::warning(
                        0,
                        format!(
                            "embedding failed ({err}); searchable by words until its vectors follow"
                        ),
                    ));
                }
                Err(outcome) => return (outcome, 0, false),
            }
        }
        let embedder_failed = !warnings.is_empty();
        match self.index.replace_document(bot, &document).await {
            Ok(()) => {
                info!(chunks = n_chunks, collection = %document.collection, "document indexed");
                (Outcome::Applied { warnings }, n_chunks, embedder_failed)
            }
            Err(err) => (sink_failed(&err), 0, embedder_failed),
        }
    }

    /// Gives a vector to every chunk of `document` that has none under the embedder's
    /// model in the index, as far as the embedder answers: returns its error when it
    /// stopped answering (the chunks embedded before keep their vectors).
    ///
    /// # Errors
    /// The outcome to report when the index cannot be read.
    async fn embed_new_chunks(
        &self,
        bot: &BotName,
        document: &mut IndexedDocument,
        embedder: &Arc<dyn Embedder>,
    ) -> Result<Option<EmbedError>, Outcome> {
        let model = embedder.model().to_owned();
        let embedded: HashSet<ChunkId> = self
            .index
            .embedded_chunks(bot, &document.key, &model)
            .await
            .map_err(|err| sink_failed(&err))?
            .into_iter()
            .collect();
        let missing: Vec<usize> = (0..document.chunks.len())
            .filter(|idx| !embedded.contains(&document.chunks[*idx].id))
            .collect();
        let reused = document.chunks.len() - missing.len();
        debug!(chunks.new = missing.len(), chunks.kept = reused, "embedding chunks");
        document.model = Some(model);
        let mut n_embedded = 0;
        let mut failure = None;
        for batch in missing.chunks(self.config.embed_batch.max(1)) {
            let texts: Vec<String> = batch
                .iter()
                .map(|idx| {
                    embedding_input(&document.chunks[*idx].heading, &document.chunks[*idx].text)
                })
                .collect();
            let vectors = match embed_checked(embedder.as_ref(), &texts).await {
                Ok(vectors) => vectors,
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            };
            n_embedded += vectors.len();
            for (idx, vector) in batch.iter().zip(vectors) {
                document.chunks[*idx].vector = Some(vector);
            }
        }
        let mut counts = lock(&self.counts);
        let counts = counts.entry(bot.clone()).or_default();
        counts.embedded += n_embedded as u64;
        counts.reused += reused as u64;
        Ok(failure)
    }

    /// Starts embedding, in the background, the bot's chunks that have no vector of the
    /// embedder's model, unless such a task already runs for the bot.
    fn spawn_reembed(this: &Arc<Self>, bot: &BotName, embedder: Arc<dyn Embedder>) {
        {
            let mut running = lock(&this.reembedding);
            if running.contains_key(bot) {
                return;
            }
            let progress = EmbedProgress { model: embedder.model().to_owned(), done: 0, total: 0 };
            running.insert(bot.clone(), progress);
        }
        let (inner, bot) = (Arc::clone(this), bot.clone());
        let span = info_span!("knowledge_reembed", bot = %bot, model = embedder.model());
        tokio::spawn(
            async move {
                let result = inner.reembed(&bot, embedder.as_ref()).await;
                lock(&inner.reembedding).remove(&bot);
                match result {
                    Ok(0) => {}
                    Ok(n) => info!(chunks = n, "chunks embedded with the current model"),
                    Err(err) => warn!(error = %err, "background embedding stopped, will resume"),
                }
            }
            .instrument(span),
        );
    }

    async fn reembed(&self, bot: &BotName, embedder: &dyn Embedder) -> Result<usize, String> {
        let model = embedder.model().to_owned();
        let batch = self.config.embed_batch.max(1);
        let stats = self.index.stats(bot).await.map_err(|e| e.to_string())?;
        let total = stats.without_vector_of(&model);
        let mut done = 0;
        let mut last_log = std::time::Instant::now();
        loop {
            if let Some(progress) = lock(&self.reembedding).get_mut(bot) {
                *progress = EmbedProgress { model: model.clone(), done, total: total.max(done) };
            }
            let pending = self
                .index
                .chunks_without_vector(bot, &model, batch)
                .await
                .map_err(|e| e.to_string())?;
            if pending.is_empty() {
                return Ok(done);
            }
            let texts: Vec<String> = pending.iter().map(PendingChunk::embedding_input).collect();
            let vectors = embed_checked(embedder, &texts).await.map_err(|e| e.to_string())?;
            let pairs: Vec<(ChunkId, Vec<f32>)> =
                pending.into_iter().map(|chunk| chunk.id).zip(vectors).collect();
            self.index.set_vectors(bot, &model, &pairs).await.map_err(|e| e.to_string())?;
            done += pairs.len();
            lock(&self.counts).entry(bot.clone()).or_default().embedded += pairs.len() as u64;
            if last_log.elapsed() >= REEMBED_LOG_EVERY {
                last_log = std::time::Instant::now();
                info!(chunks.done = done, chunks.total = total, "embedding with the current model");
            }
        }
    }
}

/// Returns the text of a document as the handler extracts it, one block (heading,
/// paragraph, table row) per line, or the reason it cannot be indexed. `file_name` decides
/// the format by its extension, as for objects in storage.
///
/// # Errors
/// The reason, as `status` would show it, when the document is unsupported or unreadable.
pub fn extract_text(file_name: &str, bytes: &[u8]) -> Result<String, String> {
    let blocks = extract::extract(file_name, bytes).map_err(|err| extract::describe(&err))?;
    Ok(blocks.into_iter().map(|block| block.text).collect::<Vec<_>>().join("\n"))
}

/// Returns the chunks (headings above, text) the handler would index for a document.
///
/// # Errors
/// As [`extract_text`].
pub fn chunk_document(
    file_name: &str,
    bytes: &[u8],
    config: ChunkConfig,
) -> Result<Vec<(String, String)>, String> {
    let blocks = extract::extract(file_name, bytes).map_err(|err| extract::describe(&err))?;
    let chunks = chunk_blocks(&blocks, config.sanitised());
    Ok(chunks.into_iter().map(|chunk| (chunk.heading, chunk.text)).collect())
}

/// Returns the document with its chunks' identities: the `n`-th chunk with a given text
/// is occurrence `n`, so repeated text keeps distinct, stable ids.
fn identify(key: &ObjectKey, chunks: Vec<TextChunk>, hash: ContentHash) -> IndexedDocument {
    let mut seen: HashMap<String, u32> = HashMap::new();
    let chunks = chunks
        .into_iter()
        .enumerate()
        .map(|(ordinal, chunk)| {
            let input = embedding_input(&chunk.heading, &chunk.text);
            let id = ChunkId::of(key, &input, *seen.get(&input).unwrap_or(&0));
            *seen.entry(input).or_insert(0) += 1;
            Chunk {
                id,
                ordinal: u32::try_from(ordinal).unwrap_or(u32::MAX),
                heading: chunk.heading,
                text: chunk.text,
                vector: None,
            }
        })
        .collect();
    let collection = Kind::collection(key.as_str()).unwrap_or("default").to_owned();
    IndexedDocument { key: key.clone(), collection, chunks, model: None, content_hash: Some(hash) }
}

/// Embeds `texts`, checking that one vector per text came back, all of one dimension.
async fn embed_checked(
    embedder: &dyn Embedder,
    texts: &[String],
) -> Result<Vec<Vec<f32>>, EmbedError> {
    let vectors = embedder.embed(texts).await?;
    if vectors.len() != texts.len() {
        let message = format!("{} vectors for {} texts", vectors.len(), texts.len());
        return Err(EmbedError::Refused(message));
    }
    let dimension = vectors.first().map_or(0, Vec::len);
    if vectors.iter().any(|v| v.len() != dimension || v.is_empty()) {
        return Err(EmbedError::Refused("vectors of different or zero dimension".to_owned()));
    }
    Ok(vectors)
}

#[cfg(test)]
mod tests;
