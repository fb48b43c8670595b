//! Wire types of the Bifrost WASM plugin ABI, shared by plugins (guests) and hosts.
//!
//! * [`context`], [`http`], [`chat`], [`response`], [`error`]: typed views of the structures
//!   Bifrost's Go SDK sends, with the seed's field names and helpers; they tolerate `null`
//!   wherever Go may send it and keep fields (and enum values) they do not model.
//! * [`raw`]: lossless raw JSON — payloads are kept as received and edits are spliced in.
//! * [`shape`]: the three request / response / short-circuit shapes, recognised and written back
//!   in the shape that came in.
//! * [`hooks`]: the input and output envelope of every hook; [`wire`]: the guest's codec for
//!   them (one validating pass indexes the envelope and its payloads).
//! * [`scan`]: a small validating JSON scanner (validate, walk members, skip, unescape, write),
//!   and [`reader`]: a serde `Deserializer` over it, which plugins use for typed reads instead
//!   of `serde_json`'s (smaller code; same accepted JSON and values, checked against serde_json
//!   in property tests and a fuzz target).
//! * [`bench_inputs`]: realistic hook inputs for benchmarks.
//!
//! ```
//! use bifrost_wasm_types::hooks::PreHookInput;
//!
//! let input: PreHookInput = serde_json::from_str(r#"{
//!     "context": { "request_id": "abc-123" },
//!     "request": { "provider": "openai", "model": "gpt-4",
//!                  "input": [{ "role": "user", "content": "Hello" }] }
//! }"#).unwrap();
//! assert_eq!(input.get_provider_model(), ("openai".to_string(), "gpt-4".to_string()));
//! let output = input.pass_through();
//! assert!(serde_json::to_string(&output).unwrap().contains(r#""model": "gpt-4""#));
//! ```

pub mod bench_inputs;
pub mod chat;
pub mod codec;
pub mod context;
pub mod de;
pub mod error;
pub mod hook;
pub mod hooks;
pub mod http;
pub mod raw;
pub mod reader;
pub mod response;
pub mod scan;
pub mod shape;
pub mod wire;

pub use chat::{
    BifrostChatRequest, ChatContentBlock, ChatMessage, ChatMessageContent, ChatMessageRole, ChatParameters,
    ChatTool, ChatToolFunction, Fallback, ToolCall, ToolCallFunction,
};
pub use context::BifrostContext;
pub use error::{BifrostError, ErrorField, LLMPluginShortCircuit};
pub use hook::Hook;
pub use hooks::{
    HttpPostHookInput, HttpPostHookOutput, HttpPreHookInput, HttpPreHookOutput, PostHookInput,
    PostHookOutput, PreHookInput, PreHookOutput, StreamChunkInput, StreamChunkOutput,
};
pub use http::{HTTPRequest, HTTPResponse};
pub use raw::{JsonError, JsonKind, RawJson};
pub use response::{BifrostChatResponse, BifrostResponse, LLMUsage, ResponseChoice};
pub use serde_json::Value;
pub use shape::{LlmRequest, LlmResponse, RequestKind, RequestShape, ResponseShape, ShortCircuitParts};
