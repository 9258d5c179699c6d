//! Webhook event names, each service's own, checked before anything is sent: a typo should come
//! back as a clear error naming `events`, not as a hook that never fires (Gitea even drops names
//! it does not know without a word).

use feedkit::ParamError;

use crate::dialect::Service;

/// The event names a GitHub repository webhook may subscribe to (GitHub's "Webhook events and
/// payloads"), plus the wildcard `*`.
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

/// The names Gitea's and Forgejo's hook API reads (`routers/api/v1/utils/hook.go`): `issues`
/// and `pull_request` are families, `issues_only` and `pull_request_only` the one event,
/// `pull_request_review` its three review events; there is no wildcard.
pub const GITEA_EVENT_NAMES: &[&str] = &[
    "create",
    "delete",
    "fork",
    "issue_assign",
    "issue_comment",
    "issue_label",
    "issue_milestone",
    "issues",
    "issues_only",
    "package",
    "pull_request",
    "pull_request_assign",
    "pull_request_comment",
    "pull_request_label",
    "pull_request_milestone",
    "pull_request_only",
    "pull_request_review",
    "pull_request_review_request",
    "pull_request_sync",
    "push",
    "release",
    "repository",
    "status",
    "wiki",
    "workflow_job",
];

/// What the hook subscribes to when `events` is not given (both services' own default).
pub const DEFAULT_EVENTS: &[&str] = &["push"];

/// Checks already-split, trimmed event names: known (any case, stored lower case), at least
/// one, duplicates dropped, and `*` alone when present (it already means every event).
pub fn validate(names: &[String], service: Service) -> Result<Vec<String>, ParamError> {
    let known = match service {
        Service::Github => EVENT_NAMES,
        Service::Gitea => GITEA_EVENT_NAMES,
    };
    let mut events: Vec<String> = Vec::with_capacity(names.len());
    let mut unknown: Vec<&str> = Vec::new();
    for name in names {
        let lower = name.trim().to_ascii_lowercase();
        if lower.is_empty() {
            continue;
        }
        if !known.contains(&lower.as_str()) {
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
                "{} {} not a {} webhook event; expected names such as push, pull_request, \
                 issues, issue_comment, release, create, delete{}",
                quoted.join(", "),
                if unknown.len() == 1 { "is" } else { "are" },
                match service {
                    Service::Github => "GitHub",
                    Service::Gitea => "Gitea",
                },
                match service {
                    Service::Github => ", or * for every event",
                    Service::Gitea => " (Gitea has no wildcard)",
                }
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
        let github = Service::Github;
        assert_eq!(
            validate(&names(&["push", " Pull_Request ", "push"]), github),
            Ok(names(&["push", "pull_request"]))
        );
        assert_eq!(validate(&names(&["push", "*"]), github), Ok(names(&["*"])));
        assert_eq!(
            validate(
                &names(&["issues_only", "pull_request_review"]),
                Service::Gitea
            ),
            Ok(names(&["issues_only", "pull_request_review"]))
        );
    }

    #[test]
    fn names_unknown_events_and_empty_lists() {
        let error =
            validate(&names(&["push", "pushh", "bogus"]), Service::Github).expect_err("unknown");
        assert_eq!(error.path(), "events");
        let text = error.to_string();
        assert!(
            text.contains("\"pushh\", \"bogus\" are not a GitHub"),
            "{text}"
        );
        let error = validate(&names(&["", " "]), Service::Github).expect_err("empty");
        assert!(error.to_string().contains("empty"), "{error}");
        for (name, service) in [("*", Service::Gitea), ("issues_only", Service::Github)] {
            let error = validate(&names(&[name]), service).expect_err("another service's");
            assert_eq!(error.path(), "events", "{name}");
        }
    }

    #[test]
    fn the_list_is_sorted_for_humans_to_scan() {
        // `*` first, then alphabetical: keeps additions easy to review.
        for list in [EVENT_NAMES, GITEA_EVENT_NAMES] {
            let mut sorted = list.to_vec();
            sorted.sort_unstable();
            assert_eq!(sorted, list);
        }
    }
}
