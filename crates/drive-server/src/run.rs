//! The `run` command: monitor every bot, serve HTTP, shut down cleanly on Ctrl-C.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use drive_core::BotName;

use crate::app::App;
use crate::cli::{Exit, SHUTDOWN_DEADLINE};
use crate::config::{Config, DEFAULT_STORAGE};
use crate::http::{ApiState, router};
use crate::hub::{Hub, LiveState};

/// Writes the bundled example package when the storage is the default folder and it does
/// not exist yet.
///
/// # Errors
/// When the folder cannot be written.
pub fn seed_default_storage(config: &Config) -> anyhow::Result<()> {
    if config.storage != DEFAULT_STORAGE {
        return Ok(());
    }
    let Some(root) = config.fs_root() else { return Ok(()) };
    if crate::example::seed_if_missing(&root)? {
        info!(
            path = %root.display(),
            "wrote the example bot package; edit its files to see them applied"
        );
    }
    Ok(())
}

/// Runs until Ctrl-C (or SIGTERM), then stops within [`SHUTDOWN_DEADLINE`].
///
/// # Errors
/// As [`Service::start`].
pub async fn run(app: App) -> anyhow::Result<Exit> {
    let service = Service::start(app).await?;
    wait_for_signal().await;
    info!("shutting down");
    if !service.stop().await {
        warn!("work still running at the shutdown deadline was abandoned");
    }
    info!("stopped");
    Ok(Exit::Success)
}

/// The running service: bot tasks, bot discovery and the HTTP server.
#[derive(Debug)]
pub struct Service {
    local_addr: SocketAddr,
    state: Arc<ApiState>,
    shutdown: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
    discovery: JoinHandle<()>,
    hub: Arc<Hub>,
    /// Filesystem notifications, when asked for; dropping it stops them.
    watcher: Option<notify::RecommendedWatcher>,
}

impl Service {
    /// Mounts every bot in storage, starts their tasks and serves HTTP.
    ///
    /// # Errors
    /// When the bots cannot be listed or the listen address cannot be bound.
    pub async fn start(app: App) -> anyhow::Result<Self> {
        let bots = app.monitor.discover().await.context("listing the bots in storage")?;
        info!(bots = bots.len(), storage = %app.config.storage, "starting");
        let handle = app.monitor.start(bots);
        let shutdown = handle.cancellation_token();

        let listener = tokio::net::TcpListener::bind(app.config.listen)
            .await
            .with_context(|| format!("binding {}", app.config.listen))?;
        let local_addr = listener.local_addr()?;
        info!(address = %local_addr, "serving HTTP");

        let webhook_token = app.config.webhook_token.clone();
        crate::api::metrics_handle();
        let knowledge = app.knowledge.clone();
        let state =
            Arc::new(ApiState { handle, state: app.state.clone(), webhook_token, knowledge });
        let discovery = Discovery {
            state: state.clone(),
            interval: app.config.monitor.discovery_interval,
            grace: app.config.monitor.unmount_grace,
            shutdown: shutdown.clone(),
        };
        let discovery = tokio::spawn(discovery.run());
        tokio::spawn(knowledge_upkeep(state.clone(), shutdown.clone()));
        let watcher = match (app.config.watch, app.config.fs_root()) {
            (true, Some(root)) => match crate::watch::watch_storage_root(&root, state.clone()) {
                Ok(watcher) => {
                    info!(path = %root.display(), "watching the storage folder");
                    Some(watcher)
                }
                Err(err) => {
                    warn!(error = %err, "cannot watch the storage folder; polling only");
                    None
                }
            },
            (true, None) => {
                warn!("--watch needs fs: storage; polling only");
                None
            }
            (false, _) => None,
        };
        let live =
            LiveState { api: state.clone(), hub: app.hub.clone(), themes: app.themes.clone() };
        let routes = router(state.clone()).merge(crate::hub::routes(Arc::new(live)));
        let server_shutdown = shutdown.clone();
        let server = axum::serve(listener, routes)
            .with_graceful_shutdown(async move { server_shutdown.cancelled().await });
        let server = tokio::spawn(async move { server.await });
        Ok(Self { local_addr, state, shutdown, server, discovery, hub: app.hub, watcher })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting requests, stops every bot task and waits for them, all within
    /// [`SHUTDOWN_DEADLINE`]. Returns false when something was still running at the
    /// deadline and was abandoned.
    pub async fn stop(self) -> bool {
        drop(self.watcher);
        self.shutdown.cancel();
        let deadline = tokio::time::Instant::now() + SHUTDOWN_DEADLINE;
        let hub_closed = self.hub.close(deadline).await;
        let _ = tokio::time::timeout_at(deadline, self.discovery).await;
        let server_done = tokio::time::timeout_at(deadline, self.server).await.is_ok();
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.state.handle.shutdown(remaining).await && server_done && hub_closed
    }
}

/// Time between two repairs of every bot's knowledge index.
const KNOWLEDGE_UPKEEP_INTERVAL: Duration = Duration::from_secs(600);

/// Repairs every mounted bot's knowledge index from its stored text and resumes embedding
/// chunks that wait for a vector of the current model: once at start (so work a restart
/// interrupted goes on) and then every [`KNOWLEDGE_UPKEEP_INTERVAL`].
async fn knowledge_upkeep(state: Arc<ApiState>, shutdown: CancellationToken) {
    loop {
        for bot in state.handle.bots() {
            if let Err(err) = state.knowledge.reconcile(&bot).await {
                warn!(bot = %bot, error = %err, "knowledge index check failed, will try again");
            }
        }
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(KNOWLEDGE_UPKEEP_INTERVAL) => {}
        }
    }
}

/// Mounts bots that appear in storage after start and unmounts those whose bucket stayed
/// missing for the grace period (their state stays stored).
struct Discovery {
    state: Arc<ApiState>,
    interval: Duration,
    grace: Duration,
    shutdown: CancellationToken,
}

impl Discovery {
    async fn run(self) {
        let mut missing_since: HashMap<BotName, tokio::time::Instant> = HashMap::new();
        loop {
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return,
                () = tokio::time::sleep(self.interval) => {}
            }
            let found = match self.state.handle.monitor().discover().await {
                Ok(bots) => bots,
                Err(err) => {
                    // A failed listing says nothing about which bots exist: change nothing.
                    warn!(error = %err, "listing the bots failed");
                    continue;
                }
            };
            for bot in &found {
                missing_since.remove(bot);
                if self.state.handle.mount(bot.clone()) {
                    info!(bot = %bot, "new bot found");
                }
            }
            let now = tokio::time::Instant::now();
            for bot in self.state.handle.bots() {
                if found.contains(&bot) {
                    continue;
                }
                let since = *missing_since.entry(bot.clone()).or_insert(now);
                if now.duration_since(since) >= self.grace {
                    self.state.handle.unmount(&bot);
                    missing_since.remove(&bot);
                    info!(bot = %bot, "bot bucket gone, unmounted; its state stays stored");
                }
            }
        }
    }
}

async fn wait_for_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            warn!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
