//! The provider's command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use feedkit::Secret;

use crate::runner::Tuning;

pub const USAGE: &str = "\
usage: changes-provider --data-dir DIR [options]

The provider secret is read from the file named by --secret-file, or else from the environment
variable CHANGES_PROVIDER_SECRET (never from the command line, where `ps` would show it). It must
be at least 16 characters; the feed action is given the same secret as its package-bound
parameter `providerSecret`.

options:
  --data-dir DIR         where the store lives (created with mode 0700)
  --listen ADDR          address of the REST API [default: 127.0.0.1:8080]; port 0 picks one
  --secret-file FILE     file holding the provider secret (surrounding whitespace ignored)
  --heartbeat-ms N       heartbeat asked of the databases [default: 10000]
  --retry-min-ms N       first wait before reconnecting or re-firing [default: 250]
  --retry-max-ms N       longest wait, the backoff doubles up to it [default: 60000]
  --fire-timeout-ms N    longest a fire may take [default: 30000]
  --workers N            async worker threads [default: the number of CPUs, at most 4]

On start it prints one line `listening on http://ADDR` to stdout.";

/// The environment variable holding the provider secret when there is no `--secret-file`.
pub const SECRET_ENV: &str = "CHANGES_PROVIDER_SECRET";
const MIN_SECRET_CHARS: usize = 16;

#[derive(Debug, Clone)]
pub struct Options {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub secret: Secret,
    pub tuning: Tuning,
    pub workers: usize,
}

impl Options {
    /// Parses the arguments (without the program name); `env` looks up environment variables.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let mut data_dir = None;
        let mut listen: SocketAddr = ([127, 0, 0, 1], 8080).into();
        let mut secret_file = None;
        let mut tuning = Tuning::default();
        let mut workers = std::thread::available_parallelism()
            .map(|count| count.get().min(4))
            .unwrap_or(2);
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let (flag, inline) = match flag.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => {
                    (flag.to_owned(), Some(value.to_owned()))
                }
                _ => (flag, None),
            };
            if flag == "--help" || flag == "-h" {
                return Err(USAGE.to_owned());
            }
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("{flag} needs a value"))
            };
            let millis = |text: String| -> Result<Duration, String> {
                text.parse::<u64>()
                    .ok()
                    .filter(|millis| *millis > 0)
                    .map(Duration::from_millis)
                    .ok_or_else(|| {
                        format!("{flag}: expected a number of milliseconds > 0, found {text:?}")
                    })
            };
            match flag.as_str() {
                "--data-dir" => data_dir = Some(PathBuf::from(value()?)),
                "--listen" => {
                    let text = value()?;
                    listen = text.parse().map_err(|_| {
                        format!("--listen: {text:?} is not an address like 127.0.0.1:8080")
                    })?;
                }
                "--secret-file" => secret_file = Some(PathBuf::from(value()?)),
                "--heartbeat-ms" => tuning.heartbeat = millis(value()?)?,
                "--retry-min-ms" => tuning.retry_min = millis(value()?)?,
                "--retry-max-ms" => tuning.retry_max = millis(value()?)?,
                "--fire-timeout-ms" => tuning.fire_timeout = millis(value()?)?,
                "--workers" => {
                    let text = value()?;
                    workers = text
                        .parse()
                        .ok()
                        .filter(|count| *count > 0)
                        .ok_or_else(|| {
                            format!("--workers: expected a number > 0, found {text:?}")
                        })?;
                }
                other => return Err(format!("unknown option {other:?}\n\n{USAGE}")),
            }
        }
        let data_dir = data_dir.ok_or_else(|| format!("--data-dir is required\n\n{USAGE}"))?;
        let secret = match secret_file {
            Some(path) => std::fs::read_to_string(&path)
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
        if tuning.retry_max < tuning.retry_min {
            return Err("--retry-max-ms must not be below --retry-min-ms".into());
        }
        Ok(Self {
            data_dir,
            listen,
            secret: Secret::new(secret),
            tuning,
            workers,
        })
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
            ]),
            |name| (name == SECRET_ENV).then(|| " a-long-enough-secret \n".to_owned()),
        )
        .expect("valid");
        assert_eq!(options.data_dir, PathBuf::from("/tmp/d"));
        assert_eq!(options.listen.port(), 0);
        assert_eq!(options.tuning.heartbeat, Duration::from_millis(500));
        assert_eq!(options.workers, 1);
        assert_eq!(options.secret.expose(), "a-long-enough-secret");
        assert!(!format!("{options:?}").contains("a-long-enough-secret"));
    }

    #[test]
    fn says_what_is_wrong() {
        let secret = |_: &str| Some("a-long-enough-secret".to_owned());
        let cases: [(&[&str], &str); 5] = [
            (&[], "--data-dir is required"),
            (&["--data-dir"], "--data-dir needs a value"),
            (
                &["--data-dir", "d", "--heartbeat-ms", "x"],
                "--heartbeat-ms: expected",
            ),
            (
                &["--data-dir", "d", "--listen", "nowhere"],
                "--listen: \"nowhere\"",
            ),
            (
                &["--data-dir", "d", "--bogus"],
                "unknown option \"--bogus\"",
            ),
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
    }
}
