//! The activation's context: what OpenWhisk tells an action besides its parameters.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::client::{Client, ClientError, ClientOptions};
use crate::error::ActionError;
use crate::secret::AuthKey;

/// The `__OW_*` values of one activation, typed. In one-shot mode they come from the environment;
/// in actionloop mode from the activation's message, over the environment.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// `__OW_API_HOST`: where the OpenWhisk REST API is, as the platform spells it.
    pub api_host: Option<String>,
    /// `__OW_API_KEY`: the action's own key, present only with `provide-api-key: true`.
    pub api_key: Option<AuthKey>,
    /// `__OW_API_KEY` was set but is not a key `uuid:key` (kept apart from "not set", so that
    /// [`Context::own_api_key`] can say which).
    pub api_key_malformed: bool,
    /// `__OW_NAMESPACE`: the namespace the activation runs in.
    pub namespace: Option<String>,
    /// `__OW_ACTION_NAME`: `/namespace/package/action`.
    pub action_name: Option<String>,
    pub action_version: Option<String>,
    pub activation_id: Option<String>,
    pub transaction_id: Option<String>,
    /// `__OW_DEADLINE`: when the platform kills the activation.
    pub deadline: Option<SystemTime>,
}

impl Context {
    /// The context of a one-shot activation, from the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(crate::runtime::env_var)
    }

    /// Builds a context from any lookup of `__OW_*` names (the environment, or an actionloop
    /// message layered over it). Empty values count as absent.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let api_key = get("__OW_API_KEY").map(|key| AuthKey::parse(&key));
        Self {
            api_host: get("__OW_API_HOST"),
            api_key_malformed: matches!(api_key, Some(Err(_))),
            api_key: api_key.and_then(Result::ok),
            namespace: get("__OW_NAMESPACE"),
            action_name: get("__OW_ACTION_NAME"),
            action_version: get("__OW_ACTION_VERSION"),
            activation_id: get("__OW_ACTIVATION_ID"),
            transaction_id: get("__OW_TRANSACTION_ID"),
            deadline: get("__OW_DEADLINE").and_then(|ms| parse_epoch_millis(&ms)),
        }
    }

    /// The action's own key (`__OW_API_KEY`), or an error that says why there is none: not
    /// passed (the action lacks the annotation `provide-api-key: true`), or not a key.
    pub fn own_api_key(&self) -> Result<AuthKey, ActionError> {
        match (&self.api_key, self.api_key_malformed) {
            (Some(key), _) => Ok(key.clone()),
            (None, true) => Err(ActionError::new(
                "__OW_API_KEY is set but is not an OpenWhisk key of the form `uuid:key`; \
                 OpenWhisk passes the invoking subject's key there, so the platform (or the \
                 proxy running this action) passed something else: check how it is deployed",
            )),
            (None, false) => Err(ActionError::new(
                "__OW_API_KEY is not set: this action needs the annotation \
                 provide-api-key: true (OpenWhisk passes its key only to actions that carry \
                 it; redeploy with the kit's manifest)",
            )),
        }
    }

    /// Time left before the deadline; `None` when there is no deadline, zero once it passed.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline.map(|deadline| {
            deadline
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO)
        })
    }

    /// An OpenWhisk client for this activation's API host, acting with `auth_key`, bounded by the
    /// activation's deadline.
    pub fn client(&self, auth_key: AuthKey) -> Result<Client, ClientError> {
        self.client_with(auth_key, ClientOptions::default())
    }

    /// Like [`Context::client`], with options (e.g. accepting a development host's self-signed
    /// certificate).
    pub fn client_with(
        &self,
        auth_key: AuthKey,
        mut options: ClientOptions,
    ) -> Result<Client, ClientError> {
        if options.deadline.is_none() {
            options.deadline = self.deadline;
        }
        let api_host = self.api_host.as_deref().unwrap_or_default();
        Client::new(api_host, auth_key, options)
    }
}

/// `__OW_DEADLINE` is epoch milliseconds, as a string in the environment and as a string or a
/// number in actionloop messages.
fn parse_epoch_millis(value: &str) -> Option<SystemTime> {
    let millis: f64 = value.trim().parse().ok()?;
    (millis.is_finite() && millis >= 0.0).then(|| UNIX_EPOCH + Duration::from_millis(millis as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn reads_every_variable() {
        let vars: HashMap<&str, &str> = HashMap::from([
            ("__OW_API_HOST", "https://openwhisk.example"),
            ("__OW_API_KEY", "uuid:secret"),
            ("__OW_NAMESPACE", "guest"),
            ("__OW_ACTION_NAME", "/guest/feeds/hook-feed"),
            ("__OW_ACTION_VERSION", "0.0.1"),
            ("__OW_ACTIVATION_ID", "abc"),
            ("__OW_TRANSACTION_ID", "tid"),
            ("__OW_DEADLINE", "1700000000000"),
        ]);
        let context = Context::from_lookup(|name| vars.get(name).map(|v| v.to_string()));
        assert_eq!(
            context.api_host.as_deref(),
            Some("https://openwhisk.example")
        );
        assert_eq!(context.api_key.as_ref().map(AuthKey::user), Some("uuid"));
        assert_eq!(context.namespace.as_deref(), Some("guest"));
        assert_eq!(
            context.action_name.as_deref(),
            Some("/guest/feeds/hook-feed")
        );
        assert_eq!(context.action_version.as_deref(), Some("0.0.1"));
        assert_eq!(context.activation_id.as_deref(), Some("abc"));
        assert_eq!(context.transaction_id.as_deref(), Some("tid"));
        assert_eq!(
            context.deadline,
            Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_000))
        );
        assert_eq!(context.remaining(), Some(Duration::ZERO));
        assert!(!format!("{context:?}").contains("secret"));
    }

    #[test]
    fn a_key_without_its_colon_is_not_reported_as_missing() {
        let context = Context::from_lookup(|name| {
            (name == "__OW_API_KEY").then(|| "uuid-and-no-colon-secretpart".to_owned())
        });
        assert!(context.api_key.is_none() && context.api_key_malformed);
        let error = context.own_api_key().expect_err("malformed");
        assert!(error.message().contains("is set but is not"), "{error}");
        assert!(!error.message().contains("secretpart"), "{error}");
        let unset = Context::default().own_api_key().expect_err("unset");
        assert!(unset.message().contains("is not set"), "{unset}");
    }

    #[test]
    fn absent_and_empty_values_are_none() {
        let context = Context::from_lookup(|name| (name == "__OW_API_KEY").then(String::new));
        assert!(context.api_key.is_none());
        assert!(!context.api_key_malformed);
        assert!(context.deadline.is_none());
        assert!(context.remaining().is_none());
    }
}
