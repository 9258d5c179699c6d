//! The controller's shared state: entities, activations, fires, the action runner and the
//! threads working for it. HTTP requests, the library API and in-process code all go through it.

use crate::activation::ActivationLog;
use crate::alarms::AlarmRegistry;
use crate::auth::Identity;
use crate::config::Config;
use crate::error::Error;
use crate::fires::{Fire, FireLog};
use crate::runner::Runner;
use crate::store::Store;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;

pub(crate) struct Controller {
    pub config: Config,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    pub store: Mutex<Store>,
    pub activations: ActivationLog,
    pub fires: FireLog,
    /// The alarms of the built-in alarms package.
    pub alarms: AlarmRegistry,
    pub runner: Runner,
    pub shutdown: AtomicBool,
    workers: Mutex<Vec<JoinHandle<()>>>,
    this: Weak<Controller>,
}

impl Controller {
    pub fn new(config: Config, base_url: String, runner: Runner) -> Arc<Controller> {
        Arc::new_cyclic(|this| Controller {
            config,
            base_url,
            store: Mutex::new(Store::default()),
            activations: ActivationLog::default(),
            fires: FireLog::default(),
            alarms: AlarmRegistry::default(),
            runner,
            shutdown: AtomicBool::new(false),
            workers: Mutex::new(Vec::new()),
            this: this.clone(),
        })
    }

    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
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

    pub fn handle(&self) -> SandboxHandle {
        SandboxHandle(self.this.clone())
    }

    /// One line on stderr when `echo_events` is on. Callers never pass payloads or keys.
    pub fn echo(&self, line: impl FnOnce() -> String) {
        if self.config.echo_events {
            eprintln!("[sandbox] {}", line());
        }
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
    pub(crate) fn controller(&self) -> Result<Arc<Controller>, Error> {
        self.0
            .upgrade()
            .filter(|c| !c.is_shutting_down())
            .ok_or(Error::ShutDown)
    }

    /// Fires a trigger as its owner would over HTTP (same record, rate limit, faults, rules).
    pub fn fire_trigger(&self, namespace: &str, name: &str, payload: Value) -> Result<Fire, Error> {
        let controller = self.controller()?;
        Ok(crate::api::triggers::fire_in_process(
            &controller,
            namespace,
            name,
            payload,
        ))
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
