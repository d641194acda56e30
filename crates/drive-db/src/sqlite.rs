//! The SQLite backend, the embedded default: one file on local disk.
//!
//! Every operation runs as one task on tokio's blocking pool, through diesel-async's
//! [`SyncConnectionWrapper`]: a whole transaction is one hop off the runtime, not one hop per
//! statement. Writes are serialised by a lock in the process and run as `BEGIN IMMEDIATE`
//! transactions, so a second process on the same file waits (up to the busy timeout) instead
//! of failing halfway. The file runs in WAL mode, so reads proceed beside the writer. Tables
//! are STRICT: a value of the wrong type written behind this crate's back is refused rather
//! than read back converted.
//!
//! Multi-row `INSERT`s go through diesel's synchronous API: diesel-async cannot send SQLite
//! batch inserts.
//!
//! Known limits:
//! - The file must be on a local disk: WAL mode needs shared memory between processes.
//! - A write still waiting for the busy timeout (another process holding the file) fails as
//!   [`PersistError::Unavailable`], and the monitor retries it later.
//! - Dropping a write future does not stop its blocking task: the transaction may still
//!   commit after the caller gave up on it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_async::AsyncConnection;
use diesel_async::futures_util::future::BoxFuture;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use tracing::{debug, info};

use drive_core::{
    BotName, BoxError, ConfigSink, FileRecord, FileStateStore, ObjectKey, PersistError, PromptSink,
    Setting, StateUpdate,
};

use crate::error::{DbError, in_bot, query_failed, unavailable};
use crate::plan::{
    KEYS_PER_STATEMENT, SETTINGS_ROWS_PER_STATEMENT, STATE_ROWS_PER_STATEMENT, SettingsPlan,
    StatePlan, StoredSetting, join_prompts, now,
};
use crate::rows::{FileStateRow, PromptRow, decode_bots, decode_records};
use crate::schema::{bots, file_state, prompts, set_columns_from_excluded, settings};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Settings of every connection. The busy timeout bounds how long a statement waits for
/// another process's lock; `synchronous = NORMAL` is durable across crashes of this process
/// in WAL mode, and loses at most the last transactions on a power cut.
const CONNECTION_PRAGMAS: &str =
    "PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;";

/// Connections in the pool: in WAL mode readers run beside the one writer.
const POOL_SIZE: usize = 4;

/// How long an operation waits for a free connection before failing as unavailable.
const POOL_WAIT: Duration = Duration::from_secs(30);

type SqliteConn = SyncConnectionWrapper<SqliteConnection>;

/// File state, settings and prompts in one SQLite file.
///
/// Cheap to clone: clones share the connection pool and the writer lock.
#[derive(Clone)]
pub struct SqliteDatabase {
    pool: Pool<SqliteConn>,
    /// Held for every write transaction: SQLite takes one writer at a time, and queueing
    /// here is fairer than spinning on the file lock.
    write_lock: Arc<tokio::sync::Mutex<()>>,
    path: Arc<Path>,
}

impl fmt::Debug for SqliteDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteDatabase").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SqliteDatabase {
    /// Opens the database file at `path`, creating it and its folder if missing, and brings
    /// its schema up to date. Opening an up-to-date file again changes nothing.
    ///
    /// Works on either tokio runtime flavour.
    ///
    /// # Errors
    /// [`DbError::InvalidUrl`] for an empty or non-UTF-8 path or `:memory:` (each pooled
    /// connection would see its own empty database); [`DbError::CreateFolder`],
    /// [`DbError::Connect`] or [`DbError::Migrate`] when the file cannot be prepared.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, DbError> {
        let path: PathBuf = path.as_ref().to_owned();
        let Some(path_text) = path.to_str().map(str::to_owned) else {
            return Err(DbError::InvalidUrl { reason: "the SQLite path is not UTF-8" });
        };
        if path_text.is_empty() || path_text == ":memory:" {
            return Err(DbError::InvalidUrl { reason: "SQLite needs a file path" });
        }
        tokio::runtime::Handle::try_current().map_err(|_| DbError::NoRuntime)?;

        let prepared_path = path.clone();
        tokio::task::spawn_blocking(move || prepare_file(&prepared_path))
            .await
            .map_err(|err| DbError::Connect(err.into()))??;

        let pool = build_pool(path_text)?;
        info!(db.backend = "sqlite", db.path = %path.display(), "database ready");
        Ok(Self { pool, write_lock: Arc::default(), path: path.into() })
    }

    /// Returns the path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `task` on a pooled connection, off the async runtime.
    pub(crate) async fn read<R: Send + 'static>(
        &self,
        task: impl FnOnce(&mut SqliteConnection) -> QueryResult<R> + Send + 'static,
    ) -> Result<R, PersistError> {
        let mut conn = self.pool.get().await.map_err(unavailable)?;
        conn.spawn_blocking(task).await.map_err(query_failed)
    }

    /// Runs `task` in one immediate transaction, one writer at a time, off the async runtime.
    pub(crate) async fn write<R: Send + 'static>(
        &self,
        task: impl FnOnce(&mut SqliteConnection) -> QueryResult<R> + Send + 'static,
    ) -> Result<R, PersistError> {
        let _writer = self.write_lock.lock().await;
        let mut conn = self.pool.get().await.map_err(unavailable)?;
        conn.spawn_blocking(move |conn| conn.immediate_transaction(task))
            .await
            .map_err(query_failed)
    }

    /// Runs `sql` as it is, for tests that damage rows on purpose.
    #[cfg(any(test, feature = "test-util"))]
    pub(crate) async fn execute_for_tests(&self, sql: &str) -> Result<(), PersistError> {
        let sql = sql.to_owned();
        self.write(move |conn| conn.batch_execute(&sql)).await
    }
}

/// Creates the folder and file, switches the file to WAL mode and migrates it.
fn prepare_file(path: &Path) -> Result<(), DbError> {
    if let Some(folder) = path.parent().filter(|folder| !folder.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder)
            .map_err(|source| DbError::CreateFolder { path: folder.to_owned(), source })?;
    }
    let path_text = path.to_string_lossy();
    let mut conn =
        SqliteConnection::establish(&path_text).map_err(|err| DbError::Connect(err.into()))?;
    conn.batch_execute("PRAGMA journal_mode = WAL;")
        .and_then(|()| conn.batch_execute(CONNECTION_PRAGMAS))
        .map_err(|err| DbError::Connect(err.into()))?;

    // One immediate transaction, so that two processes opening a new file at once do not
    // both try to create the tables.
    conn.immediate_transaction(|conn| {
        conn.run_pending_migrations(MIGRATIONS).map(drop).map_err(MigrationFailure::Migrate)
    })
    .map_err(|err| match err {
        MigrationFailure::Query(err) => DbError::Migrate(err.into()),
        MigrationFailure::Migrate(err) => DbError::Migrate(err),
    })
}

enum MigrationFailure {
    Query(diesel::result::Error),
    Migrate(BoxError),
}

impl From<diesel::result::Error> for MigrationFailure {
    fn from(err: diesel::result::Error) -> Self {
        MigrationFailure::Query(err)
    }
}

fn build_pool(path: String) -> Result<Pool<SqliteConn>, DbError> {
    let mut config = ManagerConfig::default();
    // A SQLite connection does not go stale the way a socket does; skip the ping.
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(connect);
    let manager = AsyncDieselConnectionManager::new_with_config(path, config);
    Pool::builder(manager)
        .max_size(POOL_SIZE)
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(POOL_WAIT))
        .build()
        .map_err(|err| DbError::Connect(err.into()))
}

/// Opens one pooled connection with the settings every connection needs.
fn connect(path: &str) -> BoxFuture<'_, ConnectionResult<SqliteConn>> {
    Box::pin(async move {
        let mut conn = SqliteConn::establish(path).await?;
        conn.spawn_blocking(|conn| conn.batch_execute(CONNECTION_PRAGMAS))
            .await
            .map_err(ConnectionError::CouldntSetupConfiguration)?;
        Ok(conn)
    })
}

#[async_trait]
impl FileStateStore for SqliteDatabase {
    async fn load(&self, bot: &BotName) -> Result<Vec<FileRecord>, PersistError> {
        let bot_name = bot.as_str().to_owned();
        let rows = self
            .read(move |conn| {
                file_state::table
                    .filter(file_state::bot.eq(&bot_name))
                    .select(FileStateRow::as_select())
                    .load(conn)
            })
            .await
            .map_err(in_bot(bot))?;
        decode_records(rows).await
    }

    async fn commit(&self, bot: &BotName, updates: &[StateUpdate]) -> Result<(), PersistError> {
        let started = now();
        let plan = StatePlan::build(bot, updates, started);
        let (n_upserts, n_removals) = (plan.upserts.len(), plan.removals.len());
        let bot_name = bot.as_str().to_owned();
        self.write(move |conn| {
            diesel::insert_into(bots::table)
                .values((bots::name.eq(&bot_name), bots::first_seen.eq(started.as_nanos())))
                .on_conflict_do_nothing()
                .execute(conn)?;
            for chunk in plan.upserts.chunks(STATE_ROWS_PER_STATEMENT) {
                diesel::insert_into(file_state::table)
                    .values(chunk)
                    .on_conflict((file_state::bot, file_state::key))
                    .do_update()
                    .set(set_columns_from_excluded!(file_state))
                    .execute(conn)?;
            }
            for chunk in plan.removals.chunks(KEYS_PER_STATEMENT) {
                let doomed = file_state::bot.eq(&bot_name).and(file_state::key.eq_any(chunk));
                diesel::delete(file_state::table.filter(doomed)).execute(conn)?;
            }
            Ok(())
        })
        .await
        .map_err(in_bot(bot))?;
        debug!(bot = %bot, n_upserts, n_removals, "file state committed");
        Ok(())
    }

    async fn bots(&self) -> Result<Vec<BotName>, PersistError> {
        let names = self.read(|conn| bots::table.select(bots::name).load(conn)).await?;
        decode_bots(names)
    }
}

#[async_trait]
impl ConfigSink for SqliteDatabase {
    async fn replace_settings(
        &self,
        bot: &BotName,
        source: &ObjectKey,
        settings: &[Setting],
    ) -> Result<Vec<String>, PersistError> {
        let (owner, source, settings) = (bot.clone(), source.clone(), settings.to_vec());
        self.write(move |conn| {
            let before: Vec<StoredSetting> = settings::table
                .filter(settings::bot.eq(owner.as_str()))
                .select(StoredSetting::as_select())
                .load(conn)?;
            let plan = SettingsPlan::new(&owner, &source, &before, &settings, now());

            let from_source =
                settings::bot.eq(owner.as_str()).and(settings::source_key.eq(source.as_str()));
            diesel::delete(settings::table.filter(from_source)).execute(conn)?;
            for chunk in plan.rows.chunks(SETTINGS_ROWS_PER_STATEMENT) {
                diesel::insert_into(settings::table)
                    .values(chunk)
                    .on_conflict((settings::bot, settings::name))
                    .do_update()
                    .set(set_columns_from_excluded!(settings))
                    .execute(conn)?;
            }
            Ok(plan.changed)
        })
        .await
        .map_err(in_bot(bot))
    }

    async fn remove_settings(
        &self,
        bot: &BotName,
        source: &ObjectKey,
    ) -> Result<Vec<String>, PersistError> {
        self.replace_settings(bot, source, &[]).await
    }

    async fn settings(&self, bot: &BotName) -> Result<Vec<Setting>, PersistError> {
        let bot_name = bot.as_str().to_owned();
        let mut pairs: Vec<(String, String)> = self
            .read(move |conn| {
                settings::table
                    .filter(settings::bot.eq(&bot_name))
                    .select((settings::name, settings::value))
                    .load(conn)
            })
            .await
            .map_err(in_bot(bot))?;
        pairs.sort_unstable();
        Ok(pairs.into_iter().map(|(name, value)| Setting { name, value }).collect())
    }
}

#[async_trait]
impl PromptSink for SqliteDatabase {
    async fn set_prompt(
        &self,
        bot: &BotName,
        source: &ObjectKey,
        text: &str,
    ) -> Result<(), PersistError> {
        let row = PromptRow::new(bot, source, text, now());
        self.write(move |conn| {
            diesel::insert_into(prompts::table)
                .values(&row)
                .on_conflict((prompts::bot, prompts::source_key))
                .do_update()
                .set(set_columns_from_excluded!(prompts))
                .execute(conn)
                .map(drop)
        })
        .await
        .map_err(in_bot(bot))
    }

    async fn remove_prompt(&self, bot: &BotName, source: &ObjectKey) -> Result<(), PersistError> {
        let (bot_name, source_key) = (bot.as_str().to_owned(), source.as_str().to_owned());
        self.write(move |conn| {
            let doomed = prompts::bot.eq(&bot_name).and(prompts::source_key.eq(&source_key));
            diesel::delete(prompts::table.filter(doomed)).execute(conn).map(drop)
        })
        .await
        .map_err(in_bot(bot))
    }

    async fn prompt(&self, bot: &BotName) -> Result<Option<String>, PersistError> {
        let bot_name = bot.as_str().to_owned();
        let parts = self
            .read(move |conn| {
                prompts::table
                    .filter(prompts::bot.eq(&bot_name))
                    .select((prompts::source_key, prompts::text))
                    .load(conn)
            })
            .await
            .map_err(in_bot(bot))?;
        Ok(join_prompts(parts))
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use drive_core::{FileStatus, Kind, ObjectMeta};
    use tempfile::TempDir;

    use super::*;
    use crate::Database;
    use crate::contract::{Fixture, contract_tests};

    struct SqliteFixture {
        dir: TempDir,
        path: PathBuf,
    }

    #[async_trait]
    impl Fixture for SqliteFixture {
        async fn open(&self) -> Database {
            crate::open(&format!("sqlite:{}", self.path.display())).await.expect("open sqlite")
        }
    }

    fn fixture() -> SqliteFixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("nested/folder/state.db");
        SqliteFixture { dir, path }
    }

    async fn run<F, Fut>(case: F)
    where
        F: FnOnce(Arc<dyn Fixture>) -> Fut,
        Fut: Future<Output = ()>,
    {
        case(Arc::new(fixture())).await;
    }

    contract_tests!(run);

    fn records(prefix: &str, n_records: usize) -> Vec<StateUpdate> {
        (0..n_records)
            .map(|idx| {
                StateUpdate::Upsert(FileRecord {
                    kind: Kind::Theme,
                    current: ObjectMeta::new(format!("{prefix}.gbtheme/{idx}.css"), 1),
                    live: None,
                    status: FileStatus::Live,
                })
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn missing_folders_are_created_and_the_file_runs_in_wal_mode() {
        let fixture = fixture();
        let db = SqliteDatabase::open(&fixture.path).await.unwrap();
        let bot = BotName::new("wal").unwrap();
        db.commit(&bot, &records("wal", 3)).await.unwrap();

        assert!(fixture.path.is_file());
        assert!(fixture.path.with_file_name("state.db-wal").is_file(), "no write-ahead log");
        assert_eq!(db.path(), fixture.path);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_queue_instead_of_failing() {
        let fixture = fixture();
        let first = SqliteDatabase::open(&fixture.path).await.unwrap();
        // A second handle has its own pool and writer lock, like a second process.
        let second = SqliteDatabase::open(&fixture.path).await.unwrap();

        let mut tasks = tokio::task::JoinSet::new();
        for idx in 0..12 {
            let db = if idx % 2 == 0 { first.clone() } else { second.clone() };
            tasks.spawn(async move {
                let bot = BotName::new(format!("bot{idx}")).unwrap();
                db.commit(&bot, &records("c", 200)).await?;
                let source = ObjectKey::new("c.gbot/config.csv");
                db.replace_settings(&bot, &source, &[Setting::new("n", idx.to_string())]).await?;
                db.load(&bot).await
            });
        }
        while let Some(loaded) = tasks.join_next().await {
            assert_eq!(loaded.unwrap().unwrap().len(), 200);
        }
        assert_eq!(first.bots().await.unwrap().len(), 12);
    }

    #[tokio::test]
    async fn works_on_a_current_thread_runtime() {
        let fixture = fixture();
        let db = SqliteDatabase::open(&fixture.path).await.unwrap();
        let bot = BotName::new("single").unwrap();
        // Enough records to take the path that plans large commits off the async worker.
        db.commit(&bot, &records("single", 1_500)).await.unwrap();
        assert_eq!(db.load(&bot).await.unwrap().len(), 1_500);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn strict_tables_refuse_values_of_the_wrong_type() {
        let fixture = fixture();
        let db = SqliteDatabase::open(&fixture.path).await.unwrap();
        let bot = BotName::new("strict").unwrap();
        db.commit(&bot, &records("strict", 1)).await.unwrap();
        for damage in ["size = 'big'", "last_modified = 1.5", "kind = x'ff'"] {
            let sql = format!("UPDATE file_state SET {damage}");
            assert!(db.execute_for_tests(&sql).await.is_err(), "{damage} was stored");
        }
        assert_eq!(db.load(&bot).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn paths_that_name_no_file_are_refused() {
        for url in ["sqlite:", "sqlite::memory:", "sqlite://"] {
            let err = crate::open(url).await.unwrap_err();
            assert!(matches!(err, DbError::InvalidUrl { .. }), "{url}: {err:?}");
        }
    }

    #[tokio::test]
    async fn a_file_where_the_folder_should_be_fails_cleanly() {
        let fixture = fixture();
        let blocker = fixture.dir.path().join("blocker");
        std::fs::write(&blocker, b"not a folder").unwrap();
        let err = SqliteDatabase::open(blocker.join("state.db")).await.unwrap_err();
        assert!(matches!(err, DbError::CreateFolder { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn a_file_that_is_not_a_database_fails_to_open() {
        let fixture = fixture();
        let garbage = fixture.dir.path().join("garbage.db");
        std::fs::write(&garbage, vec![7u8; 8192]).unwrap();
        let err = SqliteDatabase::open(&garbage).await.unwrap_err();
        assert!(matches!(err, DbError::Connect(_) | DbError::Migrate(_)), "{err:?}");
    }
}
