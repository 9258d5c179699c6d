//! What happened, in memory: activation records (what each run of an action or fire of a trigger
//! left behind) and fire records (every fire request), with condition variables for waiters; the
//! per-namespace fire rate limit; faults injected into fires.

use crate::model::activation::Activation;
use crate::model::error::{Error, messages};
use crate::model::fire::Fire;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

type TriggerKey = (String, String);

/// Fire records of every trigger within the retention bounds, oldest first.
#[derive(Debug, Default)]
struct FireRecords {
    by_trigger: HashMap<TriggerKey, VecDeque<(Fire, usize)>>,
    /// The trigger of every record, oldest first: who loses a record when the bound is hit.
    order: VecDeque<TriggerKey>,
    /// Payload bytes held (as sent).
    bytes: usize,
}

#[derive(Debug, Default)]
struct FireState {
    records: FireRecords,
    /// Accepted fires of the last minute, per namespace.
    recent: HashMap<String, VecDeque<Instant>>,
    faults: HashMap<TriggerKey, VecDeque<u16>>,
}

/// Every fire request (within the retention bounds), the per-namespace rate limit and the
/// injected faults, with a condition variable for waiters.
#[derive(Debug)]
pub(crate) struct FireLog {
    state: Mutex<FireState>,
    changed: Condvar,
    max_records: usize,
    max_bytes: usize,
}

const WINDOW: Duration = Duration::from_secs(60);
/// At most this many payload bytes are kept in fire records, whatever their number.
const MAX_FIRE_BYTES: usize = 64 * 1024 * 1024;
/// At most this many bytes of logs and results are kept in activation records.
const MAX_ACTIVATION_BYTES: usize = 256 * 1024 * 1024;

fn key(ns: &str, trigger: &str) -> TriggerKey {
    (ns.to_string(), trigger.to_string())
}

impl FireLog {
    /// Keeps at most `max_records` fire records (and [`MAX_FIRE_BYTES`] of payloads).
    pub fn new(max_records: usize) -> FireLog {
        FireLog::with_bounds(max_records, MAX_FIRE_BYTES)
    }

    fn with_bounds(max_records: usize, max_bytes: usize) -> FireLog {
        FireLog {
            state: Mutex::new(FireState::default()),
            changed: Condvar::new(),
            max_records,
            max_bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, FireState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next injected fault for this trigger, if any is pending.
    pub fn take_fault(&self, ns: &str, trigger: &str) -> Option<u16> {
        let mut state = self.lock();
        let id = key(ns, trigger);
        let faults = state.faults.get_mut(&id)?;
        let fault = faults.pop_front();
        if faults.is_empty() {
            state.faults.remove(&id);
        }
        fault
    }

    pub fn add_faults(&self, ns: &str, trigger: &str, status: u16, count: usize) {
        self.lock()
            .faults
            .entry(key(ns, trigger))
            .or_default()
            .extend(std::iter::repeat_n(status, count));
    }

    /// Counts one fire against the namespace's limit (0 = unlimited), or answers 429.
    pub fn admit(&self, ns: &str, limit: u32) -> Result<(), Error> {
        if limit == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut state = self.lock();
        let recent = state.recent.entry(ns.to_string()).or_default();
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            recent.pop_front();
        }
        if recent.len() >= limit as usize {
            return Err(Error::TooManyRequests(messages::too_many_requests(
                recent.len() + 1,
                limit,
            )));
        }
        recent.push_back(now);
        Ok(())
    }

    /// Records a fire whose payload was `size` bytes; the oldest records go beyond the bounds.
    pub fn record(&self, ns: &str, trigger: &str, fire: Fire, size: usize) {
        let mut state = self.lock();
        let records = &mut state.records;
        let id = key(ns, trigger);
        records.order.push_back(id.clone());
        records.bytes += size;
        records
            .by_trigger
            .entry(id)
            .or_default()
            .push_back((fire, size));
        while records.order.len() > self.max_records || records.bytes > self.max_bytes {
            let Some(oldest) = records.order.pop_front() else {
                break;
            };
            if let Some(fires) = records.by_trigger.get_mut(&oldest) {
                if let Some((_, size)) = fires.pop_front() {
                    records.bytes -= size;
                }
                if fires.is_empty() {
                    records.by_trigger.remove(&oldest);
                }
            }
        }
        drop(state);
        self.changed.notify_all();
    }

    pub fn wake_all(&self) {
        self.changed.notify_all();
    }

    fn fires_of(state: &FireState, id: &TriggerKey) -> Vec<Fire> {
        state
            .records
            .by_trigger
            .get(id)
            .map(|fires| fires.iter().map(|(fire, _)| fire.clone()).collect())
            .unwrap_or_default()
    }

    pub fn list(&self, ns: &str, trigger: &str) -> Vec<Fire> {
        Self::fires_of(&self.lock(), &key(ns, trigger))
    }

    /// Waits until the trigger has at least `count` fires (or timeout, or shutdown).
    pub fn wait(
        &self,
        ns: &str,
        trigger: &str,
        count: usize,
        timeout: Duration,
        shutdown: &AtomicBool,
    ) -> Vec<Fire> {
        let deadline = Instant::now() + timeout;
        let id = key(ns, trigger);
        let mut state = self.lock();
        loop {
            let held = state.records.by_trigger.get(&id).map_or(0, VecDeque::len);
            let now = Instant::now();
            if held >= count || now >= deadline || shutdown.load(Ordering::SeqCst) {
                return Self::fires_of(&state, &id);
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// Finished activations within the retention bounds, oldest first, and by id.
#[derive(Debug, Default)]
struct ActivationRecords {
    order: VecDeque<Arc<Activation>>,
    by_id: HashMap<String, Arc<Activation>>,
    /// Bytes of logs and results held (roughly).
    bytes: usize,
}

fn weight(activation: &Activation) -> usize {
    let logs: usize = activation.logs.iter().map(String::len).sum();
    logs + activation.size.unwrap_or(0)
}

/// Every finished activation (within the retention bounds), with a condition variable for
/// waiters.
#[derive(Debug)]
pub(crate) struct ActivationLog {
    records: Mutex<ActivationRecords>,
    changed: Condvar,
    max_records: usize,
    max_bytes: usize,
}

impl ActivationLog {
    /// Keeps at most `max_records` records (and [`MAX_ACTIVATION_BYTES`] of logs and results).
    pub fn new(max_records: usize) -> ActivationLog {
        ActivationLog::with_bounds(max_records, MAX_ACTIVATION_BYTES)
    }

    fn with_bounds(max_records: usize, max_bytes: usize) -> ActivationLog {
        ActivationLog {
            records: Mutex::new(ActivationRecords::default()),
            changed: Condvar::new(),
            max_records,
            max_bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, ActivationRecords> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records an activation; the oldest records go beyond the bounds.
    pub fn record(&self, activation: Activation) {
        let activation = Arc::new(activation);
        let mut records = self.lock();
        records.bytes += weight(&activation);
        records
            .by_id
            .insert(activation.activation_id.clone(), activation.clone());
        records.order.push_back(activation);
        while records.order.len() > self.max_records || records.bytes > self.max_bytes {
            let Some(oldest) = records.order.pop_front() else {
                break;
            };
            records.bytes -= weight(&oldest);
            records.by_id.remove(&oldest.activation_id);
        }
        drop(records);
        self.changed.notify_all();
    }

    /// Wakes every waiter (at shutdown).
    pub fn wake_all(&self) {
        self.changed.notify_all();
    }

    /// The namespace's records, oldest first.
    pub fn list(&self, ns: &str) -> Vec<Activation> {
        self.lock()
            .order
            .iter()
            .filter(|a| a.namespace == ns)
            .map(|a| Activation::clone(a))
            .collect()
    }

    pub fn get(&self, ns: &str, id: &str) -> Option<Activation> {
        self.lock()
            .by_id
            .get(id)
            .filter(|a| a.namespace == ns)
            .map(|a| Activation::clone(a))
    }

    /// Waits until `pred` holds for the namespace's records (or timeout, or shutdown).
    pub fn wait_until(
        &self,
        ns: &str,
        pred: impl Fn(&[Activation]) -> bool,
        timeout: Duration,
        shutdown: &AtomicBool,
    ) -> Vec<Activation> {
        let deadline = Instant::now() + timeout;
        let mut records = self.lock();
        loop {
            let mine: Vec<Activation> = records
                .order
                .iter()
                .filter(|a| a.namespace == ns)
                .map(|a| Activation::clone(a))
                .collect();
            let now = Instant::now();
            if pred(&mine) || now >= deadline || shutdown.load(Ordering::SeqCst) {
                return mine;
            }
            records = self
                .changed
                .wait_timeout(records, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits for one activation to be recorded; `Err(ShutDown)` when the sandbox stops first.
    pub fn wait_for_id(
        &self,
        id: &str,
        timeout: Duration,
        shutdown: &AtomicBool,
    ) -> Result<Option<Activation>, Error> {
        let deadline = Instant::now() + timeout;
        let mut records = self.lock();
        loop {
            if let Some(a) = records.by_id.get(id) {
                return Ok(Some(Activation::clone(a)));
            }
            if shutdown.load(Ordering::SeqCst) {
                return Err(Error::ShutDown);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            records = self
                .changed
                .wait_timeout(records, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_fires_per_namespace_and_zero_means_unlimited() {
        let log = FireLog::new(10);
        assert!(log.admit("a", 2).is_ok());
        assert!(log.admit("a", 2).is_ok());
        let err = log.admit("a", 2).unwrap_err();
        assert_eq!(err.status(), 429);
        assert!(err.to_string().contains("allowed: 2"));
        assert!(
            log.admit("b", 2).is_ok(),
            "other namespaces have their own budget"
        );
        for _ in 0..100 {
            assert!(log.admit("c", 0).is_ok());
        }
    }

    #[test]
    fn faults_are_consumed_in_order() {
        let log = FireLog::new(10);
        log.add_faults("ns", "t", 503, 2);
        log.add_faults("ns", "t", 429, 1);
        let taken: Vec<_> = std::iter::from_fn(|| log.take_fault("ns", "t")).collect();
        assert_eq!(taken, vec![503, 503, 429]);
        assert_eq!(log.take_fault("ns", "other"), None);
    }

    fn fire(n: u64) -> Fire {
        Fire {
            payload: serde_json::json!({ "n": n }),
            status: 204,
            activation_id: None,
            at: std::time::SystemTime::now(),
        }
    }

    #[test]
    fn fire_records_are_bounded_by_count_and_by_bytes() {
        let log = FireLog::with_bounds(3, 1_000);
        for n in 0..5 {
            log.record("ns", "a", fire(n), 10);
        }
        let kept: Vec<u64> = log
            .list("ns", "a")
            .iter()
            .filter_map(|f| f.payload["n"].as_u64())
            .collect();
        assert_eq!(kept, [2, 3, 4]);
        log.record("ns", "b", fire(9), 995);
        assert!(log.list("ns", "a").is_empty(), "pushed out by bytes");
        assert_eq!(log.list("ns", "b").len(), 1);
        assert!(!log.lock().records.by_trigger.contains_key(&key("ns", "a")));
    }

    #[test]
    fn activation_records_are_bounded_by_count_and_by_bytes() {
        let record = |id: &str, log_bytes: usize| Activation {
            activation_id: id.into(),
            namespace: "ns".into(),
            name: "a".into(),
            path: "ns/a".into(),
            kind: crate::model::activation::ActivationKind::Action,
            subject: "ns".into(),
            version: "0.0.1".into(),
            publish: false,
            annotations: serde_json::json!([]),
            cause: None,
            start: 0,
            end: 0,
            duration: None,
            result: serde_json::json!({}),
            success: true,
            status: "success".into(),
            status_code: 0,
            size: Some(2),
            logs: vec!["x".repeat(log_bytes)],
        };
        let log = ActivationLog::with_bounds(2, 100);
        for id in ["a", "b", "c"] {
            log.record(record(id, 10));
        }
        assert!(log.get("ns", "a").is_none());
        assert!(log.get("ns", "c").is_some());
        log.record(record("d", 90));
        assert_eq!(log.list("ns").len(), 1, "only d fits 100 bytes");
        assert!(log.get("other", "d").is_none(), "another namespace's id");
    }
}
