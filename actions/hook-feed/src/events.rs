//! GitHub's webhook event names, checked before anything is sent: a typo should come back as a
//! clear error naming `events`, not as a hook that never fires.

use feedkit::ParamError;

/// The event names a repository webhook may subscribe to (GitHub's "Webhook events and
/// payloads"), plus the wildcard `*`. Gitea and Forgejo use the same names for the events they
/// share with GitHub.
pub const EVENT_NAMES: &[&str] = &[
    "*",
    "branch_protection_configuration",
    "branch_protection_rule",
    "check_run",
    "check_suite",
    "code_scanning_alert",
    "commit_comment",
    "create",
    "custom_property_values",
    "delete",
    "dependabot_alert",
    "deploy_key",
    "deployment",
    "deployment_protection_rule",
    "deployment_review",
    "deployment_status",
    "discussion",
    "discussion_comment",
    "fork",
    "gollum",
    "issue_comment",
    "issues",
    "label",
    "member",
    "merge_group",
    "meta",
    "milestone",
    "package",
    "page_build",
    "project",
    "project_card",
    "project_column",
    "public",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "pull_request_review_thread",
    "push",
    "registry_package",
    "release",
    "repository",
    "repository_advisory",
    "repository_dispatch",
    "repository_import",
    "repository_ruleset",
    "repository_vulnerability_alert",
    "secret_scanning_alert",
    "secret_scanning_alert_location",
    "secret_scanning_scan",
    "security_and_analysis",
    "star",
    "status",
    "team_add",
    "watch",
    "workflow_dispatch",
    "workflow_job",
    "workflow_run",
];

/// What the hook subscribes to when `events` is not given (GitHub's own default).
pub const DEFAULT_EVENTS: &[&str] = &["push"];

/// Checks already-split, trimmed event names: known (any case, stored lower case), at least
/// one, duplicates dropped, and `*` alone when present (it already means every event).
pub fn validate(names: &[String]) -> Result<Vec<String>, ParamError> {
    let mut events: Vec<String> = Vec::with_capacity(names.len());
    let mut unknown: Vec<&str> = Vec::new();
    for name in names {
        let lower = name.trim().to_ascii_lowercase();
        if lower.is_empty() {
            continue;
        }
        if !EVENT_NAMES.contains(&lower.as_str()) {
            unknown.push(name.trim());
        } else if !events.contains(&lower) {
            events.push(lower);
        }
    }
    if !unknown.is_empty() {
        let quoted: Vec<String> = unknown.iter().map(|name| format!("{name:?}")).collect();
        return Err(ParamError::invalid(
            "events",
            format!(
                "{} {} not a GitHub webhook event; expected names such as push, pull_request, \
                 issues, issue_comment, release, create, delete, or * for every event",
                quoted.join(", "),
                if unknown.len() == 1 { "is" } else { "are" }
            ),
        ));
    }
    if events.is_empty() {
        return Err(ParamError::invalid(
            "events",
            "the list is empty; give at least one event name, e.g. push",
        ));
    }
    if events.iter().any(|event| event == "*") {
        events = vec!["*".to_owned()];
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn accepts_known_names_in_any_case_and_drops_duplicates() {
        assert_eq!(
            validate(&names(&["push", " Pull_Request ", "push"])),
            Ok(names(&["push", "pull_request"]))
        );
        assert_eq!(validate(&names(&["push", "*"])), Ok(names(&["*"])));
    }

    #[test]
    fn names_unknown_events_and_empty_lists() {
        let error = validate(&names(&["push", "pushh", "bogus"])).expect_err("unknown");
        assert_eq!(error.path(), "events");
        let text = error.to_string();
        assert!(text.contains("\"pushh\", \"bogus\" are not"), "{text}");
        let error = validate(&names(&["", " "])).expect_err("empty");
        assert!(error.to_string().contains("empty"), "{error}");
    }

    #[test]
    fn the_list_is_sorted_for_humans_to_scan() {
        // `*` first, then alphabetical: keeps additions easy to review.
        let mut sorted = EVENT_NAMES.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, EVENT_NAMES);
    }
}
