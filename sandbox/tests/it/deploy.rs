//! `deploy_manifest`: a wskdeploy manifest with native zips, a custom feed, an alarms feed,
//! plain triggers and rules, deployed and deployed again; and the errors it names.

use crate::support::{PATIENCE, echo_action, sandbox, script};
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
