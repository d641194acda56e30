//! Themes: where a bot's theme files live once made live ([`ThemeAssetStore`]), how a theme
//! file is named ([`ThemePath`]) and addressed (`/themes/{bot}/{path}?v={hash}`), and which
//! settings belong to the theme.
//!
//! A bot's theme state is its theme files plus the settings named in [`THEME_SETTINGS`];
//! both travel to live clients in [`BotEvent::ThemeChanged`](crate::BotEvent). Setting
//! values leave the service only through [`theme_settings`], which never lets a value whose
//! name looks secret ([`is_secret_setting`]) through, whatever the theme names become.
//!
//! This module stores nothing and serves nothing: adapters implement the store, the server
//! serves the files.
//!
//! Known limits: two `*.gbtheme/` folders of one bot that hold the same path share one
//! theme file (the last one written wins; removing the other folder's copy leaves it).

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use bytes::Bytes;

use crate::{BotName, ContentHash, ObjectKey, PersistError, Setting, ThemeFile};

/// The settings of `config.csv` that belong to the theme, sent to live clients with their
/// values.
pub const THEME_SETTINGS: [&str; 5] =
    ["theme-color1", "theme-color2", "theme-logo", "theme-title", "theme-logo-text"];

/// Name endings that mark a setting whose value is a secret.
const SECRET_SUFFIXES: [&str; 5] = ["key", "pass", "password", "secret", "token"];

/// Returns true when `name` is one of [`THEME_SETTINGS`] (names compare exactly, as the
/// settings reader keeps them).
pub fn is_theme_setting(name: &str) -> bool {
    THEME_SETTINGS.contains(&name)
}

/// Returns true when the value of the setting `name` must never leave the service: names
/// ending in `-key`, `-pass`, `-password`, `-secret` or `-token`, or made of one of those
/// words, in any case, with `_` or a space counted as `-`.
pub fn is_secret_setting(name: &str) -> bool {
    let normalised: String = name
        .trim()
        .chars()
        .map(|c| if c == '_' || c == ' ' { '-' } else { c.to_ascii_lowercase() })
        .collect();
    SECRET_SUFFIXES.iter().any(|suffix| {
        normalised == *suffix
            || normalised.strip_suffix(suffix).is_some_and(|stem| stem.ends_with('-'))
    })
}

/// Returns the theme settings among `settings`, by name; secret-looking names never pass.
pub fn theme_settings(settings: &[Setting]) -> BTreeMap<String, String> {
    settings
        .iter()
        .filter(|setting| is_theme_setting(&setting.name) && !is_secret_setting(&setting.name))
        .map(|setting| (setting.name.clone(), setting.value.clone()))
        .collect()
}

/// The path of a theme file: its key inside the `*.gbtheme/` folder (`css/main.css` for
/// `crm.gbtheme/css/main.css`).
///
/// A theme path is non-empty, has no empty, `.` or `..` segment and no control character,
/// so that its URL names exactly this file after any browser normalises it.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ThemePath(String);

impl ThemePath {
    /// Returns the theme path `path`, or `None` when a URL could not name it faithfully.
    pub fn new(path: impl Into<String>) -> Option<Self> {
        let path = path.into();
        let valid = !path.is_empty()
            && !path.chars().any(char::is_control)
            && path.split('/').all(|segment| !matches!(segment, "" | "." | ".."));
        valid.then_some(Self(path))
    }

    /// Returns the theme path of `key` when its first folder is a `*.gbtheme` one (any case).
    ///
    /// `None` for keys of other folders and for paths [`ThemePath::new`] refuses.
    pub fn from_key(key: &ObjectKey) -> Option<Self> {
        let (top, rest) = key.as_str().split_once('/')?;
        let (_, suffix) = top.rsplit_once('.')?;
        if !suffix.eq_ignore_ascii_case("gbtheme") {
            return None;
        }
        Self::new(rest)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the file's extension in lower case (`css`), empty when it has none.
    pub fn extension(&self) -> String {
        let file_name = self.0.rsplit('/').next().unwrap_or(&self.0);
        match file_name.rsplit_once('.') {
            Some((stem, extension)) if !stem.is_empty() => extension.to_ascii_lowercase(),
            _ => String::new(),
        }
    }

    /// Returns the URL path that serves the current version of this file:
    /// `/themes/{bot}/{path}`, each segment percent-encoded.
    pub fn url_path(&self, bot: &BotName) -> String {
        let mut url = format!("/themes/{bot}/");
        for (idx, segment) in self.0.split('/').enumerate() {
            if idx > 0 {
                url.push('/');
            }
            push_percent_encoded(&mut url, segment);
        }
        url
    }

    /// Returns the URL that serves exactly the version `hash` of this file, which may be
    /// cached for good: `/themes/{bot}/{path}?v={hash}`.
    pub fn versioned_url(&self, bot: &BotName, hash: &ContentHash) -> String {
        format!("{}?v={hash}", self.url_path(bot))
    }
}

impl fmt::Display for ThemePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ThemePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// Appends `segment` with every byte outside RFC 3986's unreserved set percent-encoded.
fn push_percent_encoded(out: &mut String, segment: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
}

impl ThemeFile {
    /// Returns the entry of a live theme file: its path, versioned URL and hash.
    pub fn live(bot: &BotName, path: &ThemePath, hash: &ContentHash) -> Self {
        Self {
            path: path.as_str().to_owned(),
            url: Some(path.versioned_url(bot, hash)),
            hash: Some(hash.to_hex()),
        }
    }

    /// Returns the entry of a theme file that was removed.
    pub fn removed(path: &ThemePath) -> Self {
        Self { path: path.as_str().to_owned(), url: None, hash: None }
    }
}

/// What a store knows about one theme file, without its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThemeAssetInfo {
    pub path: ThemePath,
    pub hash: ContentHash,
    pub size: u64,
}

/// One theme file with its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThemeAsset {
    pub info: ThemeAssetInfo,
    pub bytes: Bytes,
}

/// Where the live version of every theme file goes, so that it can be served and survives
/// restarts.
///
/// Object safe, and used behind `Arc<dyn ...>`, hence `#[async_trait]`. Every call is one
/// transaction; writes are idempotent.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait ThemeAssetStore: Send + Sync + 'static {
    /// Stores `bytes` (whose hash is `hash`) as the theme file `path` of `bot`, which came
    /// from the object `source`, replacing any earlier version of that path.
    async fn put_asset(
        &self,
        bot: &BotName,
        source: &ObjectKey,
        path: &ThemePath,
        bytes: &Bytes,
        hash: &ContentHash,
    ) -> Result<(), PersistError>;

    /// Removes the theme file that `source` provided and returns its path; `None` when
    /// `source` provides none (never stored, or its path was taken over by another source).
    async fn remove_asset(
        &self,
        bot: &BotName,
        source: &ObjectKey,
    ) -> Result<Option<ThemePath>, PersistError>;

    /// Returns the theme file `path` of `bot` with its content, `None` when there is none.
    async fn asset(
        &self,
        bot: &BotName,
        path: &ThemePath,
    ) -> Result<Option<ThemeAsset>, PersistError>;

    /// Returns every theme file of `bot`, without content, sorted by path.
    async fn assets(&self, bot: &BotName) -> Result<Vec<ThemeAssetInfo>, PersistError>;
}

impl fmt::Debug for dyn ThemeAssetStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ThemeAssetStore")
    }
}

#[cfg(any(test, feature = "test-util"))]
pub use memory::MemoryThemeStoreForTests;

#[cfg(any(test, feature = "test-util"))]
mod memory {
    use std::collections::BTreeMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Theme files of one bot: path to the source it came from and its content.
    type BotAssets = BTreeMap<ThemePath, (ObjectKey, Bytes, ContentHash)>;

    /// A theme store held in memory, whose writes can be made to fail.
    #[derive(Debug, Default)]
    pub struct MemoryThemeStoreForTests {
        bots: Mutex<BTreeMap<BotName, BotAssets>>,
        failing: AtomicUsize,
        writes: AtomicUsize,
    }

    impl MemoryThemeStoreForTests {
        pub fn new() -> Self {
            Self::default()
        }

        /// Makes the next `n` writes fail as if the database were down.
        pub fn fail_next_writes(&self, n: usize) {
            self.failing.store(n, Ordering::SeqCst);
        }

        /// Returns how many writes succeeded.
        pub fn writes(&self) -> usize {
            self.writes.load(Ordering::SeqCst)
        }

        fn check_failure(&self) -> Result<(), PersistError> {
            let failing = self.failing.load(Ordering::SeqCst);
            if failing > 0 {
                self.failing.store(failing - 1, Ordering::SeqCst);
                return Err(PersistError::Unavailable("write refused by the fake".into()));
            }
            Ok(())
        }
    }

    #[async_trait]
    impl ThemeAssetStore for MemoryThemeStoreForTests {
        async fn put_asset(
            &self,
            bot: &BotName,
            source: &ObjectKey,
            path: &ThemePath,
            bytes: &Bytes,
            hash: &ContentHash,
        ) -> Result<(), PersistError> {
            self.check_failure()?;
            let mut bots = self.bots.lock().unwrap();
            let entry = (source.clone(), bytes.clone(), *hash);
            bots.entry(bot.clone()).or_default().insert(path.clone(), entry);
            self.writes.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }

        async fn remove_asset(
            &self,
            bot: &BotName,
            source: &ObjectKey,
        ) -> Result<Option<ThemePath>, PersistError> {
            self.check_failure()?;
            let mut bots = self.bots.lock().unwrap();
            let Some(assets) = bots.get_mut(bot) else { return Ok(None) };
            let path = assets.iter().find(|(_, (from, _, _))| from == source).map(|(p, _)| p);
            let Some(path) = path.cloned() else { return Ok(None) };
            assets.remove(&path);
            self.writes.fetch_add(1, Ordering::SeqCst);
            Ok(Some(path))
        }

        async fn asset(
            &self,
            bot: &BotName,
            path: &ThemePath,
        ) -> Result<Option<ThemeAsset>, PersistError> {
            let bots = self.bots.lock().unwrap();
            let Some((_, bytes, hash)) = bots.get(bot).and_then(|assets| assets.get(path)) else {
                return Ok(None);
            };
            let info = ThemeAssetInfo { path: path.clone(), hash: *hash, size: bytes.len() as u64 };
            Ok(Some(ThemeAsset { info, bytes: bytes.clone() }))
        }

        async fn assets(&self, bot: &BotName) -> Result<Vec<ThemeAssetInfo>, PersistError> {
            let bots = self.bots.lock().unwrap();
            let Some(assets) = bots.get(bot) else { return Ok(Vec::new()) };
            Ok(assets
                .iter()
                .map(|(path, (_, bytes, hash))| ThemeAssetInfo {
                    path: path.clone(),
                    hash: *hash,
                    size: bytes.len() as u64,
                })
                .collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_path(key: &str, expected: Option<&str>) {
        let path = ThemePath::from_key(&ObjectKey::new(key));
        assert_eq!(path.as_ref().map(ThemePath::as_str), expected, "key {key:?}");
    }

    #[test]
    fn theme_paths_are_keys_inside_the_theme_folder() {
        check_path("crm.gbtheme/default.css", Some("default.css"));
        check_path("Crm.GBTheme/css/main.css", Some("css/main.css"));
        check_path("crm.gbtheme/fonts/Open Sans.woff2", Some("fonts/Open Sans.woff2"));
        check_path("crm.gbot/config.csv", None);
        check_path("crm.gbtheme/", None);
        check_path("crm.gbtheme/a//b.css", None);
        check_path("crm.gbtheme/../x.css", None);
        check_path("crm.gbtheme/./x.css", None);
        check_path("crm.gbtheme/x\n.css", None);
        check_path("gbtheme/x.css", None);
    }

    #[test]
    fn urls_encode_each_segment_and_carry_the_hash() {
        let bot = BotName::new("crm").unwrap();
        let path = ThemePath::new("fonts/Open Sans?#%.woff2").unwrap();
        assert_eq!(path.url_path(&bot), "/themes/crm/fonts/Open%20Sans%3F%23%25.woff2");
        let path = ThemePath::new("ação.css").unwrap();
        let hash = ContentHash::of(b"x");
        assert_eq!(
            path.versioned_url(&bot, &hash),
            format!("/themes/crm/a%C3%A7%C3%A3o.css?v={}", hash.to_hex())
        );
    }

    #[test]
    fn extensions_are_lower_case_and_dotfiles_have_none() {
        let extension = |path: &str| ThemePath::new(path).unwrap().extension();
        assert_eq!(extension("css/MAIN.CSS"), "css");
        assert_eq!(extension("img.d/logo"), "");
        assert_eq!(extension(".hidden"), "");
        assert_eq!(extension("a.tar.gz"), "gz");
    }

    #[test]
    fn secret_names_are_recognised_in_every_spelling() {
        for name in ["llm-key", "SMTP-Password", "db_pass", "api token", "secret", "x-secret"] {
            assert!(is_secret_setting(name), "{name}");
        }
        for name in ["theme-color1", "monkey", "passport", "keyboard-layout", "tokenizer"] {
            assert!(!is_secret_setting(name), "{name}");
        }
    }

    #[test]
    fn theme_settings_keep_theme_names_only() {
        let settings = [
            Setting::new("theme-color1", "#fff"),
            Setting::new("theme-title", "Shop"),
            Setting::new("llm-key", "sk-123"),
            Setting::new("Theme Color", "indigo"),
        ];
        let theme = theme_settings(&settings);
        let names: Vec<&str> = theme.keys().map(String::as_str).collect();
        assert_eq!(names, ["theme-color1", "theme-title"]);
        assert!(THEME_SETTINGS.iter().all(|name| !is_secret_setting(name)));
    }
}
