//! The knowledge ports: the index of a bot's document chunks ([`KnowledgeIndex`]) and the
//! model that turns text into vectors ([`Embedder`]), with the identity of a chunk and the
//! fusion of lexical and vector rankings that every index shares.
//!
//! A chunk's identity ([`ChunkId`]) derives from its document key, the text it is embedded
//! from ([`embedding_input`]: the headings above it and its text) and how many chunks of the
//! same document had the same input before it, so re-indexing a document yields the same ids
//! and an edited document keeps the ids (and vectors) of every chunk whose input did not
//! change.
//!
//! The index keeps each document's chunk list ([`IndexedDocument`], with the content hash of
//! the version it came from) apart from the searchable rows: [`KnowledgeIndex::repair`]
//! rebuilds lost rows, a lost lexical index or dropped tables from that stored text, never
//! by reading the bucket again.
//!
//! Vectors carry the identity of the model that made them; an index compares a query only
//! with vectors of the same model and dimension, so two models are never mixed.
//!
//! Known limits: [`rank_by_similarity`] is exact (every vector of the collection is compared
//! with the query), which suits the thousands of chunks a bot's documents make, not
//! millions; adapters with an approximate index (PostgreSQL with pgvector) use it instead.

use std::collections::HashMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{BotName, BoxError, ContentHash, ObjectKey, PersistError};

/// The identity of a chunk: hex SHA-256 of its document key, its text and its occurrence.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChunkId(String);

impl ChunkId {
    /// Returns the id of the `occurrence`-th chunk (from 0) of `key` whose embedding input
    /// ([`embedding_input`]) is `text`.
    pub fn of(key: &ObjectKey, text: &str, occurrence: u32) -> Self {
        let mut bytes = Vec::with_capacity(key.as_str().len() + text.len() + 6);
        bytes.extend_from_slice(key.as_str().as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(text.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(&occurrence.to_le_bytes());
        Self(ContentHash::of(&bytes).to_hex())
    }

    /// Wraps an id read back from storage.
    pub fn from_stored(id: String) -> Self {
        Self(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ChunkId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One piece of a document, as indexed.
#[derive(Clone, Debug, PartialEq)]
pub struct Chunk {
    pub id: ChunkId,
    /// Position in the document, from 0.
    pub ordinal: u32,
    /// The headings above the chunk, joined by ` > `; empty when none.
    pub heading: String,
    pub text: String,
    /// A vector for this chunk from [`IndexedDocument::model`]; `None` keeps the vector
    /// already stored for the id, if any.
    pub vector: Option<Vec<f32>>,
}

/// Returns the text a chunk is embedded from: the headings above it (`heading`, joined by
/// ` > `), a blank line, then its text; headings the text already starts with are not
/// repeated, and a chunk without headings is its text alone. A heading carries the topic a
/// paragraph often leaves implicit ("Ask within thirty days" under "Billing > Refunds").
pub fn embedding_input(heading: &str, text: &str) -> String {
    let innermost = heading.rsplit(" > ").next().unwrap_or(heading);
    let context = if !innermost.is_empty() && text.starts_with(innermost) {
        heading[..heading.len() - innermost.len()].trim_end_matches(" > ")
    } else {
        heading
    };
    if context.is_empty() { text.to_owned() } else { format!("{context}\n\n{text}") }
}

/// A document's chunks, to replace what the index holds for its key.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexedDocument {
    pub key: ObjectKey,
    pub collection: String,
    pub chunks: Vec<Chunk>,
    /// The model of the chunks' vectors; `None` when the index is lexical only.
    pub model: Option<String>,
    /// The hash of the object version the chunks came from, kept so that a lost file state
    /// can tell this version is already indexed.
    pub content_hash: Option<ContentHash>,
}

/// A chunk still waiting for a vector of some model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingChunk {
    pub key: ObjectKey,
    pub id: ChunkId,
    pub heading: String,
    pub text: String,
}

impl PendingChunk {
    /// Returns the text to embed for this chunk.
    pub fn embedding_input(&self) -> String {
        embedding_input(&self.heading, &self.text)
    }
}

/// What [`KnowledgeIndex::repair`] found and rebuilt.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RepairReport {
    /// Documents whose stored chunk list was compared with the searchable rows.
    pub documents: usize,
    /// Chunk rows rebuilt from the stored chunk lists (without vectors: the background
    /// embedding gives them one again).
    pub chunks_restored: usize,
    /// Chunk rows of no stored document, removed.
    pub orphans_removed: usize,
    /// Whether the lexical index (or a dropped table) had to be rebuilt.
    pub schema_rebuilt: bool,
}

impl RepairReport {
    /// Returns whether anything was out of order.
    pub fn repaired_anything(&self) -> bool {
        self.chunks_restored > 0 || self.orphans_removed > 0 || self.schema_rebuilt
    }
}

/// What to search for.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchQuery {
    pub text: String,
    /// Only this collection; every collection of the bot when `None`.
    pub collection: Option<String>,
    pub limit: usize,
    /// The query's vector and the model that made it; lexical search only when `None`.
    pub vector: Option<(String, Vec<f32>)>,
}

/// One search result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SearchHit {
    pub key: ObjectKey,
    pub collection: String,
    pub chunk_id: ChunkId,
    pub ordinal: u32,
    pub heading: String,
    pub text: String,
    /// The fused score: higher is better.
    pub score: f64,
    /// Rank in the lexical list (from 1), when it was there.
    pub lexical_rank: Option<usize>,
    /// Rank in the vector list (from 1), when it was there.
    pub vector_rank: Option<usize>,
}

/// What the index holds for one bot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KnowledgeStats {
    pub documents: usize,
    pub chunks: usize,
    /// Chunks with a vector, per model.
    pub vectors: Vec<(String, usize)>,
}

impl KnowledgeStats {
    /// Returns how many chunks have no vector of `model`.
    pub fn without_vector_of(&self, model: &str) -> usize {
        let with = self.vectors.iter().find(|(m, _)| m == model).map_or(0, |(_, n)| *n);
        self.chunks.saturating_sub(with)
    }
}

/// A bot's indexed chunks, with their lexical index and vectors.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait KnowledgeIndex: Send + Sync + 'static {
    /// Makes `document` the whole content of its key, in one transaction: chunks whose id
    /// is not in it disappear, new ones appear, kept ones take the new ordinal and heading
    /// and keep their vector unless the chunk brings one. Idempotent.
    async fn replace_document(
        &self,
        bot: &BotName,
        document: &IndexedDocument,
    ) -> Result<(), PersistError>;

    /// Removes every chunk of `key`.
    async fn remove_document(&self, bot: &BotName, key: &ObjectKey) -> Result<(), PersistError>;

    /// Returns the ids of `key`'s chunks that have a vector from `model`.
    async fn embedded_chunks(
        &self,
        bot: &BotName,
        key: &ObjectKey,
        model: &str,
    ) -> Result<Vec<ChunkId>, PersistError>;

    /// Returns up to `limit` chunks of the bot without a vector from `model`, in a stable
    /// order.
    async fn chunks_without_vector(
        &self,
        bot: &BotName,
        model: &str,
        limit: usize,
    ) -> Result<Vec<PendingChunk>, PersistError>;

    /// Stores vectors of `model` for existing chunks; unknown ids are skipped.
    async fn set_vectors(
        &self,
        bot: &BotName,
        model: &str,
        vectors: &[(ChunkId, Vec<f32>)],
    ) -> Result<(), PersistError>;

    /// Returns the best chunks for `query`: lexical and vector rankings fused by
    /// [`fuse_rankings`].
    async fn search(
        &self,
        bot: &BotName,
        query: &SearchQuery,
    ) -> Result<Vec<SearchHit>, PersistError>;

    /// Returns counts of what the index holds for `bot`.
    async fn stats(&self, bot: &BotName) -> Result<KnowledgeStats, PersistError>;

    /// Returns the content hash of every indexed document of `bot` that recorded one.
    async fn document_hashes(
        &self,
        bot: &BotName,
    ) -> Result<Vec<(ObjectKey, ContentHash)>, PersistError>;

    /// Makes the searchable rows of `bot` match the stored chunk lists again: recreates
    /// dropped tables and a lost or inconsistent lexical index, restores missing chunk rows
    /// (without vectors) and removes rows of no stored document. Idempotent; reads no
    /// object storage.
    async fn repair(&self, bot: &BotName) -> Result<RepairReport, PersistError>;
}

/// A failure to embed text.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The model could not be reached or failed for now: retry later.
    #[error("embedding service unavailable")]
    Unavailable(#[source] BoxError),
    /// The model refused the request or answered nonsense; retrying will not help until
    /// someone changes the settings or the model.
    #[error("embedding refused: {0}")]
    Refused(String),
}

impl EmbedError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, EmbedError::Unavailable(_))
    }
}

/// Turns text into vectors.
///
/// Object safe (`#[async_trait]`) so that the handler can pick an adapter per bot at run
/// time.
#[async_trait]
pub trait Embedder: Send + Sync + 'static {
    /// The model's identity, stored with every vector it makes (`local:all-MiniLM-L6-v2`,
    /// `http:text-embedding-3-small@https://host`); two embedders with the same identity
    /// must make comparable vectors.
    fn model(&self) -> &str;

    /// Returns one vector per text, in order, all of the same dimension.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

impl std::fmt::Debug for dyn Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Embedder({})", self.model())
    }
}

impl std::fmt::Debug for dyn KnowledgeIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KnowledgeIndex")
    }
}

/// The constant of reciprocal rank fusion: a hit at rank `r` scores `1 / (RRF_K + r)`.
/// 60 is the value the method was published with; it keeps one list's top hit from
/// drowning agreement between both lists.
pub const RRF_K: f64 = 60.0;

/// How many candidates each half of a hybrid search contributes before fusion.
pub const CANDIDATES_PER_LIST: usize = 50;

/// Fuses a lexical and a vector ranking (best first) by reciprocal rank fusion and returns
/// the `limit` best ids with their score and ranks, best first; ties go to the lexical
/// rank, then the id, so the order is deterministic.
pub fn fuse_rankings(
    lexical: &[ChunkId],
    vector: &[ChunkId],
    limit: usize,
) -> Vec<(ChunkId, f64, Option<usize>, Option<usize>)> {
    let mut fused: HashMap<&ChunkId, (f64, Option<usize>, Option<usize>)> = HashMap::new();
    for (idx, id) in lexical.iter().enumerate() {
        let entry = fused.entry(id).or_default();
        entry.0 += 1.0 / (RRF_K + idx as f64 + 1.0);
        entry.1.get_or_insert(idx + 1);
    }
    for (idx, id) in vector.iter().enumerate() {
        let entry = fused.entry(id).or_default();
        entry.0 += 1.0 / (RRF_K + idx as f64 + 1.0);
        entry.2.get_or_insert(idx + 1);
    }
    let mut out: Vec<_> = fused
        .into_iter()
        .map(|(id, (score, lexical, vector))| (id.clone(), score, lexical, vector))
        .collect();
    out.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then(a.2.unwrap_or(usize::MAX).cmp(&b.2.unwrap_or(usize::MAX)))
            .then_with(|| a.0.cmp(&b.0))
    });
    out.truncate(limit);
    out
}

/// Returns the ids of `candidates` ordered by cosine similarity to `query`, best first, at
/// most `limit`; vectors of another dimension are skipped.
pub fn rank_by_similarity(
    query: &[f32],
    candidates: impl IntoIterator<Item = (ChunkId, Vec<f32>)>,
    limit: usize,
) -> Vec<ChunkId> {
    let query_norm = norm(query);
    let mut scored: Vec<(f32, ChunkId)> = candidates
        .into_iter()
        .filter(|(_, vector)| vector.len() == query.len())
        .map(|(id, vector)| {
            let dot: f32 = vector.iter().zip(query).map(|(a, b)| a * b).sum();
            let denominator = norm(&vector) * query_norm;
            let cosine = if denominator > 0.0 { dot / denominator } else { 0.0 };
            (cosine, id)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    scored.into_iter().take(limit).map(|(_, id)| id).collect()
}

/// Returns the words of a search text that a lexical index can look up: runs of letters
/// and digits, lowercased, at most 32 of them, each at most 64 characters.
pub fn query_terms(text: &str) -> Vec<String> {
    let mut terms: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| word.chars().take(64).collect::<String>().to_lowercase())
        .collect();
    terms.dedup();
    terms.truncate(32);
    terms
}

/// Encodes a vector as the little-endian bytes indexes store.
pub fn vector_to_bytes(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|value| value.to_le_bytes()).collect()
}

/// Decodes stored bytes into a vector; `None` when the length is not a multiple of four.
pub fn vector_from_bytes(bytes: &[u8]) -> Option<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let values = bytes
        .chunks_exact(4)
        .map(|quad| f32::from_le_bytes([quad[0], quad[1], quad[2], quad[3]]))
        .collect();
    Some(values)
}

fn norm(vector: &[f32]) -> f32 {
    vector.iter().map(|value| value * value).sum::<f32>().sqrt()
}

#[cfg(any(test, feature = "test-util"))]
pub(crate) mod memory {
    //! The in-memory index, with the semantics of the database adapters.

    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use super::*;

    #[derive(Clone, Debug)]
    struct StoredChunk {
        key: ObjectKey,
        collection: String,
        ordinal: u32,
        heading: String,
        text: String,
        vector: Option<(String, Vec<f32>)>,
    }

    /// A knowledge index held in memory; lexical search counts matching query terms.
    ///
    /// Stored documents and searchable chunks are kept apart, as in the databases, so that
    /// tests can lose chunks ([`Self::lose_chunks`]) and watch [`KnowledgeIndex::repair`].
    #[derive(Debug, Default)]
    pub struct MemoryKnowledgeIndexForTests {
        chunks: Mutex<BTreeMap<(BotName, ChunkId), StoredChunk>>,
        documents: Mutex<BTreeMap<(BotName, ObjectKey), IndexedDocument>>,
    }

    impl MemoryKnowledgeIndexForTests {
        pub fn new() -> Self {
            Self::default()
        }

        /// Forgets every searchable chunk of `bot`, as a damaged database would; the stored
        /// documents stay.
        pub fn lose_chunks(&self, bot: &BotName) {
            self.chunks.lock().unwrap().retain(|(b, _), _| b != bot);
        }
    }

    #[async_trait]
    impl KnowledgeIndex for MemoryKnowledgeIndexForTests {
        async fn replace_document(
            &self,
            bot: &BotName,
            document: &IndexedDocument,
        ) -> Result<(), PersistError> {
            let mut chunks = self.chunks.lock().unwrap();
            let old: BTreeMap<ChunkId, StoredChunk> = chunks
                .iter()
                .filter(|((b, _), chunk)| b == bot && chunk.key == document.key)
                .map(|((_, id), chunk)| (id.clone(), chunk.clone()))
                .collect();
            chunks.retain(|(b, _), chunk| !(b == bot && chunk.key == document.key));
            for chunk in &document.chunks {
                let kept = old.get(&chunk.id).and_then(|old| old.vector.clone());
                let vector = match (&chunk.vector, &document.model) {
                    (Some(vector), Some(model)) => Some((model.clone(), vector.clone())),
                    _ => kept,
                };
                let stored = StoredChunk {
                    key: document.key.clone(),
                    collection: document.collection.clone(),
                    ordinal: chunk.ordinal,
                    heading: chunk.heading.clone(),
                    text: chunk.text.clone(),
                    vector,
                };
                chunks.insert((bot.clone(), chunk.id.clone()), stored);
            }
            let mut kept = document.clone();
            kept.model = None;
            kept.chunks.iter_mut().for_each(|chunk| chunk.vector = None);
            self.documents.lock().unwrap().insert((bot.clone(), document.key.clone()), kept);
            Ok(())
        }

        async fn remove_document(
            &self,
            bot: &BotName,
            key: &ObjectKey,
        ) -> Result<(), PersistError> {
            self.chunks.lock().unwrap().retain(|(b, _), chunk| !(b == bot && &chunk.key == key));
            self.documents.lock().unwrap().remove(&(bot.clone(), key.clone()));
            Ok(())
        }

        async fn embedded_chunks(
            &self,
            bot: &BotName,
            key: &ObjectKey,
            model: &str,
        ) -> Result<Vec<ChunkId>, PersistError> {
            let chunks = self.chunks.lock().unwrap();
            Ok(chunks
                .iter()
                .filter(|((b, _), c)| b == bot && &c.key == key)
                .filter(|(_, c)| c.vector.as_ref().is_some_and(|(m, _)| m == model))
                .map(|((_, id), _)| id.clone())
                .collect())
        }

        async fn chunks_without_vector(
            &self,
            bot: &BotName,
            model: &str,
            limit: usize,
        ) -> Result<Vec<PendingChunk>, PersistError> {
            let chunks = self.chunks.lock().unwrap();
            Ok(chunks
                .iter()
                .filter(|((b, _), c)| b == bot && c.vector.as_ref().is_none_or(|(m, _)| m != model))
                .take(limit)
                .map(|((_, id), c)| PendingChunk {
                    key: c.key.clone(),
                    id: id.clone(),
                    heading: c.heading.clone(),
                    text: c.text.clone(),
                })
                .collect())
        }

        async fn set_vectors(
            &self,
            bot: &BotName,
            model: &str,
            vectors: &[(ChunkId, Vec<f32>)],
        ) -> Result<(), PersistError> {
            let mut chunks = self.chunks.lock().unwrap();
            for (id, vector) in vectors {
                if let Some(chunk) = chunks.get_mut(&(bot.clone(), id.clone())) {
                    chunk.vector = Some((model.to_owned(), vector.clone()));
                }
            }
            Ok(())
        }

        async fn search(
            &self,
            bot: &BotName,
            query: &SearchQuery,
        ) -> Result<Vec<SearchHit>, PersistError> {
            let chunks = self.chunks.lock().unwrap();
            let in_scope: Vec<(&ChunkId, &StoredChunk)> = chunks
                .iter()
                .filter(|((b, _), c)| {
                    b == bot && query.collection.as_ref().is_none_or(|col| col == &c.collection)
                })
                .map(|((_, id), c)| (id, c))
                .collect();
            let terms = query_terms(&query.text);
            let mut lexical: Vec<(usize, &ChunkId)> = in_scope
                .iter()
                .map(|(id, c)| {
                    let words = query_terms(&c.text);
                    (terms.iter().filter(|t| words.contains(t)).count(), *id)
                })
                .filter(|(n, _)| *n > 0)
                .collect();
            lexical.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
            let lexical: Vec<ChunkId> =
                lexical.into_iter().take(CANDIDATES_PER_LIST).map(|(_, id)| id.clone()).collect();
            let vector = match &query.vector {
                None => Vec::new(),
                Some((model, vector)) => rank_by_similarity(
                    vector,
                    in_scope.iter().filter_map(|(id, c)| match &c.vector {
                        Some((m, v)) if m == model => Some(((*id).clone(), v.clone())),
                        _ => None,
                    }),
                    CANDIDATES_PER_LIST,
                ),
            };
            Ok(fuse_rankings(&lexical, &vector, query.limit)
                .into_iter()
                .filter_map(|(id, score, lexical_rank, vector_rank)| {
                    let c = chunks.get(&(bot.clone(), id.clone()))?;
                    Some(SearchHit {
                        key: c.key.clone(),
                        collection: c.collection.clone(),
                        chunk_id: id,
                        ordinal: c.ordinal,
                        heading: c.heading.clone(),
                        text: c.text.clone(),
                        score,
                        lexical_rank,
                        vector_rank,
                    })
                })
                .collect())
        }

        async fn stats(&self, bot: &BotName) -> Result<KnowledgeStats, PersistError> {
            let chunks = self.chunks.lock().unwrap();
            let mut documents = std::collections::BTreeSet::new();
            let mut vectors: BTreeMap<String, usize> = BTreeMap::new();
            let mut n_chunks = 0;
            for ((_, _), c) in chunks.iter().filter(|((b, _), _)| b == bot) {
                n_chunks += 1;
                documents.insert(c.key.clone());
                if let Some((model, _)) = &c.vector {
                    *vectors.entry(model.clone()).or_default() += 1;
                }
            }
            Ok(KnowledgeStats {
                documents: documents.len(),
                chunks: n_chunks,
                vectors: vectors.into_iter().collect(),
            })
        }

        async fn document_hashes(
            &self,
            bot: &BotName,
        ) -> Result<Vec<(ObjectKey, ContentHash)>, PersistError> {
            let documents = self.documents.lock().unwrap();
            Ok(documents
                .iter()
                .filter(|((b, _), _)| b == bot)
                .filter_map(|((_, key), doc)| Some((key.clone(), doc.content_hash?)))
                .collect())
        }

        async fn repair(&self, bot: &BotName) -> Result<RepairReport, PersistError> {
            let documents: Vec<IndexedDocument> = {
                let documents = self.documents.lock().unwrap();
                documents.iter().filter(|((b, _), _)| b == bot).map(|(_, d)| d.clone()).collect()
            };
            let mut report = RepairReport { documents: documents.len(), ..RepairReport::default() };
            let mut chunks = self.chunks.lock().unwrap();
            let stored: std::collections::BTreeSet<&ChunkId> =
                documents.iter().flat_map(|d| d.chunks.iter().map(|c| &c.id)).collect();
            let before = chunks.len();
            chunks.retain(|(b, id), _| b != bot || stored.contains(id));
            report.orphans_removed = before - chunks.len();
            for document in &documents {
                for chunk in &document.chunks {
                    let slot = (bot.clone(), chunk.id.clone());
                    if chunks.contains_key(&slot) {
                        continue;
                    }
                    let restored = StoredChunk {
                        key: document.key.clone(),
                        collection: document.collection.clone(),
                        ordinal: chunk.ordinal,
                        heading: chunk.heading.clone(),
                        text: chunk.text.clone(),
                        vector: None,
                    };
                    chunks.insert(slot, restored);
                    report.chunks_restored += 1;
                }
            }
            Ok(report)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str) -> ChunkId {
        ChunkId::from_stored(name.to_owned())
    }

    #[test]
    fn chunk_ids_depend_on_key_text_and_occurrence() {
        let key = ObjectKey::new("kb.gbkb/a.md");
        assert_eq!(ChunkId::of(&key, "x", 0), ChunkId::of(&key, "x", 0));
        assert_ne!(ChunkId::of(&key, "x", 0), ChunkId::of(&key, "x", 1));
        assert_ne!(ChunkId::of(&key, "x", 0), ChunkId::of(&key, "y", 0));
        assert_ne!(ChunkId::of(&key, "x", 0), ChunkId::of(&ObjectKey::new("kb.gbkb/b.md"), "x", 0));
    }

    #[test]
    fn fusion_rewards_agreement_between_lists() {
        let fused = fuse_rankings(&[id("a"), id("b"), id("c")], &[id("c"), id("d")], 10);
        let order: Vec<&str> = fused.iter().map(|(id, ..)| id.as_str()).collect();
        assert_eq!(order, ["c", "a", "b", "d"], "ties go to the lexical list");
        assert_eq!((fused[0].2, fused[0].3), (Some(3), Some(1)));
    }

    #[test]
    fn similarity_skips_other_dimensions() {
        let ranked = rank_by_similarity(
            &[1.0, 0.0],
            [(id("far"), vec![0.0, 1.0]), (id("near"), vec![1.0, 0.1]), (id("x"), vec![1.0])],
            5,
        );
        assert_eq!(ranked, [id("near"), id("far")]);
    }

    #[test]
    fn vectors_round_trip_through_bytes() {
        let vector = vec![0.5, -1.25, f32::MIN_POSITIVE];
        assert_eq!(vector_from_bytes(&vector_to_bytes(&vector)), Some(vector));
        assert_eq!(vector_from_bytes(&[1, 2, 3]), None);
    }

    #[test]
    fn embedding_input_adds_the_headings_the_text_does_not_start_with() {
        assert_eq!(embedding_input("", "Text."), "Text.");
        assert_eq!(embedding_input("Billing > Refunds", "Ask."), "Billing > Refunds\n\nAsk.");
        assert_eq!(
            embedding_input("Billing > Refunds", "Refunds\n\nAsk."),
            "Billing\n\nRefunds\n\nAsk."
        );
        assert_eq!(embedding_input("Refunds", "Refunds\n\nAsk."), "Refunds\n\nAsk.");
    }

    #[test]
    fn query_terms_are_words_lowercased() {
        assert_eq!(query_terms("Ação: \"NOT\" OR x*"), ["ação", "not", "or", "x"]);
    }
}
