//! Storage settings: the URL-ish spec the CLI takes (`fs:PATH`, `s3:http://HOST:PORT`,
//! `memory:`) and the `[storage]` table of a TOML config file, and opening a store from them.
//!
//! ```toml
//! [storage]
//! url = "s3:http://127.0.0.1:9000"
//!
//! [storage.s3]
//! region = "us-east-1"
//! access_key_id = "drive"
//! secret_access_key = "..."
//! ```
//!
//! Secrets are kept in [`Secret`], whose `Debug` and `Display` never show them.
//!
//! Known limits: an S3 endpoint must have no path, query or fragment (a server under a
//! sub-path is not supported); there is no proxy support.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use drive_core::ObjectStore;

use crate::error::StorageError;
use crate::{FsObjectStore, MemoryObjectStore, S3ObjectStore};

/// Where the buckets live.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum StorageUrl {
    /// `fs:PATH`: a local folder whose `*.gbai` subfolders are the buckets.
    Fs(PathBuf),
    /// `s3:http(s)://HOST[:PORT]`: an S3-compatible server.
    S3(String),
    /// `memory:`: an empty store in memory.
    Memory,
}

impl FromStr for StorageUrl {
    type Err = StorageError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = |reason| StorageError::InvalidUrl { url: text.to_owned(), reason };
        let Some((scheme, rest)) = text.split_once(':') else {
            return Err(invalid("expected fs:PATH, s3:http://HOST:PORT or memory:"));
        };
        match scheme {
            "fs" if rest.is_empty() => Err(invalid("fs: needs a folder path")),
            "fs" => Ok(Self::Fs(PathBuf::from(rest))),
            "memory" if rest.is_empty() => Ok(Self::Memory),
            "memory" => Err(invalid("memory: takes nothing after the colon")),
            "s3" => {
                let endpoint = parse_endpoint(rest).map_err(invalid)?;
                Ok(Self::S3(endpoint.as_str().trim_end_matches('/').to_owned()))
            }
            _ => Err(invalid("the scheme must be fs, s3 or memory")),
        }
    }
}

impl TryFrom<String> for StorageUrl {
    type Error = StorageError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl fmt::Display for StorageUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fs(path) => write!(f, "fs:{}", path.display()),
            Self::S3(endpoint) => write!(f, "s3:{endpoint}"),
            Self::Memory => f.write_str("memory:"),
        }
    }
}

/// Returns the endpoint URL, or why it is not usable.
pub(crate) fn parse_endpoint(text: &str) -> Result<reqwest::Url, &'static str> {
    let url = reqwest::Url::parse(text)
        .map_err(|_| "the s3 endpoint is not a URL like http://HOST:PORT")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("the s3 endpoint must start with http:// or https://");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the s3 endpoint has no host");
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err("the s3 endpoint must have no path, query or fragment");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("put s3 credentials in the settings, not in the endpoint");
    }
    Ok(url)
}

/// The `[storage]` table of the config file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    pub url: StorageUrl,
    /// Used only by `s3:` URLs.
    #[serde(default)]
    pub s3: S3Settings,
}

impl StorageConfig {
    /// Returns settings for `url` with default S3 settings.
    pub fn new(url: StorageUrl) -> Self {
        Self { url, s3: S3Settings::default() }
    }

    /// Opens the store these settings describe.
    ///
    /// # Errors
    /// [`StorageError::MissingRoot`] for a filesystem root that is not a folder;
    /// [`StorageError::MissingCredentials`] for S3 settings without keys;
    /// [`StorageError::InvalidSettings`] when the backend rejects a setting.
    pub fn open(&self) -> Result<Arc<dyn ObjectStore>, StorageError> {
        Ok(match &self.url {
            StorageUrl::Fs(root) => Arc::new(FsObjectStore::new(root.clone())?),
            StorageUrl::S3(endpoint) => Arc::new(S3ObjectStore::new(endpoint, &self.s3)?),
            StorageUrl::Memory => Arc::new(MemoryObjectStore::new()),
        })
    }
}

/// How to reach and sign requests to an S3-compatible server.
///
/// `Debug` shows whether keys are set, never the keys.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Settings {
    /// The signing region; local servers accept any, `us-east-1` by default.
    pub region: String,
    #[serde(alias = "access_key")]
    pub access_key_id: Option<String>,
    #[serde(alias = "secret_key")]
    pub secret_access_key: Option<Secret>,
    /// For temporary credentials only.
    pub session_token: Option<Secret>,
    /// Addresses buckets as `bucket.host` instead of `host/bucket` (the default, which
    /// local servers expect).
    pub virtual_host_style: bool,
    /// Longest wait for a connection, in seconds.
    pub connect_timeout_secs: u64,
    /// Longest silence while waiting for an answer or its next bytes, in seconds.
    pub read_timeout_secs: u64,
}

impl Default for S3Settings {
    fn default() -> Self {
        Self {
            region: "us-east-1".to_owned(),
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            virtual_host_style: false,
            connect_timeout_secs: 10,
            read_timeout_secs: 60,
        }
    }
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |present: bool| if present { "set" } else { "unset" };
        f.debug_struct("S3Settings")
            .field("region", &self.region)
            .field("access_key_id", &set(self.access_key_id.is_some()))
            .field("secret_access_key", &set(self.secret_access_key.is_some()))
            .field("session_token", &set(self.session_token.is_some()))
            .field("virtual_host_style", &self.virtual_host_style)
            .field("connect_timeout_secs", &self.connect_timeout_secs)
            .field("read_timeout_secs", &self.read_timeout_secs)
            .finish()
    }
}

impl S3Settings {
    /// Returns settings with these keys and every other setting at its default.
    pub fn with_keys(access_key_id: impl Into<String>, secret_access_key: Secret) -> Self {
        Self {
            access_key_id: Some(access_key_id.into()),
            secret_access_key: Some(secret_access_key),
            ..Self::default()
        }
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs.max(1))
    }

    pub(crate) fn read_timeout(&self) -> Duration {
        Duration::from_secs(self.read_timeout_secs.max(1))
    }
}

/// A secret setting; its `Debug` and `Display` show `***`, never the value.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Returns the secret itself, for signing; never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct ConfigFile {
        storage: StorageConfig,
    }

    fn parse(text: &str) -> Result<StorageUrl, String> {
        text.parse::<StorageUrl>().map_err(|err| err.to_string())
    }

    #[test]
    fn urls_of_each_backend_parse_and_print_back() {
        for text in ["fs:./examples", "fs:/srv/bots", "s3:http://127.0.0.1:9000", "memory:"] {
            assert_eq!(parse(text).map(|url| url.to_string()), Ok(text.to_owned()));
        }
        assert_eq!(
            parse("s3:https://s3.example.com/"),
            Ok(StorageUrl::S3("https://s3.example.com".into()))
        );
    }

    #[test]
    fn malformed_urls_say_what_is_wrong() {
        for (text, reason) in [
            ("bots", "expected fs:PATH"),
            ("fs:", "needs a folder path"),
            ("memory:x", "takes nothing"),
            ("s3:127.0.0.1:9000", "http://"),
            ("s3:ftp://host", "http://"),
            ("s3:http://host/prefix", "no path"),
            ("s3:http://key:secret@host", "not in the endpoint"),
            ("gcs:bucket", "fs, s3 or memory"),
        ] {
            let message = parse(text).expect_err(text);
            assert!(message.contains(reason), "{text}: {message}");
        }
    }

    #[test]
    fn toml_config_reads_s3_settings_and_hides_the_secret() {
        let text = r#"
            [storage]
            url = "s3:http://127.0.0.1:9000"
            [storage.s3]
            access_key_id = "drive-key-id"
            secret_access_key = "very-secret"
            virtual_host_style = true
        "#;
        let config = toml::from_str::<ConfigFile>(text).unwrap().storage;
        assert_eq!(config.url, StorageUrl::S3("http://127.0.0.1:9000".into()));
        assert_eq!(config.s3.region, "us-east-1");
        assert!(config.s3.virtual_host_style);
        assert_eq!(config.s3.secret_access_key.as_ref().map(Secret::expose), Some("very-secret"));
        let shown = format!("{config:?}");
        assert!(!shown.contains("very-secret") && !shown.contains("drive-key-id"), "{shown}");
    }

    #[test]
    fn s3_settings_accept_the_short_key_names() {
        let text = "region = \"eu-west-1\"\naccess_key = \"id\"\nsecret_key = \"s\"\n";
        let settings: S3Settings = toml::from_str(text).unwrap();
        assert_eq!(settings.region, "eu-west-1");
        assert_eq!(settings.access_key_id.as_deref(), Some("id"));
        assert_eq!(settings.secret_access_key.as_ref().map(Secret::expose), Some("s"));
        assert_eq!(settings.read_timeout_secs, 60, "unset fields keep their defaults");
    }

    #[test]
    fn toml_config_rejects_bad_urls_and_unknown_settings() {
        let bad_url = "[storage]\nurl = \"s3:nowhere\"\n";
        assert!(toml::from_str::<ConfigFile>(bad_url).is_err());
        let typo = "[storage]\nurl = \"memory:\"\n[storage.s3]\nsecret = \"x\"\n";
        assert!(toml::from_str::<ConfigFile>(typo).is_err());
    }

    #[test]
    fn opening_checks_roots_and_credentials() {
        let missing = StorageConfig::new(StorageUrl::Fs("/no/such/folder".into()));
        assert!(matches!(missing.open(), Err(StorageError::MissingRoot { .. })));
        let anonymous = StorageConfig::new(StorageUrl::S3("http://127.0.0.1:9".into()));
        assert!(matches!(anonymous.open(), Err(StorageError::MissingCredentials)));
        assert!(StorageConfig::new(StorageUrl::Memory).open().is_ok());
    }
}
