//! The entity store: per namespace, one map of names to entities. Triggers, rules, actions and
//! packages share that name space, as they share document ids in OpenWhisk's database.

use crate::model::entities::{Action, Entity, EntityKind, Package, Rule, Trigger};
use crate::model::error::{Error, messages};
use crate::model::names::EntityName;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Default)]
pub(crate) struct Store {
    namespaces: HashMap<String, BTreeMap<String, Entity>>,
    /// What was changed (or mutably borrowed) since [`Store::take_changed`]: the state file
    /// saves these.
    changed: Vec<EntityName>,
}

fn conformance() -> Error {
    Error::Conflict(messages::CONFORMANCE.into())
}

impl Store {
    pub fn get(&self, name: &EntityName) -> Option<&Entity> {
        self.namespaces.get(&name.ns)?.get(&name.key())
    }

    pub fn get_mut(&mut self, name: &EntityName) -> Option<&mut Entity> {
        self.changed.push(name.clone());
        self.namespaces.get_mut(&name.ns)?.get_mut(&name.key())
    }

    pub fn insert(&mut self, name: &EntityName, entity: Entity) {
        self.changed.push(name.clone());
        self.namespaces
            .entry(name.ns.clone())
            .or_default()
            .insert(name.key(), entity);
    }

    pub fn remove(&mut self, name: &EntityName) -> Option<Entity> {
        self.changed.push(name.clone());
        self.namespaces.get_mut(&name.ns)?.remove(&name.key())
    }

    /// The names changed since the last call, each once, in the order of their first change.
    pub fn take_changed(&mut self) -> Vec<EntityName> {
        let mut seen = std::collections::HashSet::new();
        std::mem::take(&mut self.changed)
            .into_iter()
            .filter(|name| seen.insert(name.clone()))
            .collect()
    }

    /// The entity of `kind` by that name: 404 when absent, 409 when the name holds another kind.
    pub fn expect(&self, name: &EntityName, kind: EntityKind) -> Result<&Entity, Error> {
        match self.get(name) {
            None => Err(Error::not_found()),
            Some(e) if e.kind() != kind => Err(conformance()),
            Some(e) => Ok(e),
        }
    }

    /// Fails with 409 when the name is taken by another kind (before a PUT).
    pub fn check_free_for(&self, name: &EntityName, kind: EntityKind) -> Result<(), Error> {
        match self.get(name) {
            Some(e) if e.kind() != kind => Err(conformance()),
            _ => Ok(()),
        }
    }

    pub fn trigger(&self, name: &EntityName) -> Result<&Trigger, Error> {
        match self.expect(name, EntityKind::Trigger)? {
            Entity::Trigger(t) => Ok(t),
            _ => Err(conformance()),
        }
    }

    pub fn trigger_mut(&mut self, name: &EntityName) -> Option<&mut Trigger> {
        match self.get_mut(name)? {
            Entity::Trigger(t) => Some(t),
            _ => None,
        }
    }

    pub fn rule(&self, name: &EntityName) -> Result<&Rule, Error> {
        match self.expect(name, EntityKind::Rule)? {
            Entity::Rule(r) => Ok(r),
            _ => Err(conformance()),
        }
    }

    pub fn action(&self, name: &EntityName) -> Result<&Action, Error> {
        match self.expect(name, EntityKind::Action)? {
            Entity::Action(a) => Ok(a),
            _ => Err(conformance()),
        }
    }

    pub fn package(&self, name: &EntityName) -> Result<&Package, Error> {
        match self.expect(name, EntityKind::Package)? {
            Entity::Package(p) => Ok(p),
            _ => Err(conformance()),
        }
    }

    /// Every entity of `kind` in a namespace, by name. Actions include those in packages.
    pub fn list(&self, ns: &str, kind: EntityKind) -> Vec<(EntityName, &Entity)> {
        let Some(entities) = self.namespaces.get(ns) else {
            return Vec::new();
        };
        entities
            .iter()
            .filter(|(_, e)| e.kind() == kind)
            .map(|(key, e)| {
                let name = match key.split_once('/') {
                    Some((pkg, name)) => EntityName::new(ns, Some(pkg), name),
                    None => EntityName::new(ns, None, key),
                };
                (name, e)
            })
            .collect()
    }

    /// The actions inside one package, by their simple name.
    pub fn package_actions(&self, ns: &str, pkg: &str) -> Vec<(String, &Action)> {
        let prefix = format!("{pkg}/");
        let Some(entities) = self.namespaces.get(ns) else {
            return Vec::new();
        };
        entities
            .range(prefix.clone()..)
            .take_while(|(key, _)| key.starts_with(&prefix))
            .filter_map(|(key, e)| match e {
                Entity::Action(a) => Some((key[prefix.len()..].to_string(), a)),
                _ => None,
            })
            .collect()
    }
}
