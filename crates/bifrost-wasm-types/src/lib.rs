//! Wire types of the Bifrost WASM plugin ABI, shared by plugins (guests) and hosts.
//!
//! * [`http`], [`chat`], [`response`], [`error`]: typed views of the structures Bifrost's Go
//!   SDK sends, with the seed's field names and helpers; they tolerate `null` wherever Go may
//!   send it and keep fields (and enum values) they do not model.
//! * [`raw`]: lossless raw JSON — payloads are kept as received and edits are spliced in.
//! * [`shape`]: the three request / response / short-circuit shapes, recognised and written back
//!   in the shape that came in.
//! * [`hook`]: the hooks by name; [`codec`]: the one codec of every hook's input and output
//!   envelope, used by guests and hosts alike (one validating pass indexes the envelope and
//!   its payloads; payloads stay raw).
//! * [`writer`]: a small `serde` serializer with `serde_json`'s output, for typed values the
//!   plugin writes (smaller code than `serde_json::to_vec`).
//! * [`scan`]: a small validating JSON scanner (validate, walk members, skip, unescape, write),
//!   and [`reader`]: a serde `Deserializer` over it, which plugins use for typed reads instead
//!   of `serde_json`'s (smaller code; same accepted JSON and values, checked against serde_json
//!   in property tests and a fuzz target).
//! * [`equal`]: JSON equality on raw text (member order, whitespace, string escapes and number
//!   spelling do not count), the one definition of "changed" hosts and `check` share.
//! * [`bench_inputs`]: realistic hook inputs for benchmarks.
//!
//! ```
//! use bifrost_wasm_types::codec::Envelope;
//! use bifrost_wasm_types::{Hook, LlmRequest};
//!
//! let text = r#"{
//!     "context": { "request_id": "abc-123" },
//!     "request": { "provider": "openai", "model": "gpt-4",
//!                  "input": [{ "role": "user", "content": "Hello" }] }
//! }"#;
//! let envelope = Envelope::parse(Hook::PreHook, text.as_bytes()).unwrap();
//! let request = LlmRequest::from_json(envelope.get("request").unwrap()).unwrap();
//! assert_eq!(request.get_provider_model(), ("openai".to_string(), "gpt-4".to_string()));
//! ```

pub mod bench_inputs;
pub mod chat;
pub mod codec;
pub mod de;
pub mod equal;
pub mod error;
pub mod hook;
pub mod http;
mod json_error;
pub mod raw;
pub mod reader;
pub mod response;
pub mod scan;
pub mod shape;
pub mod writer;

pub use chat::{
    BifrostChatRequest, ChatContentBlock, ChatMessage, ChatMessageContent, ChatMessageRole, ChatParameters,
    ChatTool, ChatToolFunction, Fallback, ToolCall, ToolCallFunction,
};
pub use error::{
    BifrostError, ErrorField, ErrorJson, LLMPluginShortCircuit, LlmError, LlmPluginShortCircuit,
};
pub use hook::Hook;
pub use http::{HTTPRequest, HTTPResponse, HttpRequest, HttpResponse};
pub use raw::{JsonError, JsonKind, RawJson};
pub use response::{BifrostChatResponse, BifrostResponse, LLMUsage, LlmUsage, ResponseChoice};
pub use serde_json::Value;
pub use shape::{LlmRequest, LlmResponse, RequestKind, RequestShape, ResponseShape, ShortCircuitParts};
