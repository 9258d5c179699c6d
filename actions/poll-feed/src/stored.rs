//! Reading back what the feed stored on the helper trigger. Written by hand rather than derived:
//! it is the same few fields either way, and derived deserializers cost the action binaries
//! more size than anything else here (they must stay small zips).

use serde_json::{Map, Value};

/// The fields of one stored object; errors name the object and the field.
pub(crate) struct Fields<'a> {
    map: &'a Map<String, Value>,
    what: &'static str,
}

impl<'a> Fields<'a> {
    pub fn of(value: &'a Value, what: &'static str) -> Result<Self, String> {
        match value {
            Value::Object(map) => Ok(Self { map, what }),
            _ => Err(format!("{what} is not an object")),
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|value| !value.is_null())
    }

    fn bad(&self, key: &str, expected: &str) -> String {
        format!("{}.{key} is not {expected}", self.what)
    }

    pub fn value(&self, key: &str) -> Option<&'a Value> {
        self.get(key)
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<String>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(self.bad(key, "a string")),
        }
    }

    pub fn str(&self, key: &str) -> Result<String, String> {
        self.opt_str(key)?
            .ok_or_else(|| format!("{}.{key} is missing", self.what))
    }

    pub fn opt_u64(&self, key: &str) -> Result<Option<u64>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => value
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.bad(key, "a whole number")),
        }
    }

    /// A count or date that defaults to 0.
    pub fn u64(&self, key: &str) -> Result<u64, String> {
        Ok(self.opt_u64(key)?.unwrap_or_default())
    }

    pub fn bool(&self, key: &str) -> Result<bool, String> {
        match self.get(key) {
            None => Ok(false),
            Some(value) => value.as_bool().ok_or_else(|| self.bad(key, "a boolean")),
        }
    }

    pub fn strings(&self, key: &str) -> Result<Vec<String>, String> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| self.bad(key, "a list of strings"))
                })
                .collect(),
            Some(_) => Err(self.bad(key, "a list of strings")),
        }
    }

    /// A string field read as one of an enum's spellings.
    pub fn choice<T>(&self, key: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, String> {
        let text = self.str(key)?;
        parse(&text).ok_or_else(|| self.bad(key, "a known value"))
    }
}
