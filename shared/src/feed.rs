//! The feed-action protocol: `lifecycleEvent`, `triggerName`, `authKey` and the feed's own
//! parameters, dispatched to one method per event.

use std::fmt;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::client::{Client, ClientOptions, QualifiedName};
use crate::context::Context;
use crate::error::ActionError;
use crate::legacy_params::Params;
use crate::params::ParamError;
use crate::runtime::run;
use crate::secret::AuthKey;
use crate::session::{FeedSession, trigger_access_error};

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
pub struct FeedRequest {
    pub event: LifecycleEvent,
    /// The user's trigger. Its namespace may still be `_`; see [`FeedRequest::resolve_trigger`].
    pub trigger: QualifiedName,
    /// The trigger owner's key.
    pub auth_key: AuthKey,
    /// Everything else: the feed's own parameters (and any package-bound ones).
    pub params: Params,
    /// `ignoreCerts`: accept the OpenWhisk API host's certificate unchecked, for development
    /// deployments with self-signed certificates (bind it on the package; off by default).
    pub ignore_certs: bool,
}

impl FeedRequest {
    /// Parses the protocol parameters, naming the first that is missing or malformed. The key's
    /// value is never echoed.
    pub fn parse(params: Value) -> Result<Self, ParamError> {
        let mut params = Params::from_value(params)?;
        let event = params
            .get_str("lifecycleEvent")?
            .ok_or_else(|| ParamError::missing("lifecycleEvent", LifecycleEvent::EXPECTED))?
            .parse()?;
        let trigger_text = params.require_str(
            "triggerName",
            "the trigger's fully qualified name, e.g. /namespace/trigger",
        )?;
        let trigger = QualifiedName::parse(&trigger_text)
            .map_err(|problem| ParamError::invalid("triggerName", problem))?;
        if trigger.package().is_some() {
            return Err(ParamError::invalid(
                "triggerName",
                format!("{trigger_text:?} names a package entity; triggers are not in packages"),
            ));
        }
        let auth_key = match params.raw("authKey") {
            None => {
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
            None => false,
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

    /// An OpenWhisk client acting as the trigger's owner, within the activation's deadline.
    pub fn client(&self, context: &Context) -> Result<Client, ActionError> {
        self.client_with(context, ClientOptions::default())
    }

    /// Like [`FeedRequest::client`] with options; `ignoreCerts` turns `insecure` on.
    pub fn client_with(
        &self,
        context: &Context,
        mut options: ClientOptions,
    ) -> Result<Client, ActionError> {
        options.insecure |= self.ignore_certs;
        Ok(context.client_with(self.auth_key.clone(), options)?)
    }

    /// Resolves `_` in the trigger's name to the key's own namespace and returns the full name.
    pub fn resolve_trigger(&mut self, client: &Client) -> Result<&QualifiedName, ActionError> {
        if self.trigger.is_default_namespace() {
            self.trigger = client.resolve(&self.trigger).map_err(|error| {
                if error.is_unauthorized() {
                    ActionError::new(format!(
                        "invalid parameter `authKey`: OpenWhisk does not accept it ({error})"
                    ))
                } else {
                    ActionError::from(error).context("resolving the namespace of the trigger")
                }
            })?;
        }
        Ok(&self.trigger)
    }

    /// Checks that the key can read the trigger before the feed acts on it, and returns the
    /// trigger as OpenWhisk describes it.
    pub fn check_trigger(&self, client: &Client) -> Result<Value, ActionError> {
        client
            .get_trigger(&self.trigger)
            .map_err(|error| trigger_access_error(&self.trigger, error))
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
        let own = crate::params::parse::<F::Params>(request.params.as_map(), F::NAME)?;
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

/// The feed trait of the feeds not yet on [`FeedSession`]: goes with them.
pub trait LegacyFeed {
    fn create(&self, request: FeedRequest, context: &Context) -> Result<Value, ActionError>;
    fn read(&self, request: FeedRequest, context: &Context) -> Result<Value, ActionError>;
    fn update(&self, request: FeedRequest, context: &Context) -> Result<Value, ActionError>;
    fn delete(&self, request: FeedRequest, context: &Context) -> Result<Value, ActionError>;
    fn pause(&self, request: FeedRequest, context: &Context) -> Result<Value, ActionError>;
    fn unpause(&self, request: FeedRequest, context: &Context) -> Result<Value, ActionError>;
}

/// [`dispatch_feed`] for a [`LegacyFeed`].
pub fn dispatch_legacy_feed<F: LegacyFeed + ?Sized>(
    feed: &F,
    params: Value,
    context: &Context,
) -> Result<Value, ActionError> {
    let request = FeedRequest::parse(params)?;
    match request.event {
        LifecycleEvent::Create => feed.create(request, context),
        LifecycleEvent::Read => feed.read(request, context),
        LifecycleEvent::Update => feed.update(request, context),
        LifecycleEvent::Delete => feed.delete(request, context),
        LifecycleEvent::Pause => feed.pause(request, context),
        LifecycleEvent::Unpause => feed.unpause(request, context),
    }
}

/// [`run_feed`] for a [`LegacyFeed`].
pub fn run_legacy_feed<F: LegacyFeed>(feed: F) {
    run(|params: Value, context: &Context| dispatch_legacy_feed(&feed, params, context));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Answers with the event it got, so dispatch is observable.
    struct Echo;

    fn echo(request: FeedRequest) -> Result<Value, ActionError> {
        Ok(json!({
            "event": request.event.as_str(),
            "trigger": request.trigger.to_string(),
            "user": request.auth_key.user(),
            "params": request.params.as_map(),
        }))
    }

    impl LegacyFeed for Echo {
        fn create(&self, r: FeedRequest, _: &Context) -> Result<Value, ActionError> {
            echo(r)
        }
        fn read(&self, r: FeedRequest, _: &Context) -> Result<Value, ActionError> {
            echo(r)
        }
        fn update(&self, r: FeedRequest, _: &Context) -> Result<Value, ActionError> {
            echo(r)
        }
        fn delete(&self, r: FeedRequest, _: &Context) -> Result<Value, ActionError> {
            echo(r)
        }
        fn pause(&self, r: FeedRequest, _: &Context) -> Result<Value, ActionError> {
            echo(r)
        }
        fn unpause(&self, r: FeedRequest, _: &Context) -> Result<Value, ActionError> {
            echo(r)
        }
    }

    fn call(params: Value) -> Result<Value, ActionError> {
        dispatch_legacy_feed(&Echo, params, &Context::default())
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
            assert!(!request.params.contains("ignoreCerts"));
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
