//! The registered alarms (the alarms provider's database), keyed by trigger, with a condition
//! variable the scheduler sleeps on and a generation counter that tells the state file to save.

use crate::model::alarm::Alarm;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// `(namespace, trigger)`.
pub(crate) type AlarmKey = (String, String);

pub(crate) fn alarm_key(namespace: &str, trigger: &str) -> AlarmKey {
    (namespace.to_string(), trigger.to_string())
}

#[derive(Debug, Default)]
pub(crate) struct AlarmTable {
    alarms: Mutex<BTreeMap<AlarmKey, Alarm>>,
    changed: Condvar,
    generation: AtomicU64,
}

impl AlarmTable {
    pub fn lock(&self) -> MutexGuard<'_, BTreeMap<AlarmKey, Alarm>> {
        self.alarms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `change` on the alarms, then wakes the scheduler and marks the state dirty.
    pub fn update<T>(&self, change: impl FnOnce(&mut BTreeMap<AlarmKey, Alarm>) -> T) -> T {
        let mut alarms = self.lock();
        let outcome = change(&mut alarms);
        // Counted under the lock, so the scheduler never misses a change between its looks.
        self.generation.fetch_add(1, Ordering::SeqCst);
        drop(alarms);
        self.changed.notify_all();
        outcome
    }

    pub fn get(&self, key: &AlarmKey) -> Option<Alarm> {
        self.lock().get(key).cloned()
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Wakes the scheduler (at shutdown). Taking the lock first means a scheduler that has just
    /// checked the shutdown flag is already waiting when the notification comes.
    pub fn wake(&self) {
        let _alarms = self.lock();
        self.changed.notify_all();
    }

    /// Sleeps until woken or `timeout` passes.
    pub fn wait<'a>(
        &self,
        guard: MutexGuard<'a, BTreeMap<AlarmKey, Alarm>>,
        timeout: Duration,
    ) -> MutexGuard<'a, BTreeMap<AlarmKey, Alarm>> {
        self.changed
            .wait_timeout(guard, timeout)
            .unwrap_or_else(|e| e.into_inner())
            .0
    }
}
