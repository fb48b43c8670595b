//! The host's reading of guest output. A tiny plugin returns, as its packed result, the
//! first 8 bytes of whatever it is given, so the fuzzer controls the pointer, the length and
//! (through the rest of the input, which sits right behind) the bytes the host reads. The
//! host must answer with a string or a typed error, never panic, and anything it accepts
//! must be JSON.
#![no_main]

use bifrost_wasm_host::{Hook, Host, HostConfig, PluginInstance};
use libfuzzer_sys::fuzz_target;
use std::sync::Mutex;

const WAT: &str = r#"
(module
  (memory (export "memory") 2 2)
  (data (i32.const 16) "fuzz")
  ;; One buffer at 1024 for every allocation; inputs larger than the memory get 0.
  (func (export "malloc") (param $n i32) (result i32)
    (if (result i32) (i32.gt_u (local.get $n) (i32.const 100000))
      (then (i32.const 0)) (else (i32.const 1024))))
  (func (export "free") (param i32 i32))
  (func (export "get_name") (result i64) (i64.const 0x0000001000000004))
  (func (export "pre_hook") (param $p i32) (param $n i32) (result i64)
    (if (result i64) (i32.lt_u (local.get $n) (i32.const 8))
      (then (i64.const 0))
      (else (i64.load (local.get $p)))))
)
"#;

static INSTANCE: Mutex<Option<PluginInstance>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let mut guard = INSTANCE.lock().unwrap();
    let instance = guard.get_or_insert_with(|| {
        let host = Host::new(HostConfig::default()).expect("host");
        let plugin = host.load_bytes(WAT.as_bytes(), "fuzz.wat").expect("load");
        plugin.instantiate(None).expect("instantiate")
    });
    if let Ok(text) = instance.call(Hook::PreHook, data) {
        serde_json::from_str::<serde_json::Value>(&text)
            .or_else(|_| {
                serde_json::from_str::<&serde_json::value::RawValue>(&text).map(|_| serde_json::Value::Null)
            })
            .expect("the host only returns JSON");
    }
});
