//! Checks on object keys before a backend is asked about them.
//!
//! Keys are data: a listing returns them exactly as the storage names them, and nothing here
//! rewrites one. But a key that arrives from outside (a storage event, a status request) is
//! checked before it is joined onto a bucket path:
//!
//! - every backend refuses keys that opendal would silently rewrite into another key: empty
//!   keys, a leading `/`, empty segments (`a//b`) and `.` or `..` segments (opendal drops
//!   empty segments, and URL parsing resolves dot segments before the request leaves);
//! - the filesystem backend also refuses backslashes and control characters (NUL included),
//!   so that no key can name a file outside its bucket folder, and names that were not UTF-8
//!   (listed with replacement characters, so no file has them).
//!
//! Known limits: S3 keys with those shapes are legal and do appear in listings; this crate
//! lists them but cannot read or stat them.

use drive_core::StoreError;

use crate::error::unsafe_key;

/// How strictly a backend checks keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyPolicy {
    /// Keys become URL paths or map entries: refuse what opendal would rewrite.
    Remote,
    /// Keys become local file paths: refuse anything that could leave the bucket folder.
    Local,
}

/// Returns `Ok` when `key` can be handed to a backend with `policy`.
///
/// # Errors
/// [`StoreError::UnsafeKey`] naming the key and the reason.
pub(crate) fn check_key(key: &str, policy: KeyPolicy) -> Result<(), StoreError> {
    if key.is_empty() {
        return Err(unsafe_key(key, "the key is empty"));
    }
    if key.starts_with('/') {
        return Err(unsafe_key(key, "the key starts with '/'"));
    }

    // A trailing slash marks a folder placeholder; only the segments before it must be named.
    let body = key.strip_suffix('/').unwrap_or(key);
    for segment in body.split('/') {
        match segment {
            "" => return Err(unsafe_key(key, "the key has an empty segment")),
            "." | ".." => return Err(unsafe_key(key, "the key has a '.' or '..' segment")),
            _ => {}
        }
    }

    if policy == KeyPolicy::Local {
        if key.contains('\\') {
            return Err(unsafe_key(key, "the key contains a backslash"));
        }
        if key.chars().any(char::is_control) {
            return Err(unsafe_key(key, "the key contains a control character"));
        }
        // A file name that is not UTF-8 is listed with replacement characters, a name no
        // file has: reading it back would find nothing.
        if key.contains(char::REPLACEMENT_CHARACTER) {
            return Err(unsafe_key(key, "the file name is not valid UTF-8"));
        }
    }
    Ok(())
}

/// Returns `Ok` when `key` names something that has content to read.
///
/// # Errors
/// [`StoreError::UnsafeKey`] for folder placeholder keys (`docs/`) and for keys refused by
/// [`check_key`].
pub(crate) fn check_readable_key(key: &str, policy: KeyPolicy) -> Result<(), StoreError> {
    check_key(key, policy)?;
    if key.ends_with('/') {
        return Err(unsafe_key(key, "a folder placeholder has no content to read"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(key: &str, policy: KeyPolicy) -> Result<(), String> {
        check_key(key, policy).map_err(|err| match err {
            err @ StoreError::UnsafeKey { .. } => err.to_string(),
            other => panic!("expected a refusal, got {other:?}"),
        })
    }

    #[test]
    fn ordinary_and_odd_but_harmless_keys_pass() {
        for key in ["crm.gbot/config.csv", "a b+c%d.md", "ação/日本.md", "docs/", "..hidden/x"]
        {
            assert_eq!(check(key, KeyPolicy::Local), Ok(()), "{key}");
            assert_eq!(check(key, KeyPolicy::Remote), Ok(()), "{key}");
        }
    }

    #[test]
    fn keys_opendal_would_rewrite_are_refused_everywhere() {
        for key in ["", "/etc/passwd", "a//b", "a/../b", "../x", "./x", "a/.", "a/./"] {
            assert!(check(key, KeyPolicy::Remote).is_err(), "{key:?} passed");
            assert!(check(key, KeyPolicy::Local).is_err(), "{key:?} passed");
        }
    }

    #[test]
    fn backslashes_and_control_characters_are_refused_on_local_paths_only() {
        for key in ["a\\..\\b", "nul\0byte", "line\nbreak", "bell\u{7}"] {
            let message = check(key, KeyPolicy::Local).expect_err(key);
            assert!(message.contains(&format!("{key:?}")), "message names the key: {message}");
            assert_eq!(check(key, KeyPolicy::Remote), Ok(()), "{key:?}");
        }
    }

    #[test]
    fn folder_placeholders_pass_listing_checks_but_cannot_be_read() {
        assert!(check_key("docs/", KeyPolicy::Local).is_ok());
        assert!(matches!(
            check_readable_key("docs/", KeyPolicy::Remote),
            Err(StoreError::UnsafeKey { .. })
        ));
    }
}
