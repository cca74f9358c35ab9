//! One run of a build command for `switchyard dev`: `sh -c COMMAND` in its
//! own process group (so stopping it stops the compiler it started, not
//! just the shell), its stdout and stderr captured together in the order
//! written, to show only when the build fails.

use std::io::Read as _;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// The most of a build's output kept (its end: where compilers put the
/// error that stopped them).
const KEEP_BYTES: usize = 256 * 1024;

/// A running build.
pub struct Running {
    group: rustix::process::Pid,
    exited: oneshot::Receiver<std::io::Result<ExitStatus>>,
    output: Arc<Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    /// Waited for: nothing left to stop.
    ended: bool,
}

impl Running {
    /// Start `command` in `workdir`.
    pub fn start(command: &str, workdir: &std::path::Path) -> std::io::Result<Running> {
        use std::os::unix::process::CommandExt as _;
        let (mut reader, writer) = std::io::pipe()?;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(workdir)
            .stdin(Stdio::null())
            .stdout(writer.try_clone()?)
            .stderr(writer)
            .process_group(0)
            .spawn()?;
        let group = rustix::process::Pid::from_child(&child);
        let output = Arc::new(Mutex::new(Vec::new()));
        let kept = output.clone();
        // Reads until every process holding the pipe has exited.
        let reader = std::thread::spawn(move || {
            let mut buffer = [0u8; 16 * 1024];
            while let Ok(n) = reader.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                let mut kept = kept.lock().unwrap_or_else(|e| e.into_inner());
                kept.extend_from_slice(&buffer[..n]);
                if kept.len() > 2 * KEEP_BYTES {
                    let cut = kept.len() - KEEP_BYTES;
                    kept.drain(..cut);
                }
            }
        });
        let (done, exited) = oneshot::channel();
        std::thread::spawn(move || {
            let _ = done.send(child.wait());
        });
        Ok(Running {
            group,
            exited,
            output,
            reader: Some(reader),
            ended: false,
        })
    }

    /// Wait for the build to exit (cancel-safe: call it again after a
    /// `select!` dropped it).
    pub async fn exited(&mut self) -> std::io::Result<ExitStatus> {
        let status = match (&mut self.exited).await {
            Ok(status) => status,
            Err(_) => Err(std::io::Error::other("the build's waiter went away")),
        };
        self.ended = true;
        status
    }

    /// What it printed, once it has exited.
    pub async fn output(mut self) -> String {
        // The pipe closes once every process of the build has exited; a
        // daemon it left behind must not hold the report back.
        if let Some(reader) = self.reader.take() {
            let (done, wait) = oneshot::channel();
            std::thread::spawn(move || {
                let _ = reader.join();
                let _ = done.send(());
            });
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), wait).await;
        }
        let bytes = self.output.lock().unwrap_or_else(|e| e.into_inner());
        let start = bytes.len().saturating_sub(KEEP_BYTES);
        String::from_utf8_lossy(&bytes[start..]).into_owned()
    }

    /// Stop the build and everything it started, and wait for it.
    pub async fn stop(mut self) {
        let _ = rustix::process::kill_process_group(self.group, rustix::process::Signal::KILL);
        let _ = (&mut self.exited).await;
        self.ended = true;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A build left running when dev stops is stopped with it.
        if !self.ended {
            let _ = rustix::process::kill_process_group(self.group, rustix::process::Signal::KILL);
        }
    }
}
