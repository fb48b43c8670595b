//! Realistic hook inputs for benchmarks (`bifrost-wasm bench`, the criterion suites).
//!
//! Each is a compact JSON document as a host sends it, stored under `fixtures/bench/`:
//!
//! | name | hook | bytes | what |
//! |---|---|---|---|
//! | `pre_hook_225b` | `pre_hook` | 225 | the seed's flat chat request, two messages |
//! | `pre_hook_7_9kb` | `pre_hook` | 7,900 | Go-envelope chat request: 17 messages, tool call, tools, fallbacks |
//! | `pre_hook_mock` | `pre_hook` | 230 | `mock-model`: hello-world answers with its mock response |
//! | `post_hook_1kb` | `post_hook` | 1,024 | `{"chat_response": …}` with usage and extra fields |
//! | `http_pre_hook_0_5kb` | `http_pre_hook` | 503 | POST with headers and a base64 body |
//! | `http_pre_hook_10kb` | `http_pre_hook` | 10,003 | the same with a 7 KB body |
//! | `http_post_hook_1kb` | `http_post_hook` | 1,194 | request and response with base64 bodies |
//! | `stream_chunk` | `http_stream_chunk_hook` | 572 | one chat completion chunk |

/// One benchmark input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchInput {
    /// Short name (`pre_hook_225b`).
    pub name: &'static str,
    /// The hook's export name (`pre_hook`, `http_pre_hook`, ...).
    pub hook: &'static str,
    /// The JSON document.
    pub json: &'static str,
}

macro_rules! input {
    ($name:literal, $hook:literal) => {
        BenchInput {
            name: $name,
            hook: $hook,
            json: include_str!(concat!("../fixtures/bench/", $name, ".json")),
        }
    };
}

/// Every benchmark input, in the order reports list them.
pub const BENCH_INPUTS: &[BenchInput] = &[
    input!("pre_hook_225b", "pre_hook"),
    input!("pre_hook_7_9kb", "pre_hook"),
    input!("pre_hook_mock", "pre_hook"),
    input!("post_hook_1kb", "post_hook"),
    input!("http_pre_hook_0_5kb", "http_pre_hook"),
    input!("http_pre_hook_10kb", "http_pre_hook"),
    input!("http_post_hook_1kb", "http_post_hook"),
    input!("stream_chunk", "http_stream_chunk_hook"),
];

/// The input named `name`.
pub fn bench_input(name: &str) -> Option<&'static BenchInput> {
    BENCH_INPUTS.iter().find(|i| i.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bench_input_is_a_json_object_of_the_stated_size() {
        for input in BENCH_INPUTS {
            let v: serde_json::Value = serde_json::from_str(input.json).unwrap();
            assert!(v.is_object(), "{}", input.name);
            assert!(v.get("context").is_some(), "{}", input.name);
        }
        assert_eq!(bench_input("pre_hook_225b").unwrap().json.len(), 225);
        assert_eq!(bench_input("pre_hook_7_9kb").unwrap().json.len(), 7900);
        assert_eq!(bench_input("post_hook_1kb").unwrap().json.len(), 1024);
    }
}
