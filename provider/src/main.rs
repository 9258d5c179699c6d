//! `changes-provider`: see `changes-provider --help`.

use std::collections::HashMap;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use changes_provider::alarms::{AlarmsSource, Clock};
use changes_provider::api::{self, App};
use changes_provider::changes::ChangesSource;
use changes_provider::{
    Args, CouchStore, CouchStoreOptions, Keyring, Metrics, Node, Options, Sealer, Source,
    SqliteStore, Store, StoreError,
};
use clap::Parser as _;

fn main() {
    let args = Args::parse();
    let options = match Options::from_args(args, |name| std::env::var(name).ok()) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("changes-provider: {message}");
            std::process::exit(2);
        }
    };
    init_logs(options.args.log.as_deref());
    if let Err(error) = run(options) {
        tracing::error!("{error:#}");
        eprintln!("changes-provider: {error:#}");
        std::process::exit(1);
    }
}

/// Logs to stderr, filtered by `--log`, else `RUST_LOG`, else `info`.
fn init_logs(filter: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let filter = filter
        .map(str::to_owned)
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info".to_owned());
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

fn run(options: Options) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.workers)
        .enable_io()
        .enable_time()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(options))
}

/// The provider key: the given file, or the data directory's own (made on first start).
fn keyring(options: &Options) -> anyhow::Result<Keyring> {
    if let Some(path) = &options.args.key_file {
        return Keyring::read(path).map_err(anyhow::Error::msg);
    }
    let dir = options
        .args
        .data_dir
        .as_ref()
        .context("a fleet needs --key-file")?;
    let path = dir.join("provider.key");
    if !path.exists() {
        create_private_dir(dir)?;
        let text = Keyring::generate_file_text().context("making a provider key")?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        std::io::Write::write_all(&mut file, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        file.sync_all()
            .with_context(|| format!("writing {}", path.display()))?;
        tracing::info!(file = %path.display(), "made a provider key");
    }
    Keyring::read(&path).map_err(anyhow::Error::msg)
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}

async fn serve(options: Options) -> anyhow::Result<()> {
    let tuning = options.tuning.clone();
    let http = changes_provider::client(tuning.connects).context("setting up TLS")?;
    let metrics = Arc::new(Metrics::default());
    let clock = options.args.test_clock.unwrap_or_else(Clock::system);
    let sources: Vec<Arc<dyn Source>> = vec![
        Arc::new(ChangesSource::new(
            http.clone(),
            tuning.clone(),
            metrics.clone(),
        )),
        Arc::new(AlarmsSource::new(clock)),
    ];
    let secret_fields: HashMap<String, &'static [&'static str]> = sources
        .iter()
        .map(|source| (source.kind().to_owned(), source.secret_fields()))
        .collect();
    let sealer = Arc::new(Sealer::new(keyring(&options)?, secret_fields));
    let args = &options.args;
    let store: Arc<dyn Store> = match (&args.couchdb_url, &args.data_dir) {
        (Some(url), _) => {
            let store = CouchStore::open(
                http.clone(),
                CouchStoreOptions {
                    url: url.clone(),
                    database: args.couchdb_database.clone(),
                    username: args.couchdb_user.clone(),
                    password: options.couchdb_password.clone(),
                    buckets: args.buckets as u32,
                    heartbeat: (tuning.lease / 4).min(tuning.heartbeat),
                    retry: (tuning.lease / 8).max(std::time::Duration::from_millis(100)),
                },
                sealer,
            )
            .await
            .context("opening the fleet's store")?;
            Arc::new(Arc::new(store))
        }
        (None, Some(dir)) => Arc::new(SqliteStore::open(dir, sealer).context("opening the store")?),
        (None, None) => anyhow::bail!("give --data-dir or --couchdb-url"),
    };
    // Bound before the node starts, so that it can announce where it listens.
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let address = listener.local_addr().context("the listening address")?;
    let advertised = args
        .advertise_url
        .clone()
        .or_else(|| (!address.ip().is_unspecified()).then(|| format!("http://{address}")));
    let instance = args
        .instance_id
        .clone()
        .unwrap_or_else(|| format!("i-{:08x}", changes_provider::random_u64() as u32));
    let node = Node::new(
        instance,
        advertised,
        tuning,
        http,
        store.clone(),
        metrics,
        sources,
    );
    // A fleet instance waits for its registry rather than give up: it may start first.
    let mut wait = std::time::Duration::from_millis(500);
    let events = loop {
        match node.load().await {
            Ok(events) => break events,
            Err(StoreError::Unavailable(problem)) if !store.exclusive() => {
                tracing::warn!("loading the feeds failed, trying again: {problem}");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(10));
            }
            Err(error) => return Err(error).context("loading the feeds"),
        }
    };
    tracing::info!(
        instance = %node.id,
        feeds = node.ids().len(),
        store = %store.describe(),
        "started"
    );
    tokio::spawn(node.clone().flusher());
    tokio::spawn(node.clone().run_fleet(events));
    let app = Arc::new(App {
        node: node.clone(),
        secret: options.secret.clone(),
    });
    println!("listening on http://{address}");

    tokio::select! {
        () = api::serve(listener, app) => {}
        () = shutdown_signal() => {
            tracing::info!("stopping");
        }
    }
    node.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut terminate), Ok(mut interrupt)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the default action (exit) applies; wait forever here.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
}
