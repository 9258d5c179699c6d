//! How a sandbox is started: port, namespaces and their keys, limits.

use std::time::Duration;

/// The key of the `guest` namespace of OpenWhisk's standalone server: a well-known development
/// key, never a secret.
pub const GUEST_AUTH_KEY: &str = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP";

/// The default fire rate limit of an OpenWhisk namespace (fires per minute).
pub const DEFAULT_FIRES_PER_MINUTE: u32 = 60;

/// How a [`Sandbox`](crate::Sandbox) is started.
#[derive(Debug, Clone)]
pub struct Config {
    /// Port on 127.0.0.1; 0 lets the OS pick one.
    pub port: u16,
    /// The namespaces and the key that authenticates as each.
    pub namespaces: Vec<NamespaceKey>,
    /// Trigger fires accepted per namespace in any sliding minute; 0 means unlimited.
    pub fire_limit_per_minute: u32,
    /// Print one readable line per fire, rule and activation to stderr (never a payload or key).
    pub echo_events: bool,
    /// Keep entities (actions with their code, packages, triggers, rules) and alarms in this
    /// SQLite file: loaded at start, every change durable before it is answered. A file that is
    /// not a sandbox state file is refused (and left alone). `None`: memory only.
    pub state_file: Option<std::path::PathBuf>,
    /// What the HTTP server accepts from a client.
    pub limits: ServerLimits,
    /// How many records of activations and fires are kept.
    pub retention: Retention,
}

/// How much of what happened is kept in memory, as an activation store keeps activations for a
/// while: the newest records, of all namespaces together; older ones are dropped (an
/// activation id then answers 404). Whatever the counts, at most 256 MiB of activation logs
/// and results and 64 MiB of fire payloads are held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Activation records (actions run, triggers fired with a rule).
    pub activations: usize,
    /// Fire records ([`Sandbox::fires`](crate::Sandbox::fires)).
    pub fires: usize,
}

impl Default for Retention {
    /// The newest 10,000 activations and 10,000 fires.
    fn default() -> Self {
        Retention {
            activations: 10_000,
            fires: 10_000,
        }
    }
}

/// What the HTTP server accepts from a client before it answers with an error or hangs up.
/// Bodies have fixed caps by route (answered 413 before they are read): an action's code
/// 72 MiB (48 MiB of code as base64), a fire, invoke or web request 1 MiB (as OpenWhisk), any
/// other entity 2 MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// The request line and headers, in bytes (at least 8192); more is answered 431.
    pub max_header_bytes: usize,
    /// A connection is closed when a request's line and headers have not all arrived this long
    /// after it opened or after the previous answer (so also when it idles this long).
    pub idle_timeout: Duration,
    /// The longest a request body may pause (answered 408) or the client may leave an answer
    /// unread before the connection is dropped.
    pub read_timeout: Duration,
}

impl Default for ServerLimits {
    /// 64 KiB of headers, 60 s idle (as akka-http, OpenWhisk's server), 30 s read pauses.
    fn default() -> Self {
        ServerLimits {
            max_header_bytes: 64 * 1024,
            idle_timeout: Duration::from_secs(60),
            read_timeout: Duration::from_secs(30),
        }
    }
}

/// A namespace and the `uuid:key` auth key that owns it.
#[derive(Clone, PartialEq, Eq)]
pub struct NamespaceKey {
    /// The namespace name, e.g. `guest`.
    pub namespace: String,
    /// `uuid:key`, sent as HTTP Basic auth (user `uuid`, password `key`).
    pub auth_key: String,
}

impl NamespaceKey {
    /// A namespace with its key.
    pub fn new(namespace: impl Into<String>, auth_key: impl Into<String>) -> Self {
        NamespaceKey {
            namespace: namespace.into(),
            auth_key: auth_key.into(),
        }
    }
}

// The key is a credential: keep it out of debug output.
impl std::fmt::Debug for NamespaceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamespaceKey")
            .field("namespace", &self.namespace)
            .field("auth_key", &"<redacted>")
            .finish()
    }
}

impl Default for Config {
    /// Port 0, one namespace `guest` with [`GUEST_AUTH_KEY`], 60 fires per minute, no echo, no
    /// state file.
    fn default() -> Self {
        Config {
            port: 0,
            namespaces: vec![NamespaceKey::new("guest", GUEST_AUTH_KEY)],
            fire_limit_per_minute: DEFAULT_FIRES_PER_MINUTE,
            echo_events: false,
            state_file: None,
            limits: ServerLimits::default(),
            retention: Retention::default(),
        }
    }
}
