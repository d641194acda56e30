//! What a monitor scan costs in requests, on the memory backend in every run and on a real
//! S3-protocol server when `DRIVE_TEST_S3_ENDPOINT` names one.
//!
//! The protocol sets the floor: ListObjectsV2 returns at most 1 000 keys per request, and
//! the listing carries every version attribute the diff needs, so a scan of an unchanged
//! bucket of N objects costs ceil(N / 1000) LIST requests (plus one for the top level and
//! one partial page per folder on S3, where folders are listed concurrently) and no GET or
//! HEAD at all.

use std::sync::Arc;

use futures::StreamExt;

use drive_core::testing::MemoryStateStoreForTests;
use drive_core::{BotName, MonitorBuilder, ObjectStore};

use crate::contract::StoreFixture;
use crate::counting::{CountingObjectStore, RequestCounter, RequestCounts};
use crate::{MemoryObjectStore, S3ObjectStore, S3Settings, Secret};

/// Objects per top-level folder of the scanned bucket; 2 500 objects in all, plus two at
/// the top level.
const FOLDERS: [(&str, usize); 3] =
    [("scan.gbkb/", 1_200), ("scan.gbdialog/", 1_000), ("scan.gbtheme/", 300)];
const TOP_LEVEL_OBJECTS: usize = 2;

/// Returns the keys of the scanned bucket.
fn keys() -> Vec<String> {
    let mut keys: Vec<String> = (0..TOP_LEVEL_OBJECTS).map(|idx| format!("top-{idx}.md")).collect();
    for (folder, n_objects) in FOLDERS {
        keys.extend((0..n_objects).map(|idx| format!("{folder}part-{}/doc-{idx:05}.txt", idx % 7)));
    }
    keys
}

/// Seeds `bucket` with [`keys`], a few writes at a time.
async fn seed(fixture: &dyn StoreFixture, bucket: &str) {
    fixture.create_bucket(bucket).await.expect("create bucket");
    let writes = futures::stream::iter(keys()).map(|key| async move {
        fixture.put(bucket, &key, key.as_bytes()).await.expect("write object");
    });
    writes.buffer_unordered(16).collect::<Vec<()>>().await;
}

/// Runs a first sync, then returns the requests of a second one over the unchanged bucket.
async fn unchanged_scan_requests(
    store: Arc<dyn ObjectStore>,
    counter: &RequestCounter,
    bot: &BotName,
) -> RequestCounts {
    let monitor = MonitorBuilder::new(store, Arc::new(MemoryStateStoreForTests::new())).build();
    let first = monitor.sync(bot).await.expect("first sync");
    assert_eq!(first.added, keys().len());

    counter.reset();
    let second = monitor.sync(bot).await.expect("second sync");
    assert_eq!(second.n_changes(), 0, "{second:?}");
    counter.snapshot()
}

#[tokio::test]
async fn an_unchanged_scan_costs_one_list_per_thousand_objects_and_no_read() {
    let memory = MemoryObjectStore::new();
    let bot = BotName::new("scan").unwrap();
    seed(&memory, &bot.bucket()).await;

    let counter = RequestCounter::new();
    let store = Arc::new(CountingObjectStore::new(memory, counter.clone()));
    let counts = unchanged_scan_requests(store, &counter, &bot).await;
    let n_objects = keys().len() as u64;
    assert_eq!(counts, RequestCounts { list: n_objects.div_ceil(1000), ..Default::default() });
}

#[tokio::test]
#[expect(clippy::print_stderr, reason = "a skipped test must say so where tests report")]
async fn an_unchanged_s3_scan_costs_one_list_per_page_of_each_folder_and_no_read() {
    let Ok(endpoint) = std::env::var("DRIVE_TEST_S3_ENDPOINT") else {
        eprintln!("skipped: the S3 scan test runs when DRIVE_TEST_S3_ENDPOINT names a server");
        return;
    };
    let settings = S3Settings::with_keys("test", Secret::new("test"));
    let counter = RequestCounter::new();
    let store = S3ObjectStore::new(&endpoint, &settings)
        .expect("valid s3 settings")
        .with_request_counter(counter.clone());
    let bot = BotName::new(format!("scan-{}", uuid::Uuid::new_v4().simple())).unwrap();
    seed(&store, &bot.bucket()).await;
    let store = Arc::new(store);

    let counts = unchanged_scan_requests(store.clone(), &counter, &bot).await;
    // One request for the top level, then every folder's own pages.
    let folder_pages: usize = FOLDERS.iter().map(|(_, n_objects)| n_objects.div_ceil(1000)).sum();
    let expected = RequestCounts { list: 1 + folder_pages as u64, ..Default::default() };
    assert_eq!(counts, expected);

    store.remove_bucket(&bot.bucket()).await.expect("remove bucket");
}
