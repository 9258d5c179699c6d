//! [`deploy_manifest`]: installs a wskdeploy `manifest.yaml` (packages with their native actions,
//! triggers with feeds, rules) into a namespace, the way `wskdeploy -m manifest.yaml` does it
//! against a real OpenWhisk: packages, then actions, then triggers (a trigger with a feed is
//! created and its feed invoked with `CREATE`; one that exists gets `DELETE` first), then rules
//! (created and set active).

use crate::controller::Controller;
use crate::model::entities::{Code, Exec, NativeCode, SKELETON_IMAGE};
use crate::model::error::Error;
use crate::model::identity::Identity;
use crate::model::names::{EntityName, check_name, check_namespace};
use crate::ops::CommonPut;
use crate::ops::actions::{ActionPut, Invoked, LimitsPut};
use crate::ops::packages::PackagePut;
use crate::ops::rules::RulePut;
use crate::ops::triggers::TriggerPut;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a deployment installed, by name relative to the namespace (within a package, in the
/// alphabetical order in which they were deployed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeployReport {
    /// Packages created or updated (`default` is not one).
    pub packages: Vec<String>,
    /// Actions, as `package/action` (or `action` in the default package).
    pub actions: Vec<String>,
    /// Triggers, with and without feeds.
    pub triggers: Vec<String>,
    /// `trigger <- /ns/pkg/feed` for every trigger whose feed ran `CREATE`.
    pub feeds: Vec<String>,
    /// Rules (created active).
    pub rules: Vec<String>,
}

/// The longest a feed's `CREATE` may take, as a blocking invoke.
const FEED_WAIT: Duration = Duration::from_secs(60);
const DEFAULT_PACKAGE: &str = "default";

struct Deployer<'a> {
    c: &'a Controller,
    ns: String,
    /// The namespace's owner, who deploys.
    owner: Identity,
    manifest: PathBuf,
    dir: PathBuf,
    report: DeployReport,
    vars: Vars<'a>,
}

/// Where `${NAME}` in manifest values is looked up.
type Vars<'a> = &'a dyn Fn(&str) -> Option<String>;

pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn object(value: Option<&Value>) -> impl Iterator<Item = (&String, &Value)> {
    value.and_then(Value::as_object).into_iter().flatten()
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Environment variables as wskdeploy reads them: `${NAME}` anywhere in a value, or a whole
/// value `$NAME`; an unset variable reads as empty.
fn interpolate(text: &str, vars: Vars) -> Value {
    let var = |name: &str| vars(name).unwrap_or_default();
    if let Some(name) = text.strip_prefix('$').filter(|n| is_variable_name(n)) {
        return Value::String(var(name));
    }
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        match after
            .find('}')
            .filter(|end| is_variable_name(&after[..*end]))
        {
            Some(end) => {
                out.push_str(&rest[..start]);
                out.push_str(&var(&after[..end]));
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[..start + 2]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Value::String(out)
}

/// An `inputs` entry: a plain value, or `{type, value|default, description}`.
fn input_value(value: &Value, vars: Vars) -> Value {
    const SPEC_KEYS: [&str; 5] = ["type", "value", "default", "description", "required"];
    match value {
        Value::String(s) => interpolate(s, vars),
        Value::Object(fields)
            if !fields.is_empty()
                && fields.keys().all(|k| SPEC_KEYS.contains(&k.as_str()))
                && ["type", "value", "default"]
                    .iter()
                    .any(|k| fields.contains_key(*k)) =>
        {
            let given = fields.get("value").or_else(|| fields.get("default"));
            match (given, fields.get("type").and_then(Value::as_str)) {
                (Some(v), _) => input_value(v, vars),
                (None, Some("integer" | "int" | "float" | "number")) => json!(0),
                (None, Some("boolean" | "bool")) => json!(false),
                (None, Some("json" | "object")) => json!({}),
                (None, _) => json!(""),
            }
        }
        other => other.clone(),
    }
}

fn inputs(spec: &Value, vars: Vars) -> Map<String, Value> {
    object(spec.get("inputs"))
        .map(|(k, v)| (k.clone(), input_value(v, vars)))
        .collect()
}

fn annotations(spec: &Value) -> Map<String, Value> {
    object(spec.get("annotations"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn truthy_flag(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Bool(b) => Some(b.to_string()),
        Value::String(s) => Some(s.trim().to_ascii_lowercase()),
        _ => None,
    }
}

impl Deployer<'_> {
    fn fail(&self, what: impl std::fmt::Display) -> Error {
        Error::BadRequest(format!("manifest {}: {what}", self.manifest.display()))
    }

    fn context(&self, what: String) -> impl FnOnce(Error) -> Error + '_ {
        move |e| self.fail(format!("{what}: {e}"))
    }

    fn package(&mut self, name: &str, spec: &Value) -> Result<(), Error> {
        if name == DEFAULT_PACKAGE {
            return Ok(());
        }
        let publish = matches!(
            truthy_flag(spec.get("public").or_else(|| spec.get("publish"))).as_deref(),
            Some("true" | "yes")
        );
        let put = PackagePut {
            common: CommonPut {
                publish: Some(publish),
                annotations: Some(annotations(spec)),
                ..CommonPut::default()
            },
            binding: None,
            parameters: Some(inputs(spec, self.vars)),
        };
        let target = EntityName::new(&self.ns, None, name);
        crate::ops::packages::put(self.c, &self.owner, &target, put, true)
            .map_err(self.context(format!("package {name}")))?;
        self.report.packages.push(name.to_string());
        Ok(())
    }

    fn exec(&self, action: &str, spec: &Value) -> Result<Exec, Error> {
        // `docker: IMAGE` makes a blackbox action of that image (wskdeploy and aio alike); only
        // the native runtime's image runs here.
        let docker = spec
            .get("docker")
            .and_then(Value::as_str)
            .filter(|image| !image.is_empty());
        if let Some(image) = docker {
            let name = image.split_once(':').map_or(image, |(name, _tag)| name);
            if name != SKELETON_IMAGE {
                return Err(self.fail(format!(
                    "action {action}: docker image {image} cannot run here: this sandbox runs zips the way {} does",
                    SKELETON_IMAGE
                )));
            }
        }
        let native = docker.is_some()
            || matches!(
                truthy_flag(spec.get("native")).as_deref(),
                Some("true" | "yes")
            )
            || matches!(
                spec.get("runtime")
                    .or_else(|| spec.get("kind"))
                    .and_then(Value::as_str),
                Some("native" | "blackbox")
            );
        if !native {
            let runtime = spec
                .get("runtime")
                .and_then(Value::as_str)
                .unwrap_or("none given");
            return Err(self.fail(format!(
                "action {action}: runtime {runtime} is not supported by this sandbox: only native actions (docker: {}, or native: true; a zip with an `exec`) run here",
                SKELETON_IMAGE
            )));
        }
        let function = spec
            .get("function")
            .or_else(|| spec.get("location"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                self.fail(format!(
                    "action {action}: `function` (the zip's path) is missing"
                ))
            })?;
        let path = self.dir.join(function);
        let bytes = std::fs::read(&path).map_err(|e| {
            self.fail(format!(
                "action {action}: cannot read {}: {e}",
                path.display()
            ))
        })?;
        let code = if bytes.starts_with(b"PK\x03\x04") {
            Code::Zip(bytes.into())
        } else {
            let text = String::from_utf8(bytes).map_err(|_| {
                self.fail(format!(
                    "action {action}: {} is neither a zip nor a script",
                    path.display()
                ))
            })?;
            Code::Text(text.into())
        };
        let main = spec.get("main").and_then(Value::as_str).map(str::to_string);
        let image = docker.unwrap_or(SKELETON_IMAGE);
        Ok(Exec::Native(NativeCode::new(image, code, main)))
    }

    /// `web:` (or, when it is absent, `web-export:`) as wskdeploy applies it (`GetWeb`, then
    /// `webaction.SetWebActionAnnotations`): the three web annotations are set from it and
    /// override the same keys under `annotations:`, so `web-export: true` means raw-http false
    /// whatever `annotations:` says. Without either key, `annotations:` are kept as given.
    fn apply_web_mode(
        &self,
        action: &str,
        spec: &Value,
        notes: &mut Map<String, Value>,
    ) -> Result<(), Error> {
        let given = match spec.get("web") {
            None | Some(Value::Null) => spec.get("web-export"),
            Some(Value::String(s)) if s.is_empty() => spec.get("web-export"),
            web => web,
        };
        let mode = match given {
            None | Some(Value::Null) => return Ok(()),
            // wskdeploy reads the YAML scalar as text: `true`, `yes`, `raw` in any case.
            Some(Value::Bool(b)) => b.to_string(),
            Some(Value::String(s)) if s.is_empty() => return Ok(()),
            Some(Value::String(s)) => s.to_ascii_lowercase(),
            Some(other) => other.to_string(),
        };
        let (export, raw, fixed) = match mode.as_str() {
            "true" | "yes" => (true, false, true),
            "raw" => (true, true, true),
            "false" | "no" => (false, false, false),
            _ => {
                return Err(self.fail(format!(
                    "action {action}: web {mode:?} is not a web mode: give true or yes (a web action), raw (a raw HTTP web action), or false or no"
                )));
            }
        };
        notes.insert("web-export".into(), json!(export));
        notes.insert("raw-http".into(), json!(raw));
        notes.insert("final".into(), json!(fixed));
        Ok(())
    }

    fn action(&mut self, package: &str, name: &str, spec: &Value) -> Result<(), Error> {
        let key = if package == DEFAULT_PACKAGE {
            name.to_string()
        } else {
            format!("{package}/{name}")
        };
        let mut notes = annotations(spec);
        self.apply_web_mode(&key, spec, &mut notes)?;
        let limit = |from: &str| -> Result<Option<u64>, Error> {
            match spec.get("limits").and_then(|l| l.get(from)) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                    self.fail(format!(
                        "action {key}: limits.{from} must be a whole number, not {v}"
                    ))
                }),
            }
        };
        let put = ActionPut {
            limits: LimitsPut {
                timeout_ms: limit("timeout")?,
                memory_mb: limit("memorySize")?,
                logs_mb: limit("logSize")?,
                concurrency: limit("concurrentActivations")?,
            },
            common: CommonPut {
                annotations: Some(notes),
                ..CommonPut::default()
            },
            exec: Some(self.exec(&key, spec)?),
            parameters: Some(inputs(spec, self.vars)),
        };
        let target = EntityName::new(
            &self.ns,
            (package != DEFAULT_PACKAGE).then_some(package),
            name,
        );
        crate::ops::actions::put(self.c, &self.owner, &target, put, true)
            .map_err(self.context(format!("action {key}")))?;
        self.report.actions.push(key);
        Ok(())
    }

    /// Invokes a feed action blocking, as the namespace's owner; its error text on failure.
    fn invoke_feed(&self, feed: &EntityName, params: Map<String, Value>) -> Result<(), String> {
        let invoked =
            crate::ops::actions::invoke(self.c, &self.owner, feed, params, Some(FEED_WAIT))
                .map_err(|e| e.to_string())?;
        match invoked {
            Invoked::Finished(a) if a.success => Ok(()),
            Invoked::Finished(a) => Err(a
                .result
                .get("error")
                .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_string))
                .unwrap_or_else(|| a.status.clone())),
            Invoked::Started(_) => Err(format!(
                "the feed did not answer within {} s",
                FEED_WAIT.as_secs()
            )),
        }
    }

    fn put_trigger(&self, name: &EntityName, put: TriggerPut) -> Result<(), Error> {
        crate::ops::triggers::put(self.c, &self.owner, name, put, true)
            .map(drop)
            .map_err(self.context(format!("trigger {}", name.name)))
    }

    fn trigger(&mut self, name: &str, spec: &Value) -> Result<(), Error> {
        let feed = spec
            .get("feed")
            .or_else(|| spec.get("source"))
            .and_then(Value::as_str);
        let mut notes = annotations(spec);
        let trigger = EntityName::new(&self.ns, None, name);
        let Some(feed) = feed else {
            let put = TriggerPut {
                common: CommonPut {
                    annotations: Some(notes),
                    ..CommonPut::default()
                },
                parameters: Some(inputs(spec, self.vars)),
                limits: None,
            };
            self.put_trigger(&trigger, put)?;
            self.report.triggers.push(name.to_string());
            return Ok(());
        };
        let feed_name = EntityName::parse_reference(feed, &self.ns)
            .map_err(|e| self.fail(format!("trigger {name}: feed {feed:?}: {e}")))?;
        let auth_key = self.owner.auth_key.clone().ok_or_else(|| {
            self.fail(format!(
                "namespace {} has no key in this sandbox to run feeds with",
                self.ns
            ))
        })?;
        let mut params = inputs(spec, self.vars);
        params.insert("authKey".into(), json!(auth_key));
        params.insert("triggerName".into(), json!(format!("/{}/{name}", self.ns)));
        // As wskdeploy: feeds do not update, so an existing trigger's feed is deleted first
        // (its answer does not matter), and so is the trigger.
        if crate::ops::triggers::get(self.c, &self.owner, &trigger).is_ok() {
            let mut delete = params.clone();
            delete.insert("lifecycleEvent".into(), json!("DELETE"));
            let _ = self.invoke_feed(&feed_name, delete);
            let _ = crate::ops::triggers::delete(self.c, &self.owner, &trigger);
        }
        notes.insert("feed".into(), json!(feed));
        let put = TriggerPut {
            common: CommonPut {
                publish: Some(true),
                annotations: Some(notes),
                ..CommonPut::default()
            },
            ..TriggerPut::default()
        };
        self.put_trigger(&trigger, put)?;
        params.insert("lifecycleEvent".into(), json!("CREATE"));
        if let Err(why) = self.invoke_feed(&feed_name, params) {
            let _ = crate::ops::triggers::delete(self.c, &self.owner, &trigger);
            return Err(self.fail(format!(
                "trigger {name}: the feed {} refused CREATE: {why}",
                feed_name.with_slash()
            )));
        }
        self.report.triggers.push(name.to_string());
        self.report
            .feeds
            .push(format!("{name} <- {}", feed_name.with_slash()));
        Ok(())
    }

    fn rule(&mut self, package: &str, name: &str, spec: &Value) -> Result<(), Error> {
        let field = |key: &str| {
            spec.get(key)
                .and_then(Value::as_str)
                .ok_or_else(|| self.fail(format!("rule {name}: `{key}` is missing")))
        };
        let trigger = field("trigger")?;
        let mut action = field("action")?.to_string();
        if !action.contains('/') && package != DEFAULT_PACKAGE {
            action = format!("{package}/{action}");
        }
        let reference = |text: &str| {
            EntityName::parse_reference(text, &self.ns)
                .map_err(|e| self.fail(format!("rule {name}: {text:?}: {e}")))
        };
        let put = RulePut {
            common: CommonPut::default(),
            trigger: Some(reference(trigger)?),
            action: Some(reference(&action)?),
        };
        let rule = EntityName::new(&self.ns, None, name);
        crate::ops::rules::put(self.c, &self.owner, &rule, put, true)
            .map_err(self.context(format!("rule {name}")))?;
        crate::ops::rules::set_active(self.c, &self.owner, &rule, true)
            .map_err(self.context(format!("rule {name}")))?;
        self.report.rules.push(name.to_string());
        Ok(())
    }
}

/// The packages of a manifest: `packages:`, `project: {packages:}` or the older `package:`.
fn packages_of(manifest: &Value) -> Vec<(String, Value)> {
    if let Some(package) = manifest.get("package") {
        let name = package
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_PACKAGE);
        return vec![(name.to_string(), package.clone())];
    }
    let packages = manifest
        .get("packages")
        .or_else(|| manifest.get("project").and_then(|p| p.get("packages")));
    object(packages)
        .map(|(name, spec)| (name.clone(), spec.clone()))
        .collect()
}

/// Deploys a wskdeploy manifest into `namespace` (which must have a key: feeds run with it),
/// with `${NAME}` looked up in `vars`. Paths in the manifest are relative to its directory.
/// Errors name the manifest and the entity; a trigger whose feed refuses `CREATE` is removed
/// again, as wskdeploy does.
pub(crate) fn deploy(
    c: &Controller,
    namespace: &str,
    manifest_path: &Path,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<DeployReport, Error> {
    let manifest = manifest_path.to_path_buf();
    let mut deployer = Deployer {
        vars,
        c,
        ns: namespace.to_string(),
        owner: c.owner_of(namespace),
        dir: manifest.parent().map(Path::to_path_buf).unwrap_or_default(),
        manifest,
        report: DeployReport::default(),
    };
    check_namespace(namespace)?;
    let text = std::fs::read_to_string(&deployer.manifest)
        .map_err(|e| deployer.fail(format!("cannot read it: {e}")))?;
    let document: Value = serde_yaml_ng::from_str(&text)
        .map_err(|e| deployer.fail(format!("not valid YAML: {e}")))?;
    let packages = packages_of(&document);
    if packages.is_empty() {
        return Err(deployer.fail("no packages (expected `packages: {name: {actions: ...}}`)"));
    }
    for (name, spec) in &packages {
        check_name(name).map_err(|e| deployer.fail(format!("package {name:?}: {e}")))?;
        deployer.package(name, spec)?;
    }
    for (package, spec) in &packages {
        if spec.get("sequences").is_some() {
            return Err(deployer.fail(format!(
                "package {package}: sequences are not supported by this sandbox"
            )));
        }
        for (name, action) in object(spec.get("actions")) {
            deployer.action(package, name, action)?;
        }
    }
    for (_, spec) in &packages {
        for (name, trigger) in object(spec.get("triggers")) {
            deployer.trigger(name, trigger)?;
        }
    }
    for (package, spec) in &packages {
        for (name, rule) in object(spec.get("rules")) {
            deployer.rule(package, name, rule)?;
        }
    }
    Ok(deployer.report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_inputs_like_wskdeploy() {
        // PATH is set in any test environment; the other name is not.
        let path = std::env::var("PATH").unwrap_or_default();
        assert_eq!(interpolate("$PATH", &process_env), json!(path));
        assert_eq!(
            interpolate("a ${PATH} b", &process_env),
            json!(format!("a {path} b"))
        );
        assert_eq!(
            interpolate("${SANDBOX_SURELY_UNSET_42}", &process_env),
            json!("")
        );
        assert_eq!(
            interpolate("$5 off ${not a name}", &process_env),
            json!("$5 off ${not a name}")
        );
        assert_eq!(
            input_value(&json!({"type": "integer", "default": 3}), &process_env),
            json!(3)
        );
        assert_eq!(
            input_value(&json!({"type": "boolean"}), &process_env),
            json!(false)
        );
        assert_eq!(
            input_value(&json!({"k": "v"}), &process_env),
            json!({"k": "v"})
        );
    }
}
