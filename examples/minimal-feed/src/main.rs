//! `minimal-feed`: the smallest complete feed on feedkit (see the library).

fn main() {
    feedkit::run_feed(minimal_feed::MinimalFeed);
}
