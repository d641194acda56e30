//! The knowledge index on SQLite: every call is one blocking task, writes one immediate
//! transaction; the lexical half is FTS5 ranked by BM25. A repair checks the FTS5 index
//! against its content table with FTS5's own `integrity-check` and rebuilds it on a mismatch.

use async_trait::async_trait;
use diesel::connection::SimpleConnection as _;
use diesel::prelude::*;
use diesel::sql_types::Text;

use drive_core::{
    BotName, ChunkId, ContentHash, IndexedDocument, KnowledgeIndex, KnowledgeStats, ObjectKey,
    PendingChunk, PersistError, RepairReport, SearchHit, SearchQuery,
};

use super::{
    DamagedRow, DocumentPlan, DocumentRow, IDS_PER_STATEMENT, IdRow, assemble_hits, count_stats,
    damaged_sql, decode_hashes, decode_pending, decode_vectors, dimension, document_columns, fuse,
    kb_chunks, kb_documents, lexical_terms, orphans_sql, placement_columns, restoration,
    vector_columns,
};
use crate::SqliteDatabase;
use crate::error::in_bot;
use crate::plan::now;

/// The lexical half: chunks of the bot matching any term, best BM25 first.
const LEXICAL_SQL: &str = "SELECT c.chunk_id FROM kb_chunks_fts f \
     JOIN kb_chunks c ON c.rowid = f.rowid \
     WHERE kb_chunks_fts MATCH ? AND c.bot = ? AND (? = '' OR c.collection = ?) \
     ORDER BY bm25(kb_chunks_fts) LIMIT 50";

/// The schema objects of the knowledge index; a repair recreates any that is missing.
const SCHEMA_OBJECTS: &[&str] = &[
    "kb_chunks",
    "kb_chunks_by_document",
    "kb_chunks_by_collection",
    "kb_chunks_fts",
    "kb_chunks_fts_insert",
    "kb_chunks_fts_delete",
    "kb_chunks_fts_update",
    "kb_documents",
];

/// The migrations that create them; both are idempotent.
const CHUNKS_DDL: &str =
    include_str!("../../migrations/sqlite/2026-04-01-000000_create_knowledge/up.sql");
const DOCUMENTS_DDL: &str =
    include_str!("../../migrations/sqlite/2026-06-15-000000_create_kb_documents/up.sql");

/// A schema object's name.
#[derive(QueryableByName)]
struct NameRow {
    #[diesel(sql_type = Text)]
    name: String,
}

#[async_trait]
impl KnowledgeIndex for SqliteDatabase {
    async fn replace_document(
        &self,
        bot: &BotName,
        document: &IndexedDocument,
    ) -> Result<(), PersistError> {
        let plan = DocumentPlan::build(bot, document);
        self.write(move |conn| {
            let existing: Vec<String> = kb_chunks::table
                .filter(kb_chunks::bot.eq(&plan.bot))
                .filter(kb_chunks::doc_key.eq(&plan.key))
                .select(kb_chunks::chunk_id)
                .load(conn)?;
            for ids in plan.stale(existing).chunks(IDS_PER_STATEMENT) {
                let doomed = kb_chunks::bot.eq(&plan.bot).and(kb_chunks::chunk_id.eq_any(ids));
                diesel::delete(kb_chunks::table.filter(doomed)).execute(conn)?;
            }
            for row in &plan.without_vector {
                diesel::insert_into(kb_chunks::table)
                    .values(row)
                    .on_conflict((kb_chunks::bot, kb_chunks::chunk_id))
                    .do_update()
                    .set(placement_columns!())
                    .execute(conn)?;
            }
            for row in &plan.with_vector {
                diesel::insert_into(kb_chunks::table)
                    .values(row)
                    .on_conflict((kb_chunks::bot, kb_chunks::chunk_id))
                    .do_update()
                    .set(vector_columns!())
                    .execute(conn)?;
            }
            diesel::insert_into(kb_documents::table)
                .values(&plan.document)
                .on_conflict((kb_documents::bot, kb_documents::doc_key))
                .do_update()
                .set(document_columns!())
                .execute(conn)?;
            Ok(())
        })
        .await
        .map_err(in_bot(bot))
    }

    async fn remove_document(&self, bot: &BotName, key: &ObjectKey) -> Result<(), PersistError> {
        let (bot_name, key) = (bot.as_str().to_owned(), key.as_str().to_owned());
        self.write(move |conn| {
            let doomed = kb_chunks::bot.eq(&bot_name).and(kb_chunks::doc_key.eq(&key));
            diesel::delete(kb_chunks::table.filter(doomed)).execute(conn)?;
            let doomed = kb_documents::bot.eq(&bot_name).and(kb_documents::doc_key.eq(&key));
            diesel::delete(kb_documents::table.filter(doomed)).execute(conn).map(drop)
        })
        .await
        .map_err(in_bot(bot))
    }

    async fn embedded_chunks(
        &self,
        bot: &BotName,
        key: &ObjectKey,
        model: &str,
    ) -> Result<Vec<ChunkId>, PersistError> {
        let (bot_name, key, model) =
            (bot.as_str().to_owned(), key.as_str().to_owned(), model.to_owned());
        let ids: Vec<String> = self
            .read(move |conn| {
                kb_chunks::table
                    .filter(kb_chunks::bot.eq(&bot_name))
                    .filter(kb_chunks::doc_key.eq(&key))
                    .filter(kb_chunks::model.eq(&model))
                    .filter(kb_chunks::vector.is_not_null())
                    .select(kb_chunks::chunk_id)
                    .load(conn)
            })
            .await
            .map_err(in_bot(bot))?;
        Ok(ids.into_iter().map(ChunkId::from_stored).collect())
    }

    async fn chunks_without_vector(
        &self,
        bot: &BotName,
        model: &str,
        limit: usize,
    ) -> Result<Vec<PendingChunk>, PersistError> {
        let (bot_name, model) = (bot.as_str().to_owned(), model.to_owned());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .read(move |conn| {
                kb_chunks::table
                    .filter(kb_chunks::bot.eq(&bot_name))
                    .filter(kb_chunks::model.is_null().or(kb_chunks::model.ne(&model)))
                    .order((kb_chunks::doc_key, kb_chunks::ordinal, kb_chunks::chunk_id))
                    .select((
                        kb_chunks::doc_key,
                        kb_chunks::chunk_id,
                        kb_chunks::heading,
                        kb_chunks::text,
                    ))
                    .limit(limit)
                    .load(conn)
            })
            .await
            .map_err(in_bot(bot))?;
        Ok(decode_pending(rows))
    }

    async fn set_vectors(
        &self,
        bot: &BotName,
        model: &str,
        vectors: &[(ChunkId, Vec<f32>)],
    ) -> Result<(), PersistError> {
        let (bot_name, model) = (bot.as_str().to_owned(), model.to_owned());
        let updates: Vec<(String, i32, Vec<u8>)> = vectors
            .iter()
            .map(|(id, v)| {
                (id.as_str().to_owned(), dimension(v), drive_core::knowledge::vector_to_bytes(v))
            })
            .collect();
        self.write(move |conn| {
            let updated_at = now().as_nanos();
            for (id, dim, bytes) in updates {
                let one = kb_chunks::bot.eq(&bot_name).and(kb_chunks::chunk_id.eq(id));
                diesel::update(kb_chunks::table.filter(one))
                    .set((
                        kb_chunks::model.eq(&model),
                        kb_chunks::dim.eq(dim),
                        kb_chunks::vector.eq(bytes),
                        kb_chunks::updated_at.eq(updated_at),
                    ))
                    .execute(conn)?;
            }
            Ok(())
        })
        .await
        .map_err(in_bot(bot))
    }

    async fn search(
        &self,
        bot: &BotName,
        query: &SearchQuery,
    ) -> Result<Vec<SearchHit>, PersistError> {
        let (bot_name, query) = (bot.as_str().to_owned(), query.clone());
        self.read(move |conn| {
            let collection = query.collection.clone().unwrap_or_default();
            let lexical = match lexical_terms(&query, " OR ") {
                Some(terms) => diesel::sql_query(LEXICAL_SQL)
                    .bind::<Text, _>(terms)
                    .bind::<Text, _>(&bot_name)
                    .bind::<Text, _>(&collection)
                    .bind::<Text, _>(&collection)
                    .load::<IdRow>(conn)?,
                None => Vec::new(),
            };
            let vectors = match &query.vector {
                Some((model, vector)) => {
                    let mut select = kb_chunks::table
                        .filter(kb_chunks::bot.eq(&bot_name))
                        .filter(kb_chunks::model.eq(model))
                        .filter(kb_chunks::dim.eq(dimension(vector)))
                        .select((kb_chunks::chunk_id, kb_chunks::vector.assume_not_null()))
                        .into_boxed();
                    if let Some(collection) = &query.collection {
                        select = select.filter(kb_chunks::collection.eq(collection));
                    }
                    decode_vectors(select.load(conn)?)
                }
                None => Vec::new(),
            };
            let ranked = fuse(&query, lexical, vectors);
            let ids: Vec<&str> = ranked.iter().map(|(id, ..)| id.as_str()).collect();
            let rows = kb_chunks::table
                .filter(kb_chunks::bot.eq(&bot_name))
                .filter(kb_chunks::chunk_id.eq_any(&ids))
                .select((
                    kb_chunks::chunk_id,
                    kb_chunks::doc_key,
                    kb_chunks::collection,
                    kb_chunks::ordinal,
                    kb_chunks::heading,
                    kb_chunks::text,
                ))
                .load(conn)?;
            Ok(assemble_hits(ranked, rows))
        })
        .await
        .map_err(in_bot(bot))
    }

    async fn stats(&self, bot: &BotName) -> Result<KnowledgeStats, PersistError> {
        let bot_name = bot.as_str().to_owned();
        let rows = self
            .read(move |conn| {
                kb_chunks::table
                    .filter(kb_chunks::bot.eq(&bot_name))
                    .select((kb_chunks::doc_key, kb_chunks::model))
                    .load(conn)
            })
            .await
            .map_err(in_bot(bot))?;
        Ok(count_stats(rows))
    }

    async fn document_hashes(
        &self,
        bot: &BotName,
    ) -> Result<Vec<(ObjectKey, ContentHash)>, PersistError> {
        let bot_name = bot.as_str().to_owned();
        let rows = self
            .read(move |conn| {
                kb_documents::table
                    .filter(kb_documents::bot.eq(&bot_name))
                    .select((kb_documents::doc_key, kb_documents::content_hash))
                    .load(conn)
            })
            .await
            .map_err(in_bot(bot))?;
        Ok(decode_hashes(rows))
    }

    async fn repair(&self, bot: &BotName) -> Result<RepairReport, PersistError> {
        let bot_name = bot.as_str().to_owned();
        self.write(move |conn| {
            let mut report =
                RepairReport { schema_rebuilt: repair_schema(conn)?, ..Default::default() };
            report.orphans_removed = diesel::sql_query(orphans_sql("?", "?"))
                .bind::<Text, _>(&bot_name)
                .bind::<Text, _>(&bot_name)
                .execute(conn)?;
            let damaged: Vec<DamagedRow> = diesel::sql_query(damaged_sql("?", "?"))
                .bind::<Text, _>(&bot_name)
                .bind::<Text, _>(&bot_name)
                .load(conn)?;
            for DamagedRow { doc_key } in damaged {
                report.chunks_restored += restore_document(conn, &bot_name, &doc_key)?;
            }
            let documents: i64 = kb_documents::table
                .filter(kb_documents::bot.eq(&bot_name))
                .count()
                .get_result(conn)?;
            report.documents = usize::try_from(documents).unwrap_or(0);
            Ok(report)
        })
        .await
        .map_err(in_bot(bot))
    }
}

/// Recreates missing schema objects and rebuilds the lexical index when it was recreated
/// or no longer matches its content table; returns whether anything was rebuilt.
fn repair_schema(conn: &mut SqliteConnection) -> QueryResult<bool> {
    let listed = SCHEMA_OBJECTS.iter().map(|name| format!("'{name}'")).collect::<Vec<_>>();
    let present: Vec<NameRow> = diesel::sql_query(format!(
        "SELECT name FROM sqlite_master WHERE name IN ({})",
        listed.join(", ")
    ))
    .load(conn)?;
    if present.len() < SCHEMA_OBJECTS.len() {
        let names: Vec<String> = present.into_iter().map(|row| row.name).collect();
        tracing::warn!(present = ?names, "knowledge tables incomplete, recreating them");
        conn.batch_execute(CHUNKS_DDL)?;
        conn.batch_execute(DOCUMENTS_DDL)?;
        conn.batch_execute("INSERT INTO kb_chunks_fts (kb_chunks_fts) VALUES ('rebuild');")?;
        return Ok(true);
    }
    let check = "INSERT INTO kb_chunks_fts (kb_chunks_fts, rank) VALUES ('integrity-check', 1);";
    if let Err(err) = conn.batch_execute(check) {
        tracing::warn!(error = %err, "lexical index does not match the chunks, rebuilding it");
        conn.batch_execute("INSERT INTO kb_chunks_fts (kb_chunks_fts) VALUES ('rebuild');")?;
        return Ok(true);
    }
    Ok(false)
}

/// Restores the chunk rows of one document from its stored list; returns how many.
fn restore_document(conn: &mut SqliteConnection, bot: &str, key: &str) -> QueryResult<usize> {
    let document: DocumentRow = kb_documents::table
        .filter(kb_documents::bot.eq(bot))
        .filter(kb_documents::doc_key.eq(key))
        .select(DocumentRow::as_select())
        .first(conn)?;
    let present: Vec<String> = kb_chunks::table
        .filter(kb_chunks::bot.eq(bot))
        .filter(kb_chunks::doc_key.eq(key))
        .select(kb_chunks::chunk_id)
        .load(conn)?;
    let (missing, extra) = restoration(&document, &present);
    for ids in extra.chunks(IDS_PER_STATEMENT) {
        let doomed = kb_chunks::bot.eq(bot).and(kb_chunks::chunk_id.eq_any(ids));
        diesel::delete(kb_chunks::table.filter(doomed)).execute(conn)?;
    }
    let mut restored = 0;
    for row in &missing {
        restored += diesel::insert_into(kb_chunks::table)
            .values(row)
            .on_conflict((kb_chunks::bot, kb_chunks::chunk_id))
            .do_nothing()
            .execute(conn)?;
    }
    Ok(restored)
}
