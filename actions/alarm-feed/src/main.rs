//! `alarm-feed`: the kit's alarms feed action (see the library).

fn main() {
    feedkit::run_feed(alarm_feed::AlarmFeed);
}
