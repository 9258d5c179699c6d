//! The Polling pattern on the kit's own alarms: poll-feed with `alarmFeed` set to the kit's
//! `alarm-feed`, whose alarm the provider keeps and fires on its own clock (nothing brought
//! forward here: the pattern has seconds, so the demo waits a few of them).

use anyhow::{Context as _, Result};
use fakes::JsonSource;
use serde_json::{Value, json};

use crate::world::{World, say, step};

/// Every two seconds (a cron pattern with seconds first).
const EVERY_TWO_SECONDS: &str = "*/2 * * * * *";

pub fn run(world: &World, shown: &mut Vec<String>) -> Result<()> {
    step("Polling on the kit's own alarms: poll-feed with alarmFeed feedkit/alarm-feed");
    let source = JsonSource::start().context("starting the local JSON source")?;
    source.set_items(vec![json!({"id": "r1", "title": "feedkit 0.1"})]);
    say(&format!(
        "a JSON endpoint serves 1 item at {}",
        source.items_url()
    ));
    world.create_trigger(
        "releases",
        "feedkit/poll-feed",
        json!({"url": source.items_url(), "cron": EVERY_TWO_SECONDS,
               "alarmFeed": "feedkit/alarm-feed"}),
        &format!(
            "-p url <local>/items -p cron '{EVERY_TWO_SECONDS}' -p alarmFeed feedkit/alarm-feed"
        ),
    )?;
    world.create_rule("show-releases", "releases")?;
    // `wsk trigger get` of the helper trigger: alarm-feed's READ.
    let read_alarm = || {
        world.feed(
            "feedkit/alarm-feed",
            "READ",
            "releases-poll-alarm",
            json!({}),
        )
    };
    let alarm = read_alarm()?;
    say(&format!(
        "the helper trigger's alarm is kept by the provider: cron {} state={} next fire {}",
        alarm["config"]["cron"], alarm["status"]["state"], alarm["status"]["nextFireISO"]
    ));

    source.push(json!({"id": "r2", "title": "feedkit 0.2: the kit's own alarms"}));
    say("a new item appears; the provider's alarm ticks on its own");
    let released = |event: &Value| {
        event["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|item| item["id"] == "r2"))
    };
    let events = world.wait_for_shown(released, 1)?;
    say(&format!(
        "show-event ran with: {}",
        crate::describe_items(&events[0])
    ));
    let alarm = read_alarm()?;
    let tick = alarm["status"]["lastFire"]["scheduled"]
        .as_u64()
        .map_or_else(|| "?".to_owned(), feedkit::iso_utc);
    say(&format!(
        "wsk trigger get releases-poll-alarm (alarm-feed READ): fired {} time(s), last for the tick of {tick}",
        alarm["status"]["timesFired"]
    ));
    world.delete_trigger("releases", "feedkit/poll-feed")?;
    world.delete_rule("show-releases")?;
    match read_alarm() {
        Err(error) if error.to_string().contains("no alarm is registered") => {}
        other => anyhow::bail!("the alarm outlived its poll feed: {other:?}"),
    }
    say("wsk trigger delete releases: poll-feed deleted the alarm through alarm-feed's DELETE");
    shown.push(
        "Polling on the kit's alarms: poll-feed ticked on alarm-feed's alarm, kept and fired by the provider (no /whisk.system/alarms needed)"
            .to_owned(),
    );
    Ok(())
}
