//! The six lifecycle events, each one call to the changes provider ([`ProviderFeed`]), which
//! keys feeds by the trigger's fully qualified name: READ, DELETE, PAUSE and UNPAUSE need
//! nothing but that name.

use feedkit::provider::{self, ProviderFeed, ProviderTarget, Service};
use feedkit::{ActionError, Feed, FeedSession};
use provider_api::{CHANGES_KIND, FeedView};
use serde_json::Value;

use crate::database;
use crate::settings::{self, ChangesParams};

/// The changes feed: `main` hands it to [`feedkit::run_feed`].
pub struct ChangesFeed;

type Session<'c> = FeedSession<'c, ChangesParams>;

/// The changes provider, as messages name it.
pub const SERVICE: Service = Service {
    kind: CHANGES_KIND,
    provider: "the changes provider",
    feed: "changes feed",
    refused,
};

fn provider(params: &ChangesParams) -> Result<ProviderFeed<'static>, ActionError> {
    let target =
        ProviderTarget::from_params(&SERVICE, &params.provider_url, &params.provider_secret)?;
    Ok(ProviderFeed::new(&SERVICE, target))
}

impl Feed for ChangesFeed {
    type Params = ChangesParams;
    const NAME: &'static str = "changes-feed";

    fn create(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        // Every setting is checked before anything goes over the network.
        let settings = settings::feed_settings(&session.params)?;
        let feed = provider(&session.params)?;
        let api_host = provider::api_host(session)?;
        session.check_trigger()?;
        // The provider checks the database itself; a filter it would only find missing when
        // it connects, so that is checked here.
        if let Some(filter) = &settings.filter {
            database::check_filter(session.http(), &settings.database, filter)?;
        }
        let view = feed.register(
            session,
            api_host,
            settings.to_provider(),
            Some(settings.since.clone()),
        )?;
        shown(view)
    }

    fn read(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        let view = provider(&session.params)?.read(session)?;
        shown(view)
    }

    fn update(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        let update = settings::update(&session.params)?;
        let feed = provider(&session.params)?;
        let api_host = provider::api_host(session)?;
        session.check_trigger()?;
        if let (Some(database), Some(filter)) = (&update.database, &update.filter) {
            database::check_filter(session.http(), database, filter)?;
        }
        let config = (!update.patch.is_empty()).then_some(update.patch);
        let view = feed.update(session, api_host, config, update.since)?;
        shown(view)
    }

    fn delete(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        provider(&session.params)?.delete(session)
    }

    fn pause(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        let view = provider(&session.params)?.set_active(session, false)?;
        shown(view)
    }

    fn unpause(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        let view = provider(&session.params)?.set_active(session, true)?;
        shown(view)
    }
}

/// The provider's view as READ shows it: `trigger`, `config` (redacted) and `status`.
fn shown(view: Value) -> Result<Value, ActionError> {
    provider::shown::<FeedView>(&SERVICE, view)
}

/// The provider's 422 (the database cannot be used as given; it checks it when a feed is
/// registered or moved), naming the parameter to fix. The provider's messages say what it
/// found (`provider/src/changes/couch.rs`, `CouchError`). A 400 is the action's own mistake (it
/// checks every setting first): said as it is.
fn refused(status: u16, message: &str) -> Option<String> {
    (status == 422).then(|| unusable(message))
}

fn unusable(message: &str) -> String {
    let parameter = if message.contains("refused the credentials") {
        if message.contains("HTTP 403") {
            "`username`"
        } else {
            "`username`/`password`"
        }
    } else if message.contains("there is no database") {
        "`dbName`"
    } else if message.contains("is not reachable") {
        "`dbUrl`"
    } else {
        return message.to_owned();
    };
    format!("invalid parameter {parameter}: {message}")
}
