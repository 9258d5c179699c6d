//! What a fire's answer means for the feed, and how long to wait before trying again.
//!
//! As the better providers do: 2xx is delivered (204 too: OpenWhisk accepted the event, there was
//! just no active rule); 408, 429, 5xx and no answer at all are worth retrying with backoff;
//! 401/403/404 mean the trigger or its owner's key is gone, so the feed is disabled with that
//! reason (visible in READ) rather than retried forever or dropped silently. Any other answer is
//! one that retrying cannot change either (e.g. 413, the event is too large), so it disables the
//! feed too, at the change it could not deliver: fixing the cause and UNPAUSE/UPDATE resumes there.

use std::time::Duration;

use serde_json::Value;

/// What to do after one fire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FireVerdict {
    /// OpenWhisk took the event: save the position.
    Delivered {
        /// `None` for 204 (no active rule).
        activation_id: Option<String>,
    },
    /// Try the same event again after a backoff (at least `retry_after` when the server said).
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Stop the feed and say why.
    Disable { reason: String },
}

/// Classifies an answer to `POST .../triggers/{name}`.
pub fn classify_fire(status: u16, body: &[u8], retry_after: Option<&str>) -> FireVerdict {
    let message = openwhisk_message(body);
    let said = |what: &str| {
        if message.is_empty() {
            format!("{what} (HTTP {status})")
        } else {
            format!("{what} (HTTP {status}: {message})")
        }
    };
    match status {
        200..=299 => FireVerdict::Delivered {
            activation_id: serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|answer| {
                    answer
                        .get("activationId")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                }),
        },
        408 | 429 | 500..=599 => FireVerdict::Retry {
            reason: said(match status {
                408 => "OpenWhisk timed out",
                429 => "OpenWhisk's fire rate limit was reached",
                _ => "OpenWhisk failed",
            }),
            retry_after: retry_after.and_then(parse_retry_after),
        },
        401 => FireVerdict::Disable {
            reason: said("the trigger owner's key was refused; update the feed with a valid key"),
        },
        403 => FireVerdict::Disable {
            reason: said("the trigger owner's key may not fire the trigger"),
        },
        404 => FireVerdict::Disable {
            reason: said("the trigger no longer exists"),
        },
        413 => FireVerdict::Disable {
            reason: said(
                "the event is too large for OpenWhisk; lower maxChangesPerFire or turn off includeDocs",
            ),
        },
        _ => FireVerdict::Disable {
            reason: said("OpenWhisk refused the event"),
        },
    }
}

/// A fire that got no answer (refused connection, reset, timeout) is retried.
pub fn classify_transport(reason: &str) -> FireVerdict {
    FireVerdict::Retry {
        reason: format!("OpenWhisk did not answer ({reason})"),
        retry_after: None,
    }
}

/// OpenWhisk's own `{"error": "..."}`, or the start of the body.
fn openwhisk_message(body: &[u8]) -> String {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(answer)) => match answer.get("error") {
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        },
        _ => String::from_utf8_lossy(body)
            .trim()
            .chars()
            .take(200)
            .collect(),
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not worth a date parser here: then the
/// exponential backoff applies).
fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Exponential backoff with jitter: each wait is between half and all of `min * 2^attempt`,
/// capped at `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
    seed: u64,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        // Different feeds should not retry in lockstep; the address of a fresh value and the clock
        // are random enough for jitter.
        let local = 0_u8;
        let seed = (&local as *const u8 as u64)
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_nanos() as u64)
                .unwrap_or(0x9E37_79B9_7F4A_7C15);
        Self {
            min,
            max: max.max(min),
            attempt: 0,
            seed: seed | 1,
        }
    }

    /// How many waits since the last reset.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The next wait; at least `floor` (a server's `Retry-After`), never more than `max`.
    pub fn next(&mut self, floor: Option<Duration>) -> Duration {
        let ceiling = self
            .min
            .saturating_mul(1_u32 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        let jitter = Duration::from_nanos(self.random() % (half.as_nanos() as u64).max(1));
        let wait = half + jitter;
        match floor {
            Some(floor) => wait.max(floor.min(self.max)),
            None => wait,
        }
    }

    fn random(&mut self) -> u64 {
        // xorshift64
        let mut x = self.seed;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(status: u16) -> FireVerdict {
        classify_fire(status, br#"{"error":"said OpenWhisk","code":"x"}"#, None)
    }

    #[test]
    fn success_is_delivered_with_the_activation() {
        assert_eq!(
            classify_fire(202, br#"{"activationId":"abc"}"#, None),
            FireVerdict::Delivered {
                activation_id: Some("abc".into())
            }
        );
        assert_eq!(
            classify_fire(204, b"", None),
            FireVerdict::Delivered {
                activation_id: None
            }
        );
    }

    #[test]
    fn transient_answers_are_retried() {
        for status in [408, 429, 500, 502, 503, 504] {
            match verdict(status) {
                FireVerdict::Retry { reason, .. } => {
                    assert!(
                        reason.contains(&format!("HTTP {status}: said OpenWhisk")),
                        "{reason}"
                    )
                }
                other => panic!("{status}: {other:?}"),
            }
        }
        assert_eq!(
            classify_fire(429, b"", Some(" 7 ")),
            FireVerdict::Retry {
                reason: "OpenWhisk's fire rate limit was reached (HTTP 429)".into(),
                retry_after: Some(Duration::from_secs(7)),
            }
        );
        assert!(matches!(
            classify_transport("connection refused"),
            FireVerdict::Retry { reason, .. } if reason.contains("connection refused")
        ));
    }

    #[test]
    fn permanent_answers_disable_with_a_reason() {
        let expectations = [
            (401, "key was refused"),
            (403, "may not fire"),
            (404, "no longer exists"),
            (413, "too large"),
            (400, "refused the event"),
            (302, "refused the event"),
        ];
        for (status, expected) in expectations {
            match verdict(status) {
                FireVerdict::Disable { reason } => {
                    assert!(reason.contains(expected), "{status}: {reason}");
                    assert!(reason.contains(&format!("HTTP {status}")), "{reason}");
                }
                other => panic!("{status}: {other:?}"),
            }
        }
    }

    #[test]
    fn backoff_grows_to_its_cap_and_honours_retry_after() {
        let min = Duration::from_millis(100);
        let max = Duration::from_secs(2);
        let mut backoff = Backoff::new(min, max);
        let mut previous_ceiling = Duration::ZERO;
        for attempt in 0..10_u32 {
            let ceiling = (min * 2_u32.pow(attempt)).min(max);
            let wait = backoff.next(None);
            assert!(
                wait >= ceiling / 2 && wait <= ceiling,
                "{attempt}: {wait:?}"
            );
            assert!(ceiling >= previous_ceiling);
            previous_ceiling = ceiling;
        }
        assert_eq!(backoff.attempt(), 10);
        assert!(backoff.next(Some(Duration::from_secs(60))) == max);
        backoff.reset();
        assert!(backoff.next(Some(Duration::from_millis(500))) >= Duration::from_millis(500));
    }
}
