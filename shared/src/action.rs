//! A plain action of the kit (not a feed: a poller run by a rule, a web action): [`Action`], and
//! the [`Activation`] it works with. As for a feed, the parameters are one struct (see
//! [`crate::params`]), read and checked before anything goes over the network.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::client::Client;
use crate::context::Context;
use crate::error::ActionError;
use crate::http::Http;
use crate::redact::Redactor;
use crate::runtime::run;
use crate::secret::{AuthKey, Secret};

/// An action: its parameters and what it does with them.
pub trait Action {
    type Params: DeserializeOwned;
    /// The action's name, for messages and log lines.
    const NAME: &'static str;

    fn run(&self, activation: &mut Activation<'_, Self::Params>) -> Result<Value, ActionError>;
}

/// One activation of an [`Action`]: its parameters, its outbound HTTP (one connection per host
/// for all its calls), its context, and the redaction of its secrets.
pub struct Activation<'a, P> {
    pub params: P,
    name: &'static str,
    context: &'a Context,
    http: Http,
    redactor: Redactor,
}

impl<'a, P> Activation<'a, P> {
    /// The activation [`dispatch_action`] builds, for `params` already read: for calling an
    /// action's parts directly (tests).
    pub fn new(name: &'static str, params: P, context: &'a Context) -> Self {
        Self {
            params,
            name,
            context,
            http: Http::new(context.deadline),
            redactor: Redactor::default(),
        }
    }

    pub fn context(&self) -> &'a Context {
        self.context
    }

    pub fn http(&self) -> &Http {
        &self.http
    }

    /// OpenWhisk acting with `key`, over the activation's connections; the key is masked from
    /// here on.
    pub fn client_as(&mut self, key: AuthKey) -> Result<Client, ActionError> {
        self.redactor.add_key(&key);
        let api_host = self.context.api_host.as_deref().unwrap_or_default();
        Ok(Client::with_http(&self.http, api_host, key, false)?)
    }

    /// OpenWhisk acting with the action's own key (`__OW_API_KEY`: for a rule's activation,
    /// the trigger owner's).
    pub fn own_client(&mut self) -> Result<Client, ActionError> {
        let key = self.context.own_api_key()?;
        self.client_as(key)
    }

    /// Masks `secret` in the result, the error and the log from here on.
    pub fn redact(&mut self, secret: &Secret) {
        self.redactor.add_secret(secret);
    }

    /// One line in the activation's log, prefixed with the action's name, secrets masked.
    pub fn log(&self, line: &str) {
        crate::session::log_line(self.name, &self.redactor, line);
    }
}

/// Reads the parameters and runs the action, masking every secret in what comes back.
pub fn dispatch_action<A: Action + ?Sized>(
    action: &A,
    params: Value,
    context: &Context,
) -> Result<Value, ActionError> {
    with_activation(A::NAME, params, context, |activation| {
        let outcome = action.run(activation);
        let redactor = &activation.redactor;
        match outcome {
            Ok(result) => Ok(redactor.value(result)),
            Err(error) => Err(ActionError::new(redactor.text(error.message()))),
        }
    })?
}

/// Reads `params` as `P` (refusing unknown names, every secret noted for masking) and runs
/// `work` with the activation; the parameters' error, masked, when they do not read.
pub(crate) fn with_activation<P: DeserializeOwned, T>(
    name: &'static str,
    params: Value,
    context: &Context,
    work: impl FnOnce(&mut Activation<'_, P>) -> T,
) -> Result<T, ActionError> {
    let (parsed, secrets) = crate::secret::collect(|| match params {
        Value::Object(map) => crate::params::parse::<P>(&map, name),
        Value::Null => crate::params::parse::<P>(&serde_json::Map::new(), name),
        other => Err(crate::params::ParamError::invalid(
            "(parameters)",
            format!(
                "expected a JSON object, found {}",
                crate::params::kind(&other)
            ),
        )),
    });
    let mut redactor = Redactor::default();
    for secret in &secrets {
        redactor.add_secret(secret);
    }
    let params = parsed.map_err(|error| ActionError::new(redactor.text(&error.to_string())))?;
    let mut activation = Activation {
        params,
        name,
        context,
        http: Http::new(context.deadline),
        redactor,
    };
    Ok(work(&mut activation))
}

/// Runs `action` as the process's action: the `main` of a plain action's binary.
pub fn run_action<A: Action>(action: A) {
    run(|params: Value, context: &Context| dispatch_action(&action, params, context));
}
