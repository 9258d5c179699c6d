//! The six lifecycle events. Each checks first that the key can read the trigger (so nobody acts
//! on another user's feed), then asks the provider, which keys feeds by the trigger's fully
//! qualified name: READ, DELETE, PAUSE and UNPAUSE need nothing but that name.

use feedkit::{ActionError, AuthKey, Feed, FeedSession};
use provider_api::{CHANGES_KIND, Confidential, FeedView, Refresh, Registration, Update};
use serde_json::{Value, json};

use crate::database;
use crate::provider::{Provider, ProviderError};
use crate::settings::{self, ChangesParams, ProviderTarget};

/// The changes feed: `main` hands it to [`feedkit::run_feed`].
pub struct ChangesFeed;

type Session<'c> = FeedSession<'c, ChangesParams>;

impl Feed for ChangesFeed {
    type Params = ChangesParams;
    const NAME: &'static str = "changes-feed";

    fn create(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        // Every setting is checked before anything goes over the network.
        let settings = settings::feed_settings(&session.params)?;
        let target = settings::provider(&session.params)?;
        let api_host = api_host(session)?;
        session.check_trigger()?;
        // The provider checks the database itself; a filter it would only find missing when
        // it connects, so that is checked here.
        if let Some(filter) = &settings.filter {
            database::check_filter(session.http(), &settings.database, filter)?;
        }
        let body = json!(Registration {
            api_host,
            auth_key: confidential(session.auth_key()),
            kind: CHANGES_KIND.to_owned(),
            config: settings.to_provider(),
            since: Some(settings.since),
        });
        let view = Provider::new(&target, session.http())
            .register(session.trigger(), &body)
            .map_err(|error| failed(session, &target, error))?;
        shown(view)
    }

    fn read(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        let target = settings::provider(&session.params)?;
        // A feed disabled because its trigger was deleted must still show why; without the
        // trigger, the provider answers only the key the feed fires with.
        let owner_key = owner_proof(session)?;
        let view = Provider::new(&target, session.http())
            .read(session.trigger(), owner_key.as_ref())
            .map_err(|error| failed(session, &target, error))?;
        shown(view)
    }

    fn update(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        let update = settings::update(&session.params)?;
        let target = settings::provider(&session.params)?;
        let api_host = api_host(session)?;
        session.check_trigger()?;
        if let (Some(database), Some(filter)) = (&update.database, &update.filter) {
            database::check_filter(session.http(), database, filter)?;
        }
        // The caller's current key and host replace the stored ones: a rotated key is picked up.
        let patch = json!(Update {
            api_host: Some(api_host),
            auth_key: Some(confidential(session.auth_key())),
            config: (!update.patch.is_empty()).then_some(update.patch),
            since: update.since,
        });
        let view = Provider::new(&target, session.http())
            .update(session.trigger(), &patch)
            .map_err(|error| failed(session, &target, error))?;
        shown(view)
    }

    fn delete(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        let target = settings::provider(&session.params)?;
        // A trigger that is gone already (half-created, or deleted first) cannot prove the key's
        // right; then the provider deletes only if the key is the one the feed fires with.
        let owner_key = owner_proof(session)?;
        match Provider::new(&target, session.http()).delete(session.trigger(), owner_key.as_ref()) {
            Ok(_) => Ok(json!(provider_api::Deleted {
                trigger: session.trigger().to_string(),
                deleted: true
            })),
            // Nothing to delete is a success: DELETE follows a failed CREATE too.
            Err(error) if error.status() == Some(404) => Ok(json!({
                "trigger": session.trigger().to_string(),
                "deleted": false,
                "message": "no changes feed was registered for this trigger",
            })),
            Err(error) => Err(failed(session, &target, error)),
        }
    }

    fn pause(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        let target = settings::provider(&session.params)?;
        session.check_trigger()?;
        let view = Provider::new(&target, session.http())
            .set_active(session.trigger(), false, &json!(Refresh::default()))
            .map_err(|error| failed(session, &target, error))?;
        shown(view)
    }

    fn unpause(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        let target = settings::provider(&session.params)?;
        let api_host = api_host(session)?;
        session.check_trigger()?;
        let refresh = json!(Refresh {
            api_host: Some(api_host),
            auth_key: Some(confidential(session.auth_key())),
        });
        let view = Provider::new(&target, session.http())
            .set_active(session.trigger(), true, &refresh)
            .map_err(|error| failed(session, &target, error))?;
        shown(view)
    }
}

/// Reads the trigger when it exists (`None`: that read is the proof); when it does not, the
/// key itself is the proof the provider checks against the feed, and the trigger is named after
/// the activation's namespace.
fn owner_proof(session: &mut Session<'_>) -> Result<Option<AuthKey>, ActionError> {
    if session.find_trigger()?.is_some() {
        return Ok(None);
    }
    session.resolve_namespace()?;
    Ok(Some(session.auth_key().clone()))
}

/// Where the provider fires the trigger.
fn api_host(session: &Session<'_>) -> Result<String, ActionError> {
    session.context().api_host.clone().ok_or_else(|| {
        ActionError::new(
            "__OW_API_HOST is not set: the provider needs to know where to fire the trigger",
        )
    })
}

/// The caller's key, as the provider's API takes it.
fn confidential(key: &AuthKey) -> Confidential {
    Confidential::new(key.expose())
}

fn failed(session: &Session<'_>, target: &ProviderTarget, error: ProviderError) -> ActionError {
    match error.status() {
        Some(404) => ActionError::new(format!(
            "no changes feed is registered for trigger {}",
            session.trigger()
        )),
        Some(403) => ActionError::new(format!(
            "trigger {} does not exist and the authKey is not the one its feed was created with",
            session.trigger()
        )),
        _ => error.into_action_error(target),
    }
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
