use super::*;
use serde_json::json;

fn owners() -> Owners {
    Owners {
        trigger: "/guest/t".into(),
        poll_trigger: "/guest/t-poll-alarm".into(),
        rule: "/guest/t-poll-rule".into(),
    }
}

fn patch(params: Value) -> Result<ConfigPatch, ParamError> {
    let params: PollParams =
        feedkit::params::parse(params.as_object().expect("object"), "poll-feed")?;
    Ok(ConfigPatch::from_params(&params))
}

fn create(params: Value) -> Result<(PollConfig, Secrets), ParamError> {
    PollConfig::create(owners(), patch(params)?)
}

#[test]
fn create_applies_defaults() {
    let (config, secrets) =
        create(json!({"url": "http://127.0.0.1:1/items", "minutes": "5"})).expect("valid");
    assert_eq!(config.schedule, Schedule::Interval { minutes: 5 });
    assert_eq!(config.alarm_feed(), INTERVAL_FEED);
    assert!(config.items_path.is_root());
    assert_eq!(config.id_path.as_str(), "id");
    assert_eq!(config.batch, Batch::List);
    assert_eq!(config.start_from, StartFrom::Now);
    assert_eq!(config.max_items_per_fire, 100);
    assert_eq!(config.generation, 1);
    assert_eq!(secrets, Secrets::default());

    let (config, _) = create(json!({
        "url": "https://example.com/feed", "cron": "*/5 * * * *", "timezone": "Europe/Paris",
        "itemsPath": "/data/items", "idPath": "meta.guid", "batch": "EACH", "startFrom": "backlog",
        "maxItemsPerFire": 7, "alarmFeed": "/other/alarms/alarm"
    }))
    .expect("valid");
    assert_eq!(config.alarm_feed(), "/other/alarms/alarm");
    assert_eq!(
        config.schedule.alarm_params(),
        json!({"cron": "*/5 * * * *", "timezone": "Europe/Paris"})
            .as_object()
            .cloned()
            .expect("object")
    );
    assert_eq!(config.batch, Batch::Each);
    assert_eq!(config.start_from, StartFrom::Backlog);
}

#[test]
fn every_bad_parameter_is_named() {
    let base = json!({"url": "http://h/items", "minutes": 1});
    let cases = [
        ("url", Value::Null, "missing parameter `url`"),
        ("url", json!("ftp://h/x"), "invalid parameter `url`"),
        ("url", json!("not a url"), "invalid parameter `url`"),
        (
            "url",
            json!("https://u:hunter2@h/x"),
            "invalid parameter `url`",
        ),
        ("minutes", Value::Null, "missing parameter `minutes`"),
        ("minutes", json!(0), "invalid parameter `minutes`"),
        ("minutes", json!("soon"), "invalid parameter `minutes`"),
        ("minutes", json!(1.5), "invalid parameter `minutes`"),
        ("timezone", json!("UTC"), "invalid parameter `timezone`"),
        ("cron", json!("* * *"), "invalid parameter `cron`"),
        ("itemsPath", json!("a..b"), "invalid parameter `itemsPath`"),
        ("idPath", json!(3), "invalid parameter `idPath`"),
        ("batch", json!("some"), "invalid parameter `batch`"),
        (
            "startFrom",
            json!("yesterday"),
            "invalid parameter `startFrom`",
        ),
        (
            "maxItemsPerFire",
            json!(0),
            "invalid parameter `maxItemsPerFire`",
        ),
        (
            "maxItemsPerFire",
            json!(5000),
            "invalid parameter `maxItemsPerFire`",
        ),
        (
            "timeoutSeconds",
            json!(600),
            "invalid parameter `timeoutSeconds`",
        ),
        (
            "alarmFeed",
            json!("/a/b/c/d"),
            "invalid parameter `alarmFeed`",
        ),
        ("headers", json!(["x"]), "invalid parameter `headers`"),
        (
            "headers",
            json!({"bad name": "v"}),
            "invalid parameter `headers.bad name`",
        ),
        (
            "headers",
            json!({"X-Key": "line\nbreak-hunter2"}),
            "invalid parameter `headers.X-Key`",
        ),
        (
            "headers",
            json!({"X-Key": {"a": 1}}),
            "invalid parameter `headers.X-Key`",
        ),
        ("minuts", json!(5), "invalid parameter `minuts`"),
        ("password", json!("hunter2"), "missing parameter `username`"),
        ("username", json!("me"), "missing parameter `password`"),
    ];
    for (name, value, expected) in cases {
        let mut params = base.clone();
        params[name] = value;
        let error = create(params).expect_err(expected).to_string();
        assert!(error.starts_with(expected), "{name}: {error}");
        assert!(!error.contains("hunter2"), "{error}");
    }
    let both = json!({"url": "http://h/", "minutes": 1, "cron": "* * * * *"});
    assert!(
        create(both)
            .expect_err("both")
            .to_string()
            .contains("`cron`")
    );
    let mixed = json!({"url": "http://h/", "minutes": 1, "username": "u", "password": "p", "bearerToken": "hunter2"});
    let error = create(mixed).expect_err("mixed").to_string();
    assert!(
        error.contains("`bearerToken`") && !error.contains("hunter2"),
        "{error}"
    );
    let header_and_token = json!({"url": "http://h/", "minutes": 1, "bearerToken": "t", "headers": {"authorization": "x"}});
    assert!(create(header_and_token).is_err());
}

#[test]
fn secrets_are_stored_in_clear_and_shown_redacted() {
    let (config, secrets) = create(json!({
        "url": "http://h/items", "minutes": 1, "username": "me", "password": "hunter2",
        "headers": {"X-Api-Key": "k-hunter2", "Accept": "application/json"}
    }))
    .expect("valid");
    let stored = secrets.to_stored();
    assert_eq!(stored["password"], "hunter2");
    assert_eq!(stored["headers"]["X-Api-Key"], "k-hunter2");
    let back = Secrets::from_stored(&stored).expect("secrets");
    assert_eq!(back, secrets);
    let shown = config.redacted_json(&secrets);
    assert_eq!(shown["username"], "me");
    assert_eq!(shown["password"], "********");
    assert_eq!(shown["headers"]["X-Api-Key"], "********");
    assert_eq!(shown["minutes"], 1);
    assert!(!shown.to_string().contains("hunter2"), "{shown}");
}

#[test]
fn update_reports_what_changed_and_keeps_the_rest() {
    let (mut config, mut secrets) =
        create(json!({"url": "http://h/items", "minutes": 1, "bearerToken": "t1"})).expect("valid");
    let changes = config
        .apply(
            &mut secrets,
            &patch(json!({"batch": "each"})).expect("patch"),
        )
        .expect("applied");
    assert_eq!(changes, Changes::default());
    assert_eq!(config.generation, 1);

    let changes = config
        .apply(
            &mut secrets,
            &patch(json!({"cron": "0 * * * *"})).expect("patch"),
        )
        .expect("applied");
    assert!(changes.schedule && !changes.source && !changes.ids);
    assert_eq!(config.alarm_feed(), CRON_FEED);

    let changes = config
        .apply(
            &mut secrets,
            &patch(json!({"timezone": "UTC"})).expect("patch"),
        )
        .expect("applied");
    assert!(changes.schedule);

    let changes = config
        .apply(
            &mut secrets,
            &patch(json!({"url": "http://h/v2"})).expect("patch"),
        )
        .expect("applied");
    assert!(changes.source && !changes.ids);
    assert_eq!(config.generation, 2);

    let changes = config
        .apply(
            &mut secrets,
            &patch(json!({"username": "u", "password": "p"})).expect("patch"),
        )
        .expect("applied");
    assert!(changes.source);
    assert_eq!(
        secrets.bearer_token, None,
        "basic credentials replace the token"
    );

    let changes = config
        .apply(
            &mut secrets,
            &patch(json!({"idPath": "guid"})).expect("patch"),
        )
        .expect("applied");
    assert!(changes.ids && !changes.source);

    let before = (config.clone(), secrets.clone());
    let error = config
        .apply(
            &mut secrets,
            &patch(json!({"minutes": 2, "timezone": "UTC"})).expect("patch"),
        )
        .expect_err("timezone with minutes");
    assert_eq!(error.path(), "timezone");
    assert_eq!((config, secrets), before, "nothing changed on error");
}

#[test]
fn update_can_remove_credentials() {
    let (mut config, mut secrets) =
        create(json!({"url": "http://h/", "minutes": 1, "username": "u", "password": "p"}))
            .expect("valid");
    config
        .apply(
            &mut secrets,
            &patch(json!({"username": "", "password": " "})).expect("patch"),
        )
        .expect("removed");
    assert_eq!(config.username, None);
    assert_eq!(secrets.password, None);
    assert!(patch(json!({})).expect("patch").is_empty());
    assert!(
        !patch(json!({"startFrom": "now"}))
            .expect("patch")
            .is_empty()
    );
}

#[test]
fn stored_configs_read_back_as_written() {
    for params in [
        json!({"url": "http://h/items", "minutes": 5, "username": "me", "password": "p", "itemsPath": "/data/items", "idPath": "meta.id", "batch": "each", "startFrom": "backlog", "maxItemsPerFire": 9, "timeoutSeconds": 3}),
        json!({"url": "http://h/items", "cron": "0 * * * *", "timezone": "UTC", "alarmFeed": "/x/alarms/alarm", "headers": {"A": "b"}}),
    ] {
        let (config, secrets) = create(params).expect("valid");
        let stored = serde_json::to_value(&config).expect("json");
        assert_eq!(PollConfig::from_stored(&stored), Ok(config));
        assert_eq!(Secrets::from_stored(&secrets.to_stored()), Ok(secrets));
    }
    let error = PollConfig::from_stored(&json!({"url": "u"})).expect_err("incomplete");
    assert!(error.contains("pollConfig."), "{error}");
}

#[test]
fn a_config_stored_before_format_existed_reads_json() {
    let (config, _) =
        create(json!({"url": "http://h/feed", "minutes": 5, "format": "rss"})).expect("valid");
    let mut stored = serde_json::to_value(&config).expect("json");
    assert_eq!(stored["format"], "rss");
    assert_eq!(
        PollConfig::from_stored(&stored).map(|c| c.format),
        Ok(Format::Rss)
    );
    stored.as_object_mut().expect("object").remove("format");
    assert_eq!(
        PollConfig::from_stored(&stored).map(|c| c.format),
        Ok(Format::Json)
    );
    stored["format"] = json!("xml");
    let error = PollConfig::from_stored(&stored).expect_err("unknown format");
    assert!(error.contains("pollConfig.format \"xml\""), "{error}");
}
