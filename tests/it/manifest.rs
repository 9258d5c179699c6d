//! `manifest.yaml` lists exactly the actions that exist, each as the native runtime needs it.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::deployable_copy;

/// The public package users create triggers with, and the private one holding the relay's keys.
const PACKAGE: &str = "feedkit";
const RELAY_PACKAGE: &str = "feedkit-relay";

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every binary of every package under `actions/`, as `cargo metadata` reports them.
fn action_binaries() -> BTreeSet<String> {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata");
    assert!(output.status.success(), "cargo metadata failed");
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("metadata JSON");
    let actions_dir = workspace_root().join("actions");
    let mut binaries = BTreeSet::new();
    for package in metadata["packages"].as_array().expect("packages") {
        let manifest = Path::new(package["manifest_path"].as_str().expect("path"));
        if !manifest.starts_with(&actions_dir) {
            continue;
        }
        for target in package["targets"].as_array().expect("targets") {
            if target["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"))
            {
                binaries.insert(target["name"].as_str().expect("name").to_owned());
            }
        }
    }
    binaries
}

fn manifest() -> Value {
    let text =
        std::fs::read_to_string(workspace_root().join("manifest.yaml")).expect("manifest.yaml");
    serde_yaml_ng::from_str(&text).expect("manifest.yaml is YAML")
}

fn annotation<'a>(action: &'a Value, key: &str) -> &'a Value {
    &action["annotations"][key]
}

#[test]
fn lists_exactly_the_actions_that_exist() {
    let manifest = manifest();
    let packages = manifest["packages"].as_object().expect("packages");
    let mut listed = BTreeSet::new();
    for (package, spec) in packages {
        for (name, action) in spec["actions"].as_object().into_iter().flatten() {
            assert!(listed.insert(name.clone()), "{name} is listed twice");
            assert_eq!(action["function"], format!("dist/{name}.zip"), "{name}");
            // aio refuses a zip without `runtime:` or `docker:` and ignores `native:`; wskdeploy
            // reads both as the native runtime's image.
            assert_eq!(
                action["docker"], "openwhisk/dockerskeleton",
                "{name} must name the native runtime's image for aio"
            );
            assert_eq!(
                action["native"], true,
                "{name} must run on the native runtime"
            );
            assert!(
                action.get("runtime").is_none(),
                "{name}: a runtime kind would not run a static binary"
            );
            let is_feed = name.ends_with("-feed");
            assert_eq!(
                annotation(action, "feed") == &Value::Bool(true),
                is_feed,
                "{name}: feed actions and only they carry `feed: true`"
            );
            if is_feed {
                assert_eq!(package, PACKAGE, "feeds belong in the public package");
                let documented = annotation(action, "parameters");
                assert!(
                    documented.is_array(),
                    "{name}: document the feed's parameters"
                );
            }
        }
    }
    assert_eq!(listed, action_binaries(), "manifest.yaml vs actions/*");
}

#[test]
fn the_relay_and_its_keys_stay_in_a_private_package() {
    let manifest = manifest();
    let relay = &manifest["packages"][RELAY_PACKAGE];
    assert_ne!(
        relay["public"], true,
        "{RELAY_PACKAGE} must not be published"
    );
    assert!(
        relay["inputs"]["relayKeys"].is_string(),
        "relayKeys is bound on {RELAY_PACKAGE}"
    );
    let action = &relay["actions"]["hook-relay"];
    // The relay needs the exact body: a raw web action. `web: raw` is the one spelling both
    // deployers turn into raw-http true (wskdeploy turns an action-level `web-export: true` into
    // raw-http false, overriding annotations; aio ignores `web-export:` altogether).
    assert_eq!(
        action["web"], "raw",
        "the relay is deployed with `web: raw`"
    );
    assert!(
        action.get("web-export").is_none(),
        "no action-level web-export: aio ignores it"
    );
    assert_eq!(
        annotation(action, "final"),
        &Value::Bool(true),
        "no request may override relayKeys (aio sets final only from annotations)"
    );
    let text = std::fs::read_to_string(workspace_root().join("manifest.yaml")).expect("manifest");
    assert_eq!(
        text.matches("relayKeys:").count(),
        1,
        "relayKeys is bound nowhere else"
    );
    let public = &manifest["packages"][PACKAGE];
    assert!(public["actions"]["hook-feed"]["inputs"]["relayUrl"].is_string());
}

#[test]
fn actions_that_call_openwhisk_without_an_auth_key_get_their_own() {
    let manifest = manifest();
    let actions = &manifest["packages"][PACKAGE]["actions"];
    if let Some(poller) = actions.get("pollMyService") {
        assert_eq!(annotation(poller, "provide-api-key"), &Value::Bool(true));
    }
}

/// `manifest.yaml` deployed as wskdeploy deploys it (the sandbox's `deploy_manifest` applies
/// `web:` as wskdeploy's `addWebAnnotations` does): the relay is a raw, final web action.
#[test]
fn the_relay_deploys_as_a_raw_web_action() {
    let dir = deployable_copy();
    let sandbox = sandbox::Sandbox::start(sandbox::Config::default()).expect("sandbox");
    let vars = |name: &str| match name {
        "FEEDKIT_RELAY_KEYS" => Some(
            r#"[{"id": "k1", "key": "bWFuaWZlc3QtdGVzdC1yZWxheS1rZXktMzItYnl0ZXMh"}]"#.to_owned(),
        ),
        _ => Some(format!("http://127.0.0.1:9/{name}")),
    };
    sandbox::deploy_manifest_with_vars(&sandbox, "guest", dir.0.join("manifest.yaml"), &vars)
        .expect("manifest.yaml deploys");
    let url = format!(
        "{}/api/v1/namespaces/guest/actions/{RELAY_PACKAGE}/hook-relay?code=false",
        sandbox.url()
    );
    let key = feedkit::AuthKey::parse(sandbox::GUEST_AUTH_KEY).expect("key");
    let mut response = ureq::get(&url)
        .header("Authorization", key.basic_authorization())
        .call()
        .expect("GET the relay action");
    let action: Value = response.body_mut().read_json().expect("action JSON");
    let deployed = |key: &str| {
        action["annotations"]
            .as_array()
            .and_then(|list| list.iter().find(|a| a["key"] == key))
            .map(|a| a["value"].clone())
    };
    for key in ["web-export", "raw-http", "final"] {
        assert_eq!(deployed(key), Some(Value::Bool(true)), "{key}: {action}");
    }
    let exec = &action["exec"];
    assert_eq!(exec["kind"], "blackbox", "{exec}");
    assert_eq!(exec["image"], "openwhisk/dockerskeleton", "{exec}");
}

/// Each feed's parameters are declared once, as its parameter struct; the manifest (the
/// `parameters` annotation `wsk action get` shows, and the package-bound `inputs`) and the
/// README's section on the feed list exactly those.
#[test]
fn each_feed_s_parameters_are_declared_once_and_documented_as_declared() {
    use feedkit::params::names;
    let manifest = manifest();
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md");
    let feeds = [
        (
            "hook-feed",
            "### Hooks: `hook-feed`",
            names::<hook_feed::HookParams>(),
        ),
        (
            "poll-feed",
            "### Polling:",
            names::<poll_feed::PollParams>(),
        ),
        (
            "changes-feed",
            "### Connections:",
            names::<changes_feed::ChangesParams>(),
        ),
        (
            "alarm-feed",
            "### Alarms: `alarm-feed`",
            names::<alarm_feed::AlarmParams>(),
        ),
    ];
    for (feed, heading, declared) in feeds {
        assert!(!declared.is_empty(), "{feed}: no parameters declared");
        let action = &manifest["packages"][PACKAGE]["actions"][feed];
        let bound: Vec<&str> = action["inputs"]
            .as_object()
            .map(|inputs| inputs.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let documented: Vec<&str> = annotation(action, "parameters")
            .as_array()
            .expect("a parameters annotation")
            .iter()
            .map(|parameter| parameter["name"].as_str().expect("name"))
            .collect();
        let users: Vec<&str> = declared
            .iter()
            .copied()
            .filter(|name| !bound.contains(name))
            .collect();
        assert_eq!(
            documented, users,
            "{feed}: manifest.yaml's parameters annotation lists the parameters users give, in \
             the order the feed declares them"
        );
        for name in &bound {
            assert!(
                declared.contains(name),
                "{feed}: manifest.yaml binds {name}, which the feed does not take"
            );
        }

        // The README's section on the feed names each parameter (in backticks).
        let start = readme.find(heading).expect("the feed's README section");
        let section = &readme[start + heading.len()..];
        let section = &section[..section.find("\n### ").unwrap_or(section.len())];
        let named: BTreeSet<&str> = section
            .split('`')
            .skip(1)
            .step_by(2)
            .flat_map(|span| span.split(['/', ',', ' ']))
            .collect();
        for name in declared {
            assert!(
                named.contains(name),
                "{feed}: the README's section does not name `{name}`"
            );
        }
    }
}
