//! The fake Gitea over real HTTP: the rules of Gitea's API description (token header, media
//! types, hook shape, int64 ids), its handlers' quirks (events reset on edit, `active` false by
//! default, unknown events ignored), and deliveries signed the way Gitea signs them.

use fakes::FakeGitea;
use serde_json::{Value, json};

use crate::support::{
    Answer, Receiver, TestResult, agent, form_value, hmac_sha1_hex, hmac_sha256_hex,
};

const REPO: &str = "gitea-org/app";
const TOKEN: &str = "0123456789abcdef0123456789abcdef01234567";

fn gitea() -> Result<FakeGitea, std::io::Error> {
    let gitea = FakeGitea::start()?;
    gitea.add_repo(REPO, TOKEN);
    Ok(gitea)
}

fn hooks_url(gitea: &FakeGitea) -> String {
    format!("{}/repos/{REPO}/hooks", gitea.api_url())
}

/// One call with the given `Authorization` and `Accept` (and a JSON body when given).
fn call(
    method: &str,
    url: &str,
    authorization: Option<&str>,
    accept: &str,
    body: Option<&Value>,
) -> Answer {
    let mut builder = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("Accept", accept);
    if let Some(value) = authorization {
        builder = builder.header("Authorization", value);
    }
    if body.is_some() {
        builder = builder.header("Content-Type", "application/json");
    }
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let request = builder
        .body(bytes)
        .unwrap_or_else(|e| panic!("request: {e}"));
    let mut response = agent()
        .run(request)
        .unwrap_or_else(|e| panic!("call failed: {e}"));
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    Answer {
        status: response.status().as_u16(),
        headers,
        text,
    }
}

/// A call in Gitea's own dialect.
fn api(method: &str, url: &str, body: Option<&Value>) -> Answer {
    call(
        method,
        url,
        Some(&format!("token {TOKEN}")),
        "application/json",
        body,
    )
}

fn hook_body(url: &str) -> Value {
    json!({"type": "gitea", "config": {"url": url, "content_type": "json", "secret": "s3"}, "events": ["push"], "active": true})
}

#[test]
fn only_the_documented_token_forms_and_json_are_accepted() -> TestResult {
    let gitea = gitea()?;
    let url = hooks_url(&gitea);
    let cases = [
        (None, "application/json", 401, "token is required"),
        (
            Some(format!("Bearer {TOKEN}")),
            "application/json",
            401,
            "invalid",
        ),
        (
            Some("token nope".to_owned()),
            "application/json",
            401,
            "invalid",
        ),
        (
            Some(format!("token {TOKEN}")),
            "application/vnd.github+json",
            406,
            "application/json",
        ),
        (Some(format!("token {TOKEN}")), "application/json", 200, ""),
        (Some(format!("TOKEN {TOKEN}")), "*/*", 200, ""),
    ];
    for (authorization, accept, status, said) in cases {
        let answer = call("GET", &url, authorization.as_deref(), accept, None);
        assert_eq!(
            answer.status, status,
            "{authorization:?} {accept}: {answer:?}"
        );
        if status != 200 {
            assert!(
                answer.json()["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(said)
            );
            assert!(
                answer.json()["url"]
                    .as_str()
                    .is_some_and(|u| u.ends_with("/api/swagger"))
            );
        }
    }
    let by_query = call(
        "GET",
        &format!("{url}?access_token={TOKEN}"),
        None,
        "application/json",
        None,
    );
    assert_eq!(by_query.status, 200);
    let elsewhere = call(
        "GET",
        &format!("{}/repos/other/repo/hooks", gitea.api_url()),
        Some(&format!("token {TOKEN}")),
        "application/json",
        None,
    );
    assert_eq!(elsewhere.status, 404);

    // A body that is not JSON by its type is refused before it is read.
    let request = ureq::http::Request::builder()
        .method("POST")
        .uri(&url)
        .header("Authorization", format!("token {TOKEN}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(b"type=gitea".to_vec())?;
    assert_eq!(agent().run(request)?.status().as_u16(), 415);
    Ok(())
}

#[test]
fn create_validates_as_gitea_does_and_shows_the_gitea_shape() -> TestResult {
    let gitea = gitea()?;
    let url = hooks_url(&gitea);
    let cases = [
        (
            json!({"config": {"url": "http://x", "content_type": "json"}}),
            "type",
        ),
        (json!({"type": "gitea"}), "config"),
        (
            json!({"type": "web", "config": {"url": "http://x", "content_type": "json"}}),
            "Invalid hook type",
        ),
        (
            json!({"type": "gitea", "config": {"content_type": "json"}}),
            "Missing config option: url",
        ),
        (
            json!({"type": "gitea", "config": {"url": "http://x"}}),
            "Missing config option: content_type",
        ),
        (
            json!({"type": "gitea", "config": {"url": "http://x", "content_type": "xml"}}),
            "Invalid content type",
        ),
        (
            json!({"type": "gitea", "config": {"url": "http://x", "content_type": "json", "insecure_ssl": 0}}),
            "config.insecure_ssl",
        ),
        (
            json!({"type": "gitea", "config": {"url": "http://x", "content_type": "json"}, "active": "yes"}),
            "active",
        ),
        (
            json!({"name": "web", "config": {"url": "http://x", "content_type": "json"}}),
            "type",
        ),
    ];
    for (body, said) in cases {
        let answer = api("POST", &url, Some(&body));
        assert_eq!(answer.status, 422, "{body}: {answer:?}");
        assert!(
            answer.json()["message"]
                .as_str()
                .unwrap_or_default()
                .contains(said),
            "{body}: {answer:?}"
        );
    }
    assert!(gitea.hooks(REPO).is_empty());

    // `active` is false unless given; unknown events are dropped; `issues` is a family.
    let body = json!({"type": "gitea", "config": {"url": "http://127.0.0.1:9/h", "content_type": "form", "secret": "s3"}, "events": ["issues", "pull_request_review_thread", "push"]});
    let created = api("POST", &url, Some(&body));
    assert_eq!(created.status, 201, "{created:?}");
    let hook = created.json();
    assert_eq!(hook["type"], "gitea");
    assert_eq!(hook["active"], false);
    assert_eq!(
        hook["config"],
        json!({"url": "http://127.0.0.1:9/h", "content_type": "form"})
    );
    assert_eq!(
        hook["events"],
        json!([
            "push",
            "issues",
            "issue_assign",
            "issue_label",
            "issue_milestone",
            "issue_comment"
        ])
    );
    for field in [
        "branch_filter",
        "authorization_header",
        "created_at",
        "updated_at",
    ] {
        assert!(hook.get(field).is_some(), "{field}: {hook}");
    }
    assert!(hook.get("last_response").is_none() && hook["config"].get("secret").is_none());
    let id = hook["id"].as_i64().ok_or("id")?;
    assert_eq!(
        gitea.registered(REPO, id).map(|h| h.secret).as_deref(),
        Some("s3")
    );
    assert_eq!(api("GET", &format!("{url}/{id}"), None).json(), hook);
    Ok(())
}

#[test]
fn edit_resets_what_it_is_not_given_and_ids_are_int64() -> TestResult {
    let gitea = gitea()?;
    let url = hooks_url(&gitea);
    for id in [-42_i64, (1_i64 << 53) + 1, i64::MAX] {
        gitea.set_next_hook_id(id);
        let created = api("POST", &url, Some(&hook_body("http://127.0.0.1:9/h")));
        assert_eq!(created.status, 201);
        // Exactly, as int64: never through a float.
        assert!(
            created.text.contains(&format!("\"id\":{id}")),
            "{}",
            created.text
        );
        assert_eq!(
            api("GET", &format!("{url}/{id}"), None).json()["id"].as_i64(),
            Some(id)
        );
    }
    let id = i64::MAX;
    let patched = api(
        "PATCH",
        &format!("{url}/{id}"),
        Some(&json!({"events": ["issues_only"], "branch_filter": "main"})),
    );
    assert_eq!(patched.status, 200, "{patched:?}");
    assert_eq!(patched.json()["events"], json!(["issues"]));
    assert_eq!(patched.json()["branch_filter"], "main");
    // Only `active`: Gitea sets the events back to push and clears the branch filter.
    let paused = api(
        "PATCH",
        &format!("{url}/{id}"),
        Some(&json!({"active": false})),
    )
    .json();
    assert_eq!(paused["active"], false);
    assert_eq!(paused["events"], json!(["push"]));
    assert_eq!(paused["branch_filter"], "");
    let registered = gitea.registered(REPO, id).ok_or("hook")?;
    assert_eq!(registered.secret, "s3", "a config without secret keeps it");
    assert_eq!(api("DELETE", &format!("{url}/{id}"), None).status, 204);
    assert_eq!(api("DELETE", &format!("{url}/{id}"), None).status, 404);
    assert_eq!(
        api("PATCH", &format!("{url}/{id}"), Some(&json!({}))).status,
        404
    );
    Ok(())
}

#[test]
fn lists_page_with_limit_and_link() -> TestResult {
    let gitea = gitea()?;
    let url = hooks_url(&gitea);
    for n in 0..55 {
        assert_eq!(
            api(
                "POST",
                &url,
                Some(&hook_body(&format!("http://127.0.0.1:9/{n}")))
            )
            .status,
            201
        );
    }
    let first = api("GET", &format!("{url}?limit=100"), None);
    assert_eq!(
        first.json().as_array().map(Vec::len),
        Some(50),
        "limit is at most 50"
    );
    assert_eq!(first.header("X-Total-Count"), Some("55"));
    let link = first.header("Link").ok_or("no Link")?;
    let next = link
        .split(',')
        .find(|part| part.contains("rel=\"next\""))
        .and_then(|part| part.split(['<', '>']).nth(1))
        .ok_or("no next")?;
    assert!(next.ends_with("?limit=50&page=2"), "{link}");
    assert_eq!(
        api("GET", next, None).json().as_array().map(Vec::len),
        Some(5)
    );
    assert_eq!(
        api("GET", &url, None).json().as_array().map(Vec::len),
        Some(30)
    );
    Ok(())
}

#[test]
fn deliveries_are_signed_over_the_payload_with_gitea_headers() -> TestResult {
    let gitea = gitea()?;
    let receiver = Receiver::start();
    let url = hooks_url(&gitea);
    let json_hook = api(
        "POST",
        &url,
        Some(&hook_body(&format!("{}/json", receiver.url))),
    )
    .json();
    let mut form = hook_body(&format!("{}/form", receiver.url));
    form["config"]["content_type"] = json!("form");
    form["events"] = json!(["issues"]);
    let form_hook = api("POST", &url, Some(&form)).json();
    let mut inactive = hook_body(&format!("{}/inactive", receiver.url));
    inactive["active"] = json!(false);
    api("POST", &url, Some(&inactive));

    let payload = json!({"ref": "refs/heads/main", "after": "abc"});
    let sent = gitea.deliver(REPO, "push", &payload);
    assert_eq!(sent.len(), 1, "only the active hook subscribed to push");
    let issue = json!({"action": "label_updated", "issue": {"number": 1, "title": "a & b"}});
    assert_eq!(gitea.deliver(REPO, "issue_label", &issue).len(), 1);
    let got = receiver.wait_for(2);
    assert_eq!(got.len(), 2, "{got:?}");

    let json_delivery = got
        .iter()
        .find(|r| r.url == "/json")
        .ok_or("json delivery")?;
    let body = payload.to_string();
    let signature = hmac_sha256_hex("s3", body.as_bytes());
    assert_eq!(json_delivery.body, body.as_bytes());
    for (name, value) in [
        ("Content-Type", "application/json".to_owned()),
        ("X-Gitea-Event", "push".to_owned()),
        ("X-Gitea-Event-Type", "push".to_owned()),
        ("X-GitHub-Event", "push".to_owned()),
        ("X-Gitea-Signature", signature.clone()),
        ("X-Gogs-Signature", signature.clone()),
        ("X-Hub-Signature-256", format!("sha256={signature}")),
        (
            "X-Hub-Signature",
            format!("sha1={}", hmac_sha1_hex("s3", body.as_bytes())),
        ),
        ("X-Gitea-Delivery", sent[0].uuid.clone()),
        ("X-GitHub-Delivery", sent[0].uuid.clone()),
    ] {
        assert_eq!(json_delivery.header(name), Some(value.as_str()), "{name}");
    }

    // A form body is `payload=<JSON>`, and the signature is the JSON's, not the body's.
    let form_delivery = got
        .iter()
        .find(|r| r.url == "/form")
        .ok_or("form delivery")?;
    let inner = form_value(&form_delivery.body, "payload").ok_or("payload field")?;
    assert_eq!(inner, issue.to_string());
    assert_eq!(
        form_delivery.header("X-Gitea-Signature"),
        Some(hmac_sha256_hex("s3", inner.as_bytes()).as_str())
    );
    assert_ne!(
        form_delivery.header("X-Gitea-Signature"),
        Some(hmac_sha256_hex("s3", &form_delivery.body).as_str())
    );
    assert_eq!(form_delivery.header("X-Gitea-Event"), Some("issues"));
    assert_eq!(
        form_delivery.header("X-Gitea-Event-Type"),
        Some("issue_label")
    );

    // The test endpoint delivers a push in the background.
    let id = json_hook["id"].as_i64().ok_or("id")?;
    assert_eq!(api("POST", &format!("{url}/{id}/tests"), None).status, 204);
    assert!(gitea.wait_idle(std::time::Duration::from_secs(20)));
    assert_eq!(gitea.deliveries(REPO, id).len(), 2);
    assert!(form_hook["id"].as_i64().is_some());
    Ok(())
}

#[test]
fn a_garbled_create_still_creates_the_hook() -> TestResult {
    let gitea = gitea()?;
    gitea.garble_next_create("<html>502 Bad Gateway</html>");
    let answer = api(
        "POST",
        &hooks_url(&gitea),
        Some(&hook_body("http://127.0.0.1:9/h")),
    );
    assert_eq!(answer.status, 201);
    assert!(answer.json().is_null());
    assert_eq!(gitea.hooks(REPO).len(), 1);
    let again = api(
        "POST",
        &hooks_url(&gitea),
        Some(&hook_body("http://127.0.0.1:9/h")),
    );
    assert!(again.json()["id"].is_i64(), "only the next one");
    Ok(())
}
