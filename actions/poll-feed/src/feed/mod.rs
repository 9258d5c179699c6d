//! The feed action: one module per group of lifecycle events.
//!
//! CREATE makes, in the user's namespace: a binding of the kit's package when the kit lives
//! elsewhere, the helper trigger `<trigger>-poll-alarm` (settings and position), the rule
//! `<trigger>-poll-rule` from it to `pollMyService`, and the alarm through the alarms feed. The
//! later events find all of it again from `triggerName` alone: reading the helper trigger is
//! their access check, resolves the namespace and shows the rule's status.

mod create;
mod manage;
mod teardown;
mod update;

use feedkit::{ActionError, Context, Feed, FeedSession};
use serde_json::Value;

use crate::config::PollParams;
use crate::helper::{Helper, not_polled};
use crate::names::{Entities, Kit, PollerRef};

/// The poll feed.
#[derive(Debug, Default, Clone, Copy)]
pub struct PollFeed;

type Session<'c> = FeedSession<'c, PollParams>;

impl Feed for PollFeed {
    type Params = PollParams;
    const NAME: &'static str = "poll-feed";

    fn create(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        create::create(session)
    }

    fn read(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        manage::read(session)
    }

    fn update(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        update::update(session)
    }

    fn delete(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        teardown::delete(session)
    }

    fn pause(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        manage::pause(session)
    }

    fn unpause(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        manage::unpause(session)
    }
}

/// The helper trigger (if it exists) and the entity names, the namespace resolved from it.
fn find_helper(session: &mut Session<'_>) -> Result<(Entities, Option<Helper>), ActionError> {
    let named = Entities::for_trigger(session.trigger())?;
    let helper = match session.client().get_trigger(&named.poll_trigger) {
        Ok(entity) => {
            let entity = feedkit::Entity::new(entity);
            session.learn_namespace(&entity);
            Some(Helper::parse(&named.poll_trigger, entity)?)
        }
        Err(error) if error.is_not_found() => None,
        Err(error) if error.is_unauthorized() => {
            return Err(ActionError::new(format!(
                "invalid parameter `authKey`: it may not read {} ({error})",
                named.poll_trigger
            )));
        }
        Err(error) => {
            return Err(ActionError::from(error).context(format!("reading {}", named.poll_trigger)));
        }
    };
    Ok((Entities::for_trigger(session.trigger())?, helper))
}

/// The helper trigger of a feed that must exist.
fn require_helper(session: &mut Session<'_>) -> Result<(Entities, Helper), ActionError> {
    match find_helper(session)? {
        (entities, Some(helper)) => Ok((entities, helper)),
        (entities, None) => Err(not_polled(&entities.trigger, &entities.poll_trigger)),
    }
}

/// Where the poller is for this namespace.
fn poller(context: &Context, namespace: &str) -> Result<PollerRef, ActionError> {
    Kit::from_action_name(context.action_name.as_deref())?.poller_for(namespace)
}
