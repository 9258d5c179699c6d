//! Parameters and annotations: OpenWhisk sends them as lists of `{"key", "value"}`; inside the
//! sandbox they are JSON maps, merged layer over layer.

use crate::model::error::Error;
use serde_json::{Map, Value, json};

pub(crate) type Params = Map<String, Value>;

/// A map as the API's `KeyValue` list.
pub(crate) fn to_kv_list(map: &Params) -> Value {
    Value::Array(
        map.iter()
            .map(|(key, value)| json!({ "key": key, "value": value }))
            .collect(),
    )
}

/// Reads a `KeyValue` list (`field` names it in the error). A later duplicate key wins.
pub(crate) fn from_kv_list(v: &Value, field: &str) -> Result<Params, Error> {
    let bad = || {
        Error::bad(format!(
            "'{field}' must be a list of {{\"key\": string, \"value\": any}} objects"
        ))
    };
    let items = v.as_array().ok_or_else(bad)?;
    let mut map = Params::new();
    for item in items {
        let key = item.get("key").and_then(Value::as_str).ok_or_else(bad)?;
        let value = item.get("value").cloned().unwrap_or(Value::Null);
        map.insert(key.to_string(), value);
    }
    Ok(map)
}

/// An optional `KeyValue` list field of a PUT body: `None` when absent.
pub(crate) fn optional_kv_field(body: &Params, field: &str) -> Result<Option<Params>, Error> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => from_kv_list(v, field).map(Some),
    }
}

/// A JSON object given to the library API (`null` counts as empty).
pub(crate) fn from_object(v: &Value, what: &str) -> Result<Params, Error> {
    match v {
        Value::Null => Ok(Params::new()),
        Value::Object(map) => Ok(map.clone()),
        _ => Err(Error::bad(format!("{what} must be a JSON object"))),
    }
}

/// `base` with every key of `over` put over it.
pub(crate) fn merged(base: &Params, over: &Params) -> Params {
    let mut out = base.clone();
    for (k, v) in over {
        out.insert(k.clone(), v.clone());
    }
    out
}

/// Whether an annotation is set to `true` (the CLI also sends the string "true").
pub(crate) fn is_true(annotations: &Params, key: &str) -> bool {
    match annotations.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_key_value_lists() {
        let list = json!([{"key": "a", "value": 1}, {"key": "b", "value": {"x": [true]}}]);
        let map = from_kv_list(&list, "parameters").unwrap();
        assert_eq!(to_kv_list(&map), list);
        let err = from_kv_list(&json!({"a": 1}), "parameters").unwrap_err();
        assert!(err.to_string().contains("'parameters'"));
        assert!(from_kv_list(&json!([{"value": 1}]), "annotations").is_err());
    }

    #[test]
    fn merges_later_layers_over_earlier() {
        let a = from_object(&json!({"x": 1, "y": 1}), "p").unwrap();
        let b = from_object(&json!({"y": 2}), "p").unwrap();
        assert_eq!(Value::Object(merged(&a, &b)), json!({"x": 1, "y": 2}));
        assert!(from_object(&json!([1]), "parameters").is_err());
    }
}
