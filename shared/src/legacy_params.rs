//! What the feeds not yet on [`crate::FeedSession`] still use: the untyped parameter map and
//! its helpers. Goes once every feed declares its parameters (see [`crate::params`]).

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::params::{ParamError, deserialize_with_path, kind};

/// The parameters of one activation: a JSON object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params(Map<String, Value>);

impl Params {
    pub fn new(map: Map<String, Value>) -> Self {
        Self(map)
    }

    pub fn from_value(value: Value) -> Result<Self, ParamError> {
        match value {
            Value::Object(map) => Ok(Self(map)),
            Value::Null => Ok(Self::default()),
            other => Err(ParamError::invalid(
                "(parameters)",
                format!("expected a JSON object, found {}", kind(&other)),
            )),
        }
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }

    /// The raw JSON of a parameter. `null` counts as absent.
    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|value| !value.is_null())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.raw(name).is_some()
    }

    /// Removes a parameter and returns its raw JSON.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        self.0.remove(name).filter(|value| !value.is_null())
    }

    /// Reads an optional parameter as `T` (see the module docs for the string fallback).
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, ParamError> {
        self.raw(name)
            .map(|value| read_value(name, value))
            .transpose()
    }

    /// Reads a required parameter as `T`; `expected` says what a valid value looks like.
    pub fn require<T: DeserializeOwned>(
        &self,
        name: &str,
        expected: &'static str,
    ) -> Result<T, ParamError> {
        self.get(name)?
            .ok_or_else(|| ParamError::missing(name, expected))
    }

    /// Reads a non-empty string parameter, trimmed.
    pub fn require_str(&self, name: &str, expected: &'static str) -> Result<String, ParamError> {
        match self.get_str(name)? {
            Some(value) => Ok(value),
            None => Err(ParamError::missing(name, expected)),
        }
    }

    /// Reads an optional string parameter, trimmed; an empty string counts as absent. Numbers and
    /// booleans are accepted as their text, since the CLI turns `-p id 42` into a number.
    pub fn get_str(&self, name: &str) -> Result<Option<String>, ParamError> {
        let text = match self.raw(name) {
            None => return Ok(None),
            Some(Value::String(text)) => text.trim().to_owned(),
            Some(Value::Number(number)) => number.to_string(),
            Some(Value::Bool(flag)) => flag.to_string(),
            Some(other) => {
                return Err(ParamError::invalid(
                    name,
                    format!("expected a string, found {}", kind(other)),
                ));
            }
        };
        Ok((!text.is_empty()).then_some(text))
    }

    /// Reads all parameters at once into a struct, reporting the JSON path of the first bad one.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ParamError> {
        deserialize_with_path(Value::Object(self.0.clone()))
    }
}

fn read_value<T: DeserializeOwned>(name: &str, value: &Value) -> Result<T, ParamError> {
    let direct = serde_path_to_error::deserialize::<_, T>(value);
    let error = match direct {
        Ok(parsed) => return Ok(parsed),
        Err(error) => error,
    };
    if let Value::String(text) = value
        && let Ok(reparsed) = serde_json::from_str::<Value>(text.trim())
        && let Ok(parsed) = serde_json::from_value::<T>(reparsed)
    {
        return Ok(parsed);
    }
    let inner = error.path().to_string();
    // The path inside the parameter follows its name: `headers.Accept`, `events[1]`.
    let path = match inner.as_str() {
        "." => name.to_owned(),
        index if index.starts_with('[') => format!("{name}{index}"),
        field => format!("{name}.{field}"),
    };
    Err(ParamError::invalid(path, error.inner()))
}

/// Serde helpers for fields that the CLI may send as text (`deserialize_with = "lenient::..."`).
pub mod lenient {
    use serde::{Deserialize, Deserializer, de::Error as _};
    use serde_json::Value;

    /// A list of strings from a JSON array or a comma-separated string; items are trimmed and
    /// empty items dropped (`"push, delete"` is `["push", "delete"]`).
    pub fn string_list<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<String>, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(text) => Ok(split_list(&text)),
            Value::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(text) => Ok(text.trim().to_owned()),
                    other => Err(D::Error::custom(format!(
                        "expected a list of strings, found {} in it",
                        crate::params::kind(&other)
                    ))),
                })
                .filter(|item| !matches!(item, Ok(text) if text.is_empty()))
                .collect(),
            other => Err(D::Error::custom(format!(
                "expected a list of strings or a comma-separated string, found {}",
                crate::params::kind(&other)
            ))),
        }
    }

    /// Splits a comma-separated list, trimming items and dropping empty ones; a string holding a
    /// JSON array is read as that array.
    pub fn split_list(text: &str) -> Vec<String> {
        if let Ok(Value::Array(items)) = serde_json::from_str::<Value>(text.trim()) {
            return items
                .iter()
                .filter_map(Value::as_str)
                .map(|item| item.trim().to_owned())
                .filter(|item| !item.is_empty())
                .collect();
        }
        text.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// A boolean from `true`/`false` or the strings `"true"`/`"false"` (any case).
    pub fn bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Bool(flag) => Ok(flag),
            Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(D::Error::custom(format!(
                    "expected true or false, found {text:?}"
                ))),
            },
            other => Err(D::Error::custom(format!(
                "expected true or false, found {}",
                crate::params::kind(&other)
            ))),
        }
    }

    /// An unsigned number from a JSON number or its text.
    pub fn u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Number(number) => number.as_u64().ok_or_else(|| {
                D::Error::custom(format!("expected a whole number >= 0, found {number}"))
            }),
            Value::String(text) => text.trim().parse().map_err(|_| {
                D::Error::custom(format!("expected a whole number >= 0, found {text:?}"))
            }),
            other => Err(D::Error::custom(format!(
                "expected a whole number, found {}",
                crate::params::kind(&other)
            ))),
        }
    }
}
