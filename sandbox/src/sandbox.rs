//! The library API: [`Sandbox`] (start a sandbox, deploy into it, observe it, inject faults),
//! [`SandboxHandle`]'s calls, and [`deploy_manifest`]. Everything here is a thin shell over the
//! typed operations, acting as the namespace's owner.

use crate::controller::BuiltinAction;
use crate::controller::Controller;
use crate::controller::SandboxHandle;
use crate::controller::runner::Runner;
use crate::controller::state::StateFile;
use crate::deploy::DeployReport;
use crate::model::activation::Activation;
use crate::model::config::Config;
use crate::model::entities::{
    Code, EntityKind, Exec, NativeCode, SKELETON_IMAGE, rule_json, trigger_json,
};
use crate::model::error::{Error, messages};
use crate::model::fire::Fire;
use crate::model::names::{EntityName, check_name, check_namespace};
use crate::model::params::from_object;
use crate::ops::CommonPut;
use crate::ops::actions::ActionPut;
use crate::ops::fire::FirePayload;
use crate::ops::packages::PackagePut;
use crate::server::Server;
use serde_json::Value;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A running OpenWhisk sandbox on 127.0.0.1. Dropping it stops the server, kills running action
/// processes, joins its threads and removes its temporary files.
pub struct Sandbox {
    controller: Arc<Controller>,
    server: Option<Server>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("url", &self.controller.base_url)
            .finish_non_exhaustive()
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

fn check_config(config: &Config) -> io::Result<()> {
    for (i, key) in config.namespaces.iter().enumerate() {
        check_namespace(&key.namespace)
            .map_err(|_| invalid(format!("namespace {:?} is not a valid name", key.namespace)))?;
        if !key.auth_key.contains(':') {
            return Err(invalid(format!(
                "the auth key of namespace {:?} must be \"uuid:key\"",
                key.namespace
            )));
        }
        if config.namespaces[..i]
            .iter()
            .any(|k| k.auth_key == key.auth_key || k.namespace == key.namespace)
        {
            return Err(invalid(format!(
                "namespace {:?} or its auth key is configured twice",
                key.namespace
            )));
        }
    }
    Ok(())
}

/// `"pkg/action"` or `"action"` in `namespace`.
fn entity_name(namespace: &str, name: &str) -> Result<EntityName, Error> {
    check_namespace(namespace)?;
    let (pkg, simple) = match name.split_once('/') {
        Some((pkg, simple)) => (Some(pkg), simple),
        None => (None, name),
    };
    if let Some(pkg) = pkg {
        check_name(pkg)?;
    }
    check_name(simple)?;
    Ok(EntityName::new(namespace, pkg, simple))
}

/// An action PUT from JSON objects, as the library API takes them.
fn action_put(exec: Exec, parameters: &Value, annotations: &Value) -> Result<ActionPut, Error> {
    Ok(ActionPut {
        common: CommonPut {
            annotations: Some(from_object(annotations, "annotations")?),
            ..CommonPut::default()
        },
        exec: Some(exec),
        parameters: Some(from_object(parameters, "parameters")?),
        ..ActionPut::default()
    })
}

impl Sandbox {
    /// Binds 127.0.0.1:`config.port` and starts serving `/api/v1`.
    pub fn start(config: Config) -> io::Result<Sandbox> {
        check_config(&config)?;
        let listener = listener(config.port)?;
        let port = listener.local_addr()?.port();
        let (state, loaded) = match &config.state_file {
            Some(path) => {
                let (state, loaded) = StateFile::open(path).map_err(|why| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("state file {}: {why}", path.display()),
                    )
                })?;
                (Some(state), Some(loaded))
            }
            None => (None, None),
        };
        let controller = Controller::new(
            config,
            format!("http://127.0.0.1:{port}"),
            Runner::new()?,
            state,
        );
        if let Some(loaded) = loaded {
            controller.load(loaded);
        }
        if let Err(e) = crate::alarms::install(&controller) {
            controller.stop();
            return Err(io::Error::other(format!(
                "installing the alarms package: {e}"
            )));
        }
        controller.spawn("alarm-scheduler", |c| crate::alarms::run_scheduler(&c));
        let server = match Server::start(controller.clone(), listener) {
            Ok(server) => server,
            Err(e) => {
                controller.stop();
                return Err(e);
            }
        };
        Ok(Sandbox {
            controller,
            server: Some(server),
        })
    }

    /// `http://127.0.0.1:PORT` (without `/api/v1`).
    pub fn url(&self) -> String {
        self.controller.base_url.clone()
    }

    /// Gives the actions of `namespace` (those it holds, in its packages or not) `url` as
    /// `__OW_API_HOST` instead of the sandbox's own URL: a proxy in front of the sandbox, say,
    /// that counts what they call. `None` undoes it.
    pub fn route_actions_through(&self, namespace: &str, url: Option<String>) {
        self.controller.set_actions_api_host(namespace, url);
    }

    /// The `uuid:key` of a configured namespace.
    ///
    /// # Panics
    /// When the namespace is not configured (a test setup mistake).
    pub fn auth_key(&self, namespace: &str) -> String {
        self.controller
            .owner_of(namespace)
            .auth_key
            .unwrap_or_else(|| panic!("namespace {namespace:?} is not configured in the sandbox"))
    }

    /// A handle for in-process code (built-in actions, timers) that does not keep the sandbox alive.
    pub fn handle(&self) -> SandboxHandle {
        SandboxHandle::new(&self.controller)
    }

    /// Deploys a native action (`"pkg/action"` or `"action"`) from a zip holding `exec`, as
    /// `wsk action update --native` would (the package must exist). `parameters` and
    /// `annotations` are JSON objects.
    pub fn put_native_action(
        &self,
        namespace: &str,
        name: &str,
        zip: Vec<u8>,
        parameters: Value,
        annotations: Value,
    ) -> Result<(), Error> {
        let target = entity_name(namespace, name)?;
        let exec = Exec::Native(NativeCode::new(SKELETON_IMAGE, Code::Zip(zip.into()), None));
        let put = action_put(exec, &parameters, &annotations)?;
        let owner = self.controller.owner_of(namespace);
        crate::ops::actions::put(&self.controller, &owner, &target, put, true).map(drop)
    }

    /// Deploys an action implemented in Rust, invoked like a native one.
    pub fn put_builtin_action(
        &self,
        namespace: &str,
        name: &str,
        action: impl BuiltinAction,
        parameters: Value,
        annotations: Value,
    ) -> Result<(), Error> {
        let target = entity_name(namespace, name)?;
        let exec = Exec::Builtin(self.controller.register_builtin(Arc::new(action)));
        let put = action_put(exec, &parameters, &annotations)?;
        let owner = self.controller.owner_of(namespace);
        crate::ops::actions::put(&self.controller, &owner, &target, put, true).map(drop)
    }

    /// Creates or updates a package (not a binding).
    pub fn put_package(
        &self,
        namespace: &str,
        name: &str,
        parameters: Value,
        annotations: Value,
        publish: bool,
    ) -> Result<(), Error> {
        let target = entity_name(namespace, name)?;
        if target.pkg.is_some() {
            return Err(Error::bad(messages::ILLEGAL_NAME));
        }
        let put = PackagePut {
            common: CommonPut {
                publish: Some(publish),
                annotations: Some(from_object(&annotations, "annotations")?),
                ..CommonPut::default()
            },
            binding: None,
            parameters: Some(from_object(&parameters, "parameters")?),
        };
        let owner = self.controller.owner_of(namespace);
        crate::ops::packages::put(&self.controller, &owner, &target, put, true).map(drop)
    }

    /// Fires a trigger in process, as its owner would over HTTP (recorded like any fire).
    pub fn fire_trigger(&self, namespace: &str, name: &str, payload: Value) -> Fire {
        fire_as_owner(&self.controller, namespace, name, payload)
    }

    /// Every fire request that reached the trigger's route, in order.
    pub fn fires(&self, namespace: &str, trigger: &str) -> Vec<Fire> {
        self.controller.fires.list(namespace, trigger)
    }

    /// The trigger's fires as soon as there are at least `count` (or what there is at timeout).
    pub fn wait_for_fires(
        &self,
        namespace: &str,
        trigger: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<Fire> {
        self.controller.fires.wait(
            namespace,
            trigger,
            count,
            timeout,
            &self.controller.shutdown,
        )
    }

    /// The namespace's finished activations, oldest first.
    pub fn activations(&self, namespace: &str) -> Vec<Activation> {
        self.controller.activations.list(namespace)
    }

    /// The namespace's activations as soon as `pred` holds for them (or at timeout).
    pub fn wait_for_activations(
        &self,
        namespace: &str,
        pred: impl Fn(&[Activation]) -> bool,
        timeout: Duration,
    ) -> Vec<Activation> {
        self.controller
            .activations
            .wait_until(namespace, pred, timeout, &self.controller.shutdown)
    }

    /// The names of a namespace's entities of one kind, sorted (`pkg/action` for packaged actions).
    pub fn entity_names(&self, namespace: &str, kind: EntityKind) -> Vec<String> {
        let store = self.controller.store();
        let mut names: Vec<String> = store
            .list(namespace, kind)
            .into_iter()
            .map(|(name, _)| name.key())
            .collect();
        names.sort();
        names
    }

    /// The trigger as `GET /triggers/{name}` shows it.
    pub fn trigger(&self, namespace: &str, name: &str) -> Option<Value> {
        let name = EntityName::new(namespace, None, name);
        let owner = self.controller.owner_of(namespace);
        let trigger = crate::ops::triggers::get(&self.controller, &owner, &name).ok()?;
        Some(trigger_json(&name, &trigger))
    }

    /// The rule as `GET /rules/{name}` shows it (with its status).
    pub fn rule(&self, namespace: &str, name: &str) -> Option<Value> {
        let name = EntityName::new(namespace, None, name);
        let owner = self.controller.owner_of(namespace);
        let view = crate::ops::rules::get(&self.controller, &owner, &name).ok()?;
        Some(rule_json(&name, &view.rule, view.active))
    }

    /// Fires the alarm of a trigger now, as its timer would (the trigger's parameters merged
    /// with the alarm's `trigger_payload`, transient failures retried, a 404 disabling the
    /// alarm, a `once` alarm ending). Fails when no alarm is registered for the trigger (404) or
    /// when it is paused or disabled (409).
    pub fn tick_alarm(&self, namespace: &str, trigger: &str) -> Result<Fire, Error> {
        crate::alarms::tick(&self.controller, namespace, trigger)
    }

    /// Every registered alarm: its READ answer (`config`, `status`) plus `trigger`
    /// (`/ns/name`), `feed`, `nextFire` (epoch ms, `null` when none is scheduled) and `fired`.
    pub fn alarms(&self) -> Vec<Value> {
        crate::alarms::list(&self.controller)
    }

    /// The next `count` fires of the trigger answer `status` (e.g. 408, 429, 500, 503) with the
    /// controller's error body, without reaching the trigger; they are recorded as such.
    pub fn fail_next_fires(&self, namespace: &str, trigger: &str, status: u16, count: usize) {
        self.controller
            .fires
            .add_faults(namespace, trigger, status, count);
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.controller.begin_shutdown();
        drop(self.server.take());
        self.controller.stop();
    }
}

fn fire_as_owner(c: &Controller, namespace: &str, name: &str, payload: Value) -> Fire {
    let owner = c.owner_of(namespace);
    crate::ops::fire::fire(c, &owner, namespace, name, FirePayload::from_value(payload)).record
}

impl SandboxHandle {
    /// Fires a trigger as its owner would over HTTP (same record, rate limit, faults, rules).
    pub fn fire_trigger(&self, namespace: &str, name: &str, payload: Value) -> Result<Fire, Error> {
        let controller = self.controller()?;
        Ok(fire_as_owner(&controller, namespace, name, payload))
    }

    /// The sandbox URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> Result<String, Error> {
        Ok(self.controller()?.base_url.clone())
    }

    /// Whether the sandbox is still running.
    pub fn is_running(&self) -> bool {
        self.controller().is_ok()
    }
}

/// Deploys a wskdeploy `manifest.yaml` (packages with their native actions, triggers with
/// feeds, rules) into `namespace` (which must have a key: feeds run with it), the way
/// `wskdeploy -m manifest.yaml` does against a real OpenWhisk. Paths in the manifest are
/// relative to its directory; `${NAME}` is read from the process environment.
pub fn deploy_manifest(
    sandbox: &Sandbox,
    namespace: &str,
    manifest_path: impl AsRef<Path>,
) -> Result<DeployReport, Error> {
    crate::deploy::deploy(
        &sandbox.controller,
        namespace,
        manifest_path.as_ref(),
        &crate::deploy::process_env,
    )
}

/// [`deploy_manifest`] with `${NAME}` looked up in `vars` instead of the process environment
/// (a program that starts the services a manifest refers to knows their addresses itself).
pub fn deploy_manifest_with_vars(
    sandbox: &Sandbox,
    namespace: &str,
    manifest_path: impl AsRef<Path>,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<DeployReport, Error> {
    crate::deploy::deploy(&sandbox.controller, namespace, manifest_path.as_ref(), vars)
}

/// Every `(method, path)` the sandbox serves, paths as in the swagger (relative to `/api/v1`).
pub fn served_routes() -> Vec<(&'static str, &'static str)> {
    // Web actions also answer HEAD, OPTIONS and PATCH, which the swagger does not list.
    let web = ["GET", "PUT", "DELETE", "POST"].map(|m| (m, crate::web::WEB_ROUTE));
    crate::api::routes().chain(web).collect()
}

/// A listening socket on 127.0.0.1:`port`, reusable at once after a restart (`SO_REUSEADDR`:
/// connections of the previous run may still be in TIME_WAIT).
fn listener(port: u16) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}
