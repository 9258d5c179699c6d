//! The HTTP server (hyper, HTTP/1.1) on 127.0.0.1: accepts connections on a small tokio runtime
//! and answers each request through [`handler`]. Limits: request line and headers
//! ([`ServerLimits::max_header_bytes`], 431 beyond), a connection idle or slow to send its
//! headers is closed ([`ServerLimits::idle_timeout`]), a body pausing or an answer left unread
//! too long ([`ServerLimits::read_timeout`]), bodies capped by route before they are read, and an
//! HTTP/2.0 or HTTP/3.0 request line answered 505 and closed.

mod handler;
mod io;

use crate::clock::new_id;
use crate::controller::Controller;
use crate::model::config::ServerLimits;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use io::{Connection, Opening, read_opening, refuse_version};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// hyper's smallest read buffer.
const MIN_HEADER_BYTES: usize = 8192;
/// How long a stopping server waits for requests still being answered.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A running server; dropping it stops accepting, ends its connections and its runtime.
pub(crate) struct Server {
    runtime: Option<tokio::runtime::Runtime>,
    stop: watch::Sender<bool>,
}

impl Server {
    /// Serves `controller` on `listener` until dropped.
    pub fn start(
        controller: Arc<Controller>,
        listener: std::net::TcpListener,
    ) -> std::io::Result<Server> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sandbox-http")
            .enable_all()
            .build()?;
        listener.set_nonblocking(true)?;
        let listener = {
            let _entered = runtime.enter();
            TcpListener::from_std(listener)?
        };
        let (stop, stopped) = watch::channel(false);
        runtime.spawn(accept(listener, controller, stopped));
        Ok(Server {
            runtime: Some(runtime),
            stop,
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(STOP_GRACE);
        }
    }
}

async fn accept(
    listener: TcpListener,
    controller: Arc<Controller>,
    mut stopped: watch::Receiver<bool>,
) {
    let limits = controller.config.limits;
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve(stream, controller.clone(), limits, stopped.clone()));
                }
                // Out of file descriptors, say: do not spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
}

/// One connection, until the client or a limit ends it, or the server stops.
async fn serve(
    mut stream: TcpStream,
    controller: Arc<Controller>,
    limits: ServerLimits,
    mut stopped: watch::Receiver<bool>,
) {
    let header_bytes = limits.max_header_bytes.max(MIN_HEADER_BYTES);
    let read_first = match read_opening(&mut stream, header_bytes, limits.idle_timeout).await {
        Opening::Http1(read) => read,
        Opening::OtherVersion => return refuse_version(&mut stream, &new_id()).await,
        Opening::Gone => return,
    };
    let connection = Connection::new(stream, read_first, limits.read_timeout);
    let service = service_fn(move |request| handler::handle(controller.clone(), limits, request));
    let serving = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout)
        .max_buf_size(header_bytes)
        .serve_connection(TokioIo::new(connection), service);
    tokio::pin!(serving);
    tokio::select! {
        _ = &mut serving => {}
        _ = stopped.changed() => {
            serving.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(STOP_GRACE, serving).await;
        }
    }
}
