//! The script registry on PostgreSQL.

use async_trait::async_trait;
use diesel::{
    BoolExpressionMethods as _, ExpressionMethods as _, OptionalExtension as _, QueryDsl as _,
    SelectableHelper as _,
};
use diesel_async::RunQueryDsl as _;

use drive_core::{
    BotName, CompiledScript, ContentHash, Diagnostic, ObjectKey, PersistError, RegisteredTool,
    ScriptRegistry, ScriptState,
};

use super::{ScriptRow, decode_tools, failure_columns, flatten_entries, one_script};
use crate::PgDatabase;
use crate::error::{in_bot, query_failed};
use crate::schema::{scripts, set_columns_from_excluded};

#[async_trait]
impl ScriptRegistry for PgDatabase {
    async fn publish(
        &self,
        bot: &BotName,
        script: &CompiledScript,
    ) -> Result<Vec<ObjectKey>, PersistError> {
        let row = ScriptRow::published(bot, script);
        let mut conn = self.conn().await?;
        diesel::insert_into(scripts::table)
            .values(&row)
            .on_conflict((scripts::bot, scripts::key))
            .do_update()
            .set(set_columns_from_excluded!(scripts))
            .execute(&mut conn)
            .await
            .map_err(query_failed)
            .map_err(in_bot(bot))?;
        let Some(name) = &row.tool_name else { return Ok(Vec::new()) };
        let keys: Vec<String> = scripts::table
            .filter(scripts::bot.eq(&row.bot))
            .filter(scripts::tool_name.eq(name))
            .filter(scripts::key.ne(&row.key))
            .select(scripts::key)
            .order(scripts::key)
            .load(&mut conn)
            .await
            .map_err(query_failed)
            .map_err(in_bot(bot))?;
        Ok(keys.into_iter().map(ObjectKey::new).collect())
    }

    async fn record_failure(
        &self,
        bot: &BotName,
        key: &ObjectKey,
        content_hash: &ContentHash,
        diagnostics: &[Diagnostic],
    ) -> Result<(), PersistError> {
        let row = ScriptRow::failed(bot, key, content_hash, diagnostics);
        diesel::insert_into(scripts::table)
            .values(&row)
            .on_conflict((scripts::bot, scripts::key))
            .do_update()
            .set(failure_columns!())
            .execute(&mut self.conn().await?)
            .await
            .map(drop)
            .map_err(query_failed)
            .map_err(in_bot(bot))
    }

    async fn remove(&self, bot: &BotName, key: &ObjectKey) -> Result<(), PersistError> {
        diesel::delete(scripts::table.filter(one_script!(bot.as_str(), key.as_str())))
            .execute(&mut self.conn().await?)
            .await
            .map(drop)
            .map_err(query_failed)
            .map_err(in_bot(bot))
    }

    async fn tools(&self, bot: &BotName) -> Result<Vec<RegisteredTool>, PersistError> {
        let rows = scripts::table
            .filter(scripts::bot.eq(bot.as_str()))
            .filter(scripts::tool_name.is_not_null())
            .select(ScriptRow::as_select())
            .load(&mut self.conn().await?)
            .await
            .map_err(query_failed)
            .map_err(in_bot(bot))?;
        Ok(decode_tools(rows))
    }

    async fn script(
        &self,
        bot: &BotName,
        key: &ObjectKey,
    ) -> Result<Option<ScriptState>, PersistError> {
        let row = scripts::table
            .filter(one_script!(bot.as_str(), key.as_str()))
            .select(ScriptRow::as_select())
            .first(&mut self.conn().await?)
            .await
            .optional()
            .map_err(query_failed)
            .map_err(in_bot(bot))?;
        row.map(ScriptRow::decode).transpose().map_err(in_bot(bot))
    }

    async fn schedules(&self, bot: &BotName) -> Result<Vec<(ObjectKey, String)>, PersistError> {
        let rows = scripts::table
            .filter(scripts::bot.eq(bot.as_str()))
            .select((scripts::key, scripts::schedules))
            .load(&mut self.conn().await?)
            .await
            .map_err(query_failed)
            .map_err(in_bot(bot))?;
        Ok(flatten_entries(rows))
    }

    async fn webhooks(&self, bot: &BotName) -> Result<Vec<(ObjectKey, String)>, PersistError> {
        let rows = scripts::table
            .filter(scripts::bot.eq(bot.as_str()))
            .select((scripts::key, scripts::webhooks))
            .load(&mut self.conn().await?)
            .await
            .map_err(query_failed)
            .map_err(in_bot(bot))?;
        Ok(flatten_entries(rows))
    }
}
