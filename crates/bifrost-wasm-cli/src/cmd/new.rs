//! `bifrost-wasm new NAME [--path DIR] [--repo DIR | --vendor | --registry]`: scaffold a plugin
//! crate that builds and passes its tests as generated.
//!
//! The crate is standalone (its own `[workspace]`), with:
//!
//! | file | what |
//! |---|---|
//! | `Cargo.toml` | `cdylib` + `rlib`, the SDK, the host as a dev-dependency, the release profile plugins are built with |
//! | `src/lib.rs` | a commented `Plugin` implementation (context tag, a model block list, a request counter) and native tests |
//! | `tests/wasm.rs` | builds the `.wasm` and runs it through the host: name, no imports, hooks through the ABI |
//! | `Makefile` | `build` → `build/NAME.wasm`, `build-optimized` (wasm-opt), `clean` |
//! | `README.md`, `.gitignore` | |
//!
//! **Where the SDK comes from.** It must build anywhere, offline, without a registry that has
//! our crates. In order:
//!
//! 1. `--repo DIR`, or a checkout of this repository above the new crate: path dependencies
//!    into that checkout;
//! 2. the source tree this `bifrost-wasm` was built from, while it still exists: path
//!    dependencies into it;
//! 3. otherwise (or with `--vendor`): the SDK, types and host sources embedded in this binary
//!    (at its own version), written into `vendor/` next to the crate as path dependencies;
//! 4. `--registry`: registry dependencies at this tool's version, for when the crates are
//!    published.
//!
//! Outside the registry case a `Cargo.lock` comes along (the checkout's for path dependencies,
//! the one this tool was built with for `vendor/`), so the crate resolves the third-party
//! versions the SDK and host were tested with. After `cargo install --locked --path
//! crates/bifrost-wasm-cli` those are in the cargo cache and the crate builds `--offline`;
//! otherwise its first build downloads them from crates.io.
//!
//! Every refusal names what to do instead: a target that exists and is not an empty folder, a
//! folder the repository's workspace would take as a member, a `--repo` without the SDK. When
//! writing fails half-way, what was written is removed again.

use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use crate::common::{usage, EXIT_OK};

/// Arguments of `new`.
#[derive(Debug, clap::Args)]
#[command(after_help = crate::common::EXIT_CODES_HELP)]
pub struct Args {
    /// The plugin's name: its Cargo package name and what `get_name` returns (letters, digits,
    /// `-` and `_`, starting with a letter).
    pub name: String,

    /// Directory to create [default: ./NAME]. It must not exist, or be empty.
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,

    /// Use the SDK and host crates of the bifrost-wasm repository checked out at DIR (its root,
    /// or its crates/bifrost-wasm-sdk) as path dependencies, instead of finding one above the
    /// new crate.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["vendor", "registry"])]
    pub repo: Option<PathBuf>,

    /// Write the SDK, types and host sources embedded in this binary into `vendor/` and use
    /// them (path dependencies): the crate then builds without this repository [default when
    /// the source tree this tool was built from is gone].
    #[arg(long, conflicts_with = "registry")]
    pub vendor: bool,

    /// Depend on the published crates at this tool's version instead (registry dependencies).
    #[arg(long)]
    pub registry: bool,
}

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/vendored.rs"));
}

/// Where `vendor` puts the embedded crates, relative to the new crate.
pub const VENDOR_DIR: &str = "vendor";

const CARGO_TOML: &str = include_str!("../../templates/plugin/Cargo.toml.tmpl");
const LIB_RS: &str = include_str!("../../templates/plugin/lib.rs.tmpl");
const WASM_TEST: &str = include_str!("../../templates/plugin/wasm_test.rs.tmpl");
const MAKEFILE: &str = include_str!("../../templates/plugin/Makefile.tmpl");
const README: &str = include_str!("../../templates/plugin/README.md.tmpl");
const GITIGNORE: &str = include_str!("../../templates/plugin/gitignore.tmpl");

/// Names that cannot be a plugin crate: Rust keywords, the standard crates, and the crates the
/// template depends on.
const RESERVED: &[&str] = &[
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "abstract",
    "become",
    "box",
    "do",
    "final",
    "macro",
    "override",
    "priv",
    "typeof",
    "unsized",
    "virtual",
    "yield",
    "try",
    "gen",
    "std",
    "core",
    "alloc",
    "proc_macro",
    "test",
    "serde",
    "serde_json",
    "bifrost_wasm_sdk",
    "bifrost_wasm_host",
    "bifrost_wasm_types",
];

/// Checks `name` and returns why it cannot be used.
pub fn validate_name(name: &str) -> Result<(), String> {
    let first = name.chars().next().ok_or("the plugin name is empty")?;
    if !first.is_ascii_alphabetic() {
        return Err(format!("`{name}` must start with a letter"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "`{name}` contains `{c}`; use letters, digits, `-` and `_` (a Cargo package name)"
        ));
    }
    if RESERVED.contains(&crate_name(name).as_str()) {
        return Err(format!(
            "`{name}` is a Rust keyword or the name of a crate the plugin uses; choose another name"
        ));
    }
    Ok(())
}

/// The library name: `my-plugin` → `my_plugin` (what the `.wasm` file is called).
pub fn crate_name(name: &str) -> String {
    name.replace('-', "_")
}

/// The plugin type: `my-plugin` → `MyPlugin`, `redact` → `RedactPlugin`.
pub fn type_name(name: &str) -> String {
    let mut out: String = name
        .split(['-', '_'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut chars = p.chars();
            let first = chars.next().map(|c| c.to_ascii_uppercase()).into_iter();
            first.chain(chars).collect::<String>()
        })
        .collect();
    if !out.ends_with("Plugin") {
        out.push_str("Plugin");
    }
    if out == "Plugin" {
        // `Plugin` is the SDK's trait.
        out = "MyPlugin".to_string();
    }
    out
}

/// Where the SDK comes from in the generated `Cargo.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdkSource {
    /// Path dependencies into a checkout of this repository; the path is relative to the new
    /// crate when possible.
    Repo(PathBuf),
    /// The embedded sources, written into `vendor/`.
    Vendored,
    /// Registry dependencies at this version requirement.
    Version(String),
}

/// The checkout this binary was built from, if it is still there.
pub fn build_tree() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.join("crates/bifrost-wasm-sdk/Cargo.toml")
        .is_file()
        .then(|| root.canonicalize().ok())
        .flatten()
}

/// The repository root at or above `dir`: a directory holding `crates/bifrost-wasm-sdk`.
pub fn find_repo(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| d.join("crates/bifrost-wasm-sdk/Cargo.toml").is_file())
        .map(Path::to_path_buf)
}

/// `to` relative to the directory `from` (both absolute); `to` itself when they share nothing.
pub fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component> = from.components().collect();
    let to_parts: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to_parts).take_while(|(a, b)| a == b).count();
    // Sharing only the root (`/`) or nothing: the absolute path reads better.
    let shared_root = matches!(to_parts.first(), Some(Component::RootDir | Component::Prefix(_)));
    if common == 0 || (common == 1 && shared_root) {
        return to.to_path_buf();
    }
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for part in &to_parts[common..] {
        out.push(part);
    }
    out
}

fn toml_string(s: &str) -> String {
    // TOML basic strings escape like JSON strings for what paths contain.
    bifrost_wasm_types::scan::quote(s)
}

/// Every file of the new crate: relative path and content.
pub fn render(name: &str, source: &SdkSource) -> Vec<(&'static str, String)> {
    let (sdk_dep, host_dep, note, readme_note) = match source {
        SdkSource::Repo(root) => {
            let path = |krate: &str| {
                let p = root.join("crates").join(krate);
                format!("{{ path = {} }}", toml_string(&p.to_string_lossy()))
            };
            (
                path("bifrost-wasm-sdk"),
                path("bifrost-wasm-host"),
                format!("The SDK of the bifrost-wasm checkout at {}.", root.display()),
                format!(
                    "The SDK and the host are path dependencies into the bifrost-wasm checkout at\n`{}`; \
                     to build this crate without it, regenerate with `bifrost-wasm new {name} --vendor`\n\
                     (the sources are then copied into `vendor/`).",
                    root.display()
                ),
            )
        }
        SdkSource::Vendored => (
            format!("{{ path = \"{VENDOR_DIR}/bifrost-wasm-sdk\" }}"),
            format!("{{ path = \"{VENDOR_DIR}/bifrost-wasm-host\" }}"),
            format!(
                "The SDK {} as `bifrost-wasm new` carries it, in vendor/ (no registry needed).",
                env!("CARGO_PKG_VERSION")
            ),
            format!(
                "The SDK, its wire types and the host ({}) are in `vendor/`, copied there by\n\
                 `bifrost-wasm new`: no registry has to carry them. `Cargo.lock` pins the third-party\n\
                 versions they were tested with; once those are in the cargo cache (`cargo install --locked`\n\
                 of bifrost-wasm puts them there) the crate builds offline. To update the SDK, run a newer\n\
                 `bifrost-wasm new {name} --vendor --path /tmp/x` and copy its `vendor/` over this one.",
                env!("CARGO_PKG_VERSION")
            ),
        ),
        SdkSource::Version(v) => (
            toml_string(v),
            toml_string(v),
            "The published SDK.".to_string(),
            format!(
                "The SDK and the host are registry dependencies (`{v}`). Without a registry that has\n\
                 them, regenerate with `bifrost-wasm new {name} --vendor`."
            ),
        ),
    };
    let workspace_extra = match source {
        SdkSource::Vendored => {
            "\n# The vendored SDK crates are path dependencies, not members.\nexclude = [\"vendor\"]"
        }
        _ => "",
    };
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{crate}}", &crate_name(name))
            .replace("{{type}}", &type_name(name))
            .replace("{{sdk_dep}}", &sdk_dep)
            .replace("{{host_dep}}", &host_dep)
            .replace("{{dep_note}}", &note)
            .replace("{{dep_readme}}", &readme_note)
            .replace("{{workspace_extra}}", workspace_extra)
    };
    vec![
        ("Cargo.toml", fill(CARGO_TOML)),
        ("src/lib.rs", fill(LIB_RS)),
        ("tests/wasm.rs", fill(WASM_TEST)),
        ("Makefile", fill(MAKEFILE)),
        ("README.md", fill(README)),
        (".gitignore", fill(GITIGNORE)),
    ]
}

/// Writes the embedded crates into `dest/vendor/`.
fn write_vendored(dest: &Path) -> anyhow::Result<()> {
    for (file, contents) in embedded::VENDORED {
        let path = dest.join(VENDOR_DIR).join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// The registry version requirement matching this tool (`0.1` for 0.1.x).
pub fn registry_version() -> String {
    let v = env!("CARGO_PKG_VERSION");
    let mut parts = v.split('.');
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) => format!("{major}.{minor}"),
        _ => v.to_string(),
    }
}

/// `--repo DIR` as the checkout's root: DIR itself, or the checkout whose
/// `crates/bifrost-wasm-sdk` DIR is.
fn repo_arg(dir: &Path) -> anyhow::Result<PathBuf> {
    let canonical = dir
        .canonicalize()
        .map_err(|e| usage(format!("--repo {}: {e}", dir.display())))?;
    find_repo(&canonical)
        .filter(|root| *root == canonical || root.join("crates/bifrost-wasm-sdk") == canonical)
        .ok_or_else(|| {
            usage(format!(
                "--repo {}: no crates/bifrost-wasm-sdk there; pass the root of a bifrost-wasm checkout \
                 (or its crates/bifrost-wasm-sdk), or leave --repo out to use the SDK this tool carries",
                dir.display()
            ))
        })
}

/// Every file of the new crate, written into `dest`: the vendored crates, the lock file, the
/// rendered templates.
fn write_crate(dest: &Path, name: &str, source: &SdkSource, lock: Option<&[u8]>) -> anyhow::Result<()> {
    if *source == SdkSource::Vendored {
        write_vendored(dest)?;
    }
    if let Some(lock) = lock {
        let path = dest.join("Cargo.lock");
        std::fs::write(&path, lock).with_context(|| format!("cannot write {}", path.display()))?;
    }
    for (file, content) in render(name, source) {
        let path = dest.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, content).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Removes everything inside `dir`.
fn empty_dir(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Creates the plugin crate.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    validate_name(&args.name).map_err(usage)?;
    let dest = args.path.clone().unwrap_or_else(|| PathBuf::from(&args.name));
    let existed = dest.exists();
    if existed && !dest.is_dir() {
        return Err(usage(format!(
            "{} exists and is not a folder; choose another --path",
            dest.display()
        )));
    }
    if existed {
        let mut entries = std::fs::read_dir(&dest).map_err(|e| {
            usage(format!(
                "{} exists and is not a readable directory: {e}",
                dest.display()
            ))
        })?;
        if entries.next().is_some() {
            return Err(usage(format!(
                "{} already exists and is not empty; choose another --path or remove it",
                dest.display()
            )));
        }
    }
    // Refuse before creating anything: an empty folder under `plugins/` or `crates/` would
    // already break the repository's workspace (its members are `plugins/*` and `crates/*`).
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if let Ok(parent) = parent.canonicalize() {
        if let Some(root) = find_repo(&parent) {
            for member_dir in ["crates", "plugins"] {
                if parent == root.join(member_dir) {
                    return Err(usage(format!(
                        "{} would be picked up as a member of the repository's workspace ({member_dir}/*), \
                         but a generated plugin is a standalone crate; generate it elsewhere (e.g. --path target/{})",
                        dest.display(),
                        args.name
                    )));
                }
            }
        }
    }
    // Also before creating anything, so that a bad --repo leaves nothing behind.
    let repo_flag = args.repo.as_deref().map(repo_arg).transpose()?;

    std::fs::create_dir_all(&dest).map_err(|e| {
        anyhow::anyhow!(
            "cannot create {}: {e}; choose a --path in a folder you can write to",
            dest.display()
        )
    })?;
    let dest = dest
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dest.display()))?;

    let repo = match repo_flag {
        Some(root) => Some(root),
        None if args.vendor || args.registry => None,
        None => dest.parent().and_then(find_repo).or_else(build_tree),
    };
    let source = match &repo {
        Some(root) => SdkSource::Repo(relative_path(&dest, root)),
        None if args.registry => SdkSource::Version(registry_version()),
        None => SdkSource::Vendored,
    };
    // The versions the SDK was built and tested with, already in the cargo cache: the
    // checkout's own lock file for path dependencies into it, the one this tool was built
    // with for the sources it carries, none for the registry.
    let checkout_lock = repo
        .as_ref()
        .and_then(|root| std::fs::read(root.join("Cargo.lock")).ok());
    let lock = match &source {
        SdkSource::Repo(_) => Some(checkout_lock.as_deref().unwrap_or(embedded::LOCKFILE)),
        SdkSource::Vendored => Some(embedded::LOCKFILE),
        SdkSource::Version(_) => None,
    };

    if let Err(error) = write_crate(&dest, &args.name, &source, lock) {
        // Leave the folder as it was: gone, or empty.
        let cleaned = if existed {
            empty_dir(&dest)
        } else {
            std::fs::remove_dir_all(&dest)
        };
        let advice = match cleaned {
            Ok(()) => "nothing was left there; check that the folder is writable and its disk has space, \
                       or choose another --path"
                .to_string(),
            Err(e) => format!(
                "removing what was written failed too ({e}); remove {} by hand",
                dest.display()
            ),
        };
        return Err(error.context(format!(
            "could not write the new crate into {}: {advice}",
            dest.display()
        )));
    }

    let shown = args.path.unwrap_or_else(|| PathBuf::from(&args.name));
    println!(
        "created Bifrost WASM plugin `{}` in {}",
        args.name,
        shown.display()
    );
    match &source {
        SdkSource::Repo(root) => println!(
            "  bifrost-wasm-sdk and bifrost-wasm-host: path dependencies into the checkout at {}",
            root.display()
        ),
        SdkSource::Vendored => println!(
            "  bifrost-wasm-sdk and bifrost-wasm-host: {} from this tool, written into {}/ \
             (no registry needed for them)",
            env!("CARGO_PKG_VERSION"),
            VENDOR_DIR
        ),
        SdkSource::Version(v) => {
            println!("  bifrost-wasm-sdk and bifrost-wasm-host: registry dependencies, version {v}")
        }
    }
    println!("next:");
    println!("  cd {}", shown.display());
    println!("  make build          # build/{}.wasm", args.name);
    println!("  cargo test          # native tests, then the .wasm through the host");
    println!("  bifrost-wasm check build/{}.wasm", args.name);
    Ok(ExitCode::from(EXIT_OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_like_cargo_package_names() {
        assert!(validate_name("my-plugin").is_ok());
        assert!(validate_name("pii_filter2").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("1st").unwrap_err().contains("start with a letter"));
        assert!(validate_name("my plugin").unwrap_err().contains("contains ` `"));
        assert!(validate_name("serde-json")
            .unwrap_err()
            .contains("crate the plugin uses"));
        assert!(validate_name("fn").is_err());
    }

    #[test]
    fn type_names_avoid_the_sdk_trait() {
        assert_eq!(type_name("my-plugin"), "MyPlugin");
        assert_eq!(type_name("redact"), "RedactPlugin");
        assert_eq!(type_name("pii_filter-v2"), "PiiFilterV2Plugin");
        assert_eq!(type_name("plugin"), "MyPlugin");
    }

    #[test]
    fn relative_paths_climb_to_the_common_ancestor() {
        assert_eq!(
            relative_path(Path::new("/r/target/tmp/p"), Path::new("/r")),
            PathBuf::from("../../..")
        );
        assert_eq!(
            relative_path(Path::new("/r/a"), Path::new("/r/crates/x")),
            PathBuf::from("../crates/x")
        );
        assert_eq!(
            relative_path(Path::new("/tmp/p"), Path::new("/r")),
            PathBuf::from("/r")
        );
    }

    #[test]
    fn every_placeholder_is_filled() {
        for source in [
            SdkSource::Repo(PathBuf::from("../..")),
            SdkSource::Vendored,
            SdkSource::Version("0.1".into()),
        ] {
            for (file, content) in render("my-plugin", &source) {
                assert!(!content.contains("{{"), "{file} keeps a placeholder:\n{content}");
            }
        }
    }
}
