//! Where the items, and each item's id, sit in a JSON document.
//!
//! Two spellings: a JSON pointer (`/data/items`, RFC 6901 escapes `~1` and `~0`) or a dotted path
//! (`data.items`, optionally starting with `$.`). A segment that is a whole number indexes an
//! array (`data.pages.0.items`). The empty path is the document itself.

use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::Value;

/// A parsed path, kept with the text the user gave (shown back in READ and in errors).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JsonPath {
    text: String,
    segments: Vec<String>,
}

impl JsonPath {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let segments = if text.is_empty() || text == "$" {
            Vec::new()
        } else if let Some(pointer) = text.strip_prefix('/') {
            pointer
                .split('/')
                .map(|segment| segment.replace("~1", "/").replace("~0", "~"))
                .collect()
        } else {
            let dotted = text.strip_prefix("$.").unwrap_or(text);
            let segments: Vec<String> = dotted.split('.').map(str::to_owned).collect();
            if segments.iter().any(|segment| segment.trim().is_empty()) {
                return Err(format!(
                    "{text:?} has an empty segment; expected a dotted path like `data.items` or a JSON pointer like `/data/items`"
                ));
            }
            segments
        };
        Ok(Self {
            text: text.to_owned(),
            segments,
        })
    }

    /// The path as the user wrote it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the path is the document itself.
    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// The value at the path, if every segment exists.
    pub fn lookup<'a>(&self, document: &'a Value) -> Option<&'a Value> {
        self.segments
            .iter()
            .try_fold(document, |value, segment| match value {
                Value::Object(map) => map.get(segment),
                Value::Array(items) => segment
                    .parse::<usize>()
                    .ok()
                    .and_then(|index| items.get(index)),
                _ => None,
            })
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for JsonPath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at<'a>(path: &str, document: &'a Value) -> Option<&'a Value> {
        JsonPath::parse(path).expect(path).lookup(document)
    }

    #[test]
    fn dotted_paths_and_pointers_find_the_same_values() {
        let document = json!({"data": {"items": [{"id": 1}, {"id": 2}], "a/b": {"~": 3}}});
        assert_eq!(at("data.items.1.id", &document), Some(&json!(2)));
        assert_eq!(at("$.data.items.0.id", &document), Some(&json!(1)));
        assert_eq!(at("/data/items/1/id", &document), Some(&json!(2)));
        assert_eq!(at("/data/a~1b/~0", &document), Some(&json!(3)));
        assert_eq!(at("", &document), Some(&document));
        assert_eq!(at("$", &document), Some(&document));
        assert_eq!(at("data.missing", &document), None);
        assert_eq!(at("data.items.x", &document), None);
        assert_eq!(at("data.items.0.id.deeper", &document), None);
    }

    #[test]
    fn empty_dotted_segments_are_refused() {
        for bad in ["data..items", ".data", "data.", "$."] {
            assert!(JsonPath::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn serializes_as_the_text_given() {
        let path = JsonPath::parse(" data.items ").expect("valid");
        assert_eq!(
            serde_json::to_value(&path).expect("json"),
            json!("data.items")
        );
    }
}
