//! The knowledge index on SQLite: every call is one blocking task, writes one immediate
//! transaction; the lexical half is FTS5 ranked by BM25.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::Text;

use drive_core::{
    BotName, ChunkId, IndexedDocument, KnowledgeIndex, KnowledgeStats, ObjectKey, PersistError,
    SearchHit, SearchQuery,
};

use super::{
    DocumentPlan, IDS_PER_STATEMENT, IdRow, assemble_hits, count_stats, decode_vectors, dimension,
    fuse, kb_chunks, lexical_terms, placement_columns, vector_columns,
};
use crate::SqliteDatabase;
use crate::error::in_bot;
use crate::plan::now;

/// The lexical half: chunks of the bot matching any term, best BM25 first.
const LEXICAL_SQL: &str = "SELECT c.chunk_id FROM kb_chunks_fts f \
     JOIN kb_chunks c ON c.rowid = f.rowid \
     WHERE kb_chunks_fts MATCH ? AND c.bot = ? AND (? = '' OR c.collection = ?) \
     ORDER BY bm25(kb_chunks_fts) LIMIT 50";

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
            Ok(())
        })
        .await
        .map_err(in_bot(bot))
    }

    async fn remove_document(&self, bot: &BotName, key: &ObjectKey) -> Result<(), PersistError> {
        let (bot_name, key) = (bot.as_str().to_owned(), key.as_str().to_owned());
        self.write(move |conn| {
            let doomed = kb_chunks::bot.eq(&bot_name).and(kb_chunks::doc_key.eq(&key));
            diesel::delete(kb_chunks::table.filter(doomed)).execute(conn).map(drop)
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
    ) -> Result<Vec<(ObjectKey, ChunkId, String)>, PersistError> {
        let (bot_name, model) = (bot.as_str().to_owned(), model.to_owned());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<(String, String, String)> = self
            .read(move |conn| {
                kb_chunks::table
                    .filter(kb_chunks::bot.eq(&bot_name))
                    .filter(kb_chunks::model.is_null().or(kb_chunks::model.ne(&model)))
                    .order((kb_chunks::doc_key, kb_chunks::ordinal, kb_chunks::chunk_id))
                    .select((kb_chunks::doc_key, kb_chunks::chunk_id, kb_chunks::text))
                    .limit(limit)
                    .load(conn)
            })
            .await
            .map_err(in_bot(bot))?;
        Ok(rows
            .into_iter()
            .map(|(key, id, text)| (ObjectKey::new(key), ChunkId::from_stored(id), text))
            .collect())
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
}
