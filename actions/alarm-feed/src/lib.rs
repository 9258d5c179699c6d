//! `alarm-feed`: a trigger fired on a schedule ([`AlarmFeed`], its parameters [`AlarmParams`]),
//! with the parameters of `/whisk.system/alarms` so that a user, or poll-feed's `alarmFeed`,
//! switches to it unchanged: `minutes` (its `interval` feed), `cron` and `timezone` (`alarm`),
//! `date` and `deleteAfterFire` (`once`), and `startDate`, `stopDate`, `trigger_payload`,
//! `maxTriggers`. One action serves the three: the schedule parameter given says which.
//!
//! The action checks what it can alone (one schedule, the dates), then registers, reads,
//! changes, pauses or removes the alarm at the kit's provider (`providerUrl`, with the
//! package-bound `providerSecret`), whose alarms source keeps the schedule, fires the trigger
//! and checks the cron pattern and the time zone (so the action links neither).

mod lifecycle;
mod settings;

pub use lifecycle::{AlarmFeed, SERVICE};
pub use settings::AlarmParams;
