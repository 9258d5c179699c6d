//! The sandbox program (`sandbox serve`, as users run it) under load: 100 clients creating,
//! firing and deleting triggers while one more times a simple GET; then its memory after a
//! million fires (the records it keeps are bounded).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use sandbox::GUEST_AUTH_KEY;

use crate::child::rss_of;
use crate::kit::TempDir;
use crate::report::{Table, Verdict, mb, ms};
use crate::stats::Samples;

const SECTION: &str = "sandbox";
/// The p99 a simple GET must keep under the load.
const GET_P99_TARGET_MS: f64 = 20.0;
/// How often the probe asks.
const PROBE_EVERY: Duration = Duration::from_millis(10);

/// How big a run is.
#[derive(Debug, Clone, Copy)]
pub struct LoadPlan {
    pub clients: usize,
    pub seconds: f64,
    pub fires: u64,
}

/// A running `sandbox serve --port 0`, killed when dropped.
struct Program {
    child: Child,
    url: String,
    _dir: TempDir,
}

impl Program {
    fn start(binary: &Path, label: &str, state: bool) -> anyhow::Result<Program> {
        let dir = TempDir::new(label)?;
        let mut command = Command::new(binary);
        command.args(["serve", "--port", "0", "--fires-per-minute", "0"]);
        if state {
            command.arg("--state").arg(dir.path().join("state.db"));
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(dir.path().join("stderr.log"))?)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("sandbox stdout")?;
        let (lines, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut url = None;
        loop {
            match receiver.recv_timeout(Duration::from_secs(30)) {
                Ok(line) if url.is_none() => url = Some(line),
                Ok(line) if line.starts_with("ready") => break,
                Ok(_) => {}
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    bail!("the sandbox program did not get ready within 30 s");
                }
            }
        }
        Ok(Program {
            child,
            url: url.unwrap_or_default(),
            _dir: dir,
        })
    }

    fn rss(&self) -> (f64, f64) {
        rss_of(self.child.id()).map_or((f64::NAN, f64::NAN), |(rss, hwm)| (rss as f64, hwm as f64))
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .max_idle_connections_per_host(4)
        .build()
        .into()
}

/// Basic auth of the guest key.
fn auth() -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(GUEST_AUTH_KEY)
    )
}

/// The status of an answer, its body read to the end (so that the connection is kept for the
/// next request instead of closed).
fn status(answer: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Option<u16> {
    let mut answer = answer.ok()?;
    answer.body_mut().read_to_vec().ok()?;
    Some(answer.status().as_u16())
}

/// One client on its own connection: PUT a trigger, fire it (no rule: 204), DELETE it, again
/// and again. Clients are tasks on a small runtime rather than a thread each: a hundred busy
/// threads in this process would take the 2 cores from the server they load.
async fn churn(
    address: std::net::SocketAddr,
    client: usize,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    use http_body_util::{BodyExt as _, Full};
    use hyper_util::rt::TokioIo;
    let stream = tokio::net::TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Full<bytes::Bytes>>(TokioIo::new(stream))
            .await?;
    tokio::spawn(connection);
    let auth = auth();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let path = format!("/api/v1/namespaces/_/triggers/load-{client}-{}", n % 8);
        n += 1;
        let steps: [(&str, String, &'static [u8], u16); 3] = [
            ("PUT", format!("{path}?overwrite=true"), b"{}", 200),
            ("POST", path.clone(), b"{\"n\":1}", 204),
            ("DELETE", path, b"", 200),
        ];
        for (method, uri, body, expected) in steps {
            let request = hyper::Request::builder()
                .method(method)
                .uri(uri)
                .header("host", address.to_string())
                .header("authorization", &auth)
                .header("content-type", "application/json")
                .body(Full::new(bytes::Bytes::from_static(body)))?;
            let answer = sender.send_request(request).await?;
            let status = answer.status().as_u16();
            answer.into_body().collect().await?;
            if status == expected {
                done.fetch_add(1, Ordering::Relaxed);
            } else {
                failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    Ok(())
}

/// Figures of one run under load.
struct UnderLoad {
    probe: Samples,
    requests: u64,
    failed: u64,
    seconds: f64,
    rss_kib: f64,
}

fn under_load(program: &Program, plan: LoadPlan) -> anyhow::Result<UnderLoad> {
    let probe_agent = agent();
    let probe_url = format!("{}/api/v1/namespaces/_/triggers/probe", program.url);
    let put = status(
        probe_agent
            .put(&probe_url)
            .header("Authorization", &auth())
            .header("Content-Type", "application/json")
            .send(b"{}".as_slice()),
    );
    if put != Some(200) {
        bail!("creating the probe trigger answered {put:?}");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let address: std::net::SocketAddr = program
        .url
        .trim_start_matches("http://")
        .parse()
        .context("the sandbox's address")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-client")
        .enable_all()
        .build()?;
    let clients: Vec<_> = (0..plan.clients)
        .map(|client| {
            runtime.spawn(churn(
                address,
                client,
                stop.clone(),
                done.clone(),
                failed.clone(),
            ))
        })
        .collect();
    // Let every client get going before the probe starts counting.
    std::thread::sleep(Duration::from_secs(1));
    let began = Instant::now();
    let before = done.load(Ordering::Relaxed);
    let mut probe = Samples::default();
    let auth = auth();
    while began.elapsed().as_secs_f64() < plan.seconds {
        let sent = Instant::now();
        let answer = status(
            probe_agent
                .get(&probe_url)
                .header("Authorization", &auth)
                .call(),
        );
        match answer {
            Some(200) => probe.push_duration(sent.elapsed()),
            other => bail!("the probe GET answered {other:?}"),
        }
        std::thread::sleep(PROBE_EVERY.saturating_sub(sent.elapsed()));
    }
    let seconds = began.elapsed().as_secs_f64();
    let requests = done.load(Ordering::Relaxed) - before;
    let (rss_kib, _) = program.rss();
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        runtime
            .block_on(client)
            .map_err(|e| anyhow::anyhow!("a client task failed: {e}"))?
            .context("a client")?;
    }
    Ok(UnderLoad {
        probe,
        requests,
        failed: failed.load(Ordering::Relaxed),
        seconds,
        rss_kib,
    })
}

fn report_load(table: &mut Table, label: &str, plan: LoadPlan, run: &UnderLoad) {
    let p99 = run.probe.p99();
    let verdict = Verdict::of(p99 <= GET_P99_TARGET_MS && run.failed == 0);
    table.add(
        SECTION,
        format!(
            "GET a trigger while {} clients (connections) create, fire, delete triggers ({label})",
            plan.clients
        ),
        format!(
            "p50 {}, p99 {}, max {} (n={})",
            ms(run.probe.median()),
            ms(p99),
            ms(run.probe.max()),
            run.probe.len()
        ),
        format!("p99 <= {GET_P99_TARGET_MS} ms"),
        format!(
            "{:.0} requests/s answered, {} failed; RSS {} under load",
            run.requests as f64 / run.seconds,
            run.failed,
            mb(run.rss_kib)
        ),
        verdict,
    );
}

/// Fires `total` times over `threads` clients at 100 triggers without rules (each fire is
/// recorded); the resident memory after every tenth.
fn fire_many(program: &Program, total: u64, threads: u64) -> anyhow::Result<Vec<(u64, f64)>> {
    let setup = agent();
    let base = format!("{}/api/v1/namespaces/_/triggers", program.url);
    for t in 0..100 {
        let put = status(
            setup
                .put(format!("{base}/many-{t}?overwrite=true"))
                .header("Authorization", &auth())
                .header("Content-Type", "application/json")
                .send(b"{}".as_slice()),
        );
        if put != Some(200) {
            bail!("creating a trigger answered {put:?}");
        }
    }
    let fired = Arc::new(AtomicU64::new(0));
    let mut marks = Vec::new();
    let workers: Vec<_> = (0..threads)
        .map(|thread| {
            let (base, fired) = (base.clone(), fired.clone());
            std::thread::spawn(move || -> anyhow::Result<()> {
                let agent = agent();
                let auth = auth();
                for n in 0..total / threads {
                    let trigger = format!("{base}/many-{}", (thread * 7 + n) % 100);
                    let body = format!("{{\"n\":{n},\"from\":\"bench\"}}");
                    let answer = status(
                        agent
                            .post(&trigger)
                            .header("Authorization", &auth)
                            .header("Content-Type", "application/json")
                            .send(body.as_bytes()),
                    );
                    if answer != Some(204) {
                        bail!("a fire answered {answer:?}");
                    }
                    fired.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();
    let step = total / 10;
    let mut next = step;
    while next <= total {
        let now = fired.load(Ordering::Relaxed);
        if now >= next {
            marks.push((now, program.rss().0));
            next += step;
            continue;
        }
        if workers.iter().all(std::thread::JoinHandle::is_finished) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for worker in workers {
        worker
            .join()
            .map_err(|_| anyhow::anyhow!("a fire thread panicked"))??;
    }
    Ok(marks)
}

pub fn run(binary: &Path, plan: LoadPlan, table: &mut Table) -> anyhow::Result<()> {
    for (label, state) in [
        ("memory only", false),
        ("--state: every write fsynced", true),
    ] {
        let program = Program::start(binary, "sandbox-load", state)?;
        let run = under_load(&program, plan)?;
        report_load(table, label, plan, &run);
    }
    let program = Program::start(binary, "sandbox-fires", false)?;
    let (start_kib, _) = program.rss();
    let began = Instant::now();
    let marks = fire_many(&program, plan.fires, 8)?;
    let seconds = began.elapsed().as_secs_f64();
    let (end_kib, peak_kib) = program.rss();
    let tenth = marks.first().map_or(f64::NAN, |(_, kib)| *kib);
    let half = marks
        .get(marks.len().saturating_sub(1) / 2)
        .map_or(f64::NAN, |(_, kib)| *kib);
    table.add(
        SECTION,
        format!("RSS after {} fires (10,000 kept)", plan.fires),
        format!("{} (peak {})", mb(end_kib), mb(peak_kib)),
        "bounded",
        format!(
            "{} at start, {} after a tenth, {} after half; {:.0} fires/s over HTTP",
            mb(start_kib),
            mb(tenth),
            mb(half),
            plan.fires as f64 / seconds
        ),
        Verdict::of(end_kib <= tenth * 1.5),
    );
    Ok(())
}
