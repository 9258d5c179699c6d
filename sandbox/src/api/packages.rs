//! `/packages`: packages and package bindings.

use super::request::{ApiRequest, Reply, common_put};
use crate::controller::Controller;
use crate::model::entities::{EntityKind, package_json, summary_json};
use crate::model::error::Error;
use crate::model::names::{DEFAULT_NAMESPACE, EntityName, check_name, check_namespace};
use crate::model::params::{Params, optional_kv_field};
use crate::ops;
use crate::ops::packages::PackagePut;
use serde_json::Value;

/// Lists the caller's packages, or another namespace's published ones.
pub(crate) fn list(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let (skip, limit) = req.paging("packages")?;
    let items = ops::list(
        c,
        &req.identity,
        req.namespace(),
        EntityKind::Package,
        skip,
        limit,
    )?;
    let items = items.iter().map(|(n, e)| summary_json(n, e)).collect();
    Ok(Reply::ok(Value::Array(items)))
}

/// A package with its actions; a binding shows the bound package's actions and parameters with
/// the binding's over them.
pub(crate) fn get(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let name = req.entity("packageName")?;
    let view = ops::packages::get(c, &req.identity, &name)?;
    let actions: Vec<_> = view.actions.iter().map(|(n, a)| (n.clone(), a)).collect();
    Ok(Reply::ok(package_json(
        &name,
        &view.package,
        &view.parameters,
        Some(&actions),
    )))
}

/// The `binding` of a PUT body, if it names a package (`{}` means none).
fn parse_binding(body: &Params, own_ns: &str) -> Result<Option<EntityName>, Error> {
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
                None | Some(DEFAULT_NAMESPACE) => own_ns,
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
    let put = PackagePut {
        common: common_put(&body)?,
        binding: parse_binding(&body, &name.ns)?,
        parameters: optional_kv_field(&body, "parameters")?,
    };
    let package = ops::packages::put(c, &req.identity, &name, put, overwrite)?;
    Ok(Reply::ok(package_json(
        &name,
        &package,
        &package.parameters,
        None,
    )))
}

/// Deletes a binding, or a package that holds no actions (409 otherwise).
pub(crate) fn delete(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let name = req.entity("packageName")?;
    let package = ops::packages::delete(c, &req.identity, &name)?;
    Ok(Reply::ok(package_json(
        &name,
        &package,
        &package.parameters,
        None,
    )))
}
