//! The six lifecycle events.
//!
//! Every event first checks that the key can read the trigger, then reads what CREATE stored on
//! it ([`Stored`], an annotation), lets explicit parameters override that, and finds the feed's
//! hooks by where they deliver (the trigger's fire URL or its relay URL, whatever credentials or
//! token they carry). So the feed never touches a hook that delivers elsewhere: another
//! trigger's, or the user's own. CREATE and UPDATE install the hook in the delivery mode the
//! settings say (relay by default: the relay seals a new URL and secret every time).

use feedkit::{
    ActionError, AuthKey, Client, Context, Feed, FeedRequest, ParamError, Params, QualifiedName,
    Secret, entity_annotation,
};
use serde_json::{Value, json};

use crate::delivery::{
    DeliveryMode, HookTarget, RelayUrl, delivers_to, direct_target, missing_relay_url, mode_of,
    relay_key_id, shown,
};
use crate::dialect::Service;
use crate::explain::service_error;
use crate::read::{Observed, render};
use crate::redact::Redactor;
use crate::seal::seal;
use crate::service::{Hook, HooksApi, ServiceError};
use crate::settings::{self, ContentType, HookSettings, Location, PARAMETER_NAMES, Stored};
use feedkit::now_ms;

/// The hook feed: `main` hands it to [`feedkit::run_feed`].
pub struct HookFeed;

impl Feed for HookFeed {
    fn create(&self, request: FeedRequest, context: &Context) -> Result<Value, ActionError> {
        guarded(request, context, |session| {
            let settings = settings::hook_settings(&session.params, None)?;
            session.install(settings, "CREATE")
        })
    }

    fn read(&self, request: FeedRequest, context: &Context) -> Result<Value, ActionError> {
        guarded(request, context, |session| session.read())
    }

    fn update(&self, request: FeedRequest, context: &Context) -> Result<Value, ActionError> {
        guarded(request, context, |session| {
            let settings = session.merged_settings()?;
            session.install(settings, "UPDATE")
        })
    }

    fn delete(&self, request: FeedRequest, context: &Context) -> Result<Value, ActionError> {
        guarded(request, context, |session| session.delete())
    }

    fn pause(&self, request: FeedRequest, context: &Context) -> Result<Value, ActionError> {
        guarded(request, context, |session| session.set_active(false))
    }

    fn unpause(&self, request: FeedRequest, context: &Context) -> Result<Value, ActionError> {
        guarded(request, context, |session| session.set_active(true))
    }
}

/// Runs one event with every secret of the activation masked in its result or error.
fn guarded(
    request: FeedRequest,
    context: &Context,
    event: impl FnOnce(&mut Session<'_>) -> Result<Value, ActionError>,
) -> Result<Value, ActionError> {
    let mut redactor = Redactor::for_request(&request);
    let outcome = Session::open(request, context).and_then(|mut session| {
        if let Some(stored) = &session.stored {
            redactor.add_secret(&stored.access_token);
            if let Some(secret) = &stored.secret {
                redactor.add_secret(secret);
            }
        }
        let outcome = event(&mut session);
        for secret in &session.learned {
            redactor.add_secret(secret);
        }
        outcome
    });
    match outcome {
        Ok(result) => Ok(redactor.value(result)),
        Err(error) => {
            let message = redactor.text(error.message());
            eprintln!("hook-feed: {message}");
            Err(ActionError::new(message))
        }
    }
}

/// One activation's view of the trigger and what the feed stored on it.
struct Session<'a> {
    context: &'a Context,
    client: Client,
    trigger: QualifiedName,
    auth_key: AuthKey,
    params: Params,
    /// The trigger as OpenWhisk last described it (the base of every annotation update).
    entity: Value,
    stored: Option<Stored>,
    /// `relayUrl`, read when an event needs it (a malformed one must not stop DELETE).
    relay: Result<Option<RelayUrl>, ParamError>,
    /// What this activation learned that no output may show (a relay token and the hook's
    /// secret): masked like the rest.
    learned: Vec<Secret>,
}

impl<'a> Session<'a> {
    fn open(mut request: FeedRequest, context: &'a Context) -> Result<Self, ActionError> {
        let client = request.client(context)?;
        request.resolve_trigger(&client)?;
        let entity = request.check_trigger(&client)?;
        let unknown: Vec<&str> = request
            .params
            .as_map()
            .keys()
            .map(String::as_str)
            .filter(|name| !PARAMETER_NAMES.contains(name))
            .collect();
        if !unknown.is_empty() {
            eprintln!(
                "hook-feed: ignoring parameters this feed does not read: {}",
                unknown.join(", ")
            );
        }
        let stored = entity_annotation(&entity, Stored::ANNOTATION).and_then(|value| {
            let parsed = serde_json::from_value::<Stored>(value.clone()).ok();
            if parsed.is_none() {
                // No details: the record holds the token.
                eprintln!("hook-feed: the stored hook configuration is unreadable; ignoring it");
            }
            parsed
        });
        Ok(Self {
            context,
            client,
            trigger: request.trigger,
            auth_key: request.auth_key,
            relay: RelayUrl::from_params(&request.params),
            params: request.params,
            entity,
            stored,
            learned: Vec::new(),
        })
    }

    /// The stored settings with explicit parameters over them.
    fn merged_settings(&self) -> Result<HookSettings, ActionError> {
        settings::hook_settings(&self.params, self.stored.as_ref())
            .map_err(|error| self.without_stored_config(error))
    }

    /// A missing parameter on a trigger with nothing stored most likely means the trigger was
    /// not created with this feed: say so.
    fn without_stored_config(&self, error: ParamError) -> ActionError {
        match (&error, &self.stored) {
            (ParamError::Missing { .. }, None) => ActionError::new(format!(
                "{error} (trigger {} has no hook configuration stored by this feed; \
                 create the trigger with this feed first)",
                self.trigger
            )),
            _ => error.into(),
        }
    }

    /// The trigger's fire URL: where a direct-mode hook delivers.
    fn direct_url(&self) -> String {
        self.client.host().trigger_url(&self.trigger)
    }

    /// `relayUrl`, needed to install a relay-mode hook.
    fn relay_url(&self) -> Result<&RelayUrl, ActionError> {
        match &self.relay {
            Ok(Some(relay)) => Ok(relay),
            Ok(None) => Err(missing_relay_url()),
            Err(error) => Err(error.clone().into()),
        }
    }

    /// The URL a new hook in `mode` delivers to: for the relay mode, the relay seals a new one.
    fn target(&mut self, mode: DeliveryMode) -> Result<HookTarget, ActionError> {
        let target = match mode {
            DeliveryMode::Direct => {
                direct_target(self.client.host(), &self.trigger, &self.auth_key)
            }
            DeliveryMode::Relay => seal(
                self.relay_url()?,
                &self.trigger,
                &self.auth_key,
                self.context.deadline,
            )?,
        };
        if let Some(token) = hook_relay::wire::token_of(target.registered.expose()) {
            self.learned.push(Secret::new(token));
        }
        self.learned.extend(target.secret.clone());
        Ok(target)
    }

    /// Where a hook in `mode` delivers, without credentials or token (for READ's answer).
    fn shown_target(&self, mode: DeliveryMode) -> String {
        let relay = self.relay.as_ref().ok().and_then(Option::as_ref);
        match (mode, relay) {
            (DeliveryMode::Relay, Some(relay)) => relay.delivery_url(&self.trigger),
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
        if let Ok(Some(relay)) = &self.relay {
            targets.push(relay.delivery_url(&self.trigger));
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
        ours.sort_by_key(|hook| Some(hook.id) != stored_id);
        ours
    }

    /// Sets (or with `None` removes) the stored record on the trigger.
    fn save(&mut self, record: Option<&Stored>) -> Result<(), ActionError> {
        let value = record
            .map(serde_json::to_value)
            .transpose()
            .map_err(|_| ActionError::new("could not encode the hook configuration"))?;
        let updated = self
            .client
            .set_trigger_annotation(&self.trigger, &self.entity, Stored::ANNOTATION, value)
            .map_err(|error| {
                ActionError::from(error).context(format!(
                    "storing the hook configuration on trigger {}",
                    self.trigger
                ))
            })?;
        if updated.is_object() {
            self.entity = updated;
        }
        self.stored = record.cloned();
        Ok(())
    }

    /// CREATE and UPDATE: makes the feed's hook match `settings`, changing an existing one in
    /// place (so no delivery is lost) or installing it.
    fn install(&mut self, settings: HookSettings, event: &str) -> Result<Value, ActionError> {
        let mode = settings.mode;
        mode.check_content_type(settings.content_type)
            .map_err(ActionError::from)?;
        let location = &settings.location;
        let api = HooksApi::new(location, self.context.deadline);
        let hooks = api
            .list()
            .map_err(|e| service_error(&e, location, "listing the repository's hooks"))?;
        let ours: Vec<Hook> = self.ours(&hooks).into_iter().cloned().collect();
        let target = self.target(mode)?;
        let previous = self.stored.clone();

        // Stored before the hook exists, so that a DELETE after any failure below (the CLI
        // sends one when CREATE fails) knows where to look.
        let mut record = Stored {
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
                found_by_url(&api, &target, &known, status, location)
            }
            other => other.map_err(|e| service_error(&e, location, "installing the hook")),
        };
        let hook = match applied {
            Ok(hook) => hook,
            Err(error) => {
                if let Err(undo) = self.save(previous.as_ref()) {
                    eprintln!("hook-feed: could not restore the stored configuration: {undo}");
                }
                return Err(error);
            }
        };
        let mut changed = vec![hook.id];
        // Two hooks delivering to one trigger would fire it twice per event.
        for duplicate in ours.iter().skip(1).filter(|d| d.id != hook.id) {
            match api.delete(duplicate.id) {
                Ok(_) => changed.push(duplicate.id),
                Err(error) => eprintln!(
                    "hook-feed: could not remove duplicate hook {}: {error}",
                    duplicate.id
                ),
            }
        }
        record.hook_id = Some(hook.id);
        self.save(Some(&record))?;
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
        eprintln!(
            "hook-feed: {event} {}: {verb} hook {} on {} (events {}, active {}, delivery {mode}{sealed_with})",
            self.trigger,
            hook.id,
            location.repository,
            hook.events.join(","),
            hook.active
        );
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
    fn set_active(&mut self, active: bool) -> Result<Value, ActionError> {
        let settings = self.merged_settings()?;
        let location = &settings.location;
        let api = HooksApi::new(location, self.context.deadline);
        let hooks = api
            .list()
            .map_err(|e| service_error(&e, location, "listing the repository's hooks"))?;
        let event = if active { "UNPAUSE" } else { "PAUSE" };
        let missing = || {
            ActionError::new(format!(
                "{event}: no hook of {} delivers to trigger {} (removed on the service?); \
                 UPDATE installs it again",
                location.repository, self.trigger
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
        eprintln!(
            "hook-feed: {event} {}: hook {} on {} is now {}",
            self.trigger,
            hook.id,
            location.repository,
            if hook.active { "active" } else { "inactive" }
        );
        Ok(json!({
            "hookId": hook.id,
            "repository": location.repository.to_string(),
            "active": hook.active,
        }))
    }

    fn read(&mut self) -> Result<Value, ActionError> {
        let settings = self.merged_settings()?;
        let location = &settings.location;
        let api = HooksApi::new(location, self.context.deadline);
        let hooks = api
            .list()
            .map_err(|e| service_error(&e, location, "listing the repository's hooks"))?;
        let hook = self.ours(&hooks).first().copied();
        // What the live hook says wins over the record.
        let mode = hook
            .and_then(|hook| mode_of(hook.url(), &self.direct_url()))
            .unwrap_or(settings.mode);
        let relay_key_id = hook.and_then(|hook| relay_key_id(hook.url()));
        Ok(render(&Observed {
            trigger: &self.trigger,
            settings: &settings,
            stored: self.stored.as_ref(),
            mode,
            relay_key_id: relay_key_id.as_deref(),
            target: &self.shown_target(mode),
            hook,
        }))
    }

    /// Removes the feed's hooks and the stored record. Succeeds when there is nothing to remove:
    /// the CLI sends DELETE after a failed CREATE too.
    fn delete(&mut self) -> Result<Value, ActionError> {
        let location = match settings::location(&self.params, self.stored.as_ref()) {
            Ok(location) => location,
            // Nothing stored and not enough given to look: nothing this feed could have made.
            Err(ParamError::Missing { .. }) if self.stored.is_none() => {
                eprintln!(
                    "hook-feed: DELETE {}: nothing stored, nothing to remove",
                    self.trigger
                );
                return Ok(json!({
                    "removed": [],
                    "message": format!("trigger {} has no hook installed by this feed", self.trigger),
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
        if self.stored.is_some() {
            match self.save(None) {
                Ok(()) => {}
                // The trigger went first: nothing left to clean.
                Err(_) if self.client.get_trigger(&self.trigger).is_err() => {}
                Err(error) => return Err(error.context("the hooks are removed, but")),
            }
        }
        eprintln!(
            "hook-feed: DELETE {}: removed {} hook(s) from {}",
            self.trigger,
            removed.len(),
            location.repository
        );
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
        let api = HooksApi::new(location, self.context.deadline);
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
            eprintln!(
                "hook-feed: could not remove the hook from {} ({}): {error}",
                location.repository, location.base_url
            );
        }
    }
}

/// Changes `existing` in place, or creates the hook (also when `existing` vanished meanwhile),
/// in the service's dialect.
fn apply(
    api: &HooksApi,
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
    api: &HooksApi,
    target: &HookTarget,
    known: &[i64],
    status: u16,
    location: &Location,
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
    found.sort_by_key(|hook| known.contains(&hook.id));
    match found.first() {
        Some(hook) => {
            eprintln!(
                "hook-feed: {said}; found hook {} by its URL and kept it",
                hook.id
            );
            Ok((*hook).clone())
        }
        None => Err(ActionError::new(format!(
            "invalid parameter `baseUrl`: {said}, and no hook delivering to this trigger was made \
             (nothing was left behind); is it the API root of the service? (`service`: {})",
            location.service
        ))),
    }
}
