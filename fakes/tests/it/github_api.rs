//! The hooks API over real HTTP: success paths, auth, validation and GitHub's status codes.

use fakes::FakeGitHub;
use serde_json::{Value, json};

use crate::support::{REPO, TOKEN, TestResult, gh, gh_raw, gh_with_auth, github, hooks_url};

/// A hook body pointing at a closed port: API tests do not care about deliveries.
fn body(url_path: &str, events: &[&str]) -> Value {
    json!({
        "name": "web",
        "active": false,
        "events": events,
        "config": {"url": format!("http://127.0.0.1:9/{url_path}"), "content_type": "json"},
    })
}

fn create(github: &FakeGitHub, body: &Value) -> Result<u64, String> {
    let answer = gh("POST", &hooks_url(github), Some(TOKEN), Some(body));
    if answer.status != 201 {
        return Err(format!("create: {} {}", answer.status, answer.text));
    }
    answer.json()["id"]
        .as_u64()
        .ok_or_else(|| "no id".to_owned())
}

#[test]
fn create_answers_201_with_the_hook_as_github_shows_it() -> TestResult {
    let github = github()?;
    let request = json!({
        "name": "web",
        "active": true,
        "events": ["push", "pull_request"],
        "config": {"url": "http://127.0.0.1:9/hook", "content_type": "json", "secret": "s3cr3t", "insecure_ssl": "0"},
    });
    let answer = gh("POST", &hooks_url(&github), Some(TOKEN), Some(&request));
    assert_eq!(answer.status, 201, "{}", answer.text);
    let hook = answer.json();
    let id = hook["id"].as_u64().ok_or("id")?;
    let self_url = format!("{}/{id}", hooks_url(&github));
    assert_eq!(hook["type"], "Repository");
    assert_eq!(hook["name"], "web");
    assert_eq!(hook["active"], true);
    assert_eq!(hook["events"], json!(["push", "pull_request"]));
    assert_eq!(
        hook["config"],
        json!({"url": "http://127.0.0.1:9/hook", "content_type": "json", "insecure_ssl": "0", "secret": "********"})
    );
    assert_eq!(hook["url"], self_url.as_str());
    assert_eq!(hook["test_url"], format!("{self_url}/test"));
    assert_eq!(hook["ping_url"], format!("{self_url}/pings"));
    assert_eq!(hook["deliveries_url"], format!("{self_url}/deliveries"));
    assert_eq!(answer.header("Location"), Some(self_url.as_str()));
    let created = hook["created_at"].as_str().ok_or("created_at")?;
    assert_eq!(created.len(), 20, "{created}");
    assert!(created.ends_with('Z') && created.as_bytes()[10] == b'T');
    assert!(hook["updated_at"].is_string());
    assert!(!answer.text.contains("s3cr3t"));

    // The raw config keeps the secret; every API view masks it.
    let raw = github.hook_config_raw(REPO, id).ok_or("raw config")?;
    assert_eq!(raw["secret"], "s3cr3t");
    let listed = gh("GET", &hooks_url(&github), Some(TOKEN), None);
    assert_eq!(listed.status, 200);
    assert!(!listed.text.contains("s3cr3t"));
    assert_eq!(listed.json().as_array().map(Vec::len), Some(1));
    assert_eq!(github.hooks(REPO).len(), 1);
    assert_eq!(github.hooks(REPO)[0]["config"]["secret"], "********");
    Ok(())
}

#[test]
fn defaults_are_githubs() -> TestResult {
    let github = github()?;
    let answer = gh(
        "POST",
        &hooks_url(&github),
        Some(TOKEN),
        Some(&json!({"config": {"url": "http://127.0.0.1:9/x"}})),
    );
    assert_eq!(answer.status, 201, "{}", answer.text);
    let hook = answer.json();
    assert_eq!(hook["active"], true);
    assert_eq!(hook["events"], json!(["push"]));
    assert_eq!(hook["config"]["content_type"], "form");
    assert_eq!(hook["config"]["insecure_ssl"], "0");
    assert!(hook["config"].get("secret").is_none());
    Ok(())
}

#[test]
fn auth_failures_answer_401_and_hidden_repositories_404() -> TestResult {
    let github = github()?;
    github.add_repo("other/repo", "ghp_other");
    let url = hooks_url(&github);

    let missing = gh("GET", &url, None, None);
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json()["message"], "Requires authentication");
    assert!(missing.json()["documentation_url"].is_string());

    let unknown = gh("GET", &url, Some("ghp_nobody"), None);
    assert_eq!(unknown.status, 401);
    assert_eq!(unknown.json()["message"], "Bad credentials");
    let garbled = gh_with_auth("GET", &url, Some("Basic Zm9vOmJhcg==".into()), None);
    assert_eq!(garbled.status, 401);

    // A valid token that may not see this repository, and a repository that does not exist.
    let foreign = gh("GET", &url, Some("ghp_other"), None);
    assert_eq!(
        (foreign.status, foreign.json()["message"].clone()),
        (404, json!("Not Found"))
    );
    let no_repo = gh(
        "GET",
        &format!("{}/repos/octo/missing/hooks", github.url()),
        Some(TOKEN),
        None,
    );
    assert_eq!(no_repo.status, 404);

    // `Bearer` works like `token`, and repository names are not case sensitive.
    let bearer = gh_with_auth("GET", &url, Some(format!("Bearer {TOKEN}")), None);
    assert_eq!(bearer.status, 200);
    let upper = gh(
        "GET",
        &format!("{}/repos/OCTO/Hello/hooks", github.url()),
        Some(TOKEN),
        None,
    );
    assert_eq!(upper.status, 200);

    github.revoke_token(TOKEN);
    assert_eq!(gh("GET", &url, Some(TOKEN), None).status, 401);
    github.add_repo(REPO, TOKEN);
    github.remove_repo(REPO);
    assert_eq!(gh("GET", &url, Some(TOKEN), None).status, 404);
    Ok(())
}

#[test]
fn invalid_hooks_answer_422_validation_failed() -> TestResult {
    let github = github()?;
    let url = hooks_url(&github);
    let cases = [
        json!({"events": ["push"]}),
        json!({"config": {"content_type": "json"}}),
        json!({"config": {"url": ""}}),
        json!({"config": {"url": "not a url"}}),
        json!({"config": {"url": "ftp://127.0.0.1/x"}}),
        json!({"config": {"url": "http://127.0.0.1/x", "content_type": "xml"}}),
        json!({"config": {"url": "http://127.0.0.1/x", "insecure_ssl": "2"}}),
        json!({"name": "travis", "config": {"url": "http://127.0.0.1/x"}}),
        json!({"events": ["push", "no_such_event"], "config": {"url": "http://127.0.0.1/x"}}),
        json!({"events": ["push", " delete"], "config": {"url": "http://127.0.0.1/x"}}),
    ];
    for case in &cases {
        let answer = gh("POST", &url, Some(TOKEN), Some(case));
        assert_eq!(answer.status, 422, "{case}: {}", answer.text);
        assert_eq!(answer.json()["message"], "Validation Failed", "{case}");
        assert!(
            answer.json()["errors"]
                .as_array()
                .is_some_and(|e| !e.is_empty()),
            "{case}"
        );
    }
    let unknown = gh(
        "POST",
        &url,
        Some(TOKEN),
        Some(&json!({"events": ["push", "nope"], "config": {"url": "http://127.0.0.1/x"}})),
    );
    assert_eq!(unknown.json()["errors"][0]["value"], "nope");

    // Wrong JSON types: GitHub's schema message names the property.
    let typed = gh(
        "POST",
        &url,
        Some(TOKEN),
        Some(&json!({"active": "yes", "config": {"url": "http://127.0.0.1/x"}})),
    );
    assert_eq!(typed.status, 422);
    assert!(
        typed.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("properties/active"))
    );
    let events_not_list = gh(
        "POST",
        &url,
        Some(TOKEN),
        Some(&json!({"events": "push", "config": {"url": "http://127.0.0.1/x"}})),
    );
    assert_eq!(events_not_list.status, 422);

    let broken = gh_raw("POST", &url, TOKEN, "{\"config\": ");
    assert_eq!(
        (broken.status, broken.json()["message"].clone()),
        (400, json!("Problems parsing JSON"))
    );
    assert!(github.hooks(REPO).is_empty());
    Ok(())
}

#[test]
fn same_url_with_overlapping_events_already_exists() -> TestResult {
    let github = github()?;
    create(&github, &body("dup", &["push", "issues"]))?;
    let again = gh(
        "POST",
        &hooks_url(&github),
        Some(TOKEN),
        Some(&body("dup", &["issues"])),
    );
    assert_eq!(again.status, 422);
    assert_eq!(
        again.json()["errors"][0]["message"],
        "Hook already exists on this repository"
    );
    let wildcard = gh(
        "POST",
        &hooks_url(&github),
        Some(TOKEN),
        Some(&body("dup", &["*"])),
    );
    assert_eq!(wildcard.status, 422);
    // GitHub allows the same URL for disjoint events, and another URL for the same events.
    create(&github, &body("dup", &["release"]))?;
    create(&github, &body("other", &["push"]))?;
    assert_eq!(github.hooks(REPO).len(), 3);
    Ok(())
}

#[test]
fn get_patch_and_delete_a_hook() -> TestResult {
    let github = github()?;
    let mut request = body("p", &["push"]);
    request["config"]["secret"] = json!("first-secret");
    let id = create(&github, &request)?;
    let hook_url = format!("{}/{id}", hooks_url(&github));

    let got = gh("GET", &hook_url, Some(TOKEN), None);
    assert_eq!((got.status, got.json()["id"].as_u64()), (200, Some(id)));
    assert_eq!(
        gh(
            "GET",
            &format!("{}/1", hooks_url(&github)),
            Some(TOKEN),
            None
        )
        .status,
        404
    );
    assert_eq!(
        gh(
            "GET",
            &format!("{}/abc", hooks_url(&github)),
            Some(TOKEN),
            None
        )
        .status,
        404
    );

    // Events: replace, then add and remove; active toggles.
    let patched = gh(
        "PATCH",
        &hook_url,
        Some(TOKEN),
        Some(
            &json!({"events": ["push", "issues"], "add_events": ["release"], "remove_events": ["push"], "active": true}),
        ),
    );
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.json()["events"], json!(["issues", "release"]));
    assert_eq!(patched.json()["active"], true);
    let bad_event = gh(
        "PATCH",
        &hook_url,
        Some(TOKEN),
        Some(&json!({"add_events": ["bogus"]})),
    );
    assert_eq!(bad_event.status, 422);
    let bad_type = gh("PATCH", &hook_url, Some(TOKEN), Some(&json!({"active": 1})));
    assert_eq!(bad_type.status, 422);

    // The config endpoint merges: the secret stays unless given.
    let config_url = format!("{hook_url}/config");
    let merged = gh(
        "PATCH",
        &config_url,
        Some(TOKEN),
        Some(&json!({"content_type": "form"})),
    );
    assert_eq!(merged.status, 200, "{}", merged.text);
    assert_eq!(merged.json()["content_type"], "form");
    assert_eq!(merged.json()["secret"], "********");
    let raw = github.hook_config_raw(REPO, id).ok_or("raw")?;
    assert_eq!(raw["secret"], "first-secret");
    assert_eq!(raw["url"], "http://127.0.0.1:9/p");
    let shown = gh("GET", &config_url, Some(TOKEN), None);
    assert_eq!(shown.status, 200);
    assert_eq!(shown.json()["content_type"], "form");
    assert!(!shown.text.contains("first-secret"));
    let bad_config = gh(
        "PATCH",
        &config_url,
        Some(TOKEN),
        Some(&json!({"url": "nope"})),
    );
    assert_eq!(bad_config.status, 422);

    // A config in the hook PATCH replaces the whole config: no secret given, none kept.
    let replaced = gh(
        "PATCH",
        &hook_url,
        Some(TOKEN),
        Some(&json!({"config": {"url": "http://127.0.0.1:9/new", "content_type": "json"}})),
    );
    assert_eq!(replaced.status, 200, "{}", replaced.text);
    let raw = github.hook_config_raw(REPO, id).ok_or("raw")?;
    assert_eq!(
        raw,
        json!({"url": "http://127.0.0.1:9/new", "content_type": "json", "insecure_ssl": "0"})
    );
    let no_url = gh(
        "PATCH",
        &hook_url,
        Some(TOKEN),
        Some(&json!({"config": {"secret": "x"}})),
    );
    assert_eq!(no_url.status, 422);

    assert_eq!(gh("DELETE", &hook_url, Some(TOKEN), None).status, 204);
    assert_eq!(gh("GET", &hook_url, Some(TOKEN), None).status, 404);
    assert_eq!(gh("DELETE", &hook_url, Some(TOKEN), None).status, 404);
    assert_eq!(
        gh(
            "PATCH",
            &hook_url,
            Some(TOKEN),
            Some(&json!({"active": true}))
        )
        .status,
        404
    );
    assert!(github.hooks(REPO).is_empty());
    Ok(())
}

#[test]
fn a_hook_removed_behind_the_clients_back_is_gone() -> TestResult {
    let github = github()?;
    let id = create(&github, &body("gone", &["push"]))?;
    assert!(github.remove_hook(REPO, id));
    assert!(!github.remove_hook(REPO, id));
    let url = format!("{}/{id}", hooks_url(&github));
    assert_eq!(gh("DELETE", &url, Some(TOKEN), None).status, 404);
    Ok(())
}

#[test]
fn lists_are_paginated_with_link_headers() -> TestResult {
    let github = github()?;
    for name in ["a", "b", "c"] {
        create(&github, &body(name, &["push"]))?;
    }
    let first = gh(
        "GET",
        &format!("{}?per_page=2", hooks_url(&github)),
        Some(TOKEN),
        None,
    );
    assert_eq!(first.json().as_array().map(Vec::len), Some(2));
    let link = first.header("Link").ok_or("Link header")?;
    assert!(
        link.contains("page=2") && link.contains("rel=\"next\""),
        "{link}"
    );
    let second = gh(
        "GET",
        &format!("{}?per_page=2&page=2", hooks_url(&github)),
        Some(TOKEN),
        None,
    );
    assert_eq!(second.json().as_array().map(Vec::len), Some(1));
    assert!(second.header("Link").is_none());
    Ok(())
}

#[test]
fn the_enterprise_path_prefix_works() -> TestResult {
    let github = github()?;
    let url = format!("{}/api/v3/repos/{REPO}/hooks", github.url());
    let created = gh("POST", &url, Some(TOKEN), Some(&body("ghe", &["push"])));
    assert_eq!(created.status, 201, "{}", created.text);
    let self_url = created.json()["url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(self_url.starts_with(&url), "{self_url}");
    assert_eq!(gh("GET", &self_url, Some(TOKEN), None).status, 200);
    Ok(())
}

#[test]
fn unknown_paths_and_methods_answer_404() -> TestResult {
    let github = github()?;
    let base = github.url();
    assert_eq!(
        gh("GET", &format!("{base}/user"), Some(TOKEN), None).status,
        404
    );
    assert_eq!(
        gh("PUT", &hooks_url(&github), Some(TOKEN), Some(&json!({}))).status,
        404
    );
    let id = create(&github, &body("m", &["push"]))?;
    let pings = format!("{}/{id}/pings", hooks_url(&github));
    assert_eq!(gh("GET", &pings, Some(TOKEN), None).status, 404);
    Ok(())
}
