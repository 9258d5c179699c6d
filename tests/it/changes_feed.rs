//! The Connections pattern end to end: the `changes-provider` binary, the `changes-feed` action
//! binary run as the native runtime runs it, a Sandbox OpenWhisk, and a real CouchDB-compatible
//! server (pouchdb-server, in memory: `crate::couchdb`).
//!
//! Without node these tests say so and skip.

use feedkit::QualifiedName;
use serde_json::{Value, json};

use crate::connections::{
    Db, OTHER_KEY, Outage, PROVIDER_SECRET, ProviderProcess, client, create_trigger, feed,
    fired_ids, free_port, has_all, http, names, now_millis, ok, sandbox, trigger_name, wait_until,
};
use crate::couchdb::PouchDb;
use crate::support::{TempDir, action_zip, run_action, workspace_bin};

// --- the tests ---

#[test]
fn changes_fire_through_pause_unpause_a_provider_crash_and_delete() {
    let Some(pouch) = PouchDb::start() else {
        return;
    };
    let sb = sandbox();
    let data = TempDir::new("provider");
    let mut provider = ProviderProcess::start(&data.0.join("store"), 0);
    let db = Db::create(&pouch.url(), "orders", None);
    create_trigger(&sb, "orders-changed");
    // A second feed on the same database, never paused: once it has fired a change, the first
    // would have fired it too had it been running.
    create_trigger(&sb, "control");

    let created = ok(feed(
        &sb,
        &provider.url,
        "CREATE",
        "orders-changed",
        json!({"dbUrl": pouch.url(), "dbName": "orders", "includeDocs": true}),
    ));
    assert_eq!(created["trigger"], "/guest/orders-changed");
    assert_eq!(created["status"]["state"], "active");
    ok(feed(
        &sb,
        &provider.url,
        "CREATE",
        "control",
        json!({"dbUrl": pouch.url(), "dbName": "orders", "since": "now"}),
    ));

    // Each change fires the trigger with the change (and the document, with includeDocs).
    let first = names("first", 3);
    for id in &first {
        db.put(id);
    }
    wait_until(
        "the first changes to fire",
        || has_all(&fired_ids(&sb, "orders-changed"), &first),
        || provider.logs(),
    );
    // Fires are pipelined, so they may reach OpenWhisk in any order.
    let fires = sb.fires("guest", "orders-changed");
    let event = &fires
        .iter()
        .find(|fire| fire.payload["id"] == "first-000")
        .expect("the first change's fire")
        .payload;
    assert_eq!(event["dbname"], "orders");
    assert_eq!(event["doc"]["kind"], "test");
    assert!(
        event["seq"].is_number() || event["seq"].is_string(),
        "{event}"
    );

    let read = ok(feed(
        &sb,
        &provider.url,
        "READ",
        "orders-changed",
        json!({}),
    ));
    assert_eq!(read["config"]["database"]["name"], "orders");
    assert_eq!(read["config"]["includeDocs"], true);
    assert_eq!(read["status"]["active"], true);
    assert!(read["status"]["lastFire"]["at"].is_number(), "{read}");
    assert!(read["status"]["changesFired"].as_u64() >= Some(3), "{read}");

    // PAUSE: nothing fires while paused...
    let paused = ok(feed(
        &sb,
        &provider.url,
        "PAUSE",
        "orders-changed",
        json!({}),
    ));
    assert_eq!(paused["status"]["state"], "paused");
    let before_pause = sb.fires("guest", "orders-changed").len();
    let missed = names("missed", 2);
    for id in &missed {
        db.put(id);
    }
    wait_until(
        "the control feed to fire the changes made during the pause",
        || has_all(&fired_ids(&sb, "control"), &missed),
        || provider.logs(),
    );
    assert_eq!(sb.fires("guest", "orders-changed").len(), before_pause);
    let read = ok(feed(
        &sb,
        &provider.url,
        "READ",
        "orders-changed",
        json!({}),
    ));
    assert_eq!(read["status"]["state"], "paused");
    assert_eq!(read["status"]["reason"], "paused by the user");

    // ... and UNPAUSE fires what was missed.
    ok(feed(
        &sb,
        &provider.url,
        "UNPAUSE",
        "orders-changed",
        json!({}),
    ));
    wait_until(
        "the missed changes to fire after UNPAUSE",
        || has_all(&fired_ids(&sb, "orders-changed"), &missed),
        || provider.logs(),
    );

    // UPDATE changes the settings and resumes where the feed was: nothing lost, no replay.
    let updated = ok(feed(
        &sb,
        &provider.url,
        "UPDATE",
        "orders-changed",
        json!({"includeDocs": false}),
    ));
    assert_eq!(updated["config"]["includeDocs"], false);
    let before_update = sb.fires("guest", "orders-changed").len();
    db.put("after-update");
    wait_until(
        "the change after UPDATE to fire",
        || fired_ids(&sb, "orders-changed").contains("after-update"),
        || provider.logs(),
    );
    let fires = sb.fires("guest", "orders-changed");
    let new_fires: Vec<&Value> = fires[before_update..]
        .iter()
        .map(|fire| &fire.payload)
        .collect();
    assert_eq!(new_fires.len(), 1, "{new_fires:?}");
    assert_eq!(new_fires[0]["id"], "after-update");
    assert!(new_fires[0].get("doc").is_none(), "{}", new_fires[0]);

    // The provider is killed while changes are being written, and restarted: every change
    // fires at least once.
    let burst = names("burst", 150);
    let writer = {
        let (db, burst) = (db.clone(), burst.clone());
        std::thread::spawn(move || {
            for id in &burst {
                db.put(id);
            }
        })
    };
    wait_until(
        "some of the burst to fire",
        || {
            let fired = fired_ids(&sb, "orders-changed");
            burst.iter().filter(|id| fired.contains(*id)).count() >= 3
        },
        || provider.logs(),
    );
    let log_before_kill = provider.logs();
    let port = provider.kill();
    provider = ProviderProcess::start(&data.0.join("store"), port);
    writer.join().expect("writer");
    wait_until(
        "every change of the burst to fire after the restart",
        || {
            has_all(&fired_ids(&sb, "orders-changed"), &burst)
                && has_all(&fired_ids(&sb, "control"), &burst)
        },
        || format!("{log_before_kill}\n--- restarted ---\n{}", provider.logs()),
    );
    let health = provider.health();
    assert_eq!(health["counts"]["feeds"], 2, "{health}");
    assert_eq!(health["feeds"]["/guest/orders-changed"]["state"], "active");

    // DELETE: the feed is gone and fires no more.
    let deleted = ok(feed(
        &sb,
        &provider.url,
        "DELETE",
        "orders-changed",
        json!({}),
    ));
    assert_eq!(deleted["deleted"], true);
    let after_delete = sb.fires("guest", "orders-changed").len();
    db.put("after-delete");
    wait_until(
        "the control feed to fire the change after DELETE",
        || fired_ids(&sb, "control").contains("after-delete"),
        || provider.logs(),
    );
    assert_eq!(sb.fires("guest", "orders-changed").len(), after_delete);
    let read = feed(&sb, &provider.url, "READ", "orders-changed", json!({}));
    assert!(
        read.error().contains("no changes feed is registered"),
        "{}",
        read.logs()
    );
    // DELETE again (as after a failed CREATE) succeeds.
    let again = ok(feed(
        &sb,
        &provider.url,
        "DELETE",
        "orders-changed",
        json!({}),
    ));
    assert_eq!(again["deleted"], false);
    assert_eq!(provider.health()["counts"]["feeds"], 1);

    let key_secret = sb.auth_key("guest");
    let key_secret = key_secret
        .split_once(':')
        .map(|(_, s)| s)
        .unwrap_or_default();
    let logs = format!("{log_before_kill}{}", provider.logs());
    assert!(!logs.contains(key_secret), "the provider logged a key");
    assert!(
        !logs.contains(PROVIDER_SECRET),
        "the provider logged its secret"
    );
}

#[test]
fn wrong_credentials_are_refused_and_a_database_outage_loses_no_change() {
    let Some(pouch) = PouchDb::start() else {
        return;
    };
    let db_password = "db-pass-7a1c9e";
    let (status, body) = http(
        "PUT",
        &format!("{}/_config/admins/admin", pouch.url()),
        Some(&json!(db_password)),
        &[],
    );
    assert_eq!(status, 200, "{body}");
    let db = Db::create(&pouch.url(), "things", Some(("admin", db_password)));
    let (status, body) = db.call(
        "PUT",
        "/_security",
        Some(&json!({"members": {"names": ["admin"], "roles": []}, "admins": {"names": [], "roles": []}})),
    );
    assert_eq!(status, 200, "{body}");

    let sb = sandbox();
    let data = TempDir::new("provider");
    let provider = ProviderProcess::start(&data.0.join("store"), 0);
    let mut outage = Outage::new(pouch.port);
    create_trigger(&sb, "things-changed");

    // Wrong credentials: CREATE says which parameters to fix, and never echoes the password.
    let refused = feed(
        &sb,
        &provider.url,
        "CREATE",
        "things-changed",
        json!({"dbUrl": outage.url(), "dbName": "things", "username": "admin", "password": "wrong-pw-42"}),
    );
    assert!(
        refused.error().contains("`username`/`password`"),
        "{}",
        refused.logs()
    );
    assert!(!refused.logs().contains("wrong-pw-42"));
    let no_credentials = feed(
        &sb,
        &provider.url,
        "CREATE",
        "things-changed",
        json!({"dbUrl": outage.url(), "dbName": "things"}),
    );
    assert!(
        no_credentials.error().contains("credentials")
            || no_credentials.error().contains("may not read"),
        "{}",
        no_credentials.logs()
    );
    // The CLI then deletes the trigger, which sends DELETE: nothing to delete is fine.
    let cleanup = ok(feed(
        &sb,
        &provider.url,
        "DELETE",
        "things-changed",
        json!({}),
    ));
    assert_eq!(cleanup["deleted"], false);

    // Credentials in the URL work and are never shown.
    let with_credentials = format!("http://admin:{db_password}@127.0.0.1:{}", outage.port);
    let created = feed(
        &sb,
        &provider.url,
        "CREATE",
        "things-changed",
        json!({"dbUrl": with_credentials, "dbName": "things", "since": 0}),
    );
    assert!(!created.logs().contains(db_password), "{}", created.logs());
    let created = ok(created);
    assert_eq!(created["config"]["database"]["url"], outage.url());
    assert_eq!(created["config"]["database"]["username"], "admin");
    assert_eq!(created["config"]["database"]["password"], "********");
    db.put("before-outage");
    wait_until(
        "the first change to fire",
        || fired_ids(&sb, "things-changed").contains("before-outage"),
        || provider.logs(),
    );

    // The database goes away: the feed notices and says so in READ...
    outage.down();
    wait_until(
        "READ to report the lost connection",
        || {
            let read = ok(feed(
                &sb,
                &provider.url,
                "READ",
                "things-changed",
                json!({}),
            ));
            read["status"]["connected"] == false
                && read["status"]["lastError"]["message"]
                    .as_str()
                    .is_some_and(|message| message.contains("not reachable"))
        },
        || provider.logs(),
    );
    // ... changes made meanwhile are not lost: they fire once it is back.
    let during = names("during-outage", 3);
    for id in &during {
        db.put(id);
    }
    outage.up();
    wait_until(
        "the changes made during the outage to fire",
        || has_all(&fired_ids(&sb, "things-changed"), &during),
        || provider.logs(),
    );
    let read = ok(feed(
        &sb,
        &provider.url,
        "READ",
        "things-changed",
        json!({}),
    ));
    assert_eq!(read["status"]["state"], "active");
    assert!(read["status"]["connects"].as_u64() >= Some(2), "{read}");
    let shown = read.to_string();
    assert!(!shown.contains(db_password), "{shown}");
    assert!(
        !provider.logs().contains(db_password),
        "the provider logged the database password"
    );
    ok(feed(
        &sb,
        &provider.url,
        "DELETE",
        "things-changed",
        json!({}),
    ));
}

#[test]
fn rate_limited_fires_are_retried_and_a_deleted_trigger_disables_its_feed() {
    let Some(pouch) = PouchDb::start() else {
        return;
    };
    let sb = sandbox();
    let data = TempDir::new("provider");
    let provider = ProviderProcess::start(&data.0.join("store"), 0);
    let busy = Db::create(&pouch.url(), "busy", None);
    let doomed = Db::create(&pouch.url(), "doomed", None);
    create_trigger(&sb, "busy-changed");
    create_trigger(&sb, "doomed-changed");
    ok(feed(
        &sb,
        &provider.url,
        "CREATE",
        "busy-changed",
        json!({"dbUrl": pouch.url(), "dbName": "busy", "maxChangesPerFire": 50, "selector": {"kind": "bulk"}}),
    ));
    ok(feed(
        &sb,
        &provider.url,
        "CREATE",
        "doomed-changed",
        json!({"dbUrl": pouch.url(), "dbName": "doomed"}),
    ));

    // OpenWhisk answers 429 twice: the batch is fired again until it is taken.
    sb.fail_next_fires("guest", "busy-changed", 429, 2);
    let bulk = names("bulk", 20);
    busy.bulk(&bulk);
    busy.put("not-selected");
    wait_until(
        "the batched changes to fire despite the 429s",
        || has_all(&fired_ids(&sb, "busy-changed"), &bulk),
        || provider.logs(),
    );
    let fires = sb.fires("guest", "busy-changed");
    assert_eq!(fires.iter().filter(|fire| fire.status == 429).count(), 2);
    for fire in fires.iter().filter(|fire| fire.status < 300) {
        assert_eq!(fire.payload["dbname"], "busy");
        assert!(fire.payload["results"].is_array(), "{}", fire.payload);
        assert!(fire.payload["last_seq"].is_number(), "{}", fire.payload);
    }
    assert!(!fired_ids(&sb, "busy-changed").contains("not-selected"));
    let read = ok(feed(&sb, &provider.url, "READ", "busy-changed", json!({})));
    assert_eq!(read["status"]["state"], "active");
    assert!(read["status"]["failedFires"].as_u64() >= Some(2), "{read}");
    assert_eq!(read["config"]["maxChangesPerFire"], 50);
    assert_eq!(read["config"]["selector"], json!({"kind": "bulk"}));

    // The trigger is deleted behind the feed's back: the next fire gets 404 and the feed is
    // disabled with that reason, which READ (with the owner's key) shows.
    client(&sb)
        .delete_trigger(&trigger_name("doomed-changed"))
        .expect("delete trigger");
    doomed.put("orphan");
    let mut last = Value::Null;
    wait_until(
        "the feed to be disabled",
        || {
            last = ok(feed(
                &sb,
                &provider.url,
                "READ",
                "doomed-changed",
                json!({}),
            ));
            last["status"]["state"] == "disabled"
        },
        || provider.logs(),
    );
    assert_eq!(last["status"]["active"], false);
    assert!(
        last["status"]["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("no longer exists") && reason.contains("404")),
        "{last}"
    );
    // Without the trigger, another user's key may neither read nor delete the feed.
    for event in ["READ", "DELETE"] {
        let params = json!({
            "lifecycleEvent": event,
            "triggerName": "/guest/doomed-changed",
            "authKey": OTHER_KEY,
            "providerUrl": provider.url,
            "providerSecret": PROVIDER_SECRET,
        });
        let deadline = (now_millis() + 60_000).to_string();
        let api_host = sb.url();
        let env = [
            ("__OW_API_HOST", api_host.as_str()),
            ("__OW_NAMESPACE", "other"),
            ("__OW_DEADLINE", deadline.as_str()),
        ];
        let run = run_action(&workspace_bin("changes-feed"), &params, &env);
        assert!(
            run.error()
                .contains("not the one its feed was created with")
                || run.error().contains("may not read"),
            "{event}: {}",
            run.logs()
        );
    }
    let deleted = ok(feed(
        &sb,
        &provider.url,
        "DELETE",
        "doomed-changed",
        json!({}),
    ));
    assert_eq!(deleted["deleted"], true);
    assert_eq!(provider.health()["counts"]["feeds"], 1);
}

#[test]
fn bad_parameters_and_unreachable_services_are_named() {
    let sb = sandbox();
    let data = TempDir::new("provider");
    let provider = ProviderProcess::start(&data.0.join("store"), 0);
    create_trigger(&sb, "t");
    let cases = [
        (json!({"dbName": "d"}), "missing parameter `dbUrl`"),
        (
            json!({"dbUrl": "http://127.0.0.1:1"}),
            "missing parameter `dbName`",
        ),
        (
            json!({"dbUrl": "http://127.0.0.1:1", "dbName": "d", "dbname": "x"}),
            "invalid parameter `dbname`",
        ),
        (
            json!({"dbUrl": "http://127.0.0.1:1", "dbName": "d", "maxChangesPerFire": 5000}),
            "invalid parameter `maxChangesPerFire`",
        ),
        (
            json!({"dbUrl": "http://127.0.0.1:1", "dbName": "d", "filter": "a/b", "selector": {"a": 1}}),
            "not both",
        ),
        (
            json!({"dbUrl": "http://u:topsecret@127.0.0.1:1", "dbName": "d"}),
            "is not reachable",
        ),
    ];
    for (params, expected) in cases {
        let run = feed(&sb, &provider.url, "CREATE", "t", params);
        assert!(run.error().contains(expected), "{expected}: {}", run.logs());
        assert!(!run.logs().contains("topsecret"), "{}", run.logs());
    }
    let mut params = json!({
        "lifecycleEvent": "READ",
        "triggerName": "/_/t",
        "authKey": sb.auth_key("guest"),
        "providerUrl": provider.url,
        "providerSecret": "not-the-secret",
    });
    let deadline = (now_millis() + 60_000).to_string();
    let api_host = sb.url();
    let env = [
        ("__OW_API_HOST", api_host.as_str()),
        ("__OW_NAMESPACE", "guest"),
        ("__OW_DEADLINE", deadline.as_str()),
    ];
    let run = run_action(&workspace_bin("changes-feed"), &params, &env);
    assert!(run.error().contains("`providerSecret`"), "{}", run.logs());
    assert!(!run.logs().contains("not-the-secret"));
    params["providerSecret"] = json!(PROVIDER_SECRET);
    params["triggerName"] = json!("/_/no-such-trigger");
    let run = run_action(&workspace_bin("changes-feed"), &params, &env);
    assert!(
        run.error().contains("no changes feed is registered")
            || run.error().contains("does not exist"),
        "{}",
        run.logs()
    );
    params["triggerName"] = json!("/_/t");
    params["providerUrl"] = json!(format!("http://127.0.0.1:{}", free_port()));
    let run = run_action(&workspace_bin("changes-feed"), &params, &env);
    assert!(
        run.error().contains("changes provider") && run.error().contains("not reachable"),
        "{}",
        run.logs()
    );
    let update = feed(&sb, &provider.url, "UPDATE", "t", json!({}));
    assert!(
        update.error().contains("at least one parameter"),
        "{}",
        update.logs()
    );
}

#[test]
fn runs_as_a_native_action_with_the_provider_bound_to_its_package() {
    let Some(pouch) = PouchDb::start() else {
        return;
    };
    let sb = sandbox();
    let data = TempDir::new("provider");
    let provider = ProviderProcess::start(&data.0.join("store"), 0);
    let db = Db::create(&pouch.url(), "events", None);
    // As deployed: the provider's URL and secret are bound to the package, users never give them.
    sb.put_package(
        "guest",
        "changes",
        json!({"providerUrl": provider.url, "providerSecret": PROVIDER_SECRET}),
        json!({}),
        false,
    )
    .expect("package");
    sb.put_native_action(
        "guest",
        "changes/changes-feed",
        action_zip("changes-feed"),
        json!({}),
        json!({"feed": true}),
    )
    .expect("action");
    create_trigger(&sb, "events-changed");
    let client = client(&sb);
    let action = QualifiedName::parse("/guest/changes/changes-feed").expect("name");
    let protocol = |event: &str, extra: Value| {
        let mut params = json!({
            "lifecycleEvent": event,
            "triggerName": "/_/events-changed",
            "authKey": sb.auth_key("guest"),
        });
        if let (Some(params), Value::Object(extra)) = (params.as_object_mut(), extra) {
            params.extend(extra);
        }
        params
    };

    // A design-document filter, and documents written before the feed exists.
    db.put_doc(
        "_design/app",
        json!({"filters": {"only_kept": "function (doc, req) { return doc.keep === true; }"}}),
    );
    db.put_doc("old-kept", json!({"keep": true}));
    db.put_doc("old-dropped", json!({"keep": false}));
    let missing = client
        .invoke_action(
            &action,
            &protocol(
                "CREATE",
                json!({"dbUrl": pouch.url(), "dbName": "events", "filter": "app/missing"}),
            ),
        )
        .expect_err("no such filter");
    assert!(missing.to_string().contains("`filter`"), "{missing}");

    let created = client
        .invoke_action(
            &action,
            &protocol(
                "CREATE",
                json!({"dbUrl": pouch.url(), "dbName": "events", "filter": "app/only_kept", "since": "beginning"}),
            ),
        )
        .expect("CREATE succeeds");
    assert_eq!(created["status"]["state"], "active");
    assert_eq!(created["config"]["filter"], "app/only_kept");
    db.put_doc("e0", json!({"keep": false}));
    db.put_doc("e1", json!({"keep": true}));
    wait_until(
        "the kept changes to fire, old and new",
        || {
            let fired = fired_ids(&sb, "events-changed");
            fired.contains("old-kept") && fired.contains("e1")
        },
        || provider.logs(),
    );
    let fired = fired_ids(&sb, "events-changed");
    assert_eq!(
        fired.into_iter().collect::<Vec<_>>(),
        ["e1", "old-kept"],
        "the filter passes only kept documents"
    );
    let read = client
        .invoke_action(&action, &protocol("READ", json!({})))
        .expect("READ succeeds");
    assert_eq!(read["config"]["database"]["name"], "events");
    let error = client
        .invoke_action(
            &action,
            &protocol("UPDATE", json!({"maxChangesPerFire": -1})),
        )
        .expect_err("an application error");
    assert_eq!(error.status(), Some(502));
    assert!(error.to_string().contains("`maxChangesPerFire`"), "{error}");
    let deleted = client
        .invoke_action(&action, &protocol("DELETE", json!({})))
        .expect("DELETE succeeds");
    assert_eq!(deleted["deleted"], true);

    // What OpenWhisk keeps of the activations holds neither the provider's secret nor the key.
    let key = sb.auth_key("guest");
    let key_secret = key
        .split_once(':')
        .map(|(_, secret)| secret)
        .unwrap_or_default();
    let activations = sb.activations("guest");
    assert!(activations.len() >= 4, "{activations:?}");
    for activation in activations {
        let kept = format!("{}\n{}", activation.logs.join("\n"), activation.result);
        assert!(!kept.contains(PROVIDER_SECRET), "{kept}");
        assert!(!kept.contains(key_secret), "{kept}");
    }
}
