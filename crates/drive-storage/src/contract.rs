//! The contract every [`ObjectStore`] adapter keeps, as one suite of cases run against each
//! backend: memory and filesystem in every `cargo test`, S3 when a server is at hand.
//!
//! A backend takes part by implementing [`StoreFixture`], which seeds buckets and objects
//! behind the store's back, as an author editing a bucket would. Each case creates buckets
//! with fresh names (a random suffix), so cases can share one server, and removes them when
//! it passes. Run everything with [`run_all`], or one case by its function.
//!
//! Known limits: a failing case panics and leaves its buckets behind; on a shared S3 server
//! they stay until removed by hand. The suite checks listings are complete and paged, not
//! how a backend behaves under concurrent writes.

use std::collections::BTreeSet;

use async_trait::async_trait;
use futures::TryStreamExt;

use drive_core::{BotName, ObjectKey, ObjectMeta, ObjectStore, StoreError};

use crate::lister::PAGE_SIZE;

/// Seeds a backend for the contract suite.
///
/// Buckets are named in full (`crm.gbai`, or `logs` for a bucket that is not a bot), and
/// keys are relative to the bucket. `#[async_trait]` so that the suite takes
/// `&dyn StoreFixture`.
#[async_trait]
pub trait StoreFixture: Send + Sync {
    /// Returns the store under test, which sees what the fixture writes.
    fn store(&self) -> &dyn ObjectStore;

    /// Returns true when listings carry ETags; without them versions differ by size or time.
    fn has_etags(&self) -> bool;

    /// Returns true when the backend can hold folder placeholders (`docs/`).
    fn holds_folder_placeholders(&self) -> bool {
        true
    }

    /// Creates an empty bucket.
    async fn create_bucket(&self, bucket: &str) -> Result<(), StoreError>;

    /// Writes an object, replacing any previous version; a key ending in `/` writes a
    /// zero-byte folder placeholder.
    async fn put(&self, bucket: &str, key: &str, content: &[u8]) -> Result<(), StoreError>;

    /// Deletes an object.
    async fn delete(&self, bucket: &str, key: &str) -> Result<(), StoreError>;

    /// Removes a bucket and everything in it.
    async fn remove_bucket(&self, bucket: &str) -> Result<(), StoreError>;
}

/// Runs every case of the suite against `fixture`, one after the other.
pub async fn run_all(fixture: &dyn StoreFixture) {
    list_bots_finds_only_gbai_buckets(fixture).await;
    empty_bucket_lists_nothing(fixture).await;
    large_listing_comes_complete_in_bounded_pages(fixture).await;
    odd_keys_list_read_and_stat_back_identically(fixture).await;
    rewriting_an_object_changes_its_version(fixture).await;
    reads_over_the_limit_are_too_large(fixture).await;
    missing_things_are_not_found(fixture).await;
    folder_placeholders_keep_their_trailing_slash(fixture).await;
    unaddressable_keys_are_refused(fixture).await;
}

/// `list_bots` reports `*.gbai` buckets as bots, sorted, and nothing for other buckets.
pub async fn list_bots_finds_only_gbai_buckets(fixture: &dyn StoreFixture) {
    let alpha = fresh_bot("bots-a");
    let beta = fresh_bot("bots-b");
    let plain = format!("{}-plain", fresh_bot("bots").as_str());
    for bucket in [alpha.bucket(), beta.bucket(), plain.clone()] {
        fixture.create_bucket(&bucket).await.expect("create bucket");
    }

    let bots = fixture.store().list_bots().await.expect("list bots");
    assert!(bots.contains(&alpha) && bots.contains(&beta), "missing bots in {bots:?}");
    assert!(!bots.iter().any(|bot| bot.as_str().starts_with(&plain)), "{plain} is no bot");
    assert!(bots.windows(2).all(|pair| pair[0] <= pair[1]), "unsorted: {bots:?}");

    for bucket in [alpha.bucket(), beta.bucket(), plain] {
        fixture.remove_bucket(&bucket).await.expect("remove bucket");
    }
}

/// An empty bucket lists no entries (and no page holding only nothing).
pub async fn empty_bucket_lists_nothing(fixture: &dyn StoreFixture) {
    let bot = fresh_bot("empty");
    fixture.create_bucket(&bot.bucket()).await.expect("create bucket");

    let pages = list_pages(fixture, &bot).await;
    assert!(pages.iter().all(Vec::is_empty), "expected nothing, got {pages:?}");

    fixture.remove_bucket(&bot.bucket()).await.expect("remove bucket");
}

/// A listing of 2 500 objects comes in pages of at most 1 000, complete, without duplicates.
pub async fn large_listing_comes_complete_in_bounded_pages(fixture: &dyn StoreFixture) {
    const N_OBJECTS: usize = 2_500;
    let bot = fresh_bot("large");
    let bucket = bot.bucket();
    fixture.create_bucket(&bucket).await.expect("create bucket");
    let keys: BTreeSet<String> =
        (0..N_OBJECTS).map(|idx| format!("bulk/{:02}/{idx:05}.txt", idx / 100)).collect();
    futures::stream::iter(keys.iter().map(Ok::<_, StoreError>))
        .try_for_each_concurrent(16, |key| fixture.put(&bucket, key, key.as_bytes()))
        .await
        .expect("seed objects");

    let pages = list_pages(fixture, &bot).await;
    assert!(pages.len() >= N_OBJECTS.div_ceil(PAGE_SIZE), "only {} pages", pages.len());
    assert!(pages.iter().all(|page| page.len() <= PAGE_SIZE), "a page is over {PAGE_SIZE}");
    let all: Vec<&ObjectMeta> = pages.iter().flatten().collect();
    let unique: BTreeSet<&str> = all.iter().map(|meta| meta.key.as_str()).collect();
    assert_eq!(unique.len(), all.len(), "duplicate keys across pages");
    let objects: BTreeSet<String> = all
        .iter()
        .filter(|meta| !meta.is_folder_placeholder())
        .map(|meta| meta.key.as_str().to_owned())
        .collect();
    assert_eq!(objects, keys, "the listing is not complete");

    fixture.remove_bucket(&bucket).await.expect("remove bucket");
}

/// Keys with spaces, `+`, `%`, reserved URL characters and non-ASCII text come back from
/// listings exactly as written, and read and stat under that same key.
pub async fn odd_keys_list_read_and_stat_back_identically(fixture: &dyn StoreFixture) {
    const KEYS: [&str; 8] = [
        "with space.txt",
        "plus+sign.txt",
        "per%cent 100%25.txt",
        "ação/日本.md",
        "a&b=c;d.txt",
        "hash#tag(1)[2].md",
        "tilde~'quote'.txt",
        "émoji 🎉/deep/nested file.bas",
    ];
    let bot = fresh_bot("odd");
    let bucket = bot.bucket();
    fixture.create_bucket(&bucket).await.expect("create bucket");
    for key in KEYS {
        fixture.put(&bucket, key, key.as_bytes()).await.expect(key);
    }

    let listed = list_objects(fixture, &bot).await;
    let listed_keys: BTreeSet<&str> = listed.iter().map(|meta| meta.key.as_str()).collect();
    assert_eq!(listed_keys, KEYS.into_iter().collect(), "keys changed on the way");
    for meta in &listed {
        let content = fixture.store().read(&bot, &meta.key, 1024).await.expect("read odd key");
        assert_eq!(content.as_ref(), meta.key.as_str().as_bytes(), "content of {:?}", meta.key);
        let stat = fixture.store().stat(&bot, &meta.key).await.expect("stat odd key");
        let stat = stat.unwrap_or_else(|| panic!("stat lost {:?}", meta.key));
        assert_eq!(stat.key, meta.key);
        assert_eq!(stat.size, meta.size);
        assert_eq!(meta.size, meta.key.as_str().len() as u64);
    }

    fixture.remove_bucket(&bucket).await.expect("remove bucket");
}

/// Listing twice without a write shows the same version; a rewrite shows a new one, in both
/// listings and stats.
pub async fn rewriting_an_object_changes_its_version(fixture: &dyn StoreFixture) {
    let bot = fresh_bot("version");
    let bucket = bot.bucket();
    let key = ObjectKey::new("bot.gbot/config.csv");
    fixture.create_bucket(&bucket).await.expect("create bucket");
    fixture.put(&bucket, key.as_str(), b"theme,blue\n").await.expect("first write");

    let first = only_object(fixture, &bot).await;
    let again = only_object(fixture, &bot).await;
    assert!(first.same_version(&again), "an unchanged object changed: {first:?} {again:?}");
    let stat = fixture.store().stat(&bot, &key).await.expect("stat").expect("object exists");
    assert!(stat.same_version(&first), "stat and listing disagree: {stat:?} {first:?}");
    if fixture.has_etags() {
        let etag = first.etag.as_ref().expect("listing carries an etag");
        assert!(!etag.as_str().contains('"'), "etag is not normalised: {etag:?}");
    } else {
        assert!(first.last_modified.is_some(), "without an etag the time is needed");
    }

    fixture.put(&bucket, key.as_str(), b"theme,dark green\n").await.expect("second write");
    let second = only_object(fixture, &bot).await;
    assert!(!first.same_version(&second), "a rewrite kept the version: {second:?}");
    let stat = fixture.store().stat(&bot, &key).await.expect("stat").expect("object exists");
    assert!(!stat.same_version(&first), "stat kept the old version: {stat:?}");

    // Same size, new content: only an ETag can tell (times are checked per backend).
    if fixture.has_etags() {
        fixture.put(&bucket, key.as_str(), b"theme,dark GREEN\n").await.expect("third write");
        let third = only_object(fixture, &bot).await;
        assert_eq!(third.size, second.size);
        assert!(!second.same_version(&third), "a same-size rewrite kept the version");
    }

    fixture.remove_bucket(&bucket).await.expect("remove bucket");
}

/// Reads refuse objects over the limit with their size, and return those at or under it.
pub async fn reads_over_the_limit_are_too_large(fixture: &dyn StoreFixture) {
    let bot = fresh_bot("limit");
    let bucket = bot.bucket();
    let big = vec![b'x'; 300 * 1024];
    fixture.create_bucket(&bucket).await.expect("create bucket");
    fixture.put(&bucket, "ten.txt", b"0123456789").await.expect("write");
    fixture.put(&bucket, "empty.txt", b"").await.expect("write");
    fixture.put(&bucket, "big.bin", &big).await.expect("write");
    let store = fixture.store();
    let key = ObjectKey::new;

    match store.read(&bot, &key("ten.txt"), 9).await {
        Err(StoreError::TooLarge { size: 10, limit: 9 }) => {}
        other => panic!("expected TooLarge 10 over 9, got {other:?}"),
    }
    assert_eq!(store.read(&bot, &key("ten.txt"), 10).await.expect("read").as_ref(), b"0123456789");
    assert!(store.read(&bot, &key("empty.txt"), 0).await.expect("read empty").is_empty());
    match store.read(&bot, &key("big.bin"), 1024).await {
        Err(StoreError::TooLarge { size, limit: 1024 }) => assert_eq!(size, big.len() as u64),
        other => panic!("expected TooLarge, got {other:?}"),
    }

    fixture.remove_bucket(&bucket).await.expect("remove bucket");
}

/// Listing a missing bucket and reading a missing object are `NotFound`; stats of either
/// are `None`; a deleted object disappears from listings, reads and stats.
pub async fn missing_things_are_not_found(fixture: &dyn StoreFixture) {
    let store = fixture.store();
    let missing_bot = fresh_bot("nobody");
    let key = ObjectKey::new("bot.gbot/config.csv");
    assert!(matches!(store.list(&missing_bot).await, Err(StoreError::NotFound)));
    assert!(matches!(store.read(&missing_bot, &key, 100).await, Err(StoreError::NotFound)));
    assert!(store.stat(&missing_bot, &key).await.expect("stat").is_none());

    let bot = fresh_bot("gone");
    let bucket = bot.bucket();
    fixture.create_bucket(&bucket).await.expect("create bucket");
    assert!(matches!(store.read(&bot, &key, 100).await, Err(StoreError::NotFound)));
    assert!(store.stat(&bot, &key).await.expect("stat").is_none());
    fixture.put(&bucket, key.as_str(), b"a,b\n").await.expect("write");
    fixture.put(&bucket, "keep.md", b"kept").await.expect("write");
    fixture.delete(&bucket, key.as_str()).await.expect("delete");

    let keys: Vec<String> =
        list_objects(fixture, &bot).await.into_iter().map(|meta| meta.key.to_string()).collect();
    assert_eq!(keys, ["keep.md"]);
    assert!(matches!(store.read(&bot, &key, 100).await, Err(StoreError::NotFound)));
    assert!(store.stat(&bot, &key).await.expect("stat").is_none());

    fixture.remove_bucket(&bucket).await.expect("remove bucket");
}

/// Zero-byte folder placeholders are listed under their key with its trailing slash.
pub async fn folder_placeholders_keep_their_trailing_slash(fixture: &dyn StoreFixture) {
    let bot = fresh_bot("folders");
    let bucket = bot.bucket();
    fixture.create_bucket(&bucket).await.expect("create bucket");
    if !fixture.holds_folder_placeholders() {
        let refused = fixture.put(&bucket, "docs/", b"").await;
        assert!(matches!(refused, Err(StoreError::UnsafeKey { .. })), "got {refused:?}");
        fixture.remove_bucket(&bucket).await.expect("remove bucket");
        return;
    }
    fixture.put(&bucket, "docs/", b"").await.expect("write placeholder");
    fixture.put(&bucket, "docs/guide.md", b"# guide").await.expect("write");

    let listed: Vec<ObjectMeta> = list_pages(fixture, &bot).await.into_iter().flatten().collect();
    let folder = listed.iter().find(|meta| meta.key.as_str() == "docs/");
    let folder = folder.unwrap_or_else(|| panic!("no placeholder in {listed:?}"));
    assert!(folder.is_folder_placeholder(), "{folder:?}");
    assert!(listed.iter().any(|meta| meta.key.as_str() == "docs/guide.md"));

    fixture.remove_bucket(&bucket).await.expect("remove bucket");
}

/// Keys that would address another object (or a path outside the bucket) are refused
/// before any request.
pub async fn unaddressable_keys_are_refused(fixture: &dyn StoreFixture) {
    let bot = fresh_bot("refuse");
    let bucket = bot.bucket();
    fixture.create_bucket(&bucket).await.expect("create bucket");
    fixture.put(&bucket, "secret.txt", b"secret").await.expect("write");

    for key in ["../x.gbai/secret.txt", "/secret.txt", "a/../secret.txt", "a//b", ""] {
        let key = ObjectKey::new(key);
        let read = fixture.store().read(&bot, &key, 100).await;
        assert!(matches!(read, Err(StoreError::UnsafeKey { .. })), "read {key:?}: {read:?}");
        let stat = fixture.store().stat(&bot, &key).await;
        assert!(matches!(stat, Err(StoreError::UnsafeKey { .. })), "stat {key:?}: {stat:?}");
    }

    fixture.remove_bucket(&bucket).await.expect("remove bucket");
}

/// Returns a bot name no other run uses: `<case>-<12 random hex digits>`, a valid S3 bucket
/// name once `.gbai` is added.
pub fn fresh_bot(case: &str) -> BotName {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let name = format!("{case}-{}", &suffix[..12]);
    BotName::new(name).expect("case names are short lowercase words")
}

/// Returns every page of a listing of `bot`, failing the test on any error.
async fn list_pages(fixture: &dyn StoreFixture, bot: &BotName) -> Vec<Vec<ObjectMeta>> {
    let mut lister = fixture.store().list(bot).await.expect("start listing");
    let mut pages = Vec::new();
    while let Some(page) = lister.next_page().await.expect("next page") {
        pages.push(page);
    }
    pages
}

/// Returns the listed objects of `bot`, folder placeholders left out.
async fn list_objects(fixture: &dyn StoreFixture, bot: &BotName) -> Vec<ObjectMeta> {
    let pages = list_pages(fixture, bot).await;
    pages.into_iter().flatten().filter(|meta| !meta.is_folder_placeholder()).collect()
}

async fn only_object(fixture: &dyn StoreFixture, bot: &BotName) -> ObjectMeta {
    let mut objects = list_objects(fixture, bot).await;
    assert_eq!(objects.len(), 1, "expected one object, got {objects:?}");
    objects.remove(0)
}

/// Writes one `#[tokio::test]` per contract case, each on a fixture made by `$make` (an
/// expression whose value derefs to a [`StoreFixture`]).
#[cfg(test)]
macro_rules! contract_tests {
    ($make:expr) => {
        $crate::contract::contract_tests!(@cases $make;
            list_bots_finds_only_gbai_buckets,
            empty_bucket_lists_nothing,
            large_listing_comes_complete_in_bounded_pages,
            odd_keys_list_read_and_stat_back_identically,
            rewriting_an_object_changes_its_version,
            reads_over_the_limit_are_too_large,
            missing_things_are_not_found,
            folder_placeholders_keep_their_trailing_slash,
            unaddressable_keys_are_refused
        );
    };
    (@cases $make:expr; $($case:ident),*) => {
        $(
            #[tokio::test]
            async fn $case() {
                let fixture = $make;
                $crate::contract::$case(&*fixture).await;
            }
        )*
    };
}
#[cfg(test)]
pub(crate) use contract_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_bots_are_valid_distinct_s3_bucket_names() {
        let (a, b) = (fresh_bot("large"), fresh_bot("large"));
        assert_ne!(a, b);
        let bucket = a.bucket();
        assert!(bucket.len() <= 63);
        assert!(
            bucket
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b".-".contains(&c))
        );
    }
}
