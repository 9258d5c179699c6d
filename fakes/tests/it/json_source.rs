//! The polled JSON source over real HTTP: bodies, conditional requests, auth and faults.

use std::time::Duration;

use fakes::{Fault, JsonSource, Shape};
use serde_json::{Value, json};

use crate::support::{TestResult, agent, get, get_with};

#[test]
fn serves_items_with_validators_that_change_with_content() -> TestResult {
    let source = JsonSource::start()?;
    let url = source.items_url();
    assert_eq!(url, format!("{}/items", source.url()));

    let empty = get(&url, &[])?;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.json(), json!([]));
    assert_eq!(empty.header("Content-Type"), Some("application/json"));
    let etag0 = empty.header("ETag").ok_or("ETag")?.to_owned();
    assert!(etag0.starts_with('"') && etag0.ends_with('"') && !etag0.starts_with("W/"));
    let modified0 = empty
        .header("Last-Modified")
        .ok_or("Last-Modified")?
        .to_owned();
    assert!(modified0.ends_with(" GMT"), "{modified0}");

    source.push(json!({"id": "a1", "title": "first"}));
    source.push(json!({"id": "a2", "title": "second"}));
    let two = get(&url, &[])?;
    assert_eq!(
        two.json(),
        json!([{"id": "a1", "title": "first"}, {"id": "a2", "title": "second"}])
    );
    let etag2 = two.header("ETag").ok_or("ETag")?;
    assert_ne!(etag2, etag0);
    assert_ne!(two.header("Last-Modified"), Some(modified0.as_str()));

    // Reordering is a change too; `limit` keeps the newest.
    source.set_items(vec![json!({"id": "a2"}), json!({"id": "a1"})]);
    let reordered = get(&url, &[])?;
    assert_ne!(reordered.header("ETag"), Some(etag2));
    assert_eq!(
        get(&format!("{url}?limit=1"), &[])?.json(),
        json!([{"id": "a1"}])
    );
    Ok(())
}

#[test]
fn if_none_match_answers_304_until_the_content_changes() -> TestResult {
    let source = JsonSource::start()?;
    let url = source.items_url();
    source.push(json!({"id": "a1"}));
    let first = get(&url, &[])?;
    let etag = first.header("ETag").ok_or("ETag")?.to_owned();

    let same = get(&url, &[("If-None-Match", &etag)])?;
    assert_eq!(same.status, 304);
    assert_eq!(same.text, "");
    assert_eq!(same.header("ETag"), Some(etag.as_str()));
    let weak = format!("W/{etag}");
    let listed = format!("\"other\", {weak}");
    assert_eq!(get(&url, &[("If-None-Match", &listed)])?.status, 304);
    assert_eq!(get(&url, &[("If-None-Match", "\"stale\"")])?.status, 200);

    source.push(json!({"id": "a2"}));
    let changed = get(&url, &[("If-None-Match", &etag)])?;
    assert_eq!(changed.status, 200);
    assert_eq!(changed.json().as_array().map(Vec::len), Some(2));

    let seen: Vec<(Option<String>, u16)> = source
        .requests()
        .iter()
        .map(|r| (r.header("If-None-Match").map(str::to_owned), r.status))
        .collect();
    assert_eq!(seen.len(), 5);
    assert_eq!(seen[1], (Some(etag.clone()), 304));
    assert_eq!(seen[4], (Some(etag), 200));
    Ok(())
}

#[test]
fn if_modified_since_answers_304_and_sees_changes_within_a_second() -> TestResult {
    let source = JsonSource::start()?;
    let url = source.items_url();
    let first = get(&url, &[])?;
    let modified = first
        .header("Last-Modified")
        .ok_or("Last-Modified")?
        .to_owned();
    assert_eq!(get(&url, &[("If-Modified-Since", &modified)])?.status, 304);
    assert_eq!(
        get(
            &url,
            &[("If-Modified-Since", "Thu, 01 Jan 1970 00:00:00 GMT")]
        )?
        .status,
        200
    );
    assert_eq!(
        get(&url, &[("If-Modified-Since", "not a date")])?.status,
        200
    );

    // Pushed right away, most likely within the same second: still a later Last-Modified.
    source.push(json!({"id": "a1"}));
    let after = get(&url, &[("If-Modified-Since", &modified)])?;
    assert_eq!(after.status, 200);
    assert_eq!(after.json(), json!([{"id": "a1"}]));
    // If-None-Match wins over If-Modified-Since.
    let etag = after.header("ETag").ok_or("ETag")?.to_owned();
    let stale = get(
        &url,
        &[
            ("If-None-Match", "\"stale\""),
            ("If-Modified-Since", "Fri, 31 Dec 9999 23:59:59 GMT"),
        ],
    )?;
    assert_eq!(stale.status, 200);
    assert_eq!(get(&url, &[("If-None-Match", &etag)])?.status, 304);
    Ok(())
}

#[test]
fn nested_shapes_and_other_paths() -> TestResult {
    let source = JsonSource::start()?;
    source.push(json!({"id": "a1"}));
    let array_etag = get(&source.items_url(), &[])?
        .header("ETag")
        .map(str::to_owned);
    source.set_body_shape(Shape::Nested("/data/items".into()));
    let nested = get(&source.items_url(), &[])?;
    assert_eq!(nested.json(), json!({"data": {"items": [{"id": "a1"}]}}));
    assert_ne!(nested.header("ETag").map(str::to_owned), array_etag);
    source.set_body_shape(Shape::Nested("result.entries".into()));
    assert_eq!(
        get(&source.items_url(), &[])?.json(),
        json!({"result": {"entries": [{"id": "a1"}]}})
    );

    source.set_path("/api/v2/feed");
    assert_eq!(source.items_url(), format!("{}/api/v2/feed", source.url()));
    assert_eq!(get(&source.items_url(), &[])?.status, 200);
    assert_eq!(get(&format!("{}/items", source.url()), &[])?.status, 404);
    let post = agent().post(source.items_url()).send_empty()?;
    assert_eq!(post.status().as_u16(), 405);
    Ok(())
}

#[test]
fn required_headers_answer_401_without_them() -> TestResult {
    let source = JsonSource::start()?;
    source.require_header("Authorization", "Bearer sesame");
    let url = source.items_url();
    let denied = get(&url, &[])?;
    assert_eq!(denied.status, 401);
    assert!(
        denied.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("Authorization"))
    );
    assert_eq!(denied.header("WWW-Authenticate"), Some("Bearer"));
    assert_eq!(get(&url, &[("Authorization", "Bearer wrong")])?.status, 401);
    assert_eq!(
        get(&url, &[("authorization", "Bearer sesame")])?.status,
        200
    );

    let statuses: Vec<u16> = source.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 401, 200]);
    assert_eq!(
        source.requests()[2].header("Authorization"),
        Some("Bearer sesame")
    );
    assert_eq!(source.requests()[2].method, "GET");
    assert_eq!(source.requests()[2].path, "/items");
    source.clear_requests();
    source.clear_required_headers();
    assert_eq!(get(&url, &[])?.status, 200);
    assert_eq!(source.requests().len(), 1);
    Ok(())
}

#[test]
fn status_and_garbage_faults() -> TestResult {
    let source = JsonSource::start()?;
    source.push(json!({"id": "a1"}));
    let url = source.items_url();
    for code in [500, 503, 429, 403] {
        source.set_fault(Fault::Status(code));
        let answer = get(&url, &[])?;
        assert_eq!(answer.status, code);
        assert!(answer.json()["error"].is_string());
    }
    source.set_fault(Fault::Garbage);
    let garbage = get(&url, &[])?;
    assert_eq!(garbage.status, 200);
    assert!(
        serde_json::from_str::<Value>(&garbage.text).is_err(),
        "{}",
        garbage.text
    );
    source.set_fault(Fault::None);
    assert_eq!(get(&url, &[])?.json(), json!([{"id": "a1"}]));
    Ok(())
}

#[test]
fn a_slow_source_times_clients_out_then_recovers() -> TestResult {
    let source = JsonSource::start()?;
    let url = source.items_url();
    source.set_fault(Fault::Slow(Duration::from_secs(30)));
    let impatient = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_millis(200)))
        .build()
        .new_agent();
    let err = get_with(&impatient, &url, &[])
        .err()
        .ok_or("expected a timeout")?;
    assert!(matches!(err, ureq::Error::Timeout(_)), "{err}");
    source.set_fault(Fault::None);
    assert_eq!(get(&url, &[])?.status, 200);
    // Dropping the source with a delayed answer still pending must not wait it out.
    source.set_fault(Fault::Slow(Duration::from_secs(30)));
    let _ = get_with(&impatient, &url, &[]);
    drop(source);
    Ok(())
}

#[test]
fn down_closes_new_and_kept_alive_connections_without_an_answer() -> TestResult {
    let source = JsonSource::start()?;
    let url = source.items_url();
    let pooled = agent();
    assert_eq!(get_with(&pooled, &url, &[])?.status, 200);

    source.set_fault(Fault::Down);
    // The pooled connection is cut, and new ones get no answer either.
    let err = get_with(&pooled, &url, &[])
        .err()
        .ok_or("expected a failure")?;
    assert!(!matches!(err, ureq::Error::Timeout(_)), "{err}");
    let err = get(&url, &[]).err().ok_or("expected a failure")?;
    assert!(!matches!(err, ureq::Error::Timeout(_)), "{err}");
    assert_eq!(source.requests().len(), 1, "nothing reached a down source");

    source.set_fault(Fault::None);
    assert_eq!(get_with(&pooled, &url, &[])?.status, 200);
    assert_eq!(source.requests().len(), 2);
    Ok(())
}
