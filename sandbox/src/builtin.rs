//! Actions implemented in Rust inside the sandbox (e.g. a later `/whisk.system/alarms/interval`
//! feed): invoked exactly like native actions, with the same parameters, context and result rules.

use crate::controller::SandboxHandle;
use serde_json::Value;

/// What an activation knows about itself: the `__OW_*` environment a native action gets.
#[derive(Clone)]
pub struct ActionContext {
    /// `__OW_API_HOST`: the sandbox URL.
    pub api_host: String,
    /// `__OW_NAMESPACE`: the invoking namespace.
    pub namespace: String,
    /// `__OW_ACTION_NAME`: `/ns/pkg/action`.
    pub action_name: String,
    /// `__OW_ACTION_VERSION`.
    pub action_version: String,
    /// `__OW_ACTIVATION_ID`.
    pub activation_id: String,
    /// `__OW_TRANSACTION_ID`.
    pub transaction_id: String,
    /// `__OW_DEADLINE`: epoch milliseconds by which the activation must end.
    pub deadline_ms: u64,
    /// `__OW_API_KEY`: the invoker's key, only with the annotation `provide-api-key: true`.
    pub api_key: Option<String>,
    /// The running sandbox, for in-process work (e.g. firing a trigger from a timer).
    pub sandbox: SandboxHandle,
}

// The API key is a credential: keep it out of debug output.
impl std::fmt::Debug for ActionContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionContext")
            .field("api_host", &self.api_host)
            .field("namespace", &self.namespace)
            .field("action_name", &self.action_name)
            .field("activation_id", &self.activation_id)
            .field("deadline_ms", &self.deadline_ms)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What a built-in action produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionOutput {
    /// The result, read like a native action's last stdout line: an object (with `error` for an
    /// application error) or an array; anything else is an "action developer error".
    pub result: Value,
    /// Log lines (stamped as stdout of the activation).
    pub logs: Vec<String>,
}

impl ActionOutput {
    /// A result without logs.
    pub fn result(result: Value) -> Self {
        ActionOutput {
            result,
            logs: Vec::new(),
        }
    }
}

/// An action implemented in Rust. `run` is called on its own thread per activation; it should
/// return by `ctx.deadline_ms` (after that its answer is discarded and the activation recorded as
/// timed out) and must not block for long once the sandbox shuts down.
pub trait BuiltinAction: Send + Sync + 'static {
    /// Runs one activation with the merged parameters (one JSON object).
    fn run(&self, ctx: &ActionContext, params: Value) -> ActionOutput;
}

impl<F> BuiltinAction for F
where
    F: Fn(&ActionContext, Value) -> ActionOutput + Send + Sync + 'static,
{
    fn run(&self, ctx: &ActionContext, params: Value) -> ActionOutput {
        self(ctx, params)
    }
}
