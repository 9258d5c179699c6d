//! The six lifecycle events. Each checks first that the key can read the trigger (so nobody acts
//! on another user's feed), then asks the provider, which keys feeds by the trigger's fully
//! qualified name: READ, DELETE, PAUSE and UNPAUSE need nothing but that name.

use std::time::Duration;

use feedkit::{ActionError, AuthKey, Context, FeedRequest, LegacyFeed};
use provider_api::{CHANGES_KIND, Confidential, FeedView, Refresh, Registration, Update};
use serde_json::{Value, json};

use crate::database;
use crate::provider::{Provider, ProviderError};
use crate::settings::{self, ProviderTarget};

/// The changes feed: `main` hands it to [`feedkit::run_feed`].
pub struct ChangesFeed;

/// Longest any one outgoing call may take (within the activation's deadline).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Kept back from the deadline to write the result.
const MARGIN: Duration = Duration::from_millis(500);

/// One activation: the resolved trigger, the provider, and the time left.
struct Session {
    request: FeedRequest,
    target: ProviderTarget,
    timeout: Duration,
    api_host: Option<String>,
}

impl Session {
    /// Reads the provider's parameters and resolves the trigger's namespace. With
    /// `check_trigger`, also checks that the key can read the trigger.
    fn open(
        mut request: FeedRequest,
        context: &Context,
        check_trigger: bool,
    ) -> Result<Self, ActionError> {
        settings::check_names(&request.params)?;
        let target = settings::provider(&request.params)?;
        let client = request.client(context)?;
        request.resolve_trigger(&client)?;
        if check_trigger {
            request.check_trigger(&client)?;
        }
        let timeout = context
            .remaining()
            .map_or(CALL_TIMEOUT, |left| left.saturating_sub(MARGIN))
            .min(CALL_TIMEOUT);
        if timeout.is_zero() {
            return Err(ActionError::new(
                "the activation's deadline leaves no time to reach the provider",
            ));
        }
        Ok(Self {
            request,
            target,
            timeout,
            api_host: context.api_host.clone(),
        })
    }

    /// Checks that the key can read the trigger (`None`: no further proof needed). When the
    /// trigger does not exist, the key itself is the proof the provider checks against the feed.
    fn owner_proof(&self, context: &Context) -> Result<Option<&AuthKey>, ActionError> {
        let client = self.request.client(context)?;
        match client.get_trigger(&self.request.trigger) {
            Ok(_) => Ok(None),
            Err(error) if error.is_not_found() => Ok(Some(&self.request.auth_key)),
            Err(_) => self.request.check_trigger(&client).map(|_| None),
        }
    }

    fn provider(&self) -> Provider<'_> {
        Provider::new(&self.target, self.timeout)
    }

    fn api_host(&self) -> Result<String, ActionError> {
        self.api_host.clone().ok_or_else(|| {
            ActionError::new(
                "__OW_API_HOST is not set: the provider needs to know where to fire the trigger",
            )
        })
    }

    fn failed(&self, error: ProviderError) -> ActionError {
        match error.status() {
            Some(404) => {
                return ActionError::new(format!(
                    "no changes feed is registered for trigger {}",
                    self.request.trigger
                ));
            }
            Some(403) => {
                return ActionError::new(format!(
                    "trigger {} does not exist and the authKey is not the one its feed was created with",
                    self.request.trigger
                ));
            }
            _ => {}
        }
        error.into_action_error(&self.target)
    }

    /// The caller's key, as the provider's API takes it.
    fn auth_key(&self) -> Confidential {
        Confidential::new(self.request.auth_key.expose())
    }

    /// The provider's view as READ shows it: `trigger`, `config` (redacted) and `status`.
    fn shown(view: Value) -> Result<Value, ActionError> {
        serde_json::from_value::<FeedView>(view)
            .and_then(serde_json::to_value)
            .map_err(|error| {
                ActionError::new(format!(
                    "the changes provider's answer was not a feed's view ({error}); is providerUrl the changes provider?"
                ))
            })
    }
}

impl LegacyFeed for ChangesFeed {
    fn create(&self, request: FeedRequest, context: &Context) -> Result<Value, ActionError> {
        // Parameters first: a typo is reported before any network call.
        settings::check_names(&request.params)?;
        let settings = settings::feed_settings(&request.params)?;
        let session = Session::open(request, context, true)?;
        database::check(&settings.database, session.timeout)?;
        if let Some(filter) = &settings.filter {
            database::check_filter(&settings.database, filter, session.timeout)?;
        }
        let body = json!(Registration {
            api_host: session.api_host()?,
            auth_key: session.auth_key(),
            kind: CHANGES_KIND.to_owned(),
            config: settings.to_provider(),
            since: Some(settings.since),
        });
        let view = session
            .provider()
            .register(&session.request.trigger, &body)
            .map_err(|error| session.failed(error))?;
        Session::shown(view)
    }

    fn read(&self, request: FeedRequest, context: &Context) -> Result<Value, ActionError> {
        let session = Session::open(request, context, false)?;
        // A feed disabled because its trigger was deleted must still show why; without the
        // trigger, the provider answers only the key the feed fires with.
        let owner_key = session.owner_proof(context)?;
        let view = session
            .provider()
            .read(&session.request.trigger, owner_key)
            .map_err(|error| session.failed(error))?;
        Session::shown(view)
    }

    fn update(&self, request: FeedRequest, context: &Context) -> Result<Value, ActionError> {
        settings::check_names(&request.params)?;
        let update = settings::update(&request.params)?;
        let session = Session::open(request, context, true)?;
        if let Some(database) = &update.database {
            database::check(database, session.timeout)?;
            if let Some(filter) = &update.filter {
                database::check_filter(database, filter, session.timeout)?;
            }
        }
        // The caller's current key and host replace the stored ones: a rotated key is picked up.
        let patch = json!(Update {
            api_host: Some(session.api_host()?),
            auth_key: Some(session.auth_key()),
            config: (!update.patch.is_empty()).then_some(update.patch),
            since: update.since,
        });
        let view = session
            .provider()
            .update(&session.request.trigger, &patch)
            .map_err(|error| session.failed(error))?;
        Session::shown(view)
    }

    fn delete(&self, request: FeedRequest, context: &Context) -> Result<Value, ActionError> {
        let session = Session::open(request, context, false)?;
        // A trigger that is gone already (half-created, or deleted first) cannot prove the key's
        // right; then the provider deletes only if the key is the one the feed fires with.
        let owner_key = session.owner_proof(context)?;
        match session
            .provider()
            .delete(&session.request.trigger, owner_key)
        {
            Ok(_) => Ok(json!(provider_api::Deleted {
                trigger: session.request.trigger.to_string(),
                deleted: true
            })),
            // Nothing to delete is a success: DELETE follows a failed CREATE too.
            Err(error) if error.status() == Some(404) => Ok(json!({
                "trigger": session.request.trigger.to_string(),
                "deleted": false,
                "message": "no changes feed was registered for this trigger",
            })),
            Err(error) => Err(session.failed(error)),
        }
    }

    fn pause(&self, request: FeedRequest, context: &Context) -> Result<Value, ActionError> {
        let session = Session::open(request, context, true)?;
        let view = session
            .provider()
            .set_active(&session.request.trigger, false, &json!(Refresh::default()))
            .map_err(|error| session.failed(error))?;
        Session::shown(view)
    }

    fn unpause(&self, request: FeedRequest, context: &Context) -> Result<Value, ActionError> {
        let session = Session::open(request, context, true)?;
        let refresh = json!(Refresh {
            api_host: Some(session.api_host()?),
            auth_key: Some(session.auth_key()),
        });
        let view = session
            .provider()
            .set_active(&session.request.trigger, true, &refresh)
            .map_err(|error| session.failed(error))?;
        Session::shown(view)
    }
}
