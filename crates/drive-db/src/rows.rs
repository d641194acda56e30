//! Rows as stored, and their translation to and from drive-core's types.
//!
//! Encoding never fails. Decoding checks everything the database cannot (kind and status
//! names, hex digests, the fields a status needs) and reports a row it cannot read as
//! [`PersistError::Corrupt`] naming the bot and key, never by panicking.
//!
//! Sizes are `u64` in drive-core and `BIGINT` here: they are stored as the `i64` with the
//! same bits, so the rare size above `i64::MAX` reads back exactly but sorts as negative in
//! SQL. Nothing here sorts or sums sizes in SQL.

use std::str::FromStr;

use diesel::prelude::*;
use serde::Deserialize;
use serde::de::IntoDeserializer;
use serde::de::value::{Error as ValueError, StrDeserializer};

use drive_core::{
    BotName, ContentHash, ETag, FileRecord, FileStatus, Kind, ObjectKey, ObjectMeta, PersistError,
    Timestamp,
};

use crate::error::unavailable;
use crate::schema::{file_state, prompts, settings};

/// One row of `file_state`: a [`FileRecord`] of one bot.
#[derive(Clone, Debug, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = file_state)]
// Explicit NULLs rather than DEFAULT keep multi-row inserts to one statement on SQLite.
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct FileStateRow {
    pub(crate) bot: String,
    pub(crate) key: String,
    pub(crate) kind: String,
    pub(crate) etag: Option<String>,
    pub(crate) size: i64,
    pub(crate) last_modified: Option<i64>,
    pub(crate) content_hash: Option<String>,
    pub(crate) live_etag: Option<String>,
    pub(crate) live_size: Option<i64>,
    pub(crate) live_last_modified: Option<i64>,
    pub(crate) live_content_hash: Option<String>,
    pub(crate) status: String,
    pub(crate) attempts: Option<i64>,
    pub(crate) last_error: Option<String>,
    pub(crate) next_retry: Option<i64>,
    pub(crate) updated_at: i64,
}

/// One row of `settings`.
#[derive(Clone, Debug, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = settings)]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct SettingRow {
    pub(crate) bot: String,
    pub(crate) name: String,
    pub(crate) value: String,
    pub(crate) source_key: String,
    pub(crate) updated_at: i64,
}

/// One row of `prompts`.
#[derive(Clone, Debug, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = prompts)]
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct PromptRow {
    pub(crate) bot: String,
    pub(crate) source_key: String,
    pub(crate) text: String,
    pub(crate) updated_at: i64,
}

impl PromptRow {
    pub(crate) fn new(bot: &BotName, source: &ObjectKey, text: &str, now: Timestamp) -> Self {
        Self {
            bot: bot.as_str().to_owned(),
            source_key: source.as_str().to_owned(),
            text: text.to_owned(),
            updated_at: now.as_nanos(),
        }
    }
}

/// Decodes the rows of a `load`; large loads decode on the blocking pool, off the runtime.
///
/// # Errors
/// [`PersistError::Corrupt`] for the first row that cannot be decoded.
pub(crate) async fn decode_records(
    rows: Vec<FileStateRow>,
) -> Result<Vec<FileRecord>, PersistError> {
    const INLINE_ROWS: usize = 1_000;
    if rows.len() <= INLINE_ROWS {
        return rows.into_iter().map(FileStateRow::decode).collect();
    }
    tokio::task::spawn_blocking(move || rows.into_iter().map(FileStateRow::decode).collect())
        .await
        .map_err(unavailable)?
}

/// Returns the stored bot names as [`BotName`]s, sorted.
///
/// # Errors
/// [`PersistError::Corrupt`] for a name that is not a valid bot name.
pub(crate) fn decode_bots(names: Vec<String>) -> Result<Vec<BotName>, PersistError> {
    let mut bots = names
        .into_iter()
        .map(|name| BotName::new(name).map_err(|err| PersistError::Corrupt(err.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    bots.sort_unstable();
    Ok(bots)
}

impl FileStateRow {
    /// Returns the row storing `record` for `bot`, stamped `updated_at`.
    ///
    /// The key of `record.live` is not stored: a record's versions share its key.
    pub(crate) fn encode(bot: &BotName, record: &FileRecord, updated_at: Timestamp) -> Self {
        let current = &record.current;
        let live = record.live.as_ref();
        let (attempts, last_error, next_retry) = match &record.status {
            FileStatus::Live | FileStatus::Unhandled => (None, None, None),
            FileStatus::Retrying { attempts, error, next_retry } => {
                (Some(i64::from(*attempts)), Some(error.clone()), Some(next_retry.as_nanos()))
            }
            FileStatus::Invalid { error } => (None, Some(error.clone()), None),
        };
        Self {
            bot: bot.as_str().to_owned(),
            key: current.key.as_str().to_owned(),
            kind: record.kind.as_str().to_owned(),
            etag: current.etag.as_ref().map(|tag| tag.as_str().to_owned()),
            size: size_to_column(current.size),
            last_modified: current.last_modified.map(Timestamp::as_nanos),
            content_hash: current.content_hash.map(|hash| hash.to_hex()),
            live_etag: live.and_then(|meta| meta.etag.as_ref()).map(|tag| tag.as_str().to_owned()),
            live_size: live.map(|meta| size_to_column(meta.size)),
            live_last_modified: live.and_then(|meta| meta.last_modified).map(Timestamp::as_nanos),
            live_content_hash: live.and_then(|meta| meta.content_hash).map(|hash| hash.to_hex()),
            status: record.status.name().to_owned(),
            attempts,
            last_error,
            next_retry,
            updated_at: updated_at.as_nanos(),
        }
    }

    /// Returns the record this row stores.
    ///
    /// # Errors
    /// [`PersistError::Corrupt`] naming the bot and key when a column holds something no
    /// record encodes to.
    pub(crate) fn decode(self) -> Result<FileRecord, PersistError> {
        let corrupt = |what: String| {
            PersistError::Corrupt(format!("bot {:?} key {:?}: {what}", self.bot, self.key))
        };
        let kind = Kind::from_str(&self.kind).map_err(|err| corrupt(err.to_string()))?;
        let status = self.decode_status().map_err(&corrupt)?;
        let key = ObjectKey::new(self.key.as_str());
        let current = ObjectMeta {
            key: key.clone(),
            etag: decode_etag(self.etag.as_deref()).map_err(&corrupt)?,
            size: size_from_column(self.size),
            last_modified: self.last_modified.map(Timestamp::from_nanos),
            content_hash: decode_hash(self.content_hash.as_deref()).map_err(&corrupt)?,
        };
        let live = self.decode_live(key).map_err(&corrupt)?;
        Ok(FileRecord { kind, current, live, status })
    }

    fn decode_status(&self) -> Result<FileStatus, String> {
        match self.status.as_str() {
            "live" => Ok(FileStatus::Live),
            "unhandled" => Ok(FileStatus::Unhandled),
            "retrying" => {
                let (Some(attempts), Some(error), Some(next_retry)) =
                    (self.attempts, &self.last_error, self.next_retry)
                else {
                    return Err("retrying status without attempts, error or next retry".into());
                };
                let attempts = u32::try_from(attempts)
                    .map_err(|_| format!("attempts {attempts} out of range"))?;
                let next_retry = Timestamp::from_nanos(next_retry);
                Ok(FileStatus::Retrying { attempts, error: error.clone(), next_retry })
            }
            "invalid" => match &self.last_error {
                Some(error) => Ok(FileStatus::Invalid { error: error.clone() }),
                None => Err("invalid status without an error".into()),
            },
            other => Err(format!("unknown status {other:?}")),
        }
    }

    fn decode_live(&self, key: ObjectKey) -> Result<Option<ObjectMeta>, String> {
        let Some(size) = self.live_size else {
            let orphans = self.live_etag.is_some()
                || self.live_last_modified.is_some()
                || self.live_content_hash.is_some();
            return if orphans { Err("live version without a size".into()) } else { Ok(None) };
        };
        Ok(Some(ObjectMeta {
            key,
            etag: decode_etag(self.live_etag.as_deref())?,
            size: size_from_column(size),
            last_modified: self.live_last_modified.map(Timestamp::from_nanos),
            content_hash: decode_hash(self.live_content_hash.as_deref())?,
        }))
    }
}

/// Returns the `BIGINT` holding `size`: the `i64` with the same bits.
fn size_to_column(size: u64) -> i64 {
    i64::from_ne_bytes(size.to_ne_bytes())
}

fn size_from_column(size: i64) -> u64 {
    u64::from_ne_bytes(size.to_ne_bytes())
}

/// Returns the stored tag exactly as it was written.
///
/// Stored tags are already normalised, and normalising twice is not always a no-op (a tag
/// whose text starts with `w/` inside its quotes loses it the second time), so the tag is
/// rebuilt through its serde form, which takes the text verbatim, rather than
/// [`ETag::parse`].
fn decode_etag(text: Option<&str>) -> Result<Option<ETag>, String> {
    let Some(text) = text else { return Ok(None) };
    let deserializer: StrDeserializer<'_, ValueError> = text.into_deserializer();
    ETag::deserialize(deserializer).map(Some).map_err(|err| format!("bad etag: {err}"))
}

fn decode_hash(text: Option<&str>) -> Result<Option<ContentHash>, String> {
    let Some(text) = text else { return Ok(None) };
    match ContentHash::from_hex(text) {
        Some(hash) => Ok(Some(hash)),
        None => Err(format!("content hash {text:?} is not 64 hex digits")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bot() -> BotName {
        BotName::new("crm").unwrap()
    }

    fn full_meta(key: &str) -> ObjectMeta {
        ObjectMeta {
            key: ObjectKey::new(key),
            etag: ETag::parse("\"W/abc\""),
            size: u64::MAX,
            last_modified: Some(Timestamp::from_nanos(-5)),
            content_hash: Some(ContentHash::of(b"x")),
        }
    }

    #[track_caller]
    fn check(record: FileRecord) {
        let row = FileStateRow::encode(&bot(), &record, Timestamp::from_nanos(1));
        assert_eq!(row.decode().unwrap(), record);
    }

    #[test]
    fn every_status_and_version_shape_round_trips() {
        let retrying = FileStatus::Retrying {
            attempts: u32::MAX,
            error: "timed out".into(),
            next_retry: Timestamp::from_nanos(i64::MAX),
        };
        for status in [
            FileStatus::Live,
            FileStatus::Unhandled,
            retrying,
            FileStatus::Invalid { error: String::new() },
        ] {
            let key = "crm.gbot/config.csv";
            check(FileRecord {
                kind: Kind::Settings,
                current: full_meta(key),
                live: Some(full_meta(key)),
                status: status.clone(),
            });
            check(FileRecord {
                kind: Kind::Ignored,
                current: ObjectMeta::new(key, 0),
                live: None,
                status,
            });
        }
    }

    #[test]
    fn etags_read_back_verbatim() {
        let tag = ETag::parse("\"W/ABC\"").unwrap();
        assert_eq!(tag.as_str(), "abc");
        assert_eq!(decode_etag(Some(tag.as_str())).unwrap(), Some(tag));
    }

    #[test]
    fn undecodable_rows_are_corrupt_and_name_bot_and_key() {
        let record = FileRecord {
            kind: Kind::Script,
            current: ObjectMeta::new("a.gbdialog/start.bas", 3),
            live: None,
            status: FileStatus::Live,
        };
        let row = FileStateRow::encode(&bot(), &record, Timestamp::from_nanos(1));
        let damaged: [fn(&mut FileStateRow); 7] = [
            |row| row.kind = "macro".into(),
            |row| row.status = "paused".into(),
            |row| row.content_hash = Some("zz".into()),
            |row| row.live_etag = Some("abc".into()),
            |row| row.status = "retrying".into(),
            |row| row.status = "invalid".into(),
            |row| {
                row.status = "retrying".into();
                row.attempts = Some(-1);
                row.last_error = Some("x".into());
                row.next_retry = Some(0);
            },
        ];
        for damage in damaged {
            let mut bad = row.clone();
            damage(&mut bad);
            let err = bad.clone().decode().unwrap_err();
            let PersistError::Corrupt(message) = err else { panic!("{bad:?} gave {err:?}") };
            assert!(message.contains("\"crm\"") && message.contains("start.bas"), "{message}");
        }
    }
}
