//! Activation records: list, one, its logs, its result.

use super::request::{ApiRequest, Reply};
use crate::activation::Activation;
use crate::controller::Controller;
use crate::error::{Error, messages};
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
    let since = req.query_u64("since", "activations")?.unwrap_or(0);
    let upto = req.query_u64("upto", "activations")?.unwrap_or(u64::MAX);
    let mut records: Vec<Activation> = c
        .activations
        .list(req.namespace())
        .into_iter()
        .filter(|a| name.is_none_or(|n| a.relative_path() == n))
        .filter(|a| a.start >= since && a.start <= upto)
        .collect();
    // Newest first; records are kept in completion order, so equal starts stay stable.
    records.reverse();
    records.sort_by_key(|a| std::cmp::Reverse(a.start));
    let page = records
        .iter()
        .skip(skip)
        .take(limit)
        .map(|a| if docs { a.to_json() } else { a.summary_json() })
        .collect();
    Ok(Reply::ok(Value::Array(page)))
}

fn find(c: &Controller, req: &ApiRequest) -> Result<Activation, Error> {
    let id = req.param("activationid");
    if id.len() != 32 || !id.chars().all(|ch| ch.is_ascii_hexdigit()) {
        return Err(Error::bad(messages::ACTIVATION_ID_ILLEGAL));
    }
    c.activations
        .get(req.namespace(), id)
        .ok_or_else(Error::not_found)
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
