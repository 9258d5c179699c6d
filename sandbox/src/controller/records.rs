//! What happened, in memory: activation records (what each run of an action or fire of a trigger
//! left behind) and fire records (every fire request), with condition variables for waiters; the
//! per-namespace fire rate limit; faults injected into fires.

use crate::model::activation::Activation;
use crate::model::error::{Error, messages};
use crate::model::fire::Fire;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

type TriggerKey = (String, String);

#[derive(Debug, Default)]
struct FireState {
    fires: HashMap<TriggerKey, Vec<Fire>>,
    /// Accepted fires of the last minute, per namespace.
    recent: HashMap<String, VecDeque<Instant>>,
    faults: HashMap<TriggerKey, VecDeque<u16>>,
}

#[derive(Debug, Default)]
pub(crate) struct FireLog {
    state: Mutex<FireState>,
    changed: Condvar,
}

const WINDOW: Duration = Duration::from_secs(60);

fn key(ns: &str, trigger: &str) -> TriggerKey {
    (ns.to_string(), trigger.to_string())
}

impl FireLog {
    fn lock(&self) -> MutexGuard<'_, FireState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next injected fault for this trigger, if any is pending.
    pub fn take_fault(&self, ns: &str, trigger: &str) -> Option<u16> {
        self.lock().faults.get_mut(&key(ns, trigger))?.pop_front()
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

    pub fn record(&self, ns: &str, trigger: &str, fire: Fire) {
        self.lock()
            .fires
            .entry(key(ns, trigger))
            .or_default()
            .push(fire);
        self.changed.notify_all();
    }

    pub fn wake_all(&self) {
        self.changed.notify_all();
    }

    pub fn list(&self, ns: &str, trigger: &str) -> Vec<Fire> {
        self.lock()
            .fires
            .get(&key(ns, trigger))
            .cloned()
            .unwrap_or_default()
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
        let key = key(ns, trigger);
        let mut state = self.lock();
        loop {
            let fires = state.fires.get(&key).cloned().unwrap_or_default();
            let now = Instant::now();
            if fires.len() >= count || now >= deadline || shutdown.load(Ordering::SeqCst) {
                return fires;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// The most records kept; the oldest are dropped beyond it.
const MAX_RECORDS: usize = 100_000;

/// Every finished activation, oldest first, with a condition variable for waiters.
#[derive(Debug, Default)]
pub(crate) struct ActivationLog {
    records: Mutex<Vec<Activation>>,
    changed: Condvar,
}

impl ActivationLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Activation>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn record(&self, activation: Activation) {
        let mut records = self.lock();
        if records.len() >= MAX_RECORDS {
            records.remove(0);
        }
        records.push(activation);
        drop(records);
        self.changed.notify_all();
    }

    /// Wakes every waiter (at shutdown).
    pub fn wake_all(&self) {
        self.changed.notify_all();
    }

    pub fn list(&self, ns: &str) -> Vec<Activation> {
        self.lock()
            .iter()
            .filter(|a| a.namespace == ns)
            .cloned()
            .collect()
    }

    pub fn get(&self, ns: &str, id: &str) -> Option<Activation> {
        self.lock()
            .iter()
            .rev()
            .find(|a| a.activation_id == id && a.namespace == ns)
            .cloned()
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
                .iter()
                .filter(|a| a.namespace == ns)
                .cloned()
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
            if let Some(a) = records.iter().rev().find(|a| a.activation_id == id) {
                return Ok(Some(a.clone()));
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
        let log = FireLog::default();
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
        let log = FireLog::default();
        log.add_faults("ns", "t", 503, 2);
        log.add_faults("ns", "t", 429, 1);
        let taken: Vec<_> = std::iter::from_fn(|| log.take_fault("ns", "t")).collect();
        assert_eq!(taken, vec![503, 503, 429]);
        assert_eq!(log.take_fault("ns", "other"), None);
    }
}
