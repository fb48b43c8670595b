//! `bifrost-wasm new`: the generated files, the SDK dependency chosen inside and outside a
//! checkout, and refusals. The full build and test of a generated crate (slow: it compiles a
//! wasm crate and the host) is `scripts/scaffold-check.sh`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn new(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bifrost-wasm"))
        .arg("new")
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run bifrost-wasm")
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// `cargo metadata --no-deps` on the generated crate: its manifest parses and names the
/// targets a plugin needs (without compiling anything).
fn metadata(dir: &Path) -> serde_json::Value {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--no-deps", "--offline", "--format-version", "1"])
        .current_dir(dir)
        .output()
        .expect("run cargo metadata");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn fresh_dir_in(parent: &Path, name: &str) -> PathBuf {
    let dir = parent.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(parent).unwrap();
    dir
}

#[test]
fn inside_the_checkout_the_crate_uses_path_dependencies_and_has_every_file() {
    let dir = fresh_dir_in(Path::new(env!("CARGO_TARGET_TMPDIR")), "new-inside/pii-filter");
    let out = new(&["pii-filter", "--path", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("path dependencies into the checkout"), "{stdout}");

    for file in [
        "Cargo.toml",
        "src/lib.rs",
        "tests/wasm.rs",
        "Makefile",
        "README.md",
        ".gitignore",
    ] {
        assert!(dir.join(file).is_file(), "{file} missing");
    }
    let cargo = read(&dir, "Cargo.toml");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap();
    let sdk_path = cargo
        .lines()
        .find_map(|l| l.strip_prefix("bifrost-wasm-sdk = { path = \""))
        .and_then(|l| l.strip_suffix("\" }"))
        .unwrap_or_else(|| panic!("no SDK path dependency:\n{cargo}"));
    assert!(Path::new(sdk_path).is_relative(), "{sdk_path}");
    assert_eq!(
        dir.join(sdk_path).canonicalize().unwrap(),
        root.join("crates/bifrost-wasm-sdk")
    );
    for needle in [
        "crate-type = [\"cdylib\", \"rlib\"]",
        "\n[workspace]\n",
        "[profile.release]\nopt-level = \"s\"\nlto = true\ncodegen-units = 1\npanic = \"abort\"\nstrip = true",
        "bifrost-wasm-host = { path = ",
    ] {
        assert!(cargo.contains(needle), "Cargo.toml lacks {needle:?}:\n{cargo}");
    }

    let lib = read(&dir, "src/lib.rs");
    assert!(lib.contains("impl Plugin for PiiFilterPlugin"), "{lib}");
    assert!(lib.contains("const NAME: &'static str = \"pii-filter\";"));
    assert!(lib.contains("bifrost_wasm_sdk::export_plugin!(PiiFilterPlugin);"));
    assert!(lib.contains("#[cfg(test)]"));
    let wasm_test = read(&dir, "tests/wasm.rs");
    assert!(wasm_test.contains("\"wasm32-unknown-unknown\""));
    assert!(wasm_test.contains(".join(\"pii_filter.wasm\")"));
    assert!(wasm_test.contains("host.load_file(path)"));
    let makefile = read(&dir, "Makefile");
    for target in ["build:", "build-optimized: build", "clean:"] {
        assert!(makefile.contains(target), "Makefile lacks {target}");
    }
    assert!(makefile.contains("build/$(NAME).wasm") && makefile.contains("NAME        := pii-filter"));
    for text in [&cargo, &lib, &wasm_test, &makefile, &read(&dir, "README.md")] {
        assert!(!text.contains("{{"), "an unfilled placeholder:\n{text}");
    }

    let meta = metadata(&dir);
    let package = &meta["packages"][0];
    assert_eq!(package["name"], "pii-filter");
    let kinds = &package["targets"][0]["crate_types"];
    assert_eq!(kinds, &serde_json::json!(["cdylib", "rlib"]));
    assert_eq!(
        meta["workspace_root"],
        dir.canonicalize().unwrap().to_str().unwrap()
    );
}

#[test]
fn outside_a_checkout_the_crate_uses_the_tree_this_tool_was_built_from_or_the_registry_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("my_guard");
    let out = new(&["my_guard", "--path", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cargo = read(&dir, "Cargo.toml");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap();
    // Absolute, or relative when the two share a folder (both under /tmp, say): either way
    // it names this tree's SDK.
    let sdk_path = cargo
        .lines()
        .find_map(|l| l.strip_prefix("bifrost-wasm-sdk = { path = \""))
        .and_then(|l| l.strip_suffix("\" }"))
        .unwrap_or_else(|| panic!("no SDK path dependency:\n{cargo}"));
    assert_eq!(
        dir.join(sdk_path).canonicalize().unwrap(),
        root.join("crates/bifrost-wasm-sdk"),
        "{cargo}"
    );
    assert!(dir.join("Cargo.lock").is_file());
    assert_eq!(metadata(&dir)["packages"][0]["name"], "my_guard");

    // --registry: the published crates at this tool's major.minor (`0.2` for 0.2.x).
    let published = tmp.path().join("published");
    let out = new(&["published", "--path", published.to_str().unwrap(), "--registry"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cargo = read(&published, "Cargo.toml");
    let version = env!("CARGO_PKG_VERSION");
    let requirement = &version[..version.rfind('.').unwrap()];
    for krate in ["bifrost-wasm-sdk", "bifrost-wasm-host"] {
        assert!(cargo.contains(&format!("{krate} = \"{requirement}\"")), "{cargo}");
    }
    assert!(read(&published, "README.md").contains("--vendor"));

    // --repo points an outside crate at a checkout.
    let pinned = tmp.path().join("pinned");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = new(&[
        "pinned",
        "--path",
        pinned.to_str().unwrap(),
        "--repo",
        repo.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cargo = read(&pinned, "Cargo.toml");
    assert!(cargo.contains("bifrost-wasm-sdk = { path = "), "{cargo}");
    assert_eq!(metadata(&pinned)["packages"][0]["name"], "pinned");
}

#[test]
fn bad_names_busy_directories_and_workspace_member_folders_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, needle) in [
        ("1plugin", "must start with a letter"),
        ("my.plugin", "contains `.`"),
        ("serde", "crate the plugin uses"),
    ] {
        let out = new(&[name, "--path", tmp.path().join("x").to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{name}: {stderr}");
    }
    let busy = tmp.path().join("busy");
    std::fs::create_dir_all(&busy).unwrap();
    std::fs::write(busy.join("keep.txt"), "mine").unwrap();
    let out = new(&["busy", "--path", busy.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists and is not empty"));
    assert_eq!(std::fs::read_to_string(busy.join("keep.txt")).unwrap(), "mine");

    let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/zz-scaffold-refused");
    let out = new(&["zz-scaffold-refused", "--path", plugins.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("member of the repository's workspace"));
    assert!(!plugins.exists(), "the refused directory is not left behind");
}

#[test]
fn vendored_crate_carries_the_sdk_resolves_offline_and_builds_for_wasm() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("myplug");
    let out = new(&["myplug", "--path", dir.to_str().unwrap(), "--vendor"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("written into vendor/"));
    let cargo = read(&dir, "Cargo.toml");
    assert!(
        cargo.contains("bifrost-wasm-sdk = { path = \"vendor/bifrost-wasm-sdk\" }"),
        "{cargo}"
    );
    assert!(cargo.contains("exclude = [\"vendor\"]"), "{cargo}");
    for krate in ["bifrost-wasm-types", "bifrost-wasm-sdk", "bifrost-wasm-host"] {
        let manifest = read(&dir, &format!("vendor/{krate}/Cargo.toml"));
        assert!(
            !manifest.contains("workspace = true") && !manifest.contains(".workspace"),
            "{manifest}"
        );
        assert!(dir.join(format!("vendor/{krate}/src/lib.rs")).is_file());
    }
    // The whole graph (the host and wasmtime included) resolves offline, from the lock file
    // the crate came with.
    let cargo_bin = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(&cargo_bin)
        .args(["metadata", "--offline", "--format-version", "1"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let host = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "bifrost-wasm-host")
        .expect("the host is in the graph");
    assert!(host["manifest_path"]
        .as_str()
        .unwrap()
        .contains("vendor/bifrost-wasm-host"));
    // The plugin itself builds for wasm32 offline (the host and its tests are the scaffold
    // check's job: scripts/scaffold-check.sh).
    let target_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/plugins");
    let out = Command::new(&cargo_bin)
        .args([
            "build",
            "--offline",
            "--quiet",
            "--lib",
            "--target",
            "wasm32-unknown-unknown",
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(target_dir
        .join("wasm32-unknown-unknown/debug/myplug.wasm")
        .is_file());
}
