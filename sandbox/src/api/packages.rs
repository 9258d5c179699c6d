//! Packages and package bindings.

use super::request::{ApiRequest, Reply, page, put_common};
use crate::controller::Controller;
use crate::entities::{Entity, EntityKind, Package, package_json, summary_json};
use crate::error::{Error, messages};
use crate::invoke::readable_package;
use crate::names::{EntityName, check_name, check_namespace};
use crate::params::{Params, merged, optional_kv_field};
use serde_json::{Map, Value, json};

/// Names the controller keeps for itself.
const RESERVED_NAMES: &[&str] = &["default"];

/// Lists the caller's packages, or another namespace's published ones.
pub(crate) fn list(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let (skip, limit) = req.paging("packages")?;
    let ns = req.namespace();
    let own = ns == req.identity.namespace;
    let store = c.store();
    let items = store
        .list(ns, EntityKind::Package)
        .into_iter()
        .filter(|(_, e)| own || e.common().publish)
        .map(|(name, e)| (e.common().updated, summary_json(&name, e)))
        .collect();
    Ok(Reply::ok(Value::Array(page(items, skip, limit))))
}

/// A package with its actions; a binding shows the bound package's actions and parameters with
/// the binding's over them.
pub(crate) fn get(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let name = req.entity("packageName")?;
    let store = c.store();
    let package = readable_package(&store, &req.identity, &name)?;
    let Some(bound) = &package.binding else {
        let actions = store.package_actions(&name.ns, &name.name);
        return Ok(Reply::ok(package_json(
            &name,
            package,
            &package.parameters,
            Some(&actions),
        )));
    };
    let bound_package = match readable_package(&store, &req.identity, bound) {
        Ok(p) => p,
        Err(Error::NotFound(_)) => return Err(Error::not_found()),
        Err(e) => return Err(e),
    };
    let parameters = merged(&bound_package.parameters, &package.parameters);
    let actions = store.package_actions(&bound.ns, &bound.name);
    Ok(Reply::ok(package_json(
        &name,
        package,
        &parameters,
        Some(&actions),
    )))
}

/// The `binding` of a PUT body, if it names a package (`{}` means none).
fn parse_binding(body: &Value, own_ns: &str) -> Result<Option<EntityName>, Error> {
    let Some(binding) = body.get("binding").filter(|b| !b.is_null()) else {
        return Ok(None);
    };
    let fields = binding
        .as_object()
        .ok_or_else(|| Error::bad("'binding' must be an object {\"namespace\", \"name\"}"))?;
    let field = |key: &str| -> Result<Option<&str>, Error> {
        match fields.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(Error::bad(format!("'binding.{key}' must be a string"))),
        }
    };
    match (field("namespace")?, field("name")?) {
        (None, None) => Ok(None),
        (_, None) => Err(Error::bad("'binding.name' is required")),
        (ns, Some(name)) => {
            let ns = match ns {
                None | Some(crate::names::DEFAULT_NAMESPACE) => own_ns,
                Some(ns) => ns,
            };
            check_namespace(ns)?;
            check_name(name)?;
            Ok(Some(EntityName::new(ns, None, name)))
        }
    }
}

pub(crate) fn put(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let name = req.entity("packageName")?;
    let overwrite = req.query_bool("overwrite")?;
    let body = req.object_body()?;
    store_package(c, req, &name, overwrite, body).map(Reply::ok)
}

/// Creates or updates a package or binding from a PUT body; its JSON.
pub(crate) fn store_package(
    c: &Controller,
    req: &ApiRequest,
    name: &EntityName,
    overwrite: bool,
    body: Map<String, Value>,
) -> Result<Value, Error> {
    if RESERVED_NAMES.contains(&name.name.as_str()) {
        return Err(Error::bad(format!(
            "Package name '{}' is reserved.",
            name.name
        )));
    }
    let mut common = {
        let store = c.store();
        let existing = store.package(name).ok();
        put_common(&body, existing.map(|p| &p.common))?
    };
    let body = Value::Object(body);
    let binding = parse_binding(&body, &name.ns)?;
    let parameters = optional_kv_field(&body, "parameters")?;
    let mut store = c.store();
    store.check_free_for(name, EntityKind::Package)?;
    let existing = store.package(name).ok().cloned();
    if existing.is_some() && !overwrite {
        return Err(Error::Conflict(messages::CONFLICT_EXISTS.into()));
    }
    if let Some(bound) = &binding {
        if existing.as_ref().is_some_and(|p| p.binding.is_none()) {
            return Err(Error::Conflict(messages::PACKAGE_NOT_BINDING.into()));
        }
        check_binding(&store, req, bound)?;
    }
    let binding = binding.or_else(|| existing.as_ref().and_then(|p| p.binding.clone()));
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
        parameters: parameters
            .or_else(|| existing.as_ref().map(|p| p.parameters.clone()))
            .unwrap_or_else(Params::new),
        binding,
    };
    let reply = package_json(name, &package, &package.parameters, None);
    store.insert(name, Entity::Package(package));
    Ok(reply)
}

/// A binding must name an existing package (not a binding) the caller may read.
fn check_binding(
    store: &crate::store::Store,
    req: &ApiRequest,
    bound: &EntityName,
) -> Result<(), Error> {
    match store.get(bound) {
        None if bound.ns == req.identity.namespace => Err(Error::bad(messages::BINDING_MISSING)),
        None => Err(Error::forbidden()),
        Some(Entity::Package(p)) => {
            if bound.ns != req.identity.namespace && !p.common.publish {
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

/// Deletes a binding, or a package that holds no actions (409 otherwise).
pub(crate) fn delete(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let name = req.entity("packageName")?;
    let mut store = c.store();
    let package = store.package(&name)?;
    if package.binding.is_none() {
        let count = store.package_actions(&name.ns, &name.name).len();
        if count > 0 {
            let noun = if count == 1 { "entity" } else { "entities" };
            return Err(Error::Conflict(format!(
                "Package not empty (contains {count} {noun})"
            )));
        }
    }
    let reply = package_json(&name, package, &package.parameters, None);
    store.remove(&name);
    Ok(Reply::ok(reply))
}
