//! Many callers: pooled and shared instances.

use std::sync::Arc;
use std::time::Duration;

use bifrost_wasm_host::{Hook, HookRunner, HostError, InstancePool, PoolConfig, SharedInstance};

use crate::wat;

fn echo_plugin() -> bifrost_wasm_host::LoadedPlugin {
    crate::load(&wat::module("", &[&wat::alloc(), &wat::echo("pre_hook")]))
}

fn hammer(runner: Arc<dyn HookRunner>, threads: usize, calls: usize) {
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let runner = Arc::clone(&runner);
            std::thread::spawn(move || {
                for i in 0..calls {
                    let input = format!(r#"{{"thread":{t},"call":{i},"pad":"{}"}}"#, "y".repeat(i % 17));
                    let output = runner.call_hook(Hook::PreHook, input.as_bytes()).unwrap();
                    assert_eq!(output.as_deref(), Some(input.as_str()));
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
}

#[test]
fn pooled_calls_from_many_threads_each_get_their_own_answer() {
    let pool = InstancePool::new(
        &echo_plugin(),
        None,
        PoolConfig::default().with_max_instances(4).with_min_instances(1),
    )
    .unwrap();
    let pool = Arc::new(pool);
    hammer(pool.clone(), 8, 200);
    let stats = pool.stats();
    assert!(stats.total <= 4 && stats.total >= 1, "{stats:?}");
    assert_eq!(stats.idle, stats.total);
}

#[test]
fn shared_instance_serves_many_threads_each_their_own_answer() {
    let shared = Arc::new(SharedInstance::new(&echo_plugin(), None).unwrap());
    hammer(shared.clone(), 8, 200);
    assert_eq!(shared.with(|instance| instance.replacements()), 0);
}

#[test]
fn pool_applies_back_pressure_when_every_instance_is_busy() {
    let pool = InstancePool::new(
        &echo_plugin(),
        None,
        PoolConfig::default().with_max_instances(2).with_min_instances(0),
    )
    .unwrap();
    let first = pool.try_checkout().unwrap().expect("room for a first instance");
    let second = pool.checkout().unwrap();
    assert_eq!(pool.stats().total, 2);
    assert!(pool.try_checkout().unwrap().is_none());
    let err = pool.checkout_within(Duration::from_millis(20)).unwrap_err();
    assert!(
        matches!(err, HostError::PoolExhausted { max_instances: 2, .. }),
        "{err}"
    );
    // A waiter is woken when an instance comes back.
    let waiter = {
        let pool = pool.clone();
        std::thread::spawn(move || {
            pool.checkout_within(Duration::from_secs(30))
                .map(|mut instance| instance.call(Hook::PreHook, b"{}").unwrap())
        })
    };
    drop(first);
    assert_eq!(waiter.join().unwrap().unwrap(), "{}");
    drop(second);
    assert_eq!(pool.stats().idle, 2);
}

#[test]
fn pool_with_missing_hook_passes_through() {
    let pool = InstancePool::new(&echo_plugin(), None, PoolConfig::default()).unwrap();
    assert!(!pool.implements(Hook::PostHook));
    assert_eq!(pool.call_hook(Hook::PostHook, b"{}").unwrap(), None);
    assert_eq!(pool.plugin_name(), "wat-plugin");
}

#[test]
fn pool_rejects_a_config_the_plugin_rejects() {
    let plugin = crate::load(&wat::module(
        "",
        &[
            &wat::alloc(),
            r#"(func (export "init") (param i32 i32) (result i32) (local.get 1))"#,
        ],
    ));
    let err = InstancePool::new(&plugin, Some("{}"), PoolConfig::default()).unwrap_err();
    assert!(matches!(err, HostError::InitFailed { code: 2, .. }), "{err}");
}
