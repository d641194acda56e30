//! Runs parsing off the async runtime when the input is large enough to stall it.
//!
//! Parsers here are linear in their input: a typical `config.csv` or prompt (a few KiB)
//! takes a few microseconds, far less than the thread hop to the blocking pool costs, so
//! small inputs are parsed in place and only large ones move to `spawn_blocking`.

use bytes::Bytes;
use tokio::task::JoinError;

/// Inputs up to this size are parsed on the calling task.
///
/// The reader handles roughly 100 MiB/s in a debug build, so 64 KiB stays well under the
/// 0.5 ms a task may hold a runtime thread.
pub(crate) const INLINE_PARSE_LIMIT: usize = 64 * 1024;

/// Returns `parse(bytes)`, computed on the blocking pool when `bytes` is over
/// [`INLINE_PARSE_LIMIT`].
///
/// Dropping the future does not stop a parse already on the blocking pool; it runs to its
/// end and its result is discarded, which is harmless because parsers have no effects.
///
/// # Errors
/// The join error when the blocking task panicked or the runtime is shutting down.
pub(crate) async fn parse_off_runtime<T>(
    bytes: &Bytes,
    parse: fn(&[u8]) -> T,
) -> Result<T, JoinError>
where
    T: Send + 'static,
{
    if bytes.len() <= INLINE_PARSE_LIMIT {
        return Ok(parse(bytes));
    }
    let bytes = bytes.clone();
    tokio::task::spawn_blocking(move || parse(&bytes)).await
}
