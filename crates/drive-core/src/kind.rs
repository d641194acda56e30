//! What a key means: the kind of an object, read from the suffix of its first folder.
//!
//! Real packages misspell the folder prefix (`annoucements.gbot` inside
//! `announcements.gbai`), so only the suffix after the last dot of the first segment counts.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ObjectMeta;

/// The kind of an object, which decides the handler its changes go to.
///
/// The order is the order in which a cycle hands its batches to the handlers: settings
/// first, because other handlers read them (the embedder a knowledge batch uses, the theme
/// settings a theme event carries), so a package that arrives whole is applied with its
/// own settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `*.gbot/config.csv`
    Settings,
    /// `*.gbdialog/**/*.bas`
    Script,
    /// `*.gbkb/**`
    Knowledge,
    /// `*.gbtheme/**`
    Theme,
    /// `*.gbot/*prompt*.md` or `.txt`
    Prompt,
    /// Anything else: tracked, never processed.
    Ignored,
}

impl Kind {
    pub const ALL: [Kind; 6] =
        [Kind::Settings, Kind::Script, Kind::Knowledge, Kind::Theme, Kind::Prompt, Kind::Ignored];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Script => "script",
            Kind::Knowledge => "knowledge",
            Kind::Theme => "theme",
            Kind::Settings => "settings",
            Kind::Prompt => "prompt",
            Kind::Ignored => "ignored",
        }
    }

    /// Returns the knowledge collection of a `*.gbkb/` key: its second segment, or `default`
    /// for documents directly under the `*.gbkb/` folder. `None` for other kinds.
    pub fn collection(key: &str) -> Option<&str> {
        let mut segments = key.split('/');
        let top = segments.next()?;
        if folder_suffix(top) != Some("gbkb") {
            return None;
        }
        let second = segments.next()?;
        if segments.next().is_some() { Some(second) } else { Some("default") }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Returned when a text names no kind.
#[derive(Debug, thiserror::Error)]
#[error("unknown kind {0:?}")]
pub struct UnknownKind(pub String);

impl FromStr for Kind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

/// Returns the kind of a listed object, or `None` for zero-byte folder placeholders, which
/// are not tracked at all.
pub fn classify(meta: &ObjectMeta) -> Option<Kind> {
    if meta.is_folder_placeholder() {
        return None;
    }
    Some(classify_key(meta.key.as_str()))
}

/// Returns the kind of a key by the suffix of its first segment.
pub(crate) fn classify_key(key: &str) -> Kind {
    let Some((top, rest)) = key.split_once('/') else {
        return Kind::Ignored;
    };
    if rest.is_empty() || rest.ends_with('/') {
        return Kind::Ignored;
    }
    let file_name = rest.rsplit('/').next().unwrap_or(rest).to_ascii_lowercase();
    match folder_suffix(top) {
        Some("gbdialog") if file_name.ends_with(".bas") => Kind::Script,
        Some("gbkb") => Kind::Knowledge,
        Some("gbtheme") => Kind::Theme,
        Some("gbot") if !rest.contains('/') && file_name == "config.csv" => Kind::Settings,
        Some("gbot")
            if !rest.contains('/')
                && file_name.contains("prompt")
                && (file_name.ends_with(".md") || file_name.ends_with(".txt")) =>
        {
            Kind::Prompt
        }
        _ => Kind::Ignored,
    }
}

fn folder_suffix(segment: &str) -> Option<&str> {
    let (_, suffix) = segment.rsplit_once('.')?;
    match suffix.to_ascii_lowercase().as_str() {
        "gbdialog" => Some("gbdialog"),
        "gbkb" => Some("gbkb"),
        "gbtheme" => Some("gbtheme"),
        "gbot" => Some("gbot"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(key: &str, expected: Kind) {
        assert_eq!(classify_key(key), expected, "key {key:?}");
    }

    #[test]
    fn keys_classify_by_first_folder_suffix() {
        check("crm.gbdialog/start.bas", Kind::Script);
        check("crm.gbdialog/tools/deal.BAS", Kind::Script);
        check("crm.gbdialog/readme.md", Kind::Ignored);
        check("crm.gbkb/manuals/guide.pdf", Kind::Knowledge);
        check("crm.gbkb/loose.md", Kind::Knowledge);
        check("crm.gbtheme/default.css", Kind::Theme);
        check("annoucements.gbot/config.csv", Kind::Settings);
        check("crm.gbot/Config.CSV", Kind::Settings);
        check("crm.gbot/old/config.csv", Kind::Ignored);
        check("crm.gbot/system-prompt.md", Kind::Prompt);
        check("crm.gbot/PROMPT.txt", Kind::Prompt);
        check("crm.gbot/prompt.json", Kind::Ignored);
        check("crm.gbdata/x.csv", Kind::Ignored);
        check("config.csv", Kind::Ignored);
        check("gbot/config.csv", Kind::Ignored);
    }

    #[test]
    fn folder_placeholders_are_not_tracked() {
        assert_eq!(classify(&ObjectMeta::new("crm.gbkb/docs/", 0)), None);
        assert_eq!(classify(&ObjectMeta::new("crm.gbkb/docs/a.md", 0)), Some(Kind::Knowledge));
    }

    #[test]
    fn collections_come_from_the_second_segment() {
        assert_eq!(Kind::collection("crm.gbkb/manuals/a/b.pdf"), Some("manuals"));
        assert_eq!(Kind::collection("crm.gbkb/loose.md"), Some("default"));
        assert_eq!(Kind::collection("crm.gbot/config.csv"), None);
    }

    #[test]
    fn kinds_round_trip_through_text() {
        for kind in Kind::ALL {
            assert_eq!(kind.as_str().parse::<Kind>().unwrap(), kind);
        }
    }
}
