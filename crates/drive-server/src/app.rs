//! Wiring: opens the storage and the database a [`Config`] names and builds the monitor
//! with every handler this build has.

use std::sync::Arc;

use anyhow::Context as _;

use drive_core::{
    BotEvent, BotName, ConfigSink, EventBus, FileStateStore, Monitor, MonitorBuilder, ObjectStore,
    PromptSink, ScriptRegistry, ThemeAssetStore,
};
use drive_handlers::{
    KnowledgeConfig, KnowledgeHandler, PromptHandler, ScriptHandler, SettingsHandler, ThemeHandler,
};

use crate::config::{Config, redact_url};
use crate::hub::Hub;

/// The opened adapters and the monitor built on them.
#[derive(Debug)]
pub struct App {
    pub config: Config,
    pub store: Arc<dyn ObjectStore>,
    pub state: Arc<dyn FileStateStore>,
    pub settings: Arc<dyn ConfigSink>,
    pub prompts: Arc<dyn PromptSink>,
    pub scripts: Arc<dyn ScriptRegistry>,
    pub monitor: Monitor,
    /// Theme files as served to browsers.
    pub themes: Arc<dyn ThemeAssetStore>,
    /// The WebSocket hub, which is the handlers' event bus.
    pub hub: Arc<Hub>,
    /// The knowledge handler, which also answers searches.
    pub knowledge: Arc<KnowledgeHandler>,
}

impl App {
    /// Opens storage and database (running migrations) and builds the monitor, for a
    /// running service: handlers may start background work (knowledge embedding).
    ///
    /// # Errors
    /// When a storage or database specification is invalid or cannot be reached.
    pub async fn open(config: Config) -> anyhow::Result<Self> {
        Self::open_with(config, true).await
    }

    /// Opens as [`App::open`] for a one-shot command (`sync`, `status`, ...): no handler
    /// starts background work, which would be cut off when the command ends and would
    /// hold the database past it. Chunks left without a vector are embedded by the next
    /// running service.
    ///
    /// # Errors
    /// As [`App::open`].
    pub async fn open_for_command(config: Config) -> anyhow::Result<Self> {
        Self::open_with(config, false).await
    }

    async fn open_with(config: Config, background: bool) -> anyhow::Result<Self> {
        let store =
            open_store(&config).with_context(|| format!("opening storage {}", config.storage))?;
        let database = drive_db::open(&config.database)
            .await
            .with_context(|| format!("opening database {}", redact_url(&config.database)))?;
        let state = database.state_store();
        let settings = database.config_sink();
        let prompts = database.prompt_sink();
        let scripts = database.script_registry();
        let themes = database.theme_store();
        let hub = Arc::new(Hub::new(config.ws.to_hub_config(), themes.clone(), settings.clone()));
        let events: Arc<dyn EventBus> = hub.clone();
        let theme_handler = ThemeHandler::new(themes.clone(), settings.clone(), events.clone())
            .with_config(config.theme.to_handler_config());
        let knowledge_config =
            KnowledgeConfig { background_reembed: background, ..KnowledgeConfig::default() };
        let knowledge = KnowledgeHandler::new(database.knowledge_index(), settings.clone())
            .with_events(events.clone())
            .with_config(knowledge_config);
        let knowledge = Arc::new(with_local_embedder(knowledge).await);
        let settings_events =
            Arc::new(SettingsEvents { hub: events.clone(), knowledge: knowledge.clone() });

        let monitor = MonitorBuilder::new(store.clone(), state.clone())
            .handler(Arc::new(SettingsHandler::new(settings.clone()).with_events(settings_events)))
            .handler(Arc::new(ScriptHandler::new(scripts.clone()).with_events(events)))
            .handler(Arc::new(theme_handler))
            .handler(Arc::new(PromptHandler::new(prompts.clone())))
            .handler(knowledge.clone())
            .config(config.monitor.to_monitor_config());
        let monitor = match config.monitor.batch_permits() {
            Some(permits) => monitor.batch_permits(permits),
            None => monitor,
        }
        .build();
        Ok(Self {
            config,
            store,
            state,
            settings,
            prompts,
            scripts,
            monitor,
            themes,
            hub,
            knowledge,
        })
    }

    /// Returns `only` when given (checked to be a valid name), else every bot in storage.
    ///
    /// # Errors
    /// When the name is invalid or the storage cannot list its buckets.
    pub async fn select_bots(&self, only: Option<&str>) -> anyhow::Result<Vec<BotName>> {
        if let Some(name) = only {
            return Ok(vec![BotName::new(name)?]);
        }
        self.monitor.discover().await.context("listing the bots in storage")
    }
}

/// The settings handler's event bus: every event goes to the hub, and changed settings are
/// told to the knowledge handler, which starts re-embedding when they name a new embedder.
struct SettingsEvents {
    hub: Arc<dyn EventBus>,
    knowledge: Arc<KnowledgeHandler>,
}

impl EventBus for SettingsEvents {
    fn publish(&self, bot: &BotName, event: BotEvent) {
        if let BotEvent::SettingsChanged { keys } = &event {
            self.knowledge.settings_changed(bot, keys);
        }
        self.hub.publish(bot, event);
    }
}

/// Where the local embedding model is looked for when `DRIVE_EMBEDDING_MODEL_DIR` is unset.
pub const DEFAULT_MODEL_DIR: &str = "models/all-MiniLM-L6-v2";

/// Returns `handler` with the local model as its default embedder, when this build has
/// the local embedder and the model folder exists; otherwise as it was (search stays
/// lexical for bots whose settings name no embedding service).
#[cfg(feature = "local-embedder")]
async fn with_local_embedder(handler: KnowledgeHandler) -> KnowledgeHandler {
    use drive_core::Embedder as _;
    use tracing::{info, warn};

    let folder = std::env::var_os("DRIVE_EMBEDDING_MODEL_DIR")
        .map_or_else(|| std::path::PathBuf::from(DEFAULT_MODEL_DIR), std::path::PathBuf::from);
    if !folder.join("model.safetensors").is_file() {
        info!(model.dir = %folder.display(), "no local embedding model (cargo xtask model)");
        return handler;
    }
    let load = move || drive_handlers::knowledge::LocalEmbedder::load(&folder);
    match tokio::task::spawn_blocking(load).await {
        Ok(Ok(embedder)) => {
            info!(model = embedder.model(), "local embedding model loaded");
            handler.with_default_embedder(Arc::new(embedder))
        }
        Ok(Err(err)) => {
            warn!(error = %err, "local embedding model not loaded");
            handler
        }
        Err(err) => {
            warn!(error = %err, "local embedding model not loaded");
            handler
        }
    }
}

#[cfg(not(feature = "local-embedder"))]
async fn with_local_embedder(handler: KnowledgeHandler) -> KnowledgeHandler {
    handler
}

fn open_store(config: &Config) -> anyhow::Result<Arc<dyn ObjectStore>> {
    let url: drive_storage::StorageUrl = config.storage.parse()?;
    let mut s3 = drive_storage::S3Settings::default();
    if let Some(region) = &config.s3.region {
        s3.region.clone_from(region);
    }
    s3.access_key_id.clone_from(&config.s3.access_key);
    s3.secret_access_key = config.s3.secret_key.clone().map(drive_storage::Secret::new);
    s3.virtual_host_style = config.s3.virtual_host_style;
    let store = drive_storage::StorageConfig { url, s3 }.open()?;
    // One set of limits for the whole service: every bot's requests share them.
    Ok(match config.monitor.storage_limits() {
        Some(limits) => Arc::new(drive_storage::LimitedObjectStore::new(store, Arc::new(limits))),
        None => store,
    })
}
