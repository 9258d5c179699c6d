//! The web action: routes one request and turns every outcome into an HTTP answer and one log
//! line (no secret in either).

use feedkit::params::Param;
use feedkit::web::{Served, WebAction, WebError, WebRequest, percent_decode};
use feedkit::{Activation, QualifiedName};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::deliver::deliver;
use crate::keys::RelayKeys;
use crate::seal::seal;
use crate::wire::{DELIVER_PATH, SEAL_PATH};

/// OpenWhisk's longest entity name.
const MAX_NAME_CHARS: usize = 256;

/// The relay: `main` hands it to [`feedkit::run_web_action`].
pub struct Relay;

/// What the relay's private package binds.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RelayParams {
    /// The relay keys, a JSON list `[{"id", "key"}]` (read when a request needs them, so that
    /// the status route can say what is wrong with them).
    pub relay_keys: Param<Value>,
}

enum Route {
    /// The action's own URL: says whether the relay is ready.
    Status,
    Seal,
    Deliver(QualifiedName),
}

impl WebAction for Relay {
    type Params = RelayParams;
    const NAME: &'static str = "hook-relay";

    fn serve(
        &self,
        request: &WebRequest,
        activation: &mut Activation<'_, RelayParams>,
    ) -> Result<Served, WebError> {
        let route = route(&request.path)?;
        let keys = activation.params.relay_keys.get().cloned();
        let allow = |methods: &[&str]| {
            if methods.contains(&request.method.as_str()) {
                Ok(())
            } else {
                Err(WebError::new(
                    405,
                    format!("use {}", methods.join(" or ").to_ascii_uppercase()),
                ))
            }
        };
        match route {
            Route::Status => {
                allow(&["get", "head"])?;
                let configured = RelayKeys::from_param(keys.as_ref());
                let log = match &configured {
                    Ok(_) => "status: configured".to_owned(),
                    Err(error) => format!("status: not configured ({error})"),
                };
                let body = json!({ "relay": "hook-relay", "configured": configured.is_ok() });
                Ok(Served {
                    status: 200,
                    body,
                    log,
                })
            }
            Route::Seal => {
                allow(&["post"])?;
                let answer = seal(request, keys.as_ref(), activation)?;
                Ok(Served {
                    status: 200,
                    body: answer.body,
                    log: answer.log,
                })
            }
            Route::Deliver(trigger) => {
                allow(&["post"])?;
                let delivered = deliver(request, &trigger, keys.as_ref(), activation)?;
                Ok(Served {
                    status: delivered.status,
                    body: delivered.body,
                    log: delivered.log,
                })
            }
        }
    }
}

fn route(path: &str) -> Result<Route, WebError> {
    let not_found = || {
        WebError::new(
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

#[cfg(test)]
mod tests {
    use super::*;
    use feedkit::Context;

    fn call(method: &str, path: &str, keys: Value) -> Value {
        let params = json!({
            "__ow_method": method,
            "__ow_headers": {},
            "__ow_path": path,
            "__ow_query": "",
            "__ow_body": "",
            "relayKeys": keys,
        });
        feedkit::web::dispatch_web_action(&Relay, params, &Context::default())
            .expect("always a response")
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
        let plain = feedkit::web::dispatch_web_action(&Relay, json!({"x": 1}), &Context::default())
            .expect("response");
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
