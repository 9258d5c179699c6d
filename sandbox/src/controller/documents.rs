//! How entities and alarms are kept in the state file: one JSON document per entity (an
//! action's code beside it, as bytes) and per alarm. Built-in actions have no document: they
//! live in code (the alarms package is installed at every start).

use crate::model::alarm::Alarm;
use crate::model::entities::{
    Action, ActionLimits, Code, Common, Entity, Exec, NativeCode, Package, Rule, RuleLink, SemVer,
    Trigger,
};
use crate::model::names::{EntityName, SYSTEM_NAMESPACE};
use crate::model::params::Params;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// An entity as stored: its document and, for an action, its code.
#[derive(Clone)]
pub(crate) struct EntityRow {
    pub namespace: String,
    /// `name` or `package/name`.
    pub name: String,
    pub document: String,
    pub code: Option<Arc<[u8]>>,
}

#[derive(Serialize, Deserialize)]
struct SavedEntity {
    namespace: String,
    /// `name` or `package/name`.
    name: String,
    version: String,
    publish: bool,
    annotations: Params,
    updated: u64,
    #[serde(flatten)]
    kind: SavedKind,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum SavedKind {
    Trigger {
        parameters: Params,
        limits: Value,
        /// Rule `ns/name` -> `{"action": "/ns/pkg/a", "active": bool}`.
        rules: BTreeMap<String, SavedLink>,
    },
    Rule {
        trigger: String,
        action: String,
    },
    Action {
        parameters: Params,
        limits: Value,
        exec: SavedExec,
    },
    Package {
        parameters: Params,
        binding: Option<String>,
    },
}

#[derive(Serialize, Deserialize)]
struct SavedLink {
    action: String,
    active: bool,
}

#[derive(Serialize, Deserialize)]
struct SavedExec {
    image: String,
    /// Whether the code (kept beside the document) is a zip, else a script's text.
    binary: bool,
    main: Option<String>,
}

/// The row of an entity; `None` for what is not kept (built-in actions, the system namespace).
pub(crate) fn entity_row(name: &EntityName, entity: &Entity) -> Option<EntityRow> {
    if name.ns == SYSTEM_NAMESPACE {
        return None;
    }
    let common = entity.common();
    let mut code = None;
    let kind = match entity {
        Entity::Trigger(t) => SavedKind::Trigger {
            parameters: t.parameters.clone(),
            limits: t.limits.clone(),
            rules: t
                .rules
                .iter()
                .map(|(rule, link)| {
                    let saved = SavedLink {
                        action: link.action.with_slash(),
                        active: link.active,
                    };
                    (rule.clone(), saved)
                })
                .collect(),
        },
        Entity::Rule(r) => SavedKind::Rule {
            trigger: r.trigger.with_slash(),
            action: r.action.with_slash(),
        },
        Entity::Action(a) => {
            let Exec::Native(native) = &a.exec else {
                return None;
            };
            code = Some(match &native.code {
                Code::Zip(bytes) => bytes.clone(),
                Code::Text(text) => Arc::from(text.as_bytes()),
            });
            SavedKind::Action {
                parameters: a.parameters.clone(),
                limits: a.limits.to_json(),
                exec: SavedExec {
                    image: native.image.clone(),
                    binary: native.code.is_binary(),
                    main: native.main.clone(),
                },
            }
        }
        Entity::Package(p) => SavedKind::Package {
            parameters: p.parameters.clone(),
            binding: p.binding.as_ref().map(|b| format!("/{}/{}", b.ns, b.name)),
        },
    };
    let saved = SavedEntity {
        namespace: name.ns.clone(),
        name: name.key(),
        version: common.version.to_string(),
        publish: common.publish,
        annotations: common.annotations.clone(),
        updated: common.updated,
        kind,
    };
    Some(EntityRow {
        namespace: name.ns.clone(),
        name: name.key(),
        document: serde_json::to_string(&saved).ok()?,
        code,
    })
}

fn reference(text: &str, ns: &str) -> Result<EntityName, String> {
    EntityName::parse_reference(text, ns).map_err(|e| format!("{text:?}: {e}"))
}

/// The entity a row holds; why not, when the row does not read as one.
pub(crate) fn entity_of(row: EntityRow) -> Result<(EntityName, Entity), String> {
    let saved: SavedEntity = serde_json::from_str(&row.document).map_err(|e| e.to_string())?;
    let name = reference(&format!("/{}/{}", saved.namespace, saved.name), "_")?;
    let common = Common {
        version: SemVer::parse(&saved.version).unwrap_or(SemVer::INITIAL),
        publish: saved.publish,
        annotations: saved.annotations,
        updated: saved.updated,
    };
    let ns = saved.namespace.as_str();
    let entity = match saved.kind {
        SavedKind::Trigger {
            parameters,
            limits,
            rules,
        } => {
            let mut links = BTreeMap::new();
            for (rule, link) in rules {
                let action = reference(&link.action, ns)?;
                links.insert(
                    rule,
                    RuleLink {
                        action,
                        active: link.active,
                    },
                );
            }
            Entity::Trigger(Trigger {
                common,
                parameters,
                limits,
                rules: links,
            })
        }
        SavedKind::Rule { trigger, action } => Entity::Rule(Rule {
            common,
            trigger: reference(&trigger, ns)?,
            action: reference(&action, ns)?,
        }),
        SavedKind::Action {
            parameters,
            limits,
            exec,
        } => {
            let number = |key: &str, default: u64| {
                limits.get(key).and_then(Value::as_u64).unwrap_or(default)
            };
            let defaults = ActionLimits::default();
            let bytes = row.code.ok_or("the action's code is missing")?;
            let code = if exec.binary {
                Code::Zip(bytes)
            } else {
                let text = std::str::from_utf8(&bytes).map_err(|e| e.to_string())?;
                Code::Text(Arc::from(text))
            };
            Entity::Action(Action {
                common,
                parameters,
                exec: Exec::Native(NativeCode::new(exec.image, code, exec.main)),
                limits: ActionLimits {
                    timeout_ms: number("timeout", defaults.timeout_ms),
                    memory_mb: number("memory", defaults.memory_mb),
                    logs_mb: number("logs", defaults.logs_mb),
                    concurrency: number("concurrency", defaults.concurrency),
                },
            })
        }
        SavedKind::Package {
            parameters,
            binding,
        } => Entity::Package(Package {
            common,
            parameters,
            // `/ns/package` reads as an entity `package` of `ns`: how bindings are kept.
            binding: binding.map(|b| reference(&b, ns)).transpose()?,
        }),
    };
    Ok((name, entity))
}

/// An alarm's document.
pub(crate) fn alarm_document(alarm: &Alarm) -> String {
    serde_json::to_string(alarm).unwrap_or_default()
}

/// The alarm a document holds.
pub(crate) fn alarm_of(document: &str) -> Result<Alarm, String> {
    serde_json::from_str(document).map_err(|e| e.to_string())
}
