//! The monitor's memory of one bot: every tracked object's [`FileRecord`], in compact form.
//!
//! [`KnownObjects`] holds what the records say in about a hundred bytes per object beyond
//! the key, for buckets of millions of objects:
//! - each key is stored once, as a boxed string inside its record; a hash table of record
//!   positions (`u32`, no key copy) finds a record by key;
//! - an ETag that is an MD5 in hex (with a part count for multipart `hex-N` tags) is kept as
//!   16 raw bytes; any other form goes to a rarely used boxed side record;
//! - the live version is kept only when it differs from the current one, and a status other
//!   than [`FileStatus::Live`] sits in the same side record, so a live object has none.
//!
//! [`FileRecord`] stays the exchange type (ports, status output, tests): every record put in
//! comes out equal ([`KnownRecord::to_record`]). Positions of records are dense
//! (`0..len()`) and change when a record is removed, which is what lets a diff mark the
//! records it saw in a bit set instead of a set of keys.
//!
//! What it does not do: it is not ordered (callers that need key order sort), and it does
//! not share keys between bots.

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

use crate::ports::StateUpdate;
use crate::{ContentHash, ETag, FileRecord, FileStatus, Kind, ObjectKey, ObjectMeta, Timestamp};

/// The records of one bot, keyed by object key, in compact form.
#[derive(Clone, Default)]
pub struct KnownObjects {
    records: Vec<Compact>,
    /// Positions in `records`, hashed by their record's key.
    index: HashTable<u32>,
    hasher: RandomState,
}

/// One tracked object as [`KnownObjects`] returns it: a view of its compact record.
#[derive(Clone, Copy)]
pub struct KnownRecord<'a> {
    compact: &'a Compact,
}

/// One record: the key and the current version inline, everything rare behind `rare`.
#[derive(Clone)]
struct Compact {
    key: Box<str>,
    /// The MD5 bytes of the current ETag when `flags` has [`ETAG_MD5`].
    etag: [u8; 16],
    size: u64,
    /// Nanoseconds, when `flags` has [`HAS_MODIFIED`].
    modified: i64,
    /// The content hash, when `flags` has [`HAS_HASH`].
    hash: [u8; 32],
    /// The other ETag forms, a live version unlike the current one, a status other than
    /// live; `None` for the common case of a live object with an MD5 ETag.
    rare: Option<Box<Rare>>,
    /// The part count of a multipart ETag (`hex-N`), 0 for a single-part one.
    etag_parts: u32,
    kind: Kind,
    flags: u8,
}

/// What few records need; kept small, for stores whose ETags are not MD5s give every
/// record one.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rare {
    /// The current ETag's normalised text, when it is not an MD5 in hex.
    etag: Option<Box<str>>,
    /// The live version, when it is neither absent nor the current one.
    live: Option<Box<ObjectMeta>>,
    status: FileStatus,
}

const HAS_MODIFIED: u8 = 1;
const HAS_HASH: u8 = 1 << 1;
/// The current ETag is an MD5 in hex, in `etag` and `etag_parts`.
const ETAG_MD5: u8 = 1 << 2;
/// The current ETag is in `rare.etag`.
const ETAG_OTHER: u8 = 1 << 3;
/// The live version is the current one.
const LIVE_IS_CURRENT: u8 = 1 << 4;
/// The live version is in `rare.live`.
const LIVE_OTHER: u8 = 1 << 5;

/// The status of every record without a side record.
static LIVE: FileStatus = FileStatus::Live;

impl KnownObjects {
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns an empty set with room for `capacity` records.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            records: Vec::with_capacity(capacity),
            index: HashTable::with_capacity(capacity),
            hasher: RandomState::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Returns the record of `key`, if tracked.
    pub fn get(&self, key: &str) -> Option<KnownRecord<'_>> {
        self.position(key).map(|position| self.at(position))
    }

    pub fn contains(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Returns every record, in no particular order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = KnownRecord<'_>> + '_ {
        self.records.iter().map(|compact| KnownRecord { compact })
    }

    /// Stores `record`, replacing the record of the same key if there is one.
    ///
    /// # Panics
    /// When the set already holds `u32::MAX` records.
    pub fn upsert(&mut self, record: FileRecord) {
        let hash = self.hasher.hash_one(record.key().as_str());
        let Self { records, index, hasher } = self;
        let key = record.key().as_str();
        if let Some(&position) = index.find(hash, |&at| &*records[at as usize].key == key) {
            records[position as usize] = Compact::from_record(record);
            return;
        }
        let position = u32::try_from(records.len()).expect("fewer than 2^32 records per bot");
        records.push(Compact::from_record(record));
        index.insert_unique(hash, position, |&at| hasher.hash_one(&*records[at as usize].key));
    }

    /// Forgets the record of `key`; returns false when there was none.
    ///
    /// The record that was last takes the removed one's position.
    pub fn remove(&mut self, key: &str) -> bool {
        let hash = self.hasher.hash_one(key);
        let Self { records, index, hasher } = self;
        let Ok(entry) = index.find_entry(hash, |&at| &*records[at as usize].key == key) else {
            return false;
        };
        let (position, _) = entry.remove();
        let last = records.len() - 1;
        records.swap_remove(position as usize);
        if position as usize != last {
            // The last record moved into the freed position: point its entry there.
            let moved = hasher.hash_one(&*records[position as usize].key);
            let entry = index.find_mut(moved, |&at| at as usize == last);
            *entry.expect("every record has an index entry") = position;
        }
        true
    }

    /// Applies the updates of a committed cycle, in order.
    pub fn apply(&mut self, updates: impl IntoIterator<Item = StateUpdate>) {
        for update in updates {
            match update {
                StateUpdate::Upsert(record) => self.upsert(record),
                StateUpdate::Remove(key) => {
                    self.remove(key.as_str());
                }
            }
        }
    }

    /// Returns the position of the record of `key`, in `0..len()`.
    pub(crate) fn position(&self, key: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(key);
        let found = self.index.find(hash, |&at| &*self.records[at as usize].key == key);
        found.map(|&at| at as usize)
    }

    /// Returns the record at `position`.
    ///
    /// # Panics
    /// When `position` is not below `len()`.
    pub(crate) fn at(&self, position: usize) -> KnownRecord<'_> {
        KnownRecord { compact: &self.records[position] }
    }
}

impl From<Vec<FileRecord>> for KnownObjects {
    fn from(records: Vec<FileRecord>) -> Self {
        let mut known = Self::with_capacity(records.len());
        known.extend(records);
        known
    }
}

impl FromIterator<FileRecord> for KnownObjects {
    fn from_iter<I: IntoIterator<Item = FileRecord>>(records: I) -> Self {
        let mut known = Self::new();
        known.extend(records);
        known
    }
}

impl Extend<FileRecord> for KnownObjects {
    fn extend<I: IntoIterator<Item = FileRecord>>(&mut self, records: I) {
        for record in records {
            self.upsert(record);
        }
    }
}

impl std::fmt::Debug for KnownObjects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnownObjects").field("len", &self.len()).finish_non_exhaustive()
    }
}

impl<'a> KnownRecord<'a> {
    pub fn key(&self) -> &'a str {
        &self.compact.key
    }

    pub fn kind(&self) -> Kind {
        self.compact.kind
    }

    pub fn status(&self) -> &'a FileStatus {
        self.compact.rare.as_deref().map_or(&LIVE, |rare| &rare.status)
    }

    /// Returns the time a failed change is due for its retry, if it failed that way.
    pub fn next_retry(&self) -> Option<Timestamp> {
        match self.status() {
            FileStatus::Retrying { next_retry, .. } => Some(*next_retry),
            _ => None,
        }
    }

    /// Returns the latest version seen in storage.
    pub fn current(&self) -> ObjectMeta {
        let compact = self.compact;
        ObjectMeta {
            key: ObjectKey::new(&*compact.key),
            etag: compact.etag(),
            size: compact.size,
            last_modified: compact.modified(),
            content_hash: compact.hash(),
        }
    }

    /// Returns the version whose effects are live, if any ever was.
    pub fn live(&self) -> Option<ObjectMeta> {
        let compact = self.compact;
        if compact.flags & LIVE_IS_CURRENT != 0 {
            return Some(self.current());
        }
        compact.rare.as_ref()?.live.as_deref().cloned()
    }

    /// Returns the content hash of the live version, if known.
    pub fn live_content_hash(&self) -> Option<ContentHash> {
        let compact = self.compact;
        if compact.flags & LIVE_IS_CURRENT != 0 {
            return compact.hash();
        }
        compact.rare.as_ref()?.live.as_ref()?.content_hash
    }

    /// Returns true when `other` is the same version as the current one, by the rules of
    /// [`ObjectMeta::same_version`] (which this equals, without building the metadata).
    pub fn same_version(&self, other: &ObjectMeta) -> bool {
        let compact = self.compact;
        if let (Some(ours), Some(theirs)) = (compact.hash(), other.content_hash) {
            return ours == theirs;
        }
        if let Some(theirs) = &other.etag
            && compact.flags & (ETAG_MD5 | ETAG_OTHER) != 0
        {
            return compact.etag_equals(theirs) && compact.size == other.size;
        }
        match (compact.modified(), other.last_modified) {
            (Some(ours), Some(theirs)) => ours == theirs && compact.size == other.size,
            _ => false,
        }
    }

    /// Returns the record in its exchange form, equal to the one that was stored.
    pub fn to_record(&self) -> FileRecord {
        FileRecord {
            kind: self.kind(),
            current: self.current(),
            live: self.live(),
            status: self.status().clone(),
        }
    }
}

impl std::fmt::Debug for KnownRecord<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.to_record(), f)
    }
}

impl Compact {
    fn from_record(record: FileRecord) -> Self {
        let FileRecord { kind, current, live, status } = record;
        let mut flags = 0;
        let modified = current.last_modified.map_or(0, |at| {
            flags |= HAS_MODIFIED;
            at.as_nanos()
        });
        let hash = current.content_hash.map_or([0; 32], |hash| {
            flags |= HAS_HASH;
            *hash.as_bytes()
        });

        let (mut etag, mut etag_parts, mut other_etag) = ([0; 16], 0, None);
        match current.etag.as_ref().map(|tag| (tag, md5_etag(tag.as_str()))) {
            Some((_, Some((bytes, parts)))) => {
                (etag, etag_parts) = (bytes, parts);
                flags |= ETAG_MD5;
            }
            Some((tag, None)) => {
                other_etag = Some(Box::from(tag.as_str()));
                flags |= ETAG_OTHER;
            }
            None => {}
        }

        let live = match live {
            Some(live) if live == current => {
                flags |= LIVE_IS_CURRENT;
                None
            }
            Some(live) => {
                flags |= LIVE_OTHER;
                Some(Box::new(live))
            }
            None => None,
        };
        let rare = (other_etag.is_some() || live.is_some() || status != FileStatus::Live)
            .then(|| Box::new(Rare { etag: other_etag, live, status }));

        let key = String::from(current.key.as_str()).into_boxed_str();
        Self { key, etag, size: current.size, modified, hash, rare, etag_parts, kind, flags }
    }

    fn modified(&self) -> Option<Timestamp> {
        (self.flags & HAS_MODIFIED != 0).then(|| Timestamp::from_nanos(self.modified))
    }

    fn hash(&self) -> Option<ContentHash> {
        (self.flags & HAS_HASH != 0).then(|| ContentHash::from_bytes(self.hash))
    }

    fn etag(&self) -> Option<ETag> {
        if self.flags & ETAG_MD5 != 0 {
            return Some(ETag::from_normalised(md5_etag_text(&self.etag, self.etag_parts)));
        }
        let text = self.rare.as_ref()?.etag.as_deref()?;
        Some(ETag::from_normalised(text.to_owned()))
    }

    /// Returns true when the current ETag equals `tag`.
    fn etag_equals(&self, tag: &ETag) -> bool {
        if self.flags & ETAG_MD5 != 0 {
            // The MD5 form is canonical: a tag has it exactly when its text is one.
            return md5_etag(tag.as_str()) == Some((self.etag, self.etag_parts));
        }
        self.rare.as_ref().and_then(|rare| rare.etag.as_deref()) == Some(tag.as_str())
    }
}

/// Returns the bytes and part count of a normalised ETag that is an MD5 in lower-case hex,
/// alone or followed by `-N` (N from 1, without leading zeros); `None` for any other form,
/// so that the text this gives back ([`md5_etag_text`]) is always the text it was given.
fn md5_etag(tag: &str) -> Option<([u8; 16], u32)> {
    let (hex, parts) = match tag.split_once('-') {
        None => (tag, 0),
        Some((hex, count)) => {
            let digits = count.bytes().all(|b| b.is_ascii_digit()) && !count.starts_with('0');
            let parts: u32 = count.parse().ok().filter(|_| digits)?;
            (hex, parts)
        }
    };
    if hex.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (byte, pair) in bytes.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
        *byte = (lower_hex_digit(pair[0])? << 4) | lower_hex_digit(pair[1])?;
    }
    Some((bytes, parts))
}

fn lower_hex_digit(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

fn md5_etag_text(bytes: &[u8; 16], parts: u32) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(if parts == 0 { 32 } else { 44 });
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    if parts != 0 {
        text.push('-');
        text.push_str(&parts.to_string());
    }
    text
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::classify;

    fn record(key: &str, etag: Option<&str>, status: FileStatus, live: u8) -> FileRecord {
        let mut current = ObjectMeta::new(key, 7);
        current.etag = etag.and_then(ETag::parse);
        current.last_modified = Some(Timestamp::from_nanos(-3));
        let kind = classify(&current).unwrap();
        let live = match live {
            0 => None,
            1 => Some(current.clone()),
            _ => Some(ObjectMeta {
                size: 9,
                content_hash: Some(ContentHash::of(b"x")),
                ..current.clone()
            }),
        };
        FileRecord { kind, current, live, status }
    }

    #[test]
    fn md5_etags_take_sixteen_bytes_and_other_forms_keep_their_text() {
        let md5 = "9e107d9d372bb6826bd81d3542a419d6";
        assert_eq!(md5_etag(md5).map(|(_, parts)| parts), Some(0));
        assert_eq!(md5_etag(&format!("{md5}-12")).map(|(_, parts)| parts), Some(12));
        for other in ["abc", &format!("{md5}-0"), &format!("{md5}-012"), &format!("{md5}-+1")] {
            assert_eq!(md5_etag(other), None, "{other}");
        }
        let (bytes, parts) = md5_etag(&format!("{md5}-3")).unwrap();
        assert_eq!(md5_etag_text(&bytes, parts), format!("{md5}-3"));
    }

    #[test]
    fn removing_a_record_keeps_every_other_findable() {
        let mut known: KnownObjects = (0..50)
            .map(|idx| record(&format!("b.gbkb/{idx}.md"), Some("1"), FileStatus::Live, 1))
            .collect();
        for idx in (0..50).step_by(3) {
            assert!(known.remove(&format!("b.gbkb/{idx}.md")));
        }
        assert!(!known.remove("b.gbkb/0.md"));
        for idx in 0..50 {
            let key = format!("b.gbkb/{idx}.md");
            assert_eq!(known.contains(&key), idx % 3 != 0, "{key}");
            if let Some(found) = known.get(&key) {
                assert_eq!(found.key(), key);
            }
        }
        assert_eq!(known.len(), 33);
    }

    fn arb_record() -> impl Strategy<Value = FileRecord> {
        let keys = prop::sample::select(vec!["b.gbkb/a.md", "b.gbot/config.csv", "b.gbkb/c.md"]);
        let etags = prop::option::of(prop_oneof![
            "[0-9a-f]{32}",
            "[0-9a-f]{32}-[0-9]{1,3}",
            "[0-9a-fA-F\"W/-]{0,8}",
        ]);
        let status = prop_oneof![
            Just(FileStatus::Live),
            Just(FileStatus::Unhandled),
            Just(FileStatus::Invalid { error: "bad".into() }),
            (0i64..9).prop_map(|t| FileStatus::Retrying {
                attempts: 2,
                error: "down".into(),
                next_retry: Timestamp::from_nanos(t),
            }),
        ];
        (keys, etags, status, 0u8..3, prop::option::of(0u8..2), any::<bool>()).prop_map(
            |(key, etag, status, live, hash, modified)| {
                let mut record = record(key, etag.as_deref(), status, live);
                record.current.content_hash = hash.map(|h| ContentHash::of(&[h]));
                record.current.last_modified =
                    modified.then_some(record.current.last_modified).flatten();
                record
            },
        )
    }

    proptest! {
        #[test]
        fn records_come_out_as_they_went_in(records in prop::collection::vec(arb_record(), 0..12)) {
            let mut known = KnownObjects::new();
            let mut expected = std::collections::HashMap::new();
            for record in records {
                expected.insert(record.key().clone(), record.clone());
                known.upsert(record);
            }
            prop_assert_eq!(known.len(), expected.len());
            for (key, record) in &expected {
                let found = known.get(key.as_str()).map(|found| found.to_record());
                prop_assert_eq!(found.as_ref(), Some(record));
            }
        }

        #[test]
        fn same_version_agrees_with_the_metadata_rule(a in arb_record(), b in arb_record()) {
            let known = KnownObjects::from(vec![a.clone()]);
            let found = known.get(a.key().as_str()).unwrap();
            prop_assert_eq!(found.same_version(&b.current), a.current.same_version(&b.current));
            prop_assert_eq!(found.live_content_hash(), a.live.and_then(|l| l.content_hash));
        }
    }
}
