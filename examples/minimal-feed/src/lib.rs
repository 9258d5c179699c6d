//! The smallest complete feed on feedkit: one parameter struct and its six lifecycle methods.
//! Its only event source is its own lifecycle, so that it runs anywhere: CREATE and UNPAUSE fire
//! the trigger once with the feed's `message`. A real feed puts its domain where the comments
//! say (install a webhook, register with a provider, make an alarm) and keeps the rest.
//!
//! What feedkit does around these methods: it reads `lifecycleEvent`, `triggerName` and
//! `authKey`, parses [`MinimalParams`] (an unknown parameter is refused, naming the known ones,
//! before anything goes over the network), opens the [`FeedSession`] (the activation's one HTTP
//! client, an OpenWhisk client acting as the trigger's owner, the access check, the record on
//! the trigger) and masks every secret in the result, the error and the log.

use feedkit::params::{Param, Text};
use feedkit::{ActionError, Feed, FeedSession, Record};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The feed's parameters, declared once: `wsk trigger create T --feed minimal-feed -p message hi`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MinimalParams {
    /// What the trigger is fired with (required at CREATE, changed by UPDATE).
    pub message: Param<Text>,
}

/// What the later events need, kept on the user's trigger (READ, UPDATE, PAUSE get only the
/// trigger's name and the key).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    message: String,
    active: bool,
}

impl Record for Stored {
    const ANNOTATION: &'static str = "minimalFeed";
}

/// The feed: `main` hands it to [`feedkit::run_feed`].
pub struct MinimalFeed;

type Session<'c> = FeedSession<'c, MinimalParams>;

impl Feed for MinimalFeed {
    type Params = MinimalParams;
    const NAME: &'static str = "minimal-feed";

    fn create(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        // Checked before the first call: a missing parameter costs no round trip.
        let message = session
            .params
            .message
            .require("message", "the text the trigger is fired with")?
            .as_str()
            .to_owned();
        session.check_trigger()?;
        // (A real feed registers its event source here, after the record is stored, so that a
        // DELETE after a failure knows what to remove.)
        let stored = Stored {
            message,
            active: true,
        };
        session.save_record(Some(&stored))?;
        fire(session, &stored)?;
        Ok(json!({"status": "created", "message": stored.message}))
    }

    fn read(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        let stored = stored(session)?;
        Ok(json!({
            "config": {"message": stored.message},
            "status": {"active": stored.active},
        }))
    }

    fn update(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        let message = session
            .params
            .message
            .get()
            .map(|text| text.as_str().to_owned());
        let mut stored = stored(session)?;
        if let Some(message) = message {
            stored.message = message;
            session.save_record(Some(&stored))?;
        }
        Ok(json!({"status": "updated", "message": stored.message}))
    }

    fn delete(&self, _session: &mut Session<'_>) -> Result<Value, ActionError> {
        // Nothing lives outside the trigger, and the record goes with it (the CLI deletes the
        // trigger next). A real feed removes its event source here, and succeeds when there is
        // none: the CLI sends DELETE after a failed CREATE too.
        Ok(json!({"status": "deleted"}))
    }

    fn pause(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        set_active(session, false)
    }

    fn unpause(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        set_active(session, true)
    }
}

/// The record, after the access check; an error naming the cause when there is none.
fn stored(session: &mut Session<'_>) -> Result<Stored, ActionError> {
    session.check_trigger()?;
    session.record::<Stored>().ok_or_else(|| {
        ActionError::new(format!(
            "trigger {} has no minimal-feed configuration; create it with this feed first",
            session.trigger()
        ))
    })
}

fn set_active(session: &mut Session<'_>, active: bool) -> Result<Value, ActionError> {
    let mut stored = stored(session)?;
    if stored.active != active {
        stored.active = active;
        session.save_record(Some(&stored))?;
        if active {
            fire(session, &stored)?;
        }
    }
    Ok(json!({"active": stored.active}))
}

/// Fires the trigger with the message, as the trigger's owner.
fn fire(session: &Session<'_>, stored: &Stored) -> Result<(), ActionError> {
    session
        .client()
        .fire_trigger(session.trigger(), &json!({"message": stored.message}))
        .map(|_| ())
        .map_err(|error| ActionError::from(error).context("firing the trigger"))
}
