//! Many instances on one CouchDB store, active/active, without an outside monitor: feeds are
//! hashed into buckets, and each bucket is held by one instance through a lease (its document's
//! owner and epoch, renewed by rewriting it).
//!
//! - **Membership.** Each instance rewrites its member document every quarter lease; the others
//!   see the revision change in the store's change feed. One whose revision has not changed for
//!   a whole lease (on the watcher's own monotonic clock: no clocks need to agree) is gone.
//! - **Assignment.** Each bucket belongs to the live member that ranks highest for it
//!   (rendezvous hashing): every instance computes the same from the same members, and a member
//!   that joins or leaves moves only its own share.
//! - **Takeover.** A bucket whose lease was released (a clean stop hands over at once) or has
//!   not been renewed for a whole lease is claimed by its rightful owner with the next epoch,
//!   and its feeds resume from the positions saved in it. A holder that sees its bucket's
//!   rightful owner alive hands it over: it stops the bucket's feeds, writes their last
//!   positions and releases it.
//! - **Fencing.** A holder counts its lease as valid only until four fifths of a lease after it
//!   last sent a renewal that succeeded; every fire checks that first. Every write of a bucket
//!   is a compare-and-swap on the revision the holder last wrote: once another instance took the
//!   bucket, the old holder can neither renew it nor move a position in it (a paused process that
//!   wakes up finds its lease expired and its writes refused).
//! - **The registry unreachable.** Renewals fail; the holder keeps firing until its lease would
//!   run out, then stops those feeds, and takes the buckets back when the registry answers again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::lease::{LeaseGuard, monotonic_ms};
use crate::model::rev_number;
use crate::node::Node;
use crate::store::{BucketView, MemberView, StoreError, StoreEvent};

/// A member as last seen.
#[derive(Debug, Clone)]
pub(crate) struct MemberSeen {
    rev: String,
    pub url: Option<String>,
    /// When its revision last changed (monotonic ms).
    changed_at: u64,
}

/// A bucket as last seen.
#[derive(Debug, Clone)]
pub(crate) struct BucketSeen {
    pub owner: Option<String>,
    epoch: u64,
    rev: String,
    changed_at: u64,
}

/// What this instance knows of the fleet.
#[derive(Debug, Default)]
pub(crate) struct FleetView {
    pub members: HashMap<String, MemberSeen>,
    pub buckets: HashMap<u32, BucketSeen>,
}

/// FNV-1a, for ranking members per bucket.
fn score(member: &str, bucket: u32) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in member
        .bytes()
        .chain(b":".iter().copied())
        .chain(bucket.to_le_bytes())
    {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // One more mixing round: FNV's low bits alone spread short inputs poorly.
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^ (hash >> 33)
}

/// The member that owns `bucket` among `members` (rendezvous hashing).
pub fn rightful_owner<'a>(bucket: u32, members: &[&'a str]) -> Option<&'a str> {
    members
        .iter()
        .copied()
        .max_by_key(|member| (score(member, bucket), *member))
}

enum Move {
    Claim {
        bucket: u32,
        epoch: u64,
        observed: Option<String>,
    },
    Release(u32),
}

impl Node {
    fn lease_ms(&self) -> u64 {
        self.tuning.lease.as_millis() as u64
    }

    /// How long a holder trusts a renewal it sent: four fifths of a lease (the rest is margin
    /// for the time the others take to see the renewal).
    pub(crate) fn trust(&self) -> Duration {
        self.tuning.lease * 4 / 5
    }

    /// The live members, this instance included, sorted.
    pub(crate) fn live_members(&self) -> Vec<String> {
        let now = monotonic_ms();
        let lease = self.lease_ms();
        let state = self.state();
        let mut live: Vec<String> = state
            .fleet
            .members
            .iter()
            .filter(|(_, seen)| now.saturating_sub(seen.changed_at) < lease)
            .map(|(id, _)| id.clone())
            .collect();
        if !live.contains(&self.id) {
            live.push(self.id.clone());
        }
        live.sort();
        live
    }

    /// The fleet's side of an instance, for ever: follows the store's events, announces this
    /// instance, and claims, releases and gives up buckets. An exclusive store has no fleet.
    pub async fn run_fleet(self: Arc<Self>, mut events: mpsc::Receiver<StoreEvent>) {
        if self.store.exclusive() {
            // Nothing ever comes; the stream is kept open.
            while events.recv().await.is_some() {}
            return;
        }
        let wake = Arc::new(tokio::sync::Notify::new());
        {
            let (node, wake) = (self.clone(), wake.clone());
            tokio::spawn(async move {
                while let Some(event) = events.recv().await {
                    node.on_event(event);
                    wake.notify_one();
                }
                tracing::error!("the store's change feed ended");
            });
        }
        let tick = (self.tuning.lease / 8).clamp(Duration::from_millis(50), Duration::from_secs(1));
        let mut announced_at = None::<u64>;
        loop {
            let now = monotonic_ms();
            if announced_at.is_none_or(|at| now.saturating_sub(at) >= self.lease_ms() / 4) {
                match self
                    .store
                    .announce(&self.id, self.url.as_deref(), false)
                    .await
                {
                    Ok(()) => announced_at = Some(now),
                    Err(error) => {
                        tracing::warn!("could not renew this instance's membership: {error}")
                    }
                }
            }
            self.expire();
            self.revive();
            self.forget_departed().await;
            self.rebalance().await;
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(tick) => {}
            }
        }
    }

    /// Takes one event of the store's change feed.
    fn on_event(&self, event: StoreEvent) {
        match event {
            StoreEvent::Feed(record) => self.apply(*record),
            StoreEvent::FeedDeleted { id, rev } => self.remove(&id, Some(&rev)),
            StoreEvent::Bucket(view) => self.seen_bucket(view),
            StoreEvent::Member(view) => self.seen_member(view),
            StoreEvent::Reconnected => {}
        }
    }

    fn seen_member(&self, view: MemberView) {
        let mut state = self.state();
        if view.left {
            state.fleet.members.remove(&view.id);
            return;
        }
        let now = monotonic_ms();
        let seen = state
            .fleet
            .members
            .entry(view.id)
            .or_insert_with(|| MemberSeen {
                rev: String::new(),
                url: None,
                changed_at: now,
            });
        if seen.rev != view.rev {
            seen.rev = view.rev;
            seen.changed_at = now;
        }
        seen.url = view.url;
    }

    fn seen_bucket(&self, view: BucketView) {
        let lost = {
            let mut state = self.state();
            let now = monotonic_ms();
            let changed = state
                .fleet
                .buckets
                .get(&view.bucket)
                .is_none_or(|seen| seen.rev != view.rev);
            if changed {
                state.fleet.buckets.insert(
                    view.bucket,
                    BucketSeen {
                        owner: view.owner.clone(),
                        epoch: view.epoch,
                        rev: view.rev.clone(),
                        changed_at: now,
                    },
                );
            }
            // Held here, and the store's winning revision is not one of our writes under this
            // lease (another instance took it, or our revision lost a conflict) and not older
            // than ours. Our own writes arrive here too, sometimes before their answer.
            state.held.get(&view.bucket).is_some_and(|held| {
                let ours = view.owner.as_deref() == Some(self.id.as_str())
                    && view.epoch == held.lease.epoch;
                // A conflict's lease is decided by epoch, whatever the revisions' numbers.
                !ours
                    && (view.conflicted
                        || rev_number(Some(&view.rev)) >= rev_number(Some(&held.lease.rev)))
            })
        };
        if lost {
            tracing::warn!(
                bucket = view.bucket,
                owner = ?view.owner,
                conflicted = view.conflicted,
                "lost the bucket to another instance: stopped its feeds"
            );
            self.lose(view.bucket);
        }
    }

    /// Stops a bucket that is no longer ours (its positions are the new holder's business).
    pub(crate) fn lose(&self, bucket: u32) {
        if self.unhold(bucket).is_some() {
            self.metrics.bucket_lost();
        }
        self.positions.drop_bucket(bucket);
    }

    /// Deletes the member documents of instances not heard of for ten leases (killed ones leave
    /// theirs behind; a clean stop deletes its own).
    async fn forget_departed(&self) {
        let now = monotonic_ms();
        let gone: Vec<(String, String)> = self
            .state()
            .fleet
            .members
            .iter()
            .filter(|(id, seen)| {
                **id != self.id && now.saturating_sub(seen.changed_at) > 10 * self.lease_ms()
            })
            .map(|(id, seen)| (id.clone(), seen.rev.clone()))
            .collect();
        for (member, rev) in gone {
            match self.store.forget_member(&member, &rev).await {
                Ok(()) => {
                    tracing::info!(member = %member, "forgot an instance gone for ten leases");
                    self.state().fleet.members.remove(&member);
                }
                Err(error) => tracing::debug!(member = %member, "could not forget: {error}"),
            }
        }
    }

    /// Gives up the buckets whose lease ran out without a renewal (the registry could not be
    /// reached): their feeds stop before another instance may take over.
    fn expire(&self) {
        let expired: Vec<u32> = self
            .state()
            .held
            .iter()
            .filter(|(_, held)| !held.guard.is_valid())
            .map(|(bucket, _)| *bucket)
            .collect();
        for bucket in expired {
            tracing::warn!(
                bucket,
                "the lease ran out without a renewal (is the registry reachable?): stopped its feeds"
            );
            self.lose(bucket);
        }
    }

    /// What to claim and what to hand over, from what this instance sees.
    fn moves(&self) -> Vec<Move> {
        let members = self.live_members();
        let members: Vec<&str> = members.iter().map(String::as_str).collect();
        let now = monotonic_ms();
        let lease = self.lease_ms();
        let state = self.state();
        let mut moves = Vec::new();
        for bucket in 0..self.store.buckets() {
            let rightful = rightful_owner(bucket, &members) == Some(self.id.as_str());
            if state.held.contains_key(&bucket) {
                if !rightful {
                    moves.push(Move::Release(bucket));
                }
                continue;
            }
            let Some(seen) = state.fleet.buckets.get(&bucket) else {
                if rightful {
                    moves.push(Move::Claim {
                        bucket,
                        epoch: 1,
                        observed: None,
                    });
                }
                continue;
            };
            let age = now.saturating_sub(seen.changed_at);
            let claim = match &seen.owner {
                // Released: its rightful owner takes it at once; anyone does once it has
                // stayed free for a lease (the rightful owner may not see it the same way).
                None => rightful || age > lease,
                // Ours by an earlier run of this instance, or given up while the registry
                // was unreachable: nobody else holds it.
                Some(owner) if *owner == self.id => true,
                // Not renewed for a lease: its holder is gone.
                Some(_) => age > lease && (rightful || age > 2 * lease),
            };
            if claim {
                moves.push(Move::Claim {
                    bucket,
                    epoch: seen.epoch + 1,
                    observed: Some(seen.rev.clone()),
                });
            }
        }
        moves
    }

    /// Claims and hands over buckets to match the live members.
    async fn rebalance(&self) {
        if self.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let moves = self.moves();
        if moves.is_empty() {
            return;
        }
        let _writes = self.bucket_writes.lock().await;
        if self.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        for step in moves {
            match step {
                Move::Release(bucket) => self.release(bucket).await,
                Move::Claim {
                    bucket,
                    epoch,
                    observed,
                } => self.claim(bucket, epoch, observed).await,
            }
        }
    }

    async fn claim(&self, bucket: u32, epoch: u64, observed: Option<String>) {
        let sent_at = monotonic_ms();
        match self
            .store
            .claim(bucket, &self.id, epoch, observed.as_deref())
            .await
        {
            Ok((lease, saved)) => {
                tracing::info!(bucket, epoch, feeds = saved.len(), "took the bucket");
                let guard = Arc::new(LeaseGuard::until(bucket, epoch, sent_at, self.trust()));
                {
                    let mut state = self.state();
                    state.fleet.buckets.insert(
                        bucket,
                        BucketSeen {
                            owner: Some(self.id.clone()),
                            epoch,
                            rev: lease.rev.clone(),
                            changed_at: monotonic_ms(),
                        },
                    );
                }
                self.hold(lease, saved, guard, sent_at);
            }
            // Someone else was quicker, or our view is stale: the next event tells.
            Err(StoreError::Conflict) => {
                tracing::debug!(bucket, "claim lost a race");
            }
            Err(error) => tracing::debug!(bucket, "could not claim: {error}"),
        }
    }

    /// Hands a bucket over: its feeds stop, their last positions are written, the lease is
    /// released so the rightful owner takes it at once.
    async fn release(&self, bucket: u32) {
        let Some(held) = self.unhold(bucket) else {
            return;
        };
        let batch = self.positions.take_dirty(bucket);
        self.positions.drop_bucket(bucket);
        match self.store.release(&held.lease, batch).await {
            Ok(()) => {
                tracing::info!(bucket, "handed the bucket over");
                self.metrics.bucket_released();
                let mut state = self.state();
                if let Some(seen) = state.fleet.buckets.get_mut(&bucket) {
                    seen.owner = None;
                    seen.changed_at = monotonic_ms();
                }
            }
            Err(error) => tracing::warn!(bucket, "could not hand the bucket over: {error}"),
        }
    }

    /// The instance that holds a feed's bucket, as far as this instance knows.
    pub fn holder_of(&self, id: &str) -> Option<(String, Option<String>)> {
        let bucket = self.bucket_of(id);
        let state = self.state();
        let owner = state.fleet.buckets.get(&bucket)?.owner.clone()?;
        let url = state
            .fleet
            .members
            .get(&owner)
            .and_then(|member| member.url.clone());
        Some((owner, url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendezvous_spreads_buckets_and_moves_only_a_leavers_share() {
        let three = ["a", "b", "c"];
        let four = ["a", "b", "c", "d"];
        let mut counts: HashMap<&str, usize> = HashMap::new();
        let mut moved = 0;
        for bucket in 0..64 {
            let before = rightful_owner(bucket, &three).expect("owner");
            *counts.entry(before).or_default() += 1;
            let after = rightful_owner(bucket, &four).expect("owner");
            if after != before {
                // A joiner takes buckets only for itself.
                assert_eq!(after, "d");
                moved += 1;
            }
        }
        assert!(counts.values().all(|count| *count >= 10), "{counts:?}");
        assert!((8..=28).contains(&moved), "{moved}");
        assert_eq!(rightful_owner(3, &[]), None);
    }
}
