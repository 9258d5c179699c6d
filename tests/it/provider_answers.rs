//! changes-feed against a changes provider that is not there or does not answer as the provider
//! does: the error never shows the provider URL's credentials, and a success status with an
//! answer that is not the provider's JSON is an error saying the answer was unreadable.

use std::net::TcpListener;

use fakes::{Body, Reply, ScriptedServer};
use sandbox::GUEST_AUTH_KEY;
use serde_json::{Value, json};

use crate::redirects::{deadline_env, sandbox_with_trigger};
use crate::support::{ActionRun, run_action, workspace_bin};

fn changes_feed(api_host: &str, params: &Value) -> ActionRun {
    let deadline = deadline_env();
    run_action(
        &workspace_bin("changes-feed"),
        params,
        &[
            ("__OW_API_HOST", api_host),
            ("__OW_NAMESPACE", "guest"),
            ("__OW_DEADLINE", deadline.as_str()),
        ],
    )
}

fn params(event: &str, provider_url: &str, database_url: &str) -> Value {
    let mut params = json!({
        "lifecycleEvent": event, "triggerName": "/_/t", "authKey": GUEST_AUTH_KEY,
        "providerUrl": provider_url, "providerSecret": "provider-s3cret",
    });
    if event == "CREATE" {
        params["dbUrl"] = json!(database_url);
        params["dbName"] = json!("orders");
    }
    params
}

#[test]
fn an_unreachable_provider_is_named_without_its_credentials() {
    let sandbox = sandbox_with_trigger("t");
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("port");
        listener.local_addr().expect("address").port()
    };
    let provider_url = format!("http://ops:hunter2-pw@127.0.0.1:{closed}");
    let run = changes_feed(&sandbox.url(), &params("READ", &provider_url, ""));
    let error = run.error();
    assert!(
        error.contains("is not reachable") && error.contains("`providerUrl`"),
        "{error}"
    );
    assert!(error.contains(&format!("127.0.0.1:{closed}")), "{error}");
    assert!(!run.logs().contains("hunter2-pw"), "{}", run.logs());
    assert!(!run.logs().contains("provider-s3cret"), "{}", run.logs());
}

#[test]
fn a_success_status_with_an_unreadable_answer_is_an_error() {
    let sandbox = sandbox_with_trigger("t");
    let database =
        ScriptedServer::always(Reply::json(200, &json!({"db_name": "orders"}))).expect("database");
    let answers = [
        (
            Reply::new(
                200,
                "text/html",
                "<html><body>Welcome to nginx!</body></html>",
            ),
            "not JSON: text/html",
        ),
        (
            Reply::new(200, "application/json", r#""ok""#),
            "a string, not a JSON object",
        ),
        (
            Reply::json(200, &json!({})).with_body(Body::Truncated {
                declared: 2000,
                sent: br#"{"trigger": "/guest/t", "config": {"#.to_vec(),
            }),
            "could not be read whole",
        ),
        (
            Reply::json(200, &json!({})).with_body(Body::Repeat {
                byte: b'x',
                len: 64 * 1024 * 1024,
            }),
            "larger than 1024 KiB",
        ),
        (
            Reply::json(200, &json!({"trigger": "/guest/t"})),
            "without the feed's `config` and `status`",
        ),
    ];
    for (reply, why) in answers {
        let provider = ScriptedServer::always(reply).expect("provider");
        for event in ["CREATE", "READ"] {
            let run = changes_feed(
                &sandbox.url(),
                &params(event, &provider.url(), &database.url()),
            );
            let error = run.error();
            assert!(
                error.contains("its answer was unreadable") && error.contains(why),
                "{event} {why}: {}",
                run.result
            );
            assert_eq!(run.result.as_object().map(|o| o.len()), Some(1));
            assert!(!run.logs().contains("provider-s3cret"), "{}", run.logs());
        }
    }
}
