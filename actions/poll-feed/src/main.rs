//! `poll-feed`: the Polling pattern's feed action.

fn main() {
    feedkit::run_legacy_feed(poll_feed::PollFeed);
}
