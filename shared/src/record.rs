//! What a feed keeps on OpenWhisk entities between its activations.
//!
//! `wsk trigger get/update/delete` send a feed only `triggerName` and `authKey`, so whatever the
//! later lifecycle events need (where the hook is, which token administers it, the settings a
//! poll runs with) is kept on a trigger: the user's own ([`Record`], an annotation) or a helper
//! trigger the feed made. A record's secrets are stored as they are (the trigger is OpenWhisk
//! storage owned by the same user, and later events must send them again): its `Secret` fields
//! carry `#[serde(with = "feedkit::secret::exposed")]`, and every secret read back is masked in
//! the activation's output like the parameters' (see [`crate::secret::collect`]).
//!
//! Writes are `PUT ?overwrite=true` bodies with only the list that changes: OpenWhisk keeps a
//! trigger's `parameters` when a PUT leaves them out, and its `annotations` likewise, so a write
//! of one never undoes a concurrent write of the other.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// A feed's record on the user's trigger, kept under one annotation.
pub trait Record: Serialize + DeserializeOwned {
    /// The annotation that holds it.
    const ANNOTATION: &'static str;
}

/// An entity (trigger, rule, package) as OpenWhisk describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entity(Value);

impl Entity {
    pub fn new(value: Value) -> Self {
        Self(value)
    }

    pub fn as_value(&self) -> &Value {
        &self.0
    }

    /// Its namespace, as the controller resolved it (never `_`).
    pub fn namespace(&self) -> Option<&str> {
        self.0
            .get("namespace")
            .and_then(Value::as_str)
            .map(|namespace| namespace.split('/').next().unwrap_or(namespace))
            .filter(|namespace| !namespace.is_empty() && *namespace != crate::DEFAULT_NAMESPACE)
    }

    pub fn annotation(&self, key: &str) -> Option<&Value> {
        entry(&self.0, "annotations", key)
    }

    pub fn parameter(&self, key: &str) -> Option<&Value> {
        entry(&self.0, "parameters", key)
    }

    /// A trigger's rules: `namespace/name` and whether each is active.
    pub fn rules(&self) -> Vec<(&str, bool)> {
        self.0
            .get("rules")
            .and_then(Value::as_object)
            .map(|rules| {
                rules
                    .iter()
                    .map(|(name, rule)| (name.as_str(), rule["status"] == "active"))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The annotations with `changes` applied (`None` removes a key), the others kept: the
    /// `annotations` of a PUT that changes only these.
    pub fn annotations_with(&self, changes: &[(&str, Option<Value>)]) -> Value {
        replaced(&self.0, "annotations", changes)
    }

    /// The same for `parameters`.
    pub fn parameters_with(&self, changes: &[(&str, Option<Value>)]) -> Value {
        replaced(&self.0, "parameters", changes)
    }
}

fn entry<'a>(entity: &'a Value, list: &str, key: &str) -> Option<&'a Value> {
    entity
        .get(list)?
        .as_array()?
        .iter()
        .find(|entry| entry.get("key").and_then(Value::as_str) == Some(key))
        .and_then(|entry| entry.get("value"))
}

fn replaced(entity: &Value, list: &str, changes: &[(&str, Option<Value>)]) -> Value {
    let mut entries: Vec<Value> = entity
        .get(list)
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter(|entry| {
                    let key = entry.get("key").and_then(Value::as_str);
                    !changes.iter().any(|(changed, _)| Some(*changed) == key)
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    for (key, value) in changes {
        if let Some(value) = value {
            entries.push(json!({ "key": key, "value": value }));
        }
    }
    Value::Array(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_replaces_entries_keeping_the_others() {
        let entity = Entity::new(json!({
            "namespace": "guest/pkg",
            "annotations": [{"key": "feed", "value": "/whisk.system/alarms/interval"}, {"key": "r", "value": 1}],
            "parameters": [{"key": "p", "value": "x"}],
            "rules": {"guest/t-poll-rule": {"status": "active"}, "guest/other": {"status": "inactive"}},
        }));
        assert_eq!(entity.namespace(), Some("guest"));
        assert_eq!(entity.annotation("r"), Some(&json!(1)));
        assert_eq!(entity.parameter("p"), Some(&json!("x")));
        assert_eq!(
            entity.rules(),
            [("guest/other", false), ("guest/t-poll-rule", true)]
        );
        assert_eq!(
            entity.annotations_with(&[("r", None), ("new", Some(json!(true)))]),
            json!([{"key": "feed", "value": "/whisk.system/alarms/interval"}, {"key": "new", "value": true}])
        );
        assert_eq!(Entity::new(json!({"namespace": "_"})).namespace(), None);
    }
}
