//! What the provider refuses or notices: unknown settings, trigger names OpenWhisk forbids, and a
//! watched database deleted and created again. Also what `/metrics` shows.
//!
//! Without node the database test says so and skips.

use serde_json::{Value, json};

use crate::connections::{
    Db, PROVIDER_SECRET, ProviderProcess, create_trigger, feed, fired_ids, has_all, http, names,
    ok, sandbox, wait_until,
};
use crate::couchdb::PouchDb;
use crate::support::TempDir;

fn bearer() -> String {
    format!("Bearer {PROVIDER_SECRET}")
}

/// `PUT /feeds/{path}` with `body`, straight to the provider's API.
fn register(provider: &ProviderProcess, path: &str, body: &Value) -> (u16, Value) {
    let authorization = bearer();
    http(
        "PUT",
        &format!("{}/feeds/{path}", provider.url),
        Some(body),
        &[("Authorization", &authorization)],
    )
}

#[test]
fn unknown_settings_and_names_openwhisk_forbids_are_refused_with_the_reason() {
    let data = TempDir::new("provider-input");
    let provider = ProviderProcess::start(&data.0.join("store"), 0);
    let good = json!({
        "apiHost": "http://127.0.0.1:1",
        "authKey": "uuid:key-secret-part",
        "config": {"database": {"url": "http://127.0.0.1:1", "name": "d"}},
    });
    // A misspelt setting, inside config and inside config.database, is named, not ignored.
    for (pointer, field, expected) in [
        ("/config", "includedocs", "config.includedocs"),
        ("/config/database", "passwd", "config.database.passwd"),
        ("", "sinse", "sinse"),
    ] {
        let mut body = good.clone();
        body.pointer_mut(pointer)
            .and_then(Value::as_object_mut)
            .expect("object")
            .insert(field.into(), json!(true));
        let (status, answer) = register(&provider, "guest/t", &body);
        assert_eq!(status, 400, "{answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(expected) && error.contains("unknown field"),
            "{error}"
        );
    }
    // Names OpenWhisk does not allow: a newline (which could forge a log line), NUL, 1,000
    // characters, a leading space.
    let long = "x".repeat(1000);
    for name in [
        "bad%0Aname%20INFO%20forged",
        "nul%00",
        long.as_str(),
        "%20lead",
    ] {
        let (status, answer) = register(&provider, &format!("guest/{name}"), &good);
        assert_eq!(status, 400, "{name}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains("not one OpenWhisk allows"), "{error}");
        assert!(!error.contains('\n') && error.len() < 300, "{error}");
    }
    let (status, answer) = register(&provider, "_/t", &good);
    assert_eq!(status, 400, "{answer}");
    // The header instances forward READs with is no way in without its token.
    let (status, answer) = http(
        "GET",
        &format!("{}/feeds/guest/t", provider.url),
        None,
        &[("x-provider-forwarded", "1")],
    );
    assert_eq!(status, 401, "{answer}");
    assert_eq!(provider.health()["counts"]["feeds"], 0);
    let logs = provider.logs();
    assert!(!logs.contains("forged"), "{logs}");
    assert!(!logs.contains("key-secret-part"), "{logs}");
}

#[test]
fn a_database_deleted_and_created_again_is_noticed_and_fired_from_its_beginning() {
    let Some(pouch) = PouchDb::start() else {
        return;
    };
    let sb = sandbox();
    let data = TempDir::new("provider-recreated");
    let provider = ProviderProcess::embedded(&data.0.join("store"), 0, &["--recheck-ms", "300"]);
    let db = Db::create(&pouch.url(), "reborn", None);
    create_trigger(&sb, "reborn-changed");
    create_trigger(&sb, "reborn-strict");
    ok(feed(
        &sb,
        &provider.url,
        "CREATE",
        "reborn-changed",
        json!({"dbUrl": pouch.url(), "dbName": "reborn"}),
    ));
    ok(feed(
        &sb,
        &provider.url,
        "CREATE",
        "reborn-strict",
        json!({"dbUrl": pouch.url(), "dbName": "reborn", "ifRecreated": "disable"}),
    ));
    let old = names("old", 600);
    db.bulk(&old);
    wait_until(
        "the old database's changes to fire",
        || has_all(&fired_ids(&sb, "reborn-changed"), &old),
        || provider.logs(),
    );

    // Deleted and created again: its sequence starts over below the feed's position.
    let (status, body) = http("DELETE", &format!("{}/reborn", pouch.url()), None, &[]);
    assert_eq!(status, 200, "{body}");
    // pouchdb-server may still refuse the name for a moment after the deletion (412).
    wait_until(
        "the database to be created again",
        || {
            http(
                "PUT",
                &format!("{}/reborn", pouch.url()),
                Some(&json!({})),
                &[],
            )
            .0 == 201
        },
        || provider.logs(),
    );
    let db = Db {
        url: pouch.url(),
        name: "reborn".into(),
        credentials: None,
    };
    let mut read = Value::Null;
    let mut strict = Value::Null;
    wait_until(
        "both feeds to notice that the database was re-created",
        || {
            read = ok(feed(
                &sb,
                &provider.url,
                "READ",
                "reborn-changed",
                json!({}),
            ));
            strict = ok(feed(&sb, &provider.url, "READ", "reborn-strict", json!({})));
            read["status"]["recreated"].is_object() && strict["status"]["state"] == "disabled"
        },
        || provider.logs(),
    );
    let recreated = &read["status"]["recreated"];
    assert_eq!(recreated["policy"], "beginning", "{read}");
    assert_eq!(recreated["previousPosition"], 600, "{read}");
    assert!(
        recreated["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{read}"
    );
    assert_eq!(read["status"]["state"], "active");

    // The default policy fires the new database from its first change: nothing is skipped.
    let new = names("new", 1000);
    db.bulk(&new);
    wait_until(
        "every change of the new database to fire",
        || has_all(&fired_ids(&sb, "reborn-changed"), &new),
        || provider.logs(),
    );
    // The `disable` policy stopped the other feed and says why.
    assert!(
        strict["status"]["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("ifRecreated: disable")),
        "{strict}"
    );
    assert!(
        fired_ids(&sb, "reborn-strict")
            .iter()
            .all(|id| id.starts_with("old-"))
    );

    // /metrics counts all this.
    let metrics = provider.metrics();
    for expected in [
        "provider_databases_recreated_total ",
        "provider_feeds{state=\"active\"} 1",
        "provider_feeds{state=\"disabled\"} 1",
        "provider_feed_lag_seconds{feed=\"/guest/reborn-changed\"}",
        "provider_buckets_held 1",
    ] {
        assert!(metrics.contains(expected), "{expected}\n{metrics}");
    }
    // The sandbox records a fire before it answers: the last answers may still be on their way.
    wait_until(
        "every fired change to be counted",
        || provider.metric("provider_fired_changes_total") >= 2200.0,
        || provider.metrics(),
    );
    assert!(
        provider.metric("provider_databases_recreated_total") >= 2.0,
        "{metrics}"
    );
}

#[test]
fn secrets_are_sealed_at_rest_and_a_rotated_provider_key_seals_them_again() {
    let Some(pouch) = PouchDb::start() else {
        return;
    };
    let sb = sandbox();
    let data = TempDir::new("provider-rotation");
    let store = data.0.join("store");
    let keys = data.0.join("keys");
    let old_key = "k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let new_key = "k2 ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
    std::fs::write(&keys, format!("{old_key}\n")).expect("key file");
    let key_file = keys.display().to_string();
    let start = || ProviderProcess::embedded(&store, 0, &["--key-file", &key_file]);
    let provider = start();
    let db = Db::create(&pouch.url(), "vault", None);
    create_trigger(&sb, "vault-changed");
    ok(feed(
        &sb,
        &provider.url,
        "CREATE",
        "vault-changed",
        json!({"dbUrl": pouch.url(), "dbName": "vault"}),
    ));
    db.put("before");
    wait_until(
        "the first change to fire",
        || fired_ids(&sb, "vault-changed").contains("before"),
        || provider.logs(),
    );
    // The owner's key is nowhere in the store's files.
    let secret = sb.auth_key("guest");
    let secret = secret.split_once(':').map(|(_, s)| s).unwrap_or_default();
    for entry in std::fs::read_dir(&store).expect("store") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("file");
        assert!(
            !String::from_utf8_lossy(&bytes).contains(secret),
            "{} holds the key",
            path.display()
        );
    }
    provider.stop();

    // Rotation: the new key first, the old one kept to open what it sealed.
    std::fs::write(&keys, format!("{new_key}\n{old_key}\n")).expect("key file");
    let provider = start();
    wait_until(
        "every feed to be sealed with the new key",
        || {
            provider.metrics().contains("provider_feeds_running 1")
                && provider.metric("provider_feeds_sealed_with_old_key") == 0.0
        },
        || provider.logs(),
    );
    provider.stop();
    // The old key can go: the feed still runs.
    std::fs::write(&keys, format!("{new_key}\n")).expect("key file");
    let provider = start();
    db.put("after");
    wait_until(
        "the feed to fire under the new key alone",
        || fired_ids(&sb, "vault-changed").contains("after"),
        || provider.logs(),
    );
    assert!(!provider.logs().contains(secret), "the key was logged");
}
