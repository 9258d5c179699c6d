//! A polled JSON endpoint for the Polling pattern: a list of items the test appends to or
//! rewrites, served with a strong `ETag` and a `Last-Modified` date that answer conditional
//! requests with 304, optional required headers (auth), and injectable faults (see
//! [`crate::polled`]).

use std::io;

use serde_json::{Value, json};

use crate::http::query_param;
use crate::polled::{Document, Fault, Polled, SourceRequest, Validators};

/// Where the items sit in the response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// The body is the JSON array of items.
    Array,
    /// The items sit under a path of objects: a JSON pointer (`/data/items`) or a dotted path
    /// (`data.items`), giving `{"data": {"items": [...]}}`.
    Nested(String),
}

/// The items and where they sit.
struct JsonItems {
    items: Vec<Value>,
    shape: Shape,
}

impl Document for JsonItems {
    fn render(&self, url: &str) -> (Vec<u8>, String) {
        let items = limited(&self.items, url);
        let body = shaped(&self.shape, items).to_string().into_bytes();
        (body, "application/json".to_owned())
    }
}

/// The polled JSON source server. Dropping it stops the server.
#[derive(Debug)]
pub struct JsonSource {
    polled: Polled<JsonItems>,
}

impl JsonSource {
    /// Starts the source on 127.0.0.1 with an OS-picked port, serving an empty array at
    /// `/items`.
    pub fn start() -> io::Result<JsonSource> {
        let items = JsonItems {
            items: Vec::new(),
            shape: Shape::Array,
        };
        Ok(JsonSource {
            polled: Polled::start(items, "/items")?,
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:PORT`; the items are at [`JsonSource::items_url`].
    pub fn url(&self) -> String {
        self.polled.url()
    }

    /// The full URL of the items (`{url}/items` unless [`JsonSource::set_path`] changed it).
    pub fn items_url(&self) -> String {
        self.polled.document_url()
    }

    /// Serves the items at another path (e.g. `/api/v2/feed`); other paths answer 404.
    pub fn set_path(&self, path: &str) {
        self.polled.set_path(path);
    }

    /// Where the items sit in the body; changes the ETag (and so counts as a change).
    pub fn set_body_shape(&self, shape: Shape) {
        self.polled.change(|items| items.shape = shape);
    }

    /// Appends an item (newest last).
    pub fn push(&self, item: Value) {
        self.polled.change(|items| items.items.push(item));
    }

    /// Replaces all items (for reordering, repeats, removals).
    pub fn set_items(&self, items: Vec<Value>) {
        self.polled.change(|current| current.items = items);
    }

    /// Makes the source misbehave (or behave again with [`Fault::None`]).
    pub fn set_fault(&self, fault: Fault) {
        self.polled.set_fault(fault);
    }

    /// Which validators the source sends (both by default).
    pub fn set_validators(&self, validators: Validators) {
        self.polled.set_validators(validators);
    }

    /// Requires a request header with exactly this value (name case-insensitive); requests
    /// without it get 401. Call again for more headers.
    pub fn require_header(&self, name: &str, value: &str) {
        self.polled.require_header(name, value);
    }

    /// Drops all header requirements.
    pub fn clear_required_headers(&self) {
        self.polled.clear_required_headers();
    }

    /// Every request that reached the source, oldest first.
    pub fn requests(&self) -> Vec<SourceRequest> {
        self.polled.requests()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.polled.clear_requests();
    }
}

/// `?limit=N` keeps the newest N items (still oldest first).
fn limited<'a>(items: &'a [Value], url: &str) -> &'a [Value] {
    match query_param(url, "limit").and_then(|l| l.parse::<usize>().ok()) {
        Some(limit) if limit < items.len() => &items[items.len() - limit..],
        _ => items,
    }
}

fn shaped(shape: &Shape, items: &[Value]) -> Value {
    let array = Value::Array(items.to_vec());
    match shape {
        Shape::Array => array,
        Shape::Nested(path) => path_segments(path)
            .iter()
            .rev()
            .fold(array, |inner, key| json!({ key: inner })),
    }
}

/// The keys of a JSON pointer (`/a/b`, with `~1` and `~0` escapes) or a dotted path (`a.b`).
fn path_segments(path: &str) -> Vec<String> {
    if let Some(pointer) = path.strip_prefix('/') {
        pointer
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect()
    } else {
        path.split('.')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_shapes_accept_pointers_and_dotted_paths() {
        let items = [json!({"id": "a"})];
        let expected = json!({"data": {"items": [{"id": "a"}]}});
        assert_eq!(
            shaped(&Shape::Nested("/data/items".into()), &items),
            expected
        );
        assert_eq!(
            shaped(&Shape::Nested("data.items".into()), &items),
            expected
        );
        assert_eq!(
            shaped(&Shape::Nested("/a~1b".into()), &items),
            json!({"a/b": [{"id": "a"}]})
        );
        assert_eq!(shaped(&Shape::Array, &items), json!([{"id": "a"}]));
    }

    #[test]
    fn limit_keeps_the_newest() {
        let items = [json!(1), json!(2), json!(3)];
        assert_eq!(limited(&items, "/items?limit=2"), &items[1..]);
        assert_eq!(limited(&items, "/items?limit=9"), &items[..]);
        assert_eq!(limited(&items, "/items"), &items[..]);
    }
}
