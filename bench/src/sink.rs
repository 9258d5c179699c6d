//! The fire target of the provider benchmarks: a minimal OpenWhisk trigger endpoint that answers
//! every `POST .../triggers/{name}` with 202 and notes when each change arrived, so that
//! change-to-fire latency is measured without an OpenWhisk in the path.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::net::{Conn, listen};

/// When each change (by sequence) was published and when its fire arrived.
#[derive(Default)]
pub struct Timeline {
    published: Mutex<Vec<Option<Instant>>>,
    fired: Mutex<Vec<Option<Instant>>>,
    /// Every fire's sequence and arrival, replays included (alarms fire one sequence per tick).
    every: Mutex<Vec<(u64, Instant)>>,
}

fn slot(list: &mut Vec<Option<Instant>>, seq: u64) -> &mut Option<Instant> {
    let index = seq as usize;
    if list.len() <= index {
        list.resize(index + 1, None);
    }
    &mut list[index]
}

fn lock(list: &Mutex<Vec<Option<Instant>>>) -> MutexGuard<'_, Vec<Option<Instant>>> {
    list.lock().unwrap_or_else(|e| e.into_inner())
}

impl Timeline {
    pub fn published(&self, first: u64, count: usize, at: Instant) {
        let mut list = lock(&self.published);
        for seq in first..first + count as u64 {
            *slot(&mut list, seq) = Some(at);
        }
    }

    fn fired(&self, seq: u64, at: Instant) {
        let mut list = lock(&self.fired);
        let entry = slot(&mut list, seq);
        // The first fire counts; a replay does not.
        entry.get_or_insert(at);
        drop(list);
        self.every
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((seq, at));
    }

    /// Every fire that arrived in `from..until`: its sequence and arrival.
    pub fn arrivals(&self, from: Instant, until: Instant) -> Vec<(u64, Instant)> {
        let every = self.every.lock().unwrap_or_else(|e| e.into_inner());
        every
            .iter()
            .filter(|(_, at)| (from..until).contains(at))
            .copied()
            .collect()
    }

    /// Publish-to-fire latency of each change in `first..end` that was fired.
    pub fn latencies(&self, first: u64, end: u64) -> Vec<Duration> {
        let published = lock(&self.published);
        let fired = lock(&self.fired);
        (first..end)
            .filter_map(|seq| {
                let at = (*published.get(seq as usize)?)?;
                let fired = (*fired.get(seq as usize)?)?;
                Some(fired.saturating_duration_since(at))
            })
            .collect()
    }

    /// How many of `first..end` were fired.
    pub fn fired_count(&self, first: u64, end: u64) -> usize {
        let fired = lock(&self.fired);
        (first..end)
            .filter(|seq| fired.get(*seq as usize).is_some_and(Option::is_some))
            .count()
    }
}

/// Per sequence of one trigger: how often it was fired, and when first.
type Fired = HashMap<u64, (u32, Instant)>;

/// Every fire per trigger.
#[derive(Default)]
pub struct Ledger {
    fires: Mutex<HashMap<String, Fired>>,
}

impl Ledger {
    fn fired(&self, trigger: &str, seq: u64, at: Instant) {
        let mut fires = self.fires.lock().unwrap_or_else(|e| e.into_inner());
        let entry = fires
            .entry(trigger.to_owned())
            .or_default()
            .entry(seq)
            .or_insert((0, at));
        entry.0 += 1;
    }

    /// When `trigger` was first fired with a sequence that arrived after `since` (the first
    /// arrival of each sequence counts).
    pub fn first_after(&self, trigger: &str, since: Instant) -> Option<Instant> {
        let fires = self.fires.lock().unwrap_or_else(|e| e.into_inner());
        fires
            .get(trigger)?
            .values()
            .map(|(_, at)| *at)
            .filter(|at| *at > since)
            .min()
    }

    /// Sequences of `trigger` fired more than once, and how many extra fires they took.
    pub fn duplicates(&self, trigger: &str) -> u64 {
        let fires = self.fires.lock().unwrap_or_else(|e| e.into_inner());
        fires.get(trigger).map_or(0, |seqs| {
            seqs.values()
                .map(|(count, _)| u64::from(count.saturating_sub(1)))
                .sum()
        })
    }

    /// Sequences `first..end` not fired at `trigger`.
    pub fn missing(&self, trigger: &str, first: u64, end: u64) -> u64 {
        let fires = self.fires.lock().unwrap_or_else(|e| e.into_inner());
        let seqs = fires.get(trigger);
        (first..end)
            .filter(|seq| !seqs.is_some_and(|seqs| seqs.contains_key(seq)))
            .count() as u64
    }
}

/// The sink; its tasks live in the runtime it was started on.
pub struct FireSink {
    url: String,
    fires: Arc<AtomicU64>,
    pub timeline: Arc<Timeline>,
    pub ledger: Arc<Ledger>,
}

/// How a sink answers.
#[derive(Debug, Clone, Copy, Default)]
pub struct SinkOptions {
    /// Every answer waits this long: OpenWhisk's fire round trip.
    pub delay: Duration,
    /// Keep the per-trigger [`Ledger`] (costs a lock per fire).
    pub ledger: bool,
}

impl FireSink {
    pub fn start(runtime: &tokio::runtime::Runtime) -> io::Result<FireSink> {
        Self::start_with(runtime, SinkOptions::default())
    }

    pub fn start_with(
        runtime: &tokio::runtime::Runtime,
        options: SinkOptions,
    ) -> io::Result<FireSink> {
        let (listener, address) = listen(runtime)?;
        let fires = Arc::new(AtomicU64::new(0));
        let timeline = Arc::new(Timeline::default());
        let ledger = Arc::new(Ledger::default());
        let (counter, notes, book) = (fires.clone(), timeline.clone(), ledger.clone());
        runtime.spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        let (counter, notes, book) = (counter.clone(), notes.clone(), book.clone());
                        tokio::spawn(async move {
                            let book = options.ledger.then_some(&*book);
                            let _ = serve(Conn::new(stream), &counter, &notes, book, options.delay)
                                .await;
                        });
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        });
        Ok(FireSink {
            url: format!("http://{address}"),
            fires,
            timeline,
            ledger,
        })
    }

    /// What feeds take as `apiHost`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn fires(&self) -> u64 {
        self.fires.load(Ordering::Relaxed)
    }
}

async fn serve(
    mut conn: Conn,
    fires: &AtomicU64,
    timeline: &Timeline,
    ledger: Option<&Ledger>,
    delay: Duration,
) -> io::Result<()> {
    while let Some(head) = conn.read_head().await? {
        let body = conn.read_body(head.content_length()).await?;
        let arrived = Instant::now();
        if head.method == "POST" && head.path().contains("/triggers/") {
            fires.fetch_add(1, Ordering::Relaxed);
            let trigger = head
                .path()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            for seq in change_seqs(&body) {
                timeline.fired(seq, arrived);
                if let Some(ledger) = ledger {
                    ledger.fired(&trigger, seq, arrived);
                }
            }
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            conn.respond_json(
                202,
                "Accepted",
                r#"{"activationId":"0123456789abcdef0123456789abcdef"}"#,
            )
            .await?;
        } else {
            conn.respond_json(404, "Not Found", r#"{"error":"not found"}"#)
                .await?;
        }
        if head.wants_close() {
            break;
        }
    }
    Ok(())
}

/// The sequences of the changes in a fire: one change (`seq`) or a batch (`results`).
fn change_seqs(body: &[u8]) -> Vec<u64> {
    let Ok(event) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let seq = |change: &Value| change.get("seq").and_then(Value::as_u64);
    match event.get("results").and_then(Value::as_array) {
        Some(results) => results.iter().filter_map(seq).collect(),
        None => seq(&event).into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_single_and_batched_fires() {
        assert_eq!(change_seqs(br#"{"seq":4,"id":"c4","dbname":"d"}"#), vec![4]);
        assert_eq!(
            change_seqs(br#"{"dbname":"d","results":[{"seq":5},{"seq":6}],"last_seq":6}"#),
            vec![5, 6]
        );
        assert!(change_seqs(b"not json").is_empty());
    }
}
