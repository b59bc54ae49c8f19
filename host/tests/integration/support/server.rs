//! [`Server`]: the real `plughost serve` binary on a free loopback port, with its log
//! lines readable by the test; killed when dropped. Its data dir is `data/` beside the
//! manifest; its compiled components are shared by every server of every test run
//! ([`shared_cache_dir`]).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Where every `serve` a test starts, and the in-process [`super::engine`], keep their
/// compiled components (cargo's `target/tmp`, kept between runs): without it each of ~30
/// servers and ~100 in-process apps compiled the same components again (measured: the
/// in-process apps alone, 32 s of CPU per run).
/// Entries are named by the engine's configuration and the component's digest, written by
/// rename, so servers share them safely. A test that counts compiles passes `--cache-dir`.
pub fn shared_cache_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-compiled")
}

/// A running `plughost serve`; killed on drop.
pub struct Server {
    pub child: Child,
    base: String,
    pub logs: mpsc::Receiver<String>,
}

impl Server {
    pub fn start(manifest: &Path, extra: &[&str]) -> Self {
        Self::start_with_env(manifest, extra, &[])
    }

    pub fn start_with_env(manifest: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_listening(manifest, "127.0.0.1:0", extra, env)
    }

    /// As [`Server::start_with_env`], on `listen` (`127.0.0.1:0`: a free port).
    pub fn start_listening(manifest: &Path, listen: &str, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_plughost"))
            .args(["serve", "--listen", listen, "--manifest"])
            .arg(manifest)
            .arg("--data-dir")
            .arg(manifest.with_file_name("data"))
            .args(extra)
            .env("PLUGHOST_CACHE_DIR", shared_cache_dir())
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn plughost");
        let logs = lines_of(child.stderr.take().unwrap());
        let mut server = Self { child, base: String::new(), logs };
        let line = server.wait_for_log("listening on http://", Duration::from_secs(60));
        let after = line.split("listening on http://").nth(1).unwrap();
        let addr: String = after.chars().take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':').collect();
        server.base = format!("http://{addr}");
        server
    }

    /// Waits for a log line containing `needle`, returning it.
    pub fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.logs.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        panic!("no log line containing {needle:?} within {timeout:?}; saw:\n{}", seen.join("\n"));
    }

    /// Waits until a log line containing each of `needles` has come, in any order.
    pub fn wait_for_logs(&mut self, needles: &[String], timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut missing: Vec<&String> = needles.iter().collect();
        let mut seen = Vec::new();
        while !missing.is_empty() {
            let left = deadline.checked_duration_since(Instant::now()).unwrap_or_default();
            match self.logs.recv_timeout(left) {
                Ok(line) => {
                    missing.retain(|needle| !line.contains(needle.as_str()));
                    seen.push(line);
                }
                Err(_) => panic!("no log lines containing {missing:?} within {timeout:?}; saw:\n{}", seen.join("\n")),
            }
        }
    }

    /// Reads log lines until one contains `needle` (panics after `timeout`); returns every
    /// line read, the match last.
    pub fn read_logs_until(&mut self, needle: &str, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut lines = Vec::new();
        loop {
            let left = deadline.checked_duration_since(Instant::now()).unwrap_or_default();
            match self.logs.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    lines.push(line);
                    if found {
                        return lines;
                    }
                }
                Err(_) => panic!("no log line containing `{needle}` within {timeout:?}; read:\n{}", lines.join("\n")),
            }
        }
    }

    /// Counts log lines containing `needle` that arrive within `window`.
    pub fn count_logs(&mut self, needle: &str, window: Duration) -> usize {
        let deadline = Instant::now() + window;
        let mut count = 0;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.logs.recv_timeout(left) {
                Ok(line) if line.contains(needle) => count += 1,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        count
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The address it listens on (`127.0.0.1:<port>`).
    pub fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// `kill -9`: no shutdown, whatever it was doing.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lines a child process writes to `output`, as they come (read on a thread).
pub fn lines_of(output: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}
