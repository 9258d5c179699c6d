//! The provider as a fleet: several `changes-provider` processes sharing a registry database on
//! pouchdb-server (which is also the watched database), firing into a sandbox, with short leases
//! so that failovers take seconds. Instances are killed (SIGKILL), paused (SIGSTOP/SIGCONT),
//! stopped cleanly (SIGTERM) and cut off from the registry; every test checks what the triggers
//! were fired with.
//!
//! Without node these tests say so and skip.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sandbox::Sandbox;
use serde_json::{Value, json};

use crate::connections::{
    Db, Outage, ProviderProcess, create_trigger, feed, fired_ids, has_all, http, names, ok,
    sandbox, wait_until,
};
use crate::couchdb::PouchDb;
use crate::support::TempDir;

/// The fleet's provider key (32 bytes): every instance seals and opens with it.
const KEY_FILE: &str = "k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n";
const REGISTRY: &str = "fleet_registry";

/// A fleet of instances, the database server, the sandbox.
struct Fleet {
    pouch: PouchDb,
    sb: Sandbox,
    dir: TempDir,
    /// Where the instances find the registry (the server, or a forwarder in front of it).
    registry_url: String,
    lease_ms: u64,
    /// `None` once killed or stopped.
    instances: Vec<Option<ProviderProcess>>,
}

impl Fleet {
    fn start(count: usize, lease_ms: u64) -> Option<Self> {
        let pouch = PouchDb::start()?;
        let registry_url = pouch.url();
        Some(Self::with_registry(pouch, registry_url, count, lease_ms))
    }

    fn with_registry(pouch: PouchDb, registry_url: String, count: usize, lease_ms: u64) -> Self {
        let dir = TempDir::new("fleet");
        std::fs::write(dir.0.join("provider.key"), KEY_FILE).expect("key file");
        let mut fleet = Self {
            pouch,
            sb: sandbox(),
            dir,
            registry_url,
            lease_ms,
            instances: Vec::new(),
        };
        for _ in 0..count {
            fleet.add();
        }
        fleet
    }

    /// Starts one more instance; its index.
    fn add(&mut self) -> usize {
        let index = self.instances.len();
        let instance = ProviderProcess::fleet(
            &self.registry_url,
            REGISTRY,
            &self.dir.0.join("provider.key"),
            self.lease_ms,
            &self.dir.0.join(format!("instance-{index}.log")),
            &["--instance-id", &format!("p{index}"), "--recheck-ms", "500"],
        );
        self.instances.push(Some(instance));
        index
    }

    fn instance(&self, index: usize) -> &ProviderProcess {
        self.instances[index].as_ref().expect("a running instance")
    }

    fn live(&self) -> impl Iterator<Item = &ProviderProcess> {
        self.instances.iter().flatten()
    }

    fn kill(&mut self, index: usize) {
        if let Some(instance) = self.instances[index].take() {
            instance.kill();
        }
    }

    fn stop(&mut self, index: usize) {
        if let Some(instance) = self.instances[index].take() {
            instance.stop();
        }
    }

    /// Every instance's log, for failure messages.
    fn logs(&self) -> String {
        let mut text = String::new();
        for index in 0..self.instances.len() {
            let path = self.dir.0.join(format!("instance-{index}.log"));
            text.push_str(&format!(
                "--- instance p{index} ---\n{}\n",
                std::fs::read_to_string(path).unwrap_or_default()
            ));
        }
        text
    }

    /// Registers a feed of `db` for a new trigger through instance `via`.
    fn register(&self, trigger: &str, db: &Db, via: usize) {
        create_trigger(&self.sb, trigger);
        ok(feed(
            &self.sb,
            &self.instance(via).url,
            "CREATE",
            trigger,
            json!({"dbUrl": db.url, "dbName": db.name}),
        ));
    }

    /// Feeds running per instance, by `/metrics`.
    fn running(&self) -> usize {
        self.live()
            .map(|instance| instance.metric("provider_feeds_running") as usize)
            .sum()
    }

    fn buckets_held(&self) -> usize {
        self.live()
            .map(|instance| instance.metric("provider_buckets_held") as usize)
            .sum()
    }

    /// Waits until every one of `feeds` runs on a live instance and every bucket is held.
    /// Every feed runs and every bucket is held by its rightful owner among the live instances
    /// (a sum of 16 alone can also be seen in the middle of a handover).
    fn wait_settled(&self, feeds: usize) {
        let ids: Vec<String> = (0..self.instances.len())
            .filter(|index| self.instances[*index].is_some())
            .map(|index| format!("p{index}"))
            .collect();
        let members: Vec<&str> = ids.iter().map(String::as_str).collect();
        let share = |id: &str| {
            (0..16)
                .filter(|bucket| changes_provider::rightful_owner(*bucket, &members) == Some(id))
                .count() as f64
        };
        wait_until(
            "every feed to run and every bucket to be held by its rightful owner",
            || {
                self.running() == feeds
                    && self.buckets_held() == 16
                    && (0..self.instances.len()).all(|index| {
                        self.instances[index].as_ref().is_none_or(|instance| {
                            instance.metric("provider_buckets_held") == share(&format!("p{index}"))
                        })
                    })
            },
            || self.logs(),
        );
    }

    fn wait_fired(&self, what: &str, triggers: &[String], ids: &[String]) {
        wait_until(
            what,
            || {
                triggers
                    .iter()
                    .all(|trigger| has_all(&fired_ids(&self.sb, trigger), ids))
            },
            || self.logs(),
        );
    }

    /// The registry's bucket documents.
    fn buckets(&self) -> Vec<Value> {
        let (status, body) = http(
            "GET",
            &format!(
                "{}/{REGISTRY}/_all_docs?include_docs=true&conflicts=true&startkey=%22bucket:%22&endkey=%22bucket:~%22",
                self.pouch.url()
            ),
            None,
            &[],
        );
        assert_eq!(status, 200, "{body}");
        body["rows"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|row| row["doc"].clone())
            .collect()
    }
}

/// How many times each id was fired (successfully) at `trigger`.
fn fire_counts(sb: &Sandbox, trigger: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for fire in sb.fires("guest", trigger) {
        if (200..300).contains(&fire.status)
            && let Some(id) = fire.payload["id"].as_str()
        {
            *counts.entry(id.to_owned()).or_default() += 1;
        }
    }
    counts
}

fn triggers(prefix: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|index| format!("{prefix}-{index}"))
        .collect()
}

#[test]
fn a_killed_instances_feeds_move_on_and_a_new_instance_takes_its_share_losing_nothing() {
    let Some(mut fleet) = Fleet::start(3, 2_000) else {
        return;
    };
    let db = Db::create(&fleet.pouch.url(), "orders", None);
    let triggers = triggers("orders", 6);
    for (index, trigger) in triggers.iter().enumerate() {
        fleet.register(trigger, &db, index % 3);
    }
    fleet.wait_settled(triggers.len());

    // Documents are written while the instance running the most feeds is killed.
    let victim = (0..3)
        .max_by_key(|index| fleet.instance(*index).metric("provider_feeds_running") as u64)
        .expect("an instance");
    let before = names("before-kill", 60);
    let after = names("after-kill", 60);
    let writer = {
        let (db, before, after) = (db.clone(), before.clone(), after.clone());
        std::thread::spawn(move || {
            for id in before.iter().chain(&after) {
                db.put(id);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    wait_until(
        "some documents to fire before the kill",
        || fired_ids(&fleet.sb, &triggers[0]).len() >= 5,
        || fleet.logs(),
    );
    fleet.kill(victim);
    writer.join().expect("writer");
    // Every change fires at least once: the victim's feeds from another instance once its
    // lease ran out (the documents written after the kill can only fire from there).
    fleet.wait_fired(
        "every change to fire on every feed after the kill",
        &triggers,
        &[before.clone(), after.clone()].concat(),
    );
    fleet.wait_settled(triggers.len());
    for instance in fleet.live() {
        assert_eq!(instance.metric("provider_members"), 2.0, "{}", fleet.logs());
    }

    // A fourth instance joins: it takes its share of the buckets, and nothing is lost.
    let joiner = fleet.add();
    wait_until(
        "the new instance to take its share",
        || {
            fleet.instance(joiner).metric("provider_buckets_held") >= 1.0
                && fleet.buckets_held() == 16
                && fleet.running() == triggers.len()
        },
        || fleet.logs(),
    );
    let later = names("after-join", 30);
    for id in &later {
        db.put(id);
    }
    fleet.wait_fired("every change after the join to fire", &triggers, &later);
    // Every feed's status names the live instance that runs it, whichever instance is asked.
    let owners: BTreeSet<String> = fleet
        .live()
        .map(|instance| {
            let health = instance.health();
            health["instance"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    for trigger in &triggers {
        let read = ok(feed(
            &fleet.sb,
            &fleet.instance(joiner).url,
            "READ",
            trigger,
            json!({}),
        ));
        let owner = read["status"]["owner"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(owners.contains(&owner), "{read}\n{owners:?}");
        assert_eq!(read["status"]["state"], "active");
        // The live part comes from the instance that runs the feed.
        assert!(read["status"]["lastFire"]["at"].is_number(), "{read}");
        assert_eq!(read["status"]["connected"], true, "{read}");
    }
    // The killed instance left its member document behind; it is forgotten after ten leases.
    let member = format!("{}/{REGISTRY}/member:p{victim}", fleet.pouch.url());
    wait_until(
        "the killed instance's member document to be removed",
        || http("GET", &member, None, &[]).0 == 404,
        || fleet.logs(),
    );
}

#[test]
fn a_clean_stop_hands_its_feeds_over_at_once() {
    // A lease far longer than the test's patience: only a handover can move the feeds in time.
    let Some(mut fleet) = Fleet::start(2, 120_000) else {
        return;
    };
    let db = Db::create(&fleet.pouch.url(), "events", None);
    let triggers = triggers("events", 4);
    for trigger in &triggers {
        fleet.register(trigger, &db, 0);
    }
    fleet.wait_settled(triggers.len());
    assert!(
        fleet.instance(0).metric("provider_buckets_held") >= 1.0
            && fleet.instance(1).metric("provider_buckets_held") >= 1.0,
        "both instances hold buckets\n{}",
        fleet.logs()
    );
    let first = names("first", 10);
    for id in &first {
        db.put(id);
    }
    fleet.wait_fired("the first changes to fire", &triggers, &first);

    // The instance running more of the feeds stops.
    let (leaving, staying) = if fleet.instance(0).metric("provider_feeds_running") >= 2.0 {
        (0, 1)
    } else {
        (1, 0)
    };
    fleet.stop(leaving);
    let second = names("second", 10);
    for id in &second {
        db.put(id);
    }
    fleet.wait_fired(
        "the changes after the stop to fire from the other instance",
        &triggers,
        &second,
    );
    // Every bucket moves (those without feeds may come a moment after the feeds' buckets).
    wait_until(
        "the other instance to hold every bucket",
        || fleet.instance(staying).metric("provider_buckets_held") == 16.0,
        || fleet.logs(),
    );
    // Handed over with its positions: no change of the first batch fired twice.
    for trigger in &triggers {
        for (id, count) in fire_counts(&fleet.sb, trigger) {
            assert_eq!(
                count,
                1,
                "{trigger} fired {id} {count} times\n{}",
                fleet.logs()
            );
        }
    }
}

/// Samples every bucket's positions until stopped; notes any position that moved back.
fn watch_positions(fleet: &Fleet, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<String>> {
    let url = format!(
        "{}/{REGISTRY}/_all_docs?include_docs=true&startkey=%22bucket:%22&endkey=%22bucket:~%22",
        fleet.pouch.url()
    );
    std::thread::spawn(move || {
        let mut last: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        let mut backwards = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            let (_, body) = http("GET", &url, None, &[]);
            for row in body["rows"].as_array().into_iter().flatten() {
                let positions = row["doc"]["positions"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                for (feed, saved) in positions {
                    let reset = saved["reset"].as_u64().unwrap_or(0);
                    let Some(position) = saved["position"].as_u64() else {
                        continue;
                    };
                    if let Some((seen_reset, seen)) = last.get(&feed)
                        && *seen_reset == reset
                        && position < *seen
                    {
                        backwards.push(format!("{feed}: {seen} -> {position}"));
                    }
                    last.insert(feed, (reset, position));
                }
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        backwards
    })
}

#[test]
fn a_paused_instance_that_wakes_after_its_lease_fires_nothing_more_and_moves_no_position_back() {
    let Some(fleet) = Fleet::start(2, 2_000) else {
        return;
    };
    let db = Db::create(&fleet.pouch.url(), "stock", None);
    let triggers = triggers("stock", 6);
    for trigger in &triggers {
        fleet.register(trigger, &db, 1);
    }
    fleet.wait_settled(triggers.len());
    // The instance that runs more of the feeds sleeps; the other takes over.
    let (asleep_index, awake_index) = if fleet.instance(0).metric("provider_feeds_running") >= 3.0 {
        (0, 1)
    } else {
        (1, 0)
    };
    let sleeper = fleet.instance(asleep_index);
    assert!(
        sleeper.metric("provider_feeds_running") >= 3.0,
        "the instance to pause runs feeds\n{}",
        fleet.logs()
    );
    let warm = names("warm", 5);
    for id in &warm {
        db.put(id);
    }
    fleet.wait_fired("the first changes to fire", &triggers, &warm);

    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_positions(&fleet, stop.clone());
    sleeper.signal("STOP");
    // Written while it sleeps: its open feeds receive them too, but only the instance that
    // took its buckets over may fire them.
    let asleep = names("asleep", 10);
    for id in &asleep {
        db.put(id);
    }
    fleet.wait_fired(
        "the other instance to take over and fire",
        &triggers,
        &asleep,
    );
    wait_until(
        "the other instance to hold every bucket",
        || fleet.instance(awake_index).metric("provider_buckets_held") == 16.0,
        || fleet.logs(),
    );
    sleeper.signal("CONT");
    wait_until(
        "the woken instance to find its buckets lost",
        || sleeper.metric("provider_buckets_lost_total") >= 1.0,
        || fleet.logs(),
    );
    let awake = names("awake", 10);
    for id in &awake {
        db.put(id);
    }
    fleet.wait_fired("the changes after waking to fire", &triggers, &awake);
    fleet.wait_settled(triggers.len());
    stop.store(true, Ordering::SeqCst);
    let backwards = watcher.join().expect("watcher");
    assert!(
        backwards.is_empty(),
        "positions moved back: {backwards:?}\n{}",
        fleet.logs()
    );
    // What was written while it slept fired once: the woken instance fired none of it.
    for trigger in &triggers {
        let counts = fire_counts(&fleet.sb, trigger);
        for id in &asleep {
            assert_eq!(
                counts.get(id),
                Some(&1),
                "{trigger}: {id} fired {:?} times\n{}",
                counts.get(id),
                fleet.logs()
            );
        }
    }
}

#[test]
fn instances_cut_off_from_the_registry_fire_until_their_leases_run_out_then_resume() {
    let Some(pouch) = PouchDb::start() else {
        return;
    };
    let mut cut = Outage::new(pouch.port);
    let registry_url = cut.url();
    let fleet = Fleet::with_registry(pouch, registry_url, 2, 8_000);
    let db = Db::create(&fleet.pouch.url(), "ledger", None);
    let triggers = triggers("ledger", 4);
    for trigger in &triggers {
        fleet.register(trigger, &db, 0);
    }
    fleet.wait_settled(triggers.len());

    cut.down();
    // Within the leases the instances keep firing what they hold.
    let during = names("during", 5);
    for id in &during {
        db.put(id);
    }
    fleet.wait_fired(
        "the changes written right after the cut to fire",
        &triggers,
        &during,
    );
    // Then their leases run out and they stop.
    wait_until(
        "both instances to give up their buckets",
        || fleet.buckets_held() == 0 && fleet.running() == 0,
        || fleet.logs(),
    );
    let unowned = names("unowned", 5);
    for id in &unowned {
        db.put(id);
    }
    std::thread::sleep(Duration::from_millis(1500));
    for trigger in &triggers {
        let fired = fired_ids(&fleet.sb, trigger);
        assert!(
            unowned.iter().all(|id| !fired.contains(id)),
            "{trigger} fired without a lease\n{}",
            fleet.logs()
        );
    }
    // The registry is back: the buckets are taken again and what was missed fires.
    cut.up();
    fleet.wait_fired(
        "the changes made while nobody held a lease to fire",
        &triggers,
        &unowned,
    );
    fleet.wait_settled(triggers.len());
}

/// Writes a sibling revision of a registry document with `new_edits: false`, as two CouchDB
/// nodes accepting concurrent writes leave it: same generation, a hash that wins.
fn conflict(fleet: &Fleet, id: &str, change: impl FnOnce(&mut Value)) {
    let url = format!("{}/{REGISTRY}", fleet.pouch.url());
    let (status, mut doc) = http("GET", &format!("{url}/{}", encode(id)), None, &[]);
    assert_eq!(status, 200, "{doc}");
    let generation = doc["_rev"]
        .as_str()
        .and_then(|rev| rev.split('-').next())
        .unwrap_or("1")
        .to_owned();
    change(&mut doc);
    doc["_rev"] = Value::from(format!("{generation}-ffffffffffffffffffffffffffffffff"));
    let (status, body) = http(
        "POST",
        &format!("{url}/_bulk_docs"),
        Some(&json!({"new_edits": false, "docs": [doc]})),
        &[],
    );
    assert!((200..300).contains(&status), "{body}");
}

fn encode(id: &str) -> String {
    id.replace('%', "%25")
        .replace(':', "%3A")
        .replace(' ', "%20")
}

fn conflicts_of(fleet: &Fleet, id: &str) -> usize {
    let (_, doc) = http(
        "GET",
        &format!(
            "{}/{REGISTRY}/{}?conflicts=true",
            fleet.pouch.url(),
            encode(id)
        ),
        None,
        &[],
    );
    doc["_conflicts"].as_array().map_or(0, Vec::len)
}

#[test]
fn conflicted_registry_documents_are_resolved_and_a_lost_lease_is_given_up() {
    let Some(fleet) = Fleet::start(2, 2_000) else {
        return;
    };
    let db = Db::create(&fleet.pouch.url(), "parcels", None);
    let triggers = triggers("parcels", 2);
    for trigger in &triggers {
        fleet.register(trigger, &db, 0);
    }
    fleet.wait_settled(triggers.len());
    let first = names("first", 3);
    for id in &first {
        db.put(id);
    }
    fleet.wait_fired("the first changes to fire", &triggers, &first);

    // A feed document with a conflicting (winning) revision that pauses it: the instances
    // delete the losing revision and follow the winner.
    conflict(&fleet, "feed:guest:parcels-0", |doc| {
        doc["state"] = Value::from("paused");
    });
    wait_until(
        "the feed's conflict to be resolved and the feed paused",
        || {
            conflicts_of(&fleet, "feed:guest:parcels-0") == 0
                && ok(feed(
                    &fleet.sb,
                    &fleet.instance(1).url,
                    "READ",
                    "parcels-0",
                    json!({}),
                ))["status"]["state"]
                    == "paused"
        },
        || fleet.logs(),
    );

    // The bucket of the other feed gets a conflicting revision naming another holder: its
    // holder gives the bucket up, the conflict is resolved, and the feed runs again.
    let mut found = None;
    wait_until(
        "the feed's position to be saved in its bucket",
        || {
            found = fleet.buckets().into_iter().find(|doc| {
                doc["positions"].get("/guest/parcels-1").is_some() && doc["owner"].is_string()
            });
            found.is_some()
        },
        || fleet.logs(),
    );
    let bucket = found.expect("the feed's bucket");
    let bucket_id = bucket["_id"].as_str().expect("id").to_owned();
    let holder = bucket["owner"].as_str().expect("held").to_owned();
    let holder_index: usize = holder.trim_start_matches('p').parse().expect("p<index>");
    let lost_before = fleet
        .instance(holder_index)
        .metric("provider_buckets_lost_total");
    conflict(&fleet, &bucket_id, |doc| {
        doc["owner"] = Value::from("intruder");
        doc["epoch"] = Value::from(doc["epoch"].as_u64().unwrap_or(0) + 1);
    });
    wait_until(
        "the holder to give the conflicted bucket up and the conflict to be resolved",
        || {
            fleet
                .instance(holder_index)
                .metric("provider_buckets_lost_total")
                > lost_before
                && conflicts_of(&fleet, &bucket_id) == 0
        },
        || fleet.logs(),
    );
    let later = names("later", 3);
    for id in &later {
        db.put(id);
    }
    fleet.wait_fired(
        "the feed to fire again once its bucket is taken back",
        &triggers[1..],
        &later,
    );
    let paused = fired_ids(&fleet.sb, "parcels-0");
    assert!(later.iter().all(|id| !paused.contains(id)), "{paused:?}");
}
