//! The vector half of search through pgvector's HNSW index, on PostgreSQL servers that have
//! the `vector` extension; everywhere else the exact path of the parent module answers.
//!
//! When [`PgDatabase`](crate::PgDatabase) opens a database whose server offers the
//! extension, [`enable`] creates it (if the role may) and adds a nullable `embedding vector`
//! column to `kb_chunks`, at run time rather than in a migration, since the migrations must
//! run on servers without it. Every write of a vector also writes `embedding` (as pgvector's
//! text form), and a repair fills it for rows written without it (before the extension, or
//! by an older server).
//!
//! HNSW indexes need a fixed dimension, so there is one partial expression index per model
//! and dimension, `kb_chunks_hnsw_<hash>` (a hash of both), on
//! `embedding::vector(N) vector_cosine_ops WHERE model = ... AND dim = N`, created on the first
//! write of a vector of that pair (and by a repair). A query names the same model and
//! dimension as literals, so the planner can answer it from that index and vectors of two
//! models or dimensions are never compared; it orders by cosine distance, 50 candidates, then
//! the parent module fuses them with the lexical half as on the exact path.
//!
//! Known limits:
//! - The index covers every bot's vectors of a model; a bot's filter (and a collection's) is
//!   applied to what the index returns. pgvector 0.8 and later keep scanning until enough
//!   rows pass (`hnsw.iterative_scan`, up to `hnsw.max_scan_tuples`); older versions can
//!   return fewer than 50 candidates for a bot that holds a small share of a model's vectors.
//!   The planner picks the bot's B-tree and an exact sort instead when that is cheaper.
//! - Results are approximate: close to, not always equal to, the exact ranking.
//! - Vectors with a non-finite value, zero vectors and vectors above
//!   [`MAX_INDEXED_DIMENSIONS`] are not in the index; queries of such a dimension take the
//!   exact path. Rows written by a server that does not write `embedding` are missing from
//!   the index until the next repair.
//! - The first write of a new model builds its index while holding a lock that makes other
//!   writes of `kb_chunks` wait (reads go on); a bot's thousands of chunks take seconds.

use std::collections::HashSet;
use std::sync::Mutex;

use diesel::sql_types::{Array, BigInt, Binary, Bool, Integer, Nullable, Text};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};

use drive_core::knowledge::vector_from_bytes;
use drive_core::{ChunkId, ContentHash};

use super::IdRow;
use crate::postgres::MIGRATION_LOCK;

/// The most dimensions pgvector's HNSW index takes for the `vector` type.
pub(crate) const MAX_INDEXED_DIMENSIONS: usize = 2000;

/// The candidates an HNSW scan keeps while searching; above the 50 a query asks for, so that
/// filtering by bot still leaves enough of them.
const EF_SEARCH: u32 = 200;

/// What [`enable`] found: the server's extension works in this database.
#[derive(Debug)]
pub(crate) struct VectorIndex {
    /// Whether pgvector knows `hnsw.iterative_scan` (0.8 and later).
    iterative_scan: bool,
    /// Names of the HNSW indexes known to exist, so that each is created once per process.
    known: Mutex<HashSet<String>>,
}

/// The model and dimension of a query the index can answer, with the query in pgvector's
/// text form.
#[derive(Debug)]
pub(crate) struct IndexedQuery {
    model: String,
    dim: usize,
    vector: String,
}

/// Whether the extension is offered by the server.
#[derive(diesel::QueryableByName)]
struct Available {
    #[diesel(sql_type = Bool)]
    available: bool,
}

/// What the extension offers once created.
#[derive(diesel::QueryableByName)]
struct Capabilities {
    #[diesel(sql_type = Bool)]
    hnsw: bool,
    #[diesel(sql_type = Bool)]
    iterative_scan: bool,
}

/// A stored vector waiting for its `embedding`.
#[derive(diesel::QueryableByName)]
struct UnindexedRow {
    #[diesel(sql_type = Text)]
    chunk_id: String,
    #[diesel(sql_type = Binary)]
    vector: Vec<u8>,
}

/// A model and dimension present in the index.
#[derive(diesel::QueryableByName)]
struct PairRow {
    #[diesel(sql_type = Text)]
    model: String,
    #[diesel(sql_type = Integer)]
    dim: i32,
}

/// Makes the vector index usable in the database behind `conn` when the server offers the
/// extension: creates the extension and the `embedding` column if missing. Returns `None`
/// (and logs once at info) when the server does not offer it, the role may not create it or
/// it has no HNSW; the exact path answers then.
///
/// Runs under the migration lock, so servers opening together create things once.
///
/// # Errors
/// When the server cannot be asked whether it offers the extension.
pub(crate) async fn enable(
    conn: &mut AsyncPgConnection,
) -> diesel::QueryResult<Option<VectorIndex>> {
    let offered: Available = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') AS available",
    )
    .get_result(conn)
    .await?;
    if !offered.available {
        tracing::info!("postgres has no vector extension, vector search is exact");
        return Ok(None);
    }

    let created = conn
        .transaction(async |conn| {
            diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                .bind::<BigInt, _>(MIGRATION_LOCK)
                .execute(conn)
                .await?;
            diesel::sql_query("CREATE EXTENSION IF NOT EXISTS vector").execute(conn).await?;
            add_embedding_column(conn).await?;
            // The cast loads the extension's library, which defines its settings.
            diesel::sql_query(
                "SELECT EXISTS (SELECT 1 FROM pg_am WHERE amname = 'hnsw') AS hnsw, \
                 ('[1]'::vector IS NOT NULL \
                  AND current_setting('hnsw.iterative_scan', true) IS NOT NULL) AS iterative_scan",
            )
            .get_result::<Capabilities>(conn)
            .await
        })
        .await;
    match created {
        Ok(Capabilities { hnsw: true, iterative_scan }) => {
            tracing::info!(pgvector.iterative_scan = iterative_scan, "vector search uses hnsw");
            Ok(Some(VectorIndex { iterative_scan, known: Mutex::new(HashSet::new()) }))
        }
        Ok(Capabilities { hnsw: false, .. }) => {
            tracing::info!("vector extension has no hnsw, vector search is exact");
            Ok(None)
        }
        Err(err) => {
            tracing::info!(error = %err, "vector extension not usable, vector search is exact");
            Ok(None)
        }
    }
}

/// Adds the `embedding` column to `kb_chunks` unless it is there; returns whether it added
/// it. Looks first, because adding takes a lock that waits for every reader of the table.
pub(crate) async fn add_embedding_column(
    conn: &mut AsyncPgConnection,
) -> diesel::QueryResult<bool> {
    let present: Available = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('kb_chunks') \
         AND attname = 'embedding' AND NOT attisdropped) AS available",
    )
    .get_result(conn)
    .await?;
    if present.available {
        return Ok(false);
    }
    diesel::sql_query("ALTER TABLE kb_chunks ADD COLUMN IF NOT EXISTS embedding vector")
        .execute(conn)
        .await?;
    Ok(true)
}

/// Returns pgvector's text form of `vector` (`[1,-0.5]`), or `None` when the index cannot
/// hold it: empty, above [`MAX_INDEXED_DIMENSIONS`], a non-finite value, or all zeros (which
/// has no cosine).
pub(crate) fn vector_text(vector: &[f32]) -> Option<String> {
    let indexable = !vector.is_empty()
        && vector.len() <= MAX_INDEXED_DIMENSIONS
        && vector.iter().all(|value| value.is_finite())
        && vector.iter().any(|value| *value != 0.0);
    if !indexable {
        return None;
    }
    let values: Vec<String> = vector.iter().map(f32::to_string).collect();
    Some(format!("[{}]", values.join(",")))
}

/// Sets the `embedding` of each `(chunk id, vector)` of `bot` to the vector, or to NULL when
/// the index cannot hold it (see [`vector_text`]); unknown ids are skipped.
pub(crate) async fn write_embeddings(
    conn: &mut AsyncPgConnection,
    bot: &str,
    vectors: impl IntoIterator<Item = (&str, &[f32])>,
) -> diesel::QueryResult<()> {
    let (ids, texts): (Vec<String>, Vec<Option<String>>) =
        vectors.into_iter().map(|(id, vector)| (id.to_owned(), vector_text(vector))).unzip();
    for (ids, texts) in
        ids.chunks(super::IDS_PER_STATEMENT).zip(texts.chunks(super::IDS_PER_STATEMENT))
    {
        diesel::sql_query(
            "UPDATE kb_chunks SET embedding = given.embedding::vector \
             FROM unnest($2::text[], $3::text[]) AS given(chunk_id, embedding) \
             WHERE kb_chunks.bot = $1 AND kb_chunks.chunk_id = given.chunk_id",
        )
        .bind::<Text, _>(bot)
        .bind::<Array<Text>, _>(ids)
        .bind::<Array<Nullable<Text>>, _>(texts)
        .execute(conn)
        .await?;
    }
    Ok(())
}

impl VectorIndex {
    /// Returns the query in the form the index answers, or `None` when the exact path must
    /// answer it (a vector the index cannot hold, or a model holding a NUL character, which
    /// PostgreSQL text cannot).
    pub(crate) fn query(&self, model: &str, vector: &[f32]) -> Option<IndexedQuery> {
        if model.contains('\0') {
            return None;
        }
        let text = vector_text(vector)?;
        Some(IndexedQuery { model: model.to_owned(), dim: vector.len(), vector: text })
    }

    /// Returns up to `limit` chunk ids of `bot` (and `collection`, when not empty) nearest
    /// `query` by cosine, nearest first, ties by id; only vectors of the query's model and
    /// dimension take part.
    pub(crate) async fn nearest(
        &self,
        conn: &mut AsyncPgConnection,
        bot: &str,
        collection: &str,
        query: &IndexedQuery,
        limit: usize,
    ) -> diesel::QueryResult<Vec<ChunkId>> {
        let sql = nearest_sql(&query.model, query.dim, limit);
        let iterative_scan = self.iterative_scan;
        let rows: Vec<IdRow> = conn
            .transaction(async |conn| {
                let mut settings = format!("SET LOCAL hnsw.ef_search = {EF_SEARCH}");
                if iterative_scan {
                    settings.push_str("; SET LOCAL hnsw.iterative_scan = relaxed_order");
                }
                diesel_async::SimpleAsyncConnection::batch_execute(conn, &settings).await?;
                diesel::sql_query(sql)
                    .bind::<Text, _>(bot)
                    .bind::<Text, _>(&query.vector)
                    .bind::<Text, _>(collection)
                    .load(conn)
                    .await
            })
            .await?;
        Ok(rows.into_iter().map(|row| ChunkId::from_stored(row.chunk_id)).collect())
    }

    /// Creates the HNSW index of each `(model, dim)` unless this process knows it exists.
    ///
    /// # Errors
    /// When the index cannot be created; search still answers then, without it.
    pub(crate) async fn ensure_indexes(
        &self,
        conn: &mut AsyncPgConnection,
        pairs: impl IntoIterator<Item = (String, usize)>,
    ) -> diesel::QueryResult<()> {
        for (model, dim) in pairs {
            let name = index_name(&model, dim);
            if dim == 0 || dim > MAX_INDEXED_DIMENSIONS || model.contains('\0') {
                continue;
            }
            if self.known.lock().expect("index names lock").contains(&name) {
                continue;
            }
            // Looking first spares the lock that creating takes even when the index exists.
            let present: Available =
                diesel::sql_query(format!("SELECT to_regclass('{name}') IS NOT NULL AS available"))
                    .get_result(conn)
                    .await?;
            if present.available {
                self.known.lock().expect("index names lock").insert(name);
                continue;
            }
            let ddl = format!(
                "CREATE INDEX IF NOT EXISTS {name} ON kb_chunks USING hnsw \
                 ((embedding::vector({dim})) vector_cosine_ops) WHERE {}",
                pair_predicate(&model, dim)
            );
            conn.transaction(async |conn| {
                diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                    .bind::<BigInt, _>(MIGRATION_LOCK)
                    .execute(conn)
                    .await?;
                diesel::sql_query(ddl).execute(conn).await
            })
            .await?;
            tracing::debug!(index = %name, dim, "hnsw index ready");
            self.known.lock().expect("index names lock").insert(name);
        }
        Ok(())
    }

    /// Gives `embedding` to the vectors of `bot` that lack it and creates the indexes of the
    /// bot's models that are missing (dropped with their table, or by hand); returns how many
    /// rows it filled.
    ///
    /// # Errors
    /// When a statement fails.
    pub(crate) async fn repair(
        &self,
        conn: &mut AsyncPgConnection,
        bot: &str,
    ) -> diesel::QueryResult<usize> {
        let rows: Vec<UnindexedRow> = diesel::sql_query(
            "SELECT chunk_id, vector FROM kb_chunks \
             WHERE bot = $1 AND vector IS NOT NULL AND embedding IS NULL",
        )
        .bind::<Text, _>(bot)
        .load(conn)
        .await?;
        let decoded: Vec<(String, Vec<f32>)> = rows
            .into_iter()
            .filter_map(|row| Some((row.chunk_id, vector_from_bytes(&row.vector)?)))
            .filter(|(_, vector)| vector_text(vector).is_some())
            .collect();
        let pairs = decoded.iter().map(|(id, vector)| (id.as_str(), vector.as_slice()));
        write_embeddings(conn, bot, pairs).await?;

        // What this process knows may be stale: look at the catalog again.
        self.known.lock().expect("index names lock").clear();

        let present: Vec<PairRow> = diesel::sql_query(
            "SELECT DISTINCT model, dim FROM kb_chunks \
             WHERE bot = $1 AND embedding IS NOT NULL AND model IS NOT NULL AND dim IS NOT NULL",
        )
        .bind::<Text, _>(bot)
        .load(conn)
        .await?;
        let pairs =
            present.into_iter().map(|row| (row.model, usize::try_from(row.dim).unwrap_or(0)));
        self.ensure_indexes(conn, pairs).await?;
        Ok(decoded.len())
    }
}

/// Returns the name of the HNSW index of `model` at `dim`: derived from a hash of both, so
/// that it is a valid identifier whatever the model's name.
pub(crate) fn index_name(model: &str, dim: usize) -> String {
    let mut bytes = model.as_bytes().to_vec();
    bytes.push(0);
    bytes.extend_from_slice(&(dim as u64).to_le_bytes());
    let hash = ContentHash::of(&bytes).to_hex();
    format!("kb_chunks_hnsw_{}", &hash[..16])
}

/// Returns the query of the `limit` chunks nearest `$2` (pgvector text) among the bot's
/// (`$1`) vectors of `model` at `dim`, in collection `$3` unless it is empty. The model and
/// dimension are literals, as in the index's predicate, so that the planner can prove the
/// query is within the index; the outer ordering restores exact order among the candidates,
/// which an iterative scan returns only roughly sorted.
pub(crate) fn nearest_sql(model: &str, dim: usize, limit: usize) -> String {
    format!(
        "SELECT chunk_id FROM (SELECT chunk_id, \
         embedding::vector({dim}) <=> $2::vector({dim}) AS distance FROM kb_chunks \
         WHERE {} AND embedding IS NOT NULL AND bot = $1 AND ($3 = '' OR collection = $3) \
         ORDER BY embedding::vector({dim}) <=> $2::vector({dim}) LIMIT {limit}) nearest \
         ORDER BY distance, chunk_id",
        pair_predicate(model, dim)
    )
}

/// Returns `model = <literal> AND dim = <dim>`: the model as an escape string literal, which
/// reads the same whatever `standard_conforming_strings` says.
fn pair_predicate(model: &str, dim: usize) -> String {
    let escaped = model.replace('\\', "\\\\").replace('\'', "''");
    format!("model = E'{escaped}' AND dim = {dim}")
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use diesel::sql_types::Text;
    use diesel_async::{AsyncConnection as _, RunQueryDsl as _};

    use drive_core::knowledge::rank_by_similarity;
    use drive_core::{
        BotName, Chunk, ChunkId, IndexedDocument, KnowledgeIndex, ObjectKey, SearchQuery,
    };

    use super::*;
    use crate::PgDatabase;
    use crate::contract::PgTestDatabase;

    #[expect(clippy::print_stderr, reason = "a test that checks the exact path says why")]
    fn notice(message: &str) {
        eprintln!("{message}");
    }

    /// Runs `case` against a fresh PostgreSQL database and drops it afterwards, even if
    /// `case` panics.
    async fn run<F, Fut>(case: F)
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let test_db = PgTestDatabase::create().await.expect("PostgreSQL at DATABASE_URL");
        let outcome = tokio::spawn(case(test_db.url().to_owned())).await;
        test_db.drop_database().await.expect("drop the test database");
        if let Err(err) = outcome
            && let Ok(panic) = err.try_into_panic()
        {
            std::panic::resume_unwind(panic);
        }
    }

    /// Returns `n` pseudo-random vectors of `dim` values in [-1, 1), the same for a seed.
    fn random_vectors(seed: u64, n: usize, dim: usize) -> Vec<Vec<f32>> {
        let mut state = seed.max(1);
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        };
        (0..n).map(|_| (0..dim).map(|_| next()).collect()).collect()
    }

    /// Returns a document of `key` with one chunk per vector, all of `model`.
    fn document(key: &str, model: &str, vectors: &[Vec<f32>]) -> IndexedDocument {
        let key = ObjectKey::new(key);
        let chunks = vectors
            .iter()
            .enumerate()
            .map(|(ordinal, vector)| {
                let text = format!("chunk {ordinal} of {key}");
                Chunk {
                    id: ChunkId::of(&key, &text, 0),
                    ordinal: ordinal as u32,
                    heading: String::new(),
                    text,
                    vector: Some(vector.clone()),
                }
            })
            .collect();
        IndexedDocument {
            key,
            collection: "default".to_owned(),
            chunks,
            model: Some(model.to_owned()),
            content_hash: None,
        }
    }

    fn vector_query(model: &str, vector: &[f32], limit: usize) -> SearchQuery {
        SearchQuery {
            text: String::new(),
            collection: None,
            limit,
            vector: Some((model.to_owned(), vector.to_vec())),
        }
    }

    async fn search_ids(db: &PgDatabase, bot: &BotName, query: &SearchQuery) -> Vec<ChunkId> {
        let hits = db.search(bot, query).await.expect("search");
        hits.into_iter().map(|hit| hit.chunk_id).collect()
    }

    /// Returns the nearest ids as the index answers them, with sequential scans priced out
    /// so that the planner takes the index even on a small table.
    async fn nearest_by_index(
        db: &PgDatabase,
        bot: &BotName,
        model: &str,
        vector: &[f32],
    ) -> Vec<ChunkId> {
        let index = db.vector_index.as_deref().expect("vector index enabled");
        let query = index.query(model, vector).expect("indexable query");
        let mut conn = db.conn().await.expect("connection");
        conn.transaction(async |conn| {
            diesel::sql_query("SET LOCAL enable_seqscan = off").execute(conn).await?;
            index.nearest(conn, bot.as_str(), "", &query, 10).await
        })
        .await
        .expect("nearest")
    }

    fn overlap(a: &[ChunkId], b: &[ChunkId]) -> usize {
        let b: HashSet<&ChunkId> = b.iter().collect();
        a.iter().filter(|id| b.contains(id)).count()
    }

    /// Returns the indexed document of 500 random 16-dimension vectors of `m16`, and their
    /// ids with the vectors.
    fn five_hundred_chunks() -> (IndexedDocument, Vec<(ChunkId, Vec<f32>)>) {
        let vectors = random_vectors(7, 500, 16);
        let document = document("kb.gbkb/random.md", "m16", &vectors);
        let all = document.chunks.iter().map(|c| (c.id.clone(), c.vector.clone().unwrap()));
        let all = all.collect();
        (document, all)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hnsw_search_ranks_nearest_first_like_the_exact_ranking() {
        run(|url| async move {
            let db = PgDatabase::open(&url).await.expect("open");
            let bot = BotName::new("ann").unwrap();
            let (document, all) = five_hundred_chunks();
            db.replace_document(&bot, &document).await.expect("replace");

            for query in random_vectors(99, 5, 16) {
                let exact = rank_by_similarity(&query, all.clone(), 10);
                let found = search_ids(&db, &bot, &vector_query("m16", &query, 10)).await;
                if db.vector_index.is_none() {
                    notice("postgres has no vector extension: checking the exact path instead");
                    assert_eq!(found, exact);
                    continue;
                }
                assert!(overlap(&found, &exact) >= 9, "search {found:?} exact {exact:?}");
                assert_eq!(found[0], exact[0], "the nearest chunk comes first");
                let by_index = nearest_by_index(&db, &bot, "m16", &query).await;
                assert!(overlap(&by_index, &exact) >= 9, "index {by_index:?} exact {exact:?}");
            }
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn vectors_of_another_model_dimension_or_bot_never_meet_the_query() {
        run(|url| async move {
            let db = PgDatabase::open(&url).await.expect("open");
            let (bot, other) = (BotName::new("models").unwrap(), BotName::new("else").unwrap());
            let vectors = random_vectors(3, 40, 16);
            let short: Vec<Vec<f32>> = vectors.iter().map(|v| v[..8].to_vec()).collect();
            let wanted = document("kb.gbkb/a16.md", "a", &vectors);
            db.replace_document(&bot, &wanted).await.expect("replace");
            db.replace_document(&bot, &document("kb.gbkb/b16.md", "b", &vectors)).await.unwrap();
            db.replace_document(&bot, &document("kb.gbkb/a8.md", "a", &short)).await.unwrap();
            db.replace_document(&other, &wanted).await.expect("replace other bot");

            for query in vectors.iter().take(5) {
                let hits = db.search(&bot, &vector_query("a", query, 50)).await.expect("search");
                assert_eq!(hits.len(), 40, "every a/16 chunk of the bot, no other");
                assert!(hits.iter().all(|hit| hit.key.as_str() == "kb.gbkb/a16.md"), "{hits:?}");
                let query = &query[..8];
                let hits = db.search(&bot, &vector_query("a", query, 50)).await.expect("search");
                assert_eq!(hits.len(), 40);
                assert!(hits.iter().all(|hit| hit.key.as_str() == "kb.gbkb/a8.md"), "{hits:?}");
                let hits = db.search(&bot, &vector_query("c", query, 50)).await.expect("search");
                assert!(hits.is_empty(), "no vector of model c: {hits:?}");
            }
            if db.vector_index.is_none() {
                notice("postgres has no vector extension: checked the exact path instead");
                return;
            }
            let ids: HashSet<ChunkId> = wanted.chunks.iter().map(|c| c.id.clone()).collect();
            let by_index = nearest_by_index(&db, &bot, "a", &vectors[0]).await;
            assert_eq!(by_index.len(), 10);
            assert!(by_index.iter().all(|id| ids.contains(id)), "{by_index:?}");
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn odd_model_names_and_collections_are_searched_through_the_index() {
        run(|url| async move {
            let db = PgDatabase::open(&url).await.expect("open");
            let bot = BotName::new("odd").unwrap();
            let model = "http:it's\\odd'); DROP TABLE kb_chunks; --";
            let vectors = random_vectors(13, 60, 16);
            let mut manual = document("kb.gbkb/manual/a.md", model, &vectors[..30]);
            manual.collection = "manual".to_owned();
            let faq = document("kb.gbkb/faq.md", model, &vectors[30..]);
            db.replace_document(&bot, &manual).await.expect("replace");
            db.replace_document(&bot, &faq).await.expect("replace");

            let mut query = vector_query(model, &vectors[40], 50);
            query.collection = Some("manual".to_owned());
            let hits = db.search(&bot, &query).await.expect("search");
            assert_eq!(hits.len(), 30, "every chunk of the collection, no other");
            assert!(hits.iter().all(|hit| hit.collection == "manual"), "{hits:?}");
            let hits = db.search(&bot, &vector_query(model, &vectors[40], 1)).await.unwrap();
            assert_eq!(hits[0].chunk_id, faq.chunks[10].id, "a chunk is nearest itself");
            if db.vector_index.is_none() {
                notice("postgres has no vector extension: checked the exact path instead");
                return;
            }
            let by_index = nearest_by_index(&db, &bot, model, &vectors[40]).await;
            assert_eq!(by_index[0], faq.chunks[10].id);
            let index = db.vector_index.as_deref().unwrap();
            assert!(index.known.lock().unwrap().contains(&index_name(model, 16)));
        })
        .await;
    }

    /// A line of a plan, as `EXPLAIN` returns it.
    #[derive(diesel::QueryableByName)]
    struct PlanLine {
        #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
        line: String,
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_planner_answers_vector_search_from_the_hnsw_index() {
        run(|url| async move {
            let db = PgDatabase::open(&url).await.expect("open");
            let bot = BotName::new("plan").unwrap();
            let (document, all) = five_hundred_chunks();
            db.replace_document(&bot, &document).await.expect("replace");
            let query = random_vectors(5, 1, 16).remove(0);
            let Some(index) = db.vector_index.as_deref() else {
                notice("postgres has no vector extension: checking the exact path instead");
                let found = search_ids(&db, &bot, &vector_query("m16", &query, 10)).await;
                assert_eq!(found, rank_by_similarity(&query, all, 10));
                return;
            };

            let indexed = index.query("m16", &query).expect("indexable query");
            let sql = format!("EXPLAIN {}", nearest_sql("m16", 16, 50));
            let mut conn = db.conn().await.expect("connection");
            let plan: Vec<PlanLine> = conn
                .transaction(async |conn| {
                    diesel::sql_query("SET LOCAL enable_seqscan = off").execute(conn).await?;
                    diesel::sql_query(sql)
                        .bind::<Text, _>(bot.as_str())
                        .bind::<Text, _>(&indexed.vector)
                        .bind::<Text, _>("")
                        .load(conn)
                        .await
                })
                .await
                .expect("explain");
            let plan: Vec<String> = plan.into_iter().map(|line| line.line).collect();
            let name = index_name("m16", 16);
            assert!(plan.iter().any(|line| line.contains(&name)), "{name} not in {plan:#?}");
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn repair_indexes_vectors_written_without_the_extension() {
        run(|url| async move {
            let exact =
                PgDatabase::open(&url).await.expect("open").without_vector_index_for_tests();
            let bot = BotName::new("late").unwrap();
            let vectors = random_vectors(11, 30, 16);
            exact
                .replace_document(&bot, &document("kb.gbkb/late.md", "m", &vectors))
                .await
                .unwrap();

            let db = PgDatabase::open(&url).await.expect("reopen");
            let Some(index) = db.vector_index.as_deref() else {
                notice("postgres has no vector extension: checking the exact path instead");
                assert!(!db.repair(&bot).await.expect("repair").repaired_anything());
                let hits = db.search(&bot, &vector_query("m", &vectors[0], 5)).await.unwrap();
                assert_eq!(hits.len(), 5);
                return;
            };
            assert_eq!(count_embeddings(&db).await, 0, "the exact path writes no embedding");
            db.repair(&bot).await.expect("repair");
            assert_eq!(count_embeddings(&db).await, 30);
            assert!(index.known.lock().unwrap().contains(&index_name("m", 16)));
            let found = nearest_by_index(&db, &bot, "m", &vectors[4]).await;
            assert_eq!(
                found[0],
                ChunkId::of(&ObjectKey::new("kb.gbkb/late.md"), "chunk 4 of kb.gbkb/late.md", 0)
            );
        })
        .await;
    }

    /// A count, as raw SQL returns it.
    #[derive(diesel::QueryableByName)]
    struct CountRow {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    async fn count_embeddings(db: &PgDatabase) -> i64 {
        let mut conn = db.conn().await.expect("connection");
        let row: CountRow =
            diesel::sql_query("SELECT count(*) AS n FROM kb_chunks WHERE embedding IS NOT NULL")
                .get_result(&mut conn)
                .await
                .expect("count");
        row.n
    }

    #[test]
    fn only_finite_nonzero_vectors_of_indexable_size_have_a_text_form() {
        assert_eq!(vector_text(&[1.0, -0.5, 0.0]).as_deref(), Some("[1,-0.5,0]"));
        assert_eq!(vector_text(&[]), None);
        assert_eq!(vector_text(&[0.0, 0.0]), None);
        assert_eq!(vector_text(&[1.0, f32::NAN]), None);
        assert_eq!(vector_text(&[f32::INFINITY]), None);
        assert_eq!(vector_text(&vec![1.0; MAX_INDEXED_DIMENSIONS + 1]), None);
    }

    #[test]
    fn model_names_are_quoted_as_literals_and_hashed_into_index_names() {
        assert_eq!(pair_predicate("it's\\", 3), "model = E'it''s\\\\' AND dim = 3");
        let name = index_name("x'; DROP TABLE kb_chunks; --", 384);
        assert!(name.starts_with("kb_chunks_hnsw_") && name.len() == 31, "{name}");
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{name}");
        assert_ne!(index_name("m", 384), index_name("m", 385));
    }
}
