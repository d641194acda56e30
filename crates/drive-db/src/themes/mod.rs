//! Theme files on both backends: one `theme_assets` row per file with its content, so that
//! the server can serve every file after a restart without re-reading the storage.
//!
//! A row belongs to the object it came from (`source_key`): removing an object deletes only
//! the row it provided, so a path that another `*.gbtheme/` folder took over stays.
//!
//! Known limits: a file's content is read whole into memory to be served (the monitor caps
//! theme files at 20 MiB by default); listings skip the content column.

mod postgres;
mod sqlite;

use bytes::Bytes;
use diesel::prelude::*;

use drive_core::{
    BotName, ContentHash, ObjectKey, PersistError, ThemeAsset, ThemeAssetInfo, ThemePath,
};

use crate::plan::now;
use crate::schema::theme_assets;

/// One row of `theme_assets`.
#[derive(Clone, Debug, PartialEq, Eq, Insertable)]
#[diesel(table_name = theme_assets)]
pub(crate) struct ThemeAssetRow {
    bot: String,
    path: String,
    source_key: String,
    content_hash: String,
    size: i64,
    content: Vec<u8>,
    updated_at: i64,
}

impl ThemeAssetRow {
    pub(super) fn new(
        bot: &BotName,
        source: &ObjectKey,
        path: &ThemePath,
        bytes: &Bytes,
        hash: &ContentHash,
    ) -> Self {
        Self {
            bot: bot.as_str().to_owned(),
            path: path.as_str().to_owned(),
            source_key: source.as_str().to_owned(),
            content_hash: hash.to_hex(),
            size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
            content: bytes.to_vec(),
            updated_at: now().as_nanos(),
        }
    }
}

/// A row without its content: path, hash and size.
pub(super) type InfoColumns = (String, String, i64);

/// The columns of [`InfoColumns`].
pub(super) const INFO_COLUMNS: (
    theme_assets::path,
    theme_assets::content_hash,
    theme_assets::size,
) = (theme_assets::path, theme_assets::content_hash, theme_assets::size);

/// Returns the file a row describes.
///
/// # Errors
/// [`PersistError::Corrupt`] naming the bot and path when the path or hash cannot be read.
pub(super) fn decode_info(
    bot: &BotName,
    (path, hash, size): InfoColumns,
) -> Result<ThemeAssetInfo, PersistError> {
    let corrupt =
        |what: &str| PersistError::Corrupt(format!("bot {bot:?} theme file {path:?}: bad {what}"));
    let info = ThemeAssetInfo {
        path: ThemePath::new(path.as_str()).ok_or_else(|| corrupt("path"))?,
        hash: ContentHash::from_hex(&hash).ok_or_else(|| corrupt("content hash"))?,
        size: u64::try_from(size).map_err(|_| corrupt("size"))?,
    };
    Ok(info)
}

/// Returns the files of `rows`, sorted by path.
///
/// # Errors
/// As [`decode_info`], for the first row that cannot be read.
pub(super) fn decode_infos(
    bot: &BotName,
    rows: Vec<InfoColumns>,
) -> Result<Vec<ThemeAssetInfo>, PersistError> {
    let mut infos =
        rows.into_iter().map(|row| decode_info(bot, row)).collect::<Result<Vec<_>, _>>()?;
    // Sorted here rather than in SQL, so that the order is bytewise whatever the collation.
    infos.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(infos)
}

/// Returns the file a row with content describes.
pub(super) fn decode_asset(
    bot: &BotName,
    (path, hash, size, content): (String, String, i64, Vec<u8>),
) -> Result<ThemeAsset, PersistError> {
    let info = decode_info(bot, (path, hash, size))?;
    Ok(ThemeAsset { info, bytes: Bytes::from(content) })
}

/// Returns a filter for the row of one path.
macro_rules! one_asset {
    ($bot:expr, $path:expr) => {
        theme_assets::bot.eq($bot).and(theme_assets::path.eq($path))
    };
}

/// Returns a filter for the rows one object provided.
macro_rules! from_source {
    ($bot:expr, $source:expr) => {
        theme_assets::bot.eq($bot).and(theme_assets::source_key.eq($source))
    };
}

/// The `SET` of an upsert: every column but the key.
macro_rules! replace_columns {
    () => {
        $crate::schema::set_from_excluded!(theme_assets: source_key, content_hash, size,
            content, updated_at)
    };
}

pub(super) use {from_source, one_asset, replace_columns};
