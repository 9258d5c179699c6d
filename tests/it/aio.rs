//! The kit deployed by a real deployer and used by a real client: `manifest.yaml` deployed to the
//! sandbox program with Adobe's `aio runtime deploy` (the aio CLI's runtime plugin from npm, run
//! as aio runs it: tests/aio/aio.cjs), then one feed of each pattern created, read and deleted
//! through the official OpenWhisk JavaScript client's `feeds` API (tests/aio/feeds.mjs), as a
//! user's code would. The npm packages are pinned in tests/aio and installed on first use.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use fakes::{FakeGitHub, JsonSource};
use feedkit::AuthKey;
use serde_json::{Value, json};

use crate::connections::{PROVIDER_SECRET, ProviderProcess};
use crate::couchdb::PouchDb;
use crate::support::{SandboxProgram, TempDir, deployable_copy};

const RELAY_KEYS: &str =
    r#"[{"id": "aio1", "key": "YWlvLWRlcGxveS10ZXN0LXJlbGF5LWtleS0zMi1ieXRlcyE="}]"#;
const GITHUB_TOKEN: &str = "aio-test-token-with-admin-hook-scope";

fn packages() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/aio")
}

/// `GET /feeds/guest/{trigger}` on the provider: its registration, or `None` (404).
fn registration(provider: &ProviderProcess, trigger: &str) -> Option<Value> {
    let (status, body) = http(
        &format!("{}/feeds/guest/{trigger}", provider.url),
        &format!("Bearer {PROVIDER_SECRET}"),
    );
    match status {
        200 => Some(body),
        404 => None,
        _ => panic!("the provider answered {status}: {body}"),
    }
}

/// One GET: the status and the JSON body (`Null` when it is not JSON).
fn http(url: &str, authorization: &str) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut response = agent
        .get(url)
        .header("Authorization", authorization)
        .call()
        .unwrap_or_else(|error| panic!("GET {url}: {error}"));
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The sandbox program with the kit deployed by aio, and what a user's client needs.
struct Deployed {
    program: SandboxProgram,
}

impl Deployed {
    /// `GET /api/v1/namespaces/guest/{path}` with the guest key.
    fn get(&self, path: &str) -> (u16, Value) {
        let key = AuthKey::parse(sandbox::GUEST_AUTH_KEY).expect("key");
        http(
            &format!("{}/api/v1/namespaces/guest/{path}", self.program.url),
            &key.basic_authorization(),
        )
    }

    /// `node feeds.mjs STEP FEED TRIGGER PARAMS`: the feed action's result as the client got it.
    fn feed(&self, step: &str, feed: &str, trigger: &str, params: Value) -> Value {
        let output = Command::new("node")
            .arg("feeds.mjs")
            .args([step, feed, trigger, &params.to_string()])
            .current_dir(packages())
            .env("SANDBOX_URL", &self.program.url)
            .env("SANDBOX_KEY", sandbox::GUEST_AUTH_KEY)
            .stdin(Stdio::null())
            .output()
            .expect("node runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let answer: Value = stdout
            .lines()
            .last()
            .and_then(|line| serde_json::from_str(line).ok())
            .unwrap_or(Value::Null);
        assert!(
            output.status.success() && answer.get("result").is_some(),
            "{step} {feed} {trigger} through the JS client failed:\n{stdout}\n{}\nsandbox log:\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.program.log()
        );
        for secret in [GITHUB_TOKEN, PROVIDER_SECRET] {
            assert!(!stdout.contains(secret), "{secret} in the answer: {stdout}");
        }
        answer["result"].clone()
    }

    fn exists(&self, collection: &str, name: &str) -> bool {
        match self.get(&format!("{collection}/{name}")) {
            (200, _) => true,
            (404, _) => false,
            (status, body) => panic!("GET {collection}/{name}: {status} {body}"),
        }
    }
}

/// `aio runtime deploy -m manifest.yaml` in the folder holding the manifest and its `dist/`,
/// with an environment and a home of its own: no aio login, config file or `.wskprops` but
/// what aio reads from `AIO_RUNTIME_*`.
fn aio_deploy(program: &SandboxProgram, dir: &Path, provider_url: &str) -> String {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).expect("home");
    let relay_url = format!(
        "{}/api/v1/web/guest/feedkit-relay/hook-relay.http",
        program.url
    );
    let output = Command::new("node")
        .arg(packages().join("aio.cjs"))
        .args(["runtime", "deploy", "-m", "manifest.yaml"])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("WSK_CONFIG_FILE", home.join(".wskprops"))
        .env("AIO_RUNTIME_APIHOST", &program.url)
        .env("AIO_RUNTIME_AUTH", sandbox::GUEST_AUTH_KEY)
        .env("AIO_RUNTIME_NAMESPACE", "guest")
        .env("FEEDKIT_RELAY_URL", relay_url)
        .env("FEEDKIT_RELAY_KEYS", RELAY_KEYS)
        .env("CHANGES_PROVIDER_URL", provider_url)
        .env("CHANGES_PROVIDER_SECRET", PROVIDER_SECRET)
        .stdin(Stdio::null())
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "aio runtime deploy failed:\n{stdout}\n{}\nsandbox log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        program.log()
    );
    stdout
}

fn annotation(entity: &Value, key: &str) -> Value {
    entity["annotations"]
        .as_array()
        .and_then(|list| list.iter().find(|a| a["key"] == key))
        .map(|a| a["value"].clone())
        .unwrap_or(Value::Null)
}

#[test]
fn aio_deploys_the_manifest_and_the_js_client_runs_a_feed_of_each_pattern() {
    match npm_packages::install(&packages()) {
        Ok(()) => {}
        Err(npm_packages::InstallError::NodeMissing(why)) => {
            eprintln!("SKIPPED: {why}; the aio and JavaScript client test needs it");
            return;
        }
        Err(error) => panic!("{error}"),
    }
    let Some(couchdb) = PouchDb::start() else {
        return;
    };
    let provider_data = TempDir::new("aio-provider");
    let provider = ProviderProcess::start(&provider_data.0.join("store"), 0);
    let program = SandboxProgram::start(["--port", "0"], &[]);
    let dir = deployable_copy();
    let said = aio_deploy(&program, &dir.0, &provider.url);
    assert!(
        said.contains("Success: Deployment completed successfully."),
        "{said}"
    );
    let kit = Deployed { program };

    // As aio deployed them: every action the native image; the relay a raw web action.
    for action in [
        "feedkit/hook-feed",
        "feedkit/poll-feed",
        "feedkit/pollMyService",
        "feedkit/changes-feed",
        "feedkit-relay/hook-relay",
    ] {
        let (status, entity) = kit.get(&format!("actions/{action}?code=false"));
        assert_eq!(status, 200, "{action}: {entity}");
        assert_eq!(
            entity["exec"],
            json!({"kind": "blackbox", "image": "openwhisk/dockerskeleton", "binary": true}),
            "{action}"
        );
    }
    let (_, relay) = kit.get("actions/feedkit-relay/hook-relay?code=false");
    for key in ["web-export", "raw-http", "final"] {
        assert_eq!(annotation(&relay, key), true, "{key}: {relay}");
    }
    let (_, hook_feed) = kit.get("actions/feedkit/hook-feed?code=false");
    assert_eq!(annotation(&hook_feed, "feed"), true, "{hook_feed}");
    assert_eq!(annotation(&hook_feed, "web-export"), false, "{hook_feed}");

    // Hooks: the webhook appears on the (fake) GitHub, pointing at the relay; a signed delivery
    // passes the relay as aio deployed it; DELETE removes the hook.
    let github = FakeGitHub::start().expect("fake GitHub");
    github.add_repo("team/app", GITHUB_TOKEN);
    let created = kit.feed(
        "create",
        "feedkit/hook-feed",
        "pushes",
        json!({"repository": "team/app", "accessToken": GITHUB_TOKEN, "baseUrl": github.url(), "events": "push"}),
    );
    assert_eq!(created["deliveryMode"], "relay", "{created}");
    let hooks = github.hooks("team/app");
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    let hook_url = hooks[0]["config"]["url"].as_str().unwrap_or_default();
    assert!(
        hook_url.starts_with(&format!(
            "{}/api/v1/web/guest/feedkit-relay/hook-relay.http/deliver/",
            kit.program.url
        )),
        "{hook_url}"
    );
    github.wait_idle(Duration::from_secs(30));
    let deliveries = github.deliver("team/app", "push", &json!({"ref": "refs/heads/main"}));
    assert_eq!(deliveries.len(), 1);
    // No rule is attached, so the relay (a raw web action, or it could not check the
    // signature) accepts the delivery and says the trigger has no active rule.
    assert_eq!(
        deliveries[0].status,
        Some(200),
        "the relay refused a signed delivery: {:?}\nsandbox log:\n{}",
        deliveries[0],
        kit.program.log()
    );
    assert!(
        deliveries[0].response_body.contains("accepted"),
        "{:?}",
        deliveries[0]
    );
    let read = kit.feed("get", "feedkit/hook-feed", "pushes", json!({}));
    assert_eq!(read["config"]["repository"], "team/app", "{read}");
    assert_eq!(read["config"]["deliveryMode"], "relay", "{read}");
    assert_eq!(read["status"]["active"], true, "{read}");
    kit.feed("delete", "feedkit/hook-feed", "pushes", json!({}));
    assert!(
        github.hooks("team/app").is_empty(),
        "DELETE removed the hook"
    );
    assert!(!kit.exists("triggers", "pushes"));

    // Polling: the helper alarm trigger (alarms feed) and the rule to pollMyService appear;
    // READ shows the configuration; DELETE removes both.
    let source = JsonSource::start().expect("JSON source");
    source.set_items(vec![json!({"id": "a"})]);
    let created = kit.feed(
        "create",
        "feedkit/poll-feed",
        "news",
        json!({"url": source.items_url(), "minutes": 5}),
    );
    assert!(created.get("error").is_none(), "{created}");
    let (status, alarm) = kit.get("triggers/news-poll-alarm");
    assert_eq!(status, 200, "{alarm}");
    assert_eq!(
        annotation(&alarm, "feed"),
        "/whisk.system/alarms/interval",
        "{alarm}"
    );
    let (status, rule) = kit.get("rules/news-poll-rule");
    assert_eq!(status, 200, "{rule}");
    assert_eq!(rule["status"], "active", "{rule}");
    assert_eq!(rule["action"]["name"], "pollMyService", "{rule}");
    let read = kit.feed("get", "feedkit/poll-feed", "news", json!({}));
    assert_eq!(read["config"]["url"], source.items_url(), "{read}");
    assert_eq!(read["status"]["active"], true, "{read}");
    kit.feed("delete", "feedkit/poll-feed", "news", json!({}));
    for (collection, name) in [
        ("triggers", "news-poll-alarm"),
        ("rules", "news-poll-rule"),
        ("triggers", "news"),
    ] {
        assert!(!kit.exists(collection, name), "{collection}/{name} is left");
    }

    // Connections: the provider registers the trigger with the database to watch; DELETE
    // unregisters it.
    ureq_put(&format!("{}/orders", couchdb.url()));
    let created = kit.feed(
        "create",
        "feedkit/changes-feed",
        "orders",
        json!({"dbUrl": couchdb.url(), "dbName": "orders", "includeDocs": true}),
    );
    assert!(created.get("error").is_none(), "{created}");
    let registered = registration(&provider, "orders").expect("the provider holds the feed");
    assert_eq!(
        registered["config"]["database"]["name"], "orders",
        "{registered}"
    );
    let read = kit.feed("get", "feedkit/changes-feed", "orders", json!({}));
    assert_eq!(read["config"]["database"]["name"], "orders", "{read}");
    assert_eq!(read["status"]["active"], true, "{read}");
    kit.feed("delete", "feedkit/changes-feed", "orders", json!({}));
    assert_eq!(
        registration(&provider, "orders"),
        None,
        "DELETE unregistered it"
    );
    assert!(!kit.exists("triggers", "orders"));
}

/// `PUT URL` with an empty JSON body (creates a CouchDB database).
fn ureq_put(url: &str) {
    let response = ureq::put(url)
        .send_json(json!({}))
        .unwrap_or_else(|error| panic!("PUT {url}: {error}"));
    assert_eq!(response.status().as_u16(), 201, "PUT {url}");
}
