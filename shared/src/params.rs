//! An action's parameters, read the way OpenWhisk clients send them.
//!
//! `wsk ... -p k v` sends `v` as JSON when it parses as JSON and as a string otherwise, and
//! wskdeploy sends manifest inputs with their YAML types, so `5`, `"5"`, `["a","b"]` and `"a,b"`
//! all arrive in practice. [`Params`] reads a parameter as the type the action wants and, when
//! that fails on a string, tries the string's JSON reading before giving up.

use std::fmt;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A parameter that is missing or not of the expected form. Its message names the parameter
/// (with the JSON path inside it, e.g. `headers.Accept`) and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("missing parameter `{name}`: expected {expected}")]
    Missing {
        name: String,
        expected: &'static str,
    },
    #[error("invalid parameter `{path}`: {problem}")]
    Invalid { path: String, problem: String },
}

impl ParamError {
    pub fn missing(name: impl Into<String>, expected: &'static str) -> Self {
        Self::Missing {
            name: name.into(),
            expected,
        }
    }

    pub fn invalid(path: impl Into<String>, problem: impl fmt::Display) -> Self {
        Self::Invalid {
            path: path.into(),
            problem: problem.to_string(),
        }
    }

    /// The parameter (or JSON path) the error is about.
    pub fn path(&self) -> &str {
        match self {
            Self::Missing { name, .. } => name,
            Self::Invalid { path, .. } => path,
        }
    }
}

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

/// Deserializes a whole parameter object, naming the failing parameter by its JSON path.
pub(crate) fn deserialize_with_path<T: DeserializeOwned>(value: Value) -> Result<T, ParamError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let problem = error.inner().to_string();
        match (path.as_str(), missing_field(&problem)) {
            (".", Some(field)) => ParamError::missing(field, "a value"),
            (".", None) => ParamError::invalid("(parameters)", problem),
            _ => ParamError::invalid(path, problem),
        }
    })
}

fn missing_field(problem: &str) -> Option<&str> {
    problem
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
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

/// What a JSON value is, for error messages ("expected a string, found an array").
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
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
                        super::kind(&other)
                    ))),
                })
                .filter(|item| !matches!(item, Ok(text) if text.is_empty()))
                .collect(),
            other => Err(D::Error::custom(format!(
                "expected a list of strings or a comma-separated string, found {}",
                super::kind(&other)
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
                super::kind(&other)
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
                super::kind(&other)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    fn params(value: Value) -> Params {
        Params::from_value(value).expect("object")
    }

    #[test]
    fn reads_cli_strings_as_their_json() {
        let p = params(json!({"minutes": "5", "n": 7, "list": "[1,2]", "flag": "true"}));
        assert_eq!(p.get::<u32>("minutes"), Ok(Some(5)));
        assert_eq!(p.get::<u32>("n"), Ok(Some(7)));
        assert_eq!(p.get::<Vec<u8>>("list"), Ok(Some(vec![1, 2])));
        assert_eq!(p.get::<bool>("flag"), Ok(Some(true)));
        assert_eq!(p.get::<u32>("absent"), Ok(None));
    }

    #[test]
    fn names_the_bad_parameter_and_its_path() {
        let p = params(json!({"minutes": "soon", "headers": {"Accept": 3}}));
        let error = p.get::<u32>("minutes").expect_err("bad");
        assert_eq!(error.path(), "minutes");
        assert!(
            error
                .to_string()
                .starts_with("invalid parameter `minutes`:"),
            "{error}"
        );
        let error = p
            .get::<std::collections::BTreeMap<String, String>>("headers")
            .expect_err("bad");
        assert_eq!(error.path(), "headers.Accept");
        let error = p
            .require::<u32>("absent", "a number of minutes")
            .expect_err("missing");
        assert_eq!(
            error.to_string(),
            "missing parameter `absent`: expected a number of minutes"
        );
    }

    #[test]
    fn strings_are_trimmed_and_empty_is_absent() {
        let p = params(json!({"a": "  x ", "b": "   ", "c": 42, "d": [1]}));
        assert_eq!(p.get_str("a"), Ok(Some("x".into())));
        assert_eq!(p.get_str("b"), Ok(None));
        assert_eq!(p.get_str("c"), Ok(Some("42".into())));
        assert!(p.require_str("b", "a repository").is_err());
        assert_eq!(p.get_str("d").expect_err("array").path(), "d");
    }

    #[test]
    fn non_objects_are_refused_and_null_is_empty() {
        assert!(Params::from_value(json!([1])).is_err());
        assert_eq!(Params::from_value(Value::Null), Ok(Params::default()));
    }

    #[derive(Debug, Deserialize)]
    struct Settings {
        #[serde(deserialize_with = "lenient::string_list")]
        events: Vec<String>,
        #[serde(deserialize_with = "lenient::u64")]
        minutes: u64,
        #[serde(deserialize_with = "lenient::bool")]
        active: bool,
    }

    #[test]
    fn parse_reports_paths_and_lenient_helpers_accept_text() {
        let parsed: Settings =
            params(json!({"events": "push, delete,,", "minutes": "3", "active": "False"}))
                .parse()
                .expect("valid");
        assert_eq!(parsed.events, ["push", "delete"]);
        assert_eq!(parsed.minutes, 3);
        assert!(!parsed.active);

        let error = params(json!({"events": ["push", 1], "minutes": 1, "active": true}))
            .parse::<Settings>()
            .expect_err("bad");
        assert_eq!(error.path(), "events");
        let error = params(json!({"events": "push", "active": true}))
            .parse::<Settings>()
            .expect_err("missing");
        assert_eq!(error, ParamError::missing("minutes", "a value"));
    }

    #[test]
    fn split_list_reads_json_arrays_too() {
        assert_eq!(lenient::split_list(r#"["a", " b "]"#), ["a", "b"]);
        assert_eq!(lenient::split_list(" a ,b,, "), ["a", "b"]);
        assert!(lenient::split_list("").is_empty());
    }
}
