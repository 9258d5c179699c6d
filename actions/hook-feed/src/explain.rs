//! Turns what the hooks API answered into an error that says which parameter to fix, with the
//! service's own words.

use feedkit::ActionError;
use feedkit::http::HttpErrorKind;

use crate::dialect::Service;
use crate::service::ServiceError;
use crate::settings::{DEFAULT_BASE_URL, Location};

const BASE_URL_FORMS: &str = "https://api.github.com, https://HOST/api/v3 for GitHub Enterprise, \
                              https://HOST/api/v1 for Gitea and Forgejo";

/// Explains a failed call made while `doing` (e.g. "installing the hook").
pub fn service_error(error: &ServiceError, location: &Location, doing: &str) -> ActionError {
    let repository = &location.repository;
    let base_url = &location.base_url;
    let said = error.to_string();
    let message = match error {
        ServiceError::Status { status: 401, .. } => format!(
            "invalid parameter `accessToken`: {base_url} did not accept it ({said}); give a valid \
             token that may administer the hooks of {repository}{}",
            if location.service == Service::Github && base_url.as_str() != DEFAULT_BASE_URL {
                " (on Gitea or Forgejo, give `service` gitea: they take the token in another form)"
            } else {
                ""
            }
        ),
        ServiceError::Status { status: 403, .. } => format!(
            "invalid parameter `accessToken`: it may not administer the hooks of {repository} \
             ({said}); {}",
            match location.service {
                Service::Github =>
                    "GitHub needs the admin:repo_hook scope (classic tokens) or \
                    Webhooks read and write (fine-grained tokens), and answers 403 when rate \
                    limited too",
                Service::Gitea =>
                    "Gitea and Forgejo need a token with the write:repository \
                    scope of a user who administers the repository",
            }
        ),
        ServiceError::Status { status: 404, .. } => format!(
            "invalid parameter `repository`: {repository} was not found at {base_url} ({said}); \
             check the name, that `accessToken` may administer its hooks (services answer 404 for \
             repositories a token may not see), and that `baseUrl` is the API root ({BASE_URL_FORMS})"
        ),
        ServiceError::Status {
            status: 422,
            message,
            details,
            fields,
        } => {
            let all =
                format!("{message} {} {}", details.join(" "), fields.join(" ")).to_lowercase();
            let named = if all.contains("event") {
                "invalid parameter `events`"
            } else if all.contains("content_type") {
                "invalid parameter `contentType`"
            } else if all.contains("secret") {
                "invalid parameter `secret`"
            } else if all.contains("url") {
                "the service refused the hook URL (the relay's URL, `relayUrl`, or in direct mode \
                 the trigger's fire URL on the OpenWhisk API host, must be reachable from the \
                 service)"
            } else {
                "the service refused the hook settings (`events`, `contentType`, `secret`)"
            };
            format!("{named}: {base_url} refused them for {repository} ({said})")
        }
        ServiceError::Status { status, .. }
            if *status == 408 || *status == 429 || *status >= 500 =>
        {
            format!("{base_url} failed ({said}); this is on the service's side, try again later")
        }
        ServiceError::Status { .. } => format!("{base_url} refused the request ({said})"),
        ServiceError::NotTheApi { .. } => format!(
            "invalid parameter `baseUrl`: {base_url} answered {said}; expected the API root \
             ({BASE_URL_FORMS}) of a {} service (`service`)",
            location.service
        ),
        ServiceError::Call(HttpErrorKind::Redirect(_)) => format!(
            "invalid parameter `baseUrl`: {said}; give the API root the service answers at \
             ({BASE_URL_FORMS})"
        ),
        ServiceError::Call(HttpErrorKind::HeadersTooLarge) => {
            format!("invalid parameter `accessToken`: {said}; give the token itself")
        }
        ServiceError::Call(HttpErrorKind::BadUrl) => {
            format!("invalid parameter `baseUrl`: {said}; expected the API root ({BASE_URL_FORMS})")
        }
        ServiceError::Call(HttpErrorKind::Deadline) => said,
        ServiceError::Call(_) => {
            format!(
                "invalid parameter `baseUrl`: {base_url} gave {said}; check the URL ({BASE_URL_FORMS})"
            )
        }
    };
    ActionError::new(message).context(doing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn location() -> Location {
        let params =
            crate::settings::test_params(json!({"repository": "o/r", "accessToken": "tok"}));
        crate::settings::location(&params, None).expect("location")
    }

    fn status(status: u16, message: &str, details: &[&str], fields: &[&str]) -> ServiceError {
        ServiceError::Status {
            status,
            message: message.to_owned(),
            details: details.iter().map(|d| (*d).to_owned()).collect(),
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        }
    }

    #[test]
    fn names_the_parameter_behind_each_answer() {
        let cases = [
            (
                status(401, "Bad credentials", &[], &[]),
                "invalid parameter `accessToken`",
            ),
            (
                status(403, "Must have admin rights", &[], &[]),
                "invalid parameter `accessToken`",
            ),
            (
                status(404, "Not Found", &[], &[]),
                "invalid parameter `repository`: o/r was not found",
            ),
            (
                status(
                    422,
                    "Validation Failed",
                    &["\"x\" is not a valid event name"],
                    &["events"],
                ),
                "invalid parameter `events`",
            ),
            (
                status(
                    422,
                    "Validation Failed",
                    &["Config content_type must be"],
                    &[],
                ),
                "invalid parameter `contentType`",
            ),
            (status(502, "Bad Gateway", &[], &[]), "try again later"),
            (
                ServiceError::NotTheApi { status: 200 },
                "invalid parameter `baseUrl`",
            ),
            (
                ServiceError::Call(HttpErrorKind::Transport("connection failed".into())),
                "invalid parameter `baseUrl`",
            ),
        ];
        for (error, expected) in cases {
            let explained = service_error(&error, &location(), "installing the hook");
            let text = explained.message();
            assert!(text.starts_with("installing the hook: "), "{text}");
            assert!(text.contains(expected), "{text}");
            assert!(
                text.contains(&error.to_string()),
                "keeps the service's words: {text}"
            );
        }
    }
}
