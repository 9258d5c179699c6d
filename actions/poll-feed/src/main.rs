//! `poll-feed`: the Polling pattern's feed action (see the library).

fn main() {
    feedkit::run_feed(poll_feed::PollFeed);
}
