//! The one error type of the host: every failure a plugin can cause, each saying
//! which plugin, which function, what happened and what to do about it.
//!
//! A [`HostError`] carries the plugin and the function once, around an [`ErrorKind`] that
//! says what happened; [`std::error::Error::source`] leads to the underlying I/O, wasmtime,
//! UTF-8 or JSON error when there is one.

use std::error::Error as StdError;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bifrost_wasm_types::Hook;

/// One problem found while validating a module's exports or imports.
///
/// Loading reports every problem at once (in [`ErrorKind::InvalidPlugin`]) so a plugin
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

/// A list of problems, one per line (used in [`ErrorKind::InvalidPlugin`]'s message).
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

/// What went wrong: the part of a [`HostError`] that differs per failure.
///
/// The plugin and the function involved are on the [`HostError`] itself
/// ([`HostError::plugin`], [`HostError::function`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The host configuration is unusable (e.g. a zero memory cap, or the engine refused it).
    InvalidConfig {
        /// What is wrong and what to change.
        message: String,
    },

    /// The plugin file could not be read (the I/O error is the [`source`](StdError::source)).
    ReadFile {
        /// The path given.
        path: PathBuf,
        /// The I/O error's text.
        message: String,
    },

    /// The bytes are not a valid WebAssembly module (or WAT text).
    Compile {
        /// The compiler's message.
        message: String,
    },

    /// Exports or imports do not match the Bifrost plugin ABI; every problem is listed.
    InvalidPlugin {
        /// All problems found.
        problems: Vec<LoadProblem>,
    },

    /// The module could not be instantiated (e.g. the pooling allocator has no free slot,
    /// or its initial memory or table is larger than the limits allow).
    Instantiate {
        /// wasmtime's message.
        message: String,
        /// What to do.
        hint: String,
    },

    /// `init` returned a non-zero status: the plugin rejected its configuration.
    InitFailed {
        /// The status `init` returned.
        code: i32,
        /// The plugin's `last_error` text, if it exports `last_error` and has one.
        last_error: Option<String>,
    },

    /// The plugin's allocator returned 0 (or a pointer outside memory) for a host buffer.
    MallocFailed {
        /// Bytes requested.
        size: usize,
        /// `returned 0` or `returned pointer 0x.. outside memory`.
        what: String,
        /// What to do.
        hint: &'static str,
    },

    /// The call ran past the per-call deadline and was interrupted.
    Timeout {
        /// The configured deadline.
        deadline: Duration,
    },

    /// The plugin tried to grow its linear memory past the cap.
    MemoryLimit {
        /// The cap in bytes.
        limit: usize,
        /// The size the plugin asked to grow to, in bytes.
        requested: usize,
        /// The plugin's `last_error` text, if any.
        last_error: Option<String>,
    },

    /// The wasm call stack overflowed (deep or endless recursion).
    StackOverflow,

    /// The plugin trapped (panic, `unreachable`, out-of-bounds access, AssemblyScript
    /// `abort`, `proc_exit` in a hook, ...).
    Trap {
        /// The trap (wasmtime's description, with the innermost frames).
        message: String,
        /// The panic message from the plugin's `last_error` export, if present.
        last_error: Option<String>,
    },

    /// The hook returned a packed 0: no output at all.
    EmptyOutput,

    /// The packed pointer/length returned points outside the plugin's linear memory.
    OutOfBounds {
        /// Returned pointer.
        ptr: u32,
        /// Returned length.
        len: u32,
        /// Memory size at the time, in bytes.
        memory_size: usize,
    },

    /// The output is larger than the configured cap.
    OutputTooLarge {
        /// Output length.
        len: usize,
        /// The cap.
        limit: usize,
    },

    /// The input is larger than the ABI can carry (a u32 length) or the host allows.
    InputTooLarge {
        /// Input length.
        len: usize,
        /// The limit.
        limit: usize,
    },

    /// The output is not valid UTF-8.
    InvalidUtf8 {
        /// Length of the valid prefix.
        valid_up_to: usize,
    },

    /// The output is not valid JSON.
    InvalidJson {
        /// What is wrong and where.
        error: String,
        /// The first characters of the output.
        excerpt: String,
    },

    /// The output is valid JSON but not of the shape the caller expected.
    OutputShape {
        /// What is wrong.
        error: String,
        /// The first characters of the output.
        excerpt: String,
    },

    /// The input of a typed call could not be serialised.
    InputEncoding {
        /// The serialiser's message.
        error: String,
    },

    /// A hook was called that the plugin does not export.
    HookNotImplemented {
        /// The hook.
        hook: Hook,
    },

    /// Every pooled instance stayed busy for the whole checkout timeout.
    PoolExhausted {
        /// How long the caller waited.
        waited: Duration,
        /// The pool's bound.
        max_instances: usize,
    },

    /// The pool was cleaned up ([`crate::InstancePool::cleanup`]); it hands out no more
    /// instances.
    PoolClosed,
}

impl ErrorKind {
    /// A short stable identifier (`timeout`, `trap`, ...), for logs, metrics and
    /// machine-readable reports.
    pub fn code(&self) -> &'static str {
        use ErrorKind::*;
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
            StackOverflow => "stack_overflow",
            Trap { .. } => "trap",
            EmptyOutput => "empty_output",
            OutOfBounds { .. } => "out_of_bounds",
            OutputTooLarge { .. } => "output_too_large",
            InputTooLarge { .. } => "input_too_large",
            InvalidUtf8 { .. } => "invalid_utf8",
            InvalidJson { .. } => "invalid_json",
            OutputShape { .. } => "output_shape",
            InputEncoding { .. } => "input_encoding",
            HookNotImplemented { .. } => "hook_not_implemented",
            PoolExhausted { .. } => "pool_exhausted",
            PoolClosed => "pool_closed",
        }
    }
}

/// The underlying error of a [`HostError`], shared so that the error stays cheap to clone.
type Cause = Arc<dyn StdError + Send + Sync + 'static>;

/// Every failure the host reports: which plugin, which function, what happened
/// ([`HostError::kind`]) and, in its message, what to do.
///
/// The plugin is its `get_name`, or the file/label before the name is known; the function
/// is the export involved (`init`, `pre_hook`, `malloc`, ...). Call failures that leave the
/// instance unusable (traps, timeouts, stack overflow, memory cap) make the host replace the
/// instance with a fresh `init`ed one before returning the error;
/// [`HostError::instance_replaced`] says which those are. [`StdError::source`] is the I/O,
/// wasmtime, UTF-8 or JSON error behind the failure, when there is one.
#[derive(Clone)]
pub struct HostError {
    plugin: Option<Arc<str>>,
    function: Option<&'static str>,
    kind: ErrorKind,
    source: Option<Cause>,
    /// What a trap means given the input that was sent (see [`HostError::with_hint`]).
    hint: Option<Box<str>>,
}

impl HostError {
    /// An error of `kind`, not yet attributed to a plugin or function.
    pub fn new(kind: ErrorKind) -> Self {
        HostError {
            plugin: None,
            function: None,
            kind,
            source: None,
            hint: None,
        }
    }

    /// Says what the error means for the input that was actually sent (a trap on a valid
    /// input is not a failure to reject bad input); shown in place of the generic advice.
    pub fn with_hint(mut self, hint: impl Into<Box<str>>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The advice [`HostError::with_hint`] set, if any.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// Names the plugin the error is about.
    pub fn plugin_named(mut self, plugin: impl Into<Arc<str>>) -> Self {
        self.plugin = Some(plugin.into());
        self
    }

    /// Names the function (export or hook) the error happened in.
    pub fn in_function(mut self, function: &'static str) -> Self {
        self.function = Some(function);
        self
    }

    /// Records the underlying error ([`StdError::source`]).
    pub fn caused_by(mut self, source: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        self.source = Some(Arc::from(source.into()));
        self
    }

    /// An invalid-configuration error.
    pub fn invalid_config(message: impl Into<String>) -> Self {
        HostError::new(ErrorKind::InvalidConfig {
            message: message.into(),
        })
    }

    /// What happened.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The plugin the error is about, if it concerns one.
    pub fn plugin(&self) -> Option<&str> {
        self.plugin.as_deref()
    }

    /// The function (export or hook) the error happened in, if any.
    pub fn function(&self) -> Option<&'static str> {
        self.function
    }

    /// True when the failure left the wasm instance unusable, so it was discarded (its
    /// in-memory state is gone). A [`crate::PluginInstance`] replaces it with a fresh,
    /// re-`init`ed one before returning the error, so the next call works.
    pub fn instance_replaced(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Timeout { .. }
                | ErrorKind::MemoryLimit { .. }
                | ErrorKind::StackOverflow
                | ErrorKind::Trap { .. }
        )
    }

    /// A short stable identifier of the kind (`timeout`, `trap`, ...), for logs,
    /// metrics and machine-readable reports.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
}

impl fmt::Debug for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("HostError");
        d.field("plugin", &self.plugin)
            .field("function", &self.function)
            .field("kind", &self.kind);
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl StdError for HostError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_deref().map(|s| s as &(dyn StdError + 'static))
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ErrorKind::*;
        let plugin = self.plugin.as_deref().unwrap_or("?");
        let function = self.function.unwrap_or("?");
        match &self.kind {
            InvalidConfig { message } => write!(f, "invalid host configuration: {message}"),
            ReadFile { path, message } => write!(
                f,
                "cannot read plugin file {}: {message}; check the path and its permissions",
                path.display()
            ),
            Compile { message } => write!(
                f,
                "plugin `{plugin}` is not a valid WebAssembly module: {message}; build it for \
                 wasm32-unknown-unknown (or wasm32-wasip1) and pass the .wasm file"
            ),
            InvalidPlugin { problems } => write!(
                f,
                "plugin `{plugin}` does not match the Bifrost plugin ABI ({n} problem{s}):{list}",
                n = problems.len(),
                s = if problems.len() == 1 { "" } else { "s" },
                list = ProblemList(problems)
            ),
            Instantiate { message, hint } => {
                write!(
                    f,
                    "plugin `{plugin}` could not be instantiated: {message}; {hint}"
                )
            }
            InitFailed { code, last_error } => write!(
                f,
                "plugin `{plugin}` rejected its configuration: init returned {code}{le}; fix the plugin's \
                 `config` (empty, null and {{}} mean defaults)",
                le = opt_last_error(last_error)
            ),
            MallocFailed { size, what, hint } => write!(
                f,
                "plugin `{plugin}`: allocating {size} bytes for `{function}` failed ({what}); the \
                 input may be too large for the plugin's heap or the memory cap ({hint})"
            ),
            Timeout { deadline } => write!(
                f,
                "plugin `{plugin}`: `{function}` ran longer than the {deadline:?} deadline and was \
                 stopped; the instance was discarded (its state is lost). Make the hook faster (look for an \
                 endless loop) or raise the deadline"
            ),
            MemoryLimit {
                limit,
                requested,
                last_error,
            } => write!(
                f,
                "plugin `{plugin}`: `{function}` needed {requested} bytes of linear memory, over the \
                 {limit}-byte cap; the instance was discarded. Reduce the plugin's memory use or raise \
                 the memory cap{le}",
                le = opt_last_error(last_error)
            ),
            StackOverflow => write!(
                f,
                "plugin `{plugin}`: `{function}` overflowed the wasm stack; the instance was discarded. \
                 Look for deep or endless recursion (e.g. recursive JSON walking) in the plugin"
            ),
            Trap { message, last_error } => write!(
                f,
                "plugin `{plugin}`: `{function}` trapped: {message}{le}; the instance was discarded. {hint}",
                le = opt_last_error(last_error),
                hint = self
                    .hint
                    .as_deref()
                    .unwrap_or("This is a bug in the plugin: a plugin must never trap")
            ),
            EmptyOutput => write!(
                f,
                "plugin `{plugin}`: `{function}` returned no output (packed pointer/length 0); a hook \
                 must always return a JSON document (allocation failure inside the plugin also looks \
                 like this)"
            ),
            OutOfBounds {
                ptr,
                len,
                memory_size,
            } => write!(
                f,
                "plugin `{plugin}`: `{function}` returned pointer {ptr:#x} with length {len}, which is \
                 outside its {memory_size}-byte memory; return `(ptr << 32) | len` of a buffer the \
                 plugin allocated"
            ),
            OutputTooLarge { len, limit } => write!(
                f,
                "plugin `{plugin}`: `{function}` returned {len} bytes, over the {limit}-byte output \
                 cap; return a smaller document or raise the output cap"
            ),
            InputTooLarge { len, limit } => write!(
                f,
                "plugin `{plugin}`: the input for `{function}` is {len} bytes, over the {limit}-byte \
                 limit; send a smaller document"
            ),
            InvalidUtf8 { valid_up_to } => write!(
                f,
                "plugin `{plugin}`: `{function}` returned invalid UTF-8 (first bad byte at offset \
                 {valid_up_to}); JSON output must be UTF-8"
            ),
            InvalidJson { error, excerpt } => write!(
                f,
                "plugin `{plugin}`: `{function}` returned invalid JSON ({error}); output starts with \
                 {excerpt:?}. The hook must return one JSON object"
            ),
            OutputShape { error, excerpt } => write!(
                f,
                "plugin `{plugin}`: `{function}` returned JSON of an unexpected shape ({error}); output \
                 starts with {excerpt:?}"
            ),
            InputEncoding { error } => {
                write!(
                    f,
                    "plugin `{plugin}`: cannot serialise the input for `{function}`: {error}"
                )
            }
            HookNotImplemented { hook } => write!(
                f,
                "plugin `{plugin}` does not implement `{hook}`; use `has_hook` first, or treat the \
                 hook as pass-through"
            ),
            PoolExhausted {
                waited,
                max_instances,
            } => write!(
                f,
                "plugin `{plugin}`: all {max_instances} instances stayed busy for {waited:?}; raise the \
                 pool size or the checkout timeout, or reduce the load"
            ),
            PoolClosed => write!(
                f,
                "plugin `{plugin}`: the instance pool was cleaned up and is closed"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_and_function_are_named_once_and_used_in_the_message() {
        let e = HostError::new(ErrorKind::Timeout {
            deadline: Duration::from_millis(50),
        })
        .plugin_named("slow")
        .in_function("pre_hook");
        assert_eq!(e.plugin(), Some("slow"));
        assert_eq!(e.function(), Some("pre_hook"));
        assert_eq!(e.code(), "timeout");
        assert!(e.instance_replaced());
        let text = e.to_string();
        assert!(
            text.starts_with("plugin `slow`: `pre_hook` ran longer than the 50ms deadline"),
            "{text}"
        );
    }

    #[test]
    fn source_chains_to_the_underlying_error() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = HostError::new(ErrorKind::ReadFile {
            path: "/x.wasm".into(),
            message: io.to_string(),
        })
        .caused_by(io);
        let source = e.source().expect("a source");
        assert_eq!(source.to_string(), "no such file");
        assert!(source.downcast_ref::<std::io::Error>().is_some());
        assert!(e.to_string().contains("/x.wasm: no such file"));
        // Clones share the cause.
        assert!(e.clone().source().is_some());
    }
}
