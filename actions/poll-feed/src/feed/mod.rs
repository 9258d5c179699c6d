//! The feed action: one module per group of lifecycle events.
//!
//! CREATE makes, in the user's namespace: a binding of the kit's package when the kit lives
//! elsewhere, the helper trigger `<trigger>-poll-alarm` (settings and position), the rule
//! `<trigger>-poll-rule` from it to `pollMyService`, and the alarm through the alarms feed. The
//! later events find all of it again from `triggerName` alone.

mod create;
mod manage;
mod teardown;
mod update;

use feedkit::{ActionError, Client, Context, FeedRequest, LegacyFeed, QualifiedName};
use serde_json::Value;

use crate::config::PARAMETERS;
use crate::names::{Entities, Kit, PollerRef};

/// The poll feed.
#[derive(Debug, Default, Clone, Copy)]
pub struct PollFeed;

impl LegacyFeed for PollFeed {
    fn create(&self, request: FeedRequest, context: &Context) -> Result<Value, ActionError> {
        create::create(request, context)
    }

    fn read(&self, request: FeedRequest, context: &Context) -> Result<Value, ActionError> {
        manage::read(request, context)
    }

    fn update(&self, request: FeedRequest, context: &Context) -> Result<Value, ActionError> {
        update::update(request, context)
    }

    fn delete(&self, request: FeedRequest, context: &Context) -> Result<Value, ActionError> {
        teardown::delete(request, context)
    }

    fn pause(&self, request: FeedRequest, context: &Context) -> Result<Value, ActionError> {
        manage::pause(request, context)
    }

    fn unpause(&self, request: FeedRequest, context: &Context) -> Result<Value, ActionError> {
        manage::unpause(request, context)
    }
}

/// What every event starts with: parameters checked, a client acting as the trigger's owner,
/// the trigger's namespace resolved, the helper names derived. `must_exist` also checks the key
/// can read the trigger.
struct Session {
    request: FeedRequest,
    client: Client,
    entities: Entities,
}

impl Session {
    fn open(
        mut request: FeedRequest,
        context: &Context,
        must_exist: bool,
    ) -> Result<Self, ActionError> {
        let client = request.client(context)?;
        request.resolve_trigger(&client)?;
        if must_exist {
            request.check_trigger(&client)?;
        }
        let entities = Entities::for_trigger(&request.trigger)?;
        Ok(Self {
            request,
            client,
            entities,
        })
    }

    fn trigger(&self) -> &QualifiedName {
        &self.entities.trigger
    }

    /// Refuses parameters the feed does not know. READ, PAUSE and UNPAUSE use none of the
    /// feed's settings, but they may still arrive: parameters bound to the package reach every
    /// lifecycle event, so known ones are ignored rather than refused.
    fn known_parameters_only(request: &FeedRequest) -> Result<(), ActionError> {
        match request
            .params
            .as_map()
            .keys()
            .find(|name| !name.starts_with("__") && !PARAMETERS.contains(&name.as_str()))
        {
            None => Ok(()),
            Some(name) => Err(ActionError::new(format!(
                "invalid parameter `{name}`: the poll feed has no such parameter ({} takes only lifecycleEvent, triggerName and authKey)",
                request.event
            ))),
        }
    }
}

/// Where the poller is for this namespace.
fn poller(context: &Context, namespace: &str) -> Result<PollerRef, ActionError> {
    Kit::from_action_name(context.action_name.as_deref())?.poller_for(namespace)
}
