//! Wall-clock helpers: epoch milliseconds, OpenWhisk's log timestamps, random ids.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub(crate) fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub(crate) fn now_ms() -> u64 {
    epoch_ms(SystemTime::now())
}

/// `2026-11-22T19:00:00.123456789Z`: the 30-character timestamp docker puts on each log line,
/// which OpenWhisk keeps in the activation's logs.
pub(crate) fn log_timestamp(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t)
        .format("%Y-%m-%dT%H:%M:%S%.9fZ")
        .to_string()
}

static ID_COUNTER: AtomicU64 = AtomicU64::new(0);

fn random_u64() -> u64 {
    // RandomState is seeded from the OS once per thread and varied per instance; mixing in a
    // counter and the clock makes every id distinct without a random-number crate.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(ID_COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_nanos(),
    );
    hasher.finish()
}

/// 32 lowercase hex digits, the shape of OpenWhisk activation and transaction ids.
pub(crate) fn new_id() -> String {
    format!("{:016x}{:016x}", random_u64(), random_u64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_log_timestamps_like_docker() {
        let t = UNIX_EPOCH + Duration::new(1_795_374_000, 1_234);
        assert_eq!(log_timestamp(t), "2026-11-22T19:00:00.000001234Z");
        assert_eq!(log_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert!(log_timestamp(leap).starts_with("2000-02-29T00:00:00"));
    }

    #[test]
    fn ids_are_32_hex_and_distinct() {
        let (a, b) = (new_id(), new_id());
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
