//! Fuzzes the decoding of storage event notifications (`POST /hooks/storage` bodies).
//!
//! What must hold for any input: parsing and key decoding never panic; a decoded key is
//! never empty, and decoding is done exactly once (decoding the output of a `%25`-free
//! input again gives the same text).
//!
//! Run with `cargo +nightly fuzz run storage_event` from the repository root.

#![no_main]

use drive_server::webhook::{EventNotification, decode_key, hint_target};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(decoded) = decode_key(text) {
            if !decoded.contains('%') && !decoded.contains('+') {
                assert_eq!(decode_key(&decoded).as_deref(), Some(decoded.as_str()));
            }
        }
    }
    let Ok(notification) = serde_json::from_slice::<EventNotification>(data) else { return };
    for record in &notification.records {
        if let Some((_, key)) = hint_target(record) {
            assert!(!key.as_str().is_empty(), "an empty key was hinted");
        }
    }
});
