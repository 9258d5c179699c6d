//! `hook-relay` end to end: the real binary deployed as a raw web action in a private package of
//! the sandbox (with `relayKeys` bound), hooks installed by the real `hook-feed`, and the fake
//! GitHub making real signed deliveries to them. Good deliveries fire the trigger with
//! `{event, delivery, payload}`; everything else is refused with the status the fake records and
//! fires nothing; no key, token content or secret shows in any log or result.

use std::sync::OnceLock;

use sandbox::{GUEST_AUTH_KEY, Sandbox};
use serde_json::{Value, json};

use crate::hook_feed::{OTHER_KEY, REPO, TOKEN, WAIT, World, ok, push};
use crate::support::action_zip;

/// 32 random bytes each, base64 (`openssl rand -base64 32`), as a deployer binds them.
pub const RELAY_KEY_1: &str = "F4xwI4CV5NFMmoRqnZCk8iq+1xz8m6Ptxq3KZqM3hJY=";
pub const RELAY_KEY_2: &str = "bZYhN0P2x6M2gXYHuB4GJFkjzz/kX8KQq4SQvBCMDrg=";
/// The private package holding the relay and its keys.
const RELAY_PACKAGE: &str = "feedkit-relay";
/// The relay's documented body limit (`hook_relay::MAX_BODY_BYTES`).
const RELAY_BODY_LIMIT: usize = 512 * 1024;

/// `relayKeys` as bound on the package: the first seals.
pub fn relay_keys(keys: &[(&str, &str)]) -> Value {
    keys.iter()
        .map(|(id, key)| json!({"id": id, "key": key}))
        .collect()
}

/// Deploys the relay as the manifest does (a private package with the keys bound, the action a
/// raw web action whose bound parameters requests cannot override) and returns its URL.
pub fn deploy_relay(sandbox: &Sandbox, keys: Value) -> String {
    set_relay_keys(sandbox, keys);
    static ZIP: OnceLock<Vec<u8>> = OnceLock::new();
    let zip = ZIP.get_or_init(|| action_zip("hook-relay")).clone();
    sandbox
        .put_native_action(
            "guest",
            &format!("{RELAY_PACKAGE}/hook-relay"),
            zip,
            json!({}),
            json!({"web-export": true, "raw-http": true, "final": true}),
        )
        .expect("relay action");
    format!(
        "{}/api/v1/web/guest/{RELAY_PACKAGE}/hook-relay.http",
        sandbox.url()
    )
}

/// `wsk package update feedkit-relay -p relayKeys ...`: a rotation step.
pub fn set_relay_keys(sandbox: &Sandbox, keys: Value) {
    sandbox
        .put_package(
            "guest",
            RELAY_PACKAGE,
            json!({ "relayKeys": keys }),
            json!({}),
            false,
        )
        .expect("relay package");
}

/// An HTTP client that reports every status instead of failing on 4xx/5xx.
fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// `PATCH .../hooks/{id}/config` on the fake: what someone with the repository's admin rights
/// (or an attacker replaying elsewhere) could change.
fn patch_config(world: &World, hook_id: u64, config: Value) {
    let url = format!("{}/repos/{REPO}/hooks/{hook_id}/config", world.github.url());
    let response = http()
        .patch(&url)
        .header("Authorization", &format!("token {TOKEN}"))
        .send_json(config)
        .expect("config patched");
    assert_eq!(response.status().as_u16(), 200);
}

/// The status the fake saw from the relay for `hook_id`'s delivery.
fn status_for(sent: &[fakes::github::Delivery], hook_id: u64) -> Option<u16> {
    sent.iter()
        .find(|delivery| delivery.hook_id == hook_id)
        .and_then(|delivery| delivery.status)
}

/// One hook of the feed's, as registered.
struct Installed {
    id: u64,
    url: String,
    token: String,
    secret: String,
}

fn install(world: &World, trigger: &str, params: Value) -> Installed {
    world.create_trigger(trigger);
    let created = world.feed("CREATE", trigger, params);
    let id = ok(&created)["hookId"].as_u64().expect("hook id");
    let raw = world.github.hook_config_raw(REPO, id).expect("raw config");
    let url = raw["url"].as_str().expect("url").to_owned();
    let token = url.split_once("?token=").expect("a token").1.to_owned();
    let secret = raw["secret"].as_str().expect("a derived secret").to_owned();
    Installed {
        id,
        url,
        token,
        secret,
    }
}

/// No secret in any activation's logs or result; no token in any log (the seal answers carry
/// tokens, which are opaque, in their results).
fn assert_quiet(world: &World, secrets: &[String], tokens: &[String]) {
    world.assert_activations_keep_secrets(secrets);
    for activation in world.sandbox.activations("guest") {
        let logs = activation.logs.join("\n");
        for token in tokens {
            assert!(
                !logs.contains(token.as_str()),
                "a token in the logs: {logs}"
            );
        }
    }
}

#[test]
fn relay_fires_signed_deliveries_and_refuses_the_rest() {
    let world = World::start();
    let t = install(&world, "t", world.create_params(json!("push")));
    let t2 = install(&world, "t2", world.create_params(json!("push")));
    assert!(world.github.wait_idle(WAIT));
    let target_t = format!("{}/deliver/guest/t", world.relay_url);
    assert!(
        t.url.starts_with(&format!("{target_t}?token=")),
        "{}",
        t.url
    );
    assert_ne!(t.secret, t2.secret, "every hook has its own secret");

    // A good delivery fires the trigger with the event's name, its delivery id and the body.
    let sent = world.github.deliver(REPO, "push", &push(1));
    assert!(
        status_for(&sent, t.id).is_some_and(|s| (200..300).contains(&s)),
        "{sent:?}"
    );
    let guid = &sent[0].guid;
    let fires = world.sandbox.fires("guest", "t");
    assert_eq!(
        fires.last().map(|fire| &fire.payload),
        Some(&json!({"event": "push", "delivery": guid, "payload": push(1)}))
    );
    let first = world
        .github
        .deliveries(REPO, t.id)
        .into_iter()
        .find(|delivery| delivery.event == "push")
        .expect("the push delivery");

    // Replayed with a wrong signature: GitHub redelivers the same body, signed with another
    // secret.
    patch_config(&world, t.id, json!({"secret": "an-attacker-guess"}));
    let replay_url = format!(
        "{}/repos/{REPO}/hooks/{}/deliveries/{}/attempts",
        world.github.url(),
        t.id,
        first.id
    );
    let replayed = http()
        .post(&replay_url)
        .header("Authorization", &format!("token {TOKEN}"))
        .send_empty()
        .expect("redelivery");
    assert_eq!(replayed.status().as_u16(), 202);
    assert!(world.github.wait_idle(WAIT));
    let replay = world
        .github
        .deliveries(REPO, t.id)
        .pop()
        .expect("redelivery");
    assert!(replay.redelivery && replay.guid == first.guid, "{replay:?}");
    assert_eq!(replay.status, Some(401), "{replay:?}");
    assert!(
        replay.response_body.contains("signature does not match"),
        "{replay:?}"
    );
    assert_eq!(
        world.fires_with("t", &push(1)),
        1,
        "the replay fired nothing"
    );

    // Then each refusal, with what the fake saw; the other trigger keeps firing meanwhile.
    let cases = [
        ("unsigned", json!({"secret": null}), 401, "not signed"),
        (
            "another trigger's token",
            json!({"url": format!("{target_t}?token={}", t2.token), "secret": t.secret}),
            403,
            "does not authenticate for this trigger",
        ),
        (
            "a truncated token",
            json!({"url": format!("{target_t}?token={}", &t.token[..t.token.len() - 6])}),
            403,
            "token",
        ),
        ("no token", json!({"url": target_t}), 403, "no token"),
    ];
    for (n, (case, config, status, said)) in (2..).zip(cases) {
        patch_config(&world, t.id, config);
        let sent = world.github.deliver(REPO, "push", &push(n));
        let refused = sent.iter().find(|d| d.hook_id == t.id).expect("delivered");
        assert_eq!(refused.status, Some(status), "{case}: {refused:?}");
        assert!(refused.response_body.contains(said), "{case}: {refused:?}");
        assert_eq!(world.fires_with("t", &push(n)), 0, "{case} fired");
        assert_eq!(
            world.fires_with("t2", &push(n)),
            1,
            "{case}: t2 still fires"
        );
    }

    // Restored, the hook fires again: the refusals were the changes, nothing else.
    patch_config(&world, t.id, json!({"url": t.url, "secret": t.secret}));
    assert_eq!(world.deliver("t", "push", &push(10)), 1);

    // Too large: refused before any cryptography (the fake's body is still under OpenWhisk's
    // own 1 MiB limit, so the 413 is the relay's).
    let big = json!({"ref": "refs/heads/main", "blob": "x".repeat(RELAY_BODY_LIMIT + 1024)});
    let sent = world.github.deliver(REPO, "push", &big);
    assert_eq!(sent.len(), 2);
    for delivery in &sent {
        assert_eq!(delivery.status, Some(413), "{delivery:?}");
        assert!(
            delivery.response_body.contains("limit of 524288 bytes"),
            "{delivery:?}"
        );
    }
    assert_eq!(
        world.fires_with("t", &big) + world.fires_with("t2", &big),
        0
    );

    // The relay's other answers, over plain HTTP.
    let relay = &world.relay_url;
    let get = |url: &str| http().get(url).call().expect("answer");
    let mut status = get(relay);
    assert_eq!(status.status().as_u16(), 200);
    let body: Value = status.body_mut().read_json().expect("json");
    assert_eq!(body, json!({"relay": "hook-relay", "configured": true}));
    assert_eq!(get(&target_t).status().as_u16(), 405);
    let post = |url: &str, body: Value| {
        let mut response = http().post(url).send_json(body).expect("answer");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (status, text)
    };
    assert_eq!(post(&format!("{relay}/elsewhere"), json!({})).0, 404);

    // The seal endpoint seals only for a key that may read the trigger.
    let seal = format!("{relay}/seal");
    let reply_key = "A".repeat(43);
    let uuid = GUEST_AUTH_KEY.split_once(':').expect("key").0;
    let seal_cases = [
        ("/guest/t", format!("{uuid}:wrong"), 401),
        ("/guest/t", OTHER_KEY.to_owned(), 403),
        ("/guest/nope", GUEST_AUTH_KEY.to_owned(), 404),
        ("/_/t", GUEST_AUTH_KEY.to_owned(), 400),
    ];
    for (trigger, key, expected) in seal_cases {
        let body = json!({"trigger": trigger, "authKey": key, "replyKey": reply_key});
        let (status, text) = post(&seal, body);
        assert_eq!(status, expected, "{trigger}: {text}");
        assert!(
            !text.contains("wrong") && !text.contains("otherNamespaceKey"),
            "{text}"
        );
    }
    let (status, text) = post(&seal, json!({"trigger": "/guest/t"}));
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("`authKey`"), "{text}");
    let padding = "p".repeat(9 * 1024);
    let (status, _) = post(&seal, json!({"trigger": "/guest/t", "pad": padding}));
    assert_eq!(status, 413);

    let secrets = vec![t.secret, t2.secret];
    assert_quiet(&world, &secrets, &[t.token, t2.token]);
}

#[test]
fn relay_keys_rotate_without_breaking_hooks() {
    let world = World::start();
    let t = install(&world, "t", world.create_params(json!("push")));
    let t2 = install(&world, "t2", world.create_params(json!("push")));
    assert!(world.github.wait_idle(WAIT));
    let key_id = |trigger: &str| {
        let read = world.feed("READ", trigger, json!({}));
        ok(&read)["config"]["relayKeyId"].clone()
    };
    assert_eq!(key_id("t"), "k1");

    // 1. A new key first: it seals from now on; k1 still opens the hooks sealed with it.
    set_relay_keys(
        &world.sandbox,
        relay_keys(&[("k2", RELAY_KEY_2), ("k1", RELAY_KEY_1)]),
    );
    let sent = world.github.deliver(REPO, "push", &push(1));
    assert!(
        sent.iter()
            .all(|d| d.status == Some(202) || d.status == Some(200)),
        "{sent:?}"
    );
    assert_eq!(
        world.fires_with("t", &push(1)) + world.fires_with("t2", &push(1)),
        2
    );

    // 2. UPDATE seals a hook again with the new key (same hook, new URL and secret).
    let updated = world.feed("UPDATE", "t", json!({}));
    assert_eq!(ok(&updated)["hookId"], t.id);
    assert_eq!(updated.result["relayKeyId"], "k2");
    assert_eq!(key_id("t"), "k2");
    assert_eq!(
        key_id("t2"),
        "k1",
        "READ finds the hooks still sealed with k1"
    );
    let resealed = world.github.hook_config_raw(REPO, t.id).expect("raw");
    let new_secret = resealed["secret"].as_str().expect("secret").to_owned();
    assert_ne!(new_secret, t.secret);
    assert_eq!(world.deliver("t", "push", &push(2)), 1);

    // 3. k1 retired before t2 was sealed again: t2's deliveries are refused, naming the key.
    set_relay_keys(&world.sandbox, relay_keys(&[("k2", RELAY_KEY_2)]));
    let sent = world.github.deliver(REPO, "push", &push(3));
    assert!(
        status_for(&sent, t.id).is_some_and(|s| (200..300).contains(&s)),
        "{sent:?}"
    );
    let refused = sent
        .iter()
        .find(|d| d.hook_id == t2.id)
        .expect("t2's delivery");
    assert_eq!(refused.status, Some(403), "{refused:?}");
    let said: Value = serde_json::from_str(&refused.response_body).expect("JSON");
    let said = said["error"].as_str().unwrap_or_default();
    assert!(
        said.contains("relay key \"k1\"") && said.contains("UPDATE"),
        "{said}"
    );
    assert_eq!(world.fires_with("t", &push(3)), 1);
    assert_eq!(world.fires_with("t2", &push(3)), 0);

    // 4. UPDATE brings it back.
    ok(&world.feed("UPDATE", "t2", json!({})));
    assert_eq!(key_id("t2"), "k2");
    assert_eq!(world.deliver("t2", "push", &push(4)), 1);

    let mut secrets = vec![t.secret, t2.secret, new_secret];
    secrets.extend(world.registered_secrets());
    assert_quiet(&world, &secrets, &[t.token, t2.token]);
}

#[test]
fn relay_takes_form_deliveries_too() {
    let world = World::start();
    let mut params = world.create_params(json!("issues"));
    params["contentType"] = json!("form");
    let t = install(&world, "t", params);
    assert!(world.github.wait_idle(WAIT));
    let issue = json!({"action": "opened", "issue": {"number": 7, "title": "a & b = c?"}});
    let sent = world.github.deliver(REPO, "issues", &issue);
    assert!(
        status_for(&sent, t.id).is_some_and(|s| (200..300).contains(&s)),
        "{sent:?}"
    );
    let fires = world.sandbox.fires("guest", "t");
    assert_eq!(
        fires.last().map(|fire| &fire.payload),
        Some(&json!({"event": "issues", "delivery": sent[0].guid, "payload": issue}))
    );
    assert_quiet(&world, &[t.secret], &[t.token]);
}

/// A delivery body of exactly 512 KiB is relayed; one byte more is refused with 413 (the relay
/// computes the decoded size of the base64 body OpenWhisk hands it exactly, padding included).
#[test]
fn relay_body_limit_is_exact_at_512_kib() {
    let world = World::start();
    let t = install(&world, "t", world.create_params(json!("push")));
    assert!(world.github.wait_idle(WAIT));
    let sized = |len: usize, tag: &str| {
        let empty = json!({"ref": tag, "blob": ""}).to_string().len();
        let payload = json!({"ref": tag, "blob": "x".repeat(len - empty)});
        assert_eq!(payload.to_string().len(), len);
        payload
    };
    let at_limit = sized(RELAY_BODY_LIMIT, "at-limit");
    let sent = world.github.deliver(REPO, "push", &at_limit);
    assert!(
        status_for(&sent, t.id).is_some_and(|s| (200..300).contains(&s)),
        "{sent:?}"
    );
    assert_eq!(world.fires_with("t", &at_limit), 1);

    let over = sized(RELAY_BODY_LIMIT + 1, "over");
    let sent = world.github.deliver(REPO, "push", &over);
    let refused = sent.iter().find(|d| d.hook_id == t.id).expect("delivered");
    assert_eq!(refused.status, Some(413), "{refused:?}");
    assert!(
        refused.response_body.contains("limit of 524288 bytes"),
        "{refused:?}"
    );
    assert_eq!(world.fires_with("t", &over), 0);
    assert_quiet(&world, &[t.secret], &[t.token]);
}
