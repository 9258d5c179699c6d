//! The controller's state and machinery: the entity store, activation and fire records, the
//! alarms table, the action runner, built-in actions (and the [`SandboxHandle`] they reach the
//! sandbox through: they live here with the controller that holds them), the state file, and
//! the threads working for them. It knows nothing of HTTP: the typed operations ([`crate::ops`]) are its only
//! writers, and every caller (the REST API, web actions, alarms, deploy, the library API) goes
//! through them.

pub(crate) mod alarm_table;
pub(crate) mod archive;
mod documents;
pub(crate) mod records;
pub(crate) mod runner;
pub(crate) mod state;
pub(crate) mod store;

use crate::model::alarm::Alarm;
use crate::model::config::Config;
use crate::model::error::Error;
use crate::model::identity::Identity;
use crate::model::names::SYSTEM_NAMESPACE;
use alarm_table::{AlarmKey, AlarmTable, alarm_key};
use documents::{alarm_document, entity_row};
use records::{ActivationLog, FireLog};
use runner::Runner;
use serde_json::Value;
use state::{Change, Loaded, StateFile};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, Weak};
use std::thread::JoinHandle;
use store::Store;

pub(crate) struct Controller {
    pub config: Config,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// What the actions of a namespace get as `__OW_API_HOST` instead of `base_url` (a proxy
    /// in front of the sandbox that counts their calls), by namespace.
    actions_api_hosts: RwLock<HashMap<String, String>>,
    store: RwLock<Store>,
    pub activations: ActivationLog,
    pub fires: FireLog,
    /// The alarms of the built-in alarms package.
    pub alarms: AlarmTable,
    pub runner: Runner,
    /// Where entities and alarms are kept durably, when configured.
    state: Option<StateFile>,
    /// The implementations of built-in actions, by the id their entity's exec names.
    builtins: RwLock<HashMap<u64, Arc<dyn BuiltinAction>>>,
    pub shutdown: AtomicBool,
    workers: Mutex<Vec<JoinHandle<()>>>,
    this: Weak<Controller>,
}

impl Controller {
    pub fn new(
        config: Config,
        base_url: String,
        runner: Runner,
        state: Option<StateFile>,
    ) -> Arc<Controller> {
        Arc::new_cyclic(|this| Controller {
            state,
            activations: ActivationLog::new(config.retention.activations),
            fires: FireLog::new(config.retention.fires),
            config,
            base_url,
            actions_api_hosts: RwLock::new(HashMap::new()),
            store: RwLock::new(Store::default()),
            alarms: AlarmTable::default(),
            runner,
            builtins: RwLock::new(HashMap::new()),
            shutdown: AtomicBool::new(false),
            workers: Mutex::new(Vec::new()),
            this: this.clone(),
        })
    }

    /// The API host the actions of `namespace` are given (`__OW_API_HOST`).
    pub fn actions_api_host(&self, namespace: &str) -> String {
        let hosts = self
            .actions_api_hosts
            .read()
            .unwrap_or_else(|e| e.into_inner());
        hosts
            .get(namespace)
            .cloned()
            .unwrap_or_else(|| self.base_url.clone())
    }

    /// Gives the actions of `namespace` `url` as their API host from now on (`None`: the
    /// sandbox's own URL).
    pub fn set_actions_api_host(&self, namespace: &str, url: Option<String>) {
        let mut hosts = self
            .actions_api_hosts
            .write()
            .unwrap_or_else(|e| e.into_inner());
        match url {
            Some(url) => hosts.insert(namespace.to_owned(), url),
            None => hosts.remove(namespace),
        };
    }

    /// The entities, for reading.
    pub fn store(&self) -> RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the entities: `change` runs under the write lock; what it changed is then
    /// committed to the state file (in the order of the changes) and this returns once that is
    /// durable. A change that could not be saved answers 503 (it stays in memory and is saved
    /// with the next commit that succeeds).
    pub fn write<T>(
        &self,
        change: impl FnOnce(&mut Store) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let (outcome, pending) = {
            let mut store = self.store.write().unwrap_or_else(|e| e.into_inner());
            let outcome = change(&mut store);
            let changed = store.take_changed();
            let pending = self.state.as_ref().and_then(|state| {
                let changes: Vec<Change> = changed
                    .into_iter()
                    .filter(|name| name.ns != SYSTEM_NAMESPACE)
                    .map(
                        |name| match store.get(&name).and_then(|e| entity_row(&name, e)) {
                            Some(row) => Change::PutEntity(row),
                            None => Change::RemoveEntity {
                                namespace: name.ns.clone(),
                                name: name.key(),
                            },
                        },
                    )
                    .collect();
                (!changes.is_empty()).then(|| state.write(changes))
            });
            (outcome, pending)
        };
        if let Some(pending) = pending {
            pending.wait().map_err(not_saved)?;
        }
        outcome
    }

    /// Changes (or adds, or removes) one trigger's alarm, then wakes the scheduler and commits
    /// the change to the state file; returns once that is durable.
    pub fn update_alarm<T>(
        &self,
        key: &AlarmKey,
        change: impl FnOnce(&mut Option<Alarm>) -> T,
    ) -> Result<T, Error> {
        let mut alarms = self.alarms.lock();
        let mut entry = alarms.remove(key);
        let outcome = change(&mut entry);
        let saved = match &entry {
            Some(alarm) => Change::PutAlarm {
                namespace: key.0.clone(),
                trigger: key.1.clone(),
                document: alarm_document(alarm),
            },
            None => Change::RemoveAlarm {
                namespace: key.0.clone(),
                trigger: key.1.clone(),
            },
        };
        if let Some(alarm) = entry {
            alarms.insert(key.clone(), alarm);
        }
        let pending = self.state.as_ref().map(|state| state.write(vec![saved]));
        self.alarms.note_change(alarms);
        if let Some(pending) = pending {
            pending.wait().map_err(not_saved)?;
        }
        Ok(outcome)
    }

    /// Takes in what the state file held (without writing it back).
    pub fn load(&self, loaded: Loaded) {
        let mut store = self.store.write().unwrap_or_else(|e| e.into_inner());
        for (name, entity) in loaded.entities {
            store.insert(&name, entity);
        }
        store.take_changed();
        drop(store);
        let now = crate::clock::now_ms();
        let mut alarms = self.alarms.lock();
        for mut alarm in loaded.alarms {
            alarm.reschedule(now);
            alarms.insert(alarm_key(&alarm.namespace, &alarm.trigger), alarm);
        }
        self.alarms.note_change(alarms);
    }

    /// Whether changes are written to a state file (and so wait for the disk).
    pub fn has_state_file(&self) -> bool {
        self.state.is_some()
    }

    /// Registers a built-in action's implementation; the id its entity's exec names.
    pub fn register_builtin(&self, action: Arc<dyn BuiltinAction>) -> u64 {
        let id = crate::model::entities::next_code_id();
        self.builtins
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, action);
        id
    }

    pub fn builtin(&self, id: u64) -> Option<Arc<dyn BuiltinAction>> {
        self.builtins
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    /// This controller, shared (for handles and threads).
    pub fn shared(&self) -> Weak<Controller> {
        self.this.clone()
    }

    /// Runs `work` on a new thread that [`Controller::stop`] joins.
    pub fn spawn(&self, name: &str, work: impl FnOnce(Arc<Controller>) + Send + 'static) {
        let Some(this) = self.this.upgrade() else {
            return;
        };
        let handle = std::thread::Builder::new()
            .name(format!("sandbox-{name}"))
            .spawn(move || work(this));
        let mut workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        workers.retain(|w| !w.is_finished());
        match handle {
            Ok(handle) => workers.push(handle),
            Err(e) => eprintln!("sandbox: cannot start a {name} thread: {e}"),
        }
    }

    /// Flags the shutdown: waiters wake up, running processes get killed, no new work starts.
    pub fn begin_shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        self.activations.wake_all();
        self.fires.wake_all();
        self.alarms.wake();
    }

    /// Stops everything: [`Controller::begin_shutdown`], then threads are joined and the
    /// unpacked code removed.
    pub fn stop(&self) {
        self.begin_shutdown();
        loop {
            let batch: Vec<JoinHandle<()>> =
                std::mem::take(&mut *self.workers.lock().unwrap_or_else(|e| e.into_inner()));
            if batch.is_empty() {
                break;
            }
            for worker in batch {
                let _ = worker.join();
            }
        }
        self.runner.remove_files();
        if let Some(state) = &self.state {
            state.close();
        }
    }

    /// The identity of a namespace's owner (with its key when one is configured).
    pub fn owner_of(&self, namespace: &str) -> Identity {
        Identity {
            namespace: namespace.to_string(),
            auth_key: self
                .config
                .namespaces
                .iter()
                .find(|k| k.namespace == namespace)
                .map(|k| k.auth_key.clone()),
        }
    }

    /// One line on stderr when `echo_events` is on. Callers never pass payloads or keys.
    pub fn echo(&self, line: impl FnOnce() -> String) {
        if self.config.echo_events {
            eprintln!("[sandbox] {}", line());
        }
    }
}

fn not_saved(why: String) -> Error {
    Error::Status {
        status: 503,
        message: format!("The change could not be saved to the state file: {why}"),
    }
}

/// A cheap, cloneable reference to a running sandbox for in-process code (built-in actions,
/// timers). It does not keep the sandbox alive: once it has stopped, calls fail with
/// [`Error::ShutDown`].
#[derive(Clone)]
pub struct SandboxHandle(Weak<Controller>);

impl std::fmt::Debug for SandboxHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SandboxHandle")
    }
}

impl SandboxHandle {
    pub(crate) fn new(controller: &Controller) -> SandboxHandle {
        SandboxHandle(controller.shared())
    }

    /// The controller, while the sandbox runs.
    pub(crate) fn controller(&self) -> Result<Arc<Controller>, Error> {
        self.0
            .upgrade()
            .filter(|c| !c.is_shutting_down())
            .ok_or(Error::ShutDown)
    }
}

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
