//! The processes `cargo xtask dev` starts, owned by one guard that stops
//! them all, last started first, when it is dropped: on Ctrl-C, on
//! SIGTERM, on any error, and at the end.
//!
//! Each runs in a process group of its own, so that Ctrl-C in the terminal
//! reaches `cargo xtask dev` only, which then stops them in order (the
//! operators release their Leases while the API server still runs). Their
//! PIDs are kept in a file while they run.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Set by SIGINT, SIGTERM or SIGHUP.
#[derive(Clone)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    /// Registers the signal handlers. signal-hook's `flag::register` only
    /// sets the flag (safe from a handler); the loops of `dev` poll it.
    pub fn install() -> anyhow::Result<Self> {
        let flag = Arc::new(AtomicBool::new(false));
        for signal in [
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
        ] {
            signal_hook::flag::register(signal, Arc::clone(&flag))
                .with_context(|| format!("handling signal {signal}"))?;
        }
        Ok(Self(flag))
    }

    /// Whether a signal asked to stop.
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// An error if a signal asked to stop (the guard then stops everything).
    pub fn check(&self) -> anyhow::Result<()> {
        if self.requested() {
            bail!("interrupted");
        }
        Ok(())
    }

    /// Sleeps `d`, or less if a signal comes.
    pub fn sleep(&self, d: Duration) {
        let until = Instant::now() + d;
        while !self.requested() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50).min(until - Instant::now()));
        }
    }
}

struct Running {
    name: String,
    child: Child,
    /// The signal that asks it to stop (`kill -s` name).
    signal: &'static str,
    /// How long it may take to stop before it is killed.
    grace: Duration,
}

/// The started processes; dropping it stops them.
pub struct Processes {
    running: Vec<Running>,
    pids: PathBuf,
}

impl Processes {
    /// No process yet; their PIDs will be written to `pids`.
    pub fn new(pids: PathBuf) -> Self {
        Self {
            running: Vec::new(),
            pids,
        }
    }

    /// Starts `command` as `name` in a process group of its own. On stop it
    /// gets `signal`, then SIGKILL after `grace`.
    pub fn spawn(
        &mut self,
        name: &str,
        command: &mut Command,
        signal: &'static str,
        grace: Duration,
    ) -> anyhow::Result<&mut Child> {
        use std::os::unix::process::CommandExt;
        let child = command
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {name} ({})", command.get_program().display()))?;
        self.running.push(Running {
            name: name.to_owned(),
            child,
            signal,
            grace,
        });
        self.write_pids()?;
        let last = self.running.len() - 1;
        Ok(&mut self.running[last].child)
    }

    /// The exit status of `name` if it has exited.
    pub fn exited(&mut self, name: &str) -> Option<ExitStatus> {
        self.running
            .iter_mut()
            .find(|r| r.name == name)
            .and_then(|r| r.child.try_wait().ok().flatten())
    }

    /// `name pid` per line, in the order they were started.
    fn write_pids(&self) -> anyhow::Result<()> {
        let text: String = self
            .running
            .iter()
            .map(|r| format!("{} {}\n", r.name, r.child.id()))
            .collect();
        std::fs::write(&self.pids, text).with_context(|| format!("writing {}", self.pids.display()))
    }

    /// Stops every process, the last started first, and waits for each.
    pub fn stop_all(&mut self) {
        if self.running.is_empty() {
            return;
        }
        eprintln!("==> dev: stopping {} processes", self.running.len());
        while let Some(mut r) = self.running.pop() {
            stop(&mut r);
        }
        let _ = std::fs::remove_file(&self.pids);
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Sends `r` its stop signal, waits up to its grace, then kills it; reaps it.
fn stop(r: &mut Running) {
    if matches!(r.child.try_wait(), Ok(Some(_))) {
        return;
    }
    let pid = r.child.id().to_string();
    // std's Child::kill is SIGKILL only; `kill` (procps) sends the others.
    let signalled = Command::new("kill")
        .args(["-s", r.signal, &pid])
        .status()
        .is_ok_and(|s| s.success());
    let deadline = Instant::now() + r.grace;
    if signalled {
        while Instant::now() < deadline {
            if matches!(r.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!(
            "==> dev: {} did not stop within {:?} of SIG{}; killing it",
            r.name, r.grace, r.signal
        );
    }
    let _ = r.child.kill();
    let _ = r.child.wait();
}
