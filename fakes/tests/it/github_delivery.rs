//! Deliveries as a receiver sees them: headers, signatures, Basic auth from the URL, form bodies,
//! which hooks get what, and how outcomes show in the API.

use std::time::Duration;

use base64::Engine;
use fakes::FakeGitHub;
use serde_json::{Value, json};

use crate::support::{
    REPO, Receiver, TOKEN, TestResult, form_value, gh, github, hmac_sha1_hex, hmac_sha256_hex,
    hooks_url,
};

fn create(github: &FakeGitHub, body: &Value) -> Result<u64, String> {
    let answer = gh("POST", &hooks_url(github), Some(TOKEN), Some(body));
    if answer.status != 201 {
        return Err(format!("create: {} {}", answer.status, answer.text));
    }
    answer.json()["id"]
        .as_u64()
        .ok_or_else(|| "no id".to_owned())
}

fn settle(github: &FakeGitHub) -> Result<(), String> {
    if github.wait_idle(Duration::from_secs(20)) {
        Ok(())
    } else {
        Err("background deliveries did not finish".to_owned())
    }
}

#[test]
fn create_pings_then_push_arrives_signed_with_githubs_headers() -> TestResult {
    let github = github()?;
    let receiver = Receiver::start();
    let id = create(
        &github,
        &json!({
            "active": true,
            "events": ["push"],
            "config": {"url": format!("{}/hook", receiver.url), "content_type": "json", "secret": "It's a Secret to Everybody"},
        }),
    )?;
    settle(&github)?;

    // The ping, as GitHub sends it on create.
    let got = receiver.wait_for(1);
    assert_eq!(got.len(), 1);
    let ping = &got[0];
    assert_eq!((ping.method.as_str(), ping.url.as_str()), ("POST", "/hook"));
    assert_eq!(ping.header("X-GitHub-Event"), Some("ping"));
    let ping_body = ping.json();
    assert_eq!(ping_body["hook_id"].as_u64(), Some(id));
    assert_eq!(ping_body["hook"]["id"].as_u64(), Some(id));
    assert_eq!(ping_body["hook"]["config"]["secret"], "********");
    assert!(ping_body["zen"].as_str().is_some_and(|z| !z.is_empty()));
    assert_eq!(ping_body["repository"]["full_name"], REPO);

    let payload = json!({"ref": "refs/heads/main", "commits": [{"id": "abc"}], "note": "ünïcode"});
    let deliveries = github.deliver(REPO, "push", &payload);
    assert_eq!(deliveries.len(), 1);
    let delivery = &deliveries[0];
    assert_eq!(delivery.status, Some(202));
    assert_eq!(delivery.message, "OK");
    assert_eq!(delivery.response_body, "accepted");
    assert_eq!(delivery.hook_id, id);
    assert_eq!(delivery.event, "push");

    let push = &receiver.received()[1];
    assert_eq!(push.header("X-GitHub-Event"), Some("push"));
    assert_eq!(
        push.header("X-GitHub-Delivery"),
        Some(delivery.guid.as_str())
    );
    assert_eq!(
        push.header("X-GitHub-Hook-ID"),
        Some(id.to_string().as_str())
    );
    assert_eq!(push.header("User-Agent"), Some("GitHub-Hookshot/fake"));
    assert_eq!(push.header("Content-Type"), Some("application/json"));
    assert_eq!(push.header("Authorization"), None);
    assert_eq!(push.json(), payload);
    // The signatures, recomputed here over the exact bytes received.
    let expected_256 = format!(
        "sha256={}",
        hmac_sha256_hex("It's a Secret to Everybody", &push.body)
    );
    assert_eq!(
        push.header("X-Hub-Signature-256"),
        Some(expected_256.as_str())
    );
    let expected_1 = format!(
        "sha1={}",
        hmac_sha1_hex("It's a Secret to Everybody", &push.body)
    );
    assert_eq!(push.header("X-Hub-Signature"), Some(expected_1.as_str()));
    let wrong = format!("sha256={}", hmac_sha256_hex("another secret", &push.body));
    assert_ne!(push.header("X-Hub-Signature-256"), Some(wrong.as_str()));

    // last_response follows the last delivery.
    let hook = gh(
        "GET",
        &format!("{}/{id}", hooks_url(&github)),
        Some(TOKEN),
        None,
    )
    .json();
    assert_eq!(
        hook["last_response"],
        json!({"code": 202, "status": "active", "message": "OK"})
    );
    let recorded = github.deliveries(REPO, id);
    assert_eq!(
        recorded
            .iter()
            .map(|d| d.event.as_str())
            .collect::<Vec<_>>(),
        ["ping", "push"]
    );
    Ok(())
}

#[test]
fn basic_auth_comes_from_the_url_userinfo_which_is_never_shown() -> TestResult {
    let github = github()?;
    let receiver = Receiver::start();
    let hook_url = format!(
        "http://feed%40ns:p%3Ass%2Fw0rd@127.0.0.1:{}/api/v1/web/ns/feed/hook?x=1",
        receiver.port()
    );
    let id = create(
        &github,
        &json!({"active": false, "events": ["issues"], "config": {"url": hook_url, "content_type": "json"}}),
    )?;
    let deliveries = github.deliver(REPO, "issues", &json!({"action": "opened"}));
    assert_eq!(deliveries.len(), 0, "inactive hooks get nothing");
    let patched = gh(
        "PATCH",
        &format!("{}/{id}", hooks_url(&github)),
        Some(TOKEN),
        Some(&json!({"active": true})),
    );
    assert_eq!(patched.status, 200);

    let deliveries = github.deliver(REPO, "issues", &json!({"action": "opened"}));
    assert_eq!(deliveries.len(), 1);
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    let expected = base64::engine::general_purpose::STANDARD.encode("feed@ns:p:ss/w0rd");
    assert_eq!(
        got[0].header("Authorization"),
        Some(format!("Basic {expected}").as_str())
    );
    assert_eq!(got[0].url, "/api/v1/web/ns/feed/hook?x=1");
    // No secret configured: no signatures.
    assert_eq!(got[0].header("X-Hub-Signature-256"), None);
    assert_eq!(got[0].header("X-Hub-Signature"), None);

    let delivery = &deliveries[0];
    let redacted = format!(
        "http://***@127.0.0.1:{}/api/v1/web/ns/feed/hook?x=1",
        receiver.port()
    );
    assert_eq!(delivery.url_redacted, redacted);
    assert_eq!(delivery.action.as_deref(), Some("opened"));
    let debug = format!("{delivery:?} {github:?}");
    assert!(
        !debug.contains("p%3Ass") && !debug.contains("feed%40ns"),
        "{debug}"
    );

    // The deliveries API shows the redacted URL and no Authorization header.
    let detail_url = format!("{}/{id}/deliveries/{}", hooks_url(&github), delivery.id);
    let detail = gh("GET", &detail_url, Some(TOKEN), None);
    assert_eq!(detail.status, 200, "{}", detail.text);
    assert_eq!(detail.json()["url"], redacted.as_str());
    assert!(
        !detail.text.contains("p%3Ass") && !detail.text.contains("Basic "),
        "{}",
        detail.text
    );
    assert_eq!(
        detail.json()["request"]["payload"],
        json!({"action": "opened"})
    );
    assert_eq!(
        detail.json()["request"]["headers"]["X-GitHub-Event"],
        "issues"
    );
    Ok(())
}

#[test]
fn form_hooks_get_a_urlencoded_payload_field_signed_as_sent() -> TestResult {
    let github = github()?;
    let receiver = Receiver::start();
    create(
        &github,
        &json!({"active": false, "events": ["release"], "config": {"url": receiver.url, "content_type": "form", "secret": "form-secret"}}),
    )?;
    let id = github.hooks(REPO)[0]["id"].as_u64().ok_or("id")?;
    gh(
        "PATCH",
        &format!("{}/{id}", hooks_url(&github)),
        Some(TOKEN),
        Some(&json!({"active": true})),
    );
    let payload =
        json!({"action": "published", "release": {"tag_name": "v1.0 & more", "body": "a+b=c"}});
    let deliveries = github.deliver(REPO, "release", &payload);
    assert_eq!(deliveries.len(), 1);
    let got = &receiver.received()[0];
    assert_eq!(
        got.header("Content-Type"),
        Some("application/x-www-form-urlencoded")
    );
    let json_text = form_value(&got.body, "payload").ok_or("payload field")?;
    assert_eq!(serde_json::from_str::<Value>(&json_text)?, payload);
    let expected = format!("sha256={}", hmac_sha256_hex("form-secret", &got.body));
    assert_eq!(got.header("X-Hub-Signature-256"), Some(expected.as_str()));
    Ok(())
}

#[test]
fn only_active_subscribed_hooks_get_an_event_all_with_one_guid() -> TestResult {
    let github = github()?;
    let push_rx = Receiver::start();
    let star_rx = Receiver::start();
    let all_rx = Receiver::start();
    let off_rx = Receiver::start();
    for (rx, events, active) in [
        (&push_rx, json!(["push"]), true),
        (&star_rx, json!(["star"]), true),
        (&all_rx, json!(["*"]), true),
        (&off_rx, json!(["push"]), false),
    ] {
        create(
            &github,
            &json!({"active": active, "events": events, "config": {"url": rx.url, "content_type": "json"}}),
        )?;
    }
    settle(&github)?;
    let pings = |rx: &Receiver| {
        rx.received()
            .iter()
            .filter(|r| r.header("X-GitHub-Event") == Some("ping"))
            .count()
    };
    assert_eq!(
        (
            pings(&push_rx),
            pings(&star_rx),
            pings(&all_rx),
            pings(&off_rx)
        ),
        (1, 1, 1, 0)
    );

    let deliveries = github.deliver(REPO, "push", &json!({"ref": "refs/heads/main"}));
    assert_eq!(deliveries.len(), 2);
    assert_eq!(deliveries[0].guid, deliveries[1].guid);
    let pushes = |rx: &Receiver| {
        rx.received()
            .iter()
            .filter(|r| r.header("X-GitHub-Event") == Some("push"))
            .count()
    };
    assert_eq!(
        (
            pushes(&push_rx),
            pushes(&star_rx),
            pushes(&all_rx),
            pushes(&off_rx)
        ),
        (1, 0, 1, 0)
    );
    assert!(
        github
            .deliver("octo/unknown", "push", &json!({}))
            .is_empty()
    );
    Ok(())
}

#[test]
fn failed_deliveries_show_in_last_response_and_the_deliveries_api() -> TestResult {
    let github = github()?;
    let receiver = Receiver::start();
    receiver.reply_with(500, "boom");
    let id = create(
        &github,
        &json!({"active": false, "events": ["push"], "config": {"url": receiver.url, "content_type": "json"}}),
    )?;
    let hook_url = format!("{}/{id}", hooks_url(&github));
    assert_eq!(
        gh("GET", &hook_url, Some(TOKEN), None).json()["last_response"],
        json!({"code": null, "status": "unused", "message": null})
    );
    gh(
        "PATCH",
        &hook_url,
        Some(TOKEN),
        Some(&json!({"active": true})),
    );

    let failed = github.deliver(REPO, "push", &json!({"n": 1}));
    assert_eq!(failed[0].status, Some(500));
    assert_eq!(failed[0].response_body, "boom");
    assert_eq!(
        gh("GET", &hook_url, Some(TOKEN), None).json()["last_response"],
        json!({"code": 500, "status": "failed", "message": "Invalid HTTP Response: 500"})
    );

    // A receiver that is gone: no status at all.
    let port = receiver.port();
    drop(receiver);
    let refused = github.deliver(REPO, "push", &json!({"n": 2}));
    assert_eq!(refused[0].status, None);
    assert_eq!(refused[0].message, "failed to connect to host");
    assert_eq!(refused[0].url_redacted, format!("http://127.0.0.1:{port}/"));
    let last = gh("GET", &hook_url, Some(TOKEN), None).json()["last_response"].clone();
    assert_eq!(
        (last["code"].clone(), last["status"].clone()),
        (Value::Null, json!("failed"))
    );

    // Newest first, with GitHub's fields.
    let list = gh("GET", &format!("{hook_url}/deliveries"), Some(TOKEN), None);
    assert_eq!(list.status, 200);
    let list = list.json();
    let list = list.as_array().ok_or("array")?;
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["status_code"], 0);
    assert_eq!(list[0]["status"], "failed to connect to host");
    assert_eq!(list[1]["status_code"], 500);
    for item in list {
        for key in [
            "id",
            "guid",
            "delivered_at",
            "redelivery",
            "duration",
            "event",
            "action",
        ] {
            assert!(item.get(key).is_some(), "{key} missing in {item}");
        }
        assert_eq!(item["event"], "push");
    }
    assert_eq!(
        gh(
            "GET",
            &format!("{hook_url}/deliveries/1"),
            Some(TOKEN),
            None
        )
        .status,
        404
    );
    Ok(())
}

#[test]
fn pings_tests_and_redeliveries_through_the_api() -> TestResult {
    let github = github()?;
    let receiver = Receiver::start();
    let push_hook = create(
        &github,
        &json!({"active": false, "events": ["push"], "config": {"url": format!("{}/push", receiver.url), "content_type": "json"}}),
    )?;
    let issue_hook = create(
        &github,
        &json!({"active": false, "events": ["issues"], "config": {"url": format!("{}/issues", receiver.url), "content_type": "json"}}),
    )?;
    let url = |id: u64, tail: &str| format!("{}/{id}/{tail}", hooks_url(&github));

    // Pings go out even to an inactive hook when asked for explicitly.
    assert_eq!(
        gh("POST", &url(push_hook, "pings"), Some(TOKEN), None).status,
        204
    );
    settle(&github)?;
    let got = receiver.wait_for(1);
    assert_eq!(got[0].header("X-GitHub-Event"), Some("ping"));
    assert_eq!(got[0].json()["hook_id"].as_u64(), Some(push_hook));

    // Tests replay a push, and only to hooks that take pushes.
    assert_eq!(
        gh("POST", &url(push_hook, "tests"), Some(TOKEN), None).status,
        204
    );
    assert_eq!(
        gh("POST", &url(issue_hook, "tests"), Some(TOKEN), None).status,
        204
    );
    settle(&github)?;
    let got = receiver.wait_for(2);
    assert_eq!(got.len(), 2);
    assert_eq!(
        (got[1].url.as_str(), got[1].header("X-GitHub-Event")),
        ("/push", Some("push"))
    );
    assert_eq!(got[1].json()["ref"], "refs/heads/main");

    // A redelivery repeats the payload under the same GUID.
    let original = github.deliveries(REPO, push_hook)[1].clone();
    let attempts = url(push_hook, &format!("deliveries/{}/attempts", original.id));
    assert_eq!(gh("POST", &attempts, Some(TOKEN), None).status, 202);
    settle(&github)?;
    let got = receiver.wait_for(3);
    assert_eq!(
        got[2].header("X-GitHub-Delivery"),
        Some(original.guid.as_str())
    );
    assert_eq!(got[2].body, got[1].body);
    let again = github.deliveries(REPO, push_hook);
    assert!(again[2].redelivery && !again[1].redelivery);

    assert_eq!(
        gh("POST", &url(999, "pings"), Some(TOKEN), None).status,
        404
    );
    assert_eq!(
        gh(
            "POST",
            &url(push_hook, "deliveries/1/attempts"),
            Some(TOKEN),
            None
        )
        .status,
        404
    );
    Ok(())
}

#[test]
fn a_deleted_hook_gets_no_more_deliveries() -> TestResult {
    let github = github()?;
    let receiver = Receiver::start();
    let id = create(
        &github,
        &json!({"events": ["push"], "config": {"url": receiver.url, "content_type": "json"}}),
    )?;
    settle(&github)?;
    assert_eq!(
        gh(
            "DELETE",
            &format!("{}/{id}", hooks_url(&github)),
            Some(TOKEN),
            None
        )
        .status,
        204
    );
    assert!(github.deliver(REPO, "push", &json!({})).is_empty());
    assert_eq!(receiver.received().len(), 1, "only the ping");
    assert!(github.deliveries(REPO, id).is_empty());
    Ok(())
}
