//! [`Sandbox`]: the running server, and the library API to deploy into it, observe it and
//! inject faults.

use crate::activation::Activation;
use crate::api::request::ApiRequest;
use crate::api::{actions, packages, rules, triggers};
use crate::builtin::BuiltinAction;
use crate::config::Config;
use crate::controller::{Controller, SandboxHandle};
use crate::entities::{EntityKind, SKELETON_IMAGE, trigger_json};
use crate::error::Error;
use crate::fires::Fire;
use crate::names::{EntityName, check_name, check_namespace};
use crate::params::{from_object, to_kv_list};
use crate::runner::Runner;
use base64::Engine;
use serde_json::{Map, Value, json};
use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// A running OpenWhisk sandbox on 127.0.0.1. Dropping it stops the server, kills running action
/// processes, joins its threads and removes its temporary files.
pub struct Sandbox {
    controller: Arc<Controller>,
    server: Arc<tiny_http::Server>,
    acceptor: Option<JoinHandle<()>>,
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

fn path_params(name: &EntityName, kind: &'static str) -> Vec<(&'static str, String)> {
    let mut params = vec![("namespace", name.ns.clone())];
    match (&name.pkg, kind) {
        (Some(pkg), "actionName") => {
            params.push(("packageName", pkg.clone()));
            params.push(("actionName", name.name.clone()));
        }
        _ => params.push((kind, name.name.clone())),
    }
    params
}

fn kv_body(parameters: &Value, annotations: &Value) -> Result<Map<String, Value>, Error> {
    let mut body = Map::new();
    body.insert(
        "parameters".into(),
        to_kv_list(&from_object(parameters, "parameters")?),
    );
    body.insert(
        "annotations".into(),
        to_kv_list(&from_object(annotations, "annotations")?),
    );
    Ok(body)
}

impl Sandbox {
    /// Binds 127.0.0.1:`config.port` and starts serving `/api/v1`.
    pub fn start(config: Config) -> io::Result<Sandbox> {
        check_config(&config)?;
        let server = tiny_http::Server::from_listener(nodelay_listener(config.port)?, None)
            .map_err(io::Error::other)?;
        let port = server
            .server_addr()
            .to_ip()
            .map(|a| a.port())
            .ok_or_else(|| io::Error::other("the server has no TCP address"))?;
        let controller =
            Controller::new(config, format!("http://127.0.0.1:{port}"), Runner::new()?);
        let state_file = controller.config.state_file.clone();
        let prepared = state_file
            .as_deref()
            .map_or(Ok(()), |path| crate::state::load(&controller, path))
            .and_then(|()| {
                crate::alarms::install(&controller)
                    .map_err(|e| io::Error::other(format!("installing the alarms package: {e}")))
            });
        if let Err(e) = prepared {
            controller.stop();
            return Err(e);
        }
        controller.spawn("alarm-scheduler", |c| crate::alarms::run_scheduler(&c));
        if let Some(path) = state_file {
            controller.spawn("state-saver", move |c| crate::state::run_saver(&c, &path));
        }
        let server = Arc::new(server);
        let acceptor = {
            let (controller, server) = (controller.clone(), server.clone());
            std::thread::Builder::new()
                .name("sandbox-acceptor".into())
                .spawn(move || {
                    loop {
                        match server.recv() {
                            Ok(request) if !controller.is_shutting_down() => {
                                controller
                                    .spawn("request", move |c| crate::http::handle(&c, request));
                            }
                            Ok(_) => break,
                            Err(_) if controller.is_shutting_down() => break,
                            // An accept error (e.g. out of file descriptors): do not spin.
                            Err(_) => std::thread::sleep(Duration::from_millis(10)),
                        }
                    }
                })?
        };
        Ok(Sandbox {
            controller,
            server,
            acceptor: Some(acceptor),
        })
    }

    pub(crate) fn controller(&self) -> &Arc<Controller> {
        &self.controller
    }

    /// `http://127.0.0.1:PORT` (without `/api/v1`).
    pub fn url(&self) -> String {
        self.controller.base_url.clone()
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
        self.controller.handle()
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
        let mut body = kv_body(&parameters, &annotations)?;
        body.insert(
            "exec".into(),
            json!({
                "kind": crate::entities::BLACKBOX,
                "image": SKELETON_IMAGE,
                "code": base64::engine::general_purpose::STANDARD.encode(zip),
                "binary": true,
            }),
        );
        let req = ApiRequest::internal(
            self.controller.owner_of(namespace),
            path_params(&target, "actionName"),
            &Value::Object(body),
        );
        actions::put(&self.controller, &req).map(drop)
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
        let body = kv_body(&parameters, &annotations)?;
        actions::put_builtin(&self.controller, &target, Arc::new(action), body)
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
            return Err(Error::bad(crate::error::messages::ILLEGAL_NAME));
        }
        let mut body = kv_body(&parameters, &annotations)?;
        body.insert("publish".into(), json!(publish));
        let req = ApiRequest::internal(
            self.controller.owner_of(namespace),
            path_params(&target, "packageName"),
            &Value::Null,
        );
        packages::store_package(&self.controller, &req, &target, true, body).map(drop)
    }

    /// Fires a trigger in process, as its owner would over HTTP (recorded like any fire).
    pub fn fire_trigger(&self, namespace: &str, name: &str, payload: Value) -> Fire {
        triggers::fire_in_process(&self.controller, namespace, name, payload)
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
        let store = self.controller.store();
        store.trigger(&name).ok().map(|t| trigger_json(&name, t))
    }

    /// The rule as `GET /rules/{name}` shows it (with its status).
    pub fn rule(&self, namespace: &str, name: &str) -> Option<Value> {
        rules::view(
            &self.controller.store(),
            &EntityName::new(namespace, None, name),
        )
        .ok()
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
        self.server.unblock();
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        self.controller.stop();
    }
}

/// A listening socket on 127.0.0.1:`port` whose connections have Nagle's algorithm off (Linux
/// passes TCP_NODELAY on to accepted sockets). tiny_http leaves it on, and a response written in
/// two pieces then waits for the client's delayed ACK: about 40 ms per request on loopback.
fn nodelay_listener(port: u16) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}
