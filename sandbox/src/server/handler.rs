//! One HTTP request: the REST API's route and key are checked from the head alone (so a wrong
//! key or a body over the route's cap is answered before any of the body is read), then the
//! body is read within its cap and time limit, and the API ([`crate::api`]) or a web action
//! ([`crate::web`]) answers on a blocking thread (operations may wait for an activation).

use crate::api::request::{Reply, ReplyBody};
use crate::clock::new_id;
use crate::controller::Controller;
use crate::model::config::ServerLimits;
use crate::model::error::{Error, messages};
use crate::ops::fire::MAX_PAYLOAD_BYTES;
use crate::web::{WEB_PREFIX, WebReply, WebRequest};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};
use std::sync::Arc;
use std::time::Duration;

pub(crate) type Answer = Response<Full<Bytes>>;

/// Why a body was not read.
enum BodyProblem {
    /// Over the cap: the size declared, or read so far.
    TooLarge(usize),
    TimedOut,
    Broken(String),
}

/// How long a body refused unread is still taken in (and thrown away) after the answer, and
/// how much of it: a client that sends its whole body before it reads the answer (most do)
/// would otherwise find the connection reset and never see why it was refused.
const LINGER_TIME: Duration = Duration::from_secs(30);
const LINGER_PAUSE: Duration = Duration::from_secs(2);
const LINGER_BYTES: u64 = 256 * 1024 * 1024;

/// Takes in and drops the rest of a refused request's body, within [`LINGER_TIME`],
/// [`LINGER_PAUSE`] between pieces and [`LINGER_BYTES`]; then the connection goes on or closes.
fn linger(mut body: Incoming) {
    tokio::spawn(async move {
        let mut taken = 0u64;
        let _ = tokio::time::timeout(LINGER_TIME, async {
            while taken <= LINGER_BYTES {
                match tokio::time::timeout(LINGER_PAUSE, body.frame()).await {
                    Ok(Some(Ok(frame))) => {
                        taken += frame.data_ref().map_or(0, |d| d.len() as u64);
                    }
                    _ => return,
                }
            }
        })
        .await;
    });
}

/// Reads a body of at most `limit` bytes, each piece arriving within `pause`.
async fn read_body(
    body: &mut Incoming,
    headers: &HeaderMap,
    limit: usize,
    pause: Duration,
) -> Result<Vec<u8>, BodyProblem> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(length) = declared
        && length > limit as u64
    {
        return Err(BodyProblem::TooLarge(
            usize::try_from(length).unwrap_or(usize::MAX),
        ));
    }
    let capacity = declared.map_or(0, |l| l as usize);
    let mut bytes = Vec::with_capacity(capacity);
    loop {
        let frame = match tokio::time::timeout(pause, body.frame()).await {
            Err(_elapsed) => return Err(BodyProblem::TimedOut),
            Ok(None) => return Ok(bytes),
            Ok(Some(Err(e))) => return Err(BodyProblem::Broken(e.to_string())),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > limit {
                return Err(BodyProblem::TooLarge(bytes.len() + data.len()));
            }
            bytes.extend_from_slice(&data);
        }
    }
}

fn answer(status: u16, transaction_id: &str, body: Option<(&'static str, Vec<u8>)>) -> Answer {
    let (content_type, bytes) = body.unwrap_or(("", Vec::new()));
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    if let Ok(id) = HeaderValue::from_str(transaction_id) {
        headers.insert("x-request-id", id);
    }
    if !content_type.is_empty() {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    response
}

fn error_answer(error: &Error, transaction_id: &str) -> Answer {
    let body = error.body(transaction_id).to_string().into_bytes();
    answer(
        error.status(),
        transaction_id,
        Some(("application/json", body)),
    )
}

fn api_answer(reply: Reply, transaction_id: &str) -> Answer {
    let body = match reply.body {
        ReplyBody::Json(json) => Some(("application/json", json.to_string().into_bytes())),
        ReplyBody::Text(text) => Some(("text/plain; charset=UTF-8", text.as_bytes().to_vec())),
        ReplyBody::Empty => None,
    };
    let mut response = answer(reply.status, transaction_id, body);
    if let Some(id) = reply
        .activation_id
        .and_then(|id| HeaderValue::from_str(&id).ok())
    {
        response
            .headers_mut()
            .insert("x-openwhisk-activation-id", id);
    }
    response
}

fn web_answer(reply: WebReply, transaction_id: &str) -> Answer {
    let mut response = answer(reply.status, transaction_id, None);
    *response.body_mut() = Full::new(Bytes::from(reply.body));
    let headers = response.headers_mut();
    for (name, value) in &reply.headers {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    }
    response
}

fn body_error(problem: BodyProblem, limit: usize) -> Error {
    match problem {
        BodyProblem::TooLarge(size) => Error::TooLarge(format!(
            "Request larger than allowed: {size} > {limit} bytes."
        )),
        BodyProblem::TimedOut => Error::Status {
            status: 408,
            message: messages::TIMEOUT_408.into(),
        },
        BodyProblem::Broken(why) => Error::bad(format!("Failed extracting request body: {why}")),
    }
}

/// Runs `work` where it may block (an operation may wait for an activation).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| Error::Status {
            status: 500,
            message: messages::INTERNAL.into(),
        })
}

/// Answers one request.
pub(crate) async fn handle(
    c: Arc<Controller>,
    limits: ServerLimits,
    request: Request<Incoming>,
) -> Result<Answer, std::convert::Infallible> {
    let transaction_id = new_id();
    if c.is_shutting_down() {
        return Ok(error_answer(&Error::ShutDown, &transaction_id));
    }
    let (head, body) = request.into_parts();
    Ok(if head.uri.path().starts_with(WEB_PREFIX) {
        web(c, limits, head, body, transaction_id).await
    } else {
        api(c, limits, head, body, transaction_id).await
    })
}

/// A web action: the body (at most a payload's 1 MiB) becomes its parameters.
async fn web(
    c: Arc<Controller>,
    limits: ServerLimits,
    head: hyper::http::request::Parts,
    mut body: Incoming,
    transaction_id: String,
) -> Answer {
    let bytes = match read_body(
        &mut body,
        &head.headers,
        MAX_PAYLOAD_BYTES,
        limits.read_timeout,
    )
    .await
    {
        Ok(bytes) => bytes,
        Err(problem) => {
            if matches!(problem, BodyProblem::TooLarge(_)) {
                linger(body);
            }
            let error = body_error(problem, MAX_PAYLOAD_BYTES);
            return web_answer(WebReply::error(&error, &transaction_id), &transaction_id);
        }
    };
    let headers = head
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let id = transaction_id.clone();
    let reply = blocking(move || {
        let request = WebRequest {
            method: head.method.as_str(),
            path: head.uri.path().strip_prefix(WEB_PREFIX).unwrap_or_default(),
            query: head.uri.query().unwrap_or_default(),
            headers,
            body: bytes,
        };
        crate::web::handle(&c, &request, &id)
    })
    .await;
    match reply {
        Ok(reply) => web_answer(reply, &transaction_id),
        Err(e) => error_answer(&e, &transaction_id),
    }
}

/// The REST API: routed and authenticated from the head, the body read within the route's cap.
async fn api(
    c: Arc<Controller>,
    limits: ServerLimits,
    head: hyper::http::request::Parts,
    mut body: Incoming,
    transaction_id: String,
) -> Answer {
    let authorization = head
        .headers
        .get(AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let path = head.uri.path();
    let prepared =
        match crate::api::prepare(&c, head.method.as_str(), path, authorization.as_deref()) {
            Ok(prepared) => prepared,
            Err(e) => {
                linger(body);
                return error_answer(&e, &transaction_id);
            }
        };
    let limit = prepared.body_limit();
    let bytes = match read_body(&mut body, &head.headers, limit, limits.read_timeout).await {
        Ok(bytes) => bytes,
        Err(BodyProblem::TooLarge(size)) => {
            linger(body);
            let refused = blocking({
                let c = c.clone();
                move || prepared.too_large(&c, size)
            })
            .await
            .unwrap_or_else(|e| e);
            return error_answer(&refused, &transaction_id);
        }
        Err(problem) => return error_answer(&body_error(problem, limit), &transaction_id),
    };
    let query = head.uri.query().unwrap_or_default().to_string();
    // What cannot wait long runs right here; a thread hop per request costs more than the
    // request under load.
    let outcome = if prepared.may_wait(c.has_state_file()) {
        blocking(move || crate::api::run(&c, &prepared, &query, bytes))
            .await
            .and_then(|outcome| outcome)
    } else {
        crate::api::run(&c, &prepared, &query, bytes)
    };
    match outcome {
        Ok(reply) => api_answer(reply, &transaction_id),
        Err(e) => error_answer(&e, &transaction_id),
    }
}
