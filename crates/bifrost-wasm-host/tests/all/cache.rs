//! The on-disk cache of compiled modules.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bifrost_wasm_host::{Hook, Host, HostConfig, LoadedPlugin};

use crate::wat::{self, INPUT};

/// A fresh, empty cache directory for one test.
fn cache_dir(test: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "bifrost-wasm-host-cache-{}-{test}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn host(dir: &Path) -> Host {
    Host::new(
        HostConfig::default()
            .with_cache_dir(Some(dir.to_path_buf()))
            .with_pooling_slots(16),
    )
    .unwrap()
}

fn plugin_wat() -> String {
    wat::module("", &[&wat::alloc(), &wat::echo("pre_hook")])
}

fn load(host: &Host) -> LoadedPlugin {
    host.load_bytes(plugin_wat().as_bytes(), "cached").unwrap()
}

fn works(plugin: &LoadedPlugin) {
    let mut instance = plugin.instantiate(None).unwrap();
    assert_eq!(instance.call(Hook::PreHook, INPUT).unwrap().as_bytes(), INPUT);
}

#[test]
fn second_load_hits_the_cache() {
    let dir = cache_dir("hit");
    let first = load(&host(&dir));
    assert!(!first.load_report().cache_hit);
    let path = first.load_report().cache_path.clone().expect("cache path");
    assert!(path.exists(), "entry written at {}", path.display());
    // A new host (a new process, in effect) finds the entry.
    let second = load(&host(&dir));
    assert!(second.load_report().cache_hit);
    assert_eq!(second.load_report().cache_path.as_ref(), Some(&path));
    works(&second);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn corrupted_cache_entry_is_recompiled() {
    let dir = cache_dir("corrupt");
    let path = load(&host(&dir)).load_report().cache_path.clone().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();

    let reloaded = load(&host(&dir));
    let report = reloaded.load_report();
    assert!(!report.cache_hit);
    assert!(
        report.cache_rejected.as_deref().unwrap().contains("checksum"),
        "{report:?}"
    );
    works(&reloaded);
    // The entry was rewritten and is good again.
    assert!(load(&host(&dir)).load_report().cache_hit);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn truncated_cache_entry_is_recompiled() {
    let dir = cache_dir("truncated");
    let path = load(&host(&dir)).load_report().cache_path.clone().unwrap();
    std::fs::write(&path, b"bifrost").unwrap();
    let reloaded = load(&host(&dir));
    assert!(!reloaded.load_report().cache_hit);
    assert!(reloaded.load_report().cache_rejected.is_some());
    works(&reloaded);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn intact_entry_from_another_engine_configuration_is_recompiled() {
    // An entry compiled without epoch interruption, placed under the key of a host
    // with epochs: its checksum is fine, but wasmtime must refuse the code.
    let dir = cache_dir("foreign");
    let path = load(&host(&dir)).load_report().cache_path.clone().unwrap();
    let other_dir = cache_dir("foreign-other");
    let no_epochs = Host::new(
        HostConfig::default()
            .with_cache_dir(Some(other_dir.clone()))
            .with_deadline(None)
            .with_pooling_slots(16),
    )
    .unwrap();
    let foreign = load(&no_epochs).load_report().cache_path.clone().unwrap();
    std::fs::copy(&foreign, &path).unwrap();

    let reloaded = load(&host(&dir));
    let report = reloaded.load_report();
    assert!(!report.cache_hit);
    assert!(
        report.cache_rejected.as_deref().unwrap().contains("incompatible"),
        "{report:?}"
    );
    works(&reloaded);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&other_dir);
}

#[test]
fn code_affecting_settings_change_the_cache_key() {
    let dir = cache_dir("key");
    let with_epochs = load(&host(&dir));
    let without_epochs = Host::new(
        HostConfig::default()
            .with_cache_dir(Some(dir.clone()))
            .with_deadline(None)
            .with_pooling_slots(16),
    )
    .unwrap();
    let other = load(&without_epochs);
    assert!(!other.load_report().cache_hit);
    assert_ne!(
        with_epochs.load_report().cache_path,
        other.load_report().cache_path
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn load_without_cache_reports_no_cache_path() {
    let plugin = Host::new(HostConfig::default().with_pooling_slots(16))
        .unwrap()
        .load_bytes(plugin_wat().as_bytes(), "uncached")
        .unwrap();
    let report = plugin.load_report();
    assert!(!report.cache_hit);
    assert!(report.cache_path.is_none());
    assert!(report.total_time >= report.compile_time);
    assert!(report.total_time > Duration::ZERO);
}
