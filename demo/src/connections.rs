//! The Connections pattern in the demo: a CouchDB-compatible database (pouchdb-server, in
//! memory), the kit's provider service, and changes-feed telling the provider what to watch.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

use crate::provider::{Provider, Running};
use crate::world::{World, say, step};

const DATABASE: &str = "demo-orders";
/// The npm packages folder of the CouchDB-compatible server, and the server in it.
const PACKAGES: &str = "provider/testdb";
const POUCHDB: &str = "node_modules/pouchdb-server/bin/pouchdb-server";

pub struct Connections {
    _database: Running,
    database_url: String,
    provider_url: String,
    dir: PathBuf,
}

impl Drop for Connections {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Connections {
    /// Starts the database for `provider` to watch; `Ok(Err(why))` when this machine cannot
    /// run it.
    pub fn start(
        root: &Path,
        provider: &Provider,
    ) -> Result<std::result::Result<Connections, String>> {
        // pouchdb-server, from npm: installed in provider/testdb on first use.
        let packages = root.join(PACKAGES);
        if !npm_packages::is_installed(&packages) {
            say("installing pouchdb-server (npm ci in provider/testdb, once; about a minute)");
        }
        match npm_packages::install(&packages) {
            Ok(()) => {}
            Err(npm_packages::InstallError::NodeMissing(why)) => {
                return Ok(Err(format!(
                    "{why}, so there is no CouchDB-compatible server"
                )));
            }
            Err(error) => return Ok(Err(error.to_string())),
        }
        let pouchdb = packages.join(POUCHDB);
        let dir = std::env::temp_dir().join(format!("feedkit-demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;

        let port = free_port()?;
        let database = Running(
            Command::new("node")
                .arg(&pouchdb)
                .args([
                    "--in-memory",
                    "--no-stdout-logs",
                    "--host",
                    "127.0.0.1",
                    "--port",
                ])
                .arg(port.to_string())
                .arg("--config")
                .arg(dir.join("pouchdb-config.json"))
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting pouchdb-server")?,
        );
        let database_url = format!("http://127.0.0.1:{port}");
        wait_until("pouchdb-server to answer", || {
            ureq::get(&database_url).call().is_ok()
        })?;

        Ok(Ok(Connections {
            _database: database,
            database_url,
            provider_url: provider.url.clone(),
            dir,
        }))
    }

    pub fn run(&self, world: &World, shown: &mut Vec<String>) -> Result<()> {
        step("Connections: changes-feed and the changes provider");
        say(&format!(
            "pouchdb-server (CouchDB API) at {}; the changes provider at {}",
            self.database_url, self.provider_url
        ));
        let db = format!("{}/{DATABASE}", self.database_url);
        ureq::put(&db)
            .send_empty()
            .context("creating the database")?;
        world.create_trigger(
            "orders",
            "feedkit/changes-feed",
            json!({"dbUrl": self.database_url, "dbName": DATABASE, "includeDocs": true}),
            &format!("-p dbUrl <local> -p dbName {DATABASE} -p includeDocs true"),
        )?;
        world.create_rule("show-orders", "orders")?;

        let orders = [("o-1", "3 apples"), ("o-2", "1 pear"), ("o-3", "12 plums")];
        for (id, what) in orders {
            say(&format!("a document is written: {id} ({what})"));
            ureq::put(&format!("{db}/{id}"))
                .send_json(json!({"what": what}))
                .with_context(|| format!("writing {id}"))?;
        }
        let changed = |event: &Value| event["dbname"] == DATABASE;
        let events = world.wait_for_shown(changed, orders.len())?;
        for event in &events {
            say(&format!(
                "show-event ran with: change {} of {} ({})",
                event["seq"]
                    .as_str()
                    .map_or_else(|| event["seq"].to_string(), short),
                event["id"].as_str().unwrap_or("?"),
                event["doc"]["what"].as_str().unwrap_or("?")
            ));
        }

        let read = world.feed("feedkit/changes-feed", "READ", "orders", json!({}))?;
        say(&format!(
            "wsk trigger get orders (READ): state={} connected={} changes fired={}",
            read["status"]["state"], read["status"]["connected"], read["status"]["changesFired"]
        ));
        world.delete_trigger("orders", "feedkit/changes-feed")?;
        world.delete_rule("show-orders")?;
        say("wsk trigger delete orders: the provider no longer watches the database");
        shown.push(format!(
            "Connections: the provider kept a _changes connection open and fired the trigger with each of {} changes",
            orders.len()
        ));
        Ok(())
    }
}

fn short(text: &str) -> String {
    text.chars().take(12).collect()
}

pub(crate) fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub(crate) fn wait_until(what: &str, mut ready: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}
