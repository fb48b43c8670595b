//! Running the real `bifrost-wasm` binary, and the plugins the tests feed it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// The stdout parsed as JSON (panics with the run's output if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self:#?}"))
    }
}

/// A compiled-module cache shared by every run of this test process, so only the first run
/// of each plugin compiles it.
fn cache_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("temp dir")).path()
}

fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bifrost-wasm"));
    cmd.args(args)
        .env("BIFROST_WASM_CACHE_DIR", cache_dir())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn finish(output: std::process::Output) -> Run {
    Run {
        code: output.status.code().expect("the binary was killed by a signal"),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

/// Runs `bifrost-wasm ARGS`.
pub fn run(args: &[&str]) -> Run {
    finish(command(args).output().expect("run bifrost-wasm"))
}

/// Runs `bifrost-wasm ARGS` with `stdin` on standard input.
pub fn run_with_stdin(args: &[&str], stdin: &[u8]) -> Run {
    let mut child = command(args)
        .stdin(Stdio::piped())
        .spawn()
        .expect("run bifrost-wasm");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin)
        .expect("write stdin");
    finish(child.wait_with_output().expect("wait for bifrost-wasm"))
}

/// The hello-world plugin, built from source.
pub fn hello() -> String {
    test_support::plugin_wasm("hello-world").display().to_string()
}

/// A file in a temporary directory that lives as long as the value.
pub struct TempFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl TempFile {
    /// Writes `contents` to a new file called `name`.
    pub fn new(name: &str, contents: impl AsRef<[u8]>) -> TempFile {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(name);
        std::fs::write(&path, contents).expect("write temp file");
        TempFile { _dir: dir, path }
    }

    /// The path as a string argument.
    pub fn arg(&self) -> &str {
        self.path.to_str().expect("temp paths are UTF-8")
    }
}

/// Replaces `path` with `[PLUGIN]` so snapshots do not depend on where the file is.
pub fn redact(text: &str, path: &str) -> String {
    text.replace(path, "[PLUGIN]")
}
