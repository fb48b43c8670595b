//! The one error type of the host: every failure a plugin can cause, each saying
//! which plugin, which function, what happened and what to do about it.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use bifrost_wasm_types::Hook;

/// One problem found while validating a module's exports or imports.
///
/// Loading reports every problem at once (in [`HostError::InvalidPlugin`]) so a plugin
/// author fixes them in one round.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LoadProblem {
    /// A required export is absent.
    MissingExport {
        /// Export name (for alternatives: `malloc` or `plugin_malloc`).
        name: String,
        /// The type the host needs, e.g. `func(i32) -> i32`.
        expected: String,
        /// What to do.
        hint: String,
    },
    /// An export the host uses has the wrong kind or signature.
    WrongExportType {
        /// Export name.
        name: String,
        /// The type the host needs (alternatives separated by ` or `).
        expected: String,
        /// The type the module declares.
        found: String,
        /// What to do.
        hint: String,
    },
    /// The module imports something the host does not provide (or with another type).
    UnsupportedImport {
        /// Import module, e.g. `env`.
        module: String,
        /// Import field, e.g. `now_ms`.
        name: String,
        /// The imported item's type as the module declares it.
        ty: String,
        /// What to do.
        hint: String,
    },
}

impl fmt::Display for LoadProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadProblem::MissingExport { name, expected, hint } => {
                write!(f, "missing export `{name}` (expected {expected}): {hint}")
            }
            LoadProblem::WrongExportType {
                name,
                expected,
                found,
                hint,
            } => write!(f, "export `{name}` has type {found}, expected {expected}: {hint}"),
            LoadProblem::UnsupportedImport {
                module,
                name,
                ty,
                hint,
            } => write!(f, "unsupported import `{module}.{name}` ({ty}): {hint}"),
        }
    }
}

/// A list of problems, one per line (used in [`HostError::InvalidPlugin`]'s message).
struct ProblemList<'a>(&'a [LoadProblem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for problem in self.0 {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

fn opt_last_error(last_error: &Option<String>) -> String {
    match last_error {
        Some(text) => format!("; the plugin's last_error says: {text}"),
        None => String::new(),
    }
}

/// Every failure the host reports.
///
/// Each variant names the plugin (its `get_name`, or the file/label before the name is
/// known), the function involved (`init`, `pre_hook`, ...), what happened and, in its
/// message, what to do. Call failures that leave the instance unusable (traps,
/// timeouts, memory cap) make the host replace the instance with a fresh `init`ed one
/// before returning the error; [`HostError::instance_replaced`] says which those are.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The host configuration is unusable (e.g. a zero memory cap, or the engine refused it).
    #[error("invalid host configuration: {message}")]
    InvalidConfig {
        /// What is wrong and what to change.
        message: String,
    },

    /// The plugin file could not be read.
    #[error("cannot read plugin file {}: {message}; check the path and its permissions", path.display())]
    ReadFile {
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        message: String,
    },

    /// The bytes are not a valid WebAssembly module (or WAT text).
    #[error(
        "plugin `{plugin}` is not a valid WebAssembly module: {message}; build it for \
         wasm32-unknown-unknown (or wasm32-wasip1) and pass the .wasm file"
    )]
    Compile {
        /// The plugin (file name or label).
        plugin: String,
        /// The compiler's message.
        message: String,
    },

    /// Exports or imports do not match the Bifrost plugin ABI; every problem is listed.
    #[error("plugin `{plugin}` does not match the Bifrost plugin ABI ({n} problem{s}):{list}",
        n = problems.len(), s = if problems.len() == 1 { "" } else { "s" }, list = ProblemList(problems))]
    InvalidPlugin {
        /// The plugin (file name or label).
        plugin: String,
        /// All problems found.
        problems: Vec<LoadProblem>,
    },

    /// The module could not be instantiated (e.g. the pooling allocator has no free slot,
    /// or its initial memory or table is larger than the limits allow).
    #[error("plugin `{plugin}` could not be instantiated: {message}; {hint}")]
    Instantiate {
        /// The plugin.
        plugin: String,
        /// wasmtime's message.
        message: String,
        /// What to do.
        hint: String,
    },

    /// `init` returned a non-zero status: the plugin rejected its configuration.
    #[error(
        "plugin `{plugin}` rejected its configuration: init returned {code}{le}; fix the plugin's \
         `config` (empty, null and {{}} mean defaults)",
        le = opt_last_error(last_error)
    )]
    InitFailed {
        /// The plugin.
        plugin: String,
        /// The status `init` returned.
        code: i32,
        /// The plugin's `last_error` text, if it exports `last_error` and has one.
        last_error: Option<String>,
    },

    /// The plugin's allocator returned 0 (or a pointer outside memory) for a host buffer.
    #[error(
        "plugin `{plugin}`: allocating {size} bytes for `{function}` failed ({what}); the \
         input may be too large for the plugin's heap or the memory cap ({hint})"
    )]
    MallocFailed {
        /// The plugin.
        plugin: String,
        /// The function whose input was being written.
        function: &'static str,
        /// Bytes requested.
        size: usize,
        /// `returned 0` or `returned pointer 0x.. outside memory`.
        what: String,
        /// What to do.
        hint: &'static str,
    },

    /// The call ran past the per-call deadline and was interrupted.
    #[error(
        "plugin `{plugin}`: `{function}` ran longer than the {deadline:?} deadline and was \
         stopped; the instance was discarded (its state is lost). Make the hook faster (look for an \
         endless loop) or raise the deadline"
    )]
    Timeout {
        /// The plugin.
        plugin: String,
        /// The function that timed out.
        function: &'static str,
        /// The configured deadline.
        deadline: Duration,
    },

    /// The plugin tried to grow its linear memory past the cap.
    #[error(
        "plugin `{plugin}`: `{function}` needed {requested} bytes of linear memory, over the \
         {limit}-byte cap; the instance was discarded. Reduce the plugin's memory use or raise \
         the memory cap{le}",
        le = opt_last_error(last_error)
    )]
    MemoryLimit {
        /// The plugin.
        plugin: String,
        /// The function that hit the cap.
        function: &'static str,
        /// The cap in bytes.
        limit: usize,
        /// The size the plugin asked to grow to, in bytes.
        requested: usize,
        /// The plugin's `last_error` text, if any.
        last_error: Option<String>,
    },

    /// The wasm call stack overflowed (deep or endless recursion).
    #[error(
        "plugin `{plugin}`: `{function}` overflowed the wasm stack; the instance was discarded. \
         Look for deep or endless recursion (e.g. recursive JSON walking) in the plugin"
    )]
    StackOverflow {
        /// The plugin.
        plugin: String,
        /// The function that overflowed.
        function: &'static str,
    },

    /// The plugin trapped (panic, `unreachable`, out-of-bounds access, AssemblyScript
    /// `abort`, `proc_exit` in a hook, ...).
    #[error(
        "plugin `{plugin}`: `{function}` trapped: {message}{le}; the instance was discarded. \
         This is a bug in the plugin: a hook must answer bad input with an error field, never trap",
        le = opt_last_error(last_error)
    )]
    Trap {
        /// The plugin.
        plugin: String,
        /// The function that trapped.
        function: &'static str,
        /// The trap (wasmtime's description).
        message: String,
        /// The panic message from the plugin's `last_error` export, if present.
        last_error: Option<String>,
    },

    /// The hook returned a packed 0: no output at all.
    #[error(
        "plugin `{plugin}`: `{function}` returned no output (packed pointer/length 0); a hook \
         must always return a JSON document (allocation failure inside the plugin also looks \
         like this)"
    )]
    EmptyOutput {
        /// The plugin.
        plugin: String,
        /// The hook.
        function: &'static str,
    },

    /// The packed pointer/length returned points outside the plugin's linear memory.
    #[error(
        "plugin `{plugin}`: `{function}` returned pointer {ptr:#x} with length {len}, which is \
         outside its {memory_size}-byte memory; return `(ptr << 32) | len` of a buffer the \
         plugin allocated"
    )]
    OutOfBounds {
        /// The plugin.
        plugin: String,
        /// The function.
        function: &'static str,
        /// Returned pointer.
        ptr: u32,
        /// Returned length.
        len: u32,
        /// Memory size at the time, in bytes.
        memory_size: usize,
    },

    /// The output is larger than the configured cap.
    #[error(
        "plugin `{plugin}`: `{function}` returned {len} bytes, over the {limit}-byte output \
         cap; return a smaller document or raise the output cap"
    )]
    OutputTooLarge {
        /// The plugin.
        plugin: String,
        /// The function.
        function: &'static str,
        /// Output length.
        len: usize,
        /// The cap.
        limit: usize,
    },

    /// The input is larger than the ABI can carry (a u32 length) or the host allows.
    #[error(
        "plugin `{plugin}`: the input for `{function}` is {len} bytes, over the {limit}-byte \
         limit; send a smaller document"
    )]
    InputTooLarge {
        /// The plugin.
        plugin: String,
        /// The function.
        function: &'static str,
        /// Input length.
        len: usize,
        /// The limit.
        limit: usize,
    },

    /// The output is not valid UTF-8.
    #[error(
        "plugin `{plugin}`: `{function}` returned invalid UTF-8 (first bad byte at offset \
         {valid_up_to}); JSON output must be UTF-8"
    )]
    InvalidUtf8 {
        /// The plugin.
        plugin: String,
        /// The function.
        function: &'static str,
        /// Length of the valid prefix.
        valid_up_to: usize,
    },

    /// The output is not valid JSON.
    #[error(
        "plugin `{plugin}`: `{function}` returned invalid JSON ({error}); output starts with \
         {excerpt:?}. The hook must return one JSON object"
    )]
    InvalidJson {
        /// The plugin.
        plugin: String,
        /// The function.
        function: &'static str,
        /// serde_json's message (with line and column).
        error: String,
        /// The first characters of the output.
        excerpt: String,
    },

    /// The output is valid JSON but not of the shape the typed call expected.
    #[error(
        "plugin `{plugin}`: `{function}` returned JSON of an unexpected shape ({error}); output \
         starts with {excerpt:?}"
    )]
    OutputShape {
        /// The plugin.
        plugin: String,
        /// The function.
        function: &'static str,
        /// serde_json's message.
        error: String,
        /// The first characters of the output.
        excerpt: String,
    },

    /// The input of a typed call could not be serialised.
    #[error("plugin `{plugin}`: cannot serialise the input for `{function}`: {error}")]
    InputEncoding {
        /// The plugin.
        plugin: String,
        /// The function.
        function: &'static str,
        /// serde_json's message.
        error: String,
    },

    /// A hook was called that the plugin does not export.
    #[error(
        "plugin `{plugin}` does not implement `{hook}`; use `has_hook` first, or treat the \
         hook as pass-through"
    )]
    HookNotImplemented {
        /// The plugin.
        plugin: String,
        /// The hook.
        hook: Hook,
    },

    /// Every pooled instance stayed busy for the whole checkout timeout.
    #[error(
        "plugin `{plugin}`: all {max_instances} instances stayed busy for {waited:?}; raise the \
         pool size or the checkout timeout, or reduce the load"
    )]
    PoolExhausted {
        /// The plugin.
        plugin: String,
        /// How long the caller waited.
        waited: Duration,
        /// The pool's bound.
        max_instances: usize,
    },

    /// The pool was cleaned up ([`crate::InstancePool::cleanup`]); it hands out no more
    /// instances.
    #[error("plugin `{plugin}`: the instance pool was cleaned up and is closed")]
    PoolClosed {
        /// The plugin.
        plugin: String,
    },
}

impl HostError {
    /// The plugin the error is about, if it concerns one.
    pub fn plugin(&self) -> Option<&str> {
        use HostError::*;
        match self {
            InvalidConfig { .. } | ReadFile { .. } => None,
            Compile { plugin, .. }
            | InvalidPlugin { plugin, .. }
            | Instantiate { plugin, .. }
            | InitFailed { plugin, .. }
            | MallocFailed { plugin, .. }
            | Timeout { plugin, .. }
            | MemoryLimit { plugin, .. }
            | StackOverflow { plugin, .. }
            | Trap { plugin, .. }
            | EmptyOutput { plugin, .. }
            | OutOfBounds { plugin, .. }
            | OutputTooLarge { plugin, .. }
            | InputTooLarge { plugin, .. }
            | InvalidUtf8 { plugin, .. }
            | InvalidJson { plugin, .. }
            | OutputShape { plugin, .. }
            | InputEncoding { plugin, .. }
            | HookNotImplemented { plugin, .. }
            | PoolExhausted { plugin, .. }
            | PoolClosed { plugin } => Some(plugin),
        }
    }

    /// True when the failure left the wasm instance unusable, so it was discarded (its
    /// in-memory state is gone). A [`crate::PluginInstance`] replaces it with a fresh,
    /// re-`init`ed one before returning the error, so the next call works.
    pub fn instance_replaced(&self) -> bool {
        matches!(
            self,
            HostError::Timeout { .. }
                | HostError::MemoryLimit { .. }
                | HostError::StackOverflow { .. }
                | HostError::Trap { .. }
        )
    }

    /// A short stable identifier of the variant (`timeout`, `trap`, ...), for logs,
    /// metrics and machine-readable reports.
    pub fn kind(&self) -> &'static str {
        use HostError::*;
        match self {
            InvalidConfig { .. } => "invalid_config",
            ReadFile { .. } => "read_file",
            Compile { .. } => "compile",
            InvalidPlugin { .. } => "invalid_plugin",
            Instantiate { .. } => "instantiate",
            InitFailed { .. } => "init_failed",
            MallocFailed { .. } => "malloc_failed",
            Timeout { .. } => "timeout",
            MemoryLimit { .. } => "memory_limit",
            StackOverflow { .. } => "stack_overflow",
            Trap { .. } => "trap",
            EmptyOutput { .. } => "empty_output",
            OutOfBounds { .. } => "out_of_bounds",
            OutputTooLarge { .. } => "output_too_large",
            InputTooLarge { .. } => "input_too_large",
            InvalidUtf8 { .. } => "invalid_utf8",
            InvalidJson { .. } => "invalid_json",
            OutputShape { .. } => "output_shape",
            InputEncoding { .. } => "input_encoding",
            HookNotImplemented { .. } => "hook_not_implemented",
            PoolExhausted { .. } => "pool_exhausted",
            PoolClosed { .. } => "pool_closed",
        }
    }
}
