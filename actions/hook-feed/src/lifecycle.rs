//! The six lifecycle events.
//!
//! Every event first checks that the key can read the trigger (the session's access check),
//! then reads what CREATE stored on it ([`Stored`], an annotation), lets explicit parameters
//! override that, and finds the feed's hooks by where they deliver (the trigger's fire URL or
//! its relay URL, whatever credentials or token they carry). So the feed never touches a hook
//! that delivers elsewhere: another trigger's, or the user's own. CREATE and UPDATE install the
//! hook in the delivery mode the settings say (relay by default: the relay seals a new URL and
//! secret every time).
//!
//! Requests: the record is written once per event, before the hook is installed (so a DELETE
//! after any failure knows where to look); CREATE lists the repository's hooks while it reads
//! the trigger, UPDATE while the relay seals the new URL (one connection per host: requests to
//! the same host are never sent at once). DELETE leaves the record (see `Hooks::delete`).

use feedkit::{ActionError, Feed, FeedSession, ParamError, now_ms};
use serde_json::{Value, json};

use crate::delivery::{
    DeliveryMode, HookTarget, RelayUrl, delivers_to, direct_target, missing_relay_url, mode_of,
    relay_key_id, shown,
};
use crate::dialect::Service;
use crate::explain::service_error;
use crate::read::{Observed, render};
use crate::seal::seal;
use crate::service::{Hook, HooksApi, ServiceError};
use crate::settings::{self, ContentType, HookParams, HookSettings, Location, Stored};

/// The hook feed: `main` hands it to [`feedkit::run_feed`].
pub struct HookFeed;

type Session<'c> = FeedSession<'c, HookParams>;

impl Feed for HookFeed {
    type Params = HookParams;
    const NAME: &'static str = "hook-feed";

    fn create(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        // Every setting is checked before anything goes over the network.
        let settings = settings::hook_settings(&session.params, None)?;
        ready_to_install(session, &settings)?;
        // The repository's hooks are listed while the trigger is read: neither needs the other.
        // (The relay's seal goes to OpenWhisk too: at once, it would need a second connection.)
        let http = session.http().clone();
        let api = HooksApi::new(&http, &settings.location);
        let (checked, listed) = std::thread::scope(|scope| {
            let listing = scope.spawn(|| api.list());
            let checked = session.check_trigger().map(|_| ());
            (checked, joined(listing))
        });
        checked?;
        let stored = session.record::<Stored>();
        Hooks { session, stored }.install(settings, listed, None, "CREATE")
    }

    fn read(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        Hooks::open(session)?.read()
    }

    fn update(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        let hooks = Hooks::open(session)?;
        let settings = hooks.merged_settings()?;
        ready_to_install(hooks.session, &settings)?;
        // The hooks are listed while the relay (on the OpenWhisk host) seals the new URL.
        let relay = relay_for(hooks.session, settings.mode)?;
        let http = hooks.session.http().clone();
        let api = HooksApi::new(&http, &settings.location);
        let (trigger, key) = (hooks.session.trigger(), hooks.session.auth_key());
        let (listed, sealed) = std::thread::scope(|scope| {
            let sealing = relay
                .as_ref()
                .map(|relay| scope.spawn(|| seal(&http, relay, trigger, key)));
            (api.list(), sealing.map(joined))
        });
        hooks.install(settings, listed, sealed, "UPDATE")
    }

    fn delete(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        Hooks::open(session)?.delete()
    }

    fn pause(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        Hooks::open(session)?.set_active(false)
    }

    fn unpause(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        Hooks::open(session)?.set_active(true)
    }
}

/// The relay to seal a hook URL with, for the relay mode; the trigger's namespace is resolved
/// first (the seal names it).
fn relay_for(
    session: &mut Session<'_>,
    mode: DeliveryMode,
) -> Result<Option<RelayUrl>, ActionError> {
    if mode != DeliveryMode::Relay {
        return Ok(None);
    }
    session.resolve_namespace()?;
    Ok(session.params.relay_url.get().cloned())
}

/// A scoped thread's outcome; its panic goes on unwinding here.
fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// What installing needs besides the settings: a content type the mode can take, and in relay
/// mode the relay's URL.
fn ready_to_install(session: &Session<'_>, settings: &HookSettings) -> Result<(), ActionError> {
    settings
        .mode
        .check_content_type(settings.content_type)
        .map_err(ActionError::from)?;
    if settings.mode == DeliveryMode::Relay && session.params.relay_url.get().is_none() {
        return Err(missing_relay_url());
    }
    Ok(())
}

/// One event's view of the trigger and what the feed stored on it.
struct Hooks<'s, 'c> {
    session: &'s mut Session<'c>,
    stored: Option<Stored>,
}

impl<'s, 'c> Hooks<'s, 'c> {
    /// Checks the trigger and reads the record on it.
    fn open(session: &'s mut Session<'c>) -> Result<Self, ActionError> {
        session.check_trigger()?;
        let stored = session.record::<Stored>();
        Ok(Self { session, stored })
    }

    fn params(&self) -> &HookParams {
        &self.session.params
    }

    /// The stored settings with explicit parameters over them.
    fn merged_settings(&self) -> Result<HookSettings, ActionError> {
        settings::hook_settings(self.params(), self.stored.as_ref())
            .map_err(|error| self.without_stored_config(error))
    }

    /// A missing parameter on a trigger with nothing stored most likely means the trigger was
    /// not created with this feed: say so.
    fn without_stored_config(&self, error: ParamError) -> ActionError {
        match (&error, &self.stored) {
            (ParamError::Missing { .. }, None) => ActionError::new(format!(
                "{error} (trigger {} has no hook configuration stored by this feed; \
                 create the trigger with this feed first)",
                self.session.trigger()
            )),
            _ => error.into(),
        }
    }

    fn relay(&self) -> Option<&RelayUrl> {
        self.params().relay_url.get()
    }

    /// The trigger's fire URL: where a direct-mode hook delivers.
    fn direct_url(&self) -> String {
        self.session
            .client()
            .host()
            .trigger_url(self.session.trigger())
    }

    /// The URL a new hook in `mode` delivers to: for the relay mode, the relay seals a new one.
    fn target(&mut self, mode: DeliveryMode) -> Result<HookTarget, ActionError> {
        let session = &*self.session;
        let target = match (mode, self.relay()) {
            (DeliveryMode::Direct, _) => direct_target(
                session.client().host(),
                session.trigger(),
                session.auth_key(),
            ),
            (DeliveryMode::Relay, Some(relay)) => {
                seal(session.http(), relay, session.trigger(), session.auth_key())?
            }
            (DeliveryMode::Relay, None) => return Err(missing_relay_url()),
        };
        Ok(self.adopt(target))
    }

    /// Masks what `target` holds (the relay's token, the secret) from here on.
    fn adopt(&mut self, target: HookTarget) -> HookTarget {
        if let Some(token) = hook_relay::wire::token_of(target.registered.expose()) {
            self.session.redact(&feedkit::Secret::new(token));
        }
        if let Some(secret) = &target.secret {
            self.session.redact(secret);
        }
        target
    }

    /// Where a hook in `mode` delivers, without credentials or token (for READ's answer).
    fn shown_target(&self, mode: DeliveryMode) -> String {
        match (mode, self.relay()) {
            (DeliveryMode::Relay, Some(relay)) => relay.delivery_url(self.session.trigger()),
            (DeliveryMode::Relay, None) => self
                .stored
                .as_ref()
                .and_then(|stored| stored.hook_url.clone())
                .unwrap_or_default(),
            (DeliveryMode::Direct, _) => self.direct_url(),
        }
    }

    /// The feed's hooks among `hooks`: those delivering to this trigger in either mode (and to
    /// where the stored record says), the stored one first.
    fn ours<'h>(&self, hooks: &'h [Hook]) -> Vec<&'h Hook> {
        let mut targets = vec![self.direct_url()];
        if let Some(relay) = self.relay() {
            targets.push(relay.delivery_url(self.session.trigger()));
        }
        if let Some(url) = self.stored.as_ref().and_then(|s| s.hook_url.clone()) {
            targets.push(url);
        }
        let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
        let stored_id = self.stored.as_ref().and_then(|s| s.hook_id);
        let mut ours: Vec<&Hook> = hooks
            .iter()
            .filter(|hook| delivers_to(hook.url(), &targets))
            .collect();
        ours.sort_unstable_by_key(|hook| Some(hook.id) != stored_id);
        ours
    }

    /// Sets (or with `None` removes) the stored record on the trigger.
    fn save(&mut self, record: Option<&Stored>) -> Result<(), ActionError> {
        self.session.save_record(record)?;
        self.stored = record.cloned();
        Ok(())
    }

    /// CREATE and UPDATE: makes the feed's hook match `settings`, changing an existing one in
    /// place (so no delivery is lost) or installing it. `listed` are the repository's hooks.
    fn install(
        mut self,
        settings: HookSettings,
        listed: Result<Vec<Hook>, ServiceError>,
        sealed: Option<Result<HookTarget, ActionError>>,
        event: &str,
    ) -> Result<Value, ActionError> {
        let mode = settings.mode;
        let location = &settings.location;
        let http = self.session.http().clone();
        let api = HooksApi::new(&http, location);
        let hooks =
            listed.map_err(|e| service_error(&e, location, "listing the repository's hooks"))?;
        let ours: Vec<Hook> = self.ours(&hooks).into_iter().cloned().collect();
        let target = match sealed {
            Some(sealed) => self.adopt(sealed?),
            None => self.target(mode)?,
        };
        let previous = self.stored.clone();

        // Stored before the hook exists, so that a DELETE after any failure below (the CLI
        // sends one when CREATE fails) knows where to look: the hook is found by its URL.
        let record = Stored {
            repository: location.repository.clone(),
            base_url: location.base_url.clone(),
            service: Some(location.service),
            access_token: location.access_token.clone(),
            events: settings.events.clone(),
            content_type: settings.content_type,
            // The relay derives its hooks' secrets again from their URLs: nothing to keep.
            secret: settings
                .secret
                .clone()
                .filter(|_| mode == DeliveryMode::Direct),
            active: settings.active,
            delivery_mode: mode,
            hook_id: ours.first().map(|hook| hook.id),
            hook_url: Some(target.shown.clone()),
            date_changed: now_ms(),
        };
        self.save(Some(&record))?;
        let known: Vec<i64> = hooks.iter().map(|hook| hook.id).collect();
        let applied = match apply(&api, &settings, &target, ours.first()) {
            // A success status with an answer that is not a hook: the service may have made
            // (or changed) it all the same. Find it by the URL it was given, and keep it.
            Err(ServiceError::NotTheApi { status }) if (200..300).contains(&status) => {
                found_by_url(&api, &target, &known, status, location, self.session)
            }
            other => other.map_err(|e| service_error(&e, location, "installing the hook")),
        };
        let hook = match applied {
            Ok(hook) => hook,
            Err(error) => {
                if let Err(undo) = self.save(previous.as_ref()) {
                    self.session.log(&format!(
                        "could not restore the stored configuration: {undo}"
                    ));
                }
                return Err(error);
            }
        };
        // Two hooks delivering to one trigger would fire it twice per event.
        for duplicate in ours.iter().skip(1).filter(|d| d.id != hook.id) {
            if let Err(error) = api.delete(duplicate.id) {
                self.session.log(&format!(
                    "could not remove duplicate hook {}: {error}",
                    duplicate.id
                ));
            }
        }
        if let Some(previous) = previous.filter(|p| !p.location().same_place(location)) {
            // The hook moved to another repository or service: the old one would keep firing.
            self.remove_quietly(&previous.location());
        }
        let verb = if ours.iter().any(|o| o.id == hook.id) {
            "updated"
        } else {
            "installed"
        };
        let sealed_with = target
            .key_id
            .as_ref()
            .map(|id| format!(", sealed with relay key {id}"))
            .unwrap_or_default();
        self.session.log(&format!(
            "{event} {}: {verb} hook {} on {} (events {}, active {}, delivery {mode}{sealed_with})",
            self.session.trigger(),
            hook.id,
            location.repository,
            hook.events.join(","),
            hook.active
        ));
        let mut result = json!({
            "hookId": hook.id,
            "repository": location.repository.to_string(),
            "baseUrl": location.base_url.as_str(),
            "service": location.service.as_str(),
            "events": hook.events,
            "active": hook.active,
            "deliveryMode": mode.as_str(),
            "hookUrl": target.shown,
            "outcome": verb,
        });
        if let Some(key_id) = &target.key_id {
            result["relayKeyId"] = json!(key_id);
        }
        Ok(result)
    }

    /// PAUSE and UNPAUSE: only the hook's active state changes.
    fn set_active(mut self, active: bool) -> Result<Value, ActionError> {
        let settings = self.merged_settings()?;
        let location = &settings.location;
        let http = self.session.http().clone();
        let api = HooksApi::new(&http, location);
        let hooks = api
            .list()
            .map_err(|e| service_error(&e, location, "listing the repository's hooks"))?;
        let event = if active { "UNPAUSE" } else { "PAUSE" };
        let missing = || {
            ActionError::new(format!(
                "{event}: no hook of {} delivers to trigger {} (removed on the service?); \
                 UPDATE installs it again",
                location.repository,
                self.session.trigger()
            ))
        };
        let Some(ours) = self.ours(&hooks).first().copied() else {
            return Err(missing());
        };
        let body =
            location
                .service
                .active_body(active, &settings.events, ours.branch_filter.as_deref());
        let hook = api
            .patch(ours.id, &body)
            .map_err(|e| service_error(&e, location, "changing the hook's active state"))?
            .ok_or_else(missing)?;
        let content_type = hook
            .config
            .get("content_type")
            .and_then(Value::as_str)
            .and_then(|text| ContentType::parse(text).ok())
            .unwrap_or(settings.content_type);
        // Only the active state changed: the hook keeps its URL, so its mode too.
        let mode = mode_of(hook.url(), &self.direct_url()).unwrap_or(settings.mode);
        let record = Stored {
            repository: location.repository.clone(),
            base_url: location.base_url.clone(),
            service: Some(location.service),
            access_token: location.access_token.clone(),
            // Gitea lists a family (`issues`) as its members, names its edit does not read
            // back: keep the names the user gave.
            events: match location.service {
                Service::Github => hook.events.clone(),
                Service::Gitea => settings.events.clone(),
            },
            content_type,
            secret: settings
                .secret
                .clone()
                .filter(|_| mode == DeliveryMode::Direct),
            active,
            delivery_mode: mode,
            hook_id: Some(hook.id),
            hook_url: Some(shown(hook.url())),
            date_changed: now_ms(),
        };
        self.save(Some(&record))?;
        self.session.log(&format!(
            "{event} {}: hook {} on {} is now {}",
            self.session.trigger(),
            hook.id,
            location.repository,
            if hook.active { "active" } else { "inactive" }
        ));
        Ok(json!({
            "hookId": hook.id,
            "repository": location.repository.to_string(),
            "active": hook.active,
        }))
    }

    fn read(self) -> Result<Value, ActionError> {
        let settings = self.merged_settings()?;
        let location = &settings.location;
        let hooks = HooksApi::new(self.session.http(), location)
            .list()
            .map_err(|e| service_error(&e, location, "listing the repository's hooks"))?;
        let hook = self.ours(&hooks).first().copied();
        // What the live hook says wins over the record.
        let mode = hook
            .and_then(|hook| mode_of(hook.url(), &self.direct_url()))
            .unwrap_or(settings.mode);
        let relay_key_id = hook.and_then(|hook| relay_key_id(hook.url()));
        Ok(render(&Observed {
            trigger: self.session.trigger(),
            settings: &settings,
            stored: self.stored.as_ref(),
            mode,
            relay_key_id: relay_key_id.as_deref(),
            target: &self.shown_target(mode),
            hook,
        }))
    }

    /// Removes the feed's hooks. Succeeds when there is nothing to remove: the CLI sends DELETE
    /// after a failed CREATE too.
    fn delete(self) -> Result<Value, ActionError> {
        let trigger = self.session.trigger().clone();
        let location = match settings::location(self.params(), self.stored.as_ref()) {
            Ok(location) => location,
            // Nothing stored and not enough given to look: nothing this feed could have made.
            Err(ParamError::Missing { .. }) if self.stored.is_none() => {
                self.session.log(&format!(
                    "DELETE {trigger}: nothing stored, nothing to remove"
                ));
                return Ok(json!({
                    "removed": [],
                    "message": format!("trigger {trigger} has no hook installed by this feed"),
                }));
            }
            Err(error) => return Err(error.into()),
        };
        let (removed, note) = self.remove(&location)?;
        if let Some(stored) = self
            .stored
            .clone()
            .filter(|s| !s.location().same_place(&location))
        {
            self.remove_quietly(&stored.location());
        }
        // The record stays: every client deletes the trigger right after DELETE (the CLI, also
        // after a failed CREATE) or overwrites it (wskdeploy), so removing it would be a write
        // that is undone a moment later. A CREATE on the same trigger reads it to find old hooks.
        self.session.log(&format!(
            "DELETE {trigger}: removed {} hook(s) from {}",
            removed.len(),
            location.repository
        ));
        let mut result = json!({
            "removed": removed,
            "repository": location.repository.to_string(),
        });
        if let Some(note) = note {
            result["message"] = json!(note);
        }
        Ok(result)
    }

    /// Removes the feed's hooks at `location`: their ids, and a note when the repository is gone.
    fn remove(&self, location: &Location) -> Result<(Vec<i64>, Option<String>), ActionError> {
        let api = HooksApi::new(self.session.http(), location);
        let hooks = match api.list() {
            Ok(hooks) => hooks,
            Err(error) if error.status() == Some(404) => {
                let note = format!(
                    "{} is not found at {} (or not visible to the token): no hook left to remove",
                    location.repository, location.base_url
                );
                return Ok((Vec::new(), Some(note)));
            }
            Err(error) => {
                return Err(service_error(
                    &error,
                    location,
                    "listing the repository's hooks",
                ));
            }
        };
        let mut removed = Vec::new();
        for hook in self.ours(&hooks) {
            // A hook already gone counts as removed.
            api.delete(hook.id)
                .map_err(|e| service_error(&e, location, "removing the hook"))?;
            removed.push(hook.id);
        }
        Ok((removed, None))
    }

    fn remove_quietly(&self, location: &Location) {
        if let Err(error) = self.remove(location) {
            self.session.log(&format!(
                "could not remove the hook from {} ({}): {error}",
                location.repository, location.base_url
            ));
        }
    }
}

/// Changes `existing` in place, or creates the hook (also when `existing` vanished meanwhile),
/// in the service's dialect.
fn apply(
    api: &HooksApi<'_>,
    settings: &HookSettings,
    target: &HookTarget,
    existing: Option<&Hook>,
) -> Result<Hook, ServiceError> {
    let service = settings.location.service;
    // The relay's derived secret, or the user's own in direct mode.
    let secret = target.secret.as_ref().or(settings.secret.as_ref());
    let config = service.config(
        target.registered.expose(),
        settings.content_type.as_str(),
        secret,
    );
    if let Some(existing) = existing {
        // A config without `secret` removes it on GitHub, which is what "no secret" means here.
        let patch = service.update_body(
            settings.active,
            &settings.events,
            config.clone(),
            existing.branch_filter.as_deref(),
        );
        if let Some(hook) = api.patch(existing.id, &patch)? {
            return Ok(hook);
        }
    }
    api.create(&service.create_body(settings.active, &settings.events, config))
}

/// After a success status whose answer was not a hook: the hook registered with exactly
/// `target`'s URL (one that was not there before first), kept as if the answer had been read.
/// Without one, nothing was made, and the error says so.
fn found_by_url(
    api: &HooksApi<'_>,
    target: &HookTarget,
    known: &[i64],
    status: u16,
    location: &Location,
    session: &Session<'_>,
) -> Result<Hook, ActionError> {
    let base_url = &location.base_url;
    let said =
        format!("{base_url} answered HTTP {status} to installing the hook, but not with a hook");
    let hooks = api.list().map_err(|error| {
        ActionError::new(format!(
            "{said}, and listing the hooks to find it failed ({error}); if it made one, DELETE \
             (wsk trigger delete) removes it: it removes every hook delivering to this trigger"
        ))
    })?;
    let mut found: Vec<&Hook> = hooks
        .iter()
        .filter(|hook| hook.url() == target.registered.expose())
        .collect();
    found.sort_unstable_by_key(|hook| known.contains(&hook.id));
    match found.first() {
        Some(hook) => {
            session.log(&format!(
                "{said}; found hook {} by its URL and kept it",
                hook.id
            ));
            Ok((*hook).clone())
        }
        None => Err(ActionError::new(format!(
            "invalid parameter `baseUrl`: {said}, and no hook delivering to this trigger was made \
             (nothing was left behind); is it the API root of the service? (`service`: {})",
            location.service
        ))),
    }
}
