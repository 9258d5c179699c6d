//! A small OpenWhisk controller for tests and local development.
//!
//! [`Sandbox::start`] serves the subset of OpenWhisk's REST API (`/api/v1`, described by the
//! controller's own `apiv1swagger.json`) that event feeds and their users need, on 127.0.0.1,
//! with all state in memory:
//!
//! - triggers (CRUD, fire with a per-namespace rate limit), rules (CRUD, enable/disable),
//!   actions (CRUD, blocking and non-blocking invoke, in packages and through bindings),
//!   packages and bindings (shared across namespaces when published), activation records;
//! - Basic auth with one `uuid:key` per namespace ([`Config`]); `_` is the caller's namespace;
//! - native actions (a zip with an `exec` at its root) run as real processes, one per
//!   activation, with the `openwhisk/dockerskeleton` contract: parameters on stdin and argv[1],
//!   the `__OW_*` environment, the last stdout line as the result, time limits enforced;
//! - [`BuiltinAction`]s, actions written in Rust and invoked the same way;
//! - the alarms package built in: `/whisk.system/alarms/interval`, `/alarm` (cron) and `/once`
//!   are published feed actions, and a scheduler thread fires their triggers in process
//!   ([`Sandbox::tick_alarm`] fires one now, [`Sandbox::alarms`] lists them);
//! - web actions under `/api/v1/web/{namespace}/{package}/{action}.{extension}` for actions
//!   annotated `web-export: true` (raw HTTP, `require-whisk-auth`, `.http`/`.json`/... results);
//! - an HTTP/1.1 server on hyper with limits ([`ServerLimits`]): headers (431), bodies capped
//!   per route and refused before they are read, the key checked before the body, idle and
//!   stalled clients dropped, other HTTP versions answered 505.
//!
//! [`deploy_manifest`] installs a wskdeploy `manifest.yaml` (native zips, triggers with feeds,
//! rules) as `wskdeploy` would, and [`Config::state_file`] keeps entities and alarms across
//! restarts. The `sandbox` binary (`sandbox serve`) is the program users run.
//!
//! Tests deploy with [`Sandbox::put_native_action`] and friends or over HTTP, observe with
//! [`Sandbox::fires`] and [`Sandbox::activations`], and inject faults with
//! [`Sandbox::fail_next_fires`]. Dropping the [`Sandbox`] stops everything it started.

// The layers, each importing only those above it in this list (checked by the test
// `modules::the_modules_import_each_other_without_a_circle`):
mod alarms;
mod api;
mod clock;
mod controller;
mod deploy;
mod model;
mod ops;
mod sandbox;
mod server;
mod url;
mod web;

pub use controller::SandboxHandle;
pub use controller::archive::zip_executable;
pub use controller::{ActionContext, ActionOutput, BuiltinAction};
pub use deploy::DeployReport;
pub use model::activation::{Activation, ActivationKind};
pub use model::config::{
    Config, DEFAULT_FIRES_PER_MINUTE, GUEST_AUTH_KEY, NamespaceKey, Retention, ServerLimits,
};
pub use model::entities::EntityKind;
pub use model::error::Error;
pub use model::fire::Fire;
pub use sandbox::{Sandbox, deploy_manifest, deploy_manifest_with_vars, served_routes};
