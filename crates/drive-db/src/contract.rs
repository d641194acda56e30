//! The contract every backend passes, written once and run against SQLite and PostgreSQL.
//!
//! Each case is an async function taking a [`Fixture`] that opens the database under test,
//! so a case can also close and reopen it. The semantics are those of drive-core's
//! in-memory fakes (`MemoryStateStoreForTests`, `MemorySinkForTests`); settings are checked
//! against the fake step by step.
//!
//! [`PgTestDatabase`] makes a throwaway PostgreSQL database per test, on the server named by
//! `DATABASE_URL` (default [`PgTestDatabase::DEFAULT_ADMIN_URL`]).
//!
//! Behind the `test-util` feature; never used by the service itself. Cases panic on failure,
//! as tests do.

use std::sync::Arc;

use async_trait::async_trait;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

use drive_core::testing::MemorySinkForTests;
use drive_core::{
    BotName, CompiledScript, ConfigSink, ContentHash, Diagnostic, ETag, FileRecord, FileStatus,
    Kind, ObjectKey, ObjectMeta, PersistError, ScriptState, Setting, StateUpdate, ThemeAssetStore,
    ThemePath, Timestamp, ToolDefinition,
};

use crate::{Database, DbError};

pub use crate::knowledge::contract_cases::{
    knowledge_documents_replace_keep_vectors_and_remove,
    knowledge_repair_rebuilds_from_stored_text, knowledge_search_is_hybrid_and_scoped,
    knowledge_vectors_catch_up_with_a_new_model,
};

/// Opens the database under test.
#[async_trait]
pub trait Fixture: Send + Sync + 'static {
    /// Opens the database under test; every call opens the same data anew, running the
    /// migrations again.
    async fn open(&self) -> Database;
}

/// Records of every status, with and without a live version, with and without the optional
/// metadata, and with odd keys and text, read back as they were written.
pub async fn records_round_trip_in_every_shape(fixture: Arc<dyn Fixture>) {
    let store = fixture.open().await.state_store();
    let bot = bot("shapes");
    let statuses = [
        FileStatus::Live,
        FileStatus::Unhandled,
        FileStatus::Retrying {
            attempts: u32::MAX,
            error: "timed out: 'quoted' \"twice\"\nsecond line".into(),
            next_retry: Timestamp::from_nanos(i64::MAX),
        },
        FileStatus::Invalid { error: "line 3: expected ',' — got 'ö'".into() },
    ];
    let mut records = Vec::new();
    for (idx, status) in statuses.into_iter().enumerate() {
        let key = format!("crm.gbkb/docs/{idx} é'; DROP TABLE file_state; --.md");
        records.push(FileRecord {
            kind: Kind::Knowledge,
            current: full_meta(&key, idx as u64),
            live: Some(full_meta(&key, u64::MAX)),
            status: status.clone(),
        });
        let bare_key = format!("crm.gbot/{idx}-bare.txt");
        records.push(FileRecord {
            kind: Kind::Ignored,
            current: ObjectMeta::new(bare_key.as_str(), 0),
            live: None,
            status,
        });
    }
    let mut live_only_hash = record("crm.gbtheme/a.css", 1);
    live_only_hash.live = Some(ObjectMeta {
        content_hash: Some(ContentHash::of(b"old")),
        ..ObjectMeta::new("crm.gbtheme/a.css", 9)
    });
    records.push(live_only_hash);

    commit(&*store, &bot, records.iter().cloned().map(StateUpdate::Upsert).collect()).await;
    assert_eq!(load_sorted(&*store, &bot).await, sorted(records));
}

/// One commit of upserts and removals, including removals of keys never stored.
pub async fn commit_applies_upserts_and_removals_together(fixture: Arc<dyn Fixture>) {
    let store = fixture.open().await.state_store();
    let bot = bot("mixed");
    let (a, b, c) = (record("k/a", 1), record("k/b", 2), record("k/c", 3));
    commit(&*store, &bot, upserts(&[a, b.clone(), c.clone()])).await;

    let b2 = FileRecord { status: FileStatus::Unhandled, ..record("k/b", 20) };
    let d = record("k/d", 4);
    let updates = vec![
        StateUpdate::Upsert(b2.clone()),
        StateUpdate::Remove(ObjectKey::new("k/a")),
        StateUpdate::Upsert(d.clone()),
        StateUpdate::Remove(ObjectKey::new("k/never-stored")),
    ];
    commit(&*store, &bot, updates).await;
    assert_eq!(load_sorted(&*store, &bot).await, [b2, c, d]);

    commit(&*store, &bot, Vec::new()).await;
    assert_eq!(load_sorted(&*store, &bot).await.len(), 3, "an empty commit changes nothing");
}

/// Several updates of one key in one commit apply in order: the last one wins.
pub async fn later_updates_of_a_key_win_within_a_commit(fixture: Arc<dyn Fixture>) {
    let store = fixture.open().await.state_store();
    let bot = bot("order");
    commit(&*store, &bot, upserts(&[record("k/kept", 1), record("k/dropped", 1)])).await;

    let updates = vec![
        StateUpdate::Remove(ObjectKey::new("k/kept")),
        StateUpdate::Upsert(record("k/kept", 2)),
        StateUpdate::Upsert(record("k/dropped", 2)),
        StateUpdate::Remove(ObjectKey::new("k/dropped")),
        StateUpdate::Upsert(record("k/new", 1)),
        StateUpdate::Upsert(record("k/new", 3)),
    ];
    commit(&*store, &bot, updates).await;
    assert_eq!(load_sorted(&*store, &bot).await, [record("k/kept", 2), record("k/new", 3)]);
}

/// 5 000 records go in one commit and come back in one load; half go in one more.
pub async fn thousands_of_records_commit_and_load_whole(fixture: Arc<dyn Fixture>) {
    const N_RECORDS: usize = 5_000;
    let store = fixture.open().await.state_store();
    let bot = bot("large");
    let records: Vec<FileRecord> = (0..N_RECORDS)
        .map(|idx| {
            let key = format!("large.gbkb/docs/{idx:05}.md");
            FileRecord { live: Some(full_meta(&key, 7)), ..record(&key, idx as u64) }
        })
        .collect();
    commit(&*store, &bot, upserts(&records)).await;
    assert_eq!(load_sorted(&*store, &bot).await, records);

    let removals = records.iter().step_by(2).map(|r| StateUpdate::Remove(r.key().clone()));
    commit(&*store, &bot, removals.collect()).await;
    let kept: Vec<FileRecord> = records.iter().skip(1).step_by(2).cloned().collect();
    assert_eq!(load_sorted(&*store, &bot).await, kept);
}

/// `replace_settings` reports added, changed and removed names, sorted, and nothing when
/// nothing changed; `settings` lists names sorted.
pub async fn settings_report_added_changed_and_removed_names(fixture: Arc<dyn Fixture>) {
    let sink = fixture.open().await.config_sink();
    let (bot, source) = (bot("settings"), key("settings.gbot/config.csv"));

    let changed = replace(&*sink, &bot, &source, &[("b", "2"), ("a", "1")]).await;
    assert_eq!(changed, ["a", "b"]);
    let changed = replace(&*sink, &bot, &source, &[("a", "1"), ("b", "3"), ("c", "4")]).await;
    assert_eq!(changed, ["b", "c"]);
    assert_eq!(replace(&*sink, &bot, &source, &[("a", "1"), ("c", "4")]).await, ["b"]);
    assert!(replace(&*sink, &bot, &source, &[("c", "4"), ("a", "1")]).await.is_empty());
    assert_eq!(
        sink.settings(&bot).await.unwrap(),
        [Setting::new("a", "1"), Setting::new("c", "4")]
    );
}

/// Two config files of one bot: replacing or removing one leaves the other's names alone.
pub async fn settings_sources_are_isolated(fixture: Arc<dyn Fixture>) {
    let sink = fixture.open().await.config_sink();
    let bot = bot("sources");
    let (first, second) = (key("a.gbot/config.csv"), key("b.gbot/config.csv"));

    replace(&*sink, &bot, &first, &[("a", "1"), ("b", "2")]).await;
    assert_eq!(replace(&*sink, &bot, &second, &[("x", "9")]).await, ["x"]);
    assert_eq!(replace(&*sink, &bot, &first, &[]).await, ["a", "b"]);
    assert_eq!(sink.settings(&bot).await.unwrap(), [Setting::new("x", "9")]);

    replace(&*sink, &bot, &first, &[("a", "1")]).await;
    assert_eq!(sink.remove_settings(&bot, &second).await.unwrap(), ["x"]);
    assert!(sink.remove_settings(&bot, &key("never.gbot/config.csv")).await.unwrap().is_empty());
    assert_eq!(sink.settings(&bot).await.unwrap(), [Setting::new("a", "1")]);
}

/// A sequence of replacements and removals, including names that move between sources and
/// duplicate names, gives the answers of drive-core's in-memory sink at every step.
pub async fn settings_match_the_reference_sink(fixture: Arc<dyn Fixture>) {
    let sink = fixture.open().await.config_sink();
    let reference = MemorySinkForTests::new();
    let bot = bot("reference");
    let (first, second) = (key("a.gbot/config.csv"), key("b.gbot/config.csv"));
    let steps: [SettingsStep<'_>; 9] = [
        (&first, Some(&[("shared", "1"), ("own", "a"), ("dup", "x"), ("dup", "y")])),
        (&second, Some(&[("shared", "1"), ("other", "b")])),
        (&second, Some(&[("shared", "2"), ("other", "b")])),
        (&first, None),
        (&first, Some(&[("shared", "3")])),
        (&second, None),
        (&second, Some(&[("Théme", "dark,\"quoted\"\n"), ("", "")])),
        (&first, Some(&[])),
        (&second, None),
    ];
    for (idx, (source, settings)) in steps.into_iter().enumerate() {
        let (got, want) = match settings {
            Some(pairs) => (
                replace(&*sink, &bot, source, pairs).await,
                replace(&reference, &bot, source, pairs).await,
            ),
            None => (
                sink.remove_settings(&bot, source).await.unwrap(),
                reference.remove_settings(&bot, source).await.unwrap(),
            ),
        };
        assert_eq!(got, want, "changed names after step {idx}");
        let (got, want) = (sink.settings(&bot).await.unwrap(), reference.settings(&bot).await);
        assert_eq!(got, want.unwrap(), "settings after step {idx}");
    }
}

/// A replacement of the settings of a source (`Some`) or their removal (`None`).
type SettingsStep<'a> = (&'a ObjectKey, Option<&'a [(&'a str, &'a str)]>);

/// Prompts are set, replaced and removed per source and joined in key order.
pub async fn prompts_join_in_key_order(fixture: Arc<dyn Fixture>) {
    let sink = fixture.open().await.prompt_sink();
    let bot = bot("prompts");
    let (first, second) = (key("p.gbot/a-prompt.md"), key("p.gbot/b-prompt.md"));
    assert_eq!(sink.prompt(&bot).await.unwrap(), None);

    sink.set_prompt(&bot, &second, "Be brief.").await.unwrap();
    sink.set_prompt(&bot, &first, "You are a helpful bot.\n").await.unwrap();
    let joined = sink.prompt(&bot).await.unwrap();
    assert_eq!(joined.as_deref(), Some("You are a helpful bot.\n\n\nBe brief."));

    sink.set_prompt(&bot, &second, "Be thorough.").await.unwrap();
    sink.remove_prompt(&bot, &first).await.unwrap();
    assert_eq!(sink.prompt(&bot).await.unwrap().as_deref(), Some("Be thorough."));
    sink.remove_prompt(&bot, &first).await.unwrap();
    sink.remove_prompt(&bot, &second).await.unwrap();
    assert_eq!(sink.prompt(&bot).await.unwrap(), None);
}

/// `bots` lists, sorted, every bot that committed state, even an empty commit.
pub async fn bots_lists_committed_bots_sorted(fixture: Arc<dyn Fixture>) {
    let db = fixture.open().await;
    let store = db.state_store();
    assert!(store.bots().await.unwrap().is_empty());

    commit(&*store, &bot("zeta"), upserts(&[record("k", 1)])).await;
    commit(&*store, &bot("alpha"), Vec::new()).await;
    commit(&*store, &bot("zeta"), vec![StateUpdate::Remove(key("k"))]).await;
    assert_eq!(store.bots().await.unwrap(), [bot("alpha"), bot("zeta")]);
}

/// Two bots with the same keys, setting names and prompt sources do not see each other.
pub async fn bots_keep_separate_state(fixture: Arc<dyn Fixture>) {
    let db = fixture.open().await;
    let (store, config, prompts) = (db.state_store(), db.config_sink(), db.prompt_sink());
    let (one, two) = (bot("one"), bot("two"));
    let source = key("x.gbot/config.csv");

    commit(&*store, &one, upserts(&[record("k/a", 1), record("k/b", 1)])).await;
    commit(&*store, &two, upserts(&[record("k/a", 2)])).await;
    commit(&*store, &two, vec![StateUpdate::Remove(key("k/b"))]).await;
    commit(&*store, &one, vec![StateUpdate::Remove(key("k/a"))]).await;
    assert_eq!(load_sorted(&*store, &one).await, [record("k/b", 1)]);
    assert_eq!(load_sorted(&*store, &two).await, [record("k/a", 2)]);

    replace(&*config, &one, &source, &[("lang", "en")]).await;
    assert_eq!(replace(&*config, &two, &source, &[("lang", "en")]).await, ["lang"]);
    config.remove_settings(&one, &source).await.unwrap();
    assert_eq!(config.settings(&two).await.unwrap(), [Setting::new("lang", "en")]);

    prompts.set_prompt(&one, &source, "one").await.unwrap();
    prompts.set_prompt(&two, &source, "two").await.unwrap();
    prompts.remove_prompt(&one, &source).await.unwrap();
    assert_eq!(prompts.prompt(&two).await.unwrap().as_deref(), Some("two"));
}

/// A bot never written reads as empty everywhere.
pub async fn unknown_bots_read_empty(fixture: Arc<dyn Fixture>) {
    let db = fixture.open().await;
    let bot = bot("nobody");
    assert!(db.state_store().load(&bot).await.unwrap().is_empty());
    assert!(db.config_sink().settings(&bot).await.unwrap().is_empty());
    assert_eq!(db.prompt_sink().prompt(&bot).await.unwrap(), None);
}

/// Closing and opening the database again keeps everything (the migrations run again and
/// change nothing).
pub async fn reopening_keeps_data(fixture: Arc<dyn Fixture>) {
    let bot = bot("durable");
    let records = vec![record("k/a", 1), FileRecord { live: None, ..record("k/b", 2) }];
    {
        let db = fixture.open().await;
        commit(&*db.state_store(), &bot, upserts(&records)).await;
        replace(&*db.config_sink(), &bot, &key("d.gbot/config.csv"), &[("a", "1")]).await;
        db.prompt_sink().set_prompt(&bot, &key("d.gbot/prompt.md"), "hi").await.unwrap();
    }
    for _ in 0..2 {
        let db = fixture.open().await;
        assert_eq!(load_sorted(&*db.state_store(), &bot).await, records);
        assert_eq!(db.state_store().bots().await.unwrap(), std::slice::from_ref(&bot));
        assert_eq!(db.config_sink().settings(&bot).await.unwrap(), [Setting::new("a", "1")]);
        assert_eq!(db.prompt_sink().prompt(&bot).await.unwrap().as_deref(), Some("hi"));
    }
}

/// Rows damaged behind the adapter's back are reported as corrupt, naming the bot and key,
/// and a new commit of the record heals them.
pub async fn corrupt_rows_are_errors_not_panics(fixture: Arc<dyn Fixture>) {
    let db = fixture.open().await;
    let store = db.state_store();
    let bot = bot("damaged");
    let good = FileRecord {
        live: Some(full_meta("d.gbot/config.csv", 3)),
        ..record("d.gbot/config.csv", 3)
    };
    let damages = [
        "kind = 'macro'",
        "status = 'paused'",
        "content_hash = 'not hex'",
        "live_content_hash = 'abc'",
        "status = 'retrying', attempts = NULL",
        "status = 'retrying', attempts = -1, last_error = 'x', next_retry = 0",
        "status = 'invalid', last_error = NULL",
        "live_size = NULL",
    ];
    for damage in damages {
        commit(&*store, &bot, upserts(std::slice::from_ref(&good))).await;
        let sql = format!("UPDATE file_state SET {damage} WHERE bot = 'damaged'");
        db.execute_for_tests(&sql).await.unwrap();

        let err = store.load(&bot).await.expect_err(damage);
        let PersistError::Corrupt(message) = &err else { panic!("{damage}: {err:?}") };
        assert!(message.contains("damaged") && message.contains("config.csv"), "{message}");
        assert!(!err.is_retryable(), "{damage}");
    }
    commit(&*store, &bot, upserts(std::slice::from_ref(&good))).await;
    assert_eq!(store.load(&bot).await.unwrap(), [good]);

    db.execute_for_tests("INSERT INTO bots (name, first_seen) VALUES ('../bad bot', 0)")
        .await
        .unwrap();
    let err = store.bots().await.unwrap_err();
    assert!(matches!(err, PersistError::Corrupt(_)), "{err:?}");
}

/// Makes a throwaway PostgreSQL database, named `drive_test_<uuid>`, and drops it.
#[derive(Debug)]
pub struct PgTestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PgTestDatabase {
    /// The server used when `DATABASE_URL` is not set.
    pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

    /// Creates an empty database on the server named by `DATABASE_URL` (a `postgres://` URL
    /// of a role allowed to create databases), or [`Self::DEFAULT_ADMIN_URL`].
    ///
    /// # Errors
    /// [`DbError::Connect`] when the server cannot be reached or refuses to create it;
    /// [`DbError::InvalidUrl`] when `DATABASE_URL` is not a `postgres://` URL.
    pub async fn create() -> Result<Self, DbError> {
        let admin_url =
            std::env::var("DATABASE_URL").unwrap_or_else(|_| Self::DEFAULT_ADMIN_URL.to_owned());
        let name = format!("drive_test_{}", uuid::Uuid::new_v4().simple());
        let Some(url) = with_database(&admin_url, &name) else {
            return Err(DbError::InvalidUrl { reason: "DATABASE_URL is not a postgres:// URL" });
        };
        admin_execute(&admin_url, &format!("CREATE DATABASE {name}")).await?;
        Ok(Self { admin_url, name, url })
    }

    /// Returns the URL of the new database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Drops the database, closing any connection still open to it.
    ///
    /// # Errors
    /// [`DbError::Connect`] when the server cannot be reached or refuses.
    pub async fn drop_database(self) -> Result<(), DbError> {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        admin_execute(&self.admin_url, &sql).await
    }
}

async fn admin_execute(admin_url: &str, sql: &str) -> Result<(), DbError> {
    let mut conn = AsyncPgConnection::establish(admin_url)
        .await
        .map_err(|err| DbError::Connect(err.into()))?;
    conn.batch_execute(sql).await.map_err(|err| DbError::Connect(err.into()))
}

/// Returns `url` with its database replaced by `name`, keeping any query parameters.
fn with_database(url: &str, name: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("postgres") && !scheme.eq_ignore_ascii_case("postgresql") {
        return None;
    }
    let (location, query) = match rest.split_once('?') {
        Some((location, query)) => (location, Some(query)),
        None => (rest, None),
    };
    let authority = location.split_once('/').map_or(location, |(authority, _)| authority);
    let mut out = format!("{scheme}://{authority}/{name}");
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Some(out)
}

fn bot(name: &str) -> BotName {
    BotName::new(name).expect("test bot names are valid")
}

fn key(text: &str) -> ObjectKey {
    ObjectKey::new(text)
}

/// Returns a live record of `key` with every optional field set.
fn record(key: &str, size: u64) -> FileRecord {
    FileRecord {
        kind: Kind::Knowledge,
        current: full_meta(key, size),
        live: Some(full_meta(key, size)),
        status: FileStatus::Live,
    }
}

fn full_meta(key: &str, size: u64) -> ObjectMeta {
    ObjectMeta {
        key: ObjectKey::new(key),
        // Normalised to "w/abc": parsing that text again would drop the "w/".
        etag: ETag::parse("\"W/ABC\""),
        size,
        last_modified: Some(Timestamp::from_nanos(1_700_000_000_123_456_789)),
        content_hash: Some(ContentHash::of(key.as_bytes())),
    }
}

fn upserts(records: &[FileRecord]) -> Vec<StateUpdate> {
    records.iter().cloned().map(StateUpdate::Upsert).collect()
}

/// A compiled script becomes live; a newer version that fails is recorded beside it and the
/// live version stays; publishing again clears the failure.
pub async fn scripts_keep_the_last_good_version_beside_a_failure(fixture: Arc<dyn Fixture>) {
    let registry = fixture.open().await.script_registry();
    let bot = bot("scripts");
    let key = ObjectKey::new("b.gbdialog/deal.bas");
    let good = compiled(&key, "v1", Some("deal"), &["0 9 * * 1"], &["deal-hook"]);
    assert_eq!(registry.publish(&bot, &good).await.expect("publish"), Vec::<ObjectKey>::new());

    let broken = ContentHash::of(b"v2");
    let diagnostics = vec![Diagnostic::error(3, "IF is never closed").at_column(1)];
    registry.record_failure(&bot, &key, &broken, &diagnostics).await.expect("failure");
    let state = registry.script(&bot, &key).await.expect("read").expect("stored");
    assert_eq!(state.live.as_ref(), Some(&good));
    assert_eq!(state.failure, Some((broken, diagnostics)));
    assert_eq!(registry.tools(&bot).await.expect("tools").len(), 1, "the live tool stays");

    let fixed = compiled(&key, "v3", Some("deal"), &[], &[]);
    registry.publish(&bot, &fixed).await.expect("publish");
    let state = registry.script(&bot, &key).await.expect("read").expect("stored");
    assert_eq!(state, ScriptState { live: Some(fixed), failure: None });
    assert_eq!(registry.schedules(&bot).await.expect("schedules"), []);

    let never_compiled = ObjectKey::new("b.gbdialog/new.bas");
    registry.record_failure(&bot, &never_compiled, &broken, &[]).await.expect("failure");
    let state = registry.script(&bot, &never_compiled).await.expect("read").expect("stored");
    assert_eq!(state.live, None);
    assert_eq!(registry.script(&bot, &ObjectKey::new("nope.bas")).await.expect("read"), None);
}

/// Tools with one name from two scripts are both kept and reported; removing a script takes
/// its tool, schedules and webhooks; bots do not see each other's scripts.
pub async fn tool_collisions_are_reported_and_removal_takes_the_manifest(
    fixture: Arc<dyn Fixture>,
) {
    let registry = fixture.open().await.script_registry();
    let (bot, other) = (bot("tools"), bot("tools-other"));
    let first = ObjectKey::new("b.gbdialog/a/deal.bas");
    let second = ObjectKey::new("b.gbdialog/b/deal.bas");
    let plain = ObjectKey::new("b.gbdialog/start.bas");
    registry
        .publish(&bot, &compiled(&first, "1", Some("deal"), &["0 9 * * *"], &["h1"]))
        .await
        .expect("publish");
    registry
        .publish(&bot, &compiled(&plain, "2", None, &["*/5 * * * *"], &[]))
        .await
        .expect("publish");
    let collisions = registry
        .publish(&bot, &compiled(&second, "3", Some("deal"), &[], &["h2"]))
        .await
        .expect("publish");
    assert_eq!(collisions, std::slice::from_ref(&first));
    registry
        .publish(&other, &compiled(&first, "1", Some("deal"), &[], &[]))
        .await
        .expect("publish");

    let tools = registry.tools(&bot).await.expect("tools");
    let keys: Vec<&ObjectKey> = tools.iter().map(|t| &t.key).collect();
    assert_eq!(keys, [&first, &second]);
    assert_eq!(
        registry.schedules(&bot).await.expect("schedules"),
        [(first.clone(), "0 9 * * *".to_owned()), (plain.clone(), "*/5 * * * *".to_owned())]
    );

    registry.remove(&bot, &first).await.expect("remove");
    assert_eq!(
        registry.schedules(&bot).await.expect("schedules"),
        [(plain, "*/5 * * * *".to_owned())]
    );
    assert_eq!(registry.webhooks(&bot).await.expect("webhooks"), [(second, "h2".to_owned())]);
    assert_eq!(registry.tools(&other).await.expect("tools").len(), 1);
}

fn compiled(
    key: &ObjectKey,
    content: &str,
    tool: Option<&str>,
    schedules: &[&str],
    webhooks: &[&str],
) -> CompiledScript {
    CompiledScript {
        key: key.clone(),
        content_hash: ContentHash::of(content.as_bytes()),
        tree: format!("{{\"version\":1,\"source\":{content:?}}}"),
        warnings: vec![Diagnostic::warning(2, "unknown command FOO")],
        tool: tool.map(|name| ToolDefinition {
            name: name.to_owned(),
            openai: format!("{{\"type\":\"function\",\"function\":{{\"name\":\"{name}\"}}}}"),
            mcp: format!("{{\"name\":\"{name}\"}}"),
        }),
        manifest: "{\"schedules\":[]}".to_owned(),
        schedules: schedules.iter().map(|s| (*s).to_owned()).collect(),
        webhooks: webhooks.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// Theme files are stored, replaced and read back byte for byte (empty, binary with NUL
/// bytes, 1 MiB), listed sorted without their content, and kept when the database is
/// opened again.
pub async fn theme_assets_are_stored_replaced_and_kept(fixture: Arc<dyn Fixture>) {
    let bot = bot("themes");
    let css = theme_file("t.gbtheme/css/main.css", b"body { color: red }");
    let png = theme_file("t.gbtheme/img/logo.png", b"\x89PNG\r\n\x1a\n\x00\x00\xff");
    let empty = theme_file("t.gbtheme/empty.css", b"");
    let large = theme_file("t.gbtheme/fonts/big.woff2", &vec![0xa5; 1 << 20]);
    {
        let store = fixture.open().await.theme_store();
        for file in [&css, &png, &empty, &large] {
            put_theme_file(&*store, &bot, file).await;
        }
        let replaced = theme_file("t.gbtheme/css/main.css", b"body { color: blue }");
        put_theme_file(&*store, &bot, &replaced).await;
    }

    let store = fixture.open().await.theme_store();
    let main = store.asset(&bot, &theme_path("css/main.css")).await.expect("read");
    let main = main.expect("stored");
    assert_eq!(&main.bytes[..], b"body { color: blue }");
    assert_eq!(main.info.hash, ContentHash::of(b"body { color: blue }"));
    for file in [&png, &empty, &large] {
        let stored = store.asset(&bot, &file.1).await.expect("read").expect("stored");
        assert_eq!((stored.bytes, stored.info.hash), (file.2.clone(), ContentHash::of(&file.2)));
    }
    let listed: Vec<(String, u64)> = store
        .assets(&bot)
        .await
        .expect("list")
        .into_iter()
        .map(|info| (info.path.to_string(), info.size))
        .collect();
    let expected = [
        ("css/main.css", 20),
        ("empty.css", 0),
        ("fonts/big.woff2", 1 << 20),
        ("img/logo.png", 11),
    ];
    assert_eq!(listed, expected.map(|(path, size)| (path.to_owned(), size)));
    assert_eq!(store.asset(&bot, &theme_path("nope.css")).await.expect("read"), None);
    let nobody = BotName::new("nobody").expect("a valid bot name");
    assert!(store.assets(&nobody).await.expect("list").is_empty());
}

/// Removing an object takes the theme file it provided and says which; removing an object
/// whose path another folder took over leaves that path alone; bots never see each other's
/// files; a row damaged behind the adapter's back is reported as corrupt.
pub async fn theme_assets_are_removed_by_their_source(fixture: Arc<dyn Fixture>) {
    let db = fixture.open().await;
    let store = db.theme_store();
    let (bot, other) = (bot("themes-removal"), bot("themes-other"));
    let first = theme_file("a.gbtheme/x.css", b"a");
    let second = theme_file("b.gbtheme/x.css", b"b");
    put_theme_file(&*store, &bot, &first).await;
    put_theme_file(&*store, &other, &first).await;
    put_theme_file(&*store, &bot, &second).await;

    assert_eq!(store.remove_asset(&bot, &first.0).await.expect("remove"), None);
    let kept = store.asset(&bot, &theme_path("x.css")).await.expect("read").expect("kept");
    assert_eq!(&kept.bytes[..], b"b");
    let removed = store.remove_asset(&bot, &second.0).await.expect("remove");
    assert_eq!(removed, Some(theme_path("x.css")));
    assert!(store.assets(&bot).await.expect("list").is_empty());
    assert_eq!(store.remove_asset(&bot, &second.0).await.expect("remove again"), None);
    assert_eq!(store.assets(&other).await.expect("list").len(), 1);

    db.execute_for_tests("UPDATE theme_assets SET content_hash = 'zz'").await.expect("damage");
    let err = store.asset(&other, &theme_path("x.css")).await.expect_err("corrupt row");
    assert!(matches!(&err, PersistError::Corrupt(message) if message.contains("themes-other")));
    assert!(matches!(store.assets(&other).await, Err(PersistError::Corrupt(_))));
}

/// A theme file to store: its source key, path and content.
type ThemeFileForTests = (ObjectKey, ThemePath, bytes::Bytes);

fn theme_file(key: &str, content: &[u8]) -> ThemeFileForTests {
    let key = ObjectKey::new(key);
    let path = ThemePath::from_key(&key).expect("a theme key");
    (key, path, bytes::Bytes::copy_from_slice(content))
}

fn theme_path(path: &str) -> ThemePath {
    ThemePath::new(path).expect("a valid theme path")
}

async fn put_theme_file(store: &dyn ThemeAssetStore, bot: &BotName, file: &ThemeFileForTests) {
    let (source, path, bytes) = file;
    let hash = ContentHash::of(bytes);
    store.put_asset(bot, source, path, bytes, &hash).await.expect("put theme file");
}

fn sorted(mut records: Vec<FileRecord>) -> Vec<FileRecord> {
    records.sort_by(|a, b| a.key().cmp(b.key()));
    records
}

async fn commit(store: &dyn drive_core::FileStateStore, bot: &BotName, updates: Vec<StateUpdate>) {
    store.commit(bot, &updates).await.expect("commit");
}

async fn load_sorted(store: &dyn drive_core::FileStateStore, bot: &BotName) -> Vec<FileRecord> {
    sorted(store.load(bot).await.expect("load"))
}

async fn replace(
    sink: &dyn ConfigSink,
    bot: &BotName,
    source: &ObjectKey,
    pairs: &[(&str, &str)],
) -> Vec<String> {
    let settings: Vec<Setting> =
        pairs.iter().map(|(name, value)| Setting::new(*name, *value)).collect();
    sink.replace_settings(bot, source, &settings).await.expect("replace settings")
}

/// Stamps out one `#[tokio::test]` per contract case, each running `$run(case)`, where
/// `$run` gives the case a fresh database of one backend.
#[cfg(test)]
macro_rules! contract_tests {
    ($run:path) => {
        $crate::contract::contract_tests!(@cases $run;
            records_round_trip_in_every_shape,
            commit_applies_upserts_and_removals_together,
            later_updates_of_a_key_win_within_a_commit,
            thousands_of_records_commit_and_load_whole,
            settings_report_added_changed_and_removed_names,
            settings_sources_are_isolated,
            settings_match_the_reference_sink,
            prompts_join_in_key_order,
            bots_lists_committed_bots_sorted,
            bots_keep_separate_state,
            unknown_bots_read_empty,
            reopening_keeps_data,
            corrupt_rows_are_errors_not_panics,
            scripts_keep_the_last_good_version_beside_a_failure,
            tool_collisions_are_reported_and_removal_takes_the_manifest,
            theme_assets_are_stored_replaced_and_kept,
            theme_assets_are_removed_by_their_source,
            knowledge_documents_replace_keep_vectors_and_remove,
            knowledge_search_is_hybrid_and_scoped,
            knowledge_vectors_catch_up_with_a_new_model,
            knowledge_repair_rebuilds_from_stored_text,
        );
    };
    (@cases $run:path; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $run($crate::contract::$case).await;
            }
        )+
    };
}

#[cfg(test)]
pub(crate) use contract_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_database_urls_swap_only_the_database() {
        let cases = [
            ("postgres://postgres@127.0.0.1:5432/postgres", "postgres://postgres@127.0.0.1:5432/t"),
            ("postgresql://u:p@h/db?sslmode=disable", "postgresql://u:p@h/t?sslmode=disable"),
            ("postgres://h", "postgres://h/t"),
        ];
        for (admin, expected) in cases {
            assert_eq!(with_database(admin, "t").as_deref(), Some(expected));
        }
        assert_eq!(with_database("host=localhost", "t"), None);
    }
}
