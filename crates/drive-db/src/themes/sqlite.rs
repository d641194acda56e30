//! Theme files on SQLite, one blocking task per call.

use async_trait::async_trait;
use bytes::Bytes;
use diesel::prelude::*;

use drive_core::{
    BotName, ContentHash, ObjectKey, PersistError, ThemeAsset, ThemeAssetInfo, ThemeAssetStore,
    ThemePath,
};

use super::{
    INFO_COLUMNS, ThemeAssetRow, decode_asset, decode_infos, from_source, one_asset,
    replace_columns,
};
use crate::SqliteDatabase;
use crate::error::in_bot;
use crate::schema::theme_assets;

#[async_trait]
impl ThemeAssetStore for SqliteDatabase {
    async fn put_asset(
        &self,
        bot: &BotName,
        source: &ObjectKey,
        path: &ThemePath,
        bytes: &Bytes,
        hash: &ContentHash,
    ) -> Result<(), PersistError> {
        let row = ThemeAssetRow::new(bot, source, path, bytes, hash);
        self.write(move |conn| {
            diesel::insert_into(theme_assets::table)
                .values(&row)
                .on_conflict((theme_assets::bot, theme_assets::path))
                .do_update()
                .set(replace_columns!())
                .execute(conn)
                .map(drop)
        })
        .await
        .map_err(in_bot(bot))
    }

    async fn remove_asset(
        &self,
        bot: &BotName,
        source: &ObjectKey,
    ) -> Result<Option<ThemePath>, PersistError> {
        let (bot_name, source_key) = (bot.as_str().to_owned(), source.as_str().to_owned());
        let removed: Vec<String> = self
            .write(move |conn| {
                let paths = theme_assets::table
                    .filter(from_source!(&bot_name, &source_key))
                    .select(theme_assets::path)
                    .load(conn)?;
                diesel::delete(theme_assets::table.filter(from_source!(&bot_name, &source_key)))
                    .execute(conn)?;
                Ok(paths)
            })
            .await
            .map_err(in_bot(bot))?;
        Ok(removed.into_iter().min().and_then(ThemePath::new))
    }

    async fn asset(
        &self,
        bot: &BotName,
        path: &ThemePath,
    ) -> Result<Option<ThemeAsset>, PersistError> {
        let (bot_name, path) = (bot.as_str().to_owned(), path.as_str().to_owned());
        let row = self
            .read(move |conn| {
                theme_assets::table
                    .filter(one_asset!(&bot_name, &path))
                    .select((
                        theme_assets::path,
                        theme_assets::content_hash,
                        theme_assets::size,
                        theme_assets::content,
                    ))
                    .first(conn)
                    .optional()
            })
            .await
            .map_err(in_bot(bot))?;
        row.map(|row| decode_asset(bot, row)).transpose()
    }

    async fn assets(&self, bot: &BotName) -> Result<Vec<ThemeAssetInfo>, PersistError> {
        let bot_name = bot.as_str().to_owned();
        let rows = self
            .read(move |conn| {
                theme_assets::table
                    .filter(theme_assets::bot.eq(&bot_name))
                    .select(INFO_COLUMNS)
                    .load(conn)
            })
            .await
            .map_err(in_bot(bot))?;
        decode_infos(bot, rows)
    }
}
