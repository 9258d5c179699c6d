//! The entities the feed makes, named from the user's trigger (READ, UPDATE and DELETE get only
//! `triggerName` and `authKey`, so every name must be derivable from it), and where the kit's
//! poller action is.

use feedkit::{ActionError, QualifiedName};

/// The poller action, beside the feed action in the kit's package.
pub const POLLER_ACTION: &str = "pollMyService";
/// Suffix of the helper trigger the alarm fires.
pub const POLL_TRIGGER_SUFFIX: &str = "-poll-alarm";
/// Suffix of the rule from the helper trigger to the poller.
pub const RULE_SUFFIX: &str = "-poll-rule";
/// Suffix of the binding of the kit's package in the user's namespace.
pub const BINDING_SUFFIX: &str = "-poller";
/// OpenWhisk's longest entity name.
const MAX_NAME: usize = 256;

/// The user's trigger and the helper entities derived from its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entities {
    pub trigger: QualifiedName,
    pub poll_trigger: QualifiedName,
    pub rule: QualifiedName,
}

impl Entities {
    /// The helper names for a resolved trigger name.
    pub fn for_trigger(trigger: &QualifiedName) -> Result<Self, ActionError> {
        let derive = |suffix: &str| {
            let name = format!("{}{suffix}", trigger.name());
            if name.len() > MAX_NAME {
                return Err(ActionError::new(format!(
                    "invalid parameter `triggerName`: {trigger} is too long to name the feed's helper entities after it (at most {} characters)",
                    MAX_NAME - suffix.len()
                )));
            }
            Ok(trigger.sibling(&name))
        };
        Ok(Self {
            trigger: trigger.clone(),
            poll_trigger: derive(POLL_TRIGGER_SUFFIX)?,
            rule: derive(RULE_SUFFIX)?,
        })
    }
}

/// Where the kit is installed, from the feed action's own name (`__OW_ACTION_NAME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kit {
    namespace: String,
    package: Option<String>,
}

/// How a rule in the user's namespace reaches the poller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollerRef {
    /// The action the rule names.
    pub action: QualifiedName,
    /// The binding that makes it reachable, when the kit lives in another namespace.
    pub binding: Option<Binding>,
}

/// A binding of the kit's package in the user's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// `/user-ns/<package>-poller`.
    pub name: QualifiedName,
    /// The kit's package, `/kit-ns/<package>`.
    pub target: QualifiedName,
}

impl Kit {
    pub fn from_action_name(action_name: Option<&str>) -> Result<Self, ActionError> {
        let text = action_name.ok_or_else(|| {
            ActionError::new(
                "__OW_ACTION_NAME is not set, so the feed cannot find its poller action (run it as an OpenWhisk action)",
            )
        })?;
        let name = QualifiedName::parse(text).map_err(|problem| {
            ActionError::new(format!("__OW_ACTION_NAME is unusable: {problem}"))
        })?;
        Ok(Self {
            namespace: name.namespace().to_owned(),
            package: name.package().map(str::to_owned),
        })
    }

    /// How a rule in `namespace` names the poller.
    pub fn poller_for(&self, namespace: &str) -> Result<PollerRef, ActionError> {
        if self.namespace == namespace {
            return Ok(PollerRef {
                action: QualifiedName::new(namespace, self.package.as_deref(), POLLER_ACTION),
                binding: None,
            });
        }
        let Some(package) = &self.package else {
            return Err(ActionError::new(format!(
                "the feed action is not in a package, so its poller in namespace {} cannot be bound into namespace {namespace}; install the kit as a package",
                self.namespace
            )));
        };
        let binding = QualifiedName::new(namespace, None, &format!("{package}{BINDING_SUFFIX}"));
        Ok(PollerRef {
            action: QualifiedName::new(namespace, Some(binding.name()), POLLER_ACTION),
            binding: Some(Binding {
                name: binding,
                target: QualifiedName::new(&self.namespace, None, package),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> QualifiedName {
        QualifiedName::parse(text).expect(text)
    }

    #[test]
    fn helper_names_follow_the_trigger() {
        let entities = Entities::for_trigger(&name("/guest/news")).expect("names");
        assert_eq!(entities.poll_trigger.to_string(), "/guest/news-poll-alarm");
        assert_eq!(entities.rule.to_string(), "/guest/news-poll-rule");
        let long = format!("/guest/{}", "t".repeat(250));
        let error = Entities::for_trigger(&name(&long)).expect_err("too long");
        assert!(error.message().contains("`triggerName`"), "{error}");
    }

    #[test]
    fn the_poller_is_bound_only_across_namespaces() {
        let kit = Kit::from_action_name(Some("/kit/polling/poll-feed")).expect("kit");
        let same = kit.poller_for("kit").expect("same namespace");
        assert_eq!(same.action.to_string(), "/kit/polling/pollMyService");
        assert_eq!(same.binding, None);
        let other = kit.poller_for("guest").expect("other namespace");
        assert_eq!(
            other.action.to_string(),
            "/guest/polling-poller/pollMyService"
        );
        let binding = other.binding.expect("binding");
        assert_eq!(binding.name.to_string(), "/guest/polling-poller");
        assert_eq!(binding.target.to_string(), "/kit/polling");

        let loose = Kit::from_action_name(Some("/kit/poll-feed")).expect("kit");
        assert_eq!(
            loose.poller_for("kit").expect("same").action.to_string(),
            "/kit/pollMyService"
        );
        assert!(loose.poller_for("guest").is_err());
        assert!(Kit::from_action_name(None).is_err());
    }
}
