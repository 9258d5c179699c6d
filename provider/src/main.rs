//! `changes-provider`: see `changes-provider --help`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use changes_provider::api::{self, App};
use changes_provider::{Options, Registry, Shared, Store};

fn main() {
    let options = match Options::parse(std::env::args().skip(1), |name| std::env::var(name).ok()) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    if let Err(error) = run(options) {
        eprintln!("changes-provider: {error:#}");
        std::process::exit(1);
    }
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

async fn serve(options: Options) -> anyhow::Result<()> {
    let (store, feeds) = Store::open(&options.data_dir).context("opening the store")?;
    eprintln!(
        "changes-provider: {} feed(s) in {}",
        feeds.len(),
        store.path().display()
    );
    let http = changes_provider::client().context("setting up TLS")?;
    let shared = Arc::new(Shared::new(http, store, options.tuning.clone()));
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("listening on {}", options.listen))?;
    let address = listener.local_addr().context("the listening address")?;
    let app = Arc::new(App {
        registry: Registry::new(shared.clone()),
        secret: options.secret.clone(),
    });
    app.registry.start_all();
    println!("listening on http://{address}");

    // Positions are written at once and flushed to disk every second (see the store's docs).
    let flusher = shared.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if let Err(error) = flusher.store.sync() {
                eprintln!("changes-provider: flushing the store failed: {error}");
            }
        }
    });

    tokio::select! {
        () = api::serve(listener, app) => {}
        () = shutdown_signal() => {
            eprintln!("changes-provider: stopping");
        }
    }
    shared.store.sync().context("flushing the store")?;
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
