//! JSON endpoints: the items are the list at `itemsPath`, each known by the value at `idPath`,
//! and fired as they are (the raw JSON item).

use serde_json::Value;

use super::{Answer, Ids, Items, ReadError, Source, SourceItem, content_type_note, quote};
use crate::path::JsonPath;

/// A JSON source and where its items and their ids sit.
#[derive(Debug, Clone, Copy)]
pub struct Json<'a> {
    pub items_path: &'a JsonPath,
    pub id_path: &'a JsonPath,
}

impl Source for Json<'_> {
    fn accept(&self) -> &'static str {
        "application/json"
    }

    fn ids(&self, answer: &Answer<'_>) -> Result<Ids, ReadError> {
        let body = parse(answer)?;
        let ids: Vec<Option<String>> = self.list(&body)?.iter().map(|v| self.id(v)).collect();
        let with_id = ids.iter().flatten().count();
        self.some_ids(with_id, ids.len() - with_id)?;
        Ok(Ids {
            ids,
            notes: Vec::new(),
        })
    }

    fn read(&self, answer: &Answer<'_>) -> Result<Items, ReadError> {
        let body = parse(answer)?;
        let mut items = Items::default();
        for value in self.list(&body)? {
            match self.id(value) {
                Some(id) => items.items.push(SourceItem {
                    id,
                    event: value.clone(),
                }),
                None => items.without_id += 1,
            }
        }
        self.some_ids(items.items.len(), items.without_id)?;
        Ok(items)
    }
}

fn parse(answer: &Answer<'_>) -> Result<Value, ReadError> {
    serde_json::from_slice(answer.body).map_err(|error| ReadError {
        parameter: "url",
        message: format!(
            "the body{} is not JSON ({error}){}",
            content_type_note(answer),
            quote(answer.body)
        ),
    })
}

impl Json<'_> {
    /// An item's id: the value at `idPath`.
    fn id(&self, item: &Value) -> Option<String> {
        self.id_path.lookup(item).and_then(id_text)
    }

    /// The list at `itemsPath`.
    fn list<'v>(&self, body: &'v Value) -> Result<&'v [Value], ReadError> {
        let found = self.items_path.lookup(body).ok_or_else(|| ReadError {
            parameter: "itemsPath",
            message: format!(
                "the response has nothing at itemsPath {:?}",
                self.items_path.as_str()
            ),
        })?;
        let Value::Array(values) = found else {
            let at = if self.items_path.is_root() {
                "the response body".to_owned()
            } else {
                format!("itemsPath {:?}", self.items_path.as_str())
            };
            return Err(ReadError {
                parameter: "itemsPath",
                message: format!("{at} is {}, not a list of items", feedkit::json_kind(found)),
            });
        };
        Ok(values)
    }

    /// A list whose items all lack ids means `idPath` is wrong.
    fn some_ids(&self, with_id: usize, without_id: usize) -> Result<(), ReadError> {
        if with_id > 0 || without_id == 0 {
            return Ok(());
        }
        Err(ReadError {
            parameter: "idPath",
            message: format!(
                "none of the {without_id} items has an id at idPath {:?}",
                self.id_path.as_str()
            ),
        })
    }
}

/// An id as text: a string as is, any other JSON compact; nothing for null or "".
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) if text.is_empty() => None,
        Value::String(text) => Some(text.clone()),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn paths(items: &str, id: &str) -> (JsonPath, JsonPath) {
        (
            JsonPath::parse(items).expect("items path"),
            JsonPath::parse(id).expect("id path"),
        )
    }

    fn read(source: &Json<'_>, body: &[u8]) -> Result<Items, ReadError> {
        source.read(&Answer {
            url: "https://example.com/api",
            content_type: Some("application/json"),
            body,
        })
    }

    #[test]
    fn items_are_found_by_paths_and_fired_raw() {
        let (items_path, id_path) = paths("data.items", "/meta/id");
        let source = Json {
            items_path: &items_path,
            id_path: &id_path,
        };
        let body = json!({"data": {"items": [
            {"meta": {"id": 1}}, {"meta": {"id": "1"}}, {"meta": {}}, {"meta": {"id": {"k": 2}}},
            {"meta": {"id": ""}}
        ]}});
        let items = read(&source, body.to_string().as_bytes()).expect("read");
        let ids: Vec<&str> = items.items.iter().map(|item| item.id.as_str()).collect();
        // Repeats are the engine's to drop: the number 1 and the string "1" read the same.
        assert_eq!(ids, ["1", "1", "{\"k\":2}"]);
        assert_eq!(items.items[3 - 1].event, json!({"meta": {"id": {"k": 2}}}));
        assert_eq!(items.without_id, 2);
        let ids = source
            .ids(&Answer {
                url: "https://example.com/api",
                content_type: None,
                body: body.to_string().as_bytes(),
            })
            .expect("ids");
        assert_eq!(
            ids.ids,
            [
                Some("1".into()),
                Some("1".into()),
                None,
                Some("{\"k\":2}".into()),
                None
            ]
        );
        assert_eq!(source.accept(), "application/json");
    }

    #[test]
    fn what_is_wrong_names_its_parameter() {
        let (items_path, id_path) = paths("data.items", "id");
        let source = Json {
            items_path: &items_path,
            id_path: &id_path,
        };
        for (body, parameter, message) in [
            (
                &br#"{"data": {}}"#[..],
                "itemsPath",
                "the response has nothing at itemsPath \"data.items\"",
            ),
            (
                br#"{"data": {"items": {"a": 1}}}"#,
                "itemsPath",
                "itemsPath \"data.items\" is an object, not a list of items",
            ),
            (
                br#"{"data": {"items": [{"x": 1}]}}"#,
                "idPath",
                "none of the 1 items has an id at idPath \"id\"",
            ),
        ] {
            let error = read(&source, body).expect_err("refused");
            assert_eq!(
                (error.parameter, error.message.as_str()),
                (parameter, message)
            );
        }
        let garbage =
            read(&source, b"<html>Service temporarily overloaded</html>").expect_err("not json");
        assert_eq!(garbage.parameter, "url");
        assert!(
            garbage
                .message
                .starts_with("the body (Content-Type application/json) is not JSON (")
                && garbage
                    .message
                    .ends_with("): <html>Service temporarily overloaded</html>"),
            "{}",
            garbage.message
        );
        let (root, plain) = paths("", "");
        let strings = Json {
            items_path: &root,
            id_path: &plain,
        };
        assert_eq!(
            read(&strings, br#"["a", "b"]"#)
                .expect("own ids")
                .items
                .len(),
            2
        );
        let scalar = read(&strings, b"3").expect_err("not a list");
        assert_eq!(
            scalar.message,
            "the response body is a number, not a list of items"
        );
    }
}
