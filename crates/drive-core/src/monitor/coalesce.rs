//! Coalescing of storage hints: many events for one key become one targeted cycle.
//!
//! A key is due once no event came for it for the quiet period, or once the maximum wait
//! has passed since its first pending event, whichever comes first.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::ObjectKey;

/// Pending hinted keys with the times of their first and last events.
#[derive(Debug)]
pub(crate) struct Coalescer {
    quiet: Duration,
    max_wait: Duration,
    pending: HashMap<ObjectKey, (Instant, Instant)>,
}

impl Coalescer {
    pub(crate) fn new(quiet: Duration, max_wait: Duration) -> Self {
        Self { quiet, max_wait, pending: HashMap::new() }
    }

    /// Notes an event for `key` at `now`.
    pub(crate) fn note(&mut self, key: ObjectKey, now: Instant) {
        self.pending.entry(key).and_modify(|(_, last)| *last = now).or_insert((now, now));
    }

    /// Returns when the next key falls due, `None` when nothing is pending.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.pending.values().map(|times| self.due_at(*times)).min()
    }

    /// Removes and returns the keys due at `now`, sorted.
    pub(crate) fn take_due(&mut self, now: Instant) -> Vec<ObjectKey> {
        let mut due: Vec<ObjectKey> = self
            .pending
            .iter()
            .filter(|(_, times)| self.due_at(**times) <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for key in &due {
            self.pending.remove(key);
        }
        due.sort();
        due
    }

    /// Forgets every pending key (a full cycle covers them).
    pub(crate) fn clear(&mut self) {
        self.pending.clear();
    }

    fn due_at(&self, (first, last): (Instant, Instant)) -> Instant {
        (last + self.quiet).min(first + self.max_wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ObjectKey {
        ObjectKey::new(name)
    }

    #[test]
    fn a_key_is_due_after_its_quiet_period() {
        let start = Instant::now();
        let mut coalescer = Coalescer::new(Duration::from_millis(300), Duration::from_secs(5));
        coalescer.note(key("a"), start);
        coalescer.note(key("a"), start + Duration::from_millis(200));
        assert_eq!(coalescer.next_deadline(), Some(start + Duration::from_millis(500)));
        assert!(coalescer.take_due(start + Duration::from_millis(499)).is_empty());
        assert_eq!(coalescer.take_due(start + Duration::from_millis(500)), [key("a")]);
        assert_eq!(coalescer.next_deadline(), None);
    }

    #[test]
    fn a_key_rewritten_every_100ms_is_still_due_after_the_maximum_wait() {
        let start = Instant::now();
        let mut coalescer = Coalescer::new(Duration::from_millis(300), Duration::from_secs(5));
        let mut now = start;
        let mut taken_at = None;
        while now < start + Duration::from_secs(10) {
            coalescer.note(key("busy"), now);
            if !coalescer.take_due(now).is_empty() {
                taken_at = Some(now);
                break;
            }
            now += Duration::from_millis(100);
        }
        assert_eq!(taken_at, Some(start + Duration::from_secs(5)));
    }

    #[test]
    fn keys_fall_due_independently() {
        let start = Instant::now();
        let mut coalescer = Coalescer::new(Duration::from_millis(300), Duration::from_secs(5));
        coalescer.note(key("a"), start);
        coalescer.note(key("b"), start + Duration::from_millis(250));
        assert_eq!(coalescer.take_due(start + Duration::from_millis(300)), [key("a")]);
        assert_eq!(coalescer.take_due(start + Duration::from_millis(550)), [key("b")]);
    }
}
