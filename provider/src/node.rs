//! One provider instance: the feeds it knows (every registration in the store, followed as it
//! changes), the buckets it holds, and the feeds it runs (the active ones in those buckets).
//!
//! A feed runs as its source (see [`crate::Source`]) plus its fires ([`crate::pipeline`]). It is
//! (re)started whenever its record or its bucket's holding changes, and stopped by dropping
//! both: what was fired but not saved is fired again from the saved position, never lost.
//! Positions are written to the store in one batch per bucket every `save_interval`, under the
//! bucket's lease.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use provider_api::FeedStatus;

use crate::fire::FireTarget;
use crate::fleet::FleetView;
use crate::http::HttpClient;
use crate::lease::LeaseGuard;
use crate::metrics::{Gauges, Metrics};
use crate::model::{FeedId, FeedRecord, FeedState, Saved, now_millis};
use crate::pipeline::{self, Ended, FeedFires, FireCommon};
use crate::positions::PositionBook;
use crate::source::{Lane, Source, SourceHandle};
use crate::status::SharedStatus;
use crate::store::{Lease, Store, StoreError, bucket_of};
use crate::tuning::Tuning;

/// How often the records sealed with an older key are looked for...
const RESEAL_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
/// ... and how many are sealed again each time.
const RESEAL_BATCH: usize = 200;

/// How long a clean stop waits for the fires in flight.
const DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A feed running here.
struct Running {
    guard: Arc<LeaseGuard>,
    /// Dropped to stop reading (a clean stop lets the fires in flight finish first).
    source: Option<SourceHandle>,
    lane: Arc<Lane>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.lane.stop();
    }
}

/// A feed known here.
struct Entry {
    record: FeedRecord,
    status: SharedStatus,
    running: Option<Running>,
    /// Its run ended for good under this revision (disabled, or its source gave up): it is not
    /// started again until a new revision of the record comes.
    halted: bool,
}

/// A bucket held here.
pub(crate) struct Held {
    pub lease: Lease,
    pub guard: Arc<LeaseGuard>,
    /// When the last renewal that succeeded was sent (monotonic ms).
    pub renewed_at: u64,
}

#[derive(Default)]
pub(crate) struct State {
    feeds: HashMap<FeedId, Entry>,
    /// The last revision number of each deleted feed: a late copy of an older revision (from
    /// the store's change feed) must not bring it back.
    tombstones: HashMap<FeedId, u64>,
    pub held: HashMap<u32, Held>,
    pub fleet: FleetView,
}

/// One instance.
pub struct Node {
    /// This instance's id (unique in the fleet).
    pub id: String,
    /// Where this instance's REST API is reachable, as announced to the fleet.
    pub url: Option<String>,
    pub tuning: Tuning,
    pub http: HttpClient,
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    pub(crate) positions: Arc<PositionBook>,
    /// What every running feed's fires share.
    fires: Arc<FireCommon>,
    sources: HashMap<&'static str, Arc<dyn Source>>,
    state: Mutex<State>,
    /// Bucket writes (renewals, claims, releases) one at a time, so that each uses the revision
    /// the previous one left.
    pub(crate) bucket_writes: tokio::sync::Mutex<()>,
    /// Set by a clean stop: no bucket is taken any more.
    pub(crate) stopping: std::sync::atomic::AtomicBool,
    me: Weak<Node>,
}

/// Whether two records of a feed say the same (a new revision with the same content, such as
/// a re-seal or the echo of our own write, does not restart the feed).
fn same_content(a: &FeedRecord, b: &FeedRecord) -> bool {
    a.id == b.id
        && a.kind == b.kind
        && a.api_host == b.api_host
        && a.auth_key == b.auth_key
        && a.config == b.config
        && a.state == b.state
        && a.date_changed == b.date_changed
        && a.start == b.start
}

impl Node {
    pub fn new(
        id: String,
        url: Option<String>,
        tuning: Tuning,
        http: HttpClient,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        sources: Vec<Arc<dyn Source>>,
    ) -> Arc<Self> {
        let positions = Arc::new(PositionBook::default());
        let fires = Arc::new(FireCommon {
            http: http.clone(),
            fire_timeout: tuning.fire_timeout,
            retry_min: tuning.retry_min,
            retry_max: tuning.retry_max,
            positions: positions.clone(),
            metrics: metrics.clone(),
        });
        Arc::new_cyclic(|me| Self {
            id,
            url,
            tuning,
            http,
            store,
            metrics,
            positions,
            fires,
            sources: sources
                .into_iter()
                .map(|source| (source.kind(), source))
                .collect(),
            state: Mutex::new(State::default()),
            bucket_writes: tokio::sync::Mutex::new(()),
            stopping: std::sync::atomic::AtomicBool::new(false),
            me: me.clone(),
        })
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn source(&self, kind: &str) -> Option<Arc<dyn Source>> {
        self.sources.get(kind).cloned()
    }

    pub fn kinds(&self) -> Vec<&'static str> {
        let mut kinds: Vec<&'static str> = self.sources.keys().copied().collect();
        kinds.sort_unstable();
        kinds
    }

    pub fn bucket_of(&self, id: &str) -> u32 {
        bucket_of(id, self.store.buckets())
    }

    /// Loads every feed and starts following the store; an exclusive store's buckets are all
    /// taken at once. Answers the store's change stream for [`Node::follow`].
    pub async fn load(
        &self,
    ) -> Result<tokio::sync::mpsc::Receiver<crate::store::StoreEvent>, StoreError> {
        let (records, events) = self.store.follow().await?;
        {
            let mut state = self.state();
            for record in records {
                state.feeds.insert(
                    record.id.clone(),
                    Entry {
                        record,
                        status: SharedStatus::default(),
                        running: None,
                        halted: false,
                    },
                );
            }
        }
        if self.store.exclusive() {
            for bucket in 0..self.store.buckets() {
                let (lease, saved) = self.store.claim(bucket, &self.id, 1, None).await?;
                let guard = Arc::new(LeaseGuard::for_ever(bucket, 1));
                self.hold(lease, saved, guard, crate::lease::monotonic_ms());
            }
        }
        Ok(events)
    }

    /// Takes a bucket's lease and positions, and starts its feeds.
    pub(crate) fn hold(
        &self,
        lease: Lease,
        saved: HashMap<FeedId, Saved>,
        guard: Arc<LeaseGuard>,
        renewed_at: u64,
    ) {
        let bucket = lease.bucket;
        self.metrics.bucket_claimed();
        self.positions.load(bucket, saved);
        let mut state = self.state();
        state.held.insert(
            bucket,
            Held {
                lease,
                guard,
                renewed_at,
            },
        );
        let ids: Vec<FeedId> = state
            .feeds
            .keys()
            .filter(|id| self.bucket_of(id) == bucket)
            .cloned()
            .collect();
        for id in ids {
            self.reconcile(&mut state, &id);
        }
    }

    /// Stops a bucket's feeds and forgets it (lost, or released after this).
    pub(crate) fn unhold(&self, bucket: u32) -> Option<Held> {
        let mut state = self.state();
        let held = state.held.remove(&bucket)?;
        held.guard.lose();
        for (id, entry) in state.feeds.iter_mut() {
            if self.bucket_of(id) == bucket {
                entry.running = None;
            }
        }
        Some(held)
    }

    /// Takes a record (written here, or seen in the store's change feed): a stale copy is
    /// ignored; the feed is started, restarted or stopped to match.
    pub fn apply(&self, record: FeedRecord) {
        let mut state = self.state();
        let number = record.rev_number();
        if state
            .tombstones
            .get(&record.id)
            .is_some_and(|deleted| *deleted >= number)
        {
            return;
        }
        let id = record.id.clone();
        match state.feeds.get_mut(&id) {
            Some(entry) if entry.record.rev_number() > number => return,
            Some(entry) => {
                if entry.record.rev_number() != number {
                    entry.halted = false;
                }
                if !same_content(&entry.record, &record) {
                    // Stopped here, started again below with the new content.
                    entry.running = None;
                }
                entry.record = record;
            }
            None => {
                state.feeds.insert(
                    id.clone(),
                    Entry {
                        record,
                        status: SharedStatus::default(),
                        running: None,
                        halted: false,
                    },
                );
            }
        }
        state.tombstones.remove(&id);
        self.reconcile(&mut state, &id);
    }

    /// A feed was deleted (at revision `rev`): stop it and forget its position.
    pub fn remove(&self, id: &str, rev: Option<&str>) {
        let mut state = self.state();
        let number = crate::model::rev_number(rev);
        if let Some(entry) = state.feeds.get(id)
            && entry.record.rev_number() > number
        {
            return;
        }
        state.feeds.remove(id);
        state.tombstones.insert(id.to_owned(), number);
        let bucket = self.bucket_of(id);
        if state.held.contains_key(&bucket) {
            self.positions.forget(id, bucket);
        }
    }

    /// Starts, restarts or stops one feed to match its record and its bucket.
    fn reconcile(&self, state: &mut State, id: &str) {
        let bucket = self.bucket_of(id);
        let guard = state
            .held
            .get(&bucket)
            .map(|held| held.guard.clone())
            .filter(|guard| guard.is_valid());
        let Some(entry) = state.feeds.get_mut(id) else {
            return;
        };
        let wanted = guard.filter(|_| entry.record.state == FeedState::Active);
        if let (Some(running), Some(guard)) = (&entry.running, &wanted)
            && Arc::ptr_eq(&running.guard, guard)
        {
            return;
        }
        // Stopped before it starts again: never two runs of one feed at once.
        entry.running = None;
        if let Some(guard) = wanted {
            entry.running = self.start(&entry.record, &entry.status, guard, bucket);
        }
    }

    fn start(
        &self,
        record: &FeedRecord,
        status: &SharedStatus,
        guard: Arc<LeaseGuard>,
        bucket: u32,
    ) -> Option<Running> {
        let id = record.id.clone();
        let rev = record.rev_number();
        let Some(source) = self.sources.get(record.kind.as_str()) else {
            status.error(format!(
                "this instance has no source of kind {:?}",
                record.kind
            ));
            return None;
        };
        if let Err(problem) = FireTarget::new(record) {
            self.spawn_ended(id, rev, Ended::Disabled(problem));
            return None;
        }
        let saved = self.positions.get(&id);
        let position = record.resume_at(saved.as_ref());
        let window = source.fire_window().unwrap_or(self.tuning.fire_window);
        // What the fires need is put together when there is something to fire (an idle feed,
        // such as an alarm between its ticks, keeps only this closure).
        let reset = record.start.reset;
        let me = self.me.clone();
        let run_guard = guard.clone();
        let run_id = id.clone();
        let (lane, emitter) = Lane::new(window, status.clone(), move |lane| {
            let me = me.clone();
            let guard = run_guard.clone();
            let id = run_id.clone();
            tokio::spawn(async move {
                let Some(node) = me.upgrade() else {
                    return;
                };
                // The record as it is now (a new revision with the same content keeps this
                // run, so the revision is not compared).
                let target = node.known(&id).map(|record| FireTarget::new(&record));
                let ended = match target {
                    // Deleted meanwhile: this run is being stopped.
                    None => {
                        lane.finished();
                        return;
                    }
                    Some(Err(problem)) => Some(Ended::Disabled(problem)),
                    Some(Ok(target)) => {
                        let fires = Arc::new(FeedFires {
                            id: id.clone(),
                            bucket,
                            reset,
                            target,
                            guard,
                            status: lane.status().clone(),
                            common: node.fires.clone(),
                        });
                        drop(node);
                        pipeline::run(fires, lane).await
                    }
                };
                if let Some(ended) = ended
                    && let Some(node) = me.upgrade()
                {
                    // In a task of its own: handling the end stops this feed, which aborts
                    // this task.
                    node.spawn_ended(id, rev, ended);
                }
            })
            .abort_handle()
        });
        tracing::info!(feed = %id, position = %position, "starting");
        let source = source.start(record, position, emitter);
        Some(Running {
            guard,
            source: Some(source),
            lane,
        })
    }

    fn spawn_ended(&self, id: FeedId, rev: u64, ended: Ended) {
        let me = self.me.clone();
        tokio::spawn(async move {
            if let Some(node) = me.upgrade() {
                node.ended(id, rev, ended).await;
            }
        });
    }

    /// A feed's run ended by itself: disabled (stored, so every instance sees it), its lease
    /// lost, its source ended, or done (its trigger deleted, then the feed).
    async fn ended(&self, id: FeedId, rev: u64, ended: Ended) {
        {
            let mut state = self.state();
            if let Some(entry) = state.feeds.get_mut(&id)
                && entry.record.rev_number() == rev
            {
                entry.running = None;
                entry.halted = !matches!(ended, Ended::LeaseLost);
            }
        }
        let reason = match ended {
            Ended::Disabled(reason) => reason,
            Ended::DeleteTrigger { with_rules } => match self.finish(&id, rev, with_rules).await {
                Some(reason) => reason,
                None => return,
            },
            Ended::LeaseLost => return,
            Ended::SourceEnded if self.stopping.load(std::sync::atomic::Ordering::SeqCst) => {
                return;
            }
            Ended::SourceEnded => {
                tracing::warn!(feed = %id, "the source stopped by itself");
                return;
            }
        };
        tracing::warn!(feed = %id, "disabled: {reason}");
        // What was fired up to here is saved first: a feed disabled after its last fire (an
        // alarm's maxTriggers) must not fire that again when it is enabled.
        self.save_positions().await;
        if let Some(entry) = self.state().feeds.get(&id) {
            entry.status.error(format!("disabled: {reason}"));
            entry.status.lock().retrying = None;
        }
        for _ in 0..5 {
            let mut record = match self.store.get(&id).await {
                Ok(Some(record)) => record,
                Ok(None) => return,
                Err(error) => {
                    tracing::error!(feed = %id, "could not save the disabled state: {error}");
                    return;
                }
            };
            if record.rev_number() != rev {
                // Changed meanwhile (updated, paused): the new version is what counts.
                return;
            }
            record.state = FeedState::Disabled(reason.clone());
            record.date_changed = now_millis();
            match self.store.put(&record).await {
                Ok(new_rev) => {
                    record.rev = Some(new_rev);
                    self.apply(record);
                    return;
                }
                Err(StoreError::Conflict) => continue,
                Err(error) => {
                    tracing::error!(feed = %id, "could not save the disabled state: {error}");
                    return;
                }
            }
        }
    }

    /// A feed is done after its last fire: deletes its trigger (and the trigger's rules) from
    /// OpenWhisk with the owner's key, then the feed. `Some(reason)` when OpenWhisk refused:
    /// the feed is then disabled with that reason (a restart tries again).
    async fn finish(&self, id: &str, rev: u64, with_rules: bool) -> Option<String> {
        let record = self.known(id).filter(|record| record.rev_number() == rev)?;
        let mut backoff =
            crate::classify::Backoff::new(self.tuning.retry_min, self.tuning.retry_max);
        let failure = loop {
            match crate::fire::delete_trigger(
                &self.http,
                &record,
                with_rules,
                self.tuning.fire_timeout,
            )
            .await
            {
                Ok(()) => break None,
                Err(crate::fire::DeleteFailure::Transient(reason)) if backoff.attempt() < 8 => {
                    tracing::warn!(feed = %id, "deleting the trigger failed, retrying: {reason}");
                    tokio::time::sleep(backoff.next(None)).await;
                }
                Err(
                    crate::fire::DeleteFailure::Transient(reason)
                    | crate::fire::DeleteFailure::Refused(reason),
                ) => break Some(reason),
            }
        };
        if let Some(reason) = failure {
            return Some(format!(
                "the feed is done, but its trigger could not be deleted ({reason})"
            ));
        }
        tracing::info!(feed = %id, with_rules, "done: its trigger was deleted");
        if let Err(error) = self.delete(id, None).await {
            tracing::warn!(feed = %id, "the trigger is deleted, but the feed could not be: {error}");
        }
        None
    }

    /// Starts again the active feeds of valid buckets that are not running though nothing
    /// halted them (a lease that looked expired for a moment stopped their fires, then the
    /// renewal came through).
    pub fn revive(&self) {
        let mut state = self.state();
        let idle: Vec<FeedId> = state
            .feeds
            .iter()
            .filter(|(id, entry)| {
                entry.running.is_none()
                    && !entry.halted
                    && entry.record.state == FeedState::Active
                    && state
                        .held
                        .get(&self.bucket_of(id))
                        .is_some_and(|held| held.guard.is_valid())
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in idle {
            self.reconcile(&mut state, &id);
        }
    }

    /// The live status of a feed running here, with its position; `None` when it is not known
    /// here.
    pub fn live(&self, id: &str) -> Option<(FeedStatus, Option<Saved>, bool)> {
        let state = self.state();
        let entry = state.feeds.get(id)?;
        let bucket = self.bucket_of(id);
        let held = state
            .held
            .get(&bucket)
            .is_some_and(|held| held.guard.is_valid());
        Some((entry.status.snapshot(), self.positions.get(id), held))
    }

    /// Whether this instance runs the feed now.
    pub fn runs_here(&self, id: &str) -> bool {
        self.state()
            .feeds
            .get(id)
            .is_some_and(|entry| entry.running.is_some())
    }

    /// The record of a feed as this instance last saw it.
    pub fn known(&self, id: &str) -> Option<FeedRecord> {
        self.state().feeds.get(id).map(|entry| entry.record.clone())
    }

    /// Every known feed's id, sorted.
    pub fn ids(&self) -> Vec<FeedId> {
        let mut ids: Vec<FeedId> = self.state().feeds.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// The figures `/metrics` and `/health` show.
    pub fn gauges(&self) -> Gauges {
        let state = self.state();
        let mut gauges = Gauges {
            buckets: self.store.buckets(),
            buckets_held: state.held.len(),
            ..Gauges::default()
        };
        for (id, entry) in &state.feeds {
            match entry.record.state {
                FeedState::Active => gauges.active += 1,
                FeedState::Paused => gauges.paused += 1,
                FeedState::Disabled(_) => gauges.disabled += 1,
            }
            if entry.running.is_some() {
                gauges.running += 1;
                if entry.status.lock().connected {
                    gauges.connected += 1;
                }
                gauges
                    .lags
                    .push((id.clone(), entry.status.lag().as_secs_f64()));
            }
        }
        gauges.lags.sort_by(|a, b| a.0.cmp(&b.0));
        drop(state);
        gauges.members = self.live_members().len();
        gauges.sealed_with_old_key = self.sealed_with_old_key().len();
        gauges
    }

    /// Writes every held bucket's moved positions, renewing its lease (a fleet's buckets are
    /// also renewed when nothing moved, every quarter lease); see [`Node::flusher`].
    pub async fn save_positions(&self) {
        let _writes = self.bucket_writes.lock().await;
        let exclusive = self.store.exclusive();
        let renew_every = self.tuning.lease.as_millis() as u64 / 4;
        let leases: Vec<(Lease, u64)> = self
            .state()
            .held
            .values()
            .map(|held| (held.lease.clone(), held.renewed_at))
            .collect();
        for (lease, renewed_at) in leases {
            let batch = self.positions.take_dirty(lease.bucket);
            let sent_at = crate::lease::monotonic_ms();
            let due = !exclusive && sent_at.saturating_sub(renewed_at) >= renew_every;
            if batch.is_empty() && !due {
                continue;
            }
            match self.store.renew(&lease, batch.clone()).await {
                Ok(renewed) => {
                    let mut state = self.state();
                    if let Some(held) = state.held.get_mut(&lease.bucket)
                        && held.lease.epoch == renewed.epoch
                    {
                        if !exclusive {
                            held.guard.extend(sent_at, self.trust());
                        }
                        held.renewed_at = sent_at;
                        held.lease = renewed;
                    }
                }
                Err(StoreError::Conflict) => {
                    tracing::warn!(
                        bucket = lease.bucket,
                        "lost the bucket: another instance holds it; stopped its feeds"
                    );
                    self.lose(lease.bucket);
                }
                Err(error) => {
                    tracing::warn!(bucket = lease.bucket, "could not save positions: {error}");
                    self.positions.unwritten(lease.bucket, batch);
                }
            }
        }
    }

    /// Saves positions every `save_interval`, and seals records again after a key rotation,
    /// for ever.
    pub async fn flusher(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.tuning.save_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut resealed_at = std::time::Instant::now();
        loop {
            tick.tick().await;
            self.save_positions().await;
            if resealed_at.elapsed() >= RESEAL_EVERY {
                resealed_at = std::time::Instant::now();
                self.reseal().await;
            }
        }
    }

    /// The feeds known here whose secrets are sealed with an older provider key.
    pub fn sealed_with_old_key(&self) -> Vec<FeedRecord> {
        let current = self.store.current_key();
        self.state()
            .feeds
            .values()
            .filter(|entry| {
                entry
                    .record
                    .sealed_with
                    .as_ref()
                    .is_some_and(|key| *key != current)
            })
            .map(|entry| entry.record.clone())
            .collect()
    }

    /// Seals again, under the current key, the records of the feeds in the buckets held here
    /// that an older key sealed (after a rotation): each instance does its own buckets' share.
    pub async fn reseal(&self) {
        let stale = self.sealed_with_old_key();
        let held: Vec<FeedRecord> = {
            let state = self.state();
            stale
                .into_iter()
                .filter(|record| state.held.contains_key(&self.bucket_of(&record.id)))
                .take(RESEAL_BATCH)
                .collect()
        };
        for mut record in held {
            match self.store.put(&record).await {
                Ok(rev) => {
                    tracing::info!(feed = %record.id, "sealed again with the current provider key");
                    record.rev = Some(rev);
                    record.sealed_with = Some(self.store.current_key());
                    self.apply(record);
                }
                // Changed meanwhile: the new revision is sealed with the current key anyway.
                Err(StoreError::Conflict) => {}
                Err(error) => {
                    tracing::warn!(feed = %record.id, "could not seal again: {error}");
                    return;
                }
            }
        }
    }

    /// A clean stop: every feed stops, the last positions are written and the buckets handed
    /// over at once.
    pub async fn shutdown(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let _writes = self.bucket_writes.lock().await;
        let buckets: Vec<u32> = self.state().held.keys().copied().collect();
        // Stop reading, and let the fires in flight finish (for a while): what OpenWhisk took
        // is then saved, and the next holder fires nothing twice.
        let lanes: Vec<Arc<Lane>> = {
            let mut state = self.state();
            state
                .feeds
                .values_mut()
                .filter_map(|entry| entry.running.as_mut())
                .map(|running| {
                    running.source = None;
                    running.lane.clone()
                })
                .collect()
        };
        let deadline = std::time::Instant::now() + self.tuning.fire_timeout.min(DRAIN_LIMIT);
        while lanes.iter().any(|lane| lane.is_busy()) && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        {
            let mut state = self.state();
            for entry in state.feeds.values_mut() {
                entry.running = None;
            }
        }
        for bucket in buckets {
            let Some(held) = self.unhold(bucket) else {
                continue;
            };
            let batch = self.positions.take_dirty(bucket);
            match self.store.release(&held.lease, batch).await {
                Ok(()) => self.metrics.bucket_released(),
                Err(error) => tracing::warn!(bucket, "could not hand the bucket over: {error}"),
            }
        }
        if let Err(error) = self
            .store
            .announce(&self.id, self.url.as_deref(), true)
            .await
        {
            tracing::warn!("could not say goodbye to the fleet: {error}");
        }
    }
}
