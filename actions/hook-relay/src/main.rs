//! `hook-relay`: the web action of the Hooks pattern's relay delivery mode (see the library).

fn main() {
    feedkit::run_web_action(hook_relay::Relay);
}
