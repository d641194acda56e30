//! The knowledge index on both backends: one `kb_chunks` row per chunk with its text, its
//! vector and the model that made it, and a lexical index kept in step by the database
//! (FTS5 with triggers on SQLite, a generated `tsvector` column with a GIN index on
//! PostgreSQL).
//!
//! Replacing a document is one transaction: rows of chunks that left the document are
//! deleted, new ones inserted, kept ones updated in place (ordinal, heading) with their
//! vector untouched unless the call brings one, and the document's chunk list (with the
//! content hash of its version) is stored in `kb_documents`. Rows are keyed by (bot, chunk
//! id), so replaying a call changes nothing.
//!
//! `kb_documents` is the stored text; `kb_chunks` and its lexical index are built from it.
//! A repair compares the two per document (by count, then by id), restores missing chunk
//! rows without vectors (the handler's background embedding gives them one), removes rows of
//! no stored document, recreates dropped tables and rebuilds a lexical index that no longer
//! matches. Should `kb_documents` itself be dropped, it is recreated from the chunk rows.
//!
//! Search runs both halves and fuses them with drive-core's `fuse_rankings`: the lexical
//! half in the database (BM25 on SQLite, `ts_rank` on PostgreSQL; any query word may
//! match), the vector half over the vectors of the query's model and dimension only. On a
//! PostgreSQL server with the `vector` extension (pgvector) the vector half is an HNSW
//! index query in the database (`pgvector`: an `embedding` column kept in step with
//! `vector`, one partial index per model and dimension); on SQLite and servers without the
//! extension it is exact, in this process.
//!
//! Known limits: the exact path reads every vector of the bot (or collection) under the
//! query's model, about 1.5 KiB per chunk at 384 dimensions; past some tens of thousands
//! of chunks SQLite would need an approximate index too (sqlite-vec). The HNSW path is
//! approximate and filters by bot after the index (see `pgvector`). Lexical tokenisation
//! is language-neutral: no stemming, and accents fold on SQLite only.

#[cfg(any(test, feature = "test-util"))]
pub(crate) mod contract_cases;
mod pgvector;
mod postgres;
mod sqlite;

pub(crate) use pgvector::{VectorIndex, enable as enable_vector_index};

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::Text;

use serde::{Deserialize, Serialize};

use drive_core::knowledge::{fuse_rankings, query_terms, vector_from_bytes, vector_to_bytes};
use drive_core::{
    BotName, ChunkId, ContentHash, IndexedDocument, KnowledgeStats, ObjectKey, PendingChunk,
    SearchHit, SearchQuery,
};

use crate::plan::now;

diesel::table! {
    kb_chunks (bot, chunk_id) {
        bot -> Text,
        chunk_id -> Text,
        doc_key -> Text,
        collection -> Text,
        ordinal -> Integer,
        heading -> Text,
        text -> Text,
        model -> Nullable<Text>,
        dim -> Nullable<Integer>,
        vector -> Nullable<Binary>,
        updated_at -> BigInt,
    }
}

diesel::table! {
    kb_documents (bot, doc_key) {
        bot -> Text,
        doc_key -> Text,
        collection -> Text,
        content_hash -> Nullable<Text>,
        n_chunks -> Integer,
        chunks -> Text,
        updated_at -> BigInt,
    }
}

/// Chunk ids per `IN (...)` list, well under both backends' parameter limits.
const IDS_PER_STATEMENT: usize = 500;

/// One row of `kb_chunks`.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = kb_chunks)]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct ChunkRow {
    bot: String,
    chunk_id: String,
    doc_key: String,
    collection: String,
    ordinal: i32,
    heading: String,
    text: String,
    model: Option<String>,
    dim: Option<i32>,
    vector: Option<Vec<u8>>,
    updated_at: i64,
}

/// One row of `kb_documents`.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = kb_documents)]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct DocumentRow {
    bot: String,
    doc_key: String,
    collection: String,
    content_hash: Option<String>,
    n_chunks: i32,
    chunks: String,
    updated_at: i64,
}

/// One chunk of a stored chunk list, as the JSON of `kb_documents.chunks` holds it.
#[derive(Debug, Serialize, Deserialize)]
struct StoredChunk {
    id: String,
    ordinal: i32,
    heading: String,
    text: String,
}

/// What a replacement writes: stale ids to delete, then rows to upsert with and without a
/// new vector, and the document's stored chunk list.
pub(crate) struct DocumentPlan {
    bot: String,
    key: String,
    keep: Vec<String>,
    with_vector: Vec<ChunkRow>,
    without_vector: Vec<ChunkRow>,
    document: DocumentRow,
}

impl DocumentPlan {
    fn build(bot: &BotName, document: &IndexedDocument) -> Self {
        let updated_at = now().as_nanos();
        let stored: Vec<StoredChunk> = document
            .chunks
            .iter()
            .map(|chunk| StoredChunk {
                id: chunk.id.as_str().to_owned(),
                ordinal: i32::try_from(chunk.ordinal).unwrap_or(i32::MAX),
                heading: chunk.heading.clone(),
                text: chunk.text.clone(),
            })
            .collect();
        let document_row = DocumentRow {
            bot: bot.as_str().to_owned(),
            doc_key: document.key.as_str().to_owned(),
            collection: document.collection.clone(),
            content_hash: document.content_hash.map(|hash| hash.to_hex()),
            n_chunks: i32::try_from(stored.len()).unwrap_or(i32::MAX),
            // Serialising plain strings and integers cannot fail.
            chunks: serde_json::to_string(&stored).unwrap_or_else(|_| "[]".to_owned()),
            updated_at,
        };
        let mut plan = Self {
            bot: bot.as_str().to_owned(),
            key: document.key.as_str().to_owned(),
            keep: Vec::with_capacity(document.chunks.len()),
            with_vector: Vec::new(),
            without_vector: Vec::new(),
            document: document_row,
        };
        for chunk in &document.chunks {
            plan.keep.push(chunk.id.as_str().to_owned());
            let vector = match (&chunk.vector, &document.model) {
                (Some(vector), Some(model)) => Some((model.clone(), vector)),
                _ => None,
            };
            let row = ChunkRow {
                bot: plan.bot.clone(),
                chunk_id: chunk.id.as_str().to_owned(),
                doc_key: plan.key.clone(),
                collection: document.collection.clone(),
                ordinal: i32::try_from(chunk.ordinal).unwrap_or(i32::MAX),
                heading: chunk.heading.clone(),
                text: chunk.text.clone(),
                model: vector.as_ref().map(|(model, _)| model.clone()),
                dim: vector.as_ref().map(|(_, v)| i32::try_from(v.len()).unwrap_or(i32::MAX)),
                vector: vector.as_ref().map(|(_, v)| vector_to_bytes(v)),
                updated_at,
            };
            if vector.is_some() {
                plan.with_vector.push(row);
            } else {
                plan.without_vector.push(row);
            }
        }
        plan
    }

    /// Returns the ids in `existing` that the new version no longer has.
    fn stale(&self, existing: Vec<String>) -> Vec<String> {
        let keep: std::collections::HashSet<&str> = self.keep.iter().map(String::as_str).collect();
        existing.into_iter().filter(|id| !keep.contains(id.as_str())).collect()
    }
}

/// The columns an upsert of a kept chunk without a new vector overwrites.
macro_rules! placement_columns {
    () => {
        (
            kb_chunks::doc_key.eq(diesel::upsert::excluded(kb_chunks::doc_key)),
            kb_chunks::collection.eq(diesel::upsert::excluded(kb_chunks::collection)),
            kb_chunks::ordinal.eq(diesel::upsert::excluded(kb_chunks::ordinal)),
            kb_chunks::heading.eq(diesel::upsert::excluded(kb_chunks::heading)),
            kb_chunks::updated_at.eq(diesel::upsert::excluded(kb_chunks::updated_at)),
        )
    };
}

/// The columns an upsert of a chunk with a new vector overwrites.
macro_rules! vector_columns {
    () => {
        (
            kb_chunks::doc_key.eq(diesel::upsert::excluded(kb_chunks::doc_key)),
            kb_chunks::collection.eq(diesel::upsert::excluded(kb_chunks::collection)),
            kb_chunks::ordinal.eq(diesel::upsert::excluded(kb_chunks::ordinal)),
            kb_chunks::heading.eq(diesel::upsert::excluded(kb_chunks::heading)),
            kb_chunks::model.eq(diesel::upsert::excluded(kb_chunks::model)),
            kb_chunks::dim.eq(diesel::upsert::excluded(kb_chunks::dim)),
            kb_chunks::vector.eq(diesel::upsert::excluded(kb_chunks::vector)),
            kb_chunks::updated_at.eq(diesel::upsert::excluded(kb_chunks::updated_at)),
        )
    };
}

/// The columns an upsert of a stored document overwrites.
macro_rules! document_columns {
    () => {
        (
            kb_documents::collection.eq(diesel::upsert::excluded(kb_documents::collection)),
            kb_documents::content_hash.eq(diesel::upsert::excluded(kb_documents::content_hash)),
            kb_documents::n_chunks.eq(diesel::upsert::excluded(kb_documents::n_chunks)),
            kb_documents::chunks.eq(diesel::upsert::excluded(kb_documents::chunks)),
            kb_documents::updated_at.eq(diesel::upsert::excluded(kb_documents::updated_at)),
        )
    };
}

pub(super) use {document_columns, placement_columns, vector_columns};

/// A document whose stored chunk count differs from its searchable rows.
#[derive(QueryableByName)]
struct DamagedRow {
    #[diesel(sql_type = Text)]
    doc_key: String,
}

/// The documents of a bot whose `n_chunks` differs from their `kb_chunks` rows (`$1`/`?`
/// is the bot, twice).
const DAMAGED_SQL: &str = "SELECT d.doc_key FROM kb_documents d \
     LEFT JOIN (SELECT doc_key, count(*) AS n FROM kb_chunks WHERE bot = {p1} GROUP BY doc_key) c \
     ON c.doc_key = d.doc_key WHERE d.bot = {p2} AND coalesce(c.n, 0) <> d.n_chunks";

/// Returns [`DAMAGED_SQL`] with the backend's placeholders.
fn damaged_sql(first: &str, second: &str) -> String {
    DAMAGED_SQL.replace("{p1}", first).replace("{p2}", second)
}

/// Chunk rows of a bot whose document is not stored.
const ORPHANS_SQL: &str = "DELETE FROM kb_chunks WHERE bot = {p1} AND doc_key NOT IN \
     (SELECT doc_key FROM kb_documents WHERE bot = {p2})";

fn orphans_sql(first: &str, second: &str) -> String {
    ORPHANS_SQL.replace("{p1}", first).replace("{p2}", second)
}

/// Returns the chunk rows (without vectors) of `document`'s stored list whose ids are not in
/// `present`, and the ids of `present` that the list does not have.
fn restoration(document: &DocumentRow, present: &[String]) -> (Vec<ChunkRow>, Vec<String>) {
    let stored: Vec<StoredChunk> = serde_json::from_str(&document.chunks).unwrap_or_default();
    let present_ids: std::collections::HashSet<&str> = present.iter().map(String::as_str).collect();
    let stored_ids: std::collections::HashSet<&str> =
        stored.iter().map(|chunk| chunk.id.as_str()).collect();
    let extra = present.iter().filter(|id| !stored_ids.contains(id.as_str())).cloned().collect();
    let updated_at = now().as_nanos();
    let missing = stored
        .iter()
        .filter(|chunk| !present_ids.contains(chunk.id.as_str()))
        .map(|chunk| ChunkRow {
            bot: document.bot.clone(),
            chunk_id: chunk.id.clone(),
            doc_key: document.doc_key.clone(),
            collection: document.collection.clone(),
            ordinal: chunk.ordinal,
            heading: chunk.heading.clone(),
            text: chunk.text.clone(),
            model: None,
            dim: None,
            vector: None,
            updated_at,
        })
        .collect();
    (missing, extra)
}

/// Returns the hashes of stored documents that recorded one.
fn decode_hashes(rows: Vec<(String, Option<String>)>) -> Vec<(ObjectKey, ContentHash)> {
    rows.into_iter()
        .filter_map(|(key, hash)| Some((ObjectKey::new(key), ContentHash::from_hex(&hash?)?)))
        .collect()
}

/// Returns pending chunks from `(doc_key, chunk_id, heading, text)` rows.
fn decode_pending(rows: Vec<(String, String, String, String)>) -> Vec<PendingChunk> {
    rows.into_iter()
        .map(|(key, id, heading, text)| PendingChunk {
            key: ObjectKey::new(key),
            id: ChunkId::from_stored(id),
            heading,
            text,
        })
        .collect()
}

/// A chunk id as raw SQL returns it.
#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = Text)]
    chunk_id: String,
}

/// The row fields a search hit shows.
type HitRow = (String, String, String, i32, String, String);

/// Returns the hits of `ranked` ids in rank order, from the rows read for them.
fn assemble_hits(
    ranked: Vec<(ChunkId, f64, Option<usize>, Option<usize>)>,
    rows: Vec<HitRow>,
) -> Vec<SearchHit> {
    let mut by_id: HashMap<String, HitRow> =
        rows.into_iter().map(|row| (row.0.clone(), row)).collect();
    ranked
        .into_iter()
        .filter_map(|(id, score, lexical_rank, vector_rank)| {
            let (_, key, collection, ordinal, heading, text) = by_id.remove(id.as_str())?;
            Some(SearchHit {
                key: ObjectKey::new(key),
                collection,
                chunk_id: id,
                ordinal: u32::try_from(ordinal).unwrap_or(0),
                heading,
                text,
                score,
                lexical_rank,
                vector_rank,
            })
        })
        .collect()
}

/// Returns the `(id, vector)` pairs of rows whose bytes decode.
fn decode_vectors(rows: Vec<(String, Vec<u8>)>) -> Vec<(ChunkId, Vec<f32>)> {
    rows.into_iter()
        .filter_map(|(id, bytes)| Some((ChunkId::from_stored(id), vector_from_bytes(&bytes)?)))
        .collect()
}

/// Returns the stats of `(doc_key, model)` rows.
fn count_stats(rows: Vec<(String, Option<String>)>) -> KnowledgeStats {
    let mut documents = std::collections::BTreeSet::new();
    let mut vectors: std::collections::BTreeMap<String, usize> = Default::default();
    let chunks = rows.len();
    for (key, model) in rows {
        documents.insert(key);
        if let Some(model) = model {
            *vectors.entry(model).or_default() += 1;
        }
    }
    KnowledgeStats { documents: documents.len(), chunks, vectors: vectors.into_iter().collect() }
}

/// Returns the lexical query text for `query`, `None` when it has no searchable word.
fn lexical_terms(query: &SearchQuery, joiner: &str) -> Option<String> {
    let terms = query_terms(&query.text);
    if terms.is_empty() {
        return None;
    }
    // Terms hold letters and digits only; quoting keeps FTS5 from reading AND/OR/NOT.
    let quoted: Vec<String> = terms
        .into_iter()
        .map(|term| if joiner == " OR " { format!("\"{term}\"") } else { term })
        .collect();
    Some(quoted.join(joiner))
}

/// Returns the fused ranking of the lexical rows and the exact vector ranking of `vectors`.
fn fuse(
    query: &SearchQuery,
    lexical: Vec<IdRow>,
    vectors: Vec<(ChunkId, Vec<f32>)>,
) -> Vec<(ChunkId, f64, Option<usize>, Option<usize>)> {
    let vector = match &query.vector {
        Some((_, query_vector)) => drive_core::knowledge::rank_by_similarity(
            query_vector,
            vectors,
            drive_core::knowledge::CANDIDATES_PER_LIST,
        ),
        None => Vec::new(),
    };
    fuse_ranked(query, lexical, &vector)
}

/// Returns the fused ranking of the lexical rows and a vector ranking made elsewhere (best
/// first).
fn fuse_ranked(
    query: &SearchQuery,
    lexical: Vec<IdRow>,
    vector: &[ChunkId],
) -> Vec<(ChunkId, f64, Option<usize>, Option<usize>)> {
    let lexical: Vec<ChunkId> =
        lexical.into_iter().map(|row| ChunkId::from_stored(row.chunk_id)).collect();
    fuse_rankings(&lexical, vector, query.limit)
}

fn dimension(vector: &[f32]) -> i32 {
    i32::try_from(vector.len()).unwrap_or(i32::MAX)
}
