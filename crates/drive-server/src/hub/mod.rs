//! The WebSocket hub: `GET /ws/{bot}` subscribes a browser to one bot's events, and the hub
//! is the service's [`EventBus`], so every event a handler publishes reaches exactly the
//! clients of its bot.
//!
//! Every message is one JSON text frame `{"type", "bot", "seq", "payload"}`. `seq` counts
//! the events of one bot in this process, from 1. A client first gets the bot's theme state
//! as a `theme.changed` listing every current theme file and the theme settings whole (its
//! `seq` is that of the last event the state includes), then every later event in order.
//!
//! Fan-out goes through one [`broadcast`] channel per bot with clients: publishing writes a
//! frame, serialised once, into the bot's ring of [`HubConfig::event_buffer`] frames and
//! never waits. Each client's queue is its unread part of that ring, so a slow client slows
//! nobody: when it falls further behind than the ring holds, its backlog is dropped and it
//! gets one `resync` carrying the full theme state instead (logged once per connection). A
//! client that cannot take a single frame within [`HubConfig::send_timeout`] is
//! disconnected. Pings every [`HubConfig::ping_interval`] keep idle connections open through
//! proxies; a client silent for two intervals is closed.
//!
//! While a bot has clients the hub keeps its theme state in memory, loaded from the
//! [`ThemeAssetStore`] and [`ConfigSink`] when the first client comes and kept current from
//! the `theme.changed` events themselves; it is dropped when the last client leaves.
//!
//! Access: optional per-bot tokens, checked before the upgrade (module `connection`).
//!
//! Known limits:
//! - Events live in one process: with several servers on one database, a browser hears only
//!   the changes applied by the server it is connected to.
//! - `seq` restarts at 1 when the service restarts; clients take the first message of every
//!   connection as the whole state, so they need no numbering across connections.
//! - Events other than `theme.changed` are not replayed to clients that connect later, and a
//!   `resync` restores only the theme state.

mod connection;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::Utf8Bytes;
use axum::routing::get;
use serde::Serialize;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::warn;

use drive_core::{
    BotEvent, BotName, ConfigSink, EventBus, PersistError, ThemeAssetStore, ThemeFile,
    theme_settings,
};

pub(crate) use connection::authorize;
pub use connection::{MAX_CLIENT_MESSAGE, ws_route};

use crate::http::ApiState;
use crate::themes;

/// What the live routes share: the API state (to know which bots are mounted), the hub
/// and the theme files.
#[derive(Debug)]
pub struct LiveState {
    pub api: Arc<ApiState>,
    pub hub: Arc<Hub>,
    pub themes: Arc<dyn ThemeAssetStore>,
}

/// Returns the live routes: `GET /ws/{bot}`, `GET /themes/{bot}/live.js`,
/// `GET /themes/{bot}/{*path}` and `GET /demo/{bot}`.
pub fn routes(state: Arc<LiveState>) -> Router {
    Router::new()
        .route("/ws/{bot}", get(ws_route))
        .route("/themes/{bot}/live.js", get(themes::live_js))
        .route("/themes/{bot}/{*path}", get(themes::theme_file))
        .route("/demo/{bot}", get(themes::demo_page))
        .with_state(state)
}

/// Frames a client may fall behind before it is resynced. Handlers publish one event per
/// batch, so a ring of 256 spans many cycles of every kind; a slot holds one shared frame.
pub const EVENT_BUFFER: usize = 256;

/// Clients of one bot at once. A bot page open in this many browsers fits easily; the cap
/// keeps one bot (or one misbehaving script) from taking every file descriptor.
pub const MAX_CONNECTIONS_PER_BOT: usize = 5_000;

/// Time between pings: under the 60 s idle timeout common proxies and load balancers apply.
pub const PING_INTERVAL: Duration = Duration::from_secs(30);

/// Longest time one frame may take to leave. A healthy client takes a frame within
/// milliseconds; one stuck for this long holds memory and a descriptor for nothing.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// How the hub paces and bounds its clients.
#[derive(Clone)]
pub struct HubConfig {
    pub event_buffer: usize,
    pub max_connections_per_bot: usize,
    pub ping_interval: Duration,
    pub send_timeout: Duration,
    /// Access token per bot; bots without one are open to everyone who can reach the hub.
    pub tokens: HashMap<BotName, String>,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            event_buffer: EVENT_BUFFER,
            max_connections_per_bot: MAX_CONNECTIONS_PER_BOT,
            ping_interval: PING_INTERVAL,
            send_timeout: SEND_TIMEOUT,
            tokens: HashMap::new(),
        }
    }
}

impl fmt::Debug for HubConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut protected: Vec<&str> = self.tokens.keys().map(BotName::as_str).collect();
        protected.sort_unstable();
        f.debug_struct("HubConfig")
            .field("event_buffer", &self.event_buffer)
            .field("max_connections_per_bot", &self.max_connections_per_bot)
            .field("ping_interval", &self.ping_interval)
            .field("send_timeout", &self.send_timeout)
            .field("bots_with_tokens", &protected)
            .finish()
    }
}

/// Counters of what the hub did, for tests and operators.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HubStats {
    /// Clients connected now.
    pub connections: usize,
    /// Clients that fell behind and were sent the full state.
    pub resyncs: u64,
    /// Clients disconnected because a frame could not leave in time.
    pub slow_disconnects: u64,
}

/// Fans events out to the WebSocket clients of each bot. See the module docs.
pub struct Hub {
    config: HubConfig,
    assets: Arc<dyn ThemeAssetStore>,
    settings: Arc<dyn ConfigSink>,
    bots: Mutex<HashMap<BotName, BotChannel>>,
    shutdown: CancellationToken,
    connections: TaskTracker,
    next_client: AtomicU64,
    n_connections: AtomicUsize,
    resyncs: AtomicU64,
    slow_disconnects: AtomicU64,
}

/// One frame as sent to every client of a bot.
#[derive(Clone, Debug)]
pub(crate) struct Frame {
    pub(crate) text: Utf8Bytes,
}

/// What the hub holds for one bot.
#[derive(Default)]
struct BotChannel {
    /// Sequence number of the last event published.
    seq: u64,
    /// Counts `theme.changed` events, so a state loaded while one went by is not kept.
    theme_generation: u64,
    /// Clients admitted and not yet gone.
    clients: usize,
    /// Present while the bot has clients.
    live: Option<LiveChannel>,
}

struct LiveChannel {
    sender: broadcast::Sender<Frame>,
    /// The theme state as of `seq`, once loaded.
    theme: Option<ThemeState>,
}

/// A bot's theme files by path and its theme settings.
#[derive(Clone, Debug, Default)]
struct ThemeState {
    files: BTreeMap<String, ThemeFile>,
    settings: BTreeMap<String, String>,
}

/// A client's place in its bot's stream: the state to send first, then what follows.
pub(crate) struct Subscription {
    pub(crate) first: Frame,
    pub(crate) events: broadcast::Receiver<Frame>,
}

impl Hub {
    /// Returns a hub that loads theme state from `assets` and `settings`.
    pub fn new(
        config: HubConfig,
        assets: Arc<dyn ThemeAssetStore>,
        settings: Arc<dyn ConfigSink>,
    ) -> Self {
        Self {
            config,
            assets,
            settings,
            bots: Mutex::default(),
            shutdown: CancellationToken::new(),
            connections: TaskTracker::new(),
            next_client: AtomicU64::new(1),
            n_connections: AtomicUsize::new(0),
            resyncs: AtomicU64::new(0),
            slow_disconnects: AtomicU64::new(0),
        }
    }

    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    pub fn stats(&self) -> HubStats {
        HubStats {
            connections: self.n_connections.load(Ordering::Relaxed),
            resyncs: self.resyncs.load(Ordering::Relaxed),
            slow_disconnects: self.slow_disconnects.load(Ordering::Relaxed),
        }
    }

    /// Closes every connection (code 1001, "server shutting down"), refuses new ones, and
    /// waits until `deadline` for the connections to end. Returns false when some were
    /// still open at the deadline.
    pub async fn close(&self, deadline: tokio::time::Instant) -> bool {
        self.shutdown.cancel();
        self.connections.close();
        tokio::time::timeout_at(deadline, self.connections.wait()).await.is_ok()
    }

    /// Admits one more client of `bot`; `None` when the bot has as many as allowed or the
    /// hub is closing. The client counts until the admission is dropped.
    pub(crate) fn admit(self: &Arc<Self>, bot: &BotName) -> Option<Admission> {
        if self.shutdown.is_cancelled() {
            return None;
        }
        let mut bots = self.lock();
        let channel = bots.entry(bot.clone()).or_default();
        if channel.clients >= self.config.max_connections_per_bot {
            return None;
        }
        channel.clients += 1;
        if channel.live.is_none() {
            let (sender, _) = broadcast::channel(self.config.event_buffer.max(1));
            channel.live = Some(LiveChannel { sender, theme: None });
        }
        let clients = self.n_connections.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::gauge!("drive_websocket_clients").set(clients as f64);
        Some(Admission { hub: self.clone(), bot: bot.clone() })
    }

    /// Returns the bot's theme state as a first frame and a receiver of what follows it,
    /// loading the state when no client of the bot has it yet. The caller holds an
    /// [`Admission`] for `bot`.
    ///
    /// # Errors
    /// The store's error when the state cannot be loaded.
    pub(crate) async fn subscribe(&self, bot: &BotName) -> Result<Subscription, PersistError> {
        // A theme event that goes by while loading makes the loaded state stale; load again,
        // and after a few tries keep the last load, which the events that follow correct.
        const LOAD_ATTEMPTS: usize = 3;
        for attempt in 1..=LOAD_ATTEMPTS {
            let generation = {
                let mut bots = self.lock();
                let channel = bots.entry(bot.clone()).or_default();
                if let Some(subscription) = channel.subscribe(bot, "theme.changed") {
                    return Ok(subscription);
                }
                channel.theme_generation
            };
            let state = self.load_theme(bot).await?;
            let mut bots = self.lock();
            let channel = bots.entry(bot.clone()).or_default();
            let fresh = channel.theme_generation == generation || attempt == LOAD_ATTEMPTS;
            if let Some(live) = channel.live.as_mut().filter(|_| fresh) {
                live.theme.get_or_insert(state);
            }
            if let Some(subscription) = channel.subscribe(bot, "theme.changed") {
                return Ok(subscription);
            }
        }
        Err(PersistError::Unavailable("the bot has no clients any more".into()))
    }

    /// Returns the full theme state as a `resync` frame and a receiver of what follows it,
    /// replacing a receiver that fell behind.
    pub(crate) fn resubscribe(&self, bot: &BotName) -> Option<Subscription> {
        let subscription = self.lock().get_mut(bot)?.subscribe(bot, "resync")?;
        self.resyncs.fetch_add(1, Ordering::Relaxed);
        Some(subscription)
    }

    /// Returns the bot's theme files, sorted by path, and theme settings as stored now.
    ///
    /// # Errors
    /// The store's error when the state cannot be read.
    pub(crate) async fn theme_state(
        &self,
        bot: &BotName,
    ) -> Result<(Vec<ThemeFile>, BTreeMap<String, String>), PersistError> {
        let state = self.load_theme(bot).await?;
        Ok((state.files.into_values().collect(), state.settings))
    }

    async fn load_theme(&self, bot: &BotName) -> Result<ThemeState, PersistError> {
        let assets = self.assets.assets(bot).await?;
        let settings = self.settings.settings(bot).await?;
        let files = assets
            .iter()
            .map(|info| (info.path.to_string(), ThemeFile::live(bot, &info.path, &info.hash)))
            .collect();
        Ok(ThemeState { files, settings: theme_settings(&settings) })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<BotName, BotChannel>> {
        self.bots.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}

impl EventBus for Hub {
    /// Numbers the event, updates the bot's theme state and hands one serialised frame to
    /// the bot's clients; returns at once whatever the clients do.
    fn publish(&self, bot: &BotName, event: BotEvent) {
        let mut bots = self.lock();
        let channel = bots.entry(bot.clone()).or_default();
        channel.seq += 1;
        let is_theme = matches!(event, BotEvent::ThemeChanged { .. });
        if is_theme {
            channel.theme_generation += 1;
        }
        let Some(live) = channel.live.as_mut() else { return };
        if let (Some(theme), BotEvent::ThemeChanged { files, settings }) = (&mut live.theme, &event)
        {
            theme.apply(files, settings);
        }
        let frame = event_frame(bot, channel.seq, &event);
        // An error only says that no receiver is left, which is fine.
        let _ = live.sender.send(frame);
    }
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl BotChannel {
    /// Returns the theme state as a frame of type `kind` and a receiver of what follows,
    /// both taken under the hub's lock so no event falls between; `None` before the state
    /// is loaded.
    fn subscribe(&mut self, bot: &BotName, kind: &str) -> Option<Subscription> {
        let live = self.live.as_ref()?;
        let theme = live.theme.as_ref()?;
        let first = envelope(kind, bot, self.seq, &theme.payload());
        Some(Subscription { first, events: live.sender.subscribe() })
    }
}

impl ThemeState {
    fn apply(&mut self, files: &[ThemeFile], settings: &BTreeMap<String, String>) {
        for file in files {
            if file.url.is_some() {
                self.files.insert(file.path.clone(), file.clone());
            } else {
                self.files.remove(&file.path);
            }
        }
        self.settings.clone_from(settings);
    }

    fn payload(&self) -> ThemePayload<'_> {
        ThemePayload { files: self.files.values().collect(), settings: &self.settings }
    }
}

/// The payload of a `theme.changed` or `resync` that carries a whole theme state.
#[derive(Serialize)]
struct ThemePayload<'a> {
    files: Vec<&'a ThemeFile>,
    settings: &'a BTreeMap<String, String>,
}

/// A client counted against its bot's limit until dropped.
pub(crate) struct Admission {
    hub: Arc<Hub>,
    bot: BotName,
}

impl Admission {
    pub(crate) fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    pub(crate) fn bot(&self) -> &BotName {
        &self.bot
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let clients = self.hub.n_connections.fetch_sub(1, Ordering::Relaxed).saturating_sub(1);
        metrics::gauge!("drive_websocket_clients").set(clients as f64);
        let mut bots = self.hub.lock();
        let Some(channel) = bots.get_mut(&self.bot) else { return };
        channel.clients = channel.clients.saturating_sub(1);
        if channel.clients == 0 {
            // Nobody listens: free the ring and the state; the next client loads it anew.
            channel.live = None;
        }
    }
}

/// Returns the frame of `event`: its type and payload with the bot and sequence number.
fn event_frame(bot: &BotName, seq: u64, event: &BotEvent) -> Frame {
    #[derive(Serialize)]
    struct Envelope<'a> {
        bot: &'a BotName,
        seq: u64,
        #[serde(flatten)]
        event: &'a BotEvent,
    }
    text_frame(&Envelope { bot, seq, event })
}

/// Returns a frame of type `kind` with `payload`.
fn envelope(kind: &str, bot: &BotName, seq: u64, payload: &impl Serialize) -> Frame {
    #[derive(Serialize)]
    struct Envelope<'a, P> {
        #[serde(rename = "type")]
        kind: &'a str,
        bot: &'a BotName,
        seq: u64,
        payload: P,
    }
    text_frame(&Envelope { kind, bot, seq, payload })
}

fn text_frame(value: &impl Serialize) -> Frame {
    let text = serde_json::to_string(value).unwrap_or_else(|err| {
        // Only a bug can get here: every field is a string, a number or a map of strings.
        warn!(error = %err, "event could not be serialised");
        String::from("{\"type\":\"error\"}")
    });
    Frame { text: Utf8Bytes::from(text) }
}

#[cfg(test)]
mod tests;
