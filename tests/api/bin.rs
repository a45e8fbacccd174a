//! The `consentry` binary, run the one way every test runs it: [`Bin`] says
//! what to run (arguments, environment, folder), then runs it to completion
//! ([`Bin::run`] in async tests, [`Bin::run_blocking`] in `#[test]`
//! functions) or starts a child that keeps running ([`Bin::spawn`], for
//! `serve`).

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// One run of the `consentry` binary, built up then run.
///
/// Stdin is empty; stdout and stderr are captured by the `run` methods.
#[must_use = "a `Bin` does nothing until it is run"]
pub struct Bin {
    command: Command,
}

impl Bin {
    /// The binary with these arguments.
    pub fn new<I, S>(args: I) -> Bin
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(env!("CARGO_BIN_EXE_consentry"));
        command.args(args);
        Bin { command }
    }

    /// One more argument (a path, say).
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Bin {
        self.command.arg(arg);
        self
    }

    /// More arguments.
    pub fn args<I, S>(mut self, args: I) -> Bin
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command.args(args);
        self
    }

    /// An environment variable for the child (the rest is inherited).
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Bin {
        self.command.env(key, value);
        self
    }

    /// The child's working folder (relative paths in arguments start there).
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Bin {
        self.command.current_dir(dir);
        self
    }

    /// Runs to completion on tokio's blocking pool, so the runtime goes on
    /// serving (an in-process registry the binary talks to, other tasks).
    /// For async tests.
    ///
    /// # Panics
    /// If the binary cannot be started; a panic in the run is passed on.
    pub async fn run(self) -> Output {
        off_runtime(move || self.output()).await
    }

    /// Runs to completion on this thread. For `#[test]` functions only.
    ///
    /// # Panics
    /// Inside a tokio runtime (a blocked worker can stall the test: use
    /// [`Bin::run`]), or if the binary cannot be started.
    pub fn run_blocking(self) -> Output {
        assert_outside_runtime("Bin::run().await");
        self.output()
    }

    /// Starts the binary and returns at once, for a child that keeps
    /// running (`serve`). Its stdout is piped, for the caller to read what it
    /// prints (the address it listens on); its stderr goes to `stderr`.
    ///
    /// # Panics
    /// If the binary cannot be started.
    pub fn spawn(mut self, stderr: Stdio) -> Child {
        self.command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn consentry")
    }

    fn output(mut self) -> Output {
        self.command.output().expect("run consentry")
    }
}

/// Runs `f` (which waits on a child) on tokio's blocking pool; a panic in
/// it is the caller's panic.
pub async fn off_runtime<T, F>(f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(value) => value,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Panics inside a tokio runtime, naming the call that does not block it.
#[track_caller]
pub fn assert_outside_runtime(instead: &str) {
    assert!(
        tokio::runtime::Handle::try_current().is_err(),
        "this waits on a child and would block the tokio runtime: use `{instead}`"
    );
}
