//! `pollMyService`: the Polling pattern's poller (see `poll_feed::Poller`).

fn main() {
    feedkit::run_action(poll_feed::Poller);
}
