//! The feed-action protocol: `lifecycleEvent`, `triggerName`, `authKey` and the feed's own
//! parameters, dispatched to one method per event.

use std::fmt;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::client::QualifiedName;
use crate::context::Context;
use crate::error::ActionError;
use crate::params::{ParamError, Text};
use crate::runtime::run;
use crate::secret::AuthKey;
use crate::session::FeedSession;

/// The events a feed action is invoked with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LifecycleEvent {
    Create,
    Read,
    Update,
    Delete,
    Pause,
    Unpause,
}

impl LifecycleEvent {
    pub const ALL: [LifecycleEvent; 6] = [
        Self::Create,
        Self::Read,
        Self::Update,
        Self::Delete,
        Self::Pause,
        Self::Unpause,
    ];
    const EXPECTED: &'static str = "one of CREATE, READ, UPDATE, DELETE, PAUSE, UNPAUSE";

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "CREATE",
            Self::Read => "READ",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
            Self::Pause => "PAUSE",
            Self::Unpause => "UNPAUSE",
        }
    }
}

impl fmt::Display for LifecycleEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LifecycleEvent {
    type Err = ParamError;

    fn from_str(text: &str) -> Result<Self, ParamError> {
        let wanted = text.trim();
        Self::ALL
            .into_iter()
            .find(|event| event.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| {
                ParamError::invalid(
                    "lifecycleEvent",
                    format!(
                        "{wanted:?} is not a lifecycle event; expected {}",
                        Self::EXPECTED
                    ),
                )
            })
    }
}

/// The opt-in for development hosts with self-signed certificates.
const IGNORE_CERTS: &str = "ignoreCerts";

/// One invocation of a feed action, its protocol parameters parsed.
#[derive(Debug, Clone)]
pub(crate) struct FeedRequest {
    pub event: LifecycleEvent,
    /// The user's trigger. Its namespace may still be `_` (see [`FeedSession::trigger`]).
    pub trigger: QualifiedName,
    /// The trigger owner's key.
    pub auth_key: AuthKey,
    /// Everything else: the feed's own parameters (and any package-bound ones).
    pub params: Map<String, Value>,
    /// `ignoreCerts`: accept the OpenWhisk API host's certificate unchecked, for development
    /// deployments with self-signed certificates (bind it on the package; off by default).
    pub ignore_certs: bool,
}

/// A protocol parameter given as text (numbers too, as the CLI may send them).
fn protocol_text(params: &Map<String, Value>, name: &str) -> Result<Option<String>, ParamError> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => serde::Deserialize::deserialize(value)
            .map(|text: Text| text)
            .map(|text| Some(text.into_string()).filter(|text| !text.is_empty()))
            .map_err(|error| ParamError::invalid(name, error)),
    }
}

impl FeedRequest {
    /// Parses the protocol parameters, naming the first that is missing or malformed. The key's
    /// value is never echoed.
    pub fn parse(params: Value) -> Result<Self, ParamError> {
        let mut params = match params {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => {
                return Err(ParamError::invalid(
                    "(parameters)",
                    format!(
                        "expected a JSON object, found {}",
                        crate::params::kind(&other)
                    ),
                ));
            }
        };
        let event = protocol_text(&params, "lifecycleEvent")?
            .ok_or_else(|| ParamError::missing("lifecycleEvent", LifecycleEvent::EXPECTED))?
            .parse()?;
        let trigger_text = protocol_text(&params, "triggerName")?.ok_or_else(|| {
            ParamError::missing(
                "triggerName",
                "the trigger's fully qualified name, e.g. /namespace/trigger",
            )
        })?;
        let trigger = QualifiedName::parse(&trigger_text)
            .map_err(|problem| ParamError::invalid("triggerName", problem))?;
        if trigger.package().is_some() {
            return Err(ParamError::invalid(
                "triggerName",
                format!("{trigger_text:?} names a package entity; triggers are not in packages"),
            ));
        }
        let auth_key = match params.get("authKey") {
            None | Some(Value::Null) => {
                return Err(ParamError::missing(
                    "authKey",
                    "the trigger owner's API key `uuid:key`",
                ));
            }
            Some(Value::String(text)) => {
                AuthKey::parse(text).map_err(|problem| ParamError::invalid("authKey", problem))?
            }
            Some(_) => {
                return Err(ParamError::invalid(
                    "authKey",
                    "expected an OpenWhisk API key of the form `uuid:key`, found a non-string",
                ));
            }
        };
        let ignore_certs = match params.remove(IGNORE_CERTS) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(flag)) => flag,
            Some(Value::String(text)) if text.trim().eq_ignore_ascii_case("true") => true,
            Some(Value::String(text)) if text.trim().eq_ignore_ascii_case("false") => false,
            Some(_) => {
                return Err(ParamError::invalid(IGNORE_CERTS, "expected true or false"));
            }
        };
        for protocol in ["lifecycleEvent", "triggerName", "authKey"] {
            params.remove(protocol);
        }
        Ok(Self {
            event,
            trigger,
            auth_key,
            params,
            ignore_certs,
        })
    }
}

/// A feed: its parameters, declared once as a struct (see [`crate::params`]), and one method per
/// lifecycle event. There are no defaults on purpose: a feed that "succeeds" at an event it
/// ignores is what users complain about in the reference feeds.
///
/// [`dispatch_feed`] reads the protocol parameters and `Params` (refusing unknown names and bad
/// values before anything goes over the network), opens the [`FeedSession`] and calls the
/// event's method; the result or error comes back with every secret masked.
pub trait Feed {
    /// The feed's own parameters (package-bound ones included).
    type Params: DeserializeOwned;
    /// The action's name, for messages and log lines.
    const NAME: &'static str;

    fn create(&self, session: &mut FeedSession<'_, Self::Params>) -> Result<Value, ActionError>;
    fn read(&self, session: &mut FeedSession<'_, Self::Params>) -> Result<Value, ActionError>;
    fn update(&self, session: &mut FeedSession<'_, Self::Params>) -> Result<Value, ActionError>;
    fn delete(&self, session: &mut FeedSession<'_, Self::Params>) -> Result<Value, ActionError>;
    fn pause(&self, session: &mut FeedSession<'_, Self::Params>) -> Result<Value, ActionError>;
    fn unpause(&self, session: &mut FeedSession<'_, Self::Params>) -> Result<Value, ActionError>;
}

/// Reads the parameters, opens the session and calls the method for the event.
pub fn dispatch_feed<F: Feed + ?Sized>(
    feed: &F,
    params: Value,
    context: &Context,
) -> Result<Value, ActionError> {
    let (parsed, secrets) = crate::secret::collect(|| {
        let request = FeedRequest::parse(params)?;
        let own = crate::params::parse::<F::Params>(&request.params, F::NAME)?;
        Ok::<_, ParamError>((request, own))
    });
    let (request, own) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => {
            let mut redactor = crate::redact::Redactor::default();
            for secret in &secrets {
                redactor.add_secret(secret);
            }
            return Err(ActionError::new(redactor.text(&error.to_string())));
        }
    };
    let mut session = FeedSession::new(
        F::NAME,
        request.event,
        request.trigger,
        request.auth_key,
        own,
        &secrets,
        request.ignore_certs,
        context,
    )?;
    let outcome = match session.event() {
        LifecycleEvent::Create => feed.create(&mut session),
        LifecycleEvent::Read => feed.read(&mut session),
        LifecycleEvent::Update => feed.update(&mut session),
        LifecycleEvent::Delete => feed.delete(&mut session),
        LifecycleEvent::Pause => feed.pause(&mut session),
        LifecycleEvent::Unpause => feed.unpause(&mut session),
    };
    session.finish(outcome)
}

/// Runs `feed` as the process's action: the `main` of every feed binary.
pub fn run_feed<F: Feed>(feed: F) {
    run(|params: Value, context: &Context| dispatch_feed(&feed, params, context));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Param;
    use serde_json::json;

    /// Answers with the event it got, so dispatch is observable.
    struct Echo;

    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(default)]
    struct EchoParams {
        repo: Param<Text>,
    }

    fn echo(session: &mut FeedSession<'_, EchoParams>) -> Result<Value, ActionError> {
        Ok(json!({
            "event": session.event().as_str(),
            "trigger": session.trigger().to_string(),
            "user": session.auth_key().user(),
            "params": {"repo": session.params.repo.get().map(Text::as_str)},
        }))
    }

    impl Feed for Echo {
        type Params = EchoParams;
        const NAME: &'static str = "echo";
        fn create(&self, s: &mut FeedSession<'_, EchoParams>) -> Result<Value, ActionError> {
            echo(s)
        }
        fn read(&self, s: &mut FeedSession<'_, EchoParams>) -> Result<Value, ActionError> {
            echo(s)
        }
        fn update(&self, s: &mut FeedSession<'_, EchoParams>) -> Result<Value, ActionError> {
            echo(s)
        }
        fn delete(&self, s: &mut FeedSession<'_, EchoParams>) -> Result<Value, ActionError> {
            echo(s)
        }
        fn pause(&self, s: &mut FeedSession<'_, EchoParams>) -> Result<Value, ActionError> {
            echo(s)
        }
        fn unpause(&self, s: &mut FeedSession<'_, EchoParams>) -> Result<Value, ActionError> {
            echo(s)
        }
    }

    fn call(params: Value) -> Result<Value, ActionError> {
        let context = Context {
            // Port 9 (discard): the echo makes no call.
            api_host: Some("http://127.0.0.1:9".into()),
            ..Context::default()
        };
        dispatch_feed(&Echo, params, &context)
    }

    #[test]
    fn dispatches_every_event_in_any_case() {
        for event in LifecycleEvent::ALL {
            for spelling in [event.as_str().to_owned(), event.as_str().to_lowercase()] {
                let result = call(json!({
                    "lifecycleEvent": spelling,
                    "triggerName": "/guest/t",
                    "authKey": "uuid:secret",
                    "repo": "o/r",
                }))
                .expect("dispatched");
                assert_eq!(result["event"], event.as_str());
                assert_eq!(result["trigger"], "/guest/t");
                assert_eq!(result["user"], "uuid");
                assert_eq!(result["params"], json!({"repo": "o/r"}));
            }
        }
    }

    #[test]
    fn bad_protocol_parameters_are_named_and_the_key_never_echoed() {
        let base = json!({"lifecycleEvent": "CREATE", "triggerName": "/guest/t", "authKey": "uuid:secret"});
        let cases = [
            (
                "lifecycleEvent",
                Value::Null,
                "missing parameter `lifecycleEvent`: expected one of CREATE, READ, UPDATE, DELETE, PAUSE, UNPAUSE",
            ),
            (
                "lifecycleEvent",
                json!("EXPLODE"),
                "invalid parameter `lifecycleEvent`: \"EXPLODE\" is not a lifecycle event; expected one of CREATE",
            ),
            (
                "lifecycleEvent",
                json!(["CREATE"]),
                "invalid parameter `lifecycleEvent`: expected a string",
            ),
            (
                "triggerName",
                Value::Null,
                "missing parameter `triggerName`",
            ),
            (
                "triggerName",
                json!("/a/b/c/d"),
                "invalid parameter `triggerName`",
            ),
            (
                "triggerName",
                json!("/guest/pkg/t"),
                "triggers are not in packages",
            ),
            ("authKey", Value::Null, "missing parameter `authKey`"),
            (
                "authKey",
                json!("nocolon-secret"),
                "invalid parameter `authKey`: expected an OpenWhisk API key",
            ),
            ("authKey", json!(42), "invalid parameter `authKey`"),
        ];
        for (name, value, expected) in cases {
            let mut params = base.clone();
            params[name] = value;
            let error = call(params).expect_err(expected);
            assert!(error.message().contains(expected), "{name}: {error}");
            assert!(!error.message().contains("secret"), "{error}");
        }
    }

    #[test]
    fn ignore_certs_is_an_opt_in_kept_out_of_the_feeds_parameters() {
        let base = json!({"lifecycleEvent": "READ", "triggerName": "/g/t", "authKey": "u:k"});
        let request = FeedRequest::parse(base.clone()).expect("parsed");
        assert!(!request.ignore_certs);
        for (value, expected) in [
            (json!(true), true),
            (json!("true"), true),
            (json!(false), false),
        ] {
            let mut params = base.clone();
            params["ignoreCerts"] = value;
            let request = FeedRequest::parse(params).expect("parsed");
            assert_eq!(request.ignore_certs, expected);
            assert!(!request.params.contains_key("ignoreCerts"));
        }
        let mut params = base;
        params["ignoreCerts"] = json!("sometimes");
        let error = FeedRequest::parse(params).expect_err("bad");
        assert_eq!(error.path(), "ignoreCerts");
    }

    #[test]
    fn underscore_namespace_is_kept_until_resolved() {
        let result = call(json!({"lifecycleEvent": "READ", "triggerName": "t", "authKey": "u:k"}))
            .expect("dispatched");
        assert_eq!(result["trigger"], "/_/t");
    }
}
