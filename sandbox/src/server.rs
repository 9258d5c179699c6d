//! The HTTP server: accepts connections on 127.0.0.1 and answers each request through the REST
//! API ([`crate::api`]) or web actions ([`crate::web`]).

use crate::api::request::ReplyBody;
use crate::clock::new_id;
use crate::controller::Controller;
use crate::model::error::Error;
use std::io::{self, Read};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tiny_http::{Header, Request, Response};

/// A running server; dropping it stops accepting and joins the acceptor.
pub(crate) struct Server {
    server: Arc<tiny_http::Server>,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `controller` on `listener` until dropped.
    pub fn start(
        controller: Arc<Controller>,
        listener: std::net::TcpListener,
    ) -> io::Result<Server> {
        let server =
            Arc::new(tiny_http::Server::from_listener(listener, None).map_err(io::Error::other)?);
        let acceptor = {
            let server = server.clone();
            std::thread::Builder::new()
                .name("sandbox-acceptor".into())
                .spawn(move || {
                    loop {
                        match server.recv() {
                            Ok(request) if !controller.is_shutting_down() => {
                                controller.spawn("request", move |c| handle(&c, request));
                            }
                            Ok(_) => break,
                            Err(_) if controller.is_shutting_down() => break,
                            // An accept error (e.g. out of file descriptors): do not spin.
                            Err(_) => std::thread::sleep(Duration::from_millis(10)),
                        }
                    }
                })?
        };
        Ok(Server {
            server,
            acceptor: Some(acceptor),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// The largest request body read (action code is at most 48 MiB, as base64 a third more).
const MAX_BODY_BYTES: u64 = 72 * 1024 * 1024;

fn header(name: &str, value: &str) -> Option<Header> {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

fn handle(c: &Controller, mut request: Request) {
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
    let outcome =
        crate::api::prepare(c, &method, path, authorization.as_deref()).and_then(|prepared| {
            match read {
                Err(e) => Err(Error::bad(format!("Failed extracting request body: {e}"))),
                Ok(_) if body.len() > prepared.body_limit() => {
                    Err(prepared.too_large(c, body.len()))
                }
                Ok(_) => crate::api::run(c, &prepared, query, body),
            }
        });
    let (status, reply_body, activation_id) = match outcome {
        Ok(reply) => (reply.status, reply.body, reply.activation_id),
        Err(e) => (e.status(), ReplyBody::Json(e.body(&transaction_id)), None),
    };
    let mut headers: Vec<Header> = Vec::new();
    headers.extend(header("X-Request-ID", &transaction_id));
    if let Some(id) = &activation_id {
        headers.extend(header("x-openwhisk-activation-id", id));
    }
    let body = match reply_body {
        ReplyBody::Json(json) => {
            headers.extend(header("Content-Type", "application/json"));
            json.to_string().into_bytes()
        }
        ReplyBody::Empty => Vec::new(),
    };
    let mut response = Response::from_data(body).with_status_code(status);
    for h in headers {
        response.add_header(h);
    }
    // The client may have gone away; nothing to do about it.
    let _ = request.respond(response);
}
