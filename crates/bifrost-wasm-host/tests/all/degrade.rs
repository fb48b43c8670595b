//! Plugins that degrade: one whose memory grows per call is recycled before its cap, and a call
//! that hits the cap is retried once on a fresh instance; no call fails for either.

use bifrost_wasm_host::{Hook, RECYCLE_PERCENT};

use crate::load;

/// A plugin whose `pre_hook` leaks `leak` bytes per call (a bump allocator that never frees)
/// and traps, as Rust's allocator does, when memory cannot grow. The small host caps memory
/// at 4 MiB.
fn leaking(leak: u32) -> String {
    format!(
        r#"(module
  (memory (export "memory") 2)
  (data (i32.const 16) "leaky")
  (global $next (mut i32) (i32.const 65536))
  (func $malloc (export "malloc") (param $size i32) (result i32)
    (local $p i32) (local $have i32)
    (local.set $p (global.get $next))
    (global.set $next (i32.add (global.get $next) (i32.and (i32.add (local.get $size) (i32.const 7)) (i32.const -8))))
    (local.set $have (i32.shl (memory.size) (i32.const 16)))
    (if (i32.gt_u (global.get $next) (local.get $have))
      (then
        (if (i32.eq (memory.grow (i32.add (i32.shr_u (i32.sub (global.get $next) (local.get $have)) (i32.const 16)) (i32.const 1)))
                    (i32.const -1))
          (then unreachable))))
    (local.get $p))
  (func (export "free") (param i32 i32))
  (func $pack (param $ptr i32) (param $len i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32)) (i64.extend_i32_u (local.get $len))))
  (func (export "get_name") (result i64) (call $pack (i32.const 16) (i32.const 5)))
  (func (export "pre_hook") (param $p i32) (param $l i32) (result i64) (local $o i32)
    (drop (call $malloc (i32.const {leak})))
    (local.set $o (call $malloc (local.get $l)))
    (memory.copy (local.get $o) (local.get $p) (local.get $l))
    (call $pack (local.get $o) (local.get $l)))
)"#
    )
}

const INPUT: &[u8] = br#"{"context":{"request_id":"r"},"request":{"model":"m"}}"#;

#[test]
fn a_leaking_plugin_is_recycled_before_its_cap_and_no_call_fails() {
    let plugin = load(&leaking(64 << 10));
    let mut instance = plugin.instantiate(None).unwrap();
    for i in 0..400 {
        let output = instance
            .call(Hook::PreHook, INPUT)
            .unwrap_or_else(|e| panic!("call {i}: {e}"));
        assert_eq!(output.as_bytes(), INPUT);
        // Never left above the threshold between calls.
        assert!(instance.memory_size() * 100 <= (4 << 20) * RECYCLE_PERCENT);
    }
    // 64 KiB a call, recycled at 80% of 4 MiB: about every 50 calls.
    assert!((6..=10).contains(&instance.recycles()), "{}", instance.recycles());
    assert_eq!(instance.replacements(), 0);
    assert_eq!(instance.retries(), 0);
}

#[test]
fn a_call_that_hits_the_memory_cap_is_retried_once_on_a_fresh_instance() {
    // 1.5 MiB a call: the third call needs more than the 4 MiB cap before the 80% mark is seen.
    let plugin = load(&leaking(3 << 19));
    let mut instance = plugin.instantiate(None).unwrap();
    for i in 0..9 {
        let output = instance
            .call(Hook::PreHook, INPUT)
            .unwrap_or_else(|e| panic!("call {i}: {e}"));
        assert_eq!(output.as_bytes(), INPUT);
    }
    assert!(instance.retries() >= 2, "{}", instance.retries());
    assert_eq!(instance.replacements(), instance.retries());
}

#[test]
fn a_call_that_hits_the_cap_on_a_fresh_instance_too_fails_with_the_memory_limit() {
    // 8 MiB a call never fits: one retry, then the error.
    let plugin = load(&leaking(8 << 20));
    let mut instance = plugin.instantiate(None).unwrap();
    let error = instance.call(Hook::PreHook, INPUT).unwrap_err();
    assert_eq!(error.code(), "memory_limit", "{error}");
    assert_eq!(instance.retries(), 1);
    // The instance still works for the next call's attempt (and fails the same way).
    assert!(instance.call(Hook::PreHook, INPUT).is_err());
}
