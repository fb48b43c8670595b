//! WAT building blocks for test plugins.
//!
//! [`module`] wraps fragments in a module with one page of exported memory, a bump
//! allocator that checks every `free` (a block header holds the size and a live flag:
//! freeing with the wrong length, twice, or a pointer it never handed out traps), a
//! count of live blocks, and `get_name` returning `wat-plugin` in a fresh block.
//! Fragments add the exported allocator pair, hooks and hostile behaviour.

/// Assembles a module: `imports` first (WAT requires imports before definitions),
/// then the base, then `parts`.
pub fn module(imports: &str, parts: &[&str]) -> String {
    let mut wat = String::from("(module\n");
    wat.push_str(imports);
    wat.push_str(BASE);
    for part in parts {
        wat.push_str(part);
        wat.push('\n');
    }
    wat.push(')');
    wat
}

/// Memory, bump allocator with checked release, `$out` (copy into a fresh block and
/// pack), `$pack`, a live-block counter and `get_name`.
const BASE: &str = r#"
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (global $live (mut i32) (i32.const 0))
  (data (i32.const 16) "wat-plugin")
  (data (i32.const 32) "{\"live\":")
  (data (i32.const 48) "{}")
  (func $alloc (param $size i32) (result i32)
    (local $p i32) (local $end i32) (local $have i32)
    (local.set $p (global.get $heap))
    (local.set $end (i32.and
      (i32.add (i32.add (local.get $p) (i32.const 8)) (i32.add (local.get $size) (i32.const 7)))
      (i32.const -8)))
    (local.set $have (i32.mul (memory.size) (i32.const 65536)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.eq
              (memory.grow (i32.div_u
                (i32.add (i32.sub (local.get $end) (local.get $have)) (i32.const 65535))
                (i32.const 65536)))
              (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $heap (local.get $end))
    (i32.store (local.get $p) (local.get $size))
    (i32.store (i32.add (local.get $p) (i32.const 4)) (i32.const 1))
    (global.set $live (i32.add (global.get $live) (i32.const 1)))
    (i32.add (local.get $p) (i32.const 8)))
  (func $release (param $ptr i32)
    (if (i32.ne (i32.load (i32.sub (local.get $ptr) (i32.const 4))) (i32.const 1))
      (then unreachable))
    (i32.store (i32.sub (local.get $ptr) (i32.const 4)) (i32.const 0))
    (global.set $live (i32.sub (global.get $live) (i32.const 1))))
  (func $pack (param $p i32) (param $l i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32))
            (i64.extend_i32_u (local.get $l))))
  (func $out (param $src i32) (param $len i32) (result i64)
    (local $p i32)
    (local.set $p (call $alloc (local.get $len)))
    (if (i32.eqz (local.get $p)) (then (return (i64.const 0))))
    (memory.copy (local.get $p) (local.get $src) (local.get $len))
    (call $pack (local.get $p) (local.get $len)))
  (func $live_json (result i64)
    (local $n i32) (local $i i32)
    (local.set $n (global.get $live))
    (local.set $i (i32.const 320))
    (loop $digit
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (i32.store8 (local.get $i) (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $digit (i32.ne (local.get $n) (i32.const 0))))
    (memory.copy (i32.sub (local.get $i) (i32.const 8)) (i32.const 32) (i32.const 8))
    (i32.store8 (i32.const 320) (i32.const 125))
    (call $out (i32.sub (local.get $i) (i32.const 8))
               (i32.sub (i32.const 321) (i32.sub (local.get $i) (i32.const 8)))))
  (func (export "get_name") (result i64) (call $out (i32.const 16) (i32.const 10)))
"#;

/// `malloc` over the checked allocator.
pub const MALLOC: &str = r#"(func (export "malloc") (param i32) (result i32) (call $alloc (local.get 0)))"#;

/// Two-argument `free` that traps unless `len` is the size the block was allocated with.
pub const FREE2: &str = r#"(func (export "free") (param $ptr i32) (param $len i32)
    (if (i32.eqz (local.get $ptr)) (then return))
    (if (i32.ne (i32.load (i32.sub (local.get $ptr) (i32.const 8))) (local.get $len))
      (then unreachable))
    (call $release (local.get $ptr)))"#;

/// One-argument `free` (AssemblyScript style).
pub const FREE1: &str = r#"(func (export "free") (param $ptr i32)
    (if (i32.eqz (local.get $ptr)) (then return))
    (call $release (local.get $ptr)))"#;

/// `plugin_malloc` / one-argument `plugin_free` / `plugin_reset` (TinyGo style: the upstream
/// TinyGo plugins export a heap reset the host never needs to call).
pub const PLUGIN_ALLOC: &str = r#"
  (func (export "plugin_malloc") (param i32) (result i32) (call $alloc (local.get 0)))
  (func (export "plugin_free") (param $ptr i32)
    (if (i32.eqz (local.get $ptr)) (then return))
    (call $release (local.get $ptr)))
  (func (export "plugin_reset"))"#;

/// The usual allocator pair: `malloc` and two-argument `free`.
pub fn alloc() -> String {
    format!("{MALLOC}\n{FREE2}")
}

/// A hook export that returns a copy of its input.
pub fn echo(export: &str) -> String {
    r#"(func (export "EXPORT") (param $p i32) (param $l i32) (result i64)
        (call $out (local.get $p) (local.get $l)))"#
        .replace("EXPORT", export)
}

/// A hook export that returns `{"live":N}`: the number of blocks not yet freed, the
/// hook's own input included.
pub fn live_blocks(export: &str) -> String {
    r#"(func (export "EXPORT") (param i32 i32) (result i64) (call $live_json))"#.replace("EXPORT", export)
}

/// A hook export with the given body (params `$p`, `$l`; result i64).
pub fn hook(export: &str, body: &str) -> String {
    format!(r#"(func (export "{export}") (param $p i32) (param $l i32) (result i64) {body})"#)
}

/// `init` that keeps a copy of its config, and `http_post_hook` returning it (`{}`
/// when the config was empty).
pub const CONFIG_ECHO: &str = r#"
  (global $cfg_ptr (mut i32) (i32.const 0))
  (global $cfg_len (mut i32) (i32.const 0))
  (func (export "init") (param $p i32) (param $l i32) (result i32)
    (local $c i32)
    (if (i32.eqz (local.get $l)) (then (return (i32.const 0))))
    (local.set $c (call $alloc (local.get $l)))
    (memory.copy (local.get $c) (local.get $p) (local.get $l))
    (global.set $cfg_ptr (local.get $c))
    (global.set $cfg_len (local.get $l))
    (i32.const 0))
  (func (export "http_post_hook") (param i32 i32) (result i64)
    (if (result i64) (i32.eqz (global.get $cfg_len))
      (then (call $out (i32.const 48) (i32.const 2)))
      (else (call $out (global.get $cfg_ptr) (global.get $cfg_len)))))"#;

/// A data segment placing `text` at `offset`, with `$out`-ready constants.
pub fn text_at(offset: u32, text: &str) -> (String, String) {
    let escaped: String = text.bytes().map(|b| format!("\\{b:02x}")).collect();
    (
        format!(r#"(data (i32.const {offset}) "{escaped}")"#),
        format!("(call $out (i32.const {offset}) (i32.const {}))", text.len()),
    )
}

/// The input a hook is called with in most tests.
pub const INPUT: &[u8] = br#"{"context":{"request_id":"abc-123"},"request":{"model":"gpt-4"}}"#;
