//! Wall-clock time for the timestamps the monitor stores (retry times).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::Timestamp;

/// A source of wall-clock time.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Timestamp::from_nanos(i64::try_from(since_epoch.as_nanos()).unwrap_or(i64::MAX))
    }
}

/// Wall-clock time that advances with tokio's clock, so tests with paused time see retry
/// times come due as the paused clock moves.
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    origin_wall: Timestamp,
    origin: tokio::time::Instant,
}

impl TokioClock {
    pub fn new() -> Self {
        Self { origin_wall: SystemClock.now(), origin: tokio::time::Instant::now() }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        self.origin_wall.plus(self.origin.elapsed())
    }
}
