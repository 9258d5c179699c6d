//! One timer for every alarm of the instance: a binary heap of due times served by one task, so
//! an alarm between its ticks is a heap entry and a small record, not a task or a sleeping timer.
//!
//! At a tick the alarm takes a slot of its feed's window (one fire in flight per alarm, see
//! [`Source::fire_window`](crate::source::Source::fire_window)); when the previous fire is still
//! being retried, the tick waits for it and is folded into the next fire (its `missedTicks`),
//! never queued behind it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use provider_api::DeleteAfterFire;
use serde_json::{Map, Value, json};
use tokio::sync::Notify;

use super::clock::Clock;
use super::plan::Plan;
use crate::source::{Control, Emitter, Event};

/// How long (in real time) a tick whose feed has a fire in flight waits before it looks again.
const BUSY_RETRY: std::time::Duration = std::time::Duration::from_millis(100);

/// What an alarm fires and when it is done.
pub struct Alarm {
    pub emitter: Emitter,
    pub plan: Plan,
    pub payload: Arc<Map<String, Value>>,
    pub max_triggers: Option<u64>,
    pub delete_after_fire: DeleteAfterFire,
    /// The last tick fired (or skipped): ticks after it are due.
    pub from: u64,
    /// Fires so far, durably (the feed's position).
    pub fired: u64,
    /// The ticks now due passed before the feed (re)started: the next fire is a catch-up.
    pub late: bool,
}

struct Entry {
    alarm: Alarm,
    due: u64,
}

#[derive(Default)]
struct Wheel {
    heap: BinaryHeap<Reverse<(u64, u64)>>,
    entries: HashMap<u64, Entry>,
    next_key: u64,
}

pub struct Timer {
    clock: Clock,
    wheel: Mutex<Wheel>,
    wake: Notify,
}

impl Timer {
    /// A timer, and its task (which runs as long as the runtime).
    pub fn start(clock: Clock) -> Arc<Self> {
        let timer = Arc::new(Self {
            clock,
            wheel: Mutex::new(Wheel::default()),
            wake: Notify::new(),
        });
        tokio::spawn(run(timer.clone()));
        timer
    }

    pub fn clock(&self) -> Clock {
        self.clock
    }

    fn wheel(&self) -> MutexGuard<'_, Wheel> {
        self.wheel
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Schedules `alarm` at `due`; the key removes it.
    pub fn add(&self, alarm: Alarm, due: u64) -> u64 {
        let key = {
            let mut wheel = self.wheel();
            let key = wheel.next_key;
            wheel.next_key += 1;
            alarm.emitter.status().lock().next_fire = Some(due);
            wheel.entries.insert(key, Entry { alarm, due });
            wheel.heap.push(Reverse((due, key)));
            key
        };
        self.wake.notify_one();
        key
    }

    pub fn remove(&self, key: u64) {
        // The heap's entry goes when it comes up.
        let removed = self.wheel().entries.remove(&key);
        drop(removed);
    }

    /// Fires what is due; answers when to look next.
    fn tick(&self) -> Option<u64> {
        let now = self.clock.now();
        let mut wheel = self.wheel();
        let mut due = Vec::new();
        while let Some(Reverse((at, key))) = wheel.heap.peek().copied() {
            if at > now {
                break;
            }
            wheel.heap.pop();
            if wheel.entries.get(&key).is_some_and(|entry| entry.due == at) {
                due.push(key);
            }
        }
        for key in due {
            let Some(mut entry) = wheel.entries.remove(&key) else {
                continue;
            };
            match fire_due(&mut entry.alarm, now, self.clock.span(BUSY_RETRY)) {
                Next::At(at) => {
                    entry.due = at;
                    wheel.heap.push(Reverse((at, key)));
                    wheel.entries.insert(key, entry);
                }
                Next::Done => {}
            }
        }
        wheel.heap.peek().map(|Reverse((at, _))| *at)
    }
}

async fn run(timer: Arc<Timer>) {
    loop {
        let next = timer.tick();
        let notified = timer.wake.notified();
        match next.map(|at| timer.clock.real(at.saturating_sub(timer.clock.now()))) {
            Some(wait) => {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = notified => {}
                }
            }
            None => notified.await,
        }
    }
}

enum Next {
    At(u64),
    /// Fired its last tick (or has none left): the source is done with it.
    Done,
}

/// Fires the ticks of `alarm` that are due at `now` (one fire for all of them).
fn fire_due(alarm: &mut Alarm, now: u64, busy_retry: u64) -> Next {
    let Some((count, latest)) = alarm.plan.passed(alarm.from, now) else {
        return match alarm.plan.next_after(alarm.from) {
            Some(at) => Next::At(at),
            None => {
                alarm.emitter.disable(no_tick_left(&alarm.plan));
                Next::Done
            }
        };
    };
    let Some(slot) = alarm.emitter.try_slot() else {
        // The previous fire is still being retried (or the feed stops).
        return Next::At(now + busy_retry.max(1));
    };
    let fired = alarm.fired + 1;
    let missed = (alarm.late || count > 1).then_some(count);
    let next = alarm.plan.next_after(latest);
    let after = if alarm.max_triggers.is_some_and(|max| fired >= max) {
        Some(Control::Disable(format!(
            "done: fired {fired} times, as many as maxTriggers allows"
        )))
    } else if alarm.plan.is_once() {
        Some(match alarm.delete_after_fire {
            DeleteAfterFire::No => Control::Disable("done: fired once, at its date".to_owned()),
            DeleteAfterFire::Trigger => Control::DeleteTrigger { with_rules: false },
            DeleteAfterFire::TriggerAndRules => Control::DeleteTrigger { with_rules: true },
        })
    } else if next.is_none() {
        Some(Control::Disable(no_tick_left(&alarm.plan)))
    } else {
        None
    };
    let payload = match missed {
        None => Bytes::from(Value::Object((*alarm.payload).clone()).to_string()),
        Some(missed) => {
            let mut payload = (*alarm.payload).clone();
            payload.insert("missedTicks".to_owned(), json!(missed));
            Bytes::from(Value::Object(payload).to_string())
        }
    };
    let done = after.is_some();
    slot.fire(Event {
        position: json!([latest, fired]),
        payload,
        items: 1,
        read_at: Instant::now(),
        after,
    });
    alarm.from = latest;
    alarm.fired = fired;
    alarm.late = false;
    let mut status = alarm.emitter.status().lock();
    status.next_fire = if done { None } else { next };
    drop(status);
    match next {
        Some(at) if !done => Next::At(at),
        _ => Next::Done,
    }
}

pub fn no_tick_left(plan: &Plan) -> String {
    if plan.is_once() {
        "done: its date passed".to_owned()
    } else {
        "done: no tick is left before its stopDate".to_owned()
    }
}
