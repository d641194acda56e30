//! Filesystem notifications for the `fs:` backend in development: every change under the
//! storage root becomes a hint for the bot's task, so an edit is live within the hint
//! quiet period instead of the next poll.
//!
//! Hints are only hints: the poll keeps running and reconciles anything the OS did not
//! report (watch limits, network file systems, editors that swap files).

use std::path::{Component, Path};
use std::sync::Arc;

use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};
use tracing::{debug, warn};

use drive_core::{BotName, ObjectKey};

use crate::http::ApiState;

/// Starts watching `root`; the watcher stops when the returned value is dropped.
///
/// # Errors
/// When the OS refuses the watch (missing folder, watch limit reached).
pub fn watch_storage_root(root: &Path, state: Arc<ApiState>) -> notify::Result<RecommendedWatcher> {
    let watched_root = root.canonicalize().unwrap_or_else(|_| root.to_owned());
    let event_root = watched_root.clone();
    let mut watcher =
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            Ok(event) => {
                for path in &event.paths {
                    hint_path(&event_root, path, &state);
                }
            }
            Err(err) => warn!(error = %err, "filesystem watch error; the poll still reconciles"),
        })?;
    watcher.watch(&watched_root, RecursiveMode::Recursive)?;
    Ok(watcher)
}

/// Hints the key a path names; a folder wakes its bot for a full cycle (a folder moved in
/// carries files no event names), a new bot folder is mounted.
fn hint_path(root: &Path, path: &Path, state: &ApiState) {
    let Some((bot, key)) = split_path(root, path) else { return };
    match key {
        None => {
            if path.is_dir() && state.handle.mount(bot.clone()) {
                debug!(bot = %bot, "bot folder appeared");
            }
        }
        Some(_) if path.is_dir() => {
            state.handle.wake(&bot);
        }
        Some(key) => {
            debug!(bot = %bot, object.key = %key, "filesystem event");
            state.handle.hint(&bot, key);
        }
    }
}

/// Returns the bot and key a path under `root` names: `<root>/<bot>.gbai/<key>`. The key is
/// `None` for the bot folder itself; `None` overall for anything else.
pub fn split_path(root: &Path, path: &Path) -> Option<(BotName, Option<ObjectKey>)> {
    let relative = path.strip_prefix(root).ok()?;
    let mut components = relative.components();
    let Some(Component::Normal(bucket)) = components.next() else { return None };
    let bot = BotName::from_bucket(bucket.to_str()?)?;
    let segments: Option<Vec<&str>> = components
        .map(|component| match component {
            Component::Normal(segment) => segment.to_str(),
            _ => None,
        })
        .collect();
    let segments = segments?;
    if segments.is_empty() {
        return Some((bot, None));
    }
    Some((bot, Some(ObjectKey::new(segments.join("/")))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_bot_and_key() {
        let root = Path::new("/srv/bots");
        let (bot, key) =
            split_path(root, Path::new("/srv/bots/crm.gbai/crm.gbot/config.csv")).unwrap();
        assert_eq!((bot.as_str(), key.unwrap().as_str()), ("crm", "crm.gbot/config.csv"));
        let (bot, key) = split_path(root, Path::new("/srv/bots/crm.gbai")).unwrap();
        assert_eq!((bot.as_str(), key), ("crm", None));
        assert!(split_path(root, Path::new("/srv/bots/notes.txt")).is_none());
        assert!(split_path(root, Path::new("/elsewhere/crm.gbai/x")).is_none());
    }
}
