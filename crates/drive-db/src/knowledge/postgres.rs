//! The knowledge index on PostgreSQL: writes are one transaction with multi-row upserts;
//! the lexical half is the generated `lexemes` column ranked by `ts_rank`.
//!
//! The vector half goes through pgvector's HNSW index (the `pgvector` module) where the
//! server has the `vector` extension: every write of a vector also writes its `embedding`
//! in the same transaction, then makes sure the index of its model and dimension exists; a
//! repair fills `embedding` where it is missing. Without the extension, and for queries the
//! index cannot answer (more than 2 000 dimensions, a non-finite value), the vector half
//! reads the bot's vectors of the query's model and dimension and ranks them exactly here.
//!
//! Known limits: see the `pgvector` module for those of the index (post-filtering by bot,
//! approximate results, the lock taken while a new model's index is built).

use async_trait::async_trait;
use diesel::sql_types::{Bool, Text};
use diesel::{
    BoolExpressionMethods as _, ExpressionMethods as _, NullableExpressionMethods as _,
    QueryDsl as _, SelectableHelper as _,
};
use diesel_async::{
    AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _, SimpleAsyncConnection as _,
};

use drive_core::{
    BotName, ChunkId, ContentHash, IndexedDocument, KnowledgeIndex, KnowledgeStats, ObjectKey,
    PendingChunk, PersistError, RepairReport, SearchHit, SearchQuery,
};

use super::{
    DamagedRow, DocumentPlan, DocumentRow, IDS_PER_STATEMENT, IdRow, assemble_hits, count_stats,
    damaged_sql, decode_hashes, decode_pending, decode_vectors, dimension, document_columns, fuse,
    fuse_ranked, kb_chunks, kb_documents, lexical_terms, orphans_sql, pgvector, placement_columns,
    restoration, vector_columns,
};
use crate::PgDatabase;
use crate::error::{in_bot, query_failed};
use crate::plan::now;

/// The lexical half: chunks of the bot matching any term, best `ts_rank` first.
const LEXICAL_SQL: &str = "SELECT chunk_id FROM kb_chunks, to_tsquery('simple', $1) query \
     WHERE lexemes @@ query AND bot = $2 AND ($3 = '' OR collection = $3) \
     ORDER BY ts_rank(lexemes, query) DESC, chunk_id LIMIT 50";

/// The relations of the knowledge index; a repair recreates any that is missing.
const SCHEMA_OBJECTS: &[&str] = &[
    "kb_chunks",
    "kb_chunks_by_document",
    "kb_chunks_by_collection",
    "kb_chunks_lexemes",
    "kb_documents",
];

/// The migrations that create them; both are idempotent.
const CHUNKS_DDL: &str =
    include_str!("../../migrations/postgres/2026-04-01-000000_create_knowledge/up.sql");
const DOCUMENTS_DDL: &str =
    include_str!("../../migrations/postgres/2026-06-15-000000_create_kb_documents/up.sql");

/// Whether a relation exists.
#[derive(diesel::QueryableByName)]
struct ExistsRow {
    #[diesel(sql_type = Bool)]
    present: bool,
}

/// Rows per multi-row upsert: 11 parameters a row, under PostgreSQL's 65 535.
const ROWS_PER_STATEMENT: usize = 1000;

/// Candidates of the vector half.
const CANDIDATES: usize = drive_core::knowledge::CANDIDATES_PER_LIST;

#[async_trait]
impl KnowledgeIndex for PgDatabase {
    async fn replace_document(
        &self,
        bot: &BotName,
        document: &IndexedDocument,
    ) -> Result<(), PersistError> {
        let plan = DocumentPlan::build(bot, document);
        let embeddings: Vec<(&str, &[f32])> = match (&self.vector_index, &document.model) {
            (Some(_), Some(_)) => document
                .chunks
                .iter()
                .filter_map(|chunk| Some((chunk.id.as_str(), chunk.vector.as_deref()?)))
                .collect(),
            _ => Vec::new(),
        };
        let mut conn = self.conn().await?;
        conn.transaction(async |conn| {
            let existing: Vec<String> = kb_chunks::table
                .filter(kb_chunks::bot.eq(&plan.bot))
                .filter(kb_chunks::doc_key.eq(&plan.key))
                .select(kb_chunks::chunk_id)
                .load(conn)
                .await?;
            for ids in plan.stale(existing).chunks(IDS_PER_STATEMENT) {
                let doomed = kb_chunks::bot.eq(&plan.bot).and(kb_chunks::chunk_id.eq_any(ids));
                diesel::delete(kb_chunks::table.filter(doomed)).execute(conn).await?;
            }
            for rows in plan.without_vector.chunks(ROWS_PER_STATEMENT) {
                diesel::insert_into(kb_chunks::table)
                    .values(rows)
                    .on_conflict((kb_chunks::bot, kb_chunks::chunk_id))
                    .do_update()
                    .set(placement_columns!())
                    .execute(conn)
                    .await?;
            }
            for rows in plan.with_vector.chunks(ROWS_PER_STATEMENT) {
                diesel::insert_into(kb_chunks::table)
                    .values(rows)
                    .on_conflict((kb_chunks::bot, kb_chunks::chunk_id))
                    .do_update()
                    .set(vector_columns!())
                    .execute(conn)
                    .await?;
            }
            if !embeddings.is_empty() {
                pgvector::write_embeddings(conn, &plan.bot, embeddings.iter().copied()).await?;
            }
            diesel::insert_into(kb_documents::table)
                .values(&plan.document)
                .on_conflict((kb_documents::bot, kb_documents::doc_key))
                .do_update()
                .set(document_columns!())
                .execute(conn)
                .await?;
            Ok::<_, diesel::result::Error>(())
        })
        .await
        .map_err(query_failed)
        .map_err(in_bot(bot))?;
        if let Some(model) = &document.model {
            self.ensure_vector_indexes(&mut conn, bot, model, &embeddings).await;
        }
        Ok(())
    }

    async fn remove_document(&self, bot: &BotName, key: &ObjectKey) -> Result<(), PersistError> {
        let mut conn = self.conn().await?;
        conn.transaction(async |conn| {
            let doomed = kb_chunks::bot.eq(bot.as_str()).and(kb_chunks::doc_key.eq(key.as_str()));
            diesel::delete(kb_chunks::table.filter(doomed)).execute(conn).await?;
            let doomed =
                kb_documents::bot.eq(bot.as_str()).and(kb_documents::doc_key.eq(key.as_str()));
            diesel::delete(kb_documents::table.filter(doomed)).execute(conn).await?;
            Ok::<_, diesel::result::Error>(())
        })
        .await
        .map_err(query_failed)
        .map_err(in_bot(bot))
    }

    async fn embedded_chunks(
        &self,
        bot: &BotName,
        key: &ObjectKey,
        model: &str,
    ) -> Result<Vec<ChunkId>, PersistError> {
        let ids: Vec<String> = kb_chunks::table
            .filter(kb_chunks::bot.eq(bot.as_str()))
            .filter(kb_chunks::doc_key.eq(key.as_str()))
            .filter(kb_chunks::model.eq(model))
            .filter(kb_chunks::vector.is_not_null())
            .select(kb_chunks::chunk_id)
            .load(&mut self.conn().await?)
            .await
            .map_err(query_failed)
            .map_err(in_bot(bot))?;
        Ok(ids.into_iter().map(ChunkId::from_stored).collect())
    }

    async fn chunks_without_vector(
        &self,
        bot: &BotName,
        model: &str,
        limit: usize,
    ) -> Result<Vec<PendingChunk>, PersistError> {
        let rows = kb_chunks::table
            .filter(kb_chunks::bot.eq(bot.as_str()))
            .filter(kb_chunks::model.is_null().or(kb_chunks::model.ne(model)))
            .order((kb_chunks::doc_key, kb_chunks::ordinal, kb_chunks::chunk_id))
            .select((kb_chunks::doc_key, kb_chunks::chunk_id, kb_chunks::heading, kb_chunks::text))
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .load(&mut self.conn().await?)
            .await
            .map_err(query_failed)
            .map_err(in_bot(bot))?;
        Ok(decode_pending(rows))
    }

    async fn set_vectors(
        &self,
        bot: &BotName,
        model: &str,
        vectors: &[(ChunkId, Vec<f32>)],
    ) -> Result<(), PersistError> {
        let updated_at = now().as_nanos();
        let embeddings: Vec<(&str, &[f32])> = match &self.vector_index {
            Some(_) => {
                vectors.iter().map(|(id, vector)| (id.as_str(), vector.as_slice())).collect()
            }
            None => Vec::new(),
        };
        let mut conn = self.conn().await?;
        conn.transaction(async |conn| {
            for (id, vector) in vectors {
                let one = kb_chunks::bot.eq(bot.as_str()).and(kb_chunks::chunk_id.eq(id.as_str()));
                diesel::update(kb_chunks::table.filter(one))
                    .set((
                        kb_chunks::model.eq(model),
                        kb_chunks::dim.eq(dimension(vector)),
                        kb_chunks::vector.eq(drive_core::knowledge::vector_to_bytes(vector)),
                        kb_chunks::updated_at.eq(updated_at),
                    ))
                    .execute(conn)
                    .await?;
            }
            if !embeddings.is_empty() {
                pgvector::write_embeddings(conn, bot.as_str(), embeddings.iter().copied()).await?;
            }
            Ok::<_, diesel::result::Error>(())
        })
        .await
        .map_err(query_failed)
        .map_err(in_bot(bot))?;
        self.ensure_vector_indexes(&mut conn, bot, model, &embeddings).await;
        Ok(())
    }

    async fn search(
        &self,
        bot: &BotName,
        query: &SearchQuery,
    ) -> Result<Vec<SearchHit>, PersistError> {
        let mut conn = self.conn().await?;
        let collection = query.collection.clone().unwrap_or_default();
        let lexical = match lexical_terms(query, " | ") {
            Some(terms) => diesel::sql_query(LEXICAL_SQL)
                .bind::<Text, _>(terms)
                .bind::<Text, _>(bot.as_str())
                .bind::<Text, _>(&collection)
                .load::<IdRow>(&mut conn)
                .await
                .map_err(query_failed)?,
            None => Vec::new(),
        };
        let indexed = match (&self.vector_index, &query.vector) {
            (Some(index), Some((model, vector))) => index.query(model, vector).map(|q| (index, q)),
            _ => None,
        };
        let ranked = match indexed {
            Some((index, indexed_query)) => {
                let nearest = index
                    .nearest(&mut conn, bot.as_str(), &collection, &indexed_query, CANDIDATES)
                    .await
                    .map_err(query_failed)
                    .map_err(in_bot(bot))?;
                fuse_ranked(query, lexical, &nearest)
            }
            None => fuse(query, lexical, self.exact_candidates(&mut conn, bot, query).await?),
        };
        let ids: Vec<&str> = ranked.iter().map(|(id, ..)| id.as_str()).collect();
        let rows = kb_chunks::table
            .filter(kb_chunks::bot.eq(bot.as_str()))
            .filter(kb_chunks::chunk_id.eq_any(&ids))
            .select((
                kb_chunks::chunk_id,
                kb_chunks::doc_key,
                kb_chunks::collection,
                kb_chunks::ordinal,
                kb_chunks::heading,
                kb_chunks::text,
            ))
            .load(&mut conn)
            .await
            .map_err(query_failed)
            .map_err(in_bot(bot))?;
        Ok(assemble_hits(ranked, rows))
    }

    async fn stats(&self, bot: &BotName) -> Result<KnowledgeStats, PersistError> {
        let rows = kb_chunks::table
            .filter(kb_chunks::bot.eq(bot.as_str()))
            .select((kb_chunks::doc_key, kb_chunks::model))
            .load(&mut self.conn().await?)
            .await
            .map_err(query_failed)
            .map_err(in_bot(bot))?;
        Ok(count_stats(rows))
    }

    async fn document_hashes(
        &self,
        bot: &BotName,
    ) -> Result<Vec<(ObjectKey, ContentHash)>, PersistError> {
        let rows = kb_documents::table
            .filter(kb_documents::bot.eq(bot.as_str()))
            .select((kb_documents::doc_key, kb_documents::content_hash))
            .load(&mut self.conn().await?)
            .await
            .map_err(query_failed)
            .map_err(in_bot(bot))?;
        Ok(decode_hashes(rows))
    }

    async fn repair(&self, bot: &BotName) -> Result<RepairReport, PersistError> {
        let mut conn = self.conn().await?;
        let vector_index = self.vector_index.as_deref();
        let report = conn
            .transaction(async |conn| {
                let mut report = RepairReport {
                    schema_rebuilt: repair_schema(conn).await?,
                    ..Default::default()
                };
                if vector_index.is_some() {
                    pgvector::add_embedding_column(conn).await?;
                }
                report.orphans_removed = diesel::sql_query(orphans_sql("$1", "$1"))
                    .bind::<Text, _>(bot.as_str())
                    .execute(conn)
                    .await?;
                let damaged: Vec<DamagedRow> = diesel::sql_query(damaged_sql("$1", "$1"))
                    .bind::<Text, _>(bot.as_str())
                    .load(conn)
                    .await?;
                for DamagedRow { doc_key } in damaged {
                    report.chunks_restored +=
                        restore_document(conn, bot.as_str(), &doc_key).await?;
                }
                let documents: i64 = kb_documents::table
                    .filter(kb_documents::bot.eq(bot.as_str()))
                    .count()
                    .get_result(conn)
                    .await?;
                report.documents = usize::try_from(documents).unwrap_or(0);
                Ok::<_, diesel::result::Error>(report)
            })
            .await
            .map_err(query_failed)
            .map_err(in_bot(bot))?;
        if let Some(index) = vector_index {
            let filled = index
                .repair(&mut conn, bot.as_str())
                .await
                .map_err(query_failed)
                .map_err(in_bot(bot))?;
            if filled > 0 {
                tracing::info!(bot = %bot, n_chunks = filled, "vectors added to the hnsw index");
            }
        }
        Ok(report)
    }
}

impl PgDatabase {
    /// Returns the bot's vectors (in the query's collection, if any) of the query's model and
    /// dimension, for the exact ranking; none when the query has no vector.
    async fn exact_candidates(
        &self,
        conn: &mut AsyncPgConnection,
        bot: &BotName,
        query: &SearchQuery,
    ) -> Result<Vec<(ChunkId, Vec<f32>)>, PersistError> {
        let Some((model, vector)) = &query.vector else {
            return Ok(Vec::new());
        };
        let mut select = kb_chunks::table
            .filter(kb_chunks::bot.eq(bot.as_str()))
            .filter(kb_chunks::model.eq(model))
            .filter(kb_chunks::dim.eq(dimension(vector)))
            .select((kb_chunks::chunk_id, kb_chunks::vector.assume_not_null()))
            .into_boxed();
        if let Some(collection) = &query.collection {
            select = select.filter(kb_chunks::collection.eq(collection));
        }
        let rows = select.load(conn).await.map_err(query_failed).map_err(in_bot(bot))?;
        Ok(decode_vectors(rows))
    }

    /// Makes sure the HNSW index of `model` exists for each dimension among `vectors`, once
    /// they are written. A failure is logged, not returned: the vectors are stored and search
    /// answers without the index until the next write or repair creates it.
    async fn ensure_vector_indexes(
        &self,
        conn: &mut AsyncPgConnection,
        bot: &BotName,
        model: &str,
        vectors: &[(&str, &[f32])],
    ) {
        let Some(index) = &self.vector_index else {
            return;
        };
        let dims: std::collections::BTreeSet<usize> =
            vectors.iter().map(|(_, vector)| vector.len()).collect();
        let pairs = dims.into_iter().map(|dim| (model.to_owned(), dim));
        if let Err(err) = index.ensure_indexes(conn, pairs).await {
            tracing::warn!(bot = %bot, error = %err, "hnsw index not created, will retry");
        }
    }
}

/// Recreates missing relations (the generated lexical column cannot drift from the text, so
/// its index is the only part of the lexical half that can go missing); returns whether
/// anything was recreated.
async fn repair_schema(conn: &mut AsyncPgConnection) -> diesel::QueryResult<bool> {
    let checks: Vec<String> =
        SCHEMA_OBJECTS.iter().map(|name| format!("to_regclass('{name}') IS NOT NULL")).collect();
    let sql = format!("SELECT ({}) AS present", checks.join(" AND "));
    let complete: ExistsRow = diesel::sql_query(sql).get_result(conn).await?;
    if complete.present {
        return Ok(false);
    }
    tracing::warn!("knowledge tables incomplete, recreating them");
    conn.batch_execute(CHUNKS_DDL).await?;
    conn.batch_execute(DOCUMENTS_DDL).await?;
    Ok(true)
}

/// Restores the chunk rows of one document from its stored list; returns how many.
async fn restore_document(
    conn: &mut AsyncPgConnection,
    bot: &str,
    key: &str,
) -> diesel::QueryResult<usize> {
    let document: DocumentRow = kb_documents::table
        .filter(kb_documents::bot.eq(bot))
        .filter(kb_documents::doc_key.eq(key))
        .select(DocumentRow::as_select())
        .first(conn)
        .await?;
    let present: Vec<String> = kb_chunks::table
        .filter(kb_chunks::bot.eq(bot))
        .filter(kb_chunks::doc_key.eq(key))
        .select(kb_chunks::chunk_id)
        .load(conn)
        .await?;
    let (missing, extra) = restoration(&document, &present);
    for ids in extra.chunks(IDS_PER_STATEMENT) {
        let doomed = kb_chunks::bot.eq(bot).and(kb_chunks::chunk_id.eq_any(ids));
        diesel::delete(kb_chunks::table.filter(doomed)).execute(conn).await?;
    }
    let mut restored = 0;
    for rows in missing.chunks(ROWS_PER_STATEMENT) {
        restored += diesel::insert_into(kb_chunks::table)
            .values(rows)
            .on_conflict((kb_chunks::bot, kb_chunks::chunk_id))
            .do_nothing()
            .execute(conn)
            .await?;
    }
    Ok(restored)
}
