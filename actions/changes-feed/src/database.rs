//! Checks, before the provider is told, that the database answers with the given credentials and
//! that a named filter exists (CREATE fails then, with the parameter to fix, instead of a feed
//! that retries forever).

use std::time::Duration;

use feedkit::outbound::{self, CrossOrigin, Outbound, SendError};
use feedkit::{ActionError, Secret};
use serde_json::Value;

use crate::settings::Database;

/// `{url}/{segment}` with the segment percent-encoded.
fn join(url: &str, segments: &[&str]) -> String {
    let mut joined = url.trim_end_matches('/').to_owned();
    for segment in segments {
        joined.push('/');
        joined.push_str(&feedkit::percent_encode(segment));
    }
    joined
}

/// GETs `url` as the database's user; answers the status and the JSON body (`Null` if none).
/// The credentials go only to the database's origin: a redirect elsewhere is an error.
fn get(database: &Database, url: &str, timeout: Duration) -> Result<(u16, Value), ActionError> {
    let agent = feedkit::http_agent(feedkit::http_agent_config().build());
    let mut request = Outbound::get(url).header("Accept", "application/json");
    if let Some(user) = &database.username {
        use base64::Engine as _;
        let password = database
            .password
            .as_ref()
            .map_or("", |secret| secret.expose());
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        request = request.credential("Authorization", Secret::new(format!("Basic {encoded}")));
    }
    let mut response =
        outbound::send(&agent, &request, CrossOrigin::Refuse, timeout).map_err(|error| {
            let problem = match error {
                SendError::Redirect { .. } | SendError::TooManyRedirects => error.to_string(),
                other => format!(
                    "the database server {} is not reachable ({other})",
                    database.url
                ),
            };
            ActionError::new(format!("invalid parameter `dbUrl`: {problem}"))
        })?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(1024 * 1024)
        .read_to_string()
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null);
    Ok((status, body))
}

/// CouchDB's `error: reason`.
fn reason(body: &Value) -> String {
    let error = body.get("error").and_then(Value::as_str).unwrap_or("");
    let reason = body.get("reason").and_then(Value::as_str).unwrap_or("");
    match (error, reason) {
        ("", "") => "no details".into(),
        (error, "") => error.into(),
        ("", reason) => reason.into(),
        (error, reason) => format!("{error}: {reason}"),
    }
}

/// Checks that the database exists and the credentials may read it.
pub fn check(database: &Database, timeout: Duration) -> Result<(), ActionError> {
    let (status, body) = get(database, &join(&database.url, &[&database.name]), timeout)?;
    match status {
        200 => Ok(()),
        401 => Err(ActionError::new(format!(
            "invalid parameter `username`/`password`: the database server refused the credentials ({})",
            reason(&body)
        ))),
        403 => Err(ActionError::new(format!(
            "invalid parameter `username`: that user may not read database {:?} ({})",
            database.name,
            reason(&body)
        ))),
        404 => Err(ActionError::new(format!(
            "invalid parameter `dbName`: there is no database {:?} at {}",
            database.name, database.url
        ))),
        other => Err(ActionError::new(format!(
            "the database server {} answered HTTP {other} ({})",
            database.url,
            reason(&body)
        ))),
    }
}

/// Checks that `ddoc/name` is a filter of the database.
pub fn check_filter(
    database: &Database,
    filter: &str,
    timeout: Duration,
) -> Result<(), ActionError> {
    let Some((ddoc, name)) = filter.split_once('/') else {
        return Err(ActionError::new(format!(
            "invalid parameter `filter`: {filter:?} is not `ddoc/name`"
        )));
    };
    let url = format!(
        "{}/_design{}",
        join(&database.url, &[&database.name]),
        join("", &[ddoc])
    );
    let (status, body) = get(database, &url, timeout)?;
    match status {
        200 if body
            .get("filters")
            .and_then(|filters| filters.get(name))
            .is_some() =>
        {
            Ok(())
        }
        200 => Err(ActionError::new(format!(
            "invalid parameter `filter`: the design document _design/{ddoc} has no filter {name:?}"
        ))),
        404 => Err(ActionError::new(format!(
            "invalid parameter `filter`: database {:?} has no design document _design/{ddoc}",
            database.name
        ))),
        other => Err(ActionError::new(format!(
            "could not read the design document _design/{ddoc} (HTTP {other}: {})",
            reason(&body)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_encoded_segments() {
        assert_eq!(join("http://h:1/", &["a b/c"]), "http://h:1/a%20b%2Fc");
        assert_eq!(join("", &["app"]), "/app");
    }
}
