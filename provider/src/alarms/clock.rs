//! The time alarms are scheduled in: the system clock, or (for tests and benchmarks only, via
//! the hidden `--test-clock` option) a clock that was at a given time at a given real moment and
//! runs at a given rate. Being a function of the real time, it agrees across restarts and
//! between instances given the same option.

use std::time::Duration;

use crate::model::now_millis;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clock {
    /// `(virtual ms, real ms, rate)`: `None` is the system clock.
    test: Option<(u64, u64, f64)>,
}

impl Clock {
    pub fn system() -> Self {
        Self { test: None }
    }

    /// Reads `VIRTUAL_MS@REAL_MS` or `VIRTUAL_MS@REAL_MS*RATE` (milliseconds since the epoch).
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("--test-clock '{text}': expected VIRTUAL_MS@REAL_MS[*RATE]");
        let (virtual_ms, rest) = text.split_once('@').ok_or_else(bad)?;
        let (real_ms, rate) = rest.split_once('*').unwrap_or((rest, "1"));
        let rate: f64 = rate.trim().parse().map_err(|_| bad())?;
        if !(rate.is_finite() && rate > 0.0) {
            return Err(bad());
        }
        Ok(Self {
            test: Some((
                virtual_ms.trim().parse().map_err(|_| bad())?,
                real_ms.trim().parse().map_err(|_| bad())?,
                rate,
            )),
        })
    }

    pub fn now(&self) -> u64 {
        let real = now_millis();
        match self.test {
            None => real,
            Some((virtual_ms, real_ms, rate)) => {
                let elapsed = real as f64 - real_ms as f64;
                (virtual_ms as f64 + elapsed * rate).max(0.0) as u64
            }
        }
    }

    /// How many ms of this clock pass in `real` time.
    pub fn span(&self, real: Duration) -> u64 {
        match self.test {
            None => real.as_millis() as u64,
            Some((_, _, rate)) => (real.as_secs_f64() * 1000.0 * rate) as u64,
        }
    }

    /// How long to wait in real time for `ms` of this clock to pass.
    pub fn real(&self, ms: u64) -> Duration {
        match self.test {
            None => Duration::from_millis(ms),
            Some((_, _, rate)) => Duration::from_secs_f64(ms as f64 / rate / 1000.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_clock_runs_from_its_anchor_at_its_rate() {
        let real = now_millis();
        let clock = Clock::parse(&format!("1000000@{}*60", real - 1_000)).expect("clock");
        let now = clock.now();
        assert!((1_060_000..1_200_000).contains(&now), "{now}");
        assert_eq!(clock.real(60_000), Duration::from_secs(1));
        assert_eq!(clock.span(Duration::from_millis(100)), 6_000);
        assert!(Clock::parse("12").is_err());
        assert!(Clock::parse("1@2*0").is_err());
        assert_eq!(Clock::system().real(5), Duration::from_millis(5));
    }
}
