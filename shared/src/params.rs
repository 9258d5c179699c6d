//! An action's parameters, typed: a feed declares them once, as a struct deriving `Deserialize`
//! whose fields are [`Param`]s of the kit's lenient types, and [`parse`] reads them.
//!
//! ```
//! use feedkit::params::{Param, Text, Whole, parse};
//! #[derive(Debug, Default, serde::Deserialize)]
//! #[serde(default, rename_all = "camelCase")]
//! struct MyParams {
//!     url: Param<Text>,
//!     max_items: Param<Whole>,
//! }
//! let params: MyParams = parse(serde_json::json!({"url": " http://x ", "maxItems": "5"}).as_object().unwrap(), "my-feed").unwrap();
//! assert_eq!(params.url.get().map(|u| u.as_str()), Some("http://x"));
//! ```
//!
//! The rules, the same for every feed:
//! - What clients send: `wsk ... -p k v` sends `v` as JSON when it parses as JSON and as a string
//!   otherwise, and wskdeploy sends manifest inputs with their YAML types, so `5` and `"5"`,
//!   `["a","b"]` and `"a,b"`, `true` and `"true"` all arrive; the lenient types take each form.
//! - `null` is an absent parameter; an empty (or blank) string is [`Param::Cleared`]: absent for
//!   a feed that does not clear, "remove what is stored" for one that does.
//! - A name the struct does not declare is refused, naming it and listing the known ones.
//! - A bad value is named by its JSON path (`headers.Accept`, `events[1]`); a secret's value is
//!   never quoted.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// A parameter that is missing or not of the expected form. Its message names the parameter
/// (with the JSON path inside it, e.g. `headers.Accept`) and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("missing parameter `{name}`: expected {expected}")]
    Missing { name: String, expected: String },
    #[error("invalid parameter `{path}`: {problem}")]
    Invalid { path: String, problem: String },
}

impl ParamError {
    pub fn missing(name: impl Into<String>, expected: impl Into<String>) -> Self {
        Self::Missing {
            name: name.into(),
            expected: expected.into(),
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

/// Reads `params` as `P`. A name `P` does not declare is refused first (`who` names the action
/// in that message), then every value is read, the first bad one named by its path.
pub fn parse<P: DeserializeOwned>(params: &Map<String, Value>, who: &str) -> Result<P, ParamError> {
    let known = names::<P>();
    if let Some(unknown) = params.keys().find(|name| !known.contains(&name.as_str())) {
        return Err(ParamError::invalid(
            unknown.as_str(),
            format!(
                "{who} has no such parameter; it takes {}",
                if known.is_empty() {
                    "none of its own".to_owned()
                } else {
                    known.join(", ")
                }
            ),
        ));
    }
    deserialize_with_path(Value::Object(params.clone()))
}

/// The parameter names a struct deriving `Deserialize` declares (after `rename_all`), in order:
/// the one list the unknown-name rule, the manifest and the README are held to.
pub fn names<P: DeserializeOwned>() -> &'static [&'static str] {
    let mut probe = NameProbe(None);
    let _ = P::deserialize(&mut probe);
    probe.0.unwrap_or(&[])
}

/// A deserializer that answers nothing and notes the field names a struct asks for.
struct NameProbe(Option<&'static [&'static str]>);

impl<'de> Deserializer<'de> for &mut NameProbe {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.0 = Some(fields);
        Err(de::Error::custom("names noted"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// Deserializes a whole parameter object, naming the failing parameter by its JSON path.
///
/// No path tracking while reading (it would cost every action binary a copy of each parameter
/// type's reading): when the object fails, each parameter alone says whether it is the one.
pub(crate) fn deserialize_with_path<T: DeserializeOwned>(value: Value) -> Result<T, ParamError> {
    let error = match serde_json::from_value::<T>(value.clone()) {
        Ok(parsed) => return Ok(parsed),
        Err(error) => error.to_string(),
    };
    if let Value::Object(map) = value {
        for (name, given) in map {
            let mut alone = Map::new();
            alone.insert(name.clone(), given);
            let alone = Value::Object(alone);
            if let Err(failure) = serde_json::from_value::<T>(alone) {
                let problem = failure.to_string();
                if missing_field(&problem).is_none() {
                    return Err(named(name, problem));
                }
            }
        }
    }
    Err(match missing_field(&error) {
        Some(field) => ParamError::missing(field, "a value"),
        None => ParamError::invalid("(parameters)", error),
    })
}

/// The error for parameter `name`, with the path inside it when the problem carries one (see
/// [`invalid_at`]).
fn named(mut path: String, problem: String) -> ParamError {
    match problem
        .strip_prefix(INNER_PATH)
        .and_then(|marked| marked.split_once(INNER_PATH))
    {
        Some((inner, rest)) => {
            if !inner.starts_with('[') {
                path.push('.');
            }
            path.push_str(inner);
            ParamError::invalid(path, rest)
        }
        None => ParamError::invalid(path, problem),
    }
}

fn missing_field(problem: &str) -> Option<&str> {
    problem
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
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

/// One parameter as given: absent (or `null`), given as an empty string, or set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Param<T> {
    #[default]
    Absent,
    /// An empty or blank string: "remove it" where the feed can, else the same as absent.
    Cleared,
    Set(T),
}

impl<T> Param<T> {
    /// The value, if one was set.
    pub fn get(&self) -> Option<&T> {
        match self {
            Self::Set(value) => Some(value),
            _ => None,
        }
    }

    pub fn into_option(self) -> Option<T> {
        match self {
            Self::Set(value) => Some(value),
            _ => None,
        }
    }

    /// Given at all (even as an empty string).
    pub fn is_given(&self) -> bool {
        !matches!(self, Self::Absent)
    }

    /// `None` when absent, `Some(None)` when cleared, `Some(Some(value))` when set.
    pub fn change(self) -> Option<Option<T>> {
        match self {
            Self::Absent => None,
            Self::Cleared => Some(None),
            Self::Set(value) => Some(Some(value)),
        }
    }

    /// The value, or a [`ParamError::Missing`] for `name` saying what is `expected`.
    pub fn require(&self, name: &str, expected: &str) -> Result<&T, ParamError> {
        self.get()
            .ok_or_else(|| ParamError::missing(name, expected))
    }
}

/// Reads the value as JSON first, then as `T`: one reading of `T` for every parameter (the
/// action binaries stay small). A type that checks what is inside a parameter names the inner
/// path with [`invalid_at`].
impl<'de, T: DeserializeOwned> Deserialize<'de> for Param<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Null => Ok(Param::Absent),
            Value::String(text) if text.trim().is_empty() => Ok(Param::Cleared),
            value => T::deserialize(value)
                .map(Param::Set)
                .map_err(de::Error::custom),
        }
    }
}

/// Marks the path inside a parameter at the start of an error message, for
/// [`deserialize_with_path`] to join to the parameter's name.
const INNER_PATH: char = '\u{1}';

/// The error for a bad value at `inner` inside a parameter (`Accept` in `headers`, `[1]` in a
/// list): the message names the parameter's path with it, `headers.Accept`.
pub fn invalid_at<E: de::Error>(inner: &str, problem: impl fmt::Display) -> E {
    E::custom(format!("{INNER_PATH}{inner}{INNER_PATH}{problem}"))
}

/// The error for a value of the wrong kind, saying what it is but never what it holds.
fn wrong<E: de::Error>(found: &str, expected: &str) -> E {
    E::custom(format!("expected {expected}, found {found}"))
}

/// Implements the visitor methods that refuse a kind of value without quoting it.
macro_rules! refuse {
    ($expected:expr; $($method:ident: $arg:ty => $found:literal),* $(,)?) => {
        $(fn $method<E: de::Error>(self, _: $arg) -> Result<Self::Value, E> {
            Err(wrong($found, $expected))
        })*
    };
}

/// Text: a string, trimmed; numbers and booleans are taken as their text, since the CLI turns
/// `-p id 42` into a number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Text(String);

impl Text {
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Text> for String {
    fn from(text: Text) -> String {
        text.0
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextVisitor).map(Text)
    }
}

/// Reads text (and numbers and booleans as text), never quoting a refused value: secrets are
/// read with it too.
pub(crate) struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<String, E> {
        Ok(value.trim().to_owned())
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<String, E> {
        Ok(value.to_string())
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<String, E> {
        Ok(value.to_string())
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<String, E> {
        Ok(value.to_string())
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<String, E> {
        Ok(number_text(value))
    }

    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Err(wrong("null", "a string"))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(wrong("an array", "a string"))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(wrong("an object", "a string"))
    }
}

/// A JSON number's text (as serde_json writes it: the binaries carry one float formatter).
fn number_text(value: f64) -> String {
    serde_json::Number::from_f64(value).map_or_else(|| "a number".to_owned(), |n| n.to_string())
}

/// A boolean from `true`/`false` or their text (any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FlagVisitor;
        impl<'de> Visitor<'de> for FlagVisitor {
            type Value = bool;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true or false")
            }
            fn visit_bool<E: de::Error>(self, value: bool) -> Result<bool, E> {
                Ok(value)
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<bool, E> {
                match value.trim().to_ascii_lowercase().as_str() {
                    "true" => Ok(true),
                    "false" => Ok(false),
                    _ => Err(E::custom(format!(
                        "expected true or false, found {value:?}"
                    ))),
                }
            }
            refuse!("true or false";
                visit_i64: i64 => "a number", visit_u64: u64 => "a number",
                visit_f64: f64 => "a number");
        }
        deserializer.deserialize_any(FlagVisitor).map(Flag)
    }
}

/// A whole number >= 0 from a JSON number or its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Whole(pub u64);

impl<'de> Deserialize<'de> for Whole {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct WholeVisitor;
        impl<'de> Visitor<'de> for WholeVisitor {
            type Value = u64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number")
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<u64, E> {
                Ok(value)
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<u64, E> {
                u64::try_from(value)
                    .map_err(|_| E::custom(format!("expected a whole number >= 0, found {value}")))
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<u64, E> {
                Err(E::custom(format!(
                    "expected a whole number, found {}",
                    number_text(value)
                )))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<u64, E> {
                value
                    .trim()
                    .parse()
                    .map_err(|_| E::custom(format!("expected a whole number, found {value:?}")))
            }
            refuse!("a whole number"; visit_bool: bool => "a boolean");
        }
        deserializer.deserialize_any(WholeVisitor).map(Whole)
    }
}

/// A whole number from `MIN` to `MAX` (see [`Whole`] for the forms it takes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bounded<const MIN: u64, const MAX: u64>(pub u64);

impl<'de, const MIN: u64, const MAX: u64> Deserialize<'de> for Bounded<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Whole(value) = Whole::deserialize(deserializer)?;
        if (MIN..=MAX).contains(&value) {
            Ok(Self(value))
        } else if MAX == u64::MAX {
            Err(de::Error::custom(format!("{value} is less than {MIN}")))
        } else {
            Err(de::Error::custom(format!(
                "{value} is not between {MIN} and {MAX}"
            )))
        }
    }
}

/// A cron pattern: 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first),
/// its fields joined by single spaces. Only the count is checked here: whoever runs the
/// schedule (an alarms feed, the provider) reads the fields and names what it cannot use.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Text")]
pub struct Cron(pub String);

impl TryFrom<Text> for Cron {
    type Error = String;
    fn try_from(text: Text) -> Result<Self, String> {
        let fields: Vec<&str> = text.as_str().split_whitespace().collect();
        if fields.len() == 5 || fields.len() == 6 {
            Ok(Self(fields.join(" ")))
        } else {
            Err(format!(
                "{:?} has {} fields; a cron pattern has 5 (minute hour day-of-month month \
                 day-of-week, e.g. \"*/5 * * * *\") or 6 (seconds first)",
                text.as_str(),
                fields.len()
            ))
        }
    }
}

/// A list of strings from a JSON array, its JSON text or a comma-separated string; items are
/// trimmed and empty ones dropped (`"push, delete"` is `["push", "delete"]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct List(pub Vec<String>);

impl<'de> Deserialize<'de> for List {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        const EXPECTED: &str = "a list of strings or a comma-separated string";
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = Vec<String>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Vec<String>, E> {
                Ok(split_list(value))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Value>()? {
                    match item {
                        Value::String(text) if text.trim().is_empty() => {}
                        Value::String(text) => items.push(text.trim().to_owned()),
                        other => {
                            return Err(de::Error::custom(format!(
                                "expected a list of strings, found {} in it",
                                kind(&other)
                            )));
                        }
                    }
                }
                Ok(items)
            }
            refuse!(EXPECTED;
                visit_bool: bool => "a boolean", visit_i64: i64 => "a number",
                visit_u64: u64 => "a number", visit_f64: f64 => "a number");
            fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Vec<String>, A::Error> {
                Err(wrong("an object", EXPECTED))
            }
        }
        deserializer.deserialize_any(ListVisitor).map(List)
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

/// A `T` given as JSON or as its JSON text (`-p headers '{"A": "b"}'` may arrive either way).
#[derive(Debug, Clone, PartialEq)]
pub struct Json<T>(pub T);

impl<'de, T: DeserializeOwned> Deserialize<'de> for Json<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct JsonVisitor<T>(PhantomData<T>);
        impl<'de, T: DeserializeOwned> Visitor<'de> for JsonVisitor<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("JSON or its text")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
                let value: Value = serde_json::from_str(text).map_err(|_| {
                    E::custom("expected JSON (or its text), found text that is not JSON")
                })?;
                T::deserialize(value).map_err(E::custom)
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
                T::deserialize(SeqAccessDeserializer::new(seq))
            }
            fn visit_bool<E: de::Error>(self, value: bool) -> Result<T, E> {
                T::deserialize(value.into_deserializer())
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<T, E> {
                T::deserialize(value.into_deserializer())
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<T, E> {
                T::deserialize(value.into_deserializer())
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<T, E> {
                T::deserialize(value.into_deserializer())
            }
        }
        deserializer
            .deserialize_any(JsonVisitor(PhantomData))
            .map(Json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;
    use serde_json::json;

    #[derive(Debug, Default, Deserialize)]
    #[serde(default, rename_all = "camelCase")]
    struct Settings {
        url: Param<Text>,
        events: Param<List>,
        minutes: Param<Bounded<1, 60>>,
        active: Param<Flag>,
        password: Param<Secret>,
        headers: Param<Json<std::collections::BTreeMap<String, String>>>,
        checked: Param<Checked>,
    }

    /// A map whose values must be strings, naming the bad one's key.
    #[derive(Debug)]
    struct Checked;

    impl<'de> Deserialize<'de> for Checked {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let map = Map::<String, Value>::deserialize(deserializer)?;
            match map.iter().find(|(_, value)| !value.is_string()) {
                Some((key, _)) => Err(invalid_at(key, "not text")),
                None => Ok(Checked),
            }
        }
    }

    fn read(value: Value) -> Result<Settings, ParamError> {
        parse(value.as_object().expect("object"), "the test feed")
    }

    #[test]
    fn reads_what_the_cli_sends_in_every_form() {
        let settings = read(json!({
            "url": " http://x ", "events": "push, delete,,", "minutes": "5", "active": "False",
            "password": 1234, "headers": "{\"A\": \"b\"}",
        }))
        .expect("valid");
        assert_eq!(settings.url.get().map(Text::as_str), Some("http://x"));
        assert_eq!(
            settings.events.get().map(|l| l.0.clone()),
            Some(vec!["push".into(), "delete".into()])
        );
        assert_eq!(settings.minutes.get().map(|m| m.0), Some(5));
        assert_eq!(settings.active, Param::Set(Flag(false)));
        assert_eq!(settings.password.get().map(Secret::expose), Some("1234"));
        assert_eq!(settings.headers.get().map(|h| h.0["A"].as_str()), Some("b"));
        let settings =
            read(json!({"events": ["a", " b ", ""], "minutes": 60, "active": true, "url": 42}))
                .expect("valid");
        assert_eq!(settings.events.get().map(|l| l.0.len()), Some(2));
        assert_eq!(settings.url.get().map(Text::as_str), Some("42"));
    }

    #[test]
    fn null_is_absent_and_blank_is_cleared() {
        let settings = read(json!({"url": null, "password": "  "})).expect("valid");
        assert_eq!(settings.url, Param::Absent);
        assert!(matches!(settings.password, Param::Cleared));
        assert_eq!(settings.minutes, Param::Absent);
        assert_eq!(
            settings
                .url
                .require("url", "a URL")
                .expect_err("missing")
                .to_string(),
            "missing parameter `url`: expected a URL"
        );
    }

    #[test]
    fn bad_values_are_named_by_path_and_secrets_never_quoted() {
        let cases = [
            (json!({"minutes": "soon"}), "minutes", "\"soon\""),
            (
                json!({"minutes": 61}),
                "minutes",
                "61 is not between 1 and 60",
            ),
            (
                json!({"events": ["push", 1]}),
                "events",
                "found a number in it",
            ),
            (
                json!({"active": "maybe"}),
                "active",
                "expected true or false",
            ),
            (json!({"headers": {"A": 3}}), "headers", "expected"),
            (json!({"checked": {"A": 3}}), "checked.A", "not text"),
            (
                json!({"password": ["hunter2"]}),
                "password",
                "expected a string, found an array",
            ),
            (json!({"url": {"x": 1}}), "url", "found an object"),
        ];
        for (given, path, says) in cases {
            let error = read(given).expect_err(path);
            assert_eq!(error.path(), path, "{error}");
            assert!(error.to_string().contains(says), "{error}");
            assert!(!error.to_string().contains("hunter2"), "{error}");
        }
    }

    #[test]
    fn unknown_names_are_refused_with_the_known_ones() {
        let error = read(json!({"url": "x", "urll": "y"})).expect_err("unknown");
        assert_eq!(
            error.to_string(),
            "invalid parameter `urll`: the test feed has no such parameter; it takes url, \
             events, minutes, active, password, headers, checked"
        );
        assert_eq!(
            names::<Settings>(),
            [
                "url", "events", "minutes", "active", "password", "headers", "checked"
            ]
        );
    }

    #[test]
    fn split_list_reads_json_arrays_too() {
        assert_eq!(split_list(r#"["a", " b "]"#), ["a", "b"]);
        assert_eq!(split_list(" a ,b,, "), ["a", "b"]);
        assert!(split_list("").is_empty());
    }
}
