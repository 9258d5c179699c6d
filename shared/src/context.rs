//! The activation's context: what OpenWhisk tells an action besides its parameters.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::client::{Client, ClientError, ClientOptions};
use crate::secret::AuthKey;

/// The `__OW_*` values of one activation, typed. In one-shot mode they come from the environment;
/// in actionloop mode from the activation's message, over the environment.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// `__OW_API_HOST`: where the OpenWhisk REST API is, as the platform spells it.
    pub api_host: Option<String>,
    /// `__OW_API_KEY`: the action's own key, present only with `provide-api-key: true`.
    pub api_key: Option<AuthKey>,
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
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds a context from any lookup of `__OW_*` names (the environment, or an actionloop
    /// message layered over it). Empty values count as absent.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        Self {
            api_host: get("__OW_API_HOST"),
            api_key: get("__OW_API_KEY").and_then(|key| AuthKey::parse(&key).ok()),
            namespace: get("__OW_NAMESPACE"),
            action_name: get("__OW_ACTION_NAME"),
            action_version: get("__OW_ACTION_VERSION"),
            activation_id: get("__OW_ACTIVATION_ID"),
            transaction_id: get("__OW_TRANSACTION_ID"),
            deadline: get("__OW_DEADLINE").and_then(|ms| parse_epoch_millis(&ms)),
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
    fn absent_and_empty_values_are_none() {
        let context = Context::from_lookup(|name| (name == "__OW_API_KEY").then(String::new));
        assert!(context.api_key.is_none());
        assert!(context.deadline.is_none());
        assert!(context.remaining().is_none());
    }
}
