//! The provider's command line (clap), and what it reads from files and the environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use feedkit::Secret;

use crate::tuning::Tuning;

/// The environment variable holding the provider secret when there is no `--secret-file`.
pub const SECRET_ENV: &str = "CHANGES_PROVIDER_SECRET";
/// The environment variable holding the fleet database's password when there is no
/// `--couchdb-password-file`.
pub const COUCHDB_PASSWORD_ENV: &str = "CHANGES_PROVIDER_COUCHDB_PASSWORD";
const MIN_SECRET_CHARS: usize = 16;

/// The changes provider: keeps a continuous `_changes` connection per registered feed and fires
/// the feed's OpenWhisk trigger with every change. One instance on one machine keeps its state
/// in an embedded store (`--data-dir`); a fleet of instances shares a CouchDB database
/// (`--couchdb-url`), each running the feeds of the buckets it holds.
///
/// The provider secret is read from the file named by --secret-file, or else from the
/// environment variable CHANGES_PROVIDER_SECRET (never from the command line, where `ps` would
/// show it). It must be at least 16 characters; the feed action is given the same secret as its
/// package-bound parameter `providerSecret`. On start the provider prints one line
/// `listening on http://ADDR` to stdout; logs go to stderr.
#[derive(Debug, Clone, Parser)]
#[command(name = "changes-provider", version, about, long_about)]
pub struct Args {
    /// The embedded store's directory (created with mode 0700), for one instance.
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "couchdb_url",
        conflicts_with = "couchdb_url"
    )]
    pub data_dir: Option<PathBuf>,

    /// The fleet's store: a CouchDB server `http(s)://host[:port]` (credentials with
    /// --couchdb-user and the password file or variable, never in the URL).
    #[arg(long, value_name = "URL")]
    pub couchdb_url: Option<String>,

    /// The fleet's database on that server (created on first use).
    #[arg(long, value_name = "NAME", default_value = "changes_provider")]
    pub couchdb_database: String,

    /// The CouchDB user.
    #[arg(long, value_name = "USER")]
    pub couchdb_user: Option<String>,

    /// A file holding the CouchDB user's password; else CHANGES_PROVIDER_COUCHDB_PASSWORD.
    #[arg(long, value_name = "FILE")]
    pub couchdb_password_file: Option<PathBuf>,

    /// Buckets of a new fleet (the first instance writes it; the others take the fleet's).
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = positive)]
    pub buckets: u64,

    /// How long a bucket lease lasts without renewal: a dead instance's feeds move to another
    /// within about this time.
    #[arg(long, value_name = "MS", default_value_t = 15_000, value_parser = positive)]
    pub lease_ms: u64,

    /// This instance's id in the fleet [default: a random one per start].
    #[arg(long, value_name = "ID")]
    pub instance_id: Option<String>,

    /// Where the other instances reach this one's REST API (to read the status of the feeds it
    /// runs) [default: http://ADDR of --listen unless it is 0.0.0.0 or ::].
    #[arg(long, value_name = "URL")]
    pub advertise_url: Option<String>,

    /// The REST API's address; port 0 picks one.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// A file holding the provider secret (surrounding whitespace ignored).
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,

    /// The provider key file that seals secrets at rest: lines `ID BASE64-KEY`, the first one
    /// sealing [default with --data-dir: DIR/provider.key, created on first start].
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,

    /// Heartbeat asked of each database; a connection silent for 2 heartbeats + 5 s is dropped
    /// and reopened.
    #[arg(long, value_name = "MS", default_value_t = 10_000, value_parser = positive)]
    pub heartbeat_ms: u64,

    /// First wait before reconnecting or re-firing.
    #[arg(long, value_name = "MS", default_value_t = 250, value_parser = positive)]
    pub retry_min_ms: u64,

    /// Longest wait; the backoff doubles up to it (jittered).
    #[arg(long, value_name = "MS", default_value_t = 60_000, value_parser = positive)]
    pub retry_max_ms: u64,

    /// Longest one fire may take.
    #[arg(long, value_name = "MS", default_value_t = 30_000, value_parser = positive)]
    pub fire_timeout_ms: u64,

    /// Fires of one feed in flight at once (its position moves only past fires all taken).
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = positive)]
    pub fire_window: u64,

    /// How often moved positions are written to the store.
    #[arg(long, value_name = "MS", default_value_t = 250, value_parser = positive)]
    pub save_interval_ms: u64,

    /// How often (on average, spread) a connected feed asks its database whether it was deleted
    /// and created again (two small requests each time).
    #[arg(long, value_name = "MS", default_value_t = 300_000, value_parser = positive)]
    pub recheck_ms: u64,

    /// TCP connects in progress at once (to databases and OpenWhisk).
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = positive)]
    pub connects: u64,

    /// Async worker threads [default: the number of CPUs, at most 4].
    #[arg(long, value_name = "N", value_parser = positive)]
    pub workers: Option<u64>,

    /// Log filter (`error`, `warn`, `info`, `debug`, `trace`, or per module as
    /// `changes_provider=debug`); RUST_LOG when not given.
    #[arg(long, value_name = "FILTER")]
    pub log: Option<String>,

    /// Tests and benchmarks only: alarms are scheduled on a clock that read VIRTUAL_MS at the
    /// real time REAL_MS and runs RATE times as fast (`VIRTUAL_MS@REAL_MS[*RATE]`).
    #[arg(long, value_name = "CLOCK", hide = true, value_parser = test_clock)]
    pub test_clock: Option<crate::alarms::Clock>,
}

fn test_clock(text: &str) -> Result<crate::alarms::Clock, String> {
    crate::alarms::Clock::parse(text)
}

fn positive(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(value) if value > 0 => Ok(value),
        _ => Err(format!("expected a whole number > 0, found {text:?}")),
    }
}

/// Everything the provider runs with, checked.
#[derive(Debug, Clone)]
pub struct Options {
    pub args: Args,
    pub secret: Secret,
    /// The fleet database's password.
    pub couchdb_password: Option<Secret>,
    pub tuning: Tuning,
    pub workers: usize,
}

impl Options {
    /// Checks the parsed arguments and reads the secret; `env` looks up environment variables.
    pub fn from_args(args: Args, env: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let secret = match &args.secret_file {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|error| format!("--secret-file {}: {error}", path.display()))?,
            None => env(SECRET_ENV).ok_or_else(|| {
                format!("no provider secret: give --secret-file or set {SECRET_ENV}")
            })?,
        };
        let secret = secret.trim();
        if secret.chars().count() < MIN_SECRET_CHARS {
            return Err(format!(
                "the provider secret is too short: use at least {MIN_SECRET_CHARS} characters"
            ));
        }
        if args.retry_max_ms < args.retry_min_ms {
            return Err("--retry-max-ms must not be below --retry-min-ms".into());
        }
        let couchdb_password = match &args.couchdb_password_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|error| {
                        format!("--couchdb-password-file {}: {error}", path.display())
                    })?
                    .trim()
                    .to_owned(),
            ),
            None => env(COUCHDB_PASSWORD_ENV),
        }
        .map(Secret::new);
        if let Some(url) = &args.couchdb_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!(
                    "--couchdb-url {:?} is not an http(s) URL",
                    feedkit::redact_userinfo(url)
                ));
            }
            if url.contains('@') {
                return Err("--couchdb-url must not carry credentials: give --couchdb-user and the password file or variable".into());
            }
            if args.key_file.is_none() {
                return Err("a fleet needs --key-file: every instance seals and opens the feeds' secrets with the same provider key".into());
            }
        }
        if let Some(id) = &args.instance_id
            && (id.is_empty()
                || id.len() > 64
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')))
        {
            return Err(format!(
                "--instance-id {id:?}: use 1 to 64 letters, digits, `.`, `_` or `-`"
            ));
        }
        let tuning = Tuning {
            heartbeat: Duration::from_millis(args.heartbeat_ms),
            retry_min: Duration::from_millis(args.retry_min_ms),
            retry_max: Duration::from_millis(args.retry_max_ms),
            fire_timeout: Duration::from_millis(args.fire_timeout_ms),
            fire_window: args.fire_window as usize,
            save_interval: Duration::from_millis(args.save_interval_ms),
            lease: Duration::from_millis(args.lease_ms),
            recheck: Duration::from_millis(args.recheck_ms),
            connects: args.connects as usize,
        };
        let workers = args.workers.map(|n| n as usize).unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|count| count.get().min(4))
                .unwrap_or(2)
        });
        Ok(Self {
            secret: Secret::new(secret),
            couchdb_password,
            tuning,
            workers,
            args,
        })
    }

    /// Parses a command line (without the program name).
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let args = Args::try_parse_from(std::iter::once("changes-provider".to_owned()).chain(args))
            .map_err(|error| error.to_string())?;
        Self::from_args(args, env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|arg| arg.to_string()).collect()
    }

    #[test]
    fn parses_flags_and_reads_the_secret_from_the_environment() {
        let options = Options::parse(
            args(&[
                "--data-dir",
                "/tmp/d",
                "--listen=127.0.0.1:0",
                "--heartbeat-ms",
                "500",
                "--workers",
                "1",
                "--fire-window",
                "7",
            ]),
            |name| (name == SECRET_ENV).then(|| " a-long-enough-secret \n".to_owned()),
        )
        .expect("valid");
        assert_eq!(options.args.data_dir, Some(PathBuf::from("/tmp/d")));
        assert_eq!(options.args.listen.port(), 0);
        assert_eq!(options.tuning.heartbeat, Duration::from_millis(500));
        assert_eq!(options.tuning.fire_window, 7);
        assert_eq!(options.workers, 1);
        assert_eq!(options.secret.expose(), "a-long-enough-secret");
        assert!(!format!("{options:?}").contains("a-long-enough-secret"));
    }

    #[test]
    fn says_what_is_wrong() {
        let secret = |_: &str| Some("a-long-enough-secret".to_owned());
        let cases: [(&[&str], &str); 5] = [
            (&[], "--data-dir"),
            (&["--data-dir"], "--data-dir"),
            (
                &["--data-dir", "d", "--heartbeat-ms", "x"],
                "--heartbeat-ms",
            ),
            (&["--data-dir", "d", "--listen", "nowhere"], "--listen"),
            (&["--data-dir", "d", "--bogus"], "--bogus"),
        ];
        for (list, expected) in cases {
            let error = Options::parse(args(list), secret).expect_err(expected);
            assert!(error.contains(expected), "{error}");
        }
        let error = Options::parse(args(&["--data-dir", "d"]), |_| None).expect_err("no secret");
        assert!(error.contains(SECRET_ENV), "{error}");
        let error = Options::parse(args(&["--data-dir", "d"]), |_| Some("short".into()))
            .expect_err("short");
        assert!(
            error.contains("too short") && !error.contains("short\""),
            "{error}"
        );
        for (list, expected) in [
            (
                &["--data-dir", "d", "--couchdb-url", "http://db"][..],
                "cannot be used with",
            ),
            (&["--couchdb-url", "http://db"][..], "--key-file"),
            (
                &["--couchdb-url", "http://u:pw@db", "--key-file", "k"][..],
                "must not carry credentials",
            ),
            (
                &[
                    "--couchdb-url",
                    "http://db",
                    "--key-file",
                    "k",
                    "--instance-id",
                    "a b",
                ][..],
                "--instance-id",
            ),
        ] {
            let error = Options::parse(args(list), secret).expect_err(expected);
            assert!(error.contains(expected), "{error}");
            assert!(!error.contains("pw@"), "{error}");
        }
        let fleet = Options::parse(
            args(&[
                "--couchdb-url",
                "http://db:5984",
                "--key-file",
                "k",
                "--lease-ms",
                "2000",
            ]),
            |name| match name {
                SECRET_ENV => Some("a-long-enough-secret".into()),
                COUCHDB_PASSWORD_ENV => Some("couch-pw".into()),
                _ => None,
            },
        )
        .expect("a fleet instance");
        assert_eq!(fleet.tuning.lease, Duration::from_millis(2000));
        assert_eq!(
            fleet.couchdb_password.as_ref().map(Secret::expose),
            Some("couch-pw")
        );
    }
}
