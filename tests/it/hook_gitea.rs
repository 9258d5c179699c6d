//! `hook-feed` on Gitea (and Forgejo): the real binary speaking Gitea's dialect to a fake that
//! enforces Gitea's own API description, with every lifecycle event, deliveries signed the way
//! Gitea signs them relayed to the trigger, int64 hook ids, and a create whose answer is
//! unreadable.

use fakes::{FakeGitea, Reply, ScriptedServer};
use serde_json::{Value, json};

use crate::hook_feed::{World, ok};
use crate::support::ActionRun;

const REPO: &str = "gitea-org/app";
const GITEA_TOKEN: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432";

fn gitea() -> FakeGitea {
    let gitea = FakeGitea::start().expect("fake Gitea starts");
    gitea.add_repo(REPO, GITEA_TOKEN);
    gitea
}

/// CREATE's parameters for the fake Gitea: its API root is all that says "Gitea".
fn params(gitea: &FakeGitea, events: &str) -> Value {
    json!({"repository": REPO, "accessToken": GITEA_TOKEN, "baseUrl": gitea.api_url(), "events": events})
}

fn quiet(run: &ActionRun) -> &ActionRun {
    assert!(!run.logs().contains(GITEA_TOKEN), "{}", run.logs());
    run
}

/// The one hook of `trigger` on the fake: its id.
fn hook_of(gitea: &FakeGitea, trigger: &str) -> i64 {
    let hooks: Vec<Value> = gitea
        .hooks(REPO)
        .into_iter()
        .filter(|hook| {
            hook["config"]["url"]
                .as_str()
                .is_some_and(|url| url.contains(&format!("/deliver/guest/{trigger}?")))
        })
        .collect();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    hooks[0]["id"].as_i64().expect("id")
}

#[test]
fn the_whole_lifecycle_on_gitea_through_the_relay() {
    let world = World::start();
    let gitea = gitea();
    world.create_trigger("t");

    let created = world.feed("CREATE", "t", params(&gitea, "push, issues"));
    let result = ok(quiet(&created));
    assert_eq!(result["service"], "gitea");
    let id = hook_of(&gitea, "t");
    assert_eq!(result["hookId"], id);
    let hook = gitea.registered(REPO, id).expect("registered");
    assert!(hook.active, "sent explicitly: Gitea's default is inactive");
    assert_eq!(hook.content_type, "json");
    assert_eq!(hook.branch_filter, "*");
    assert!(
        hook.events.contains(&"push".to_owned()) && hook.events.contains(&"issue_label".to_owned())
    );
    assert!(!hook.secret.is_empty(), "the relay's derived secret");

    // A push, signed as Gitea signs it, reaches the trigger through the relay.
    let push = json!({"ref": "refs/heads/main", "after": "1".repeat(40)});
    let sent = gitea.deliver(REPO, "push", &push);
    assert!(
        sent[0].status.is_some_and(|s| (200..300).contains(&s)),
        "{sent:?}"
    );
    assert_eq!(
        world
            .sandbox
            .fires("guest", "t")
            .last()
            .map(|f| f.payload.clone()),
        Some(json!({"event": "push", "delivery": sent[0].uuid, "payload": push}))
    );

    let read = world.feed("READ", "t", json!({}));
    let read = ok(quiet(&read));
    assert_eq!(read["config"]["service"], "gitea");
    assert_eq!(read["config"]["hookId"], id);
    assert_eq!(read["status"]["active"], true);

    // UPDATE in place, to the issue family in form deliveries: Gitea signs the form's payload.
    let updated = world.feed(
        "UPDATE",
        "t",
        json!({"events": "issues", "contentType": "form"}),
    );
    assert_eq!(ok(quiet(&updated))["hookId"], id);
    let issue = json!({"action": "label_updated", "issue": {"number": 3, "title": "a & b = c?"}});
    let sent = gitea.deliver(REPO, "issue_label", &issue);
    assert!(
        sent[0].status.is_some_and(|s| (200..300).contains(&s)),
        "{sent:?}"
    );
    assert_eq!(
        world
            .sandbox
            .fires("guest", "t")
            .last()
            .map(|f| f.payload.clone()),
        Some(json!({"event": "issues", "delivery": sent[0].uuid, "payload": issue}))
    );
    assert!(
        gitea.deliver(REPO, "push", &push).is_empty(),
        "no longer subscribed to push"
    );

    // PAUSE keeps the events (Gitea resets what an edit leaves out), UNPAUSE restores delivery.
    ok(quiet(&world.feed("PAUSE", "t", json!({}))));
    let paused = gitea.registered(REPO, id).expect("hook");
    assert!(!paused.active);
    assert!(
        paused.events.contains(&"issue_label".to_owned()),
        "{paused:?}"
    );
    assert_eq!(paused.branch_filter, "*");
    assert!(gitea.deliver(REPO, "issue_label", &issue).is_empty());
    let read = world.feed("READ", "t", json!({}));
    assert_eq!(ok(&read)["status"]["reason"]["kind"], "PAUSED");
    ok(quiet(&world.feed("UNPAUSE", "t", json!({}))));
    let resumed = gitea.registered(REPO, id).expect("hook");
    assert!(
        resumed.active && resumed.events == paused.events,
        "{resumed:?}"
    );
    assert_eq!(gitea.deliver(REPO, "issue_comment", &issue).len(), 1);

    let deleted = world.feed("DELETE", "t", json!({}));
    assert_eq!(ok(quiet(&deleted))["removed"], json!([id]));
    assert!(gitea.hooks(REPO).is_empty());
    ok(quiet(&world.feed("DELETE", "t", json!({}))));
    world.assert_activations_keep_secrets(&[GITEA_TOKEN.to_owned(), hook.secret]);
}

#[test]
fn github_s_dialect_is_refused_by_gitea_s_rules() {
    let world = World::start();
    let gitea = gitea();
    world.create_trigger("t");
    let mut forced = params(&gitea, "push");
    forced["service"] = json!("github");
    let created = world.feed("CREATE", "t", forced);
    let error = quiet(&created).error();
    assert!(
        error.contains("HTTP 401") && error.contains("give `service` gitea"),
        "{error}"
    );
    assert!(gitea.hooks(REPO).is_empty());
    let mut named = params(&gitea, "push");
    named["service"] = json!("forgejo");
    ok(quiet(&world.feed("CREATE", "t", named)));
    // Gitea's own event names, not GitHub's.
    let wrong = world.feed(
        "UPDATE",
        "t",
        json!({"events": "pull_request_review_thread"}),
    );
    assert!(
        wrong.error().contains("not a Gitea webhook event"),
        "{}",
        wrong.result
    );
}

#[test]
fn int64_hook_ids_are_read_exactly() {
    let world = World::start();
    let gitea = gitea();
    for (trigger, id) in [("negative", -42_i64), ("beyond", (1_i64 << 53) + 1)] {
        world.create_trigger(trigger);
        gitea.set_next_hook_id(id);
        let created = world.feed("CREATE", trigger, params(&gitea, "push"));
        assert!(
            created.stdout.contains(&format!("\"hookId\":{id}")),
            "{}",
            created.stdout
        );
        for event in ["READ", "PAUSE", "UNPAUSE", "UPDATE"] {
            let run = world.feed(event, trigger, json!({}));
            assert!(
                run.stdout.contains(&id.to_string()),
                "{event}: {}",
                run.stdout
            );
        }
        let deleted = world.feed("DELETE", trigger, json!({}));
        assert!(
            deleted.stdout.contains(&format!("\"removed\":[{id}]")),
            "{}",
            deleted.stdout
        );
    }
    assert!(gitea.hooks(REPO).is_empty());
}

/// A 201 whose body is not a hook: the hook the service made is found by its URL and kept (the
/// feed works as if the answer had been read); when the service made none, the error says that
/// nothing was left behind.
#[test]
fn an_unreadable_answer_to_create_leaves_no_orphan() {
    let world = World::start();
    let gitea = gitea();
    world.create_trigger("t");
    gitea.garble_next_create("<html><body>502 Bad Gateway</body></html>");
    let created = world.feed("CREATE", "t", params(&gitea, "push"));
    let result = ok(quiet(&created));
    let id = hook_of(&gitea, "t");
    assert_eq!(result["hookId"], id);
    assert!(created.stderr.contains("found hook"), "{}", created.stderr);
    let stored = world.stored_config("t").expect("stored");
    assert_eq!(stored["hookUrl"], result["hookUrl"]);
    let push = json!({"ref": "refs/heads/main"});
    assert_eq!(gitea.deliver(REPO, "push", &push).len(), 1);
    assert_eq!(world.fires_with("t", &push), 1);

    // A server that answers 201 with garbage and makes nothing.
    let broken = ScriptedServer::start(|request| match request.method.as_str() {
        "GET" => Reply::json(200, &json!([])),
        _ => Reply::new(201, "text/html", "<html>created?</html>"),
    })
    .expect("server");
    world.create_trigger("t2");
    let mut params = params(&gitea, "push");
    params["baseUrl"] = json!(format!("{}/api/v1", broken.url()));
    let failed = world.feed("CREATE", "t2", params);
    let error = quiet(&failed).error();
    assert!(
        error.contains("answered HTTP 201") && error.contains("nothing was left behind"),
        "{error}"
    );
    assert_eq!(
        broken
            .requests()
            .iter()
            .filter(|r| r.method == "POST")
            .count(),
        1
    );
}
