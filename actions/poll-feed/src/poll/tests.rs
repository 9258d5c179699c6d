use super::*;
use crate::config::{ConfigPatch, Owners, PollParams};
use crate::sources::ReadError;
use crate::state::MAX_ITEMS_PER_POLL;
use fakes::{Fault, JsonSource, Shape};
use feedkit::ClientErrorKind;
use std::cell::RefCell;

fn make(params: Value) -> (PollConfig, Secrets) {
    let owners = Owners {
        trigger: "/guest/t".into(),
        poll_trigger: "/guest/t-poll-alarm".into(),
        rule: "/guest/t-poll-rule".into(),
    };
    let params: PollParams =
        feedkit::params::parse(params.as_object().expect("object"), "poll-feed").expect("params");
    let patch = ConfigPatch::from_params(&params);
    PollConfig::create(owners, patch).expect("config")
}

/// The listing the configured source makes of a JSON answer.
fn list_items(body: &Value, config: &PollConfig) -> Result<Listing, ReadError> {
    let body = body.to_string();
    let answer = Answer {
        url: &config.url,
        content_type: Some("application/json"),
        body: body.as_bytes(),
    };
    Listing::of(config.source().read(&answer)?)
}

fn status_error(status: u16) -> ClientError {
    ClientError {
        method: feedkit::http::Method::Post,
        path: "/api/v1/namespaces/guest/triggers/t".into(),
        kind: ClientErrorKind::Status {
            status,
            message: String::new(),
        },
    }
}

fn fired() -> Result<FireOutcome, ClientError> {
    Ok(FireOutcome::Fired {
        activation_id: "a".into(),
    })
}

fn quick() -> Backoff {
    Backoff {
        first: Duration::from_millis(1),
        max: Duration::from_millis(2),
    }
}

/// A poll against `source` that records every event and answers with `answers` in turn (then 202).
fn poll_with(
    config: &PollConfig,
    secrets: &Secrets,
    state: &PollState,
    answers: &mut Vec<Result<FireOutcome, ClientError>>,
) -> (PollRecord, Vec<Value>) {
    let events = RefCell::new(Vec::new());
    let record = Poll {
        config,
        secrets,
        state,
        backoff: quick(),
    }
    .run_with(&Http::new(None), |event| {
        let answer = if answers.is_empty() {
            fired()
        } else {
            answers.remove(0)
        };
        if answer.is_ok() {
            events.borrow_mut().push(event.clone());
        }
        answer
    });
    (record, events.into_inner())
}

fn fold(state: &mut PollState, record: PollRecord) {
    state.record(record, 1, 1);
}

#[test]
fn lists_items_by_paths_once_each() {
    let (config, _) = make(
        json!({"url": "http://h/", "minutes": 1, "itemsPath": "data.items", "idPath": "/meta/id"}),
    );
    let body = json!({"data": {"items": [
        {"meta": {"id": 1}}, {"meta": {"id": "1"}}, {"meta": {"id": 1}}, {"meta": {}}, {"meta": {"id": {"k": 2}}}
    ]}});
    let listing = list_items(&body, &config).expect("listed");
    let ids: Vec<&str> = listing.items.iter().map(|item| item.id.as_str()).collect();
    // The number 1 and the string "1" read the same; the repeat counts once.
    assert_eq!(ids, ["1", "{\"k\":2}"]);
    assert_eq!(listing.without_id, 1);

    for (body, parameter) in [
        (json!({"data": {}}), "itemsPath"),
        (json!({"data": {"items": {"a": 1}}}), "itemsPath"),
        (json!({"data": {"items": [{"x": 1}]}}), "idPath"),
    ] {
        assert_eq!(
            list_items(&body, &config).expect_err("bad").parameter,
            parameter
        );
    }
    let (plain, _) = make(json!({"url": "http://h/", "minutes": 1, "idPath": ""}));
    let listing = list_items(&json!(["a", "b"]), &plain).expect("strings are their own ids");
    assert_eq!(listing.items.len(), 2);
    let too_many = Value::Array((0..=MAX_ITEMS_PER_POLL).map(|n| json!({"id": n})).collect());
    assert_eq!(
        list_items(&too_many, &plain)
            .expect_err("too many")
            .parameter,
        "url"
    );
}

#[test]
fn list_events_respect_the_count_cap_and_each_fires_items_alone() {
    let (mut config, _) = make(json!({"url": "http://h/", "minutes": 1, "maxItemsPerFire": 2}));
    let items: Vec<Item> = (0..5)
        .map(|n| Item {
            id: n.to_string(),
            key: id_key(&n.to_string()),
            value: json!({"id": n}),
        })
        .collect();
    let refs: Vec<&Item> = items.iter().collect();
    let listed = events(&config, &refs);
    assert_eq!(
        listed.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
        [2, 2, 1]
    );
    assert_eq!(listed[2].0, json!({"items": [{"id": 4}]}));
    config.batch = Batch::Each;
    let each = events(&config, &refs);
    assert_eq!(each.len(), 5);
    assert_eq!(each[0].0, json!({"id": 0}));
    let scalar = Item {
        id: "s".into(),
        key: id_key("s"),
        value: json!("s"),
    };
    assert_eq!(events(&config, &[&scalar])[0].0, json!({"item": "s"}));
}

#[test]
fn list_events_stay_below_the_size_limit() {
    let (config, _) = make(json!({"url": "http://h/", "minutes": 1, "maxItemsPerFire": 1000}));
    let big = "x".repeat(200 * 1024);
    let items: Vec<Item> = (0..4)
        .map(|n| Item {
            id: n.to_string(),
            key: id_key(&n.to_string()),
            value: json!({"id": n, "body": big}),
        })
        .collect();
    let refs: Vec<&Item> = items.iter().collect();
    let listed = events(&config, &refs);
    assert_eq!(listed.iter().map(|(_, n)| *n).collect::<Vec<_>>(), [2, 2]);
    assert!(
        listed
            .iter()
            .all(|(event, _)| event.to_string().len() < MAX_FIRE_BYTES + 100)
    );
}

#[test]
fn new_items_fire_once_even_when_reordered_or_repeated() {
    let source = JsonSource::start().expect("source");
    source.push(json!({"id": "a"}));
    source.push(json!({"id": "b"}));
    let (config, secrets) = make(json!({"url": source.items_url(), "minutes": 1}));
    let mut state = PollState::new(0);

    let (first, events) = poll_with(&config, &secrets, &state, &mut vec![]);
    assert_eq!(first.outcome, Outcome::Fired);
    assert_eq!(events, [json!({"items": [{"id": "a"}, {"id": "b"}]})]);
    assert_eq!(first.last_id.as_deref(), Some("b"));
    fold(&mut state, first);

    // Unchanged: one conditional request, answered 304, nothing fired.
    let (unchanged, events) = poll_with(&config, &secrets, &state, &mut vec![]);
    assert_eq!(unchanged.outcome, Outcome::Unchanged);
    assert!(events.is_empty());
    let last = source.requests().pop().expect("request");
    assert_eq!(last.status, 304);
    assert!(last.header("If-None-Match").is_some());
    fold(&mut state, unchanged);

    source.set_items(vec![
        json!({"id": "c"}),
        json!({"id": "b"}),
        json!({"id": "a"}),
        json!({"id": "c"}),
    ]);
    let (reordered, events) = poll_with(&config, &secrets, &state, &mut vec![]);
    assert_eq!(events, [json!({"items": [{"id": "c"}]})]);
    assert_eq!(reordered.new_items, 1);
    fold(&mut state, reordered);

    source.set_items(vec![json!({"id": "a"}), json!({"id": "b"})]);
    let (nothing, events) = poll_with(&config, &secrets, &state, &mut vec![]);
    assert_eq!(nothing.outcome, Outcome::NothingNew);
    assert!(events.is_empty(), "a dropped item is remembered");
    fold(&mut state, nothing);
    source.push(json!({"id": "c"}));
    let (back, events) = poll_with(&config, &secrets, &state, &mut vec![]);
    assert!(
        events.is_empty(),
        "an item that comes back is not fired again: {back:?}"
    );
}

#[test]
fn refused_fires_keep_the_rest_for_the_next_tick() {
    let source = JsonSource::start().expect("source");
    for id in ["a", "b", "c"] {
        source.push(json!({"id": id}));
    }
    let (config, secrets) = make(json!({"url": source.items_url(), "minutes": 1, "batch": "each"}));
    let mut state = PollState::new(0);

    // 429 then accepted: backed off and retried within the same poll.
    let (retried, events) = poll_with(
        &config,
        &secrets,
        &state,
        &mut vec![Err(status_error(429)), fired()],
    );
    assert_eq!(retried.outcome, Outcome::Fired);
    assert_eq!(events.len(), 3);

    // A refusal that is not transient stops the poll: b and c wait, validators are dropped.
    let (partial, events) = poll_with(
        &config,
        &secrets,
        &PollState::new(0),
        &mut vec![fired(), Err(status_error(400))],
    );
    assert_eq!(events, [json!({"id": "a"})]);
    assert_eq!(partial.outcome, Outcome::FireFailed);
    assert_eq!(partial.pending_items, 2);
    assert_eq!(partial.validators, Validators::Clear);
    assert!(
        partial
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("2 items"),
        "{partial:?}"
    );
    fold(&mut state, partial);
    let (rest, events) = poll_with(&config, &secrets, &state, &mut vec![]);
    assert_eq!(events, [json!({"id": "b"}), json!({"id": "c"})]);
    assert_eq!(rest.outcome, Outcome::Fired);
}

#[test]
fn a_deleted_trigger_or_refused_key_stops_polling() {
    let source = JsonSource::start().expect("source");
    source.push(json!({"id": "a"}));
    let (config, secrets) = make(json!({"url": source.items_url(), "minutes": 1}));
    for status in [404, 401, 403] {
        let (stopped, events) = poll_with(
            &config,
            &secrets,
            &PollState::new(0),
            &mut vec![Err(status_error(status))],
        );
        assert!(events.is_empty());
        assert_eq!(stopped.outcome, Outcome::Stopped);
        assert_eq!(stopped.known, Some(vec![]));
        let reason = stopped.stop.expect("stop reason");
        assert!(
            reason.contains("/guest/t") && reason.contains(&status.to_string()),
            "{reason}"
        );
    }
}

#[test]
fn source_failures_are_reported_and_keep_the_position() {
    let source = JsonSource::start().expect("source");
    source.push(json!({"id": "a"}));
    let (mut config, secrets) = make(json!({"url": source.items_url(), "minutes": 1}));
    config.timeout_seconds = 1;
    let mut state = PollState::new(0);
    state.seen = vec![id_key("z")];
    for (fault, expected) in [
        (Fault::Status(503), "HTTP 503"),
        (Fault::Garbage, "not JSON"),
        (Fault::Down, "no answer"),
        (
            Fault::Slow(Duration::from_secs(3)),
            "did not finish answering within 1 s, the `timeoutSeconds`",
        ),
    ] {
        source.set_fault(fault);
        let (failed, events) = poll_with(&config, &secrets, &state, &mut vec![]);
        assert!(events.is_empty());
        assert_eq!(failed.outcome, Outcome::SourceFailed);
        assert_eq!(failed.known, None);
        assert_eq!(failed.validators, Validators::Keep);
        assert!(
            failed
                .detail
                .as_deref()
                .unwrap_or_default()
                .contains(expected),
            "{failed:?}"
        );
    }
    source.set_fault(Fault::None);
    source.set_body_shape(Shape::Nested("data.items".into()));
    let (failed, _) = poll_with(&config, &secrets, &state, &mut vec![]);
    assert!(
        failed
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("not a list"),
        "{failed:?}"
    );
}

#[test]
fn credentials_and_headers_reach_the_source() {
    let source = JsonSource::start().expect("source");
    source.push(json!({"id": "a"}));
    source.require_header("Authorization", "Bearer tok-1");
    source.require_header("X-Tenant", "t1");
    let (config, secrets) = make(
        json!({"url": source.items_url(), "minutes": 1, "bearerToken": "tok-1", "headers": {"X-Tenant": "t1"}}),
    );
    let record = baseline(&Http::new(None), &config, &secrets).expect("baseline");
    assert_eq!(record.known, Some(vec![id_key("a")]));
    assert!(matches!(
        record.validators,
        Validators::Set { etag: Some(_), .. }
    ));

    let (config, secrets) = make(json!({"url": source.items_url(), "minutes": 1}));
    let failure = baseline(&Http::new(None), &config, &secrets).expect_err("401");
    assert_eq!(failure.status, Some(401));
    assert_eq!(failure.parameter, Some("url"));

    source.clear_required_headers();
    source.require_header("Authorization", "Basic dTpwdw==");
    let (config, secrets) =
        make(json!({"url": source.items_url(), "minutes": 1, "username": "u", "password": "pw"}));
    assert!(baseline(&Http::new(None), &config, &secrets).is_ok());
}
