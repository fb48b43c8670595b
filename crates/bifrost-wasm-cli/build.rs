//! Embeds the sources of the crates a generated plugin depends on (types, SDK, host), so that
//! `bifrost-wasm new` works anywhere, offline, even when the source tree the CLI was built
//! from is gone: it writes them next to the new crate as path dependencies.
//!
//! Their manifests are made standalone here: `*.workspace = true` replaced by the workspace's
//! values, our crates as `path = "../<crate>"`, and what only this repository has (dev-
//! dependencies, benches, lints) left out; the readme it names is embedded as `README.md`. A
//! manifest that keeps any workspace inheritance fails this build rather than a user's. The
//! workspace's `Cargo.lock` is embedded too, so a generated crate resolves the same versions
//! (the ones already in the cargo cache).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The crates a plugin crate needs, in dependency order.
const CRATES: [&str; 3] = ["bifrost-wasm-types", "bifrost-wasm-sdk", "bifrost-wasm-host"];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest_dir.join("../..");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
    let workspace = std::fs::read_to_string(root.join("Cargo.toml")).expect("the workspace manifest");
    println!("cargo:rerun-if-changed={}", root.join("Cargo.toml").display());
    println!("cargo:rerun-if-changed={}", root.join("Cargo.lock").display());

    let mut files = String::from("/// Files of the crates a plugin depends on: (path, contents).\npub const VENDORED: &[(&str, &[u8])] = &[\n");
    for krate in CRATES {
        let dir = root.join("crates").join(krate);
        println!("cargo:rerun-if-changed={}", dir.join("Cargo.toml").display());
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("a crate manifest");
        let standalone = standalone_manifest(&manifest, &workspace);
        if let Some(line) = standalone
            .lines()
            .find(|l| l.contains("workspace = true") || l.contains(".workspace"))
        {
            panic!(
                "build.rs cannot make the manifest of {krate} standalone: `{}` is left; \
                 teach standalone_manifest that form of workspace inheritance",
                line.trim()
            );
        }
        let generated = out.join(format!("{krate}.Cargo.toml"));
        std::fs::write(&generated, standalone).expect("write the manifest");
        let _ = writeln!(
            files,
            "    ({:?}, include_bytes!({:?})),",
            format!("{krate}/Cargo.toml"),
            generated.display().to_string()
        );
        // The readme the manifest names (it is written as `README.md` next to the manifest).
        if let Some((_, value)) = section(&manifest, "package")
            .into_iter()
            .find(|(k, _)| k == "readme")
        {
            let readme = dir.join(value.trim_matches('"'));
            println!("cargo:rerun-if-changed={}", readme.display());
            let _ = writeln!(
                files,
                "    ({:?}, include_bytes!({:?})),",
                format!("{krate}/README.md"),
                readme
                    .canonicalize()
                    .expect("the readme exists")
                    .display()
                    .to_string()
            );
        }
        for sub in ["src", "fixtures"] {
            let base = dir.join(sub);
            if !base.is_dir() {
                continue;
            }
            println!("cargo:rerun-if-changed={}", base.display());
            let mut found = Vec::new();
            walk(&base, &mut found);
            found.sort();
            for path in found {
                let relative = path.strip_prefix(&dir).expect("under the crate");
                let _ = writeln!(
                    files,
                    "    ({:?}, include_bytes!({:?})),",
                    format!("{krate}/{}", relative.display()),
                    path.canonicalize().expect("exists").display().to_string()
                );
            }
        }
    }
    files.push_str("];\n\n/// The workspace's lock file.\npub const LOCKFILE: &[u8] = include_bytes!(");
    let _ = writeln!(
        files,
        "{:?});\n",
        root.join("Cargo.lock")
            .canonicalize()
            .expect("Cargo.lock")
            .display()
            .to_string()
    );
    std::fs::write(out.join("vendored.rs"), files).expect("write vendored.rs");
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, found);
        } else {
            found.push(path);
        }
    }
}

/// The `key = value` lines of `[section]` in a manifest.
fn section(manifest: &str, name: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in manifest.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            inside = trimmed == format!("[{name}]");
            continue;
        }
        if inside && !trimmed.starts_with('#') {
            if let Some((key, value)) = trimmed.split_once('=') {
                out.push((key.trim().to_string(), value.trim().to_string()));
            }
        }
    }
    out
}

/// The members of an inline table's text (`{ a = 1, b = [2, 3] }` -> `["a = 1", "b = [2, 3]"]`),
/// or of a plain version string (`"1"` -> `["version = \"1\""]`).
fn members(value: &str) -> Vec<String> {
    let value = value.trim();
    let Some(inner) = value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) else {
        return vec![format!("version = {value}")];
    };
    let (mut out, mut current, mut depth, mut quoted) = (Vec::new(), String::new(), 0, false);
    for c in inner.chars() {
        match c {
            '"' => quoted = !quoted,
            '[' if !quoted => depth += 1,
            ']' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(current.trim().to_string());
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

/// A dependency's value with the workspace's entry merged in (features are joined).
fn dependency(name: &str, own: &[String], workspace: &[(String, String)]) -> String {
    let mut merged: Vec<String> = if name.starts_with("bifrost-wasm-") {
        vec![format!("path = \"../{name}\"")]
    } else {
        let entry = workspace
            .iter()
            .find(|(k, _)| k == name)
            .unwrap_or_else(|| panic!("{name} is not in [workspace.dependencies]"));
        members(&entry.1)
    };
    for member in own.iter().filter(|m| !m.starts_with("workspace")) {
        let key = member.split('=').next().unwrap_or("").trim();
        match merged
            .iter_mut()
            .find(|m| m.split('=').next().unwrap_or("").trim() == key)
        {
            Some(existing) if key == "features" => {
                let list = |m: &str| -> Vec<String> {
                    let inner = m.split_once('=').map_or("", |(_, v)| v).trim();
                    let inner = inner.trim_start_matches('[').trim_end_matches(']');
                    inner
                        .split(',')
                        .map(|f| f.trim().to_string())
                        .filter(|f| !f.is_empty())
                        .collect()
                };
                let mut features = list(existing);
                for f in list(member) {
                    if !features.contains(&f) {
                        features.push(f);
                    }
                }
                *existing = format!("features = [{}]", features.join(", "));
            }
            Some(existing) => *existing = member.clone(),
            None => merged.push(member.clone()),
        }
    }
    format!("{{ {} }}", merged.join(", "))
}

/// The crate's manifest without workspace inheritance, for a copy outside the workspace.
fn standalone_manifest(manifest: &str, workspace: &str) -> String {
    let package = section(workspace, "workspace.package");
    let dependencies = section(workspace, "workspace.dependencies");
    let mut out = String::from("# Written by `bifrost-wasm new` from the crate's sources.\n");
    let mut current = String::new();
    let mut skip = false;
    for line in manifest.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            current = trimmed.to_string();
            skip = matches!(trimmed, "[dev-dependencies]" | "[lints]")
                || trimmed.starts_with("[[bench")
                || trimmed.starts_with("[[example")
                || trimmed.starts_with("[[test");
            if !skip {
                out.push_str(line);
                out.push('\n');
            }
            continue;
        }
        if skip {
            continue;
        }
        let dependency_section = current.ends_with("dependencies]");
        match trimmed.split_once('=') {
            // main() writes the readme next to the manifest.
            Some((key, _)) if current == "[package]" && key.trim() == "readme" => {
                out.push_str("readme = \"README.md\"\n");
            }
            Some((key, _)) if current == "[package]" && key.trim().ends_with(".workspace") => {
                let key = key.trim().trim_end_matches(".workspace");
                let value = package
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| panic!("{key} is not in [workspace.package]"));
                let _ = writeln!(out, "{key} = {value}");
            }
            Some((key, _)) if dependency_section && key.trim().ends_with(".workspace") => {
                let name = key.trim().trim_end_matches(".workspace");
                let _ = writeln!(out, "{name} = {}", dependency(name, &[], &dependencies));
            }
            Some((key, value)) if dependency_section && value.contains("workspace = true") => {
                let name = key.trim();
                let _ = writeln!(
                    out,
                    "{name} = {}",
                    dependency(name, &members(value), &dependencies)
                );
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}
