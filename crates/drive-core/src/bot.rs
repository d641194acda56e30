//! Bot names: the bucket (or folder) name without its `.gbai` suffix.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Suffix every bot bucket carries.
pub const BUCKET_SUFFIX: &str = ".gbai";

/// The name of a bot, e.g. `crm` for the bucket `crm.gbai`.
///
/// A bot name is non-empty, at most 63 bytes, and made of ASCII letters, digits, `-`, `_`
/// and `.`, so it is safe as a URL segment, a log field and a folder name.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BotName(String);

/// Returned when a text is not a valid bot name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid bot name {0:?}: use 1 to 63 ASCII letters, digits, '-', '_' or '.'")]
pub struct InvalidBotName(pub String);

impl BotName {
    /// Returns the bot name for `name`.
    ///
    /// # Errors
    /// [`InvalidBotName`] when `name` is empty, too long, starts with a dot or holds a
    /// character outside the allowed set.
    pub fn new(name: impl Into<String>) -> Result<Self, InvalidBotName> {
        let name = name.into();
        let valid = !name.is_empty()
            && name.len() <= 63
            && !name.starts_with('.')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if valid { Ok(Self(name)) } else { Err(InvalidBotName(name)) }
    }

    /// Returns the bot whose bucket is `bucket`, or `None` when it is not a `*.gbai` bucket.
    pub fn from_bucket(bucket: &str) -> Option<Self> {
        let stem = bucket.strip_suffix(BUCKET_SUFFIX)?;
        Self::new(stem).ok()
    }

    /// Returns the bucket name of this bot (`<name>.gbai`).
    pub fn bucket(&self) -> String {
        format!("{}{BUCKET_SUFFIX}", self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for BotName {
    type Error = InvalidBotName;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<BotName> for String {
    fn from(value: BotName) -> Self {
        value.0
    }
}

impl fmt::Display for BotName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for BotName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_map_to_bots() {
        assert_eq!(BotName::from_bucket("crm.gbai").unwrap().as_str(), "crm");
        assert_eq!(BotName::from_bucket("crm").map(|b| b.to_string()), None);
        assert_eq!(BotName::from_bucket(".gbai"), None);
        assert_eq!(BotName::new("a/b"), Err(InvalidBotName("a/b".into())));
        assert_eq!(BotName::new("crm").unwrap().bucket(), "crm.gbai");
    }
}
