//! Packages and package bindings.

use super::CommonPut;
use super::invoke::readable_package;
use crate::controller::Controller;
use crate::controller::store::Store;
use crate::model::entities::{Action, Entity, EntityKind, Package};
use crate::model::error::{Error, messages};
use crate::model::identity::{Identity, own_namespace};
use crate::model::names::EntityName;
use crate::model::params::{Params, merged};
use serde_json::json;

/// Names the controller keeps for itself.
const RESERVED_NAMES: &[&str] = &["default"];

/// A package PUT: `binding` makes (or keeps) it a binding of that package; what is absent is
/// kept.
#[derive(Debug, Clone, Default)]
pub(crate) struct PackagePut {
    pub common: CommonPut,
    pub binding: Option<EntityName>,
    pub parameters: Option<Params>,
}

/// A package as `GET` shows it: a binding with the bound package's parameters under its own
/// and the bound package's actions.
#[derive(Debug, Clone)]
pub(crate) struct PackageView {
    pub package: Package,
    pub parameters: Params,
    /// The actions it holds, by simple name.
    pub actions: Vec<(String, Action)>,
}

fn actions_of(store: &Store, ns: &str, pkg: &str) -> Vec<(String, Action)> {
    store
        .package_actions(ns, pkg)
        .into_iter()
        .map(|(name, a)| (name, a.clone()))
        .collect()
}

pub(crate) fn get(
    c: &Controller,
    caller: &Identity,
    name: &EntityName,
) -> Result<PackageView, Error> {
    let store = c.store();
    let package = readable_package(&store, caller, name)?;
    let Some(bound) = &package.binding else {
        return Ok(PackageView {
            package: package.clone(),
            parameters: package.parameters.clone(),
            actions: actions_of(&store, &name.ns, &name.name),
        });
    };
    let bound_package = match readable_package(&store, caller, bound) {
        Ok(p) => p,
        Err(Error::NotFound(_)) => return Err(Error::not_found()),
        Err(e) => return Err(e),
    };
    Ok(PackageView {
        parameters: merged(&bound_package.parameters, &package.parameters),
        actions: actions_of(&store, &bound.ns, &bound.name),
        package: package.clone(),
    })
}

/// A binding must name an existing package (not a binding) the caller may read.
fn check_binding(store: &Store, caller: &Identity, bound: &EntityName) -> Result<(), Error> {
    match store.get(bound) {
        None if bound.ns == caller.namespace => Err(Error::bad(messages::BINDING_MISSING)),
        None => Err(Error::forbidden()),
        Some(Entity::Package(p)) => {
            if bound.ns != caller.namespace && !p.common.publish {
                Err(Error::forbidden())
            } else if p.binding.is_some() {
                Err(Error::bad(messages::BINDING_OF_BINDING))
            } else {
                Ok(())
            }
        }
        Some(_) => Err(Error::Conflict(
            "Cannot bind to a resource that is not a package.".into(),
        )),
    }
}

/// Creates or updates a package or binding (409 when it exists and not `overwrite`).
pub(crate) fn put(
    c: &Controller,
    caller: &Identity,
    name: &EntityName,
    put: PackagePut,
    overwrite: bool,
) -> Result<Package, Error> {
    own_namespace(caller, &name.ns)?;
    if name.pkg.is_some() {
        return Err(Error::bad(messages::ILLEGAL_NAME));
    }
    if RESERVED_NAMES.contains(&name.name.as_str()) {
        return Err(Error::bad(format!(
            "Package name '{}' is reserved.",
            name.name
        )));
    }
    c.write(|store| {
        store.check_free_for(name, EntityKind::Package)?;
        let existing = store.package(name).ok();
        if existing.is_some() && !overwrite {
            return Err(Error::Conflict(messages::CONFLICT_EXISTS.into()));
        }
        if let Some(bound) = &put.binding {
            if existing.is_some_and(|p| p.binding.is_none()) {
                return Err(Error::Conflict(messages::PACKAGE_NOT_BINDING.into()));
            }
            check_binding(store, caller, bound)?;
        }
        let binding = put
            .binding
            .or_else(|| existing.and_then(|p| p.binding.clone()));
        let mut common = put.common.apply(existing.map(|p| &p.common));
        // The controller keeps a `binding` annotation in step with the binding itself.
        common.annotations.remove("binding");
        if let Some(bound) = &binding {
            common.annotations.insert(
                "binding".into(),
                json!({ "namespace": bound.ns, "name": bound.name }),
            );
        }
        let package = Package {
            common,
            parameters: put
                .parameters
                .or_else(|| existing.map(|p| p.parameters.clone()))
                .unwrap_or_default(),
            binding,
        };
        store.insert(name, Entity::Package(package.clone()));
        Ok(package)
    })
}

/// Deletes a binding, or a package that holds no actions (409 otherwise).
pub(crate) fn delete(
    c: &Controller,
    caller: &Identity,
    name: &EntityName,
) -> Result<Package, Error> {
    own_namespace(caller, &name.ns)?;
    c.write(|store| {
        let package = store.package(name)?.clone();
        if package.binding.is_none() {
            let count = store.package_actions(&name.ns, &name.name).len();
            if count > 0 {
                let noun = if count == 1 { "entity" } else { "entities" };
                return Err(Error::Conflict(format!(
                    "Package not empty (contains {count} {noun})"
                )));
            }
        }
        store.remove(name);
        Ok(package)
    })
}
