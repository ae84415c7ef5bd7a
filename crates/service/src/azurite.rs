//! Starts and stops a loopback Azurite for local runs and tests.
//!
//! Azurite runs under `scripts/azurite-guard.mjs`, which stops it when the guard's stdin
//! closes. [`Azurite`] keeps the write end of that pipe, so Azurite stops when the value is
//! dropped, when [`Azurite::stop`] runs, and when this process exits or crashes.

use std::collections::VecDeque;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::storage::StorageAccount;

/// Time allowed for Azurite's queue and table ports to respond to HTTP.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Time allowed for the guard to exit after its stdin closes. The guard sends SIGKILL to
/// Azurite 5 s after SIGTERM, so this leaves a margin above that.
const STOP_TIMEOUT: Duration = Duration::from_secs(8);

/// Number of start attempts with fresh ports when another process takes a port first.
const START_ATTEMPTS: usize = 3;

/// Number of recent Azurite output lines kept for error messages.
const OUTPUT_LINES_KEPT: usize = 40;

/// Path of the Azurite launcher installed by `npm ci`, relative to the project root.
const AZURITE_BINARY: &str = "node_modules/.bin/azurite";

/// Path of the guard script, relative to the project root.
const GUARD_SCRIPT: &str = "scripts/azurite-guard.mjs";

/// Settings of [`Azurite::start`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzuriteOptions {
    /// Directory that contains `node_modules/.bin/azurite` and `scripts/azurite-guard.mjs`.
    pub project_root: PathBuf,
    /// Directory where Azurite keeps its data across runs, created if missing, or `None` to
    /// keep everything in memory and lose it when Azurite stops.
    pub data_dir: Option<PathBuf>,
}

/// An Azurite start or stop that failed.
#[derive(Debug, thiserror::Error)]
pub enum AzuriteError {
    /// The npm packages are not installed.
    #[error("Azurite is not installed: {binary} is missing; run `npm ci` in {project_root}")]
    NotInstalled {
        /// The project root that was searched.
        project_root: PathBuf,
        /// The missing launcher.
        binary: PathBuf,
    },

    /// The guard script is missing from the project root.
    #[error(
        "{script} is missing; check that project_root {project_root} is the Prism Plan checkout"
    )]
    MissingGuard {
        /// The project root that was searched.
        project_root: PathBuf,
        /// The missing script.
        script: PathBuf,
    },

    /// The data directory could not be created.
    #[error("failed to create the Azurite data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },

    /// No free loopback port could be reserved.
    #[error("failed to find a free port on 127.0.0.1: {0}")]
    NoFreePort(std::io::Error),

    /// `node` could not be started.
    #[error("failed to run `node` (Node.js 20 or later must be on PATH): {0}")]
    Spawn(std::io::Error),

    /// Azurite exited before its ports responded to HTTP.
    #[error("Azurite exited with {status} before it was ready; its last output:\n{output}")]
    ExitedEarly {
        /// Exit status of the guard, which is Azurite's exit status.
        status: ExitStatus,
        /// Last lines Azurite printed.
        output: String,
    },

    /// Azurite's queue and table ports did not respond to HTTP in time.
    #[error("Azurite timed out: ports {queue_port} and {table_port} did not respond to HTTP within {timeout:?}; its last output:\n{output}")]
    NotReady {
        /// Queue service port.
        queue_port: u16,
        /// Table service port.
        table_port: u16,
        /// How long the start waited.
        timeout: Duration,
        /// Last lines Azurite printed.
        output: String,
    },

    /// Waiting for the guard to exit failed.
    #[error("failed to wait for the Azurite guard process: {0}")]
    Wait(std::io::Error),
}

/// A running Azurite with blob, queue and table services on free loopback ports.
#[derive(Debug)]
pub struct Azurite {
    guard: Child,
    /// Write end of the guard's stdin. Dropping it signals the guard to stop Azurite.
    guard_stdin: Option<ChildStdin>,
    account: StorageAccount,
}

/// Ports of the three Azurite services.
#[derive(Debug, Clone, Copy)]
struct Ports {
    blob: u16,
    queue: u16,
    table: u16,
}

impl Azurite {
    /// Starts Azurite and waits until its queue and table services respond to HTTP.
    ///
    /// This blocks the calling thread for up to 30 s per attempt, so async callers should run
    /// it inside `tokio::task::spawn_blocking`. When a port is taken by another process
    /// between choosing it and Azurite binding it, the start is retried with new ports up to
    /// three times in all.
    ///
    /// # Errors
    /// Returns [`AzuriteError::NotInstalled`] when `npm ci` has not been run, and other
    /// [`AzuriteError`]s when Node.js is missing or Azurite fails to start in time.
    pub fn start(options: AzuriteOptions) -> Result<Self, AzuriteError> {
        check_installation(&options.project_root)?;
        if let Some(data_dir) = &options.data_dir {
            std::fs::create_dir_all(data_dir).map_err(|source| AzuriteError::DataDir {
                path: data_dir.clone(),
                source,
            })?;
        }
        let mut attempt = 1;
        loop {
            let ports = free_ports()?;
            match Self::start_on(&options, ports) {
                Err(AzuriteError::ExitedEarly { output, .. })
                    if attempt < START_ATTEMPTS && output.contains("EADDRINUSE") =>
                {
                    tracing::warn!(
                        attempt,
                        "an Azurite port was taken by another process; retrying with new ports"
                    );
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    fn start_on(options: &AzuriteOptions, ports: Ports) -> Result<Self, AzuriteError> {
        let mut guard = guard_command(options, ports)
            .spawn()
            .map_err(AzuriteError::Spawn)?;
        let output = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(stderr) = guard.stderr.take() {
            let output = Arc::clone(&output);
            thread::spawn(move || collect_output(stderr, &output));
        }
        let mut azurite = Self {
            guard_stdin: guard.stdin.take(),
            guard,
            account: StorageAccount::emulator("127.0.0.1", ports.blob, ports.queue, ports.table),
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = azurite.guard.try_wait().map_err(AzuriteError::Wait)? {
                // Give the output thread a moment to read the final lines.
                thread::sleep(Duration::from_millis(100));
                return Err(AzuriteError::ExitedEarly {
                    status,
                    output: recent_output(&output),
                });
            }
            if responds_to_http(ports.queue) && responds_to_http(ports.table) {
                tracing::info!(
                    queue_port = ports.queue,
                    table_port = ports.table,
                    "Azurite is ready"
                );
                return Ok(azurite);
            }
            if Instant::now() >= deadline {
                return Err(AzuriteError::NotReady {
                    queue_port: ports.queue,
                    table_port: ports.table,
                    timeout: READY_TIMEOUT,
                    output: recent_output(&output),
                });
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Returns a full connection string with explicit blob, queue and table endpoints for
    /// the emulator account. It contains the emulator's published key, not a secret.
    pub fn connection_string(&self) -> String {
        self.account.to_connection_string()
    }

    /// Returns the emulator account with this Azurite's endpoints.
    pub fn account(&self) -> &StorageAccount {
        &self.account
    }

    /// Stops Azurite and waits for it to exit, killing the guard if it takes longer than 8 s.
    ///
    /// # Errors
    /// Returns [`AzuriteError::Wait`] when the guard's status cannot be read.
    pub fn stop(mut self) -> Result<ExitStatus, AzuriteError> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> Result<ExitStatus, AzuriteError> {
        // Closing stdin is the stop signal that the guard waits for.
        drop(self.guard_stdin.take());
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = self.guard.try_wait().map_err(AzuriteError::Wait)? {
                tracing::info!(%status, "Azurite stopped");
                return Ok(status);
            }
            if Instant::now() >= deadline {
                tracing::warn!("the Azurite guard did not exit in time; killing it");
                // Ignore the error: the guard may have exited between the check and the kill.
                let _ = self.guard.kill();
                return self.guard.wait().map_err(AzuriteError::Wait);
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        // `stop` has already taken stdin and waited, so only an unstopped Azurite needs this.
        if self.guard_stdin.is_none() {
            return;
        }
        if let Err(error) = self.shut_down() {
            tracing::warn!(%error, "failed to stop Azurite");
        }
    }
}

fn check_installation(project_root: &Path) -> Result<(), AzuriteError> {
    let binary = project_root.join(AZURITE_BINARY);
    if !binary.exists() {
        return Err(AzuriteError::NotInstalled {
            project_root: project_root.to_owned(),
            binary,
        });
    }
    let script = project_root.join(GUARD_SCRIPT);
    if !script.exists() {
        return Err(AzuriteError::MissingGuard {
            project_root: project_root.to_owned(),
            script,
        });
    }
    Ok(())
}

fn guard_command(options: &AzuriteOptions, ports: Ports) -> Command {
    let mut command = Command::new("node");
    command
        .current_dir(&options.project_root)
        .arg(GUARD_SCRIPT)
        .arg(AZURITE_BINARY)
        .args(["--silent", "--disableTelemetry", "--skipApiVersionCheck"])
        .args(["--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1"])
        .args(["--tableHost", "127.0.0.1"])
        .args(["--blobPort", &ports.blob.to_string()])
        .args(["--queuePort", &ports.queue.to_string()])
        .args(["--tablePort", &ports.table.to_string()]);
    match &options.data_dir {
        Some(data_dir) => command.arg("--location").arg(data_dir),
        None => command.arg("--inMemoryPersistence"),
    };
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // Ctrl-C in a terminal signals the whole foreground process group. In a
    // group of its own, Azurite keeps serving while the host finishes its
    // in-flight messages, and the host stops it afterwards.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    command
}

/// Reserves three distinct free ports by binding them at once, then releases them for
/// Azurite. Another process can take one in between, which `start` handles by retrying.
fn free_ports() -> Result<Ports, AzuriteError> {
    let bind = || TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(AzuriteError::NoFreePort);
    let listeners = [bind()?, bind()?, bind()?];
    let mut ports = [0u16; 3];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener
            .local_addr()
            .map_err(AzuriteError::NoFreePort)?
            .port();
    }
    Ok(Ports {
        blob: ports[0],
        queue: ports[1],
        table: ports[2],
    })
}

/// Returns whether an HTTP server responds on the loopback `port`. Any status line counts,
/// because Azurite rejects this unsigned request but still sends a response.
fn responds_to_http(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(500)) else {
        return false;
    };
    let timeout = Some(Duration::from_secs(2));
    if stream.set_read_timeout(timeout).is_err() || stream.set_write_timeout(timeout).is_err() {
        return false;
    }
    let request = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).is_ok() && &head == b"HTTP/"
}

/// Forwards Azurite's output lines to the log and keeps the last ones for error messages.
fn collect_output(stderr: impl std::io::Read, output: &Mutex<VecDeque<String>>) {
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else {
            return;
        };
        tracing::debug!(target: "azurite", "{line}");
        if let Ok(mut lines) = output.lock() {
            if lines.len() == OUTPUT_LINES_KEPT {
                lines.pop_front();
            }
            lines.push_back(line);
        }
    }
}

fn recent_output(output: &Mutex<VecDeque<String>>) -> String {
    match output.lock() {
        Ok(lines) => lines.iter().cloned().collect::<Vec<_>>().join("\n"),
        Err(_) => String::new(),
    }
}
