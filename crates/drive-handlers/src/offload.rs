//! Runs parsing on the blocking pool, off the async runtime's threads.
//!
//! Every parse moves, whatever its size. Measured on a 2-core machine busy with builds, the
//! settings reader handles 40 to 60 MiB/s in a release build and about 12 MiB/s in a debug
//! one, so a 64 KiB file already holds a thread for 1 to 5 ms, well over the 0.5 ms a task
//! may take; a size threshold would have to sit near 16 KiB and move with every build
//! profile and machine. The hop to the blocking pool costs tens of microseconds, and these
//! files change when a person edits them, so paying it every time buys a simple rule.

use bytes::Bytes;
use tokio::task::JoinError;

/// Returns `parse(bytes)`, computed on the blocking pool.
///
/// Dropping the future does not stop a parse already running; it goes on to its end and its
/// result is discarded, which is harmless because parsers have no effects.
///
/// # Errors
/// The join error when the parse panicked or the runtime is shutting down.
pub(crate) async fn parse_off_runtime<T>(
    bytes: &Bytes,
    parse: fn(&[u8]) -> T,
) -> Result<T, JoinError>
where
    T: Send + 'static,
{
    let bytes = bytes.clone();
    tokio::task::spawn_blocking(move || parse(&bytes)).await
}

#[cfg(test)]
mod tests {
    use std::thread::{self, ThreadId};

    use super::*;

    fn thread_of_parse(_bytes: &[u8]) -> ThreadId {
        thread::current().id()
    }

    #[tokio::test]
    async fn parsing_runs_on_another_thread_than_the_caller() {
        let parsed_on = parse_off_runtime(&Bytes::from_static(b"a,1"), thread_of_parse).await;
        assert_ne!(parsed_on.unwrap(), thread::current().id());
    }
}
