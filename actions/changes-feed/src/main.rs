//! `changes-feed`: the Connections pattern's feed action (see the library).

fn main() {
    feedkit::run_feed(changes_feed::ChangesFeed);
}
