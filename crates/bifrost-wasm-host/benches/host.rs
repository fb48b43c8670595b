//! Host costs, each next to a baseline measured in the same run:
//!
//! * `call/*`: one trivial round trip (64-byte JSON echo). Baselines: calling the wasm
//!   hook directly with wasmtime (the guest's own work), and a hand-written minimal
//!   malloc/write/call/read/free round trip with raw wasmtime; vs the host's `call`.
//! * `instantiate/*`: a fresh `init`ed instance (created, `init`ed, cleaned up and
//!   dropped), pooling with the default 2 MiB kept resident, pooling returning all
//!   memory to the kernel, and no pooling.
//! * `load/*`: loading hello-world with a warm on-disk cache vs compiling.
//! * `epoch/*`: the same hook with the deadline mechanism (epoch interruption) vs
//!   none: hello-world's `pre_hook` on a chat request (serde JSON work), and a WAT
//!   byte-scanning loop (the worst case: all loop back-edges).

// criterion's macros generate public functions without doc comments.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use bifrost_wasm_host::{Hook, Host, HostConfig, LoadedPlugin};
use criterion::{criterion_group, criterion_main, Criterion};
use wasmtime::{Linker, Memory, Store, TypedFunc};

/// A trivial plugin: fixed input buffer, `pre_hook` copies the input to a fixed
/// output buffer; `post_hook` scans the input byte by byte 64 times, counting quotes
/// (a stand-in for JSON tokenising), and returns `{}`.
const TRIVIAL: &str = r#"(module
  (memory (export "memory") 2)
  (data (i32.const 16) "bench")
  (data (i32.const 32) "{}")
  (func (export "malloc") (param i32) (result i32) (i32.const 1024))
  (func (export "free") (param i32 i32))
  (func (export "get_name") (result i64) (i64.const 0x0000001000000005))
  (func (export "pre_hook") (param $p i32) (param $l i32) (result i64)
    (memory.copy (i32.const 65536) (local.get $p) (local.get $l))
    (i64.or (i64.const 0x0001000000000000) (i64.extend_i32_u (local.get $l))))
  (func (export "post_hook") (param $p i32) (param $l i32) (result i64)
    (local $round i32) (local $i i32) (local $quotes i32)
    (loop $rounds
      (local.set $i (i32.const 0))
      (loop $scan
        (if (i32.eq (i32.load8_u (i32.add (local.get $p) (local.get $i))) (i32.const 34))
          (then (local.set $quotes (i32.add (local.get $quotes) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $scan (i32.lt_u (local.get $i) (local.get $l))))
      (local.set $round (i32.add (local.get $round) (i32.const 1)))
      (br_if $rounds (i32.lt_u (local.get $round) (i32.const 64))))
    (drop (local.get $quotes))
    (i64.const 0x0000002000000002)))"#;

const INPUT: &[u8] = br#"{"context":{"request_id":"abc-123"},"request":{"model":"gpt-4"}}"#;

fn host_with(pooling: bool, deadline: Option<Duration>, cache: Option<std::path::PathBuf>) -> Host {
    Host::new(
        HostConfig::default()
            .with_pooling(pooling)
            .with_pooling_slots(64)
            .with_deadline(deadline)
            .with_cache_dir(cache),
    )
    .expect("host")
}

fn trivial(host: &Host) -> LoadedPlugin {
    host.load_bytes(TRIVIAL.as_bytes(), "trivial").expect("load")
}

fn hello_world_bytes() -> Vec<u8> {
    std::fs::read(test_support::plugin_wasm("hello-world")).expect("hello-world")
}

/// Raw wasmtime access to an instance of `plugin`, for the baselines.
struct Raw {
    store: Store<()>,
    memory: Memory,
    malloc: TypedFunc<u32, u32>,
    free: TypedFunc<(u32, u32), ()>,
    hook: TypedFunc<(u32, u32), u64>,
}

impl Raw {
    fn new(plugin: &LoadedPlugin) -> Raw {
        let engine = plugin.host().engine().clone();
        let mut store = Store::new(&engine, ());
        store.set_epoch_deadline(u64::MAX / 2);
        let instance = Linker::new(&engine)
            .instantiate(&mut store, plugin.module())
            .expect("instantiate");
        Raw {
            memory: instance.get_memory(&mut store, "memory").expect("memory"),
            malloc: instance.get_typed_func(&mut store, "malloc").expect("malloc"),
            free: instance.get_typed_func(&mut store, "free").expect("free"),
            hook: instance.get_typed_func(&mut store, "pre_hook").expect("hook"),
            store,
        }
    }

    /// The smallest correct round trip with raw wasmtime (no checks beyond bounds).
    fn round_trip(&mut self, input: &[u8]) -> Vec<u8> {
        let ptr = self.malloc.call(&mut self.store, input.len() as u32).unwrap();
        self.memory.write(&mut self.store, ptr as usize, input).unwrap();
        let packed = self
            .hook
            .call(&mut self.store, (ptr, input.len() as u32))
            .unwrap();
        let (out, len) = ((packed >> 32) as usize, packed as u32 as usize);
        let output = self.memory.data(&self.store)[out..out + len].to_vec();
        self.free.call(&mut self.store, (out as u32, len as u32)).unwrap();
        self.free
            .call(&mut self.store, (ptr, input.len() as u32))
            .unwrap();
        output
    }
}

fn calls(c: &mut Criterion) {
    let host = host_with(true, Some(Duration::from_secs(1)), None);
    let plugin = trivial(&host);
    let mut group = c.benchmark_group("call");
    let mut raw = Raw::new(&plugin);
    raw.memory.write(&mut raw.store, 1024, INPUT).unwrap();
    group.bench_function("guest_hook_only", |b| {
        b.iter(|| {
            raw.hook
                .call(&mut raw.store, (1024, black_box(INPUT.len() as u32)))
                .unwrap()
        })
    });
    let mut raw = Raw::new(&plugin);
    group.bench_function("raw_wasmtime_round_trip", |b| {
        b.iter(|| raw.round_trip(black_box(INPUT)))
    });
    let mut instance = plugin.instantiate(None).unwrap();
    group.bench_function("host_call", |b| {
        b.iter(|| instance.call(Hook::PreHook, black_box(INPUT)).unwrap())
    });
    let mut no_deadline = trivial(&host_with(false, None, None)).instantiate(None).unwrap();
    group.bench_function("host_call_without_deadline", |b| {
        b.iter(|| no_deadline.call(Hook::PreHook, black_box(INPUT)).unwrap())
    });
    group.finish();
}

fn instantiation(c: &mut Criterion) {
    let bytes = hello_world_bytes();
    let mut group = c.benchmark_group("instantiate");
    let variants = [
        ("pooling", HostConfig::default().with_pooling(true)),
        (
            "pooling_nothing_resident",
            HostConfig::default()
                .with_pooling(true)
                .with_pooling_keep_resident(0),
        ),
        ("on_demand", HostConfig::default().with_pooling(false)),
    ];
    for (name, config) in variants {
        let host = Host::new(config.with_pooling_slots(64)).unwrap();
        let plugin = host.load_bytes(&bytes, "hello-world").unwrap();
        group.bench_function(format!("hello_world_{name}"), |b| {
            b.iter(|| plugin.instantiate(None).unwrap())
        });
        let plugin = trivial(&host);
        group.bench_function(format!("trivial_{name}"), |b| {
            b.iter(|| plugin.instantiate(None).unwrap())
        });
    }
    group.finish();
}

fn loading(c: &mut Criterion) {
    let bytes = hello_world_bytes();
    let dir = std::env::temp_dir().join(format!("bifrost-wasm-bench-cache-{}", std::process::id()));
    let cached = host_with(true, Some(Duration::from_secs(1)), Some(dir.clone()));
    cached.load_bytes(&bytes, "hello-world").unwrap();
    let uncached = host_with(true, Some(Duration::from_secs(1)), None);
    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    group.bench_function("hello_world_cached", |b| {
        b.iter(|| {
            let plugin = cached.load_bytes(&bytes, "hello-world").unwrap();
            assert!(plugin.load_report().cache_hit);
            plugin
        })
    });
    group.bench_function("hello_world_compiled", |b| {
        b.iter(|| uncached.load_bytes(&bytes, "hello-world").unwrap())
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

fn chat_request(messages: usize) -> Vec<u8> {
    let input: Vec<serde_json::Value> = (0..messages)
        .map(|i| {
            serde_json::json!({
                "role": if i % 2 == 0 { "user" } else { "assistant" },
                "content": format!("message {i}: the quick brown fox jumps over the lazy dog, {}", "lorem ipsum ".repeat(8)),
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "context": {"request_id": "abc-123", "x-bf-vk": "vk-1"},
        "request": {"provider": "openai", "model": "gpt-4", "input": input, "params": {"temperature": 0.7}}
    }))
    .unwrap()
}

fn epochs(c: &mut Criterion) {
    let bytes = hello_world_bytes();
    let request = chat_request(24);
    let scan_input = vec![b'"'; 1024];
    let mut group = c.benchmark_group("epoch");
    for (name, deadline) in [
        ("with_epochs", Some(Duration::from_secs(1))),
        ("without_epochs", None),
    ] {
        let host = host_with(true, deadline, None);
        let mut hello = host
            .load_bytes(&bytes, "hello-world")
            .unwrap()
            .instantiate(None)
            .unwrap();
        group.bench_function(format!("hello_world_pre_hook_{name}"), |b| {
            b.iter(|| hello.call(Hook::PreHook, black_box(&request)).unwrap())
        });
        let mut scan = trivial(&host).instantiate(None).unwrap();
        group.bench_function(format!("wat_scan_loop_{name}"), |b| {
            b.iter(|| scan.call(Hook::PostHook, black_box(&scan_input)).unwrap())
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = calls, instantiation, loading, epochs
}
criterion_main!(benches);
