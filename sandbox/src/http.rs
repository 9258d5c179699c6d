//! The HTTP side: reading a tiny_http request, dispatching it, writing the JSON reply.

use crate::api::{RawRequest, dispatch};
use crate::clock::new_id;
use crate::controller::Controller;
use crate::error::Error;
use std::io::Read;
use tiny_http::{Header, Request, Response};

/// The largest request body read (action code is at most 48 MiB, as base64 a third more).
const MAX_BODY_BYTES: u64 = 72 * 1024 * 1024;

fn header(name: &str, value: &str) -> Option<Header> {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

pub(crate) fn handle(c: &Controller, mut request: Request) {
    let transaction_id = new_id();
    let method = request.method().as_str().to_string();
    let url = request.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    let authorization = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .map(|h| h.value.as_str().to_string());
    let mut body = Vec::new();
    let read = request
        .as_reader()
        .take(MAX_BODY_BYTES + 1)
        .read_to_end(&mut body);
    if let Some(web_path) = path.strip_prefix(crate::web::WEB_PREFIX) {
        let reply = match read {
            Err(e) => crate::web::WebReply::error(
                &Error::bad(format!("Failed extracting request body: {e}")),
                &transaction_id,
            ),
            Ok(_) => {
                let headers = request
                    .headers()
                    .iter()
                    .map(|h| {
                        (
                            h.field.as_str().as_str().to_string(),
                            h.value.as_str().to_string(),
                        )
                    })
                    .collect();
                let web = crate::web::WebRequest {
                    method: &method,
                    path: web_path,
                    query,
                    headers,
                    body,
                };
                crate::web::handle(c, &web, &transaction_id)
            }
        };
        let mut response = Response::from_data(reply.body).with_status_code(reply.status);
        let request_id = ("X-Request-ID".to_string(), transaction_id.clone());
        for (name, value) in std::iter::once(&request_id).chain(&reply.headers) {
            if let Some(h) = header(name, value) {
                response.add_header(h);
            }
        }
        let _ = request.respond(response);
        return;
    }
    let outcome = match read {
        Err(e) => Err(Error::bad(format!("Failed extracting request body: {e}"))),
        Ok(_) if body.len() as u64 > MAX_BODY_BYTES => Err(Error::TooLarge(format!(
            "Request larger than allowed: more than {MAX_BODY_BYTES} bytes."
        ))),
        Ok(_) => dispatch(
            c,
            RawRequest {
                method: &method,
                path,
                query,
                authorization: authorization.as_deref(),
                body,
            },
        ),
    };
    let (status, json, activation_id) = match outcome {
        Ok(reply) => (reply.status, reply.body, reply.activation_id),
        Err(e) => (e.status(), Some(e.body(&transaction_id)), None),
    };
    let mut headers: Vec<Header> = Vec::new();
    headers.extend(header("X-Request-ID", &transaction_id));
    if let Some(id) = &activation_id {
        headers.extend(header("x-openwhisk-activation-id", id));
    }
    let body = match json {
        Some(json) => {
            headers.extend(header("Content-Type", "application/json"));
            json.to_string().into_bytes()
        }
        None => Vec::new(),
    };
    let mut response = Response::from_data(body).with_status_code(status);
    for h in headers {
        response.add_header(h);
    }
    // The client may have gone away; nothing to do about it.
    let _ = request.respond(response);
}
