//! The service's configuration: defaults, then a TOML file, then `DRIVE_*` environment
//! variables, then command-line flags, each overriding the one before.
//!
//! Secrets (S3 keys) may come from the file or the environment; they are never printed:
//! [`Config`]'s `Debug` output redacts them.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Deserialize;

use drive_core::{BotName, DeletionGuard, Kind, MonitorConfig, RetryPolicy, SizeLimits};
use drive_handlers::ThemeHandlerConfig;
use drive_storage::StorageLimits;

use crate::hub::HubConfig;

/// Storage used when none is configured: a folder of bot packages in the working
/// directory, seeded with the bundled example package when it does not exist.
pub const DEFAULT_STORAGE: &str = "fs:bots";
/// Database used when none is configured: SQLite in the working directory.
pub const DEFAULT_DATABASE: &str = "sqlite:drive-monitor.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Everything the service needs to start.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `fs:PATH`, `s3:http://HOST:PORT` or `memory:`.
    pub storage: String,
    /// `sqlite:PATH` or `postgres://...`.
    pub database: String,
    pub listen: SocketAddr,
    /// Token storage event notifications must carry (`POST /hooks/storage`); events are
    /// refused while unset.
    pub webhook_token: Option<String>,
    /// With `fs:` storage, turn filesystem notifications into hints (for development).
    pub watch: bool,
    pub s3: S3Section,
    pub monitor: MonitorSection,
    pub ws: WsSection,
    pub theme: ThemeSection,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            storage: DEFAULT_STORAGE.into(),
            database: DEFAULT_DATABASE.into(),
            listen: DEFAULT_LISTEN.parse().expect("the default listen address is valid"),
            webhook_token: None,
            watch: false,
            s3: S3Section::default(),
            monitor: MonitorSection::default(),
            ws: WsSection::default(),
            theme: ThemeSection::default(),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("storage", &self.storage)
            .field("database", &redact_url(&self.database))
            .field("listen", &self.listen)
            .field("webhook_token", &self.webhook_token.as_ref().map(|_| "<redacted>"))
            .field("watch", &self.watch)
            .field("s3", &self.s3)
            .field("monitor", &self.monitor)
            .field("ws", &self.ws)
            .field("theme", &self.theme)
            .finish()
    }
}

/// Credentials and addressing of an S3-compatible storage.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Section {
    pub region: Option<String>,
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    /// Use `bucket.host` addressing instead of the default `host/bucket`.
    pub virtual_host_style: bool,
}

impl std::fmt::Debug for S3Section {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Section")
            .field("region", &self.region)
            .field("access_key", &self.access_key.as_ref().map(|_| "<redacted>"))
            .field("secret_key", &self.secret_key.as_ref().map(|_| "<redacted>"))
            .field("virtual_host_style", &self.virtual_host_style)
            .finish()
    }
}

/// The `[monitor]` table: pacing, retries and guards.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorSection {
    #[serde(with = "duration_text")]
    pub interval: Duration,
    /// Interval per kind (`script`, `knowledge`, `theme`, `settings`, `prompt`).
    #[serde(deserialize_with = "kind_durations")]
    pub intervals: BTreeMap<Kind, Duration>,
    pub jitter: f64,
    #[serde(with = "duration_text")]
    pub handler_timeout: Duration,
    #[serde(with = "duration_text")]
    pub retry_base: Duration,
    #[serde(with = "duration_text")]
    pub retry_cap: Duration,
    /// Largest share of a bot's files one cycle may delete.
    pub max_deletion_share: f64,
    /// Deletions up to this count always pass.
    pub max_deletions_always_allowed: usize,
    pub read_concurrency: usize,
    /// Storage requests (listing pages, reads, stats) in flight at once across all bots;
    /// 0 for no cap.
    pub max_storage_in_flight: usize,
    /// Storage requests started per second across all bots, in bursts of up to one
    /// second's worth; 0 for no cap.
    pub storage_requests_per_second: u32,
    /// Handler batches running at once across all bots; 0 for no cap.
    pub max_handler_batches: usize,
    /// Largest object read per kind, in bytes.
    pub size_limits: SizeLimitSection,
    /// Storage events for a key are acted on once none came for this long...
    #[serde(with = "duration_text")]
    pub hint_quiet: Duration,
    /// ...and at the latest this long after the first.
    #[serde(with = "duration_text")]
    pub hint_max_wait: Duration,
    /// How often storage is listed for new or removed bots.
    #[serde(with = "duration_text")]
    pub discovery_interval: Duration,
    /// How long a bot's bucket must stay missing before the bot is unmounted; its state
    /// stays stored.
    #[serde(with = "duration_text")]
    pub unmount_grace: Duration,
}

impl Default for MonitorSection {
    fn default() -> Self {
        let defaults = MonitorConfig::default();
        Self {
            interval: defaults.interval,
            intervals: BTreeMap::new(),
            jitter: defaults.jitter,
            handler_timeout: defaults.handler_timeout,
            retry_base: defaults.change_retry.base,
            retry_cap: defaults.change_retry.cap,
            max_deletion_share: defaults.deletion_guard.max_share,
            max_deletions_always_allowed: defaults.deletion_guard.min_count,
            read_concurrency: defaults.read_concurrency,
            max_storage_in_flight: 0,
            storage_requests_per_second: 0,
            max_handler_batches: 0,
            size_limits: SizeLimitSection::default(),
            hint_quiet: defaults.hint_quiet,
            hint_max_wait: defaults.hint_max_wait,
            discovery_interval: Duration::from_secs(60),
            unmount_grace: Duration::from_secs(300),
        }
    }
}

/// The `[monitor.size_limits]` table, in bytes.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SizeLimitSection {
    pub script: u64,
    pub knowledge: u64,
    pub theme: u64,
    pub settings: u64,
    pub prompt: u64,
}

impl Default for SizeLimitSection {
    fn default() -> Self {
        let limits = SizeLimits::default();
        Self {
            script: limits.script,
            knowledge: limits.knowledge,
            theme: limits.theme,
            settings: limits.settings,
            prompt: limits.prompt,
        }
    }
}

impl MonitorSection {
    /// Returns the limits that all bots' storage requests share, `None` when neither is set.
    pub fn storage_limits(&self) -> Option<StorageLimits> {
        let per_second = f64::from(self.storage_requests_per_second);
        let limits = StorageLimits::new(self.max_storage_in_flight, Some(per_second));
        (!limits.is_unlimited()).then_some(limits)
    }

    /// Returns the permits all bots' handler batches share, `None` without a cap.
    pub fn batch_permits(&self) -> Option<Arc<tokio::sync::Semaphore>> {
        let cap = self.max_handler_batches;
        (cap > 0).then(|| Arc::new(tokio::sync::Semaphore::new(cap)))
    }

    /// Returns the core's configuration for these settings.
    pub fn to_monitor_config(&self) -> MonitorConfig {
        let limits = &self.size_limits;
        MonitorConfig {
            interval: self.interval,
            kind_intervals: self.intervals.clone(),
            jitter: self.jitter,
            change_retry: RetryPolicy { base: self.retry_base, cap: self.retry_cap },
            deletion_guard: DeletionGuard {
                max_share: self.max_deletion_share,
                min_count: self.max_deletions_always_allowed,
            },
            handler_timeout: self.handler_timeout,
            read_concurrency: self.read_concurrency,
            hint_quiet: self.hint_quiet,
            hint_max_wait: self.hint_max_wait,
            size_limits: SizeLimits {
                script: limits.script,
                knowledge: limits.knowledge,
                theme: limits.theme,
                settings: limits.settings,
                prompt: limits.prompt,
            },
            ..MonitorConfig::default()
        }
    }
}

/// Environment variables and the setting each one overrides, as a TOML path.
pub const ENV_SETTINGS: &[(&str, &str)] = &[
    ("DRIVE_STORAGE", "storage"),
    ("DRIVE_DATABASE", "database"),
    ("DRIVE_LISTEN", "listen"),
    ("DRIVE_WEBHOOK_TOKEN", "webhook_token"),
    ("DRIVE_WATCH", "watch"),
    ("DRIVE_DISCOVERY_INTERVAL", "monitor.discovery_interval"),
    ("DRIVE_UNMOUNT_GRACE", "monitor.unmount_grace"),
    ("DRIVE_HINT_QUIET", "monitor.hint_quiet"),
    ("DRIVE_HINT_MAX_WAIT", "monitor.hint_max_wait"),
    ("DRIVE_S3_REGION", "s3.region"),
    ("DRIVE_S3_ACCESS_KEY", "s3.access_key"),
    ("DRIVE_S3_SECRET_KEY", "s3.secret_key"),
    ("DRIVE_S3_VIRTUAL_HOST_STYLE", "s3.virtual_host_style"),
    ("DRIVE_INTERVAL", "monitor.interval"),
    ("DRIVE_INTERVAL_SCRIPT", "monitor.intervals.script"),
    ("DRIVE_INTERVAL_KNOWLEDGE", "monitor.intervals.knowledge"),
    ("DRIVE_INTERVAL_THEME", "monitor.intervals.theme"),
    ("DRIVE_INTERVAL_SETTINGS", "monitor.intervals.settings"),
    ("DRIVE_INTERVAL_PROMPT", "monitor.intervals.prompt"),
    ("DRIVE_JITTER", "monitor.jitter"),
    ("DRIVE_HANDLER_TIMEOUT", "monitor.handler_timeout"),
    ("DRIVE_RETRY_BASE", "monitor.retry_base"),
    ("DRIVE_RETRY_CAP", "monitor.retry_cap"),
    ("DRIVE_MAX_DELETION_SHARE", "monitor.max_deletion_share"),
    ("DRIVE_MAX_DELETIONS_ALWAYS_ALLOWED", "monitor.max_deletions_always_allowed"),
    ("DRIVE_READ_CONCURRENCY", "monitor.read_concurrency"),
    ("DRIVE_MAX_STORAGE_IN_FLIGHT", "monitor.max_storage_in_flight"),
    ("DRIVE_STORAGE_REQUESTS_PER_SECOND", "monitor.storage_requests_per_second"),
    ("DRIVE_MAX_HANDLER_BATCHES", "monitor.max_handler_batches"),
    ("DRIVE_SIZE_LIMIT_SCRIPT", "monitor.size_limits.script"),
    ("DRIVE_SIZE_LIMIT_KNOWLEDGE", "monitor.size_limits.knowledge"),
    ("DRIVE_SIZE_LIMIT_THEME", "monitor.size_limits.theme"),
    ("DRIVE_SIZE_LIMIT_SETTINGS", "monitor.size_limits.settings"),
    ("DRIVE_SIZE_LIMIT_PROMPT", "monitor.size_limits.prompt"),
    ("DRIVE_WS_PING_INTERVAL", "ws.ping_interval"),
    ("DRIVE_WS_SEND_TIMEOUT", "ws.send_timeout"),
    ("DRIVE_WS_EVENT_BUFFER", "ws.event_buffer"),
    ("DRIVE_WS_MAX_CONNECTIONS_PER_BOT", "ws.max_connections_per_bot"),
    ("DRIVE_THEME_EMPTY_FILE_QUIET", "theme.empty_file_quiet"),
];

impl Config {
    /// Loads the configuration from an optional TOML file, then applies the environment
    /// variables of [`ENV_SETTINGS`] read through `env`.
    ///
    /// # Errors
    /// When the file cannot be read, is not valid TOML, names an unknown setting, or a
    /// value has the wrong type; the message names the file or variable.
    pub fn load(file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                text.parse::<toml::Table>()
                    .with_context(|| format!("parsing config file {}", path.display()))?
            }
            None => toml::Table::new(),
        };
        for (var, path) in ENV_SETTINGS {
            if let Some(value) = env(var) {
                set_path(&mut table, path, env_value(&value));
            }
        }
        if let Some(pairs) = env(WS_TOKENS_VAR) {
            set_ws_tokens(&mut table, &pairs)?;
        }
        let origin = file.map_or_else(|| "environment".to_owned(), |p| p.display().to_string());
        toml::Value::Table(table)
            .try_into::<Config>()
            .with_context(|| format!("invalid configuration in {origin}"))
    }

    /// Returns the storage folder when the storage is a filesystem root.
    pub fn fs_root(&self) -> Option<PathBuf> {
        self.storage.strip_prefix("fs:").map(PathBuf::from)
    }
}

/// The `[ws]` table: the WebSocket hub that tells browsers what changed.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WsSection {
    /// Time between pings to idle clients.
    #[serde(with = "duration_text")]
    pub ping_interval: Duration,
    /// Longest time one message may take to reach a client before it is disconnected.
    #[serde(with = "duration_text")]
    pub send_timeout: Duration,
    /// Events a client may fall behind before it gets the full state instead.
    pub event_buffer: usize,
    pub max_connections_per_bot: usize,
    /// Access token per bot (`[ws.tokens]`, `bot = "token"`); bots without one are open.
    #[serde(deserialize_with = "access_tokens")]
    pub tokens: HashMap<BotName, String>,
}

impl Default for WsSection {
    fn default() -> Self {
        let defaults = HubConfig::default();
        Self {
            ping_interval: defaults.ping_interval,
            send_timeout: defaults.send_timeout,
            event_buffer: defaults.event_buffer,
            max_connections_per_bot: defaults.max_connections_per_bot,
            tokens: HashMap::new(),
        }
    }
}

impl std::fmt::Debug for WsSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.to_hub_config().fmt(f)
    }
}

impl WsSection {
    /// Returns the hub's configuration for these settings.
    pub fn to_hub_config(&self) -> HubConfig {
        HubConfig {
            event_buffer: self.event_buffer,
            max_connections_per_bot: self.max_connections_per_bot,
            ping_interval: self.ping_interval,
            send_timeout: self.send_timeout,
            tokens: self.tokens.clone(),
        }
    }
}

/// The `[theme]` table: how theme changes are published.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThemeSection {
    /// How long a theme file emptied by a save must stay empty before browsers get it.
    #[serde(with = "duration_text")]
    pub empty_file_quiet: Duration,
}

impl Default for ThemeSection {
    fn default() -> Self {
        Self { empty_file_quiet: ThemeHandlerConfig::default().empty_file_quiet }
    }
}

impl ThemeSection {
    pub fn to_handler_config(&self) -> ThemeHandlerConfig {
        ThemeHandlerConfig { empty_file_quiet: self.empty_file_quiet }
    }
}

/// Environment variable holding every bot's access token as `bot=token` pairs separated by
/// commas or blanks; it adds to (and overrides) the `[ws.tokens]` table.
pub const WS_TOKENS_VAR: &str = "DRIVE_WS_TOKENS";

/// Adds the pairs of [`WS_TOKENS_VAR`] to the `ws.tokens` table of `table`.
fn set_ws_tokens(table: &mut toml::Table, pairs: &str) -> anyhow::Result<()> {
    let mut tokens = toml::Table::new();
    for pair in pairs.split([',', ' ', '\n', '\t']).filter(|pair| !pair.trim().is_empty()) {
        let Some((bot, token)) = pair.trim().split_once('=') else {
            // The pair is not shown: it may be a token without its bot.
            bail!("{WS_TOKENS_VAR}: expected bot=token pairs separated by commas");
        };
        tokens.insert(bot.trim().to_owned(), toml::Value::String(token.trim().to_owned()));
    }
    let ws = table.entry("ws").or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let existing = ws
        .as_table_mut()
        .map(|ws| ws.entry("tokens").or_insert_with(|| toml::Value::Table(toml::Table::new())));
    match existing.and_then(toml::Value::as_table_mut) {
        Some(existing) => existing.extend(tokens),
        None => bail!("`ws` and `ws.tokens` must be tables"),
    }
    Ok(())
}

/// Reads `[ws.tokens]`: valid bot names, each with a non-empty token.
fn access_tokens<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<HashMap<BotName, String>, D::Error> {
    let raw = BTreeMap::<String, String>::deserialize(d)?;
    let mut tokens = HashMap::new();
    for (name, token) in raw {
        let bot = BotName::new(name).map_err(serde::de::Error::custom)?;
        if token.trim().is_empty() {
            let message = format!("the access token of bot {bot} is empty");
            return Err(serde::de::Error::custom(message));
        }
        tokens.insert(bot, token);
    }
    Ok(tokens)
}

/// Reads an environment value as a TOML value when it parses as one (numbers, booleans),
/// and as a string otherwise.
fn env_value(text: &str) -> toml::Value {
    let parsed = format!("v = {text}").parse::<toml::Table>().ok().and_then(|mut t| t.remove("v"));
    match parsed {
        Some(
            value @ (toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_)),
        ) => value,
        _ => toml::Value::String(text.to_owned()),
    }
}

fn set_path(table: &mut toml::Table, path: &str, value: toml::Value) {
    let mut segments: Vec<&str> = path.split('.').collect();
    let last = segments.pop().unwrap_or(path);
    let mut current = table;
    for segment in segments {
        let entry = current
            .entry(segment.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(next) = entry else { return };
        current = next;
    }
    current.insert(last.to_owned(), value);
}

/// Returns a database URL with any password replaced, for logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some((userinfo, host)) = rest.rsplit_once('@') else { return url.to_owned() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:<redacted>@{host}"),
        None => url.to_owned(),
    }
}

/// Parses durations written as `500ms`, `30s`, `5m`, `2h` or `1d`; a bare number is seconds.
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().with_context(|| format!("invalid duration {text:?}"))?;
    let seconds = match unit.trim() {
        "ms" => number / 1000.0,
        "" | "s" => number,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        "d" => number * 86_400.0,
        other => bail!("invalid duration unit {other:?} in {text:?}: use ms, s, m, h or d"),
    };
    Duration::try_from_secs_f64(seconds).with_context(|| format!("invalid duration {text:?}"))
}

mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize as _, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let value = toml::Value::deserialize(d)?;
        let text = match value {
            toml::Value::String(text) => text,
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Float(n) => n.to_string(),
            other => {
                return Err(serde::de::Error::custom(format!("expected a duration, got {other}")));
            }
        };
        super::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

fn kind_durations<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<Kind, Duration>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapped(#[serde(with = "duration_text")] Duration);

    let raw = BTreeMap::<String, Wrapped>::deserialize(d)?;
    let mut out = BTreeMap::new();
    for (name, Wrapped(duration)) in raw {
        let kind: Kind = name.parse().map_err(serde::de::Error::custom)?;
        out.insert(kind, duration);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_with_units() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("5 weeks").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn file_then_environment_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("drive.toml");
        std::fs::write(
            &path,
            "database = \"sqlite:x.db\"\n[monitor]\ninterval = \"10s\"\n\
             [monitor.intervals]\nsettings = \"2s\"\n",
        )
        .unwrap();
        let env = |var: &str| match var {
            "DRIVE_INTERVAL" => Some("45s".to_owned()),
            "DRIVE_S3_SECRET_KEY" => Some("hunter2".to_owned()),
            "DRIVE_MAX_DELETION_SHARE" => Some("0.25".to_owned()),
            _ => None,
        };
        let config = Config::load(Some(&path), env).unwrap();
        assert_eq!(config.database, "sqlite:x.db");
        assert_eq!(config.storage, DEFAULT_STORAGE);
        assert_eq!(config.monitor.interval, Duration::from_secs(45));
        assert_eq!(config.monitor.intervals[&Kind::Settings], Duration::from_secs(2));
        assert_eq!(config.monitor.max_deletion_share, 0.25);
        assert_eq!(config.s3.secret_key.as_deref(), Some("hunter2"));
        assert!(!format!("{config:?}").contains("hunter2"), "secrets never printed");
    }

    #[test]
    fn shared_limits_are_off_by_default_and_set_from_file_or_environment() {
        let defaults = Config::load(None, |_| None).unwrap();
        assert!(defaults.monitor.storage_limits().is_none());
        assert!(defaults.monitor.batch_permits().is_none());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("drive.toml");
        std::fs::write(&path, "[monitor]\nmax_storage_in_flight = 16\n").unwrap();
        let env = |var: &str| match var {
            "DRIVE_STORAGE_REQUESTS_PER_SECOND" => Some("50".to_owned()),
            "DRIVE_MAX_HANDLER_BATCHES" => Some("4".to_owned()),
            _ => None,
        };
        let config = Config::load(Some(&path), env).unwrap();
        assert_eq!(config.monitor.max_storage_in_flight, 16);
        assert_eq!(config.monitor.storage_requests_per_second, 50);
        assert!(config.monitor.storage_limits().is_some());
        let permits = config.monitor.batch_permits().unwrap();
        assert_eq!(permits.available_permits(), 4);
    }

    #[test]
    fn unknown_settings_and_bad_values_are_refused_with_their_origin() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("drive.toml");
        std::fs::write(&path, "[monitor]\nintervall = \"10s\"\n").unwrap();
        let err = Config::load(Some(&path), |_| None).unwrap_err();
        assert!(format!("{err:#}").contains("drive.toml"), "{err:#}");
        assert!(format!("{err:#}").contains("intervall"), "{err:#}");

        let err = Config::load(None, |v| (v == "DRIVE_INTERVAL").then(|| "soon".into()));
        assert!(format!("{:#}", err.unwrap_err()).contains("soon"));
    }

    #[test]
    fn passwords_are_redacted_from_database_urls() {
        assert_eq!(
            redact_url("postgres://drive:s3cret@db:5432/drive"),
            "postgres://drive:<redacted>@db:5432/drive"
        );
        assert_eq!(redact_url("sqlite:drive.db"), "sqlite:drive.db");
    }
}
