//! The listening socket of a [`super::JsonSource`]: relays each connection to the inner
//! tiny_http server, and when the source is "down" closes connections without an answer
//! (new ones at once, live keep-alive ones on the spot). tiny_http alone cannot drop a
//! connection without answering, which is what a crashed or unreachable server looks like.

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::http::lock;

pub(crate) struct Front {
    port: u16,
    shared: Arc<FrontShared>,
    thread: Option<JoinHandle<()>>,
}

struct FrontShared {
    inner: SocketAddr,
    stopping: AtomicBool,
    /// The live relays (client side, inner side) and whether the source is down, under one lock
    /// so that no connection slips past a switch to down.
    relays: Mutex<Relays>,
    next_id: AtomicU64,
}

#[derive(Default)]
struct Relays {
    down: bool,
    live: HashMap<u64, (TcpStream, TcpStream)>,
}

impl Front {
    /// Listens on 127.0.0.1 with an OS-picked port, relaying to `inner`.
    pub(crate) fn start(inner: SocketAddr) -> io::Result<Front> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(FrontShared {
            inner,
            stopping: AtomicBool::new(false),
            relays: Mutex::new(Relays::default()),
            next_id: AtomicU64::new(0),
        });
        let accepting = Arc::clone(&shared);
        let thread = std::thread::spawn(move || accept_loop(&listener, &accepting));
        Ok(Front {
            port,
            shared,
            thread: Some(thread),
        })
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Down: every connection, live or new, is closed without an answer. Up: relayed again.
    pub(crate) fn set_down(&self, down: bool) {
        let mut relays = lock(&self.shared.relays);
        relays.down = down;
        if down {
            cut_all(&mut relays);
        }
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // A connection of our own wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        cut_all(&mut lock(&self.shared.relays));
    }
}

fn cut_all(relays: &mut Relays) {
    for (_, (client, inner)) in relays.live.drain() {
        let _ = client.shutdown(Shutdown::Both);
        let _ = inner.shutdown(Shutdown::Both);
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<FrontShared>) {
    for client in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(client) = client else { continue };
        // Relayed bytes go on at once, as they would without a relay in between.
        let _ = client.set_nodelay(true);
        if let Err(client) = relay(client, shared) {
            // Down (or the inner server is gone): close without a word.
            let _ = client.shutdown(Shutdown::Both);
        }
    }
}

/// Starts relaying one connection; gives the client back when it must be closed instead.
fn relay(client: TcpStream, shared: &Arc<FrontShared>) -> Result<(), TcpStream> {
    let mut relays = lock(&shared.relays);
    if relays.down {
        return Err(client);
    }
    let Ok(inner) = TcpStream::connect(shared.inner) else {
        return Err(client);
    };
    let _ = inner.set_nodelay(true);
    let clones = (
        client.try_clone(),
        client.try_clone(),
        inner.try_clone(),
        inner.try_clone(),
    );
    let (Ok(client_read), Ok(client_keep), Ok(inner_write), Ok(inner_keep)) = clones else {
        return Err(client);
    };
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    relays.live.insert(id, (client_keep, inner_keep));
    drop(relays);

    // Client to server: when the client is done sending, tell the server.
    std::thread::spawn(move || {
        let mut client_read = client_read;
        let mut inner_write = inner_write;
        let _ = io::copy(&mut client_read, &mut inner_write);
        let _ = inner_write.shutdown(Shutdown::Write);
    });
    // Server to client: when the server closes, the whole relay is over.
    let shared = Arc::clone(shared);
    std::thread::spawn(move || {
        let mut inner_read = inner;
        let mut client_write = client;
        let _ = io::copy(&mut inner_read, &mut client_write);
        let _ = client_write.shutdown(Shutdown::Both);
        let _ = inner_read.shutdown(Shutdown::Both);
        lock(&shared.relays).live.remove(&id);
    });
    Ok(())
}
