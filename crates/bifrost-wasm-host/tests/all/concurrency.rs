//! Many callers: pooled and shared instances.

use std::sync::Arc;
use std::time::Duration;

use bifrost_wasm_host::{ErrorKind, Hook, HookRunner, InstancePool, PoolConfig, SharedInstance};

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
        matches!(err.kind(), ErrorKind::PoolExhausted { max_instances: 2, .. }),
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
    assert!(
        matches!(err.kind(), ErrorKind::InitFailed { code: 2, .. }),
        "{err}"
    );
}

fn plugin_whose_cleanup_returns_7() -> bifrost_wasm_host::LoadedPlugin {
    crate::load(&wat::module(
        "",
        &[
            &wat::alloc(),
            &wat::echo("pre_hook"),
            r#"(func (export "cleanup") (result i32) (i32.const 7))"#,
        ],
    ))
}

#[test]
fn pool_cleanup_cleans_idle_instances_and_those_returned_within_the_grace_period_then_closes() {
    let pool = Arc::new(
        InstancePool::new(
            &plugin_whose_cleanup_returns_7(),
            None,
            PoolConfig::default().with_max_instances(3).with_min_instances(2),
        )
        .unwrap(),
    );
    let held = pool.checkout().unwrap();
    let returner = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        drop(held);
    });
    let report = pool.cleanup(Duration::from_secs(10));
    returner.join().unwrap();
    // Both instances (one idle, one returned during the wait) had `cleanup` called once.
    assert_eq!(report.non_zero, [7, 7]);
    assert_eq!((report.cleaned, report.still_busy), (0, 0));
    assert!(report.errors.is_empty());
    assert!(matches!(
        pool.checkout().map_err(|e| e.kind().clone()),
        Err(ErrorKind::PoolClosed)
    ));
    assert!(matches!(
        pool.try_checkout().map_err(|e| e.kind().clone()),
        Err(ErrorKind::PoolClosed)
    ));
    let again = pool.cleanup(Duration::ZERO);
    assert!(again.non_zero.is_empty() && again.cleaned == 0 && again.still_busy == 0);
}

#[test]
fn pool_cleanup_reports_instances_still_checked_out_when_the_grace_period_ends() {
    let pool = InstancePool::new(
        &plugin_whose_cleanup_returns_7(),
        None,
        PoolConfig::default().with_max_instances(2).with_min_instances(2),
    )
    .unwrap();
    let held = pool.checkout().unwrap();
    let report = pool.cleanup(Duration::from_millis(50));
    assert_eq!(report.non_zero, [7]);
    assert_eq!(report.still_busy, 1);
    drop(held);
}
