//! Running one activation as a process, as the native runtime does, and measuring it.
//!
//! Two ways, because one run cannot give both figures right:
//!
//! - [`Activation::timed`]: wall time from just before the spawn until the child is reaped, with
//!   nothing else attached (std spawns it with `posix_spawn`, as a runtime would).
//! - [`Activation::traced`]: peak resident memory. The child's `ru_maxrss` from `wait4` is wrong
//!   for this: Linux folds the *old* address space's high-water mark into it at `execve`, and a
//!   `posix_spawn`ed (vfork) child's old address space is the parent's, a forked one a copy of
//!   it, so `ru_maxrss` reports at least this benchmark's own RSS. Polling `/proc/<pid>/status`
//!   while it runs misses the end. So the child is started under `PTRACE_TRACEME`, stopped by
//!   `PTRACE_O_TRACEEXIT` when it exits but before its memory is released, and `VmHWM` (the
//!   high-water mark of its own address space, from `execve` on) is read then.
//!
//! This is the one module that needs `unsafe` (wait4, ptrace, pidfd, poll): every block is a
//! plain system call on a process this module started.
#![allow(unsafe_code)]

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The dockerskeleton proxy passes the parameters as argv[1] too, unless they are longer.
const ARGV_LIMIT: usize = 131_071;
/// An activation that has not ended by then is killed and reported as failed.
const TIME_LIMIT: Duration = Duration::from_secs(60);

/// One activation to run: program, parameters, environment.
#[derive(Debug, Clone)]
pub struct Activation {
    pub program: PathBuf,
    /// Extra arguments before the parameters (e.g. the script of `node`).
    pub args: Vec<String>,
    pub params: String,
    pub env: Vec<(String, String)>,
}

/// What one run gave.
#[derive(Debug, Clone)]
pub struct Ran {
    pub wall: Duration,
    /// User plus system CPU time of the process (timed runs only).
    pub cpu: Option<Duration>,
    /// Minor page faults of the process (timed runs only).
    pub page_faults: Option<u64>,
    /// Peak resident set of the program's own address space, in KiB (traced runs only).
    pub peak_rss_kib: Option<u64>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// The last line of stdout as JSON: the activation's result.
    pub fn result(&self) -> serde_json::Value {
        self.stdout
            .lines()
            .last()
            .and_then(|line| serde_json::from_str(line).ok())
            .unwrap_or(serde_json::Value::Null)
    }
}

/// Files the child's stdout and stderr go to (a file costs the child what a pipe does, and the
/// parent has nothing to drain while it measures).
#[derive(Debug)]
pub struct Scratch {
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Scratch {
    pub fn new(dir: &Path) -> Scratch {
        Scratch {
            stdout: dir.join("activation.stdout"),
            stderr: dir.join("activation.stderr"),
        }
    }
}

fn errno(what: &str) -> io::Error {
    let error = io::Error::last_os_error();
    io::Error::new(error.kind(), format!("{what}: {error}"))
}

impl Activation {
    fn command(&self, scratch: &Scratch) -> io::Result<Command> {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(File::create(&scratch.stdout)?)
            .stderr(File::create(&scratch.stderr)?);
        if self.params.len() <= ARGV_LIMIT {
            command.arg(&self.params);
        }
        Ok(command)
    }

    /// Wall time of one activation, spawn to reap.
    pub fn timed(&self, scratch: &Scratch) -> io::Result<Ran> {
        let mut command = self.command(scratch)?;
        let start = Instant::now();
        let mut child = command.spawn()?;
        let pid = child.id() as libc::pid_t;
        // SAFETY: pidfd_open on the pid of our own unreaped child, which cannot be reused yet.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as libc::c_int;
        if pidfd < 0 {
            let error = errno("pidfd_open");
            let _ = child.kill();
            let _ = child.wait();
            return Err(error);
        }
        write_params(&mut child, &self.params);
        let mut poll = libc::pollfd {
            fd: pidfd,
            events: libc::POLLIN,
            revents: 0,
        };
        let limit_ms = TIME_LIMIT.as_millis() as libc::c_int;
        // SAFETY: one valid pollfd.
        let ready = loop {
            let ready = unsafe { libc::poll(&mut poll, 1, limit_ms) };
            if ready >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                break ready;
            }
        };
        if ready == 0 {
            // SAFETY: the pidfd names exactly our child, reaped or not.
            unsafe {
                libc::syscall(libc::SYS_pidfd_send_signal, pidfd, libc::SIGKILL, 0, 0);
            }
        }
        let mut status = 0;
        // SAFETY: reaps our own child; the rusage is written by the kernel.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        let wall = start.elapsed();
        // SAFETY: our own descriptor, closed once.
        unsafe { libc::close(pidfd) };
        if reaped != pid {
            return Err(errno("wait4"));
        }
        // `child` is dropped without waiting: wait4 reaped it.
        drop(child);
        if ready == 0 {
            return Err(io::Error::other(format!(
                "{} ran longer than {TIME_LIMIT:?} and was killed",
                self.program.display()
            )));
        }
        let cpu = timeval(usage.ru_utime) + timeval(usage.ru_stime);
        let mut ran = self.outputs(scratch, wall, None)?;
        ran.cpu = Some(cpu);
        ran.page_faults = Some(usage.ru_minflt.max(0) as u64);
        Ok(ran)
    }

    /// Peak memory of one activation (and its wall time, which the tracing stops lengthen).
    pub fn traced(&self, scratch: &Scratch) -> io::Result<Ran> {
        let mut command = self.command(scratch)?;
        // SAFETY: the closure runs in the forked child before execve and makes one
        // async-signal-safe system call.
        unsafe {
            command.pre_exec(|| {
                if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) == -1 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let start = Instant::now();
        let mut child = command.spawn()?;
        let pid = child.id() as libc::pid_t;
        let deadline = start + TIME_LIMIT;
        let mut peak = None;
        let mut options_set = false;
        let wall = loop {
            let mut status = 0;
            // SAFETY: waits for our own (traced) child without blocking.
            let got = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if got < 0 {
                return Err(errno("waitpid"));
            }
            if got == 0 {
                if Instant::now() > deadline {
                    let _ = child.kill();
                }
                std::thread::sleep(Duration::from_micros(200));
                continue;
            }
            if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
                break start.elapsed();
            }
            if !libc::WIFSTOPPED(status) {
                continue;
            }
            let signal = libc::WSTOPSIG(status);
            let mut deliver = 0;
            if !options_set {
                // The stop at execve: from now on, stop once more at exit.
                options_set = true;
                let options = libc::PTRACE_O_TRACEEXIT | libc::PTRACE_O_EXITKILL;
                // SAFETY: our stopped tracee.
                if unsafe { libc::ptrace(libc::PTRACE_SETOPTIONS, pid, 0, options) } == -1 {
                    let error = errno("ptrace(SETOPTIONS)");
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(error);
                }
                write_params(&mut child, &self.params);
            } else if status >> 8 == (libc::SIGTRAP | (libc::PTRACE_EVENT_EXIT << 8)) {
                peak = read_hwm(pid);
            } else {
                deliver = signal;
            }
            // SAFETY: resumes our stopped tracee, delivering the signal it stopped for.
            unsafe { libc::ptrace(libc::PTRACE_CONT, pid, 0, deliver) };
        };
        drop(child);
        if Instant::now() > deadline {
            return Err(io::Error::other(format!(
                "{} ran longer than {TIME_LIMIT:?} and was killed",
                self.program.display()
            )));
        }
        let peak = peak.ok_or_else(|| io::Error::other("no exit stop: VmHWM not read"))?;
        self.outputs(scratch, wall, Some(peak))
    }

    fn outputs(&self, scratch: &Scratch, wall: Duration, peak: Option<u64>) -> io::Result<Ran> {
        let mut stdout = String::new();
        File::open(&scratch.stdout)?.read_to_string(&mut stdout)?;
        let mut stderr = String::new();
        File::open(&scratch.stderr)?.read_to_string(&mut stderr)?;
        Ok(Ran {
            wall,
            cpu: None,
            page_faults: None,
            peak_rss_kib: peak,
            stdout,
            stderr,
        })
    }
}

fn timeval(value: libc::timeval) -> Duration {
    Duration::from_secs(value.tv_sec.max(0) as u64)
        + Duration::from_micros(value.tv_usec.max(0) as u64)
}

/// The parameters on stdin, then EOF. A program that exits without reading them (the floor)
/// makes the write fail with EPIPE, which is fine.
fn write_params(child: &mut std::process::Child, params: &str) {
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(params.as_bytes());
    }
}

/// `VmHWM` of a live process, in KiB.
fn read_hwm(pid: libc::pid_t) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Resident memory of a running process (e.g. the provider): `(VmRSS, VmHWM)` in KiB.
pub fn rss_of(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}
