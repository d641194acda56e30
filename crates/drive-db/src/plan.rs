//! What a write will do, worked out before any SQL runs; shared by both backends.
//!
//! Keeping this pure keeps the two backends' semantics identical: they only differ in how
//! they send the planned rows, and the tests here pin the semantics down without a database.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use diesel::{Queryable, Selectable};
use tokio::runtime::RuntimeFlavor;

use drive_core::{BotName, ObjectKey, Setting, StateUpdate, Timestamp};

use crate::rows::{FileStateRow, SettingRow};
use crate::schema::settings;

/// Rows per multi-row `INSERT` of file state: 16 binds a row stays far below the bind limits
/// of both SQLite (32 766) and PostgreSQL (65 535).
pub(crate) const STATE_ROWS_PER_STATEMENT: usize = 1_000;

/// Keys per `DELETE ... IN (...)`; SQLite sends one bind per key.
pub(crate) const KEYS_PER_STATEMENT: usize = 1_000;

/// Rows per multi-row `INSERT` of settings (5 binds a row).
pub(crate) const SETTINGS_ROWS_PER_STATEMENT: usize = 1_000;

/// The rows one `commit` writes and the keys it deletes.
///
/// When `updates` touch one key several times the last update wins, as if they were applied
/// one after the other; so each key appears at most once here, which multi-row upserts need.
#[derive(Debug)]
pub(crate) struct StatePlan {
    pub(crate) upserts: Vec<FileStateRow>,
    pub(crate) removals: Vec<String>,
}

/// Updates above which planning a commit leaves the async worker: encoding costs a few
/// microseconds per record, mostly content hashes turned into hex.
const INLINE_UPDATES: usize = 1_000;

impl StatePlan {
    /// Plans a commit without stalling the runtime's other tasks.
    ///
    /// Large plans are built under `block_in_place` on a multi-thread runtime, which moves the
    /// worker's other tasks elsewhere meanwhile; `spawn_blocking` would first need a copy of
    /// every update, about as costly as the encoding itself. A current-thread runtime has no
    /// other worker to hand tasks to, so there the plan is built inline.
    pub(crate) fn build(bot: &BotName, updates: &[StateUpdate], now: Timestamp) -> Self {
        if updates.len() <= INLINE_UPDATES {
            return Self::new(bot, updates, now);
        }
        let flavor = tokio::runtime::Handle::try_current().map(|handle| handle.runtime_flavor());
        match flavor {
            Ok(RuntimeFlavor::MultiThread) => {
                tokio::task::block_in_place(|| Self::new(bot, updates, now))
            }
            _ => Self::new(bot, updates, now),
        }
    }

    fn new(bot: &BotName, updates: &[StateUpdate], now: Timestamp) -> Self {
        let mut last_index: HashMap<&ObjectKey, usize> = HashMap::with_capacity(updates.len());
        for (idx, update) in updates.iter().enumerate() {
            last_index.insert(key_of(update), idx);
        }

        let mut plan = Self { upserts: Vec::new(), removals: Vec::new() };
        for (idx, update) in updates.iter().enumerate() {
            if last_index.get(key_of(update)) != Some(&idx) {
                continue;
            }
            match update {
                StateUpdate::Upsert(record) => {
                    plan.upserts.push(FileStateRow::encode(bot, record, now));
                }
                StateUpdate::Remove(key) => plan.removals.push(key.as_str().to_owned()),
            }
        }
        plan
    }
}

fn key_of(update: &StateUpdate) -> &ObjectKey {
    match update {
        StateUpdate::Upsert(record) => record.key(),
        StateUpdate::Remove(key) => key,
    }
}

/// One setting as stored, with the object it came from.
#[derive(Clone, Debug, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = settings)]
pub(crate) struct StoredSetting {
    pub(crate) name: String,
    pub(crate) value: String,
    pub(crate) source_key: String,
}

/// What `replace_settings` writes after deleting the rows of its source, and what it reports.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SettingsPlan {
    /// The new rows of the source, one per name (the last value given wins).
    pub(crate) rows: Vec<SettingRow>,
    /// Names whose effective value changes: added, given a new value, or removed; sorted.
    pub(crate) changed: Vec<String>,
}

impl SettingsPlan {
    /// Plans replacing the settings of `source` by `settings`, given the bot's settings
    /// `before`.
    ///
    /// A name is owned by the last source that set it: setting a name another source
    /// provides moves it here, and removing that other source later leaves it alone.
    pub(crate) fn new(
        bot: &BotName,
        source: &ObjectKey,
        before: &[StoredSetting],
        settings: &[Setting],
        now: Timestamp,
    ) -> Self {
        let mut incoming: BTreeMap<&str, &str> = BTreeMap::new();
        for setting in settings {
            incoming.insert(&setting.name, &setting.value);
        }

        let old_values: BTreeMap<&str, &str> =
            before.iter().map(|row| (row.name.as_str(), row.value.as_str())).collect();
        let mut new_values: BTreeMap<&str, &str> = before
            .iter()
            .filter(|row| row.source_key != source.as_str())
            .map(|row| (row.name.as_str(), row.value.as_str()))
            .collect();
        new_values.extend(incoming.iter().map(|(name, value)| (*name, *value)));

        let names: BTreeSet<&str> = old_values.keys().chain(new_values.keys()).copied().collect();
        let changed = names
            .into_iter()
            .filter(|name| old_values.get(name) != new_values.get(name))
            .map(str::to_owned)
            .collect();
        let rows = incoming
            .into_iter()
            .map(|(name, value)| SettingRow {
                bot: bot.as_str().to_owned(),
                name: name.to_owned(),
                value: value.to_owned(),
                source_key: source.as_str().to_owned(),
                updated_at: now.as_nanos(),
            })
            .collect();
        Self { rows, changed }
    }
}

/// Returns the bot's prompt from `(source key, text)` pairs: the texts in key order, joined
/// by a blank line; `None` when there is none.
pub(crate) fn join_prompts(mut parts: Vec<(String, String)>) -> Option<String> {
    if parts.is_empty() {
        return None;
    }
    // Sorted here rather than in SQL, so that the order is the bytewise one of `ObjectKey`
    // whatever collation the database uses.
    parts.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let texts: Vec<&str> = parts.iter().map(|(_, text)| text.as_str()).collect();
    Some(texts.join("\n\n"))
}

/// Returns the current time for `updated_at` columns.
pub(crate) fn now() -> Timestamp {
    let since_epoch =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Timestamp::from_nanos(0).plus(since_epoch)
}

#[cfg(test)]
mod tests {
    use drive_core::{FileRecord, FileStatus, Kind, ObjectMeta};

    use super::*;

    fn bot() -> BotName {
        BotName::new("crm").unwrap()
    }

    fn upsert(key: &str, size: u64) -> StateUpdate {
        StateUpdate::Upsert(FileRecord {
            kind: Kind::Ignored,
            current: ObjectMeta::new(key, size),
            live: None,
            status: FileStatus::Live,
        })
    }

    fn remove(key: &str) -> StateUpdate {
        StateUpdate::Remove(ObjectKey::new(key))
    }

    #[test]
    fn last_update_of_a_key_wins() {
        let updates = [
            upsert("a", 1),
            remove("b"),
            upsert("a", 2),
            upsert("b", 3),
            upsert("c", 4),
            remove("c"),
        ];
        let plan = StatePlan::new(&bot(), &updates, Timestamp::from_nanos(0));
        let upserts: Vec<(&str, i64)> =
            plan.upserts.iter().map(|row| (row.key.as_str(), row.size)).collect();
        assert_eq!(upserts, [("a", 2), ("b", 3)]);
        assert_eq!(plan.removals, ["c"]);
    }

    fn stored(name: &str, value: &str, source_key: &str) -> StoredSetting {
        StoredSetting { name: name.into(), value: value.into(), source_key: source_key.into() }
    }

    #[track_caller]
    fn check_settings(
        before: &[StoredSetting],
        source: &str,
        settings: &[(&str, &str)],
        rows: &[(&str, &str)],
        changed: &[&str],
    ) {
        let settings: Vec<Setting> = settings.iter().map(|(n, v)| Setting::new(*n, *v)).collect();
        let plan = SettingsPlan::new(
            &bot(),
            &ObjectKey::new(source),
            before,
            &settings,
            Timestamp::from_nanos(0),
        );
        let planned: Vec<(&str, &str)> =
            plan.rows.iter().map(|row| (row.name.as_str(), row.value.as_str())).collect();
        assert_eq!(planned, rows);
        assert_eq!(plan.changed, changed);
    }

    #[test]
    fn settings_changes_cover_added_changed_and_removed_names() {
        let before = [stored("a", "1", "s"), stored("b", "2", "s"), stored("x", "9", "t")];
        check_settings(
            &before,
            "s",
            &[("a", "1"), ("c", "3")],
            &[("a", "1"), ("c", "3")],
            &["b", "c"],
        );
        check_settings(&before, "s", &[("a", "1"), ("b", "2")], &[("a", "1"), ("b", "2")], &[]);
        check_settings(&before, "t", &[], &[], &["x"]);
        check_settings(&[], "s", &[], &[], &[]);
    }

    #[test]
    fn a_name_moves_to_the_last_source_that_sets_it() {
        let before = [stored("a", "1", "s")];
        check_settings(&before, "t", &[("a", "1")], &[("a", "1")], &[]);
        check_settings(&before, "t", &[("a", "2")], &[("a", "2")], &["a"]);
    }

    #[test]
    fn duplicate_names_keep_the_last_value() {
        check_settings(&[], "s", &[("a", "1"), ("a", "2")], &[("a", "2")], &["a"]);
    }

    #[test]
    fn prompts_join_in_key_order_with_a_blank_line() {
        assert_eq!(join_prompts(Vec::new()), None);
        let parts = vec![("b".to_owned(), "B".to_owned()), ("a".to_owned(), "A".to_owned())];
        assert_eq!(join_prompts(parts).as_deref(), Some("A\n\nB"));
    }
}
