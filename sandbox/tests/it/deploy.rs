//! `deploy_manifest`: a wskdeploy manifest with native zips, a custom feed, an alarms feed,
//! plain triggers and rules, deployed and deployed again; and the errors it names.

use crate::support::{Api, PATIENCE, echo_action, kv, sandbox, script};
use sandbox::{DeployReport, EntityKind, deploy_manifest};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    static COUNT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "sandbox-it-{name}-{}-{}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("dist")).expect("scratch directory");
    dir
}

/// The test kit: `dist/echo.zip`, `dist/feed.zip` (a feed that appends each lifecycle event
/// to `feed.log` and refuses CREATE when given `fail`), and `manifest.yaml`.
pub fn write_kit(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("dist/echo.zip"), echo_action()).expect("echo.zip");
    let feed = format!(
        r#"IN=$(cat)
EVENT=$(printf '%s' "$IN" | sed -n 's/.*"lifecycleEvent": *"\([A-Z]*\)".*/\1/p')
echo "$EVENT" >> {log}
case "$IN" in
  *'"fail"'*) echo '{{"error": "refused: fail was given"}}' ;;
  *) echo '{{"ok": true}}' ;;
esac"#,
        log = dir.join("feed.log").display()
    );
    std::fs::write(dir.join("dist/feed.zip"), script(&feed)).expect("feed.zip");
    let manifest = dir.join("manifest.yaml");
    std::fs::write(
        &manifest,
        r#"# A kit as wskdeploy takes it.
packages:
  kit:
    version: 0.1.0
    inputs:
      fromPackage: yes
    actions:
      echo:
        function: dist/echo.zip
        native: true
        inputs:
          greeting: hello
          typed: {type: integer, default: 7}
        limits:
          timeout: 5000
      feed:
        function: dist/feed.zip
        native: true
        annotations:
          feed: true
          provide-api-key: true
      web:
        function: dist/echo.zip
        native: true
        web-export: raw
    triggers:
      custom:
        feed: kit/feed
        inputs:
          color: blue
      tick:
        feed: /whisk.system/alarms/interval
        inputs:
          minutes: 1
          trigger_payload: {from: alarm}
      plain:
        inputs:
          p: 1
    rules:
      on-tick:
        trigger: tick
        action: echo
      on-plain:
        trigger: plain
        action: kit/echo
"#,
    )
    .expect("manifest.yaml");
    manifest
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn deploys_a_kit_with_feeds_and_rules_and_deploys_it_again() {
    let dir = scratch("deploy");
    let manifest = write_kit(&dir);
    let sb = sandbox();
    let report = deploy_manifest(&sb, "guest", &manifest).unwrap();
    assert_eq!(
        report,
        DeployReport {
            packages: strings(&["kit"]),
            actions: strings(&["kit/echo", "kit/feed", "kit/web"]),
            triggers: strings(&["custom", "plain", "tick"]),
            feeds: strings(&[
                "custom <- /guest/kit/feed",
                "tick <- /whisk.system/alarms/interval"
            ]),
            rules: strings(&["on-plain", "on-tick"]),
        }
    );
    assert_eq!(
        sb.entity_names("guest", EntityKind::Action),
        ["kit/echo", "kit/feed", "kit/web"]
    );
    let custom = sb.trigger("guest", "custom").unwrap();
    assert_eq!(
        custom["annotations"],
        json!([{"key": "feed", "value": "kit/feed"}])
    );
    assert_eq!(sb.rule("guest", "on-tick").unwrap()["status"], "active");
    assert_eq!(
        sb.rule("guest", "on-tick").unwrap()["action"],
        json!({"path": "guest/kit", "name": "echo"}),
        "a plain action name is in the rule's package"
    );
    let log = std::fs::read_to_string(dir.join("feed.log")).unwrap();
    assert_eq!(log.lines().collect::<Vec<_>>(), ["CREATE"]);

    let alarms = sb.alarms();
    assert_eq!(alarms.len(), 1);
    assert_eq!(alarms[0]["trigger"], "/guest/tick");
    assert_eq!(alarms[0]["config"]["payload"], json!({"from": "alarm"}));
    let fire = sb.tick_alarm("guest", "tick").unwrap();
    assert_eq!(fire.status, 202);
    let cause = fire.activation_id.unwrap();
    let acts = sb.wait_for_activations(
        "guest",
        |a| a.iter().any(|a| a.cause.as_deref() == Some(cause.as_str())),
        PATIENCE,
    );
    let run = acts
        .iter()
        .find(|a| a.cause.as_deref() == Some(cause.as_str()))
        .unwrap();
    assert_eq!(
        run.result,
        json!({"fromPackage": "yes", "greeting": "hello", "typed": 7, "from": "alarm"})
    );

    let again = deploy_manifest(&sb, "guest", &manifest).unwrap();
    assert_eq!(again, report);
    let log = std::fs::read_to_string(dir.join("feed.log")).unwrap();
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        ["CREATE", "DELETE", "CREATE"],
        "an existing feed trigger gets DELETE, then CREATE"
    );
    assert_eq!(
        sb.alarms().len(),
        1,
        "the alarm was deleted and created again"
    );
    assert_eq!(sb.rule("guest", "on-tick").unwrap()["status"], "active");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn deployment_errors_name_the_manifest_and_the_entity() {
    let dir = scratch("deploy-errors");
    write_kit(&dir);
    let sb = sandbox();
    let write = |text: &str| {
        let path = dir.join("bad.yaml");
        std::fs::write(&path, text).unwrap();
        path
    };
    let missing_zip = write(
        "packages:\n  p:\n    actions:\n      a:\n        function: dist/nope.zip\n        native: true\n",
    );
    let err = deploy_manifest(&sb, "guest", &missing_zip)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bad.yaml") && err.contains("action p/a") && err.contains("nope.zip"),
        "{err}"
    );

    let node = write(
        "packages:\n  p:\n    actions:\n      a:\n        function: dist/echo.zip\n        runtime: nodejs:20\n",
    );
    let err = deploy_manifest(&sb, "guest", &node)
        .unwrap_err()
        .to_string();
    assert!(err.contains("only native actions"), "{err}");

    let refused = write(
        "packages:\n  p:\n    actions:\n      feed:\n        function: dist/feed.zip\n        native: true\n    triggers:\n      t:\n        feed: p/feed\n        inputs:\n          fail: true\n",
    );
    let err = deploy_manifest(&sb, "guest", &refused)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("trigger t") && err.contains("refused: fail was given"),
        "{err}"
    );
    assert_eq!(
        sb.trigger("guest", "t"),
        None,
        "the trigger is removed again"
    );

    let bad_alarm = write(
        "packages:\n  p:\n    triggers:\n      t:\n        feed: /whisk.system/alarms/interval\n        inputs:\n          minutes: -1\n",
    );
    let err = deploy_manifest(&sb, "guest", &bad_alarm)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the minutes parameter must be an integer greater than zero"),
        "{err}"
    );

    let not_yaml = write("packages: [unclosed");
    let err = deploy_manifest(&sb, "guest", &not_yaml)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not valid YAML"), "{err}");
    let err = deploy_manifest(&sb, "guest", dir.join("absent.yaml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("absent.yaml") && err.contains("cannot read"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The deployed action's annotations, as `GET /actions/{name}` answers them.
fn annotations_of(sb: &sandbox::Sandbox, action: &str) -> serde_json::Value {
    let r = Api::new(sb, "guest").get(&format!("/namespaces/guest/actions/{action}"));
    assert_eq!(r.status, 200, "{action}: {}", r.text);
    r.body["annotations"].clone()
}

fn web_annotations(sb: &sandbox::Sandbox, action: &str) -> [Option<serde_json::Value>; 3] {
    let notes = annotations_of(sb, action);
    ["web-export", "raw-http", "final"].map(|key| kv(&notes, key).cloned())
}

#[test]
fn web_and_web_export_set_the_web_annotations_as_wskdeploy_does() {
    let dir = scratch("deploy-web");
    std::fs::write(dir.join("dist/echo.zip"), echo_action()).unwrap();
    let manifest = dir.join("manifest.yaml");
    // wskdeploy (webaction.go): `web:` wins over `web-export:`; its value sets web-export,
    // raw-http and final, overriding those keys under `annotations:`.
    std::fs::write(
        &manifest,
        r#"packages:
  kit:
    actions:
      old-relay-shape:
        function: dist/echo.zip
        docker: openwhisk/dockerskeleton
        web-export: true
        annotations: {raw-http: true, final: true}
      raw:
        function: dist/echo.zip
        docker: openwhisk/dockerskeleton
        web: raw
      yes:
        function: dist/echo.zip
        native: true
        web: YES
        annotations: {web-export: false, raw-http: true, final: false}
      web-wins:
        function: dist/echo.zip
        native: true
        web: raw
        web-export: false
      off:
        function: dist/echo.zip
        native: true
        web: no
        annotations: {web-export: true, raw-http: true, final: true, description: kept}
      as-annotated:
        function: dist/echo.zip
        native: true
        annotations: {web-export: true, raw-http: true}
"#,
    )
    .unwrap();
    let sb = sandbox();
    deploy_manifest(&sb, "guest", &manifest).unwrap();
    let (t, f) = (Some(json!(true)), Some(json!(false)));
    assert_eq!(
        web_annotations(&sb, "kit/old-relay-shape"),
        [t.clone(), f.clone(), t.clone()],
        "web-export: true means raw-http false, whatever annotations: says"
    );
    assert_eq!(
        web_annotations(&sb, "kit/raw"),
        [t.clone(), t.clone(), t.clone()]
    );
    assert_eq!(
        web_annotations(&sb, "kit/yes"),
        [t.clone(), f.clone(), t.clone()]
    );
    assert_eq!(
        web_annotations(&sb, "kit/web-wins"),
        [t.clone(), t.clone(), t.clone()]
    );
    assert_eq!(
        web_annotations(&sb, "kit/off"),
        [f.clone(), f.clone(), f.clone()]
    );
    assert_eq!(
        kv(&annotations_of(&sb, "kit/off"), "description"),
        Some(&json!("kept"))
    );
    assert_eq!(
        web_annotations(&sb, "kit/as-annotated"),
        [t.clone(), t.clone(), None],
        "without web: or web-export: the annotations are as given"
    );

    // What that means for a request: the old relay shape no longer gets the raw body.
    let web = Api::with_key(&sb, None);
    let post = |action: &str| {
        web.post(
            &format!("/web/guest/kit/{action}.json"),
            json!({"signed": "body"}),
        )
    };
    let raw = post("raw");
    assert_eq!(raw.status, 200, "{}", raw.text);
    assert!(raw.body["__ow_body"].is_string(), "{}", raw.text);
    let old = post("old-relay-shape");
    assert_eq!(old.status, 200, "{}", old.text);
    assert!(old.body.get("__ow_body").is_none(), "{}", old.text);
    assert_eq!(old.body["signed"], "body", "{}", old.text);
    assert_eq!(post("off").status, 404, "not a web action");

    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "packages:\n  p:\n    actions:\n      a:\n        function: dist/echo.zip\n        native: true\n        web: maybe\n",
    )
    .unwrap();
    let err = deploy_manifest(&sb, "guest", &bad).unwrap_err().to_string();
    assert!(
        err.contains("action p/a") && err.contains("\"maybe\"") && err.contains("raw"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn docker_dockerskeleton_deploys_a_native_action_and_other_images_are_refused() {
    let dir = scratch("deploy-docker");
    std::fs::write(dir.join("dist/echo.zip"), echo_action()).unwrap();
    let manifest = dir.join("manifest.yaml");
    std::fs::write(
        &manifest,
        "packages:\n  p:\n    actions:\n      a:\n        function: dist/echo.zip\n        docker: openwhisk/dockerskeleton\n        inputs: {greeting: hi}\n",
    )
    .unwrap();
    let sb = sandbox();
    deploy_manifest(&sb, "guest", &manifest).unwrap();
    let api = Api::new(&sb, "guest");
    let action = api.get("/namespaces/guest/actions/p/a");
    assert_eq!(action.body["exec"]["kind"], "blackbox", "{}", action.text);
    assert_eq!(action.body["exec"]["image"], "openwhisk/dockerskeleton");
    let run = api.post(
        "/namespaces/guest/actions/p/a?blocking=true&result=true",
        json!({"n": 1}),
    );
    assert_eq!(run.body, json!({"greeting": "hi", "n": 1}), "{}", run.text);

    std::fs::write(
        &manifest,
        "packages:\n  p:\n    actions:\n      a:\n        function: dist/echo.zip\n        docker: someone/node-image\n",
    )
    .unwrap();
    let err = deploy_manifest(&sb, "guest", &manifest)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("action p/a") && err.contains("someone/node-image"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
