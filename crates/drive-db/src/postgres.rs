//! The PostgreSQL backend, for deployments that run several servers or want the state
//! backed up with the rest of their data.
//!
//! Connections come from a deadpool pool of diesel-async's pure-Rust [`AsyncPgConnection`]
//! (tokio-postgres; no libpq). Every write is one transaction; large commits send multi-row
//! statements in chunks, so 100 000 records take about a hundred round trips.
//!
//! Known limits:
//! - No TLS: connections are plain TCP or a Unix socket, fit for a database on the same
//!   host or a private network only.
//! - FIXME: PostgreSQL refuses NUL characters in text, so a setting, prompt or key holding
//!   one fails as [`PersistError::Unavailable`] and is retried in vain; a permanent
//!   "rejected" variant of `PersistError` in drive-core would let the monitor mark it
//!   invalid instead.
//! - Writes to the settings of one bot from two servers at once can report inexact changed
//!   names (each transaction sees the other's rows only once committed); the monitor
//!   serialises the cycles of a bot, which avoids it in one process.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::{AsyncConnection, AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use tracing::{debug, info};

use drive_core::{
    BotName, ConfigSink, FileRecord, FileStateStore, ObjectKey, PersistError, PromptSink, Setting,
    StateUpdate,
};

use crate::error::{DbError, in_bot, query_failed, unavailable};
use crate::knowledge::VectorIndex;
use crate::plan::{
    KEYS_PER_STATEMENT, SETTINGS_ROWS_PER_STATEMENT, STATE_ROWS_PER_STATEMENT, SettingsPlan,
    StatePlan, StoredSetting, join_prompts, now,
};
use crate::rows::{FileStateRow, PromptRow, decode_bots, decode_records};
use crate::schema::{bots, file_state, prompts, set_columns_from_excluded, settings};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Connections in the pool: enough for every bot's cycle and the status API at once.
const POOL_SIZE: usize = 8;

/// How long establishing one connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an operation waits for a free connection before failing as unavailable.
const POOL_WAIT: Duration = Duration::from_secs(30);

/// Session advisory lock held while migrating, so that servers starting together against one
/// database migrate it once. The value is arbitrary but fixed ("drivedb" in ASCII).
pub(crate) const MIGRATION_LOCK: i64 = 0x0064_7269_7665_6462;

/// File state, settings and prompts in a PostgreSQL database.
///
/// Cheap to clone: clones share the connection pool.
#[derive(Clone)]
pub struct PgDatabase {
    pool: Pool<AsyncPgConnection>,
    /// pgvector's HNSW index for the vector half of search; `None` where the server does not
    /// offer the `vector` extension (or this role may not create it).
    pub(crate) vector_index: Option<Arc<VectorIndex>>,
}

impl fmt::Debug for PgDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The connection string stays out: it may hold a password.
        f.debug_struct("PgDatabase")
            .field("pool", &self.pool.status())
            .field("vector_index", &self.vector_index.is_some())
            .finish()
    }
}

impl PgDatabase {
    /// Connects to the database named by `url` (`postgres://user:password@host:port/db` or
    /// tokio-postgres' `key=value` form) and brings its schema up to date. Opening an
    /// up-to-date database again changes nothing.
    ///
    /// Where the server offers the `vector` extension (pgvector), also creates it and the
    /// column its index needs, so that vector search uses an HNSW index; where it does not,
    /// or the role may not create it, search stays exact (logged once at info).
    ///
    /// Works on either tokio runtime flavour.
    ///
    /// # Errors
    /// [`DbError::Connect`] when the server cannot be reached or refuses the connection;
    /// [`DbError::Migrate`] when the schema cannot be brought up to date.
    pub async fn open(url: &str) -> Result<Self, DbError> {
        tokio::runtime::Handle::try_current().map_err(|_| DbError::NoRuntime)?;
        let conn = connect(url).await?;
        migrate(conn).await?;

        let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(url);
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool::Runtime::Tokio1)
            .create_timeout(Some(CONNECT_TIMEOUT))
            .wait_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|err| DbError::Connect(err.into()))?;
        let mut conn = pool.get().await.map_err(|err| DbError::Connect(err.into()))?;
        let vector_index = crate::knowledge::enable_vector_index(&mut conn)
            .await
            .map_err(|err| DbError::Connect(err.into()))?
            .map(Arc::new);
        drop(conn);
        info!(db.backend = "postgres", "database ready");
        Ok(Self { pool, vector_index })
    }

    /// Returns this database with pgvector's index left unused, so that tests can run the
    /// exact path on a server that has the extension.
    #[cfg(any(test, feature = "test-util"))]
    pub fn without_vector_index_for_tests(mut self) -> Self {
        self.vector_index = None;
        self
    }

    pub(crate) async fn conn(&self) -> Result<Object<AsyncPgConnection>, PersistError> {
        self.pool.get().await.map_err(unavailable)
    }

    /// Runs `sql` as it is, for tests that damage rows on purpose.
    #[cfg(any(test, feature = "test-util"))]
    pub(crate) async fn execute_for_tests(&self, sql: &str) -> Result<(), PersistError> {
        use diesel_async::SimpleAsyncConnection;

        self.conn().await?.batch_execute(sql).await.map_err(query_failed)
    }
}

async fn connect(url: &str) -> Result<AsyncPgConnection, DbError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, AsyncPgConnection::establish(url)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(err)) => Err(DbError::Connect(err.into())),
        Err(elapsed) => Err(DbError::Connect(elapsed.into())),
    }
}

/// Runs the pending migrations on `conn` under [`MIGRATION_LOCK`], then closes it (which
/// releases the lock).
async fn migrate(mut conn: AsyncPgConnection) -> Result<(), DbError> {
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK)
        .execute(&mut conn)
        .await
        .map_err(|err| DbError::Migrate(err.into()))?;

    // The harness blocks in place on the runtime; from the blocking pool it works under
    // either runtime flavour, and the runtime's workers stay free meanwhile.
    tokio::task::spawn_blocking(move || {
        let mut harness = AsyncMigrationHarness::new(conn);
        harness.run_pending_migrations(MIGRATIONS).map(drop)
    })
    .await
    .map_err(|err| DbError::Migrate(err.into()))?
    .map_err(DbError::Migrate)
}

#[async_trait]
impl FileStateStore for PgDatabase {
    async fn load(&self, bot: &BotName) -> Result<Vec<FileRecord>, PersistError> {
        let rows = file_state::table
            .filter(file_state::bot.eq(bot.as_str()))
            .select(FileStateRow::as_select())
            .load(&mut self.conn().await?)
            .await
            .map_err(query_failed)
            .map_err(in_bot(bot))?;
        decode_records(rows).await
    }

    async fn commit(&self, bot: &BotName, updates: &[StateUpdate]) -> Result<(), PersistError> {
        let started = now();
        let plan = StatePlan::build(bot, updates, started);
        let mut conn = self.conn().await?;
        conn.transaction(async |conn| {
            diesel::insert_into(bots::table)
                .values((bots::name.eq(bot.as_str()), bots::first_seen.eq(started.as_nanos())))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
            for chunk in plan.upserts.chunks(STATE_ROWS_PER_STATEMENT) {
                diesel::insert_into(file_state::table)
                    .values(chunk)
                    .on_conflict((file_state::bot, file_state::key))
                    .do_update()
                    .set(set_columns_from_excluded!(file_state))
                    .execute(conn)
                    .await?;
            }
            for chunk in plan.removals.chunks(KEYS_PER_STATEMENT) {
                let doomed = file_state::bot.eq(bot.as_str()).and(file_state::key.eq_any(chunk));
                diesel::delete(file_state::table.filter(doomed)).execute(conn).await?;
            }
            Ok::<_, diesel::result::Error>(())
        })
        .await
        .map_err(query_failed)
        .map_err(in_bot(bot))?;
        debug!(
            bot = %bot,
            n_upserts = plan.upserts.len(),
            n_removals = plan.removals.len(),
            "file state committed"
        );
        Ok(())
    }

    async fn bots(&self) -> Result<Vec<BotName>, PersistError> {
        let names = bots::table
            .select(bots::name)
            .load(&mut self.conn().await?)
            .await
            .map_err(query_failed)?;
        decode_bots(names)
    }
}

#[async_trait]
impl ConfigSink for PgDatabase {
    async fn replace_settings(
        &self,
        bot: &BotName,
        source: &ObjectKey,
        settings: &[Setting],
    ) -> Result<Vec<String>, PersistError> {
        let mut conn = self.conn().await?;
        conn.transaction(async |conn| {
            let before: Vec<StoredSetting> = settings::table
                .filter(settings::bot.eq(bot.as_str()))
                .select(StoredSetting::as_select())
                .load(conn)
                .await?;
            let plan = SettingsPlan::new(bot, source, &before, settings, now());

            let from_source =
                settings::bot.eq(bot.as_str()).and(settings::source_key.eq(source.as_str()));
            diesel::delete(settings::table.filter(from_source)).execute(conn).await?;
            for chunk in plan.rows.chunks(SETTINGS_ROWS_PER_STATEMENT) {
                diesel::insert_into(settings::table)
                    .values(chunk)
                    .on_conflict((settings::bot, settings::name))
                    .do_update()
                    .set(set_columns_from_excluded!(settings))
                    .execute(conn)
                    .await?;
            }
            Ok::<_, diesel::result::Error>(plan.changed)
        })
        .await
        .map_err(query_failed)
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
        let mut pairs: Vec<(String, String)> = settings::table
            .filter(settings::bot.eq(bot.as_str()))
            .select((settings::name, settings::value))
            .load(&mut self.conn().await?)
            .await
            .map_err(query_failed)
            .map_err(in_bot(bot))?;
        // Sorted here rather than in SQL: the database's collation may not be bytewise.
        pairs.sort_unstable();
        Ok(pairs.into_iter().map(|(name, value)| Setting { name, value }).collect())
    }
}

#[async_trait]
impl PromptSink for PgDatabase {
    async fn set_prompt(
        &self,
        bot: &BotName,
        source: &ObjectKey,
        text: &str,
    ) -> Result<(), PersistError> {
        diesel::insert_into(prompts::table)
            .values(PromptRow::new(bot, source, text, now()))
            .on_conflict((prompts::bot, prompts::source_key))
            .do_update()
            .set(set_columns_from_excluded!(prompts))
            .execute(&mut self.conn().await?)
            .await
            .map(drop)
            .map_err(query_failed)
            .map_err(in_bot(bot))
    }

    async fn remove_prompt(&self, bot: &BotName, source: &ObjectKey) -> Result<(), PersistError> {
        let doomed = prompts::bot.eq(bot.as_str()).and(prompts::source_key.eq(source.as_str()));
        diesel::delete(prompts::table.filter(doomed))
            .execute(&mut self.conn().await?)
            .await
            .map(drop)
            .map_err(query_failed)
            .map_err(in_bot(bot))
    }

    async fn prompt(&self, bot: &BotName) -> Result<Option<String>, PersistError> {
        let parts = prompts::table
            .filter(prompts::bot.eq(bot.as_str()))
            .select((prompts::source_key, prompts::text))
            .load(&mut self.conn().await?)
            .await
            .map_err(query_failed)
            .map_err(in_bot(bot))?;
        Ok(join_prompts(parts))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use drive_core::{FileStatus, Kind, ObjectMeta};

    use super::*;
    use crate::Database;
    use crate::contract::{Fixture, PgTestDatabase, contract_tests};

    struct PgFixture {
        url: String,
    }

    #[async_trait]
    impl Fixture for PgFixture {
        async fn open(&self) -> Database {
            crate::open(&self.url).await.expect("open postgres")
        }
    }

    async fn test_database() -> PgTestDatabase {
        PgTestDatabase::create().await.expect(
            "PostgreSQL at DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres); \
             start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
        )
    }

    /// Runs `case` against a fresh database and drops it afterwards, even if `case` panics.
    async fn run<F, Fut>(case: F)
    where
        F: FnOnce(Arc<dyn Fixture>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let db = test_database().await;
        let fixture = Arc::new(PgFixture { url: db.url().to_owned() });
        let outcome = tokio::spawn(case(fixture)).await;
        db.drop_database().await.expect("drop the test database");
        if let Err(err) = outcome
            && let Ok(panic) = err.try_into_panic()
        {
            std::panic::resume_unwind(panic);
        }
    }

    contract_tests!(run);

    /// The knowledge cases again on the exact path, which servers without the `vector`
    /// extension use, so that both paths keep passing on a server that has it.
    mod exact_vectors {
        use super::*;

        struct PgExactFixture {
            url: String,
        }

        #[async_trait]
        impl Fixture for PgExactFixture {
            async fn open(&self) -> Database {
                let db = PgDatabase::open(&self.url).await.expect("open postgres");
                Database::Postgres(db.without_vector_index_for_tests())
            }
        }

        async fn run_exact<F, Fut>(case: F)
        where
            F: FnOnce(Arc<dyn Fixture>) -> Fut,
            Fut: Future<Output = ()> + Send + 'static,
        {
            let db = test_database().await;
            let fixture = Arc::new(PgExactFixture { url: db.url().to_owned() });
            let outcome = tokio::spawn(case(fixture)).await;
            db.drop_database().await.expect("drop the test database");
            if let Err(err) = outcome
                && let Ok(panic) = err.try_into_panic()
            {
                std::panic::resume_unwind(panic);
            }
        }

        contract_tests!(@cases run_exact;
            knowledge_documents_replace_keep_vectors_and_remove,
            knowledge_search_is_hybrid_and_scoped,
            knowledge_vectors_catch_up_with_a_new_model,
            knowledge_repair_rebuilds_from_stored_text,
        );
    }

    fn record(key: &str) -> StateUpdate {
        StateUpdate::Upsert(FileRecord {
            kind: Kind::Script,
            current: ObjectMeta::new(key, 1),
            live: None,
            status: FileStatus::Live,
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nul_characters_are_refused_as_unavailable() {
        // FIXME: PostgreSQL refuses NUL in text and the only error the port offers is the
        // transient one; see the module's known limits.
        run(|fixture: Arc<dyn Fixture>| async move {
            let db = fixture.open().await;
            let bot = BotName::new("nul").unwrap();
            let source = ObjectKey::new("nul.gbot/prompt.md");
            let err = db.prompt_sink().set_prompt(&bot, &source, "a\0b").await.unwrap_err();
            assert!(matches!(err, PersistError::Unavailable(_)), "{err:?}");
            assert_eq!(db.prompt_sink().prompt(&bot).await.unwrap(), None);
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn servers_opening_together_migrate_once() {
        let test_db = test_database().await;
        let mut handles = Vec::new();
        for _ in 0..4 {
            let url = test_db.url().to_owned();
            handles.push(tokio::spawn(async move { PgDatabase::open(&url).await.map(drop) }));
        }
        let mut results = Vec::new();
        for handle in handles {
            results.push(handle.await.unwrap());
        }
        test_db.drop_database().await.unwrap();
        for result in results {
            result.unwrap();
        }
    }

    #[tokio::test]
    async fn works_on_a_current_thread_runtime() {
        let test_db = test_database().await;
        let db = PgDatabase::open(test_db.url()).await.unwrap();
        let bot = BotName::new("single").unwrap();
        db.commit(&bot, &[record("a.gbdialog/a.bas")]).await.unwrap();
        let loaded = db.load(&bot).await.unwrap();
        drop(db);
        test_db.drop_database().await.unwrap();
        assert_eq!(loaded.len(), 1);
    }

    #[tokio::test]
    async fn an_unreachable_server_fails_to_open_as_retryable() {
        // Nothing listens on port 1 of the loopback interface.
        let err = crate::open("postgres://drive:secret@127.0.0.1:1/drive").await.unwrap_err();
        assert!(matches!(err, DbError::Connect(_)) && err.is_retryable(), "{err:?}");
        assert!(!format!("{err:?}").contains("secret"), "{err:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_vanished_database_makes_operations_unavailable() {
        let test_db = test_database().await;
        let db = PgDatabase::open(test_db.url()).await.unwrap();
        let bot = BotName::new("gone").unwrap();
        db.commit(&bot, &[record("a.gbdialog/a.bas")]).await.unwrap();
        test_db.drop_database().await.unwrap();

        let err = db.load(&bot).await.unwrap_err();
        assert!(err.is_retryable(), "{err:?}");
        let err = db.commit(&bot, &[record("a.gbdialog/b.bas")]).await.unwrap_err();
        assert!(err.is_retryable(), "{err:?}");
    }
}
