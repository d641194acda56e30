//! Fuzzes the BASIC script compiler with arbitrary bytes.
//!
//! Checks what must hold for any input: compiling never panics or overflows the stack;
//! printing any tree never panics; a script that compiles without errors prints to source
//! that compiles without errors and prints the same again (the printer is canonical, so equal
//! prints mean equal trees, positions aside); the tree serialises to JSON.
//!
//! Run with `cargo +nightly fuzz run parse` from the repository root (cargo-fuzz installed).

#![no_main]

use drive_handlers::basic::{compile, compile_bytes, print};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(compiled) = compile_bytes("fuzz", data) else { return };
    let printed = print(&compiled.tree);
    let _ = compiled.tree_json();
    if compiled.has_errors() {
        return;
    }
    let again = compile("fuzz", &printed);
    assert!(!again.has_errors(), "printed source has errors:\n{printed}\n{:?}", again.diagnostics);
    assert_eq!(print(&again.tree), printed, "printing is not stable");
});
