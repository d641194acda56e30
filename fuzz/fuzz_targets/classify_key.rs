//! Fuzzes the classification of object keys and the normalisation of ETags.
//!
//! What must hold for any input: classifying never panics; a folder placeholder is never
//! tracked; ETag normalisation is idempotent.
//!
//! Run with `cargo +nightly fuzz run classify_key` from the repository root.

#![no_main]

use drive_core::{ETag, Kind, ObjectMeta, classify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let size = data.len() as u64 % 3;
    let meta = ObjectMeta::new(text.as_ref(), size);
    let kind = classify(&meta);
    if meta.is_folder_placeholder() {
        assert_eq!(kind, None);
    }
    let _ = Kind::collection(&text);
    if let Some(tag) = ETag::parse(&text) {
        assert_eq!(ETag::parse(tag.as_str()), Some(tag));
    }
});
