//! WASI preview 1 for plugins built for `wasm32-wasip1` (TinyGo, Rust wasip1).
//!
//! A plugin gets no filesystem, no network, no environment and an empty stdin; its
//! stdout and stderr become `tracing` events (one per line) with target
//! [`PLUGIN_LOG_TARGET`], field `plugin` set to the plugin's name and field `stream`
//! set to `stdout` or `stderr`. Stdout lines are logged at INFO, stderr at WARN.
//! The output a plugin may log per call is bounded (see
//! [`crate::HostConfig::max_log_bytes_per_call`]); the rest is dropped with one
//! warning.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::WasiCtxBuilder;

/// The `tracing` target of plugin stdout/stderr lines.
pub const PLUGIN_LOG_TARGET: &str = "bifrost_wasm::plugin";

/// Longest line kept in the buffer before it is logged without a newline.
const MAX_LINE: usize = 16 * 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Stdout,
    Stderr,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Stdout => "stdout",
            Which::Stderr => "stderr",
        }
    }
}

struct LogState {
    plugin: Arc<str>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    budget_per_call: usize,
    budget_left: usize,
    dropped: usize,
}

impl LogState {
    fn buffer(&mut self, which: Which) -> &mut Vec<u8> {
        match which {
            Which::Stdout => &mut self.stdout,
            Which::Stderr => &mut self.stderr,
        }
    }

    fn write(&mut self, which: Which, mut bytes: &[u8]) {
        if bytes.len() > self.budget_left {
            self.dropped += bytes.len() - self.budget_left;
            bytes = &bytes[..self.budget_left];
        }
        self.budget_left -= bytes.len();
        for chunk in bytes.split_inclusive(|b| *b == b'\n') {
            let buffer = self.buffer(which);
            buffer.extend_from_slice(chunk);
            if chunk.ends_with(b"\n") || buffer.len() >= MAX_LINE {
                self.emit(which);
            }
        }
    }

    fn emit(&mut self, which: Which) {
        let buffer = std::mem::take(self.buffer(which));
        let text = String::from_utf8_lossy(&buffer);
        let line = text.trim_end_matches(['\n', '\r']);
        let plugin = &*self.plugin;
        match which {
            Which::Stdout => {
                tracing::info!(target: PLUGIN_LOG_TARGET, plugin, stream = which.name(), "{line}")
            }
            Which::Stderr => {
                tracing::warn!(target: PLUGIN_LOG_TARGET, plugin, stream = which.name(), "{line}")
            }
        }
        // Keep the allocation for the next line.
        let mut buffer = buffer;
        buffer.clear();
        *self.buffer(which) = buffer;
    }

    fn flush(&mut self) {
        for which in [Which::Stdout, Which::Stderr] {
            if !self.buffer(which).is_empty() {
                self.emit(which);
            }
        }
        if self.dropped > 0 {
            tracing::warn!(
                target: PLUGIN_LOG_TARGET,
                plugin = &*self.plugin,
                dropped_bytes = self.dropped,
                "plugin output over the per-call log limit of {} bytes was dropped",
                self.budget_per_call
            );
            self.dropped = 0;
        }
        self.budget_left = self.budget_per_call;
    }
}

/// The plugin's stdout/stderr line buffers, shared between the WASI context and the
/// instance (which flushes after every call).
#[derive(Clone)]
pub(crate) struct PluginLog {
    state: Arc<Mutex<LogState>>,
}

impl PluginLog {
    pub(crate) fn new(plugin: Arc<str>, budget_per_call: usize) -> PluginLog {
        PluginLog {
            state: Arc::new(Mutex::new(LogState {
                plugin,
                stdout: Vec::new(),
                stderr: Vec::new(),
                budget_per_call,
                budget_left: budget_per_call,
                dropped: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LogState> {
        // Logging never panics while holding the lock; recover the data regardless.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Logs any partial lines and resets the per-call budget.
    pub(crate) fn flush(&self) {
        self.lock().flush();
    }

    /// Builds the WASI context whose stdout/stderr feed this log.
    pub(crate) fn wasi_ctx(&self) -> WasiP1Ctx {
        let plugin = self.lock().plugin.clone();
        WasiCtxBuilder::new()
            .stdout(LogStream {
                log: self.clone(),
                which: Which::Stdout,
            })
            .stderr(LogStream {
                log: self.clone(),
                which: Which::Stderr,
            })
            .arg(&*plugin)
            .build_p1()
    }
}

/// A `StdoutStream` writing into a [`PluginLog`].
struct LogStream {
    log: PluginLog,
    which: Which,
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(LogWriter {
            log: self.log.clone(),
            which: self.which,
        })
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        // Synchronous writes on the calling thread, so log lines carry the caller's
        // tracing context and appear before the call returns.
        Box::new(LogWriter {
            log: self.log.clone(),
            which: self.which,
        })
    }
}

struct LogWriter {
    log: PluginLog,
    which: Which,
}

/// How much one `check_write` permits (the usual WASI stream permit).
const WRITE_PERMIT: usize = 64 * 1024;

impl OutputStream for LogWriter {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.log.lock().write(self.which, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(WRITE_PERMIT)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogWriter {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for LogWriter {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.log.lock().write(self.which, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
