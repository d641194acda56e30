//! The script registry on SQLite, one blocking task per call.

use async_trait::async_trait;
use diesel::prelude::*;

use drive_core::{
    BotName, CompiledScript, ContentHash, Diagnostic, ObjectKey, PersistError, RegisteredTool,
    ScriptRegistry, ScriptState,
};

use super::{ScriptRow, decode_tools, failure_columns, flatten_entries, one_script};
use crate::SqliteDatabase;
use crate::error::in_bot;
use crate::schema::{scripts, set_columns_from_excluded};

#[async_trait]
impl ScriptRegistry for SqliteDatabase {
    async fn publish(
        &self,
        bot: &BotName,
        script: &CompiledScript,
    ) -> Result<Vec<ObjectKey>, PersistError> {
        let row = ScriptRow::published(bot, script);
        let keys: Vec<String> = self
            .write(move |conn| {
                diesel::insert_into(scripts::table)
                    .values(&row)
                    .on_conflict((scripts::bot, scripts::key))
                    .do_update()
                    .set(set_columns_from_excluded!(scripts))
                    .execute(conn)?;
                let Some(name) = &row.tool_name else { return Ok(Vec::new()) };
                scripts::table
                    .filter(scripts::bot.eq(&row.bot))
                    .filter(scripts::tool_name.eq(name))
                    .filter(scripts::key.ne(&row.key))
                    .select(scripts::key)
                    .order(scripts::key)
                    .load(conn)
            })
            .await
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
        self.write(move |conn| {
            diesel::insert_into(scripts::table)
                .values(&row)
                .on_conflict((scripts::bot, scripts::key))
                .do_update()
                .set(failure_columns!())
                .execute(conn)
                .map(drop)
        })
        .await
        .map_err(in_bot(bot))
    }

    async fn remove(&self, bot: &BotName, key: &ObjectKey) -> Result<(), PersistError> {
        let (bot_name, key) = (bot.as_str().to_owned(), key.as_str().to_owned());
        self.write(move |conn| {
            diesel::delete(scripts::table.filter(one_script!(&bot_name, &key)))
                .execute(conn)
                .map(drop)
        })
        .await
        .map_err(in_bot(bot))
    }

    async fn tools(&self, bot: &BotName) -> Result<Vec<RegisteredTool>, PersistError> {
        let bot_name = bot.as_str().to_owned();
        let rows = self
            .read(move |conn| {
                scripts::table
                    .filter(scripts::bot.eq(&bot_name))
                    .filter(scripts::tool_name.is_not_null())
                    .select(ScriptRow::as_select())
                    .load(conn)
            })
            .await
            .map_err(in_bot(bot))?;
        Ok(decode_tools(rows))
    }

    async fn script(
        &self,
        bot: &BotName,
        key: &ObjectKey,
    ) -> Result<Option<ScriptState>, PersistError> {
        let (bot_name, key) = (bot.as_str().to_owned(), key.as_str().to_owned());
        let row = self
            .read(move |conn| {
                scripts::table
                    .filter(one_script!(&bot_name, &key))
                    .select(ScriptRow::as_select())
                    .first(conn)
                    .optional()
            })
            .await
            .map_err(in_bot(bot))?;
        row.map(ScriptRow::decode).transpose().map_err(in_bot(bot))
    }

    async fn schedules(&self, bot: &BotName) -> Result<Vec<(ObjectKey, String)>, PersistError> {
        let bot_name = bot.as_str().to_owned();
        let rows = self
            .read(move |conn| {
                scripts::table
                    .filter(scripts::bot.eq(&bot_name))
                    .select((scripts::key, scripts::schedules))
                    .load(conn)
            })
            .await
            .map_err(in_bot(bot))?;
        Ok(flatten_entries(rows))
    }

    async fn webhooks(&self, bot: &BotName) -> Result<Vec<(ObjectKey, String)>, PersistError> {
        let bot_name = bot.as_str().to_owned();
        let rows = self
            .read(move |conn| {
                scripts::table
                    .filter(scripts::bot.eq(&bot_name))
                    .select((scripts::key, scripts::webhooks))
                    .load(conn)
            })
            .await
            .map_err(in_bot(bot))?;
        Ok(flatten_entries(rows))
    }
}
