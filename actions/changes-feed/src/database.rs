//! Checks, before the provider is told, that a named filter exists (CREATE fails then, with the
//! parameter to fix, instead of a feed that retries forever). The database itself the provider
//! checks when it registers the feed: asking it here too would be one more round trip.

use feedkit::ActionError;
use feedkit::http::{Http, HttpErrorKind, Request};
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
fn get(http: &Http, database: &Database, url: &str) -> Result<(u16, Value), ActionError> {
    let mut request = Request::get(url).header("Accept", "application/json");
    if let Some(user) = &database.username {
        let password = database
            .password
            .as_ref()
            .map_or("", |secret| secret.expose());
        request = request.basic_auth(user, password);
    }
    let response = http.send(&request).map_err(|error| {
        let problem = match error.kind {
            HttpErrorKind::Redirect(reason) => reason,
            other => format!(
                "the database server {} is not reachable ({other})",
                database.url
            ),
        };
        ActionError::new(format!("invalid parameter `dbUrl`: {problem}"))
    })?;
    Ok((
        response.status(),
        response.json_value().unwrap_or(Value::Null),
    ))
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

/// Checks that `ddoc/name` is a filter of the database.
pub fn check_filter(http: &Http, database: &Database, filter: &str) -> Result<(), ActionError> {
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
    let (status, body) = get(http, database, &url)?;
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
