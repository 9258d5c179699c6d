//! `/metrics`: the instance's counters and gauges in the Prometheus text format (version 0.0.4).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters that only grow, kept by the parts that count.
#[derive(Debug, Default)]
pub struct Metrics {
    fires: AtomicU64,
    fired_items: AtomicU64,
    fire_retries: AtomicU64,
    fires_refused: AtomicU64,
    connects: AtomicU64,
    connect_failures: AtomicU64,
    bucket_claims: AtomicU64,
    buckets_lost: AtomicU64,
    buckets_released: AtomicU64,
    recreated_databases: AtomicU64,
}

fn add(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl Metrics {
    pub fn fired(&self, items: usize) {
        add(&self.fires, 1);
        add(&self.fired_items, items as u64);
    }

    /// A fire was not taken: `retried` (408/429/5xx, no answer) or refused for good.
    pub fn fire_failed(&self, retried: bool) {
        add(
            if retried {
                &self.fire_retries
            } else {
                &self.fires_refused
            },
            1,
        );
    }

    pub fn connected(&self) {
        add(&self.connects, 1);
    }

    pub fn connect_failed(&self) {
        add(&self.connect_failures, 1);
    }

    pub fn bucket_claimed(&self) {
        add(&self.bucket_claims, 1);
    }

    pub fn bucket_lost(&self) {
        add(&self.buckets_lost, 1);
    }

    pub fn bucket_released(&self) {
        add(&self.buckets_released, 1);
    }

    pub fn database_recreated(&self) {
        add(&self.recreated_databases, 1);
    }
}

/// What the instance holds right now.
#[derive(Debug, Default)]
pub struct Gauges {
    pub active: usize,
    pub paused: usize,
    pub disabled: usize,
    /// Feeds running on this instance.
    pub running: usize,
    pub connected: usize,
    pub buckets_held: usize,
    pub buckets: u32,
    pub members: usize,
    pub sealed_with_old_key: usize,
    /// Per running feed: its id and its lag (the age of its oldest event not yet fired), in
    /// seconds.
    pub lags: Vec<(String, f64)>,
}

/// A label value as the text format wants it.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

impl Metrics {
    /// The whole exposition for `instance`.
    pub fn render(&self, instance: &str, gauges: &Gauges) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, value: &AtomicU64| {
            family(out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        };
        let gauge = |out: &mut String, name: &str, help: &str, value: f64| {
            family(out, name, "gauge", help);
            let _ = writeln!(out, "{name} {value}");
        };
        family(
            &mut out,
            "provider_info",
            "gauge",
            "The instance (its id as label).",
        );
        let _ = writeln!(out, "provider_info{{instance=\"{}\"}} 1", label(instance));
        family(
            &mut out,
            "provider_feeds",
            "gauge",
            "Registered feeds by state (the whole fleet's, as this instance sees the registry).",
        );
        for (state, count) in [
            ("active", gauges.active),
            ("paused", gauges.paused),
            ("disabled", gauges.disabled),
        ] {
            let _ = writeln!(out, "provider_feeds{{state=\"{state}\"}} {count}");
        }
        gauge(
            &mut out,
            "provider_feeds_running",
            "Feeds this instance runs (in the buckets it holds).",
            gauges.running as f64,
        );
        gauge(
            &mut out,
            "provider_feeds_connected",
            "Feeds of this instance connected to their source.",
            gauges.connected as f64,
        );
        counter(
            &mut out,
            "provider_fires_total",
            "Fires OpenWhisk took (2xx).",
            &self.fires,
        );
        counter(
            &mut out,
            "provider_fired_changes_total",
            "Changes (events) in the fires OpenWhisk took.",
            &self.fired_items,
        );
        counter(
            &mut out,
            "provider_fire_retries_total",
            "Fires that failed and were retried (408, 429, 5xx, no answer).",
            &self.fire_retries,
        );
        counter(
            &mut out,
            "provider_fires_refused_total",
            "Fires refused for good (401, 403, 404, other 4xx): each disabled its feed.",
            &self.fires_refused,
        );
        counter(
            &mut out,
            "provider_connects_total",
            "Connections opened to sources.",
            &self.connects,
        );
        counter(
            &mut out,
            "provider_connect_failures_total",
            "Connections to sources that failed or dropped.",
            &self.connect_failures,
        );
        counter(
            &mut out,
            "provider_databases_recreated_total",
            "Watched databases found deleted and created again.",
            &self.recreated_databases,
        );
        gauge(
            &mut out,
            "provider_buckets",
            "Buckets the feeds are spread over.",
            f64::from(gauges.buckets),
        );
        gauge(
            &mut out,
            "provider_buckets_held",
            "Buckets this instance holds.",
            gauges.buckets_held as f64,
        );
        gauge(
            &mut out,
            "provider_members",
            "Live instances this instance sees (itself included).",
            gauges.members as f64,
        );
        counter(
            &mut out,
            "provider_bucket_claims_total",
            "Buckets this instance took.",
            &self.bucket_claims,
        );
        counter(
            &mut out,
            "provider_buckets_lost_total",
            "Buckets this instance lost (lease expired or taken).",
            &self.buckets_lost,
        );
        counter(
            &mut out,
            "provider_buckets_released_total",
            "Buckets this instance handed over.",
            &self.buckets_released,
        );
        gauge(
            &mut out,
            "provider_feeds_sealed_with_old_key",
            "Feeds whose secrets are still sealed with an older provider key.",
            gauges.sealed_with_old_key as f64,
        );
        family(
            &mut out,
            "provider_feed_lag_seconds",
            "gauge",
            "Per running feed: how long its oldest change read and not yet fired has waited.",
        );
        for (feed, lag) in &gauges.lags {
            let _ = writeln!(
                out,
                "provider_feed_lag_seconds{{feed=\"{}\"}} {lag:.3}",
                label(feed)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_text_format_with_escaped_labels() {
        let metrics = Metrics::default();
        metrics.fired(3);
        metrics.fire_failed(true);
        let gauges = Gauges {
            active: 2,
            running: 1,
            buckets: 64,
            buckets_held: 20,
            lags: vec![("/guest/a \"q\"\\".into(), 0.25)],
            ..Gauges::default()
        };
        let text = metrics.render("i-1", &gauges);
        assert!(text.contains("provider_fires_total 1\n"), "{text}");
        assert!(text.contains("provider_fired_changes_total 3\n"), "{text}");
        assert!(text.contains("provider_fire_retries_total 1\n"), "{text}");
        assert!(
            text.contains("provider_feeds{state=\"active\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("provider_buckets_held 20\n"), "{text}");
        assert!(
            text.contains("provider_feed_lag_seconds{feed=\"/guest/a \\\"q\\\"\\\\\"} 0.250\n"),
            "{text}"
        );
        for line in text.lines().filter(|line| !line.starts_with('#')) {
            assert!(line.split(" ").count() >= 2, "{line}");
        }
    }
}
