//! Talking to a CouchDB-compatible database: checking it, and its continuous `_changes` feed.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request};
use serde_json::{Value, json};

use provider_api::{ChangesConfig, Database};

use crate::http::{self, HttpClient, OutBody, basic_auth, encode_component};
use crate::model::Position as Seq;

/// A sequence as it goes into a `since=` query parameter.
pub fn seq_text(seq: &Seq) -> String {
    match seq {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The number a sequence starts with: PouchDB's are numbers, CouchDB 2+'s are `N-opaque` where N
/// grows with every change. `None` when there is none to compare.
pub fn seq_number(seq: &Seq) -> Option<u64> {
    match seq {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.split('-').next()?.trim().parse().ok(),
        _ => None,
    }
}

/// `{url}/{name}` with the database name encoded as one path segment.
pub fn db_url(db: &Database) -> String {
    format!(
        "{}/{}",
        db.url.trim_end_matches('/'),
        encode_component(&db.name)
    )
}

const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CouchError {
    #[error("the database server {url} is not reachable: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the database server refused the credentials (HTTP {status}: {message})")]
    Refused { status: u16, message: String },
    #[error("there is no database {name:?} at {url}")]
    NotFound { url: String, name: String },
    #[error("the database answered HTTP {status}: {message}")]
    Status { status: u16, message: String },
    #[error("the database's answer was not understood: {0}")]
    Decode(String),
}

impl CouchError {
    /// What an error status from the database means. None of these disables a feed: it keeps
    /// reconnecting (with backoff, the reason visible in READ) until the database or its
    /// credentials are fixed, or the user deletes the feed.
    pub fn from_status(db: &Database, status: u16, body: &[u8]) -> Self {
        let message = error_message(body);
        match status {
            401 | 403 => Self::Refused { status, message },
            404 => Self::NotFound {
                url: db.url.clone(),
                name: db.name.clone(),
            },
            _ => Self::Status { status, message },
        }
    }
}

/// CouchDB's `{"error": ..., "reason": ...}`, or the start of whatever else came.
fn error_message(body: &[u8]) -> String {
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => {
            let error = value.get("error").and_then(Value::as_str).unwrap_or("");
            let reason = value.get("reason").and_then(Value::as_str).unwrap_or("");
            match (error, reason) {
                ("", "") => value.to_string().chars().take(200).collect(),
                (error, "") => error.to_owned(),
                ("", reason) => reason.to_owned(),
                (error, reason) => format!("{error}: {reason}"),
            }
        }
        Err(_) => String::from_utf8_lossy(body).chars().take(200).collect(),
    }
}

/// The database's `Authorization` header, when it has credentials.
pub fn authorization(db: &Database) -> Option<String> {
    db.username.as_ref().map(|user| {
        let password = db
            .password
            .as_ref()
            .map(|password| password.expose())
            .unwrap_or("");
        basic_auth(user, password)
    })
}

/// `GET {db}{path}` as the database's user: its JSON answer when it is 200, the database's
/// error otherwise.
async fn get_json(client: &HttpClient, db: &Database, path: &str) -> Result<Value, CouchError> {
    let mut request =
        Request::get(format!("{}{path}", db_url(db))).header(ACCEPT, "application/json");
    if let Some(authorization) = authorization(db) {
        request = request.header(AUTHORIZATION, authorization);
    }
    let request = request
        .body(Full::new(Bytes::new()))
        .map_err(|error| CouchError::Decode(format!("cannot build the request: {error}")))?;
    let unreachable = |error: http::TransportError| CouchError::Unreachable {
        url: db.url.clone(),
        reason: error.to_string(),
    };
    let response = http::send(client, request, CHECK_TIMEOUT)
        .await
        .map_err(unreachable)?;
    let status = response.status().as_u16();
    let body = http::read_body(response.into_body(), CHECK_TIMEOUT)
        .await
        .map_err(unreachable)?;
    if status != 200 {
        return Err(CouchError::from_status(db, status, &body));
    }
    serde_json::from_slice(&body)
        .map_err(|error| CouchError::Decode(format!("GET {}{path}: {error}", db.name)))
}

/// Checks that the database exists and the credentials may read it; returns its current
/// sequence (`update_seq`), which is where a feed starting "now" begins.
pub async fn check_database(client: &HttpClient, db: &Database) -> Result<Seq, CouchError> {
    let info = get_json(client, db, "").await?;
    info.get("update_seq")
        .cloned()
        .filter(|seq| seq.is_string() || seq.is_number())
        .ok_or_else(|| CouchError::Decode(format!("GET {}: no update_seq", db.name)))
}

/// The database's first change (`seq`, `id`, `rev`), when its sequences are numbers: it can only
/// move later in the same database (a change of that document moves it), so another one at the
/// same or an earlier sequence means the database was deleted and created again.
pub async fn first_change(
    client: &HttpClient,
    db: &Database,
) -> Result<Option<(u64, String, String)>, CouchError> {
    let answer = get_json(client, db, "/_changes?limit=1").await?;
    let first = answer.pointer("/results/0");
    Ok(first.and_then(|change| {
        Some((
            change.get("seq")?.as_u64()?,
            change.get("id")?.as_str()?.to_owned(),
            change.pointer("/changes/0/rev")?.as_str()?.to_owned(),
        ))
    }))
}

/// The request for a continuous `_changes` feed from `since`, with heartbeats every
/// `heartbeat`.
///
/// A selector goes in the body (`POST ?filter=_selector`, as CouchDB 2+ wants) and also as the
/// `selector` query parameter, which is how PouchDB Server reads it; CouchDB ignores that one.
pub fn changes_request(
    config: &ChangesConfig,
    since: &Seq,
    heartbeat: Duration,
) -> Result<Request<OutBody>, hyper::http::Error> {
    let mut url = format!(
        "{}/_changes?feed=continuous&heartbeat={}&since={}",
        db_url(&config.database),
        heartbeat.as_millis(),
        encode_component(&seq_text(since))
    );
    if config.include_docs {
        url.push_str("&include_docs=true");
    }
    let mut body = Bytes::new();
    let mut method = Method::GET;
    if let Some(filter) = &config.filter {
        url.push_str("&filter=");
        url.push_str(&encode_component(filter));
    } else if let Some(selector) = &config.selector {
        url.push_str("&filter=_selector&selector=");
        url.push_str(&encode_component(&selector.to_string()));
        body = Bytes::from(json!({ "selector": selector }).to_string());
        method = Method::POST;
    }
    let mut request = Request::builder()
        .method(method)
        .uri(url)
        .header(ACCEPT, "application/json");
    if !body.is_empty() {
        request = request.header(CONTENT_TYPE, "application/json");
    }
    if let Some(authorization) = authorization(&config.database) {
        request = request.header(AUTHORIZATION, authorization);
    }
    request.body(Full::new(body))
}

/// One line of a continuous feed.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedLine {
    /// An empty line: the server is alive.
    Heartbeat,
    /// A change: the whole object (`seq`, `id`, `changes`, maybe `deleted` and `doc`).
    Change { seq: Seq, change: Value },
    /// The server ended the feed (`{"last_seq": ...}`).
    End,
    /// An error object, or something that is not a change.
    Error(String),
}

pub fn parse_line(line: &[u8]) -> FeedLine {
    if line.iter().all(u8::is_ascii_whitespace) {
        return FeedLine::Heartbeat;
    }
    let value: Value = match serde_json::from_slice(line) {
        Ok(value) => value,
        Err(error) => return FeedLine::Error(format!("a line of the feed is not JSON: {error}")),
    };
    if value.get("error").is_some() {
        return FeedLine::Error(error_message(line));
    }
    if let Some(seq) = value.get("seq").cloned()
        && value.get("id").is_some()
    {
        return FeedLine::Change { seq, change: value };
    }
    if value.get("last_seq").is_some() {
        return FeedLine::End;
    }
    FeedLine::Error(format!(
        "unexpected line in the feed: {}",
        value.to_string().chars().take(200).collect::<String>()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use provider_api::Confidential;

    fn config() -> ChangesConfig {
        let mut config = ChangesConfig::new(Database {
            url: "http://127.0.0.1:5984/".into(),
            name: "orders/eu".into(),
            username: Some("admin".into()),
            password: Some(Confidential::new("pw")),
        });
        config.include_docs = true;
        config
    }

    #[test]
    fn sequences_print_as_sent_and_compare_by_their_number() {
        assert_eq!(seq_text(&json!(12)), "12");
        assert_eq!(seq_text(&json!("12-g1AAAA")), "12-g1AAAA");
        assert_eq!(seq_number(&json!(12)), Some(12));
        assert_eq!(seq_number(&json!("12-g1AAAA")), Some(12));
        assert_eq!(seq_number(&json!("now")), None);
    }

    #[test]
    fn builds_the_changes_request() {
        let request = changes_request(&config(), &json!("3-g1A+b"), Duration::from_secs(10))
            .expect("request");
        assert_eq!(request.method(), Method::GET);
        assert_eq!(
            request.uri().to_string(),
            "http://127.0.0.1:5984/orders%2Feu/_changes?feed=continuous&heartbeat=10000&since=3-g1A%2Bb&include_docs=true"
        );
        assert_eq!(
            request.headers()[AUTHORIZATION],
            basic_auth("admin", "pw").as_str()
        );

        let mut selected = config();
        selected.include_docs = false;
        selected.selector = Some(json!({"type": "order"}));
        let request =
            changes_request(&selected, &json!(0), Duration::from_millis(500)).expect("request");
        assert_eq!(request.method(), Method::POST);
        assert!(
            request
                .uri()
                .to_string()
                .ends_with("since=0&filter=_selector&selector=%7B%22type%22%3A%22order%22%7D"),
            "{}",
            request.uri()
        );

        let mut filtered = config();
        filtered.filter = Some("app/by_type".into());
        let request =
            changes_request(&filtered, &json!(0), Duration::from_secs(1)).expect("request");
        assert!(request.uri().to_string().ends_with("&filter=app%2Fby_type"));
    }

    #[test]
    fn parses_feed_lines() {
        assert_eq!(parse_line(b""), FeedLine::Heartbeat);
        assert_eq!(parse_line(b"  \r"), FeedLine::Heartbeat);
        let change = br#"{"seq":3,"id":"a","changes":[{"rev":"1-x"}]}"#;
        assert!(matches!(parse_line(change), FeedLine::Change { seq, .. } if seq == json!(3)));
        assert_eq!(parse_line(br#"{"last_seq":9}"#), FeedLine::End);
        assert_eq!(
            parse_line(br#"{"error":"unauthorized","reason":"Name or password is incorrect."}"#),
            FeedLine::Error("unauthorized: Name or password is incorrect.".into())
        );
        assert!(matches!(parse_line(b"{oops"), FeedLine::Error(_)));
    }

    #[test]
    fn classifies_database_answers() {
        let db = config().database;
        assert!(matches!(
            CouchError::from_status(&db, 401, br#"{"error":"unauthorized","reason":"no"}"#),
            CouchError::Refused { status: 401, .. }
        ));
        assert!(matches!(
            CouchError::from_status(&db, 404, b"{}"),
            CouchError::NotFound { .. }
        ));
        assert_eq!(
            CouchError::from_status(&db, 500, b"boom").to_string(),
            "the database answered HTTP 500: boom"
        );
    }
}
