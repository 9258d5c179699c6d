//! Web actions over real HTTP: export, the request as parameters (merged or raw), the result as
//! the response per extension, `require-whisk-auth`, `final` parameters, CORS.

use crate::support::{echo_action, sandbox, script};
use base64::Engine;
use sandbox::Sandbox;
use serde_json::{Value, json};
use std::time::Duration;

struct WebResp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl WebResp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request to `{sandbox}/api/v1/web/{path}`.
fn web(sb: &Sandbox, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> WebResp {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into();
    let url = format!("{}/api/v1/web/{path}", sb.url());
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let request = request.body(body.to_vec()).expect("a valid request");
    let mut response = agent.run(request).expect("the sandbox answers");
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_vec().unwrap_or_default();
    WebResp {
        status,
        headers,
        body,
    }
}

fn deploy(sb: &Sandbox, name: &str, zip: Vec<u8>, params: Value, annotations: Value) {
    sb.put_native_action("guest", name, zip, params, annotations)
        .expect("the action deploys");
}

#[test]
fn exported_actions_get_the_request_as_parameters_without_a_key() {
    let sb = sandbox();
    deploy(&sb, "hidden", echo_action(), json!({}), json!({}));
    deploy(
        &sb,
        "echo",
        echo_action(),
        json!({"fixed": 1}),
        json!({"web-export": true}),
    );
    sb.put_package(
        "guest",
        "pkg",
        json!({"fromPackage": true}),
        json!({}),
        false,
    )
    .unwrap();
    deploy(
        &sb,
        "pkg/echo",
        echo_action(),
        json!({}),
        json!({"web-export": true}),
    );

    assert_eq!(
        web(&sb, "GET", "guest/default/hidden.json", &[], b"").status,
        404
    );
    assert_eq!(
        web(&sb, "GET", "guest/default/nope.json", &[], b"").status,
        404
    );
    assert_eq!(
        web(&sb, "GET", "nobody/default/echo.json", &[], b"").status,
        404
    );

    let r = web(
        &sb,
        "GET",
        "guest/default/echo.json?a=1&b=x%20y",
        &[("X-Custom", "v")],
        b"",
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.header("x-openwhisk-activation-id").is_some());
    let args = r.json();
    assert_eq!(args["__ow_method"], "get");
    assert_eq!(args["__ow_path"], "");
    assert_eq!(args["__ow_headers"]["x-custom"], "v");
    assert_eq!(
        (&args["a"], &args["b"], &args["fixed"]),
        (&json!("1"), &json!("x y"), &json!(1))
    );
    assert!(args.get("__ow_user").is_none(), "anonymous");
    assert!(args.get("__ow_body").is_none());

    let r = web(
        &sb,
        "POST",
        "guest/pkg/echo.json/extra/path",
        &[("Content-Type", "application/json")],
        br#"{"b": 2, "nested": {"c": [3]}}"#,
    );
    let args = r.json();
    assert_eq!(args["__ow_method"], "post");
    assert_eq!(args["__ow_path"], "/extra/path");
    assert_eq!(args["b"], 2);
    assert_eq!(args["nested"], json!({"c": [3]}));
    assert_eq!(args["fromPackage"], true);
    assert_eq!(args["__ow_headers"]["content-type"], "application/json");

    let r = web(
        &sb,
        "PUT",
        "guest/default/echo.json",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"f=1&g=two+words",
    );
    assert_eq!(
        (&r.json()["f"], &r.json()["g"]),
        (&json!("1"), &json!("two words"))
    );
    let r = web(
        &sb,
        "POST",
        "guest/default/echo.json",
        &[("Content-Type", "text/plain")],
        b"plain",
    );
    assert_eq!(r.json()["__ow_body"], "plain");
    let r = web(
        &sb,
        "POST",
        "guest/default/echo.json",
        &[("Content-Type", "application/json")],
        b"{bad",
    );
    assert_eq!(r.status, 400);

    let r = web(
        &sb,
        "GET",
        "guest/default/echo.json?__ow_method=put",
        &[],
        b"",
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error"],
        "Request defines parameters that are not allowed (e.g., reserved properties)."
    );
}

#[test]
fn raw_actions_get_the_exact_body_and_query() {
    let sb = sandbox();
    deploy(
        &sb,
        "raw",
        echo_action(),
        json!({}),
        json!({"web-export": true, "raw-http": true}),
    );
    let body = br#"{"sig": "exact bytes",  "spaces":  1}"#;
    let r = web(
        &sb,
        "POST",
        "guest/default/raw.json?a=1&b=%20",
        &[
            ("Content-Type", "application/json"),
            ("X-Hub-Signature-256", "sha256=abc"),
        ],
        body,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let args = r.json();
    assert_eq!(args["__ow_query"], "a=1&b=%20");
    assert!(args.get("a").is_none(), "the query is not merged");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(args["__ow_body"].as_str().unwrap())
        .unwrap();
    assert_eq!(decoded, body, "JSON arrives base64-encoded, byte for byte");
    assert_eq!(args["__ow_headers"]["x-hub-signature-256"], "sha256=abc");

    let r = web(
        &sb,
        "POST",
        "guest/default/raw.json",
        &[("Content-Type", "text/plain")],
        b"hi there",
    );
    assert_eq!(r.json()["__ow_body"], "hi there");
    let bytes = [0u8, 159, 146, 150, 255];
    let r = web(
        &sb,
        "POST",
        "guest/default/raw.json",
        &[("Content-Type", "application/octet-stream")],
        &bytes,
    );
    assert_eq!(
        r.json()["__ow_body"],
        base64::engine::general_purpose::STANDARD.encode(bytes)
    );
    let r = web(&sb, "GET", "guest/default/raw.json", &[], b"");
    assert_eq!(
        (
            r.json()["__ow_body"].clone(),
            r.json()["__ow_query"].clone()
        ),
        (json!(""), json!(""))
    );
    let r = web(&sb, "GET", "guest/default/raw.json?__ow_body=x", &[], b"");
    assert_eq!(r.status, 200, "raw actions take the query as it is");
}

#[test]
fn results_become_http_responses() {
    let sb = sandbox();
    let png = base64::engine::general_purpose::STANDARD.encode([137u8, 80, 78, 71]);
    let answer = |result: Value| script(&format!("cat > /dev/null\necho '{result}'"));
    let web_export = json!({"web-export": true});
    deploy(
        &sb,
        "png",
        answer(
            json!({"statusCode": 201, "headers": {"Content-Type": "image/png", "X-Out": "yes"}, "body": png}),
        ),
        json!({}),
        web_export.clone(),
    );
    deploy(
        &sb,
        "obj",
        answer(json!({"body": {"ok": true}, "statusCode": "202"})),
        json!({}),
        web_export.clone(),
    );
    deploy(
        &sb,
        "teapot",
        answer(json!({"error": {"statusCode": 418, "body": "short and stout"}})),
        json!({}),
        web_export.clone(),
    );
    deploy(
        &sb,
        "html",
        answer(json!({"body": "<b>hi</b>"})),
        json!({}),
        web_export.clone(),
    );
    deploy(
        &sb,
        "text",
        answer(json!("not an object")),
        json!({}),
        web_export.clone(),
    );

    let r = web(&sb, "GET", "guest/default/png.http", &[], b"");
    assert_eq!(r.status, 201);
    assert_eq!(
        r.body,
        [137u8, 80, 78, 71],
        "binary bodies are base64-decoded"
    );
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert_eq!(r.header("x-out"), Some("yes"));
    let r = web(&sb, "GET", "guest/default/png", &[], b"");
    assert_eq!(r.status, 201, "no extension means .http");
    let r = web(&sb, "GET", "guest/default/png.json", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["body"], png, ".json returns the result itself");

    let r = web(&sb, "GET", "guest/default/obj.http", &[], b"");
    assert_eq!((r.status, r.json()), (202, json!({"ok": true})));
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let r = web(&sb, "GET", "guest/default/teapot.http", &[], b"");
    assert_eq!(
        (r.status, r.body.as_slice()),
        (418, b"short and stout".as_slice())
    );
    let r = web(&sb, "GET", "guest/default/html.http", &[], b"");
    assert_eq!(r.body, b"<b>hi</b>");
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let r = web(&sb, "GET", "guest/default/html.html", &[], b"");
    assert_eq!(r.body, b"<b>hi</b>");
    let r = web(&sb, "GET", "guest/default/obj.json", &[], b"");
    assert_eq!(r.json(), json!({"body": {"ok": true}, "statusCode": "202"}));
}

#[test]
fn require_whisk_auth_final_parameters_and_cors() {
    let sb = sandbox();
    deploy(
        &sb,
        "secret",
        echo_action(),
        json!({}),
        json!({"web-export": true, "require-whisk-auth": "s3cret"}),
    );
    deploy(
        &sb,
        "users",
        echo_action(),
        json!({"p": 1}),
        json!({"web-export": true, "require-whisk-auth": true, "final": true}),
    );
    assert_eq!(
        web(&sb, "GET", "guest/default/secret.json", &[], b"").status,
        401
    );
    let wrong = [("X-Require-Whisk-Auth", "nope")];
    assert_eq!(
        web(&sb, "GET", "guest/default/secret.json", &wrong, b"").status,
        401
    );
    let right = [("X-Require-Whisk-Auth", "s3cret")];
    assert_eq!(
        web(&sb, "GET", "guest/default/secret.json", &right, b"").status,
        200
    );

    assert_eq!(
        web(&sb, "GET", "guest/default/users.json", &[], b"").status,
        401
    );
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(sb.auth_key("guest"))
    );
    let auth = [("Authorization", basic.as_str())];
    let r = web(&sb, "GET", "guest/default/users.json", &auth, b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["__ow_user"], "guest");
    let r = web(&sb, "GET", "guest/default/users.json?p=2", &auth, b"");
    assert_eq!(r.status, 400, "final parameters cannot be overridden");

    let r = web(&sb, "OPTIONS", "guest/default/secret.json", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(
        r.header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    let r = web(&sb, "GET", "guest/default/secret.json", &right, b"");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
}
