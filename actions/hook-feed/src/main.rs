//! `hook-feed`: the Hooks pattern's feed action (see the library).

fn main() {
    feedkit::run_feed(hook_feed::HookFeed);
}
