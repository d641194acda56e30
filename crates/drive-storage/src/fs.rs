//! An object store on a local folder: each `<bot>.gbai` subfolder of the root is a bucket.
//!
//! The bot `crm` lives in `<root>/crm.gbai`, and the key `crm.gbot/config.csv` is the file
//! `<root>/crm.gbai/crm.gbot/config.csv`. Keys from outside are checked with
//! [`KeyPolicy::Local`] first, so none can name a file outside its bucket folder.
//!
//! Files have no ETag: listings and stats report size and modification time with the full
//! nanosecond precision the filesystem keeps, which is what the monitor compares. Folders
//! are listed as zero-byte `folder/` entries, as S3 lists placeholders.
//!
//! Known limits: a filesystem that stores coarse times (FAT, some network mounts), or a
//! kernel that stamps files with a coarse clock, can give two same-size writes in quick
//! succession the same time, and the second goes unnoticed until the next change. Symbolic
//! links inside a bucket are followed (opendal stats entries whose type it cannot tell), so
//! a link may expose a file outside the root to reading, and a link loop makes listings of
//! that bucket fail. Subfolders whose names are not valid bot names are skipped.

use std::fmt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use tracing::debug;

use drive_core::{BotName, Lister, ObjectKey, ObjectMeta, ObjectStore, StoreError};

use crate::backend::BucketPath;
use crate::error::{StorageError, classify};
use crate::keys::KeyPolicy;

/// An [`ObjectStore`] over a local folder whose `*.gbai` subfolders are the buckets.
pub struct FsObjectStore {
    root: PathBuf,
    op: opendal::Operator,
}

impl fmt::Debug for FsObjectStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FsObjectStore").field("root", &self.root).finish()
    }
}

impl FsObjectStore {
    /// Returns a store over `root`, which must be an existing folder.
    ///
    /// # Errors
    /// [`StorageError::MissingRoot`] when `root` is not a folder;
    /// [`StorageError::InvalidRoot`] when its path is not UTF-8.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        match std::fs::metadata(&root) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(StorageError::MissingRoot { path: root, source: None }),
            Err(source) => {
                return Err(StorageError::MissingRoot { path: root, source: Some(source) });
            }
        }

        let Some(root_text) = root.to_str() else {
            return Err(StorageError::InvalidRoot { path: root, reason: "the path is not UTF-8" });
        };
        let builder = opendal::services::Fs::default().root(root_text);
        let op = opendal::Operator::new(builder).map_err(|err| StorageError::InvalidSettings {
            backend: "filesystem",
            source: Box::new(err),
        })?;
        Ok(Self { root, op })
    }

    /// Returns the root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn bucket_path<'a>(&'a self, bucket: &'a str) -> BucketPath<'a> {
        BucketPath {
            op: &self.op,
            bucket,
            prefix: format!("{bucket}/"),
            policy: KeyPolicy::Local,
            classify,
        }
    }

    /// Returns `Ok` when the bucket folder exists.
    async fn check_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        match self.op.stat(&format!("{bucket}/")).await {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => Err(StoreError::NotFound),
            Err(err) if err.kind() == opendal::ErrorKind::NotADirectory => {
                Err(StoreError::NotFound)
            }
            Err(err) => Err(classify(err)),
        }
    }
}

#[async_trait]
impl ObjectStore for FsObjectStore {
    async fn list_bots(&self) -> Result<Vec<BotName>, StoreError> {
        let entries = self.op.list("/").await.map_err(classify)?;
        let mut bots = Vec::new();
        for entry in entries {
            if !entry.metadata().is_dir() {
                continue;
            }
            let name = entry.path().trim_end_matches('/');
            if name.is_empty() {
                continue;
            }
            match BotName::from_bucket(name) {
                Some(bot) => bots.push(bot),
                None => debug!(folder = %name, "skipped folder that is not a bot bucket"),
            }
        }
        bots.sort();
        Ok(bots)
    }

    async fn list(&self, bot: &BotName) -> Result<Box<dyn Lister>, StoreError> {
        let bucket = bot.bucket();
        self.check_bucket(&bucket).await?;
        Ok(Box::new(self.bucket_path(&bucket).list(None).await?))
    }

    async fn read(&self, bot: &BotName, key: &ObjectKey, limit: u64) -> Result<Bytes, StoreError> {
        let bucket = bot.bucket();
        self.bucket_path(&bucket).read(key, limit).await
    }

    async fn stat(&self, bot: &BotName, key: &ObjectKey) -> Result<Option<ObjectMeta>, StoreError> {
        let bucket = bot.bucket();
        self.bucket_path(&bucket).stat(key).await
    }
}

#[cfg(any(test, feature = "test-util"))]
#[async_trait]
impl crate::contract::StoreFixture for FsObjectStore {
    fn store(&self) -> &dyn ObjectStore {
        self
    }

    fn has_etags(&self) -> bool {
        false
    }

    async fn create_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        crate::keys::check_key(bucket, KeyPolicy::Local)?;
        self.op.create_dir(&format!("{bucket}/")).await.map_err(classify)
    }

    async fn put(&self, bucket: &str, key: &str, content: &[u8]) -> Result<(), StoreError> {
        crate::keys::check_key(key, KeyPolicy::Local)?;
        let path = format!("{bucket}/{key}");
        if key.ends_with('/') {
            return self.op.create_dir(&path).await.map_err(classify);
        }
        self.op.write(&path, content.to_vec()).await.map(drop).map_err(classify)
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), StoreError> {
        crate::keys::check_key(key, KeyPolicy::Local)?;
        self.op.delete(&format!("{bucket}/{key}")).await.map_err(classify)
    }

    async fn remove_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        crate::keys::check_key(bucket, KeyPolicy::Local)?;
        self.op.delete_with(&format!("{bucket}/")).recursive(true).await.map_err(classify)
    }
}

#[cfg(test)]
mod tests {
    use std::fs::{File, FileTimes};
    use std::ops::Deref;
    use std::time::{Duration, SystemTime};

    use drive_core::Timestamp;

    use super::*;

    /// A store over a fresh temporary folder, removed on drop.
    struct TempFs {
        _dir: tempfile::TempDir,
        store: FsObjectStore,
    }

    impl Deref for TempFs {
        type Target = FsObjectStore;

        fn deref(&self) -> &FsObjectStore {
            &self.store
        }
    }

    fn temp_fs() -> TempFs {
        let dir = tempfile::tempdir().unwrap();
        let store = FsObjectStore::new(dir.path()).unwrap();
        TempFs { _dir: dir, store }
    }

    crate::contract::contract_tests!(temp_fs());

    async fn listed(store: &FsObjectStore, bot: &BotName) -> Vec<ObjectMeta> {
        let mut lister = store.list(bot).await.unwrap();
        let mut all = Vec::new();
        while let Some(page) = lister.next_page().await.unwrap() {
            all.extend(page.into_iter().filter(|meta| !meta.is_folder_placeholder()));
        }
        all
    }

    fn set_mtime(path: &Path, time: SystemTime) {
        let file = File::options().write(true).open(path).unwrap();
        file.set_times(FileTimes::new().set_modified(time)).unwrap();
    }

    #[tokio::test]
    async fn list_bots_skips_plain_folders_files_and_invalid_names() {
        let fs = temp_fs();
        for folder in ["crm.gbai", "bad name.gbai", "notes", "sales.gbai", ".gbai"] {
            std::fs::create_dir(fs.root().join(folder)).unwrap();
        }
        std::fs::write(fs.root().join("file.gbai"), "not a folder").unwrap();

        let bots = fs.list_bots().await.unwrap();
        let names: Vec<&str> = bots.iter().map(BotName::as_str).collect();
        assert_eq!(names, ["crm", "sales"]);
    }

    #[tokio::test]
    async fn listing_keeps_nanosecond_times_so_same_size_rewrites_show() {
        let fs = temp_fs();
        let bot = BotName::new("crm").unwrap();
        let file = fs.root().join("crm.gbai/crm.gbot/config.csv");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, "theme,blue\n").unwrap();
        let time = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        set_mtime(&file, time);

        let first = listed(&fs, &bot).await.remove(0);
        assert_eq!(first.key.as_str(), "crm.gbot/config.csv");
        assert_eq!(first.etag, None);
        assert_eq!(first.last_modified, Some(Timestamp::from_nanos(1_700_000_000_123_456_789)));

        // Same size, one nanosecond later: only full precision tells the versions apart.
        std::fs::write(&file, "theme,pink\n").unwrap();
        set_mtime(&file, time + Duration::from_nanos(1));
        let second = listed(&fs, &bot).await.remove(0);
        assert_eq!(second.size, first.size);
        assert!(!first.same_version(&second));
        let stat = fs.stat(&bot, &second.key).await.unwrap().unwrap();
        assert!(stat.same_version(&second), "stat {stat:?} vs listing {second:?}");
    }

    #[tokio::test]
    async fn keys_with_backslashes_or_control_characters_are_refused_by_name() {
        let fs = temp_fs();
        let bot = BotName::new("crm").unwrap();
        std::fs::create_dir(fs.root().join("crm.gbai")).unwrap();
        for key in ["a\\..\\..\\etc", "nul\0byte", "line\nbreak"] {
            let key = ObjectKey::new(key);
            let Err(cause @ StoreError::UnsafeKey { .. }) = fs.read(&bot, &key, 10).await else {
                panic!("{key:?} was not refused");
            };
            assert!(cause.to_string().contains(&format!("{:?}", key.as_str())), "{cause}");
            assert!(matches!(fs.stat(&bot, &key).await, Err(StoreError::UnsafeKey { .. })));
        }
    }

    #[tokio::test]
    async fn a_folder_where_an_object_was_expected_is_missing() {
        let fs = temp_fs();
        let bot = BotName::new("crm").unwrap();
        std::fs::create_dir_all(fs.root().join("crm.gbai/crm.gbot")).unwrap();
        let key = ObjectKey::new("crm.gbot");

        let read = fs.read(&bot, &key, 10).await;
        assert!(matches!(read, Err(StoreError::NotFound)), "{read:?}");
        assert_eq!(fs.stat(&bot, &key).await.unwrap(), None);

        std::fs::write(fs.root().join("crm.gbai/file.txt"), "x").unwrap();
        let through_a_file = ObjectKey::new("file.txt/inner");
        let read = fs.read(&bot, &through_a_file, 10).await;
        assert!(matches!(read, Err(StoreError::NotFound)), "{read:?}");
        assert_eq!(fs.stat(&bot, &through_a_file).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_bucket_that_is_a_file_does_not_list() {
        let fs = temp_fs();
        std::fs::write(fs.root().join("crm.gbai"), "file").unwrap();
        let listing = fs.list(&BotName::new("crm").unwrap()).await;
        assert!(matches!(listing, Err(StoreError::NotFound)));
    }

    #[test]
    fn a_missing_root_is_an_error_naming_it() {
        let err = FsObjectStore::new("/no/such/drive/root").unwrap_err();
        assert!(err.to_string().contains("/no/such/drive/root"), "{err}");
    }
}
