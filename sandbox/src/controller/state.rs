//! The state file ([`Config::state_file`](crate::Config::state_file)): every entity (actions
//! with their code, packages, triggers with their rules' status, rules) and every alarm, as one
//! JSON document. It is loaded at start and rewritten atomically (a temporary file renamed over
//! it) shortly after each change; activation records and fire logs are not kept. Built-in
//! actions are not saved: they live in code (the alarms package is installed at every start).

use super::Controller;
use super::alarm_table::alarm_key;
use crate::model::alarm::Alarm;
use crate::model::entities::{
    Action, ActionLimits, Code, Common, Entity, Exec, NativeCode, Package, Rule, RuleLink, SemVer,
    Trigger,
};
use crate::model::names::{EntityName, SYSTEM_NAMESPACE};
use crate::model::params::Params;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

const FORMAT_VERSION: u32 = 1;
/// How often the saver looks for changes.
const SAVE_POLL: Duration = Duration::from_millis(100);

#[derive(Serialize, Deserialize)]
struct StateFile {
    version: u32,
    entities: Vec<SavedEntity>,
    alarms: Vec<Alarm>,
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
    code: String,
    binary: bool,
    main: Option<String>,
}

/// Why the state file could not be used.
fn problem(path: &Path, what: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("state file {}: {what}", path.display()),
    )
}

fn save_entity(name: &EntityName, entity: &Entity) -> Option<SavedEntity> {
    let common = entity.common();
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
            SavedKind::Action {
                parameters: a.parameters.clone(),
                limits: a.limits.to_json(),
                exec: SavedExec {
                    image: native.image.clone(),
                    code: native.code.to_api_string(),
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
    Some(SavedEntity {
        namespace: name.ns.clone(),
        name: name.key(),
        version: common.version.to_string(),
        publish: common.publish,
        annotations: common.annotations.clone(),
        updated: common.updated,
        kind,
    })
}

fn reference(text: &str, ns: &str, path: &Path) -> std::io::Result<EntityName> {
    EntityName::parse_reference(text, ns).map_err(|e| problem(path, format!("{text:?}: {e}")))
}

fn load_entity(saved: SavedEntity, path: &Path) -> std::io::Result<(EntityName, Entity)> {
    let name = reference(&format!("/{}/{}", saved.namespace, saved.name), "_", path)?;
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
                let action = reference(&link.action, ns, path)?;
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
            trigger: reference(&trigger, ns, path)?,
            action: reference(&action, ns, path)?,
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
            let code = if exec.binary {
                let zip = base64::engine::general_purpose::STANDARD
                    .decode(exec.code.trim())
                    .map_err(|e| problem(path, format!("the code of {}: {e}", name.key())))?;
                Code::Zip(zip.into())
            } else {
                Code::Text(exec.code.into())
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
            binding: binding.map(|b| reference(&b, ns, path)).transpose()?,
        }),
    };
    Ok((name, entity))
}

/// Loads the state file into a fresh controller (a missing file is an empty state).
pub(crate) fn load(c: &Controller, path: &Path) -> std::io::Result<()> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(problem(path, e)),
    };
    let state: StateFile = serde_json::from_slice(&text).map_err(|e| problem(path, e))?;
    if state.version != FORMAT_VERSION {
        return Err(problem(
            path,
            format!("unknown format version {}", state.version),
        ));
    }
    let mut entities = Vec::new();
    for saved in state.entities {
        entities.push(load_entity(saved, path)?);
    }
    c.write(|store| {
        for (name, entity) in entities {
            store.insert(&name, entity);
        }
        Ok(())
    })
    .map_err(|e| problem(path, e))?;
    let now = crate::clock::now_ms();
    c.alarms.update(|alarms| {
        for mut alarm in state.alarms {
            alarm.reschedule(now);
            alarms.insert(alarm_key(&alarm.namespace, &alarm.trigger), alarm);
        }
    });
    Ok(())
}

/// The whole state as JSON bytes.
fn snapshot(c: &Controller) -> Vec<u8> {
    let entities = c
        .store()
        .all()
        .into_iter()
        .filter(|(name, _)| name.ns != SYSTEM_NAMESPACE)
        .filter_map(|(name, entity)| save_entity(&name, entity))
        .collect();
    let alarms = c.alarms.lock().values().cloned().collect();
    let state = StateFile {
        version: FORMAT_VERSION,
        entities,
        alarms,
    };
    serde_json::to_vec(&state).unwrap_or_else(|_| json!({}).to_string().into_bytes())
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut temporary = PathBuf::from(path);
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    temporary.set_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)
}

/// The saver thread: writes the state after every change, and once more at shutdown.
pub(crate) fn run_saver(c: &Controller, path: &Path) {
    let mut saved = None;
    let mut last_error = None;
    loop {
        let stopping = c.is_shutting_down();
        let generation = (c.store().generation(), c.alarms.generation());
        if saved != Some(generation) {
            match write_atomically(path, &snapshot(c)) {
                Ok(()) => {
                    saved = Some(generation);
                    last_error = None;
                }
                Err(e) => {
                    let message = e.to_string();
                    if last_error.as_ref() != Some(&message) {
                        eprintln!(
                            "sandbox: cannot save the state to {}: {message}",
                            path.display()
                        );
                    }
                    last_error = Some(message);
                }
            }
        }
        if stopping {
            return;
        }
        std::thread::sleep(SAVE_POLL);
    }
}
