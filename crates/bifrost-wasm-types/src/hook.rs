//! The hooks a Bifrost WASM plugin may implement.

use std::fmt;
use std::str::FromStr;

/// One of the plugin hooks the host can call.
///
/// Every hook takes one JSON document and returns one (see design.md §1). A plugin
/// may implement any subset; a hook it lacks is a pass-through for the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hook {
    /// HTTP transport pre-hook (`http_pre_hook`, or the generation 2 name `http_intercept`).
    HttpPreHook,
    /// HTTP transport post-hook for non-streaming responses (`http_post_hook`).
    HttpPostHook,
    /// Per-chunk hook for streaming responses (`http_stream_chunk_hook`).
    HttpStreamChunkHook,
    /// LLM pre-hook (`pre_hook`).
    PreHook,
    /// LLM post-hook (`post_hook`).
    PostHook,
}

impl Hook {
    /// Every hook, in the order Bifrost runs them for one non-streaming request.
    pub const ALL: [Hook; 5] = [
        Hook::HttpPreHook,
        Hook::PreHook,
        Hook::PostHook,
        Hook::HttpPostHook,
        Hook::HttpStreamChunkHook,
    ];

    /// The current (generation 3) export name of the hook.
    pub fn name(self) -> &'static str {
        self.export_names()[0]
    }

    /// The export names that implement this hook, in the order the host looks
    /// them up: the current name first, then older aliases (`http_intercept`).
    pub fn export_names(self) -> &'static [&'static str] {
        match self {
            Hook::HttpPreHook => &["http_pre_hook", "http_intercept"],
            Hook::HttpPostHook => &["http_post_hook"],
            Hook::HttpStreamChunkHook => &["http_stream_chunk_hook"],
            Hook::PreHook => &["pre_hook"],
            Hook::PostHook => &["post_hook"],
        }
    }

    /// The hook an export name implements, accepting old aliases
    /// (`http_intercept` is [`Hook::HttpPreHook`]).
    pub fn from_export_name(name: &str) -> Option<Hook> {
        Hook::ALL
            .into_iter()
            .find(|hook| hook.export_names().contains(&name))
    }

    /// Position of the hook in per-hook arrays (`0..5`, the order of the variants).
    pub fn index(self) -> usize {
        match self {
            Hook::HttpPreHook => 0,
            Hook::HttpPostHook => 1,
            Hook::HttpStreamChunkHook => 2,
            Hook::PreHook => 3,
            Hook::PostHook => 4,
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error returned when parsing a [`Hook`] from an unknown name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownHook(pub String);

impl fmt::Display for UnknownHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown hook `{}`: expected one of http_pre_hook (alias http_intercept), http_post_hook, \
             http_stream_chunk_hook, pre_hook, post_hook",
            self.0
        )
    }
}

impl std::error::Error for UnknownHook {}

impl FromStr for Hook {
    type Err = UnknownHook;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Hook::from_export_name(s).ok_or_else(|| UnknownHook(s.to_string()))
    }
}
