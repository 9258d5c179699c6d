//! DELETE, and the teardown CREATE also uses for a stale feed: remove the alarm (through the
//! alarms feed's own DELETE), the rule, the helper trigger, and the binding when no other rule
//! uses it. Whatever is already gone counts as removed; entities with the feed's names that are
//! not the feed's are left alone.

use feedkit::{ActionError, AuthKey, Client, Entity, QualifiedName};
use serde_json::{Value, json};

use super::create::gone;
use super::{Session, find_helper, poller};
use crate::alarm::Alarm;
use crate::helper::{FEED_ANNOTATION, Helper};
use crate::names::{Binding, Entities};

/// Marks a binding the feed made (and so may delete).
pub const BINDING_ANNOTATION: &str = "pollFeedBinding";

pub fn delete(session: &mut Session<'_>) -> Result<Value, ActionError> {
    // wskdeploy sends the trigger's inputs along with DELETE: they are read, not used. The
    // user's trigger may be gone already, so it is not read: the helper trigger is.
    let (_, helper) = find_helper(session)?;
    if helper.is_none() {
        // Nothing of the feed's answered: name the rest after the activation's namespace.
        session.resolve_namespace()?;
    }
    let entities = Entities::for_trigger(session.trigger())?;
    let binding = match poller(session.context(), entities.trigger.namespace()) {
        Ok(poller) => poller.binding,
        Err(_) => None,
    };
    let outcome = teardown(
        session.client(),
        session.auth_key(),
        &entities,
        helper.as_ref().map(Helper::entity),
        binding.as_ref(),
    );
    if !outcome.problems.is_empty() {
        return Err(ActionError::new(format!(
            "DELETE of the poll feed of {} could not remove everything: {}",
            entities.trigger,
            outcome.problems.join("; ")
        )));
    }
    Ok(json!({
        "status": "deleted",
        "trigger": entities.trigger.to_string(),
        "removed": outcome.removed,
        "leftAlone": outcome.left_alone,
    }))
}

/// What a teardown did.
#[derive(Debug, Default)]
pub struct Teardown {
    pub removed: Vec<String>,
    /// Entities with the feed's names that are not the feed's.
    pub left_alone: Vec<String>,
    pub problems: Vec<String>,
}

/// Removes the feed's entities for `entities.trigger` (`helper`: the helper trigger as just
/// read, `None` when there is none); `binding` too when given and unused.
pub fn teardown(
    client: &Client,
    auth_key: &AuthKey,
    entities: &Entities,
    helper: Option<&Entity>,
    binding: Option<&Binding>,
) -> Teardown {
    let mut outcome = Teardown::default();
    let poll_trigger = &entities.poll_trigger;
    let ours = helper.filter(|entity| Helper::belongs_to(entity, &entities.trigger));
    if helper.is_some() && ours.is_none() {
        outcome.left_alone.push(poll_trigger.to_string());
    }

    // The alarm first: it fires the helper trigger, so it goes before the trigger does.
    if let Some(entity) = ours {
        let feed = entity
            .annotation(FEED_ANNOTATION)
            .and_then(Value::as_str)
            .unwrap_or(crate::config::INTERVAL_FEED);
        let alarm = Alarm {
            client,
            auth_key,
            feed,
            trigger: poll_trigger,
        };
        match alarm.delete() {
            Ok(()) => outcome
                .removed
                .push(format!("alarm of {poll_trigger} ({feed})")),
            // Without its trigger the alarm stops on its own; still worth saying.
            Err(error) => outcome.problems.push(error.to_string()),
        }
    }

    // The helper lists the rules attached to it: ours is among them, or (left behind by a
    // helper deleted and made again) its own answer says where it points. An active rule may
    // be deleted as it is.
    let rule = &entities.rule;
    let attached = format!("{}/{}", rule.namespace(), rule.name());
    let rule_is_ours = match ours {
        Some(entity) if entity.rules().iter().any(|(name, _)| *name == attached) => Ok(Some(true)),
        _ => match client.get_rule(rule) {
            Ok(found) => Ok(Some(rule_trigger(&found).as_ref() == Some(poll_trigger))),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        },
    };
    match rule_is_ours {
        Ok(Some(true)) => record(&mut outcome, rule, gone(client.delete_rule(rule))),
        Ok(Some(false)) => outcome.left_alone.push(rule.to_string()),
        Ok(None) => {}
        Err(error) => outcome.problems.push(error.to_string()),
    }

    if ours.is_some() {
        record(
            &mut outcome,
            poll_trigger,
            gone(client.delete_trigger(poll_trigger)),
        );
    }

    if let Some(binding) = binding {
        match remove_unused_binding(client, binding) {
            Ok(true) => outcome.removed.push(binding.name.to_string()),
            Ok(false) => {}
            Err(error) => outcome.problems.push(error.to_string()),
        }
    }
    outcome
}

fn record(outcome: &mut Teardown, name: &QualifiedName, result: Result<(), ActionError>) {
    match result {
        Ok(()) => outcome.removed.push(name.to_string()),
        Err(error) => outcome.problems.push(format!("deleting {name}: {error}")),
    }
}

/// Deletes the feed's binding unless a rule still uses it (another polled trigger) or it is
/// not the feed's; `true` when it was deleted.
fn remove_unused_binding(client: &Client, binding: &Binding) -> Result<bool, ActionError> {
    let package = match client.get_package(&binding.name) {
        Ok(package) => package,
        Err(error) if error.is_not_found() => return Ok(false),
        Err(error) => return Err(error.into()),
    };
    let ours =
        Entity::new(package.clone()).annotation(BINDING_ANNOTATION) == Some(&Value::Bool(true));
    if !ours || !binds(&package, &binding.target) {
        return Ok(false);
    }
    let namespace = binding.name.namespace();
    let in_use = client
        .list_rules(namespace)
        .map_err(|error| ActionError::from(error).context("listing rules"))?
        .iter()
        .filter_map(rule_action)
        .any(|action| {
            action.namespace() == namespace && action.package() == Some(binding.name.name())
        });
    if in_use {
        return Ok(false);
    }
    gone(client.delete_package(&binding.name))?;
    Ok(true)
}

/// Whether `package` (as OpenWhisk shows it) is a binding of `target`.
pub fn binds(package: &Value, target: &QualifiedName) -> bool {
    let binding = &package["binding"];
    binding["namespace"].as_str() == Some(target.namespace())
        && binding["name"].as_str() == Some(target.name())
}

/// A rule's trigger, from its `{"path", "name"}` reference.
pub fn rule_trigger(rule: &Value) -> Option<QualifiedName> {
    reference(&rule["trigger"])
}

fn rule_action(rule: &Value) -> Option<QualifiedName> {
    reference(&rule["action"])
}

fn reference(value: &Value) -> Option<QualifiedName> {
    match value {
        Value::Object(_) => {
            QualifiedName::from_path_name(value["path"].as_str()?, value["name"].as_str()?).ok()
        }
        // Some servers show references as one string.
        Value::String(text) => QualifiedName::parse(text).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_references_either_way() {
        let rule = json!({"trigger": {"path": "guest", "name": "t-poll-alarm"}, "action": "/guest/p-poller/pollMyService"});
        assert_eq!(
            rule_trigger(&rule).map(|name| name.to_string()).as_deref(),
            Some("/guest/t-poll-alarm")
        );
        assert_eq!(
            rule_action(&rule).map(|name| name.to_string()).as_deref(),
            Some("/guest/p-poller/pollMyService")
        );
        assert_eq!(rule_trigger(&json!({})), None);
    }

    #[test]
    fn recognises_bindings_of_the_kit() {
        let target = QualifiedName::new("kit", None, "polling");
        assert!(binds(
            &json!({"binding": {"namespace": "kit", "name": "polling"}}),
            &target
        ));
        assert!(!binds(&json!({"binding": {}}), &target));
        assert!(!binds(
            &json!({"binding": {"namespace": "other", "name": "polling"}}),
            &target
        ));
    }
}
