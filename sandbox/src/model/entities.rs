//! The four kinds of entity the controller stores, and their JSON as the API shows them.

use crate::model::names::EntityName;
use crate::model::params::{Params, to_kv_list};
use base64::Engine;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The kinds of entity a namespace holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityKind {
    /// A trigger (`/triggers`).
    Trigger,
    /// A rule (`/rules`).
    Rule,
    /// An action, in the default package or in a package (`/actions`).
    Action,
    /// A package or a package binding (`/packages`).
    Package,
}

/// `major.minor.patch`; a new entity is `0.0.1` and every update bumps the patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SemVer(pub u32, pub u32, pub u32);

impl SemVer {
    pub const INITIAL: SemVer = SemVer(0, 0, 1);

    pub fn up_patch(self) -> SemVer {
        SemVer(self.0, self.1, self.2 + 1)
    }

    pub fn parse(s: &str) -> Option<SemVer> {
        let mut parts = s.split('.').map(|p| p.parse::<u32>().ok());
        let v = SemVer(parts.next()??, parts.next()??, parts.next()??);
        parts.next().is_none().then_some(v)
    }
}

impl std::fmt::Display for SemVer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// What every entity carries.
#[derive(Debug, Clone)]
pub(crate) struct Common {
    pub version: SemVer,
    pub publish: bool,
    pub annotations: Params,
    pub updated: u64,
}

/// A trigger's record of a rule attached to it; the rule's status lives here, as in OpenWhisk.
#[derive(Debug, Clone)]
pub(crate) struct RuleLink {
    pub action: EntityName,
    pub active: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Trigger {
    pub common: Common,
    pub parameters: Params,
    pub limits: Value,
    /// Keyed by the rule's `ns/name`.
    pub rules: BTreeMap<String, RuleLink>,
}

#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub common: Common,
    pub trigger: EntityName,
    pub action: EntityName,
}

#[derive(Debug, Clone)]
pub(crate) struct Package {
    pub common: Common,
    pub parameters: Params,
    /// For a binding: the bound package (`pkg` is `None`, `name` is the package).
    pub binding: Option<EntityName>,
}

/// The code of a native (blackbox) action, as uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Code {
    /// A zip holding `exec` at its root (`binary: true` in the API, base64 on the wire).
    Zip(Arc<[u8]>),
    /// The text of the `exec` file itself (a script).
    Text(Arc<str>),
}

impl Code {
    /// Whether the API shows the code as a binary (base64) attachment.
    pub fn is_binary(&self) -> bool {
        matches!(self, Code::Zip(_))
    }

    /// The code as the API shows it: base64 of a zip, or the script's text.
    pub fn to_api_string(&self) -> String {
        match self {
            Code::Zip(bytes) => base64::engine::general_purpose::STANDARD.encode(bytes),
            Code::Text(text) => text.to_string(),
        }
    }
}

/// The code of a native (blackbox) action.
#[derive(Debug, Clone)]
pub(crate) struct NativeCode {
    pub image: String,
    pub code: Code,
    pub main: Option<String>,
    /// Distinct for every code upload; names the extracted copy.
    pub code_id: u64,
}

static CODE_IDS: AtomicU64 = AtomicU64::new(1);

/// A new id for uploaded (or reloaded) code, or for a registered built-in action.
pub(crate) fn next_code_id() -> u64 {
    CODE_IDS.fetch_add(1, Ordering::Relaxed)
}

impl NativeCode {
    /// Code uploaded now (it gets a fresh [`NativeCode::code_id`]).
    pub fn new(image: impl Into<String>, code: Code, main: Option<String>) -> NativeCode {
        NativeCode {
            image: image.into(),
            code,
            main,
            code_id: next_code_id(),
        }
    }
}

/// What an action runs: native code, or a built-in action registered with the controller under
/// this id (its implementation lives in the controller, not in the entity).
#[derive(Debug, Clone)]
pub(crate) enum Exec {
    Native(NativeCode),
    Builtin(u64),
}

pub(crate) const BLACKBOX: &str = "blackbox";
pub(crate) const SKELETON_IMAGE: &str = "openwhisk/dockerskeleton";
const BUILTIN_IMAGE: &str = "openwhisk/sandbox-builtin";

#[derive(Debug, Clone, Copy)]
pub(crate) struct ActionLimits {
    pub timeout_ms: u64,
    pub memory_mb: u64,
    pub logs_mb: u64,
    pub concurrency: u64,
}

impl Default for ActionLimits {
    fn default() -> Self {
        ActionLimits {
            timeout_ms: 60_000,
            memory_mb: 256,
            logs_mb: 10,
            concurrency: 1,
        }
    }
}

impl ActionLimits {
    pub fn to_json(self) -> Value {
        json!({
            "timeout": self.timeout_ms,
            "memory": self.memory_mb,
            "logs": self.logs_mb,
            "concurrency": self.concurrency,
        })
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Action {
    pub common: Common,
    pub parameters: Params,
    pub exec: Exec,
    pub limits: ActionLimits,
}

#[derive(Debug, Clone)]
pub(crate) enum Entity {
    Trigger(Trigger),
    Rule(Rule),
    Action(Action),
    Package(Package),
}

impl Entity {
    pub fn kind(&self) -> EntityKind {
        match self {
            Entity::Trigger(_) => EntityKind::Trigger,
            Entity::Rule(_) => EntityKind::Rule,
            Entity::Action(_) => EntityKind::Action,
            Entity::Package(_) => EntityKind::Package,
        }
    }

    pub fn common(&self) -> &Common {
        match self {
            Entity::Trigger(t) => &t.common,
            Entity::Rule(r) => &r.common,
            Entity::Action(a) => &a.common,
            Entity::Package(p) => &p.common,
        }
    }
}

/// The fields every entity shows: namespace, name, version, publish, annotations, updated.
fn base(name: &EntityName, common: &Common) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("namespace".into(), json!(name.path()));
    m.insert("name".into(), json!(name.name));
    m.insert("version".into(), json!(common.version.to_string()));
    m.insert("publish".into(), json!(common.publish));
    m.insert("annotations".into(), to_kv_list(&common.annotations));
    m.insert("updated".into(), json!(common.updated));
    m
}

/// The list view of any entity (what `GET /<collection>` shows per item).
pub(crate) fn summary_json(name: &EntityName, entity: &Entity) -> Value {
    let mut m = base(name, entity.common());
    match entity {
        Entity::Action(a) => {
            m.insert("limits".into(), a.limits.to_json());
            m.insert("exec".into(), json!({ "binary": exec_is_binary(&a.exec) }));
        }
        // The list view says `false` for a package that is not a binding (the controller's
        // `WhiskPackage.summaryAsJson`); clients tell packages from bindings by it.
        Entity::Package(p) => {
            let binding = match &p.binding {
                Some(_) => binding_json(p),
                None => json!(false),
            };
            m.insert("binding".into(), binding);
        }
        Entity::Rule(r) => {
            m.insert("trigger".into(), r.trigger.path_name());
            m.insert("action".into(), r.action.path_name());
        }
        Entity::Trigger(_) => {}
    }
    Value::Object(m)
}

pub(crate) fn trigger_json(name: &EntityName, t: &Trigger) -> Value {
    let mut m = base(name, &t.common);
    m.insert("parameters".into(), to_kv_list(&t.parameters));
    m.insert("limits".into(), t.limits.clone());
    if !t.rules.is_empty() {
        let rules: Map<String, Value> = t
            .rules
            .iter()
            .map(|(rule, link)| {
                let status = if link.active { "active" } else { "inactive" };
                (
                    rule.clone(),
                    json!({ "action": link.action.path_name(), "status": status }),
                )
            })
            .collect();
        m.insert("rules".into(), Value::Object(rules));
    }
    Value::Object(m)
}

pub(crate) fn rule_json(name: &EntityName, r: &Rule, active: bool) -> Value {
    let mut m = base(name, &r.common);
    m.insert("trigger".into(), r.trigger.path_name());
    m.insert("action".into(), r.action.path_name());
    m.insert(
        "status".into(),
        json!(if active { "active" } else { "inactive" }),
    );
    Value::Object(m)
}

fn exec_is_binary(exec: &Exec) -> bool {
    matches!(exec, Exec::Native(native) if native.code.is_binary())
}

pub(crate) fn exec_json(exec: &Exec, include_code: bool) -> Value {
    match exec {
        Exec::Native(native) => {
            let mut m = Map::new();
            m.insert("kind".into(), json!(BLACKBOX));
            m.insert("image".into(), json!(native.image));
            m.insert("binary".into(), json!(native.code.is_binary()));
            if include_code {
                m.insert("code".into(), json!(native.code.to_api_string()));
            }
            if let Some(main) = &native.main {
                m.insert("main".into(), json!(main));
            }
            Value::Object(m)
        }
        Exec::Builtin(_) => json!({ "kind": BLACKBOX, "image": BUILTIN_IMAGE, "binary": false }),
    }
}

/// An action; `parameters` may be the action's own or merged with its package's.
pub(crate) fn action_json(
    name: &EntityName,
    a: &Action,
    parameters: &Params,
    include_code: bool,
) -> Value {
    let mut m = base(name, &a.common);
    m.insert("exec".into(), exec_json(&a.exec, include_code));
    m.insert("parameters".into(), to_kv_list(parameters));
    m.insert("limits".into(), a.limits.to_json());
    Value::Object(m)
}

fn binding_json(p: &Package) -> Value {
    match &p.binding {
        Some(b) => json!({ "namespace": b.ns, "name": b.name }),
        None => json!({}),
    }
}

/// A package, with the actions it holds when given (split into `actions` and `feeds` by the `feed`
/// annotation, as the controller does).
pub(crate) fn package_json(
    name: &EntityName,
    p: &Package,
    parameters: &Params,
    actions: Option<&[(String, &Action)]>,
) -> Value {
    let mut m = base(name, &p.common);
    m.insert("parameters".into(), to_kv_list(parameters));
    m.insert("binding".into(), binding_json(p));
    let Some(actions) = actions else {
        return Value::Object(m);
    };
    let (mut plain, mut feeds) = (Vec::new(), Vec::new());
    for (action_name, a) in actions {
        // `WhiskPackageAction`: name, version and annotations; never the action's parameters
        // (they may hold secrets that readers of the package must not see).
        let item = json!({
            "name": action_name,
            "version": a.common.version.to_string(),
            "annotations": to_kv_list(&a.common.annotations),
        });
        if a.common.annotations.contains_key("feed") {
            feeds.push(item);
        } else {
            plain.push(item);
        }
    }
    m.insert("actions".into(), Value::Array(plain));
    m.insert("feeds".into(), Value::Array(feeds));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_parses_and_bumps() {
        assert_eq!(SemVer::parse("1.2.3"), Some(SemVer(1, 2, 3)));
        assert_eq!(SemVer::parse("1.2"), None);
        assert_eq!(SemVer::parse("1.2.3.4"), None);
        assert_eq!(SemVer::INITIAL.up_patch().to_string(), "0.0.2");
    }
}
