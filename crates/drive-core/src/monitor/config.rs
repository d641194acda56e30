//! The monitor's settings, with the defaults a small deployment wants.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng;

use crate::Kind;

/// How the monitor paces, retries and guards its work.
#[derive(Clone, Debug)]
pub struct MonitorConfig {
    /// Time between two polls of a bot, for kinds without an interval of their own.
    pub interval: Duration,
    /// Poll interval per kind, overriding `interval`.
    pub kind_intervals: BTreeMap<Kind, Duration>,
    /// Share of an interval by which each wait is randomly lengthened or shortened, so that
    /// many bots do not poll in lock step (0.1 = ±10%).
    pub jitter: f64,
    /// Backoff of a change that failed for a transient reason.
    pub change_retry: RetryPolicy,
    /// Backoff of a bot whose listing or state failed (storage or database down).
    pub cycle_retry: RetryPolicy,
    pub deletion_guard: DeletionGuard,
    /// Longest time one handler call may take before its changes count as failed.
    pub handler_timeout: Duration,
    /// Objects read at the same time within one bot.
    pub read_concurrency: usize,
    /// Most content bytes handed to one handler call; larger batches are split.
    pub max_batch_bytes: u64,
    pub size_limits: SizeLimits,
    /// Storage events for one key are acted on once no new event came for this long...
    pub hint_quiet: Duration,
    /// ...but never later than this after the first one, so a key rewritten continuously
    /// is still applied regularly.
    pub hint_max_wait: Duration,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(30),
            kind_intervals: BTreeMap::new(),
            jitter: 0.1,
            change_retry: RetryPolicy {
                base: Duration::from_secs(5),
                cap: Duration::from_secs(15 * 60),
            },
            cycle_retry: RetryPolicy { base: Duration::from_secs(1), cap: Duration::from_secs(60) },
            deletion_guard: DeletionGuard::default(),
            handler_timeout: Duration::from_secs(300),
            read_concurrency: 8,
            max_batch_bytes: 64 * 1024 * 1024,
            size_limits: SizeLimits::default(),
            hint_quiet: Duration::from_millis(300),
            hint_max_wait: Duration::from_secs(5),
        }
    }
}

impl MonitorConfig {
    /// Returns the poll interval of `kind`.
    pub fn interval_of(&self, kind: Kind) -> Duration {
        self.kind_intervals.get(&kind).copied().unwrap_or(self.interval)
    }

    /// Returns `duration` randomly lengthened or shortened by up to the configured jitter.
    pub(crate) fn jittered(&self, duration: Duration) -> Duration {
        let jitter = self.jitter.clamp(0.0, 1.0);
        if jitter == 0.0 {
            return duration;
        }
        let factor = rand::rng().random_range(1.0 - jitter..=1.0 + jitter);
        duration.mul_f64(factor)
    }
}

/// Capped exponential backoff: `base`, `2 × base`, `4 × base`, ... up to `cap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub cap: Duration,
}

impl RetryPolicy {
    /// Returns the wait before attempt number `attempts + 1`, for `attempts >= 1` failures.
    pub fn delay(&self, attempts: u32) -> Duration {
        let exponent = attempts.saturating_sub(1).min(30);
        self.base.saturating_mul(1u32 << exponent).min(self.cap)
    }
}

/// Holds the deletions of a cycle that would remove too much of a bot at once, which is
/// what a misconfigured prefix or a half-restored bucket looks like.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DeletionGuard {
    /// Largest share of a bot's tracked files one cycle may delete (0.5 = half).
    pub max_share: f64,
    /// Deletions up to this count always pass, whatever the share.
    pub min_count: usize,
}

impl Default for DeletionGuard {
    fn default() -> Self {
        Self { max_share: 0.5, min_count: 5 }
    }
}

impl DeletionGuard {
    /// Returns true when `n_removed` deletions out of `n_tracked` files must be held.
    pub fn holds(&self, n_removed: usize, n_tracked: usize) -> bool {
        n_removed > self.min_count && n_removed as f64 > self.max_share * n_tracked as f64
    }
}

/// Largest object, in bytes, the monitor reads for each kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SizeLimits {
    pub script: u64,
    pub knowledge: u64,
    pub theme: u64,
    pub settings: u64,
    pub prompt: u64,
}

impl Default for SizeLimits {
    fn default() -> Self {
        const MIB: u64 = 1024 * 1024;
        Self { script: 4 * MIB, knowledge: 100 * MIB, theme: 20 * MIB, settings: MIB, prompt: MIB }
    }
}

impl SizeLimits {
    pub fn limit(&self, kind: Kind) -> u64 {
        match kind {
            Kind::Script => self.script,
            Kind::Knowledge => self.knowledge,
            Kind::Theme => self.theme,
            Kind::Settings => self.settings,
            Kind::Prompt => self.prompt,
            Kind::Ignored => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_up_to_the_cap() {
        let policy = RetryPolicy { base: Duration::from_secs(5), cap: Duration::from_secs(60) };
        let delays: Vec<u64> = (1..=6).map(|n| policy.delay(n).as_secs()).collect();
        assert_eq!(delays, [5, 10, 20, 40, 60, 60]);
        assert_eq!(policy.delay(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn deletion_guard_needs_both_share_and_count() {
        let guard = DeletionGuard::default();
        assert!(!guard.holds(5, 6), "five deletions always pass");
        assert!(!guard.holds(6, 20), "under half passes");
        assert!(guard.holds(6, 10));
        assert!(!guard.holds(0, 0));
    }

    #[test]
    fn jitter_stays_within_its_share() {
        let config = MonitorConfig::default();
        for _ in 0..100 {
            let waited = config.jittered(Duration::from_secs(30)).as_secs_f64();
            assert!((27.0..=33.0).contains(&waited), "{waited}");
        }
    }
}
