//! The real `plughost` binary under cargo-lambda's runtime emulator (`cargo lambda watch
//! --only-lambda-apis`, installed by `scripts/install-cargo-lambda`), started the way
//! Lambda starts `bootstrap`. Requests go through `cargo lambda invoke` (recorded events)
//! or over HTTP to the emulator's Function URL.

use serde_json::Value;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn cargo_lambda() -> PathBuf {
    if let Ok(path) = std::env::var("PLUGHOST_CARGO_LAMBDA") {
        return PathBuf::from(path);
    }
    let path = repo().join("target/tools/cargo-lambda/bin/cargo-lambda");
    assert!(path.exists(), "{} is missing: run `scripts/install-cargo-lambda` (`make test` does)", path.display());
    path
}

/// The emulator and the function it drives; both killed on drop.
pub struct Lambda {
    emulator: Child,
    function: Child,
    port: u16,
    logs: mpsc::Receiver<String>,
    /// stdout: CloudWatch Embedded Metric Format lines.
    metrics: mpsc::Receiver<String>,
    /// The manifest and the data dir (with the compiled-component cache); kept across a
    /// restart by [`Lambda::stop`].
    dir: Option<tempfile::TempDir>,
    /// The function's environment, for [`Lambda::crash_function`].
    env: Vec<(String, String)>,
}

impl Drop for Lambda {
    fn drop(&mut self) {
        for child in [&mut self.function, &mut self.emulator] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Lambda {
    /// Stops both processes and hands back the directory, for a second cold start.
    pub fn stop(mut self) -> tempfile::TempDir {
        self.dir.take().unwrap()
    }

    /// Starts the emulator and, under it, `plughost` the way Lambda starts `bootstrap`:
    /// no arguments, configuration in the environment (`env`). `dir` lives as long as
    /// the function (see [`Lambda::stop`]).
    pub fn start(env: &[(&str, String)], dir: tempfile::TempDir) -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let emulator = Command::new(cargo_lambda())
            .args(["lambda", "watch", "--only-lambda-apis", "--invoke-address", "127.0.0.1", "--invoke-port"])
            .arg(port.to_string())
            .current_dir(repo())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start cargo lambda watch");
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the emulator did not listen on {port} within 60 s");
            std::thread::sleep(Duration::from_millis(50));
        }

        let env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
        let (function, logs, metrics) = spawn_function(port, &env);
        Self { emulator, function, port, logs, metrics, dir: Some(dir), env }
    }

    /// `kill -9` of the function process, whatever it is doing (the emulator stays up, its
    /// invocation unanswered), and a new one started under the emulator as Lambda starts
    /// the next instance of a function. Log lines read from here on are the new one's.
    pub fn crash_function(&mut self) {
        self.function.kill().expect("SIGKILL");
        self.function.wait().expect("reaped");
        let (function, logs, metrics) = spawn_function(self.port, &self.env);
        (self.function, self.logs, self.metrics) = (function, logs, metrics);
    }

    /// `cargo lambda invoke` with `args`, not waited for (a test that kills the function
    /// mid-invocation); the process is killed when the handle is dropped.
    pub fn invoke_in_background(&self, args: &[&str]) -> Background {
        let mut invoke = self.invoke_command(args);
        let child = invoke.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("run cargo lambda invoke");
        Background(child)
    }

    /// `cargo lambda invoke` of this emulator's function with `args`, answering JSON.
    fn invoke_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(cargo_lambda());
        command
            .args(["lambda", "invoke", "--invoke-address", "127.0.0.1", "--invoke-port"])
            .arg(self.port.to_string())
            .args(["--output-format", "json"])
            .args(args)
            .current_dir(repo());
        command
    }

    /// The emulator's port (its Invoke API: `/2015-03-31/functions/_/invocations`).
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/lambda-url/_{path}", self.port)
    }

    /// `cargo lambda invoke` with `args`; the function's JSON answer, or the error text.
    pub fn invoke(&self, args: &[&str]) -> Result<Value, String> {
        let output = self.invoke_command(args).output().expect("run cargo lambda invoke");
        if !output.status.success() {
            return Err(format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        serde_json::from_slice(&output.stdout)
            .map_err(|e| format!("not JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)))
    }

    pub fn invoke_fixture(&self, name: &str) -> Value {
        let file = repo().join("tests/fixtures/lambda").join(name);
        self.invoke(&["--data-file", file.to_str().unwrap()]).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// Log lines (JSON) read so far and until one contains `needle`.
    pub fn logs_until(&self, needle: &str) -> Vec<Value> {
        Self::until(&self.logs, needle)
    }

    /// Metric lines (EMF JSON on stdout) read so far and until one contains `needle`.
    pub fn metrics_until(&self, needle: &str) -> Vec<Value> {
        Self::until(&self.metrics, needle)
    }

    fn until(lines_of: &mpsc::Receiver<String>, needle: &str) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut lines = Vec::new();
        loop {
            let left = deadline.checked_duration_since(Instant::now()).unwrap_or_default();
            let line = lines_of.recv_timeout(left).unwrap_or_else(|_| panic!("no line with {needle:?}"));
            let found = line.contains(needle);
            lines.push(serde_json::from_str(&line).unwrap_or_else(|_| panic!("log line is not JSON: {line}")));
            if found {
                return lines;
            }
        }
    }
}

/// A process killed when dropped.
pub struct Background(Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `plughost` as Lambda starts `bootstrap`: no arguments, everything in the environment;
/// its log lines (stderr) and metric lines (stdout) as they come.
fn spawn_function(port: u16, env: &[(String, String)]) -> (Child, mpsc::Receiver<String>, mpsc::Receiver<String>) {
    let mut function = Command::new(env!("CARGO_BIN_EXE_plughost"))
        .env("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{port}/.rt"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "_")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("RUST_LOG", "info")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start plughost");
    let logs = super::server::lines_of(function.stderr.take().unwrap());
    let metrics = super::server::lines_of(function.stdout.take().unwrap());
    (function, logs, metrics)
}
