//! The polled feed file over real HTTP: the file as published, conditional requests by either
//! validator, a new version, faults.

use fakes::feed_files::{BLOG_ATOM, BLOG_RSS, BLOG_RSS_NEXT};
use fakes::{ATOM_CONTENT_TYPE, Fault, FeedSource, RSS_CONTENT_TYPE, Validators};

use crate::support::{TestResult, get};

#[test]
fn serves_the_file_and_answers_both_conditional_requests_until_a_new_version() -> TestResult {
    let source = FeedSource::start(BLOG_RSS, RSS_CONTENT_TYPE)?;
    let url = source.feed_url();
    assert_eq!(url, format!("{}/feed", source.url()));

    let first = get(&url, &[])?;
    assert_eq!(first.status, 200);
    assert_eq!(first.text.as_bytes(), BLOG_RSS);
    assert_eq!(first.header("Content-Type"), Some(RSS_CONTENT_TYPE));
    let etag = first.header("ETag").ok_or("ETag")?.to_owned();
    let modified = first
        .header("Last-Modified")
        .ok_or("Last-Modified")?
        .to_owned();

    let by_etag = get(&url, &[("If-None-Match", &etag)])?;
    assert_eq!((by_etag.status, by_etag.text.as_str()), (304, ""));
    assert_eq!(get(&url, &[("If-Modified-Since", &modified)])?.status, 304);

    source.publish(BLOG_RSS_NEXT);
    let next = get(&url, &[("If-None-Match", &etag)])?;
    assert_eq!(next.status, 200);
    assert_eq!(next.text.as_bytes(), BLOG_RSS_NEXT);
    assert_ne!(next.header("ETag"), Some(etag.as_str()));
    assert_eq!(get(&url, &[("If-Modified-Since", &modified)])?.status, 200);

    let statuses: Vec<(Option<String>, Option<String>, u16)> = source
        .requests()
        .iter()
        .map(|r| {
            (
                r.header("If-None-Match").map(str::to_owned),
                r.header("If-Modified-Since").map(str::to_owned),
                r.status,
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            (None, None, 200),
            (Some(etag.clone()), None, 304),
            (None, Some(modified.clone()), 304),
            (Some(etag), None, 200),
            (None, Some(modified), 200),
        ]
    );
    Ok(())
}

#[test]
fn a_source_may_send_one_validator_or_none() -> TestResult {
    let source = FeedSource::start(BLOG_ATOM, ATOM_CONTENT_TYPE)?;
    let url = source.feed_url();
    let both = get(&url, &[])?;
    let etag = both.header("ETag").ok_or("ETag")?.to_owned();
    let modified = both
        .header("Last-Modified")
        .ok_or("Last-Modified")?
        .to_owned();

    source.set_validators(Validators::LastModifiedOnly);
    let dated = get(&url, &[])?;
    assert_eq!(
        (dated.header("ETag"), dated.header("Last-Modified")),
        (None, Some(modified.as_str()))
    );
    assert_eq!(get(&url, &[("If-Modified-Since", &modified)])?.status, 304);
    assert_eq!(
        get(&url, &[("If-None-Match", &etag)])?.status,
        200,
        "no ETag, no match"
    );

    source.set_validators(Validators::ETagOnly);
    let tagged = get(&url, &[])?;
    assert_eq!(
        (tagged.header("ETag"), tagged.header("Last-Modified")),
        (Some(etag.as_str()), None)
    );
    assert_eq!(get(&url, &[("If-None-Match", &etag)])?.status, 304);
    assert_eq!(get(&url, &[("If-Modified-Since", &modified)])?.status, 200);

    source.set_validators(Validators::None);
    let plain = get(
        &url,
        &[("If-None-Match", &etag), ("If-Modified-Since", &modified)],
    )?;
    assert_eq!(plain.status, 200);
    assert_eq!(
        (plain.header("ETag"), plain.header("Last-Modified")),
        (None, None)
    );
    Ok(())
}

#[test]
fn faults_paths_and_content_types() -> TestResult {
    let source = FeedSource::start(BLOG_RSS, "text/xml")?;
    source.set_path("/blog/index.xml");
    let url = source.feed_url();
    assert_eq!(get(&url, &[])?.header("Content-Type"), Some("text/xml"));
    assert_eq!(get(&format!("{}/feed", source.url()), &[])?.status, 404);

    source.set_fault(Fault::Garbage);
    let garbage = get(&url, &[])?;
    assert_eq!(garbage.status, 200);
    assert!(garbage.text.starts_with("<html>"), "{}", garbage.text);
    assert_eq!(garbage.header("Content-Type"), Some("text/xml"));
    source.set_fault(Fault::Status(503));
    assert_eq!(get(&url, &[])?.status, 503);
    source.set_fault(Fault::None);

    source.set_content_type("application/xml");
    source.require_header("X-Api-Key", "k1");
    assert_eq!(get(&url, &[])?.status, 401);
    let allowed = get(&url, &[("X-Api-Key", "k1")])?;
    assert_eq!(allowed.status, 200);
    assert_eq!(allowed.header("Content-Type"), Some("application/xml"));
    Ok(())
}
