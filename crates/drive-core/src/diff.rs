//! The diff of a listing against the known state of a bot.
//!
//! Pure and synchronous: it decides *what* changed; the monitor decides what to do about it.
//! Versions are compared with [`ObjectMeta::same_version`], so an ETag that changed while
//! the content hash stayed the same is not a change.

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

use crate::known::{KnownObjects, KnownRecord};
use crate::{Change, FileStatus, Kind, ObjectMeta, Timestamp, classify};

/// The result of comparing one listing with the known state.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Diff {
    /// Records whose known state stands (same version, or a failure not yet due for
    /// retry), by their position in the [`KnownObjects`] the diff ran against: valid until
    /// those change.
    pub unchanged: Vec<u32>,
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
pub fn diff(known: &KnownObjects, listing: &[ObjectMeta], ctx: DiffContext<'_>) -> Diff {
    let mut running = RunningDiff::new(known, ctx);
    running.extend(listing.iter().cloned());
    running.finish()
}

/// A diff fed one listing page at a time, so that a listing is never held whole: the same
/// result as [`diff`] over the concatenated pages.
///
/// Only [`RunningDiff::finish`] decides removals, so a listing that fails halfway must be
/// dropped unfinished: what was fed so far says nothing about what is gone. Memory beyond
/// the changes found is one bit per known record and one table entry per addition.
#[derive(Debug)]
pub struct RunningDiff<'a> {
    known: &'a KnownObjects,
    ctx: DiffContext<'a>,
    /// One bit per known record position: listed already.
    seen: Vec<u64>,
    /// Positions in `out.changes` of additions, by key, to count repeated entries once.
    added: HashTable<u32>,
    hasher: RandomState,
    out: Diff,
}

impl<'a> RunningDiff<'a> {
    pub fn new(known: &'a KnownObjects, ctx: DiffContext<'a>) -> Self {
        Self {
            known,
            ctx,
            seen: vec![0; known.len().div_ceil(64)],
            added: HashTable::new(),
            hasher: RandomState::new(),
            out: Diff::default(),
        }
    }

    /// Compares one listed entry.
    pub fn push(&mut self, meta: ObjectMeta) {
        let Some(kind) = classify(&meta) else {
            self.out.skipped += 1;
            return;
        };
        let Some(position) = self.known.position(meta.key.as_str()) else {
            self.push_addition(kind, meta);
            return;
        };

        let (word, bit) = (position / 64, 1u64 << (position % 64));
        if self.seen[word] & bit != 0 {
            self.out.skipped += 1;
            return;
        }
        self.seen[word] |= bit;
        let record = self.known.at(position);
        if needs_work(record, &meta, self.ctx) {
            self.out.changes.push(change_for(record, kind, meta));
        } else {
            self.out.unchanged.push(position as u32);
        }
    }

    /// Returns the diff, with the removals: known records no entry named.
    pub fn finish(mut self) -> Diff {
        let known = self.known;
        let mut removed: Vec<usize> = (0..known.len())
            .filter(|position| self.seen[position / 64] & (1u64 << (position % 64)) == 0)
            .collect();
        removed.sort_unstable_by(|&a, &b| known.at(a).key().cmp(known.at(b).key()));
        for position in removed {
            let record = known.at(position);
            // A removal that failed waits for its retry time like any other change.
            if let FileStatus::Retrying { next_retry, .. } = record.status()
                && *next_retry > self.ctx.now
            {
                self.out.unchanged.push(position as u32);
                continue;
            }
            let old = record.live().unwrap_or_else(|| record.current());
            self.out.changes.push(Change::Removed { kind: record.kind(), old });
        }
        self.out
    }

    fn push_addition(&mut self, kind: Kind, meta: ObjectMeta) {
        let Self { added, hasher, out, .. } = self;
        let hash = hasher.hash_one(meta.key.as_str());
        let repeated = |at: &u32| out.changes[*at as usize].key() == &meta.key;
        if added.find(hash, repeated).is_some() {
            out.skipped += 1;
            return;
        }
        let at = u32::try_from(out.changes.len()).unwrap_or(u32::MAX);
        added.insert_unique(hash, at, |at| {
            hasher.hash_one(out.changes[*at as usize].key().as_str())
        });
        out.changes.push(Change::Added { kind, new: meta });
    }
}

impl Extend<ObjectMeta> for RunningDiff<'_> {
    fn extend<I: IntoIterator<Item = ObjectMeta>>(&mut self, page: I) {
        for meta in page {
            self.push(meta);
        }
    }
}

fn needs_work(record: KnownRecord<'_>, listed: &ObjectMeta, ctx: DiffContext<'_>) -> bool {
    if !record.same_version(listed) {
        return true;
    }
    match record.status() {
        FileStatus::Live | FileStatus::Invalid { .. } => false,
        FileStatus::Unhandled => ctx.handled.contains(&record.kind()),
        FileStatus::Retrying { next_retry, .. } => *next_retry <= ctx.now,
    }
}

fn change_for(record: KnownRecord<'_>, kind: Kind, new: ObjectMeta) -> Change {
    match record.live() {
        Some(old) => Change::Modified { kind, old, new },
        None => Change::Added { kind, new },
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use std::collections::{HashMap, HashSet};

    use super::*;
    use crate::{ContentHash, ETag, FileRecord, ObjectKey};

    const NOW: Timestamp = Timestamp::from_nanos(1_000);
    const ALL_HANDLED: &[Kind] = &Kind::ALL;

    fn meta(key: &str, etag: &str) -> ObjectMeta {
        ObjectMeta { etag: ETag::parse(etag), ..ObjectMeta::new(key, 10) }
    }

    fn live(meta: ObjectMeta) -> FileRecord {
        let kind = classify(&meta).unwrap();
        FileRecord { kind, live: Some(meta.clone()), current: meta, status: FileStatus::Live }
    }

    fn known(records: Vec<FileRecord>) -> KnownObjects {
        records.into_iter().collect()
    }

    /// Returns the keys of the unchanged records of `out`.
    fn unchanged_keys(known: &KnownObjects, out: &Diff) -> Vec<ObjectKey> {
        out.unchanged.iter().map(|&at| ObjectKey::new(known.at(at as usize).key())).collect()
    }

    /// Renders a diff as one line per change, for compact expectations.
    #[track_caller]
    fn check(known: &KnownObjects, listing: &[ObjectMeta], expected: &str) {
        let out = diff(known, listing, DiffContext { now: NOW, handled: ALL_HANDLED });
        let mut lines: Vec<String> =
            out.changes.iter().map(|c| format!("{} {}", c.op_name(), c.key())).collect();
        lines.extend(unchanged_keys(known, &out).iter().map(|key| format!("unchanged {key}")));
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
            let unchanged = unchanged_keys(&state, &out);
            for key in unchanged.iter().chain(out.changes.iter().map(Change::key)) {
                *counted.entry(key.clone()).or_default() += 1;
            }
            prop_assert!(counted.values().all(|n| *n == 1), "a key appears twice: {counted:?}");

            let known_keys: Vec<ObjectKey> = state.iter().map(|r| ObjectKey::new(r.key())).collect();
            let expected: HashSet<&ObjectKey> = known_keys.iter()
                .chain(listing.iter().filter(|m| classify(m).is_some()).map(|m| &m.key))
                .collect();
            let got: HashSet<&ObjectKey> = counted.keys().collect();
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn a_listing_fed_page_by_page_diffs_as_one_whole(
            records in prop::collection::vec(arb_record(), 0..8),
            listing in prop::collection::vec(arb_meta(), 0..10),
            page_len in 1usize..4,
        ) {
            let state = known(records);
            let ctx = DiffContext { now: NOW, handled: ALL_HANDLED };
            let mut running = RunningDiff::new(&state, ctx);
            for page in listing.chunks(page_len) {
                running.extend(page.to_vec());
            }
            prop_assert_eq!(running.finish(), diff(&state, &listing, ctx));
        }

        #[test]
        fn same_version_of_a_live_object_is_never_reprocessed(listing in prop::collection::vec(arb_meta(), 0..10)) {
            // The state holds the first entry of each key, as the diff keeps the first.
            let mut first = HashMap::new();
            for meta in listing.iter().filter(|m| classify(m).is_some()) {
                first.entry(meta.key.clone()).or_insert_with(|| live(meta.clone()));
            }
            let state: KnownObjects = first.into_values().collect();
            let out = diff(&state, &listing, DiffContext { now: NOW, handled: ALL_HANDLED });
            prop_assert_eq!(out.changes.iter().filter(|c| !c.is_removal()).count(), 0);
            prop_assert_eq!(out.n_removed(), 0);
        }
    }
}
