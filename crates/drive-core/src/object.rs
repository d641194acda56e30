//! Objects as the monitor sees them: an opaque key and the metadata a listing returns.
//!
//! An [`ObjectKey`] is data, never a path: nothing here joins it onto a local folder. Adapters
//! that must map keys to files check them themselves.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The key of an object inside a bot's bucket, exactly as the storage names it.
///
/// Keys are opaque text: `..`, backslashes and leading slashes carry no meaning here.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ObjectKey(String);

impl ObjectKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the first segment of the key (`crm.gbot` for `crm.gbot/config.csv`).
    pub fn top_folder(&self) -> Option<&str> {
        self.0.split_once('/').map(|(top, _)| top)
    }

    /// Returns the last segment of the key.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// An entity tag, normalised so that the spellings storages use for one version compare
/// equal: surrounding quotes and a weak `W/` prefix are dropped and hex digits lower-cased.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ETag(String);

impl ETag {
    /// Returns the normalised tag, or `None` when nothing is left after normalising.
    ///
    /// Idempotent: parsing the text of a parsed tag gives the same tag.
    pub fn parse(raw: &str) -> Option<Self> {
        let mut tag = raw;
        loop {
            let before = tag;
            tag = tag.trim();
            tag = tag.strip_prefix("W/").or_else(|| tag.strip_prefix("w/")).unwrap_or(tag);
            tag = tag.strip_prefix('"').unwrap_or(tag);
            tag = tag.strip_suffix('"').unwrap_or(tag);
            if tag == before {
                break;
            }
        }
        if tag.is_empty() { None } else { Some(Self(tag.to_ascii_lowercase())) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps text that is already in normalised form (the text of a parsed tag).
    pub(crate) fn from_normalised(text: String) -> Self {
        debug_assert_eq!(Self::parse(&text).as_ref().map(Self::as_str), Some(text.as_str()));
        Self(text)
    }
}

impl fmt::Debug for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// A point in time, in nanoseconds since the Unix epoch.
///
/// Nanoseconds because filesystem backends have no ETag: two writes of the same size in
/// one millisecond must still differ.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_nanos(nanos: i64) -> Self {
        Self(nanos)
    }

    pub const fn from_millis(millis: i64) -> Self {
        Self(millis.saturating_mul(1_000_000))
    }

    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    pub const fn as_millis(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    /// Returns this time moved forward by `duration` (saturating).
    pub fn plus(self, duration: std::time::Duration) -> Self {
        let nanos = i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(nanos))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ns", self.0)
    }
}

/// The SHA-256 of an object's content.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentHash([u8; 32]);

impl ContentHash {
    /// Returns the hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// Returns the hash whose 32 bytes are `bytes`.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses the 64-digit lower- or upper-case hex form.
    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (idx, pair) in hex.as_bytes().chunks(2).enumerate() {
            let text = std::str::from_utf8(pair).ok()?;
            out[idx] = u8::from_str_radix(text, 16).ok()?;
        }
        Some(Self(out))
    }

    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut hex = String::with_capacity(64);
        for byte in self.0 {
            hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
            hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
        }
        hex
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", &self.to_hex()[..12])
    }
}

impl Serialize for ContentHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ContentHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_hex(&text).ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
    }
}

/// What a listing (or a stat) says about one object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    pub key: ObjectKey,
    /// Normalised entity tag; filesystem backends have none.
    pub etag: Option<ETag>,
    pub size: u64,
    pub last_modified: Option<Timestamp>,
    /// Content hash when the storage reports one, or once the monitor has read the object.
    pub content_hash: Option<ContentHash>,
}

impl ObjectMeta {
    pub fn new(key: impl Into<String>, size: u64) -> Self {
        Self { key: ObjectKey::new(key), etag: None, size, last_modified: None, content_hash: None }
    }

    /// Returns true when `self` and `other` describe the same version of the content.
    ///
    /// Equal content hashes win; then equal ETags; without ETags on both sides, size and
    /// last-modified must both match (a missing time never matches, so a backend that reports
    /// neither ETag nor time makes every listing a change rather than hiding one).
    pub fn same_version(&self, other: &Self) -> bool {
        if let (Some(a), Some(b)) = (&self.content_hash, &other.content_hash) {
            return a == b;
        }
        if let (Some(a), Some(b)) = (&self.etag, &other.etag) {
            return a == b && self.size == other.size;
        }
        match (self.last_modified, other.last_modified) {
            (Some(a), Some(b)) => a == b && self.size == other.size,
            _ => false,
        }
    }

    /// Returns true when this entry is a zero-byte folder placeholder (`docs/`).
    pub fn is_folder_placeholder(&self) -> bool {
        self.size == 0 && self.key.as_str().ends_with('/')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_normalise_quotes_weakness_and_case() {
        let plain = ETag::parse("abc123").unwrap();
        assert_eq!(ETag::parse("\"ABC123\""), Some(plain.clone()));
        assert_eq!(ETag::parse("W/\"abc123\""), Some(plain.clone()));
        assert_eq!(ETag::parse("  \"abc123\" "), Some(plain));
        assert_eq!(ETag::parse("\"\""), None);
        assert_eq!(ETag::parse("W/"), None);
    }

    proptest::proptest! {
        #[test]
        fn etag_parsing_is_idempotent(raw in "[ \"Ww/a-fA-F0-9-]{0,12}") {
            if let Some(tag) = ETag::parse(&raw) {
                proptest::prop_assert_eq!(ETag::parse(tag.as_str()), Some(tag));
            }
        }
    }

    #[test]
    fn content_hash_round_trips_through_hex() {
        let hash = ContentHash::of(b"hello");
        assert_eq!(
            hash.to_hex(),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(ContentHash::from_hex(&hash.to_hex()), Some(hash));
        assert_eq!(ContentHash::from_hex("zz"), None);
    }

    #[test]
    fn versions_compare_hash_then_etag_then_size_and_time() {
        let mut a = ObjectMeta::new("k", 3);
        let mut b = ObjectMeta::new("k", 3);
        assert!(!a.same_version(&b), "no evidence of sameness is a change");
        a.last_modified = Some(Timestamp::from_nanos(5));
        b.last_modified = Some(Timestamp::from_nanos(5));
        assert!(a.same_version(&b));
        a.etag = ETag::parse("\"x\"");
        b.etag = ETag::parse("y");
        assert!(!a.same_version(&b));
        a.content_hash = Some(ContentHash::of(b"same"));
        b.content_hash = Some(ContentHash::of(b"same"));
        assert!(a.same_version(&b), "equal content wins over a new etag");
    }
}
