//! The web action: routes one request and turns every outcome into an HTTP answer and one log
//! line (no secret in either).

use feedkit::{ActionError, Context, QualifiedName};
use serde_json::{Map, Value, json};

use crate::deliver::deliver;
use crate::encoding::percent_decode;
use crate::keys::{RELAY_KEYS, RelayKeys};
use crate::seal::seal;
use crate::web::{HttpError, WebRequest, response};
use crate::wire::{DELIVER_PATH, SEAL_PATH};

/// OpenWhisk's longest entity name.
const MAX_NAME_CHARS: usize = 256;

enum Route {
    /// The action's own URL: says whether the relay is ready.
    Status,
    Seal,
    Deliver(QualifiedName),
}

/// The action's handler: `main` hands it to [`feedkit::run`]. Always answers with a response
/// for OpenWhisk to send (never an `error` result, which a web action would turn into a 4xx of
/// its own).
pub fn handle(params: Value, context: &Context) -> Result<Value, ActionError> {
    let params = match params {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let (reply, log) = match serve(&params, context) {
        Ok((status, body, log)) => (response(status, &body), log),
        Err((error, what)) => {
            let log = format!("{what}: refused {}: {}", error.status, error.message);
            (error.response(), log)
        }
    };
    eprintln!("hook-relay: {log}");
    Ok(reply)
}

type Served = Result<(u16, Value, String), (HttpError, String)>;

fn serve(params: &Map<String, Value>, context: &Context) -> Served {
    let request = WebRequest::from_params(params).map_err(|e| (e, "invocation".to_owned()))?;
    let what = format!(
        "{} {}",
        request.method.to_ascii_uppercase(),
        shown_path(&request.path)
    );
    let fail = |error: HttpError| (error, what.clone());
    let route = route(&request.path).map_err(fail)?;
    let keys = params.get(RELAY_KEYS);
    let allow = |methods: &[&str]| {
        if methods.contains(&request.method.as_str()) {
            Ok(())
        } else {
            Err(HttpError::new(
                405,
                format!("use {}", methods.join(" or ").to_ascii_uppercase()),
            ))
        }
    };
    match route {
        Route::Status => {
            allow(&["get", "head"]).map_err(fail)?;
            let configured = RelayKeys::from_param(keys);
            let log = match &configured {
                Ok(_) => "status: configured".to_owned(),
                Err(error) => format!("status: not configured ({error})"),
            };
            let body = json!({ "relay": "hook-relay", "configured": configured.is_ok() });
            Ok((200, body, log))
        }
        Route::Seal => {
            allow(&["post"]).map_err(fail)?;
            let answer = seal(&request, keys, context).map_err(fail)?;
            Ok((200, answer.body, answer.log))
        }
        Route::Deliver(trigger) => {
            allow(&["post"]).map_err(fail)?;
            let delivered = deliver(&request, &trigger, keys, context).map_err(fail)?;
            Ok((delivered.status, delivered.body, delivered.log))
        }
    }
}

fn route(path: &str) -> Result<Route, HttpError> {
    let not_found = || {
        HttpError::new(
            404,
            format!("the relay serves {SEAL_PATH} and {DELIVER_PATH}/{{namespace}}/{{trigger}}"),
        )
    };
    let path = path.trim_end_matches('/');
    if path.is_empty() {
        return Ok(Route::Status);
    }
    if path == SEAL_PATH {
        return Ok(Route::Seal);
    }
    let rest = path.strip_prefix(DELIVER_PATH).ok_or_else(not_found)?;
    let segments: Vec<String> = rest
        .split('/')
        .skip(1)
        .map(|segment| String::from_utf8_lossy(&percent_decode(segment, false)).into_owned())
        .collect();
    let [namespace, name] = segments.as_slice() else {
        return Err(not_found());
    };
    let valid = |segment: &str| {
        !segment.trim().is_empty()
            && segment.len() <= MAX_NAME_CHARS
            && !segment.contains(['/', '?', '#'])
            && !segment.chars().any(char::is_control)
    };
    if !valid(namespace) || !valid(name) || namespace == feedkit::DEFAULT_NAMESPACE {
        return Err(not_found());
    }
    Ok(Route::Deliver(QualifiedName::new(namespace, None, name)))
}

/// The path for the log: the route's words and names only.
fn shown_path(path: &str) -> String {
    path.chars()
        .filter(|c| !c.is_control())
        .take(2 * MAX_NAME_CHARS + 16)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(method: &str, path: &str, keys: Value) -> Value {
        let params = json!({
            "__ow_method": method,
            "__ow_headers": {},
            "__ow_path": path,
            "__ow_query": "",
            "__ow_body": "",
            "relayKeys": keys,
        });
        handle(params, &Context::default()).expect("always a response")
    }

    #[test]
    fn routes_and_methods() {
        let keys = json!([{"id": "k1", "key": crate::encoding::encode_url_safe(&[1u8; 32])}]);
        let status = call("get", "", keys.clone());
        assert_eq!(status["statusCode"], 200);
        assert_eq!(status["body"]["configured"], true);
        assert_eq!(call("get", "/", Value::Null)["body"]["configured"], false);
        assert_eq!(call("get", "/seal", keys.clone())["statusCode"], 405);
        assert_eq!(
            call("get", "/deliver/guest/t", keys.clone())["statusCode"],
            405
        );
        for unknown in [
            "/nope",
            "/deliver/guest",
            "/deliver/guest/t/x",
            "/deliver/_/t",
            "/deliver//t",
        ] {
            assert_eq!(
                call("post", unknown, keys.clone())["statusCode"],
                404,
                "{unknown}"
            );
        }
        // Unsigned: refused before anything else.
        assert_eq!(
            call("post", "/deliver/guest/my%20t", keys.clone())["statusCode"],
            401
        );
        assert_eq!(call("post", "/seal", keys)["statusCode"], 400);
        let plain = handle(json!({"x": 1}), &Context::default()).expect("response");
        assert_eq!(plain["statusCode"], 400);
    }

    #[test]
    fn delivery_routes_decode_names() {
        match route("/deliver/guest/my%20hook") {
            Ok(Route::Deliver(name)) => assert_eq!(name.to_string(), "/guest/my hook"),
            _ => panic!("expected a delivery route"),
        }
    }
}
