//! [`FeedSession`]: what one lifecycle event of a feed works with. By the time a feed's method
//! runs, every parameter is read and checked (nothing has gone over the network yet); the
//! session then gives it the activation's outbound HTTP, an OpenWhisk client acting as the
//! trigger's owner, the trigger (its namespace resolved from what OpenWhisk answers, never by a
//! call of its own), the access check, the feed's record on the trigger, and the redaction of
//! every secret from the result, the error and the log.

use serde_json::Value;

use crate::client::{Client, ClientError, QualifiedName};
use crate::context::Context;
use crate::error::ActionError;
use crate::feed::LifecycleEvent;
use crate::http::Http;
use crate::record::{Entity, Record};
use crate::redact::Redactor;
use crate::secret::{AuthKey, Secret};

/// One lifecycle event of a feed, its parameters `P` read.
pub struct FeedSession<'a, P> {
    /// The feed's own parameters, checked.
    pub params: P,
    name: &'static str,
    event: LifecycleEvent,
    trigger: QualifiedName,
    auth_key: AuthKey,
    context: &'a Context,
    http: Http,
    client: Client,
    /// The user's trigger as OpenWhisk last described it (`None`: not read, or gone).
    entity: Option<Entity>,
    /// Whether the trigger was looked up (and found or not).
    looked_up: bool,
    redactor: Redactor,
}

impl<'a, P> FeedSession<'a, P> {
    /// A session for `event` on `trigger` (its namespace may be `_`), acting with `auth_key`.
    /// `secrets` are what reading the parameters found (see [`crate::secret::collect`]).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        name: &'static str,
        event: LifecycleEvent,
        trigger: QualifiedName,
        auth_key: AuthKey,
        params: P,
        secrets: &[Secret],
        ignore_certs: bool,
        context: &'a Context,
    ) -> Result<Self, ActionError> {
        let mut redactor = Redactor::default();
        redactor.add_key(&auth_key);
        for secret in secrets {
            redactor.add_secret(secret);
        }
        let http = Http::new(context.deadline);
        let api_host = context.api_host.as_deref().unwrap_or_default();
        let client = Client::with_http(&http, api_host, auth_key.clone(), ignore_certs)?;
        Ok(Self {
            params,
            name,
            event,
            trigger,
            auth_key,
            context,
            http,
            client,
            entity: None,
            looked_up: false,
            redactor,
        })
    }

    pub fn event(&self) -> LifecycleEvent {
        self.event
    }

    pub fn context(&self) -> &'a Context {
        self.context
    }

    /// The activation's outbound HTTP: every call of the feed goes through it.
    pub fn http(&self) -> &Http {
        &self.http
    }

    /// OpenWhisk, as the trigger's owner, over the activation's connections.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The trigger owner's key.
    pub fn auth_key(&self) -> &AuthKey {
        &self.auth_key
    }

    /// The user's trigger; its namespace is `_` until an answer from OpenWhisk resolved it
    /// ([`FeedSession::check_trigger`], [`FeedSession::learn_namespace`],
    /// [`FeedSession::resolve_namespace`]).
    pub fn trigger(&self) -> &QualifiedName {
        &self.trigger
    }

    /// Reads the trigger (once): the access check every event that acts on it makes first.
    /// Its absence, or a key that may not read it, is an error naming `triggerName` or
    /// `authKey`.
    pub fn check_trigger(&mut self) -> Result<&Entity, ActionError> {
        let trigger = self.trigger.clone();
        self.find_trigger()?.ok_or_else(|| {
            ActionError::new(format!(
                "invalid parameter `triggerName`: trigger {trigger} does not exist"
            ))
        })
    }

    /// Reads the trigger (once), if it exists: for events that must work when it is gone
    /// (DELETE after a half-finished CREATE, READ of a feed disabled because the trigger went).
    pub fn find_trigger(&mut self) -> Result<Option<&Entity>, ActionError> {
        if !self.looked_up {
            match self.client.get_trigger(&self.trigger) {
                Ok(entity) => self.remember(Entity::new(entity)),
                Err(error) if error.is_not_found() => {}
                Err(error) => return Err(trigger_access_error(&self.trigger, error)),
            }
            self.looked_up = true;
        }
        Ok(self.entity.as_ref())
    }

    /// The trigger as last read or written, if it was.
    pub fn trigger_entity(&self) -> Option<&Entity> {
        self.entity.as_ref()
    }

    fn remember(&mut self, entity: Entity) {
        self.learn_namespace(&entity);
        self.entity = Some(entity);
    }

    /// Resolves `_` in the trigger's name from another entity of the same namespace that
    /// OpenWhisk described (a helper trigger, say).
    pub fn learn_namespace(&mut self, entity: &Entity) {
        if self.trigger.is_default_namespace()
            && let Some(namespace) = entity.namespace()
        {
            self.trigger = self.trigger.resolve(namespace);
        }
    }

    /// The trigger with its namespace resolved: from what OpenWhisk answered so far, else the
    /// activation's namespace (`__OW_NAMESPACE`: the namespace the CLI invoked the feed from,
    /// the same as the key's), and only without either by asking OpenWhisk for the key's
    /// namespaces.
    pub fn resolve_namespace(&mut self) -> Result<&QualifiedName, ActionError> {
        if self.trigger.is_default_namespace() {
            self.trigger = match &self.context.namespace {
                Some(namespace) => self.trigger.resolve(namespace),
                None => self.client.resolve(&self.trigger).map_err(|error| {
                    if error.is_unauthorized() {
                        ActionError::new(format!(
                            "invalid parameter `authKey`: OpenWhisk does not accept it ({error})"
                        ))
                    } else {
                        ActionError::from(error).context("resolving the namespace of the trigger")
                    }
                })?,
            };
        }
        Ok(&self.trigger)
    }

    /// The feed's record on the trigger ([`FeedSession::check_trigger`] read it), if there is
    /// one it can read. Its secrets are masked from here on; an unreadable record is logged
    /// without its content (it holds secrets) and reads as none.
    pub fn record<R: Record>(&mut self) -> Option<R> {
        let value = self.entity.as_ref()?.annotation(R::ANNOTATION)?.clone();
        let (read, secrets) = crate::secret::collect(|| serde_json::from_value::<R>(value));
        for secret in &secrets {
            self.redactor.add_secret(secret);
        }
        match read {
            Ok(record) => Some(record),
            Err(_) => {
                self.log(&format!(
                    "the record {} on the trigger is unreadable; ignoring it",
                    R::ANNOTATION
                ));
                None
            }
        }
    }

    /// Stores `record` on the trigger (`None` removes it), keeping its other annotations and
    /// its parameters.
    pub fn save_record<R: Record>(&mut self, record: Option<&R>) -> Result<(), ActionError> {
        let value = record
            .map(serde_json::to_value)
            .transpose()
            .map_err(|_| ActionError::new("could not encode the feed's record"))?;
        let current = match &self.entity {
            Some(entity) => entity.clone(),
            None => Entity::new(Value::Null),
        };
        let body = serde_json::json!({
            "annotations": current.annotations_with(&[(R::ANNOTATION, value)]),
        });
        let updated = self
            .client
            .put_trigger(&self.trigger, &body, true)
            .map_err(|error| {
                ActionError::from(error).context(format!(
                    "storing the feed's record on trigger {}",
                    self.trigger
                ))
            })?;
        if updated.is_object() {
            self.remember(Entity::new(updated));
        }
        Ok(())
    }

    /// Masks `secret` in the result, the error and the log from here on (a token or secret the
    /// feed learned on the way).
    pub fn redact(&mut self, secret: &Secret) {
        self.redactor.add_secret(secret);
    }

    /// One line in the activation's log, prefixed with the feed's name, secrets masked.
    pub fn log(&self, line: &str) {
        log_line(self.name, &self.redactor, line);
    }

    /// The event's outcome as the activation shows it: secrets masked, an error logged too.
    pub(crate) fn finish(&self, outcome: Result<Value, ActionError>) -> Result<Value, ActionError> {
        match outcome {
            Ok(result) => Ok(self.redactor.value(result)),
            Err(error) => {
                let message = self.redactor.text(error.message());
                self.log(&message);
                Err(ActionError::new(message))
            }
        }
    }
}

/// Writes `line` to the activation's log as `name: line`, secrets masked, in one write (stderr
/// is unbuffered).
pub(crate) fn log_line(name: &str, redactor: &Redactor, line: &str) {
    let line = format!("{name}: {}\n", redactor.text(line));
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
}

/// Says what a failed trigger lookup means for the user, naming the parameter to fix.
pub(crate) fn trigger_access_error(trigger: &QualifiedName, error: ClientError) -> ActionError {
    let what = match error.status() {
        Some(404) => format!("invalid parameter `triggerName`: trigger {trigger} does not exist"),
        Some(401) => format!("invalid parameter `authKey`: it is not valid for trigger {trigger}"),
        Some(403) => format!("invalid parameter `authKey`: it may not read trigger {trigger}"),
        _ => format!("could not read trigger {trigger}"),
    };
    ActionError::new(format!("{what} ({error})"))
}
