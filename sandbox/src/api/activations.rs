//! `/activations`: list, one, its logs, its result.

use super::request::{ApiRequest, Reply};
use crate::controller::Controller;
use crate::model::error::Error;
use crate::ops;
use crate::ops::activations::ActivationQuery;
use serde_json::{Value, json};

/// Newest first; `name` filters on `action`, `pkg/action` or a trigger's name; `since`/`upto`
/// (epoch ms) on the start; `docs=true` gives full records instead of briefs.
pub(crate) fn list(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let (skip, limit) = req.paging("activations")?;
    let docs = req.query_bool("docs")?;
    let name = req.query("name").filter(|n| !n.is_empty());
    if let Some(name) = name
        && (name.split('/').count() > 2 || name.split('/').any(str::is_empty))
    {
        return Err(Error::bad(format!(
            "Parameter may be a 'simple' name or 'package-name/simple' name: {name}"
        )));
    }
    let query = ActivationQuery {
        name: name.map(str::to_string),
        since: req.query_u64("since", "activations")?.unwrap_or(0),
        upto: req.query_u64("upto", "activations")?.unwrap_or(u64::MAX),
        skip,
        limit,
    };
    let records = ops::activations::list(c, &req.identity, req.namespace(), &query)?;
    let page = records
        .iter()
        .map(|a| if docs { a.to_json() } else { a.summary_json() })
        .collect();
    Ok(Reply::ok(Value::Array(page)))
}

fn find(c: &Controller, req: &ApiRequest) -> Result<crate::model::activation::Activation, Error> {
    ops::activations::get(c, &req.identity, req.namespace(), req.param("activationid"))
}

pub(crate) fn get(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    Ok(Reply::ok(find(c, req)?.to_json()))
}

pub(crate) fn logs(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    Ok(Reply::ok(json!({ "logs": find(c, req)?.logs })))
}

pub(crate) fn result(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    Ok(Reply::ok(find(c, req)?.response_json()))
}
