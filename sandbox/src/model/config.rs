//! How a sandbox is started: port, namespaces and their keys, limits.

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
    /// file: loaded at start, rewritten atomically after every change. `None`: memory only.
    pub state_file: Option<std::path::PathBuf>,
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
        }
    }
}
