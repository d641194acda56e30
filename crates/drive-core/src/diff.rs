//! The diff of a listing against the known state of a bot.
//!
//! Pure and synchronous: it decides *what* changed; the monitor decides what to do about it.
//! Versions are compared with [`ObjectMeta::same_version`], so an ETag that changed while
//! the content hash stayed the same is not a change.

use std::collections::{HashMap, HashSet};

use crate::{Change, FileRecord, FileStatus, Kind, ObjectKey, ObjectMeta, Timestamp, classify};

/// The result of comparing one listing with the known state.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Diff {
    /// Keys whose known state stands: same version, or a failure not yet due for retry.
    pub unchanged: Vec<ObjectKey>,
    /// Additions, modifications and retries, in listing order, then removals in key order.
    pub changes: Vec<Change>,
    /// Listed entries that are not tracked (folder placeholders, repeated keys).
    pub skipped: usize,
}

impl Diff {
    pub fn n_removed(&self) -> usize {
        self.changes.iter().filter(|change| change.is_removal()).count()
    }
}

/// What the diff needs to know beyond the two sides.
#[derive(Clone, Copy, Debug)]
pub struct DiffContext<'a> {
    /// Retries whose `next_retry` is at or before `now` are due.
    pub now: Timestamp,
    /// Kinds with an installed handler; objects waiting for a handler of one of these kinds
    /// are changes again.
    pub handled: &'a [Kind],
}

/// Compares `listing` (one complete listing of a bot) with `known`.
///
/// Every listed object and every known object ends up exactly once in `unchanged` or in
/// `changes`. Entries repeated in the listing count once (the first wins).
pub fn diff(
    known: &HashMap<ObjectKey, FileRecord>,
    listing: &[ObjectMeta],
    ctx: DiffContext<'_>,
) -> Diff {
    let mut out = Diff::default();
    let mut seen: HashSet<&ObjectKey> = HashSet::with_capacity(listing.len());

    for meta in listing {
        let Some(kind) = classify(meta) else {
            out.skipped += 1;
            continue;
        };
        if !seen.insert(&meta.key) {
            out.skipped += 1;
            continue;
        }
        match known.get(&meta.key) {
            None => out.changes.push(Change::Added { kind, new: meta.clone() }),
            Some(record) if needs_work(record, meta, ctx) => {
                out.changes.push(change_for(record, kind, meta.clone()));
            }
            Some(_) => out.unchanged.push(meta.key.clone()),
        }
    }

    let mut removed: Vec<&FileRecord> =
        known.values().filter(|record| !seen.contains(record.key())).collect();
    removed.sort_by(|a, b| a.key().cmp(b.key()));
    for record in removed {
        // A removal that failed waits for its retry time like any other change.
        if let FileStatus::Retrying { next_retry, .. } = &record.status
            && *next_retry > ctx.now
        {
            out.unchanged.push(record.key().clone());
            continue;
        }
        let old = record.live.clone().unwrap_or_else(|| record.current.clone());
        out.changes.push(Change::Removed { kind: record.kind, old });
    }
    out
}

fn needs_work(record: &FileRecord, listed: &ObjectMeta, ctx: DiffContext<'_>) -> bool {
    if !record.current.same_version(listed) {
        return true;
    }
    match &record.status {
        FileStatus::Live | FileStatus::Invalid { .. } => false,
        FileStatus::Unhandled => ctx.handled.contains(&record.kind),
        FileStatus::Retrying { next_retry, .. } => *next_retry <= ctx.now,
    }
}

fn change_for(record: &FileRecord, kind: Kind, new: ObjectMeta) -> Change {
    match &record.live {
        Some(old) => Change::Modified { kind, old: old.clone(), new },
        None => Change::Added { kind, new },
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{ContentHash, ETag};

    const NOW: Timestamp = Timestamp::from_nanos(1_000);
    const ALL_HANDLED: &[Kind] = &Kind::ALL;

    fn meta(key: &str, etag: &str) -> ObjectMeta {
        ObjectMeta { etag: ETag::parse(etag), ..ObjectMeta::new(key, 10) }
    }

    fn live(meta: ObjectMeta) -> FileRecord {
        let kind = classify(&meta).unwrap();
        FileRecord { kind, live: Some(meta.clone()), current: meta, status: FileStatus::Live }
    }

    fn known(records: Vec<FileRecord>) -> HashMap<ObjectKey, FileRecord> {
        records.into_iter().map(|record| (record.key().clone(), record)).collect()
    }

    /// Renders a diff as one line per change, for compact expectations.
    #[track_caller]
    fn check(known: &HashMap<ObjectKey, FileRecord>, listing: &[ObjectMeta], expected: &str) {
        let out = diff(known, listing, DiffContext { now: NOW, handled: ALL_HANDLED });
        let mut lines: Vec<String> =
            out.changes.iter().map(|c| format!("{} {}", c.op_name(), c.key())).collect();
        lines.extend(out.unchanged.iter().map(|key| format!("unchanged {key}")));
        assert_eq!(lines.join("\n"), expected.trim());
    }

    #[test]
    fn listing_against_state_gives_added_modified_removed_unchanged() {
        let state = known(vec![
            live(meta("b.gbot/config.csv", "1")),
            live(meta("b.gbdialog/a.bas", "1")),
            live(meta("b.gbkb/x.md", "1")),
        ]);
        let listing = [
            meta("b.gbot/config.csv", "\"1\""),
            meta("b.gbdialog/a.bas", "2"),
            meta("b.gbtheme/t.css", "1"),
            ObjectMeta::new("b.gbkb/", 0),
        ];
        check(
            &state,
            &listing,
            "modified b.gbdialog/a.bas\nadded b.gbtheme/t.css\nremoved b.gbkb/x.md\n\
             unchanged b.gbot/config.csv",
        );
    }

    #[test]
    fn new_etag_with_same_content_hash_is_not_a_change() {
        let mut old = meta("b.gbkb/x.md", "abc");
        old.content_hash = Some(ContentHash::of(b"doc"));
        let mut new = meta("b.gbkb/x.md", "abc-2");
        new.content_hash = Some(ContentHash::of(b"doc"));
        check(&known(vec![live(old)]), &[new], "unchanged b.gbkb/x.md");
    }

    #[test]
    fn failures_wait_for_their_retry_time_and_invalid_files_for_a_new_version() {
        let mut later = live(meta("b.gbot/config.csv", "1"));
        later.status = FileStatus::Retrying {
            attempts: 1,
            error: "db down".into(),
            next_retry: NOW.plus(std::time::Duration::from_secs(1)),
        };
        let mut due = live(meta("b.gbot/p-prompt.md", "1"));
        due.status = FileStatus::Retrying { attempts: 3, error: "x".into(), next_retry: NOW };
        let mut invalid = live(meta("b.gbdialog/a.bas", "1"));
        invalid.status = FileStatus::Invalid { error: "line 1: bad".into() };
        let state = known(vec![later, due, invalid]);
        let listing = [
            meta("b.gbot/config.csv", "1"),
            meta("b.gbot/p-prompt.md", "1"),
            meta("b.gbdialog/a.bas", "1"),
        ];
        check(
            &state,
            &listing,
            "modified b.gbot/p-prompt.md\nunchanged b.gbot/config.csv\nunchanged b.gbdialog/a.bas",
        );
        check(
            &state,
            &[meta("b.gbdialog/a.bas", "2")],
            // A removal that failed waits for its retry time too.
            "modified b.gbdialog/a.bas\nremoved b.gbot/p-prompt.md\nunchanged b.gbot/config.csv",
        );
    }

    #[test]
    fn unhandled_objects_become_changes_once_their_kind_has_a_handler() {
        let mut waiting = live(meta("b.gbkb/x.md", "1"));
        waiting.live = None;
        waiting.status = FileStatus::Unhandled;
        let state = known(vec![waiting]);
        let listing = [meta("b.gbkb/x.md", "1")];
        let none = diff(&state, &listing, DiffContext { now: NOW, handled: &[] });
        assert_eq!(none.unchanged.len(), 1);
        let some = diff(&state, &listing, DiffContext { now: NOW, handled: &[Kind::Knowledge] });
        assert!(matches!(some.changes.as_slice(), [Change::Added { .. }]));
    }

    fn arb_meta() -> impl Strategy<Value = ObjectMeta> {
        let keys = prop::sample::select(vec![
            "b.gbot/config.csv",
            "b.gbdialog/a.bas",
            "b.gbdialog/b.bas",
            "b.gbkb/c/x.md",
            "b.gbkb/y.pdf",
            "b.gbtheme/t.css",
            "b.gbai.txt",
            "b.gbkb/",
        ]);
        (keys, prop::option::of("[a-c]{1,2}"), 0u64..3, prop::option::of(0u8..3)).prop_map(
            |(key, etag, size, hash)| ObjectMeta {
                key: ObjectKey::new(key),
                etag: etag.as_deref().and_then(ETag::parse),
                size,
                last_modified: Some(Timestamp::from_nanos(7)),
                content_hash: hash.map(|h| ContentHash::of(&[h])),
            },
        )
    }

    fn arb_record() -> impl Strategy<Value = FileRecord> {
        let status = prop_oneof![
            Just(FileStatus::Live),
            Just(FileStatus::Unhandled),
            Just(FileStatus::Invalid { error: "bad".into() }),
            (0i64..2_000).prop_map(|t| FileStatus::Retrying {
                attempts: 1,
                error: "down".into(),
                next_retry: Timestamp::from_nanos(t),
            }),
        ];
        (arb_meta(), status, any::<bool>()).prop_filter_map(
            "placeholder",
            |(meta, status, was_live)| {
                let kind = classify(&meta)?;
                let live = was_live.then(|| meta.clone());
                Some(FileRecord { kind, current: meta, live, status })
            },
        )
    }

    proptest! {
        #[test]
        fn every_object_lands_in_exactly_one_bucket(
            records in prop::collection::vec(arb_record(), 0..8),
            listing in prop::collection::vec(arb_meta(), 0..10),
        ) {
            let state = known(records);
            let out = diff(&state, &listing, DiffContext { now: NOW, handled: ALL_HANDLED });

            let mut counted: HashMap<ObjectKey, usize> = HashMap::new();
            for key in out.unchanged.iter().chain(out.changes.iter().map(Change::key)) {
                *counted.entry(key.clone()).or_default() += 1;
            }
            prop_assert!(counted.values().all(|n| *n == 1), "a key appears twice: {counted:?}");

            let expected: HashSet<&ObjectKey> = state.keys()
                .chain(listing.iter().filter(|m| classify(m).is_some()).map(|m| &m.key))
                .collect();
            let got: HashSet<&ObjectKey> = counted.keys().collect();
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn same_version_of_a_live_object_is_never_reprocessed(listing in prop::collection::vec(arb_meta(), 0..10)) {
            // The state holds the first entry of each key, as the diff keeps the first.
            let mut state = HashMap::new();
            for meta in listing.iter().filter(|m| classify(m).is_some()) {
                state.entry(meta.key.clone()).or_insert_with(|| live(meta.clone()));
            }
            let out = diff(&state, &listing, DiffContext { now: NOW, handled: ALL_HANDLED });
            prop_assert_eq!(out.changes.iter().filter(|c| !c.is_removal()).count(), 0);
            prop_assert_eq!(out.n_removed(), 0);
        }
    }
}
