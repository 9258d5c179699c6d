//! The provider's REST API, spoken by the feed action with the provider secret:
//!
//! | request | what |
//! | --- | --- |
//! | `PUT /feeds/{namespace}/{trigger}` | register (or replace) a feed: [`Registration`] |
//! | `GET /feeds/{namespace}/{trigger}` | the feed's configuration (redacted) and status (`X-Owner-Key`: only if that key owns it) |
//! | `PATCH /feeds/{namespace}/{trigger}` | change some settings: [`Patch`] |
//! | `DELETE /feeds/{namespace}/{trigger}` | remove it (`X-Owner-Key`: only if that key owns it) |
//! | `POST /feeds/{namespace}/{trigger}/pause` | stop firing, keep the position: [`Refresh`] |
//! | `POST /feeds/{namespace}/{trigger}/unpause` | resume (and re-enable) from the position |
//! | `GET /health` | every feed's status; without the secret, only counts |
//! | `GET /metrics` | the instance's metrics in the Prometheus text format (with the secret) |
//!
//! Authentication: `Authorization: Bearer {secret}`. Answers are JSON; failures are
//! `{"error": "..."}` with 400 (bad request), 401 (no or wrong secret), 403, 404 (no such feed),
//! 422 (the database cannot be used as given) or 500.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use feedkit::{AuthKey, Secret};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use provider_api::{ErrorBody, OWNER_KEY_HEADER, Refresh, Registration, Update};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::http::decode_component;
use crate::node::Node;
use crate::registry::{RegistryError, feed_id};
use crate::store::StoreError;

const MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// A client that does not finish its request head in this time is cut off.
const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
pub struct App {
    pub node: Arc<Node>,
    pub secret: Secret,
}

type Answer = Response<Full<Bytes>>;

fn answer(status: StatusCode, body: &Value) -> Answer {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Answer {
    let body = ErrorBody {
        error: message.to_string(),
    };
    answer(status, &serde_json::to_value(body).unwrap_or_default())
}

fn registry_error(failure: RegistryError) -> Answer {
    let status = match &failure {
        RegistryError::Invalid(_) => StatusCode::BAD_REQUEST,
        RegistryError::NotFound(_) => StatusCode::NOT_FOUND,
        RegistryError::Forbidden(_) => StatusCode::FORBIDDEN,
        RegistryError::Unusable(_) => StatusCode::UNPROCESSABLE_ENTITY,
        RegistryError::Store(StoreError::Conflict) => StatusCode::CONFLICT,
        RegistryError::Store(StoreError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
        RegistryError::Store(StoreError::Unreadable(_)) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, failure)
}

/// Carries a READ one instance forwarded to another (which answers it itself), with the
/// forwarding token instead of the secret.
const FORWARDED_HEADER: &str = "x-provider-forwarded";
/// How long a forwarded READ may take before the instance answers it itself.
const FORWARD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

impl App {
    /// A READ of a feed another instance runs goes to that instance, whose answer holds the
    /// live status (connected, last fire, errors); `None` when it cannot be asked (then this
    /// instance answers with what the store holds).
    async fn forward_read(&self, path: &str, request: &Request<Incoming>) -> Option<Value> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (namespace, trigger) = match segments.as_slice() {
            ["feeds", namespace, trigger] => {
                (decode_component(namespace)?, decode_component(trigger)?)
            }
            _ => return None,
        };
        let id = feed_id(&namespace, &trigger).ok()?;
        if self.node.runs_here(&id) {
            return None;
        }
        let (owner, url) = self.node.holder_of(&id)?;
        if owner == self.node.id {
            return None;
        }
        let url = format!("{}{path}", url?.trim_end_matches('/'));
        let token = self.forward_token();
        let mut headers = vec![(FORWARDED_HEADER, token.as_str())];
        let owner_key = request
            .headers()
            .get(OWNER_KEY_HEADER)
            .and_then(|value| value.to_str().ok());
        if let Some(key) = owner_key {
            headers.push((OWNER_KEY_HEADER, key));
        }
        match crate::http::json_request(
            &self.node.http,
            Method::GET,
            &url,
            &headers,
            None,
            FORWARD_TIMEOUT,
        )
        .await
        {
            Ok((200, view)) if view.get("status").is_some() => Some(view),
            _ => None,
        }
    }

    /// What a forwarded READ carries instead of the provider secret: an HMAC of it, good for
    /// nothing but forwarded READs (an instance announces its URL in the registry; whoever could
    /// forge that must not learn the secret).
    fn forward_token(&self) -> String {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, self.secret.expose().as_bytes());
        let tag = ring::hmac::sign(&key, b"changes-provider forwarded read v1");
        tag.as_ref()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    fn forwarded(&self, request: &Request<Incoming>) -> bool {
        request
            .headers()
            .get(FORWARDED_HEADER)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|given| {
                crate::constant_time_eq(given.trim().as_bytes(), self.forward_token().as_bytes())
            })
    }

    fn authorized(&self, request: &Request<Incoming>) -> bool {
        let Some(given) = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
        else {
            return false;
        };
        crate::constant_time_eq(given.trim().as_bytes(), self.secret.expose().as_bytes())
    }

    pub async fn handle(&self, request: Request<Incoming>) -> Answer {
        let path = request.uri().path().to_owned();
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let authorized = self.authorized(&request);
        if segments == ["health"] && request.method() == Method::GET {
            return answer(StatusCode::OK, &self.node.health(authorized).await);
        }
        if segments == ["metrics"] && request.method() == Method::GET {
            if !authorized {
                return error(
                    StatusCode::UNAUTHORIZED,
                    "missing or wrong provider secret (Authorization: Bearer ...)",
                );
            }
            let text = self.node.metrics.render(&self.node.id, &self.node.gauges());
            let mut response = Response::new(Full::new(Bytes::from(text)));
            response.headers_mut().insert(
                CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            return response;
        }
        let (namespace, trigger, action) = match segments.as_slice() {
            ["feeds", namespace, trigger] => (*namespace, *trigger, None),
            ["feeds", namespace, trigger, action] => (*namespace, *trigger, Some(*action)),
            _ => return error(StatusCode::NOT_FOUND, format!("no such resource {path}")),
        };
        let forwarded_read =
            request.method() == Method::GET && action.is_none() && self.forwarded(&request);
        if !authorized && !forwarded_read {
            return error(
                StatusCode::UNAUTHORIZED,
                "missing or wrong provider secret (Authorization: Bearer ...)",
            );
        }
        let (Some(namespace), Some(trigger)) =
            (decode_component(namespace), decode_component(trigger))
        else {
            return error(
                StatusCode::BAD_REQUEST,
                "the trigger name is not valid percent-encoded UTF-8",
            );
        };
        let id = match feed_id(&namespace, &trigger) {
            Ok(id) => id,
            Err(failure) => return registry_error(failure),
        };
        let method = request.method().clone();
        match (method, action) {
            (Method::GET, None) => match owner_key(&request) {
                Ok(owner_key) => {
                    if !forwarded_read && let Some(view) = self.forward_read(&path, &request).await
                    {
                        return answer(StatusCode::OK, &view);
                    }
                    self.node
                        .view(&id, owner_key)
                        .await
                        .map_or_else(registry_error, ok)
                }
                Err(failure) => registry_error(failure),
            },
            (Method::PUT, None) => match read_json::<Registration<Value>>(request).await {
                Ok(registration) => self
                    .node
                    .register(&id, registration)
                    .await
                    .map_or_else(registry_error, ok),
                Err(answer) => answer,
            },
            (Method::PATCH, None) => match read_json::<Update<Value>>(request).await {
                Ok(update) => self
                    .node
                    .update(&id, update)
                    .await
                    .map_or_else(registry_error, ok),
                Err(answer) => answer,
            },
            (Method::DELETE, None) => {
                let owner_key = match request.headers().get(OWNER_KEY_HEADER) {
                    None => None,
                    Some(value) => match value.to_str().ok().map(AuthKey::parse) {
                        Some(Ok(key)) => Some(key),
                        _ => {
                            return error(
                                StatusCode::BAD_REQUEST,
                                "X-Owner-Key is not an OpenWhisk key `uuid:key`",
                            );
                        }
                    },
                };
                match self.node.delete(&id, owner_key).await {
                    Ok(true) => answer(
                        StatusCode::OK,
                        &json!(provider_api::Deleted {
                            trigger: id,
                            deleted: true
                        }),
                    ),
                    Ok(false) => registry_error(RegistryError::NotFound(id)),
                    Err(failure) => registry_error(failure),
                }
            }
            (Method::POST, Some(verb @ ("pause" | "unpause"))) => {
                match read_json::<Refresh>(request).await {
                    Ok(refresh) => self
                        .node
                        .set_active(&id, verb == "unpause", refresh)
                        .await
                        .map_or_else(registry_error, ok),
                    Err(answer) => answer,
                }
            }
            (method, _) => error(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{method} {path} is not part of the provider's API"),
            ),
        }
    }
}

/// The optional `X-Owner-Key` header.
fn owner_key(request: &Request<Incoming>) -> Result<Option<AuthKey>, RegistryError> {
    match request.headers().get(OWNER_KEY_HEADER) {
        None => Ok(None),
        Some(value) => match value.to_str().ok().map(AuthKey::parse) {
            Some(Ok(key)) => Ok(Some(key)),
            _ => Err(RegistryError::Invalid(
                "X-Owner-Key is not an OpenWhisk key `uuid:key`".into(),
            )),
        },
    }
}

fn ok(view: provider_api::FeedView) -> Answer {
    answer(
        StatusCode::OK,
        &serde_json::to_value(view).unwrap_or_default(),
    )
}

/// Reads a JSON body (an empty body reads as `{}`), naming what was wrong with it.
async fn read_json<T: DeserializeOwned>(request: Request<Incoming>) -> Result<T, Answer> {
    let body = Limited::new(request.into_body(), MAX_REQUEST_BYTES)
        .collect()
        .await
        .map_err(|failure| {
            error(
                StatusCode::BAD_REQUEST,
                format!("cannot read the request body: {failure}"),
            )
        })?
        .to_bytes();
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &body
    };
    let mut reader = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut reader).map_err(|problem| {
        let path = problem.path().to_string();
        let inner = problem.into_inner();
        let message = if path == "." {
            format!("bad request body: {inner}")
        } else {
            format!("bad request body: {path}: {inner}")
        };
        error(StatusCode::BAD_REQUEST, message)
    })
}

/// Serves the API on `listener` until the process ends.
pub async fn serve(listener: TcpListener, app: Arc<App>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(failure) => {
                // E.g. out of file descriptors: wait a moment instead of spinning.
                tracing::warn!("accept failed: {failure}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let app = app.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(app.handle(request).await) }
            });
            if let Err(failure) = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!("API connection ended: {failure}");
            }
        });
    }
}
