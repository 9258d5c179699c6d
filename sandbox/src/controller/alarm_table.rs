//! The registered alarms (the alarms provider's database), keyed by trigger, with a condition
//! variable the scheduler sleeps on and a generation counter that tells it something changed.
//! Changes go through [`Controller::update_alarm`](super::Controller::update_alarm), which keeps
//! the state file in step.

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

    /// Counts a change and wakes the scheduler; called with the lock held (`alarms`), so the
    /// scheduler never misses a change between its looks.
    pub fn note_change(&self, alarms: MutexGuard<'_, BTreeMap<AlarmKey, Alarm>>) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        drop(alarms);
        self.changed.notify_all();
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
