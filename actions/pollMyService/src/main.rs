//! `pollMyService`: the Polling pattern's poller, run by the poll feed's rule on every alarm
//! tick (see `poll_feed::tick`). Deploy it with `provide-api-key: true`.

fn main() {
    feedkit::run(poll_feed::tick);
}
