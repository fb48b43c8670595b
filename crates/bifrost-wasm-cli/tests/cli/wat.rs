//! Small plugins written in WAT, each written to a temporary file.
//!
//! They share one allocator: `malloc` always hands out the same block at 64 KiB (growing memory
//! to fit twice the size), which is enough for a host that keeps one buffer alive at a time; a
//! hook writes its output right after its input. `free` does nothing. So these plugins never
//! grow after the first call, and every difference between them is in the hooks.

use crate::support::TempFile;

/// Memory, allocator, `get_name` and the helpers the hooks use.
pub fn base(name: &str, free: &str) -> String {
    format!(
        r#"
  (memory (export "memory") 2)
  (data (i32.const 16) "{name}")
  (func (export "malloc") (param $size i32) (result i32)
    (local $need i32) (local $have i32)
    (local.set $need (i32.add (i32.const 65552) (i32.shl (local.get $size) (i32.const 1))))
    (local.set $have (i32.shl (memory.size) (i32.const 16)))
    (if (i32.gt_u (local.get $need) (local.get $have))
      (then
        (if (i32.eq
              (memory.grow (i32.add (i32.shr_u (i32.sub (local.get $need) (local.get $have)) (i32.const 16))
                                    (i32.const 1)))
              (i32.const -1))
          (then (return (i32.const 0))))))
    (i32.const 65536))
  {free}
  (func $pack (param $ptr i32) (param $len i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32))
            (i64.extend_i32_u (local.get $len))))
  (func (export "get_name") (result i64) (call $pack (i32.const 16) (i32.const {len})))
  ;; Returns the input unchanged (copied after it).
  (func $echo (param $ptr i32) (param $len i32) (result i64)
    (memory.copy (i32.add (local.get $ptr) (local.get $len)) (local.get $ptr) (local.get $len))
    (call $pack (i32.add (local.get $ptr) (local.get $len)) (local.get $len)))
  ;; Returns the input with every `x_s` turned into `y_s`: fields named x_sentinel_* are
  ;; renamed, i.e. lost, the way a typed decoder drops fields it does not know.
  (func $lossy (param $ptr i32) (param $len i32) (result i64)
    (local $out i32) (local $i i32) (local $b i32)
    (local.set $out (i32.add (local.get $ptr) (local.get $len)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $b (i32.load8_u (i32.add (local.get $ptr) (local.get $i))))
        (if (i32.and (i32.eq (local.get $b) (i32.const 120))
                     (i32.eq (i32.load16_u (i32.add (i32.add (local.get $ptr) (local.get $i)) (i32.const 1)))
                             (i32.const 0x735f)))
          (then (local.set $b (i32.const 121))))
        (i32.store8 (i32.add (local.get $out) (local.get $i)) (local.get $b))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (call $pack (local.get $out) (local.get $len)))
"#,
        len = name.len()
    )
}

const FREE_ONE_ARG: &str = r#"(func (export "free") (param i32))"#;
const FREE_TWO_ARGS: &str = r#"(func (export "free") (param i32 i32))"#;

fn hook(export: &str, body: &str) -> String {
    format!(r#"(func (export "{export}") (param i32 i32) (result i64) {body})"#)
}

const ECHO: &str = "(call $echo (local.get 0) (local.get 1))";
const LOSSY: &str = "(call $lossy (local.get 0) (local.get 1))";

fn module(parts: &[String]) -> String {
    format!("(module\n{}\n)\n", parts.join("\n"))
}

/// An echo plugin in the AssemblyScript style: `free(ptr)`, the generation 2 name
/// `http_intercept`, and `pre_hook` / `post_hook`, each returning its input unchanged.
pub fn echo_plugin() -> String {
    module(&[
        base("echo-plugin", FREE_ONE_ARG),
        hook("http_intercept", ECHO),
        hook("pre_hook", ECHO),
        hook("post_hook", ECHO),
    ])
}

/// Like the echo plugin, but it renames `x_sentinel_*` fields in `pre_hook` and `post_hook`.
pub fn lossy_plugin() -> String {
    module(&[
        base("lossy-plugin", FREE_TWO_ARGS),
        hook("pre_hook", LOSSY),
        hook("post_hook", LOSSY),
    ])
}

/// A plugin whose `pre_hook` always traps (`unreachable`); its `post_hook` echoes.
pub fn trapping_plugin() -> String {
    module(&[
        base("trap-plugin", FREE_TWO_ARGS),
        hook("pre_hook", "unreachable"),
        hook("post_hook", ECHO),
    ])
}

/// A module that breaks the ABI three ways: no allocator, no `get_name`, and a `pre_hook`
/// of the wrong type.
pub fn abi_broken_plugin() -> String {
    module(&[
        r#"(memory (export "memory") 1)"#.to_string(),
        r#"(func (export "pre_hook") (param i32) (result i32) (i32.const 0))"#.to_string(),
    ])
}

/// Writes `wat` to a temporary `.wat` file.
pub fn file(name: &str, wat: &str) -> TempFile {
    TempFile::new(&format!("{name}.wat"), wat)
}

/// An echo plugin whose `init` accepts only a configuration that is a JSON array: it refuses
/// an empty, `null` and `{}` config (returning 1), like a plugin that cannot run on defaults.
pub fn needs_config_plugin() -> String {
    module(&[
        base("needs-config", FREE_TWO_ARGS),
        r#"(func (export "init") (param $ptr i32) (param $len i32) (result i32)
             (if (result i32) (i32.and (i32.gt_u (local.get $len) (i32.const 0))
                                       (i32.eq (i32.load8_u (local.get $ptr)) (i32.const 91)))
               (then (i32.const 0))
               (else (i32.const 1))))"#
            .to_string(),
        hook("pre_hook", ECHO),
    ])
}
