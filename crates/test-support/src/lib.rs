//! Test helpers shared by the workspace's integration tests.
//!
//! Tests never trust a checked-in `.wasm`: [`plugin_wasm`] builds the plugin crate
//! from source (once per test process) with the workspace's `wasm` profile into a
//! separate target directory, so the nested `cargo` never contends with the
//! `cargo test` that runs us for the same build lock.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The wasm targets plugins are built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WasmTarget {
    /// `wasm32-unknown-unknown`: no imports at all (the SDK's default).
    Unknown,
    /// `wasm32-wasip1`: WASI preview 1 imports.
    Wasip1,
}

impl WasmTarget {
    /// The rustc target triple.
    pub fn triple(self) -> &'static str {
        match self {
            WasmTarget::Unknown => "wasm32-unknown-unknown",
            WasmTarget::Wasip1 => "wasm32-wasip1",
        }
    }
}

/// Root of the cargo workspace.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("test-support lives at crates/test-support")
        .to_path_buf()
}

/// Target directory used for plugin builds made from tests.
pub fn plugin_target_dir() -> PathBuf {
    workspace_root().join("target").join("plugins")
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

/// Builds workspace package `package` for `wasm32-unknown-unknown` with the `wasm`
/// profile and returns the path of the `.wasm` file. Panics with cargo's output if
/// the build fails (this is test support: a failed build is a failed test).
pub fn plugin_wasm(package: &str) -> PathBuf {
    plugin_wasm_for(package, WasmTarget::Unknown)
}

/// Like [`plugin_wasm`] for an explicit target.
pub fn plugin_wasm_for(package: &str, target: WasmTarget) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<(String, WasmTarget), PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get(&(package.to_string(), target)) {
        return path.clone();
    }
    let target_dir = plugin_target_dir();
    let output = Command::new(cargo())
        .current_dir(workspace_root())
        // `rustc --crate-type cdylib`: cargo applies the profile's LTO only to a library that
        // is not also an `rlib`, and the plugins are `rlib`s too (for their native tests).
        .args([
            "rustc",
            "--quiet",
            "--lib",
            "--crate-type",
            "cdylib",
            "--profile",
            "wasm",
            "--target",
        ])
        .arg(target.triple())
        .arg("-p")
        .arg(package)
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .expect("failed to run cargo to build a plugin");
    if !output.status.success() {
        panic!(
            "building plugin `{package}` for {} failed:\n{}",
            target.triple(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let path = target_dir
        .join(target.triple())
        .join("wasm")
        .join(format!("{}.wasm", package.replace('-', "_")));
    assert!(path.exists(), "cargo succeeded but {} is missing", path.display());
    built.insert((package.to_string(), target), path.clone());
    path
}

/// Reads the bytes of a built plugin (see [`plugin_wasm`]).
pub fn plugin_bytes(package: &str) -> Vec<u8> {
    std::fs::read(plugin_wasm(package)).expect("read built plugin")
}
