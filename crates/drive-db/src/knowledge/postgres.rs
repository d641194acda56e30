//! The knowledge index on PostgreSQL: writes are one transaction with multi-row upserts;
//! the lexical half is the generated `lexemes` column ranked by `ts_rank`.

use async_trait::async_trait;
use diesel::sql_types::Text;
use diesel::{
    BoolExpressionMethods as _, ExpressionMethods as _, NullableExpressionMethods as _,
    QueryDsl as _,
};
use diesel_async::{AsyncConnection as _, RunQueryDsl as _};

use drive_core::{
    BotName, ChunkId, IndexedDocument, KnowledgeIndex, KnowledgeStats, ObjectKey, PersistError,
    SearchHit, SearchQuery,
};

use super::{
    DocumentPlan, IDS_PER_STATEMENT, IdRow, assemble_hits, count_stats, decode_vectors, dimension,
    fuse, kb_chunks, lexical_terms, placement_columns, vector_columns,
};
use crate::PgDatabase;
use crate::error::{in_bot, query_failed};
use crate::plan::now;

/// The lexical half: chunks of the bot matching any term, best `ts_rank` first.
const LEXICAL_SQL: &str = "SELECT chunk_id FROM kb_chunks, to_tsquery('simple', $1) query \
     WHERE lexemes @@ query AND bot = $2 AND ($3 = '' OR collection = $3) \
     ORDER BY ts_rank(lexemes, query) DESC, chunk_id LIMIT 50";

/// Rows per multi-row upsert: 11 parameters a row, under PostgreSQL's 65 535.
const ROWS_PER_STATEMENT: usize = 1000;

#[async_trait]
impl KnowledgeIndex for PgDatabase {
    async fn replace_document(
        &self,
        bot: &BotName,
        document: &IndexedDocument,
    ) -> Result<(), PersistError> {
        let plan = DocumentPlan::build(bot, document);
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
            Ok::<_, diesel::result::Error>(())
        })
        .await
        .map_err(query_failed)
        .map_err(in_bot(bot))
    }

    async fn remove_document(&self, bot: &BotName, key: &ObjectKey) -> Result<(), PersistError> {
        let doomed = kb_chunks::bot.eq(bot.as_str()).and(kb_chunks::doc_key.eq(key.as_str()));
        diesel::delete(kb_chunks::table.filter(doomed))
            .execute(&mut self.conn().await?)
            .await
            .map(drop)
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
    ) -> Result<Vec<(ObjectKey, ChunkId, String)>, PersistError> {
        let rows: Vec<(String, String, String)> = kb_chunks::table
            .filter(kb_chunks::bot.eq(bot.as_str()))
            .filter(kb_chunks::model.is_null().or(kb_chunks::model.ne(model)))
            .order((kb_chunks::doc_key, kb_chunks::ordinal, kb_chunks::chunk_id))
            .select((kb_chunks::doc_key, kb_chunks::chunk_id, kb_chunks::text))
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .load(&mut self.conn().await?)
            .await
            .map_err(query_failed)
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
        let updated_at = now().as_nanos();
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
            Ok::<_, diesel::result::Error>(())
        })
        .await
        .map_err(query_failed)
        .map_err(in_bot(bot))
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
        let vectors = match &query.vector {
            Some((model, vector)) => {
                let mut select = kb_chunks::table
                    .filter(kb_chunks::bot.eq(bot.as_str()))
                    .filter(kb_chunks::model.eq(model))
                    .filter(kb_chunks::dim.eq(dimension(vector)))
                    .select((kb_chunks::chunk_id, kb_chunks::vector.assume_not_null()))
                    .into_boxed();
                if let Some(collection) = &query.collection {
                    select = select.filter(kb_chunks::collection.eq(collection));
                }
                decode_vectors(select.load(&mut conn).await.map_err(query_failed)?)
            }
            None => Vec::new(),
        };
        let ranked = fuse(query, lexical, vectors);
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
}
