//! The smallest plugin the SDK can build: every hook keeps its default pass-through body.
//!
//! It measures what the SDK itself costs — the memory ABI, decoding every hook's envelope,
//! the never-trap checks and writing the output — in time (`bifrost-wasm bench`) and in
//! `.wasm` size (`scripts/sizes.sh`).

use bifrost_wasm_sdk::prelude::*;

/// A plugin with no behaviour of its own.
pub struct PassThrough;

impl Plugin for PassThrough {
    const NAME: &'static str = "pass-through";
    type Config = ();

    fn new(_config: ()) -> HookResult<Self> {
        Ok(PassThrough)
    }
}

bifrost_wasm_sdk::export_plugin!(PassThrough);

#[cfg(test)]
mod tests {
    use super::*;
    use bifrost_wasm_sdk::testing::Harness;

    #[test]
    fn every_hook_echoes_its_payload_and_context() {
        let h = Harness::<PassThrough>::new("").unwrap();
        let input = json!({"context": {"k": [1.5]}, "request": {"model": "m", "x": null}});
        let out = h.pre_hook(&input);
        assert_eq!(out["request"], input["request"]);
        assert_eq!(out["context"], input["context"]);
        assert_eq!(out["error"], "");
        let out = h.http_stream_chunk_hook(&json!({"context": {}, "request": null, "chunk": {"id": "c"}}));
        assert_eq!(out["chunk"], json!({"id": "c"}));
    }
}
