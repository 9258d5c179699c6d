//! A bucket as the feeds in it see it: whether this instance may still fire for them.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Milliseconds on this process's monotonic clock (never the wall clock: leases must not depend
/// on clocks agreeing across machines).
pub fn monotonic_ms() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// Checked before every fire: a feed of a bucket this instance no longer holds (or may no longer
/// be sure it holds) fires nothing more.
#[derive(Debug)]
pub struct LeaseGuard {
    pub bucket: u32,
    pub epoch: u64,
    /// The monotonic time until which the lease is surely ours (`u64::MAX`: for ever).
    valid_until: AtomicU64,
    lost: AtomicBool,
}

impl LeaseGuard {
    /// A bucket held without contest (the embedded store).
    pub fn for_ever(bucket: u32, epoch: u64) -> Self {
        Self {
            bucket,
            epoch,
            valid_until: AtomicU64::new(u64::MAX),
            lost: AtomicBool::new(false),
        }
    }

    /// A bucket held until `valid_for` after `since` (a monotonic time in ms).
    pub fn until(bucket: u32, epoch: u64, since: u64, valid_for: Duration) -> Self {
        let guard = Self {
            bucket,
            epoch,
            valid_until: AtomicU64::new(0),
            lost: AtomicBool::new(false),
        };
        guard.extend(since, valid_for);
        guard
    }

    /// Renewed: valid until `valid_for` after `since` (when the renewal was sent).
    pub fn extend(&self, since: u64, valid_for: Duration) {
        let until = since.saturating_add(valid_for.as_millis() as u64);
        self.valid_until.fetch_max(until, Ordering::SeqCst);
    }

    pub fn lose(&self) {
        self.lost.store(true, Ordering::SeqCst);
    }

    pub fn is_valid(&self) -> bool {
        !self.lost.load(Ordering::SeqCst)
            && monotonic_ms() < self.valid_until.load(Ordering::SeqCst)
    }

    /// Milliseconds of validity left (0 when lost).
    pub fn remaining_ms(&self) -> u64 {
        if self.lost.load(Ordering::SeqCst) {
            return 0;
        }
        self.valid_until
            .load(Ordering::SeqCst)
            .saturating_sub(monotonic_ms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guard_expires_extends_and_is_lost() {
        let now = monotonic_ms();
        let guard = LeaseGuard::until(3, 7, now, Duration::from_secs(60));
        assert!(guard.is_valid());
        let expired = LeaseGuard::until(3, 7, now, Duration::ZERO);
        assert!(!expired.is_valid());
        expired.extend(monotonic_ms(), Duration::from_secs(60));
        assert!(expired.is_valid());
        expired.lose();
        assert!(!expired.is_valid());
        assert_eq!(expired.remaining_ms(), 0);
        assert!(LeaseGuard::for_ever(0, 1).is_valid());
    }
}
