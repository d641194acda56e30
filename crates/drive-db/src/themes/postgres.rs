//! Theme files on PostgreSQL.

use async_trait::async_trait;
use bytes::Bytes;
use diesel::{
    BoolExpressionMethods as _, ExpressionMethods as _, OptionalExtension as _, QueryDsl as _,
};
use diesel_async::RunQueryDsl as _;

use drive_core::{
    BotName, ContentHash, ObjectKey, PersistError, ThemeAsset, ThemeAssetInfo, ThemeAssetStore,
    ThemePath,
};

use super::{
    INFO_COLUMNS, ThemeAssetRow, decode_asset, decode_infos, from_source, one_asset,
    replace_columns,
};
use crate::PgDatabase;
use crate::error::{in_bot, query_failed};
use crate::schema::theme_assets;

#[async_trait]
impl ThemeAssetStore for PgDatabase {
    async fn put_asset(
        &self,
        bot: &BotName,
        source: &ObjectKey,
        path: &ThemePath,
        bytes: &Bytes,
        hash: &ContentHash,
    ) -> Result<(), PersistError> {
        let row = ThemeAssetRow::new(bot, source, path, bytes, hash);
        diesel::insert_into(theme_assets::table)
            .values(&row)
            .on_conflict((theme_assets::bot, theme_assets::path))
            .do_update()
            .set(replace_columns!())
            .execute(&mut self.conn().await?)
            .await
            .map(drop)
            .map_err(query_failed)
            .map_err(in_bot(bot))
    }

    async fn remove_asset(
        &self,
        bot: &BotName,
        source: &ObjectKey,
    ) -> Result<Option<ThemePath>, PersistError> {
        let removed: Vec<String> =
            diesel::delete(theme_assets::table.filter(from_source!(bot.as_str(), source.as_str())))
                .returning(theme_assets::path)
                .get_results(&mut self.conn().await?)
                .await
                .map_err(query_failed)
                .map_err(in_bot(bot))?;
        Ok(removed.into_iter().min().and_then(ThemePath::new))
    }

    async fn asset(
        &self,
        bot: &BotName,
        path: &ThemePath,
    ) -> Result<Option<ThemeAsset>, PersistError> {
        let row = theme_assets::table
            .filter(one_asset!(bot.as_str(), path.as_str()))
            .select((
                theme_assets::path,
                theme_assets::content_hash,
                theme_assets::size,
                theme_assets::content,
            ))
            .first(&mut self.conn().await?)
            .await
            .optional()
            .map_err(query_failed)
            .map_err(in_bot(bot))?;
        row.map(|row| decode_asset(bot, row)).transpose()
    }

    async fn assets(&self, bot: &BotName) -> Result<Vec<ThemeAssetInfo>, PersistError> {
        let rows = theme_assets::table
            .filter(theme_assets::bot.eq(bot.as_str()))
            .select(INFO_COLUMNS)
            .load(&mut self.conn().await?)
            .await
            .map_err(query_failed)
            .map_err(in_bot(bot))?;
        decode_infos(bot, rows)
    }
}
