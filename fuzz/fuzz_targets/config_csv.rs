//! Fuzzes the `config.csv` reader with arbitrary bytes.
//!
//! What must hold for any input: reading never panics; a file that reads cleanly gives
//! settings with non-empty names, and every diagnostic of a refused file names a line.
//!
//! Run with `cargo +nightly fuzz run config_csv` from the repository root.

#![no_main]

use drive_handlers::read_config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match read_config(data) {
        Ok(config) => {
            for setting in &config.settings {
                assert!(!setting.name.is_empty(), "a setting without a name was read");
            }
        }
        Err(invalid) => assert!(!invalid.diagnostics.is_empty(), "refused without a reason"),
    }
});
