//! Which toolchain built a plugin, guessed from what the module shows: its `producers` custom
//! section (language and processed-by fields, which rustc, clang and TinyGo write unless the
//! build strips it), runtime exports (AssemblyScript's `__new`/`__pin`/`__collect`...), imports
//! (AssemblyScript's `env.abort`, WASI), the TinyGo examples' `plugin_malloc`, and the data
//! segments (AssemblyScript's UTF-16 string objects, the Rust standard library's source paths
//! in panic locations), which survive stripping. Used to fit advice to the plugin (a trap on
//! valid input from an AssemblyScript build most often means a missing json-as transform;
//! memory that grows under AssemblyScript's stub runtime is never freed) and shown by
//! `inspect`.

use std::borrow::Cow;

use crate::abi::{ExportInfo, ImportInfo, WASI_MODULE};

/// A toolchain a plugin may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Toolchain {
    /// Rust (`rustc`).
    Rust,
    /// AssemblyScript (`asc`).
    AssemblyScript,
    /// TinyGo.
    TinyGo,
    /// Go (`GOOS=wasip1`).
    Go,
    /// C or C++ (clang).
    C,
    /// Nothing the module shows says.
    Unknown,
}

impl Toolchain {
    /// Lower-case name, as `inspect` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Toolchain::Rust => "rust",
            Toolchain::AssemblyScript => "assemblyscript",
            Toolchain::TinyGo => "tinygo",
            Toolchain::Go => "go",
            Toolchain::C => "c",
            Toolchain::Unknown => "unknown",
        }
    }
}

/// AssemblyScript's memory manager, chosen with `asc --runtime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AssemblyScriptRuntime {
    /// `--runtime stub`: a bump allocator that never frees (its `__unpin` and `__collect` do
    /// nothing). Upstream's AssemblyScript example is built with it.
    Stub,
    /// `--runtime incremental` (the default) or `--runtime minimal`: TLSF with a garbage
    /// collector, which frees what is neither referenced nor pinned (`minimal` only when
    /// `__collect` is called).
    Collecting,
}

impl AssemblyScriptRuntime {
    /// `stub`, `incremental or minimal`.
    pub fn name(self) -> &'static str {
        match self {
            AssemblyScriptRuntime::Stub => "stub",
            AssemblyScriptRuntime::Collecting => "incremental or minimal",
        }
    }
}

/// The toolchain guessed, and the signals that say so.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ToolchainGuess {
    /// The toolchain, or [`Toolchain::Unknown`].
    pub toolchain: Toolchain,
    /// What the guess rests on, e.g. `producers: processed-by rustc 1.95.0`, `exports __new,
    /// __pin`, `imports env.abort`; for an unknown toolchain, the weaker hints seen, if any.
    pub evidence: Vec<String>,
    /// For an AssemblyScript build, its runtime when the module shows it: an exported
    /// `__collect` that does nothing is the stub's, one that does something a collector's;
    /// the runtime's source file in the data (`~lib/rt/stub.ts`, `~lib/rt/itcms.ts`,
    /// `~lib/rt/tcms.ts`, kept for abort messages) says it too. `None` otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assemblyscript_runtime: Option<AssemblyScriptRuntime>,
}

impl ToolchainGuess {
    /// `rust (producers: language Rust, processed-by rustc 1.95.0)`, `unknown`.
    pub fn describe(&self) -> String {
        if self.evidence.is_empty() {
            self.toolchain.name().to_string()
        } else {
            format!("{} ({})", self.toolchain.name(), self.evidence.join("; "))
        }
    }

    /// The signals, joined: `exports __new, __pin; imports env.abort` (empty when none).
    pub fn signals(&self) -> String {
        self.evidence.join("; ")
    }
}

/// AssemblyScript's runtime exports (`--exportRuntime`, and the older `__alloc`/`__retain`).
const AS_EXPORTS: [&str; 9] = [
    "__new",
    "__pin",
    "__unpin",
    "__collect",
    "__rtti_base",
    "__setArgumentsLength",
    "__alloc",
    "__retain",
    "__release",
];

/// AssemblyScript's `env` imports: `abort` (unless `--use abort=` routes it elsewhere),
/// `trace`, `seed` (`Math.random`).
const AS_IMPORTS: [&str; 3] = ["abort", "trace", "seed"];

/// At most this many AssemblyScript strings are collected from the data.
const MAX_AS_STRINGS: usize = 256;

/// The runtime source files whose names AssemblyScript keeps for abort messages.
const AS_RUNTIME_FILES: [(&str, AssemblyScriptRuntime, &str); 3] = [
    ("~lib/rt/stub.ts", AssemblyScriptRuntime::Stub, "stub"),
    (
        "~lib/rt/itcms.ts",
        AssemblyScriptRuntime::Collecting,
        "incremental",
    ),
    ("~lib/rt/tcms.ts", AssemblyScriptRuntime::Collecting, "minimal"),
];

/// What the module's sections show beyond its export and import names.
#[derive(Debug, Default)]
struct Sections {
    /// The `producers` section's fields: (field, name, version).
    producers: Vec<(String, String, String)>,
    /// AssemblyScript string objects in the data, in order (at most [`MAX_AS_STRINGS`]).
    as_strings: Vec<String>,
    /// `/rustc/<commit>` (the commit's first 12 digits): the Rust standard library's source
    /// path in panic locations.
    rustc_path: Option<String>,
    /// Whether the exported `__collect` function's body is empty (`None`: no such export).
    collect_is_empty: Option<bool>,
}

/// Reads the sections of `bytes` (binary or WAT text; a fixture may carry a producers section
/// as a `(@custom "producers" ...)` annotation). A module that does not parse shows nothing.
fn sections(bytes: &[u8]) -> Sections {
    let mut found = Sections::default();
    let binary = if bytes.starts_with(b"\0asm") {
        Cow::Borrowed(bytes)
    } else {
        match wat::parse_bytes(bytes) {
            Ok(binary) => binary,
            Err(_) => return found,
        }
    };
    let mut imported_functions = 0u32;
    let mut collect_index = None;
    let mut defined = 0u32;
    for payload in wasmparser::Parser::new(0).parse_all(&binary) {
        let Ok(payload) = payload else { break };
        match payload {
            wasmparser::Payload::ImportSection(reader) => {
                for import in reader.into_imports().flatten() {
                    if matches!(
                        import.ty,
                        wasmparser::TypeRef::Func(_) | wasmparser::TypeRef::FuncExact(_)
                    ) {
                        imported_functions += 1;
                    }
                }
            }
            wasmparser::Payload::ExportSection(reader) => {
                collect_index = reader
                    .into_iter()
                    .flatten()
                    .find(|e| e.name == "__collect" && e.kind == wasmparser::ExternalKind::Func)
                    .map(|e| e.index);
            }
            wasmparser::Payload::CodeSectionEntry(body) => {
                if collect_index == Some(imported_functions + defined) {
                    // No locals, and `end`: a function that does nothing.
                    found.collect_is_empty = Some(body.as_bytes() == [0x00, 0x0b]);
                }
                defined += 1;
            }
            wasmparser::Payload::DataSection(reader) => {
                for data in reader.into_iter().flatten() {
                    assemblyscript_strings(data.data, &mut found.as_strings);
                    if found.rustc_path.is_none() {
                        found.rustc_path = rustc_path(data.data);
                    }
                }
            }
            wasmparser::Payload::CustomSection(section) => {
                if let wasmparser::KnownCustom::Producers(reader) = section.as_known() {
                    for field in reader.into_iter().flatten() {
                        for value in field.values.into_iter().flatten() {
                            found.producers.push((
                                field.name.to_string(),
                                value.name.to_string(),
                                value.version.to_string(),
                            ));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    found
}

/// Collects the AssemblyScript strings in `data`: an AssemblyScript object is preceded by a
/// 20-byte header ending in its class id and its byte length (u32 each), a `String`'s class id
/// is 2 and its text is UTF-16LE. An optimiser splits data segments at runs of zeros and drops
/// the zeros a segment ends with, so a segment may start at the class id and lack the text's
/// last (zero) byte. Only printable ASCII texts of 3 characters or more count, so that other
/// data (UTF-8 text, tables of numbers) does not pass for them.
fn assemblyscript_strings(data: &[u8], out: &mut Vec<String>) {
    let u32_at = |i: usize| u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]) as usize;
    let mut i = 0;
    while i + 8 <= data.len() && out.len() < MAX_AS_STRINGS {
        if data[i..i + 4] == [2, 0, 0, 0] {
            let len = u32_at(i + 4);
            let start = i + 8;
            // The text as stored, with at most its last byte (a zero) cut off.
            let stored = &data[start..(start + len).min(data.len())];
            if (6..=4096).contains(&len) && len % 2 == 0 && stored.len() + 1 >= len {
                let printable = stored
                    .chunks(2)
                    .all(|unit| (0x20..0x7f).contains(&unit[0]) && unit.get(1).is_none_or(|&b| b == 0));
                if printable {
                    out.push(stored.iter().step_by(2).map(|&b| b as char).collect());
                    i = start + stored.len();
                    continue;
                }
            }
        }
        i += 1;
    }
}

/// `/rustc/<commit, shortened>` when `data` holds a path into the Rust standard library's
/// sources, as rustc writes them into panic locations (`/rustc/<40 hex digits>/library/...`).
fn rustc_path(data: &[u8]) -> Option<String> {
    const PREFIX: &[u8] = b"/rustc/";
    let mut from = 0;
    while let Some(at) = data[from..].windows(PREFIX.len()).position(|w| w == PREFIX) {
        let start = from + at + PREFIX.len();
        let hash = data.get(start..start + 40)?;
        if hash.iter().all(u8::is_ascii_hexdigit) && data[start + 40..].starts_with(b"/library/") {
            return Some(format!("/rustc/{}", String::from_utf8_lossy(&hash[..12])));
        }
        from = start;
    }
    None
}

/// The toolchain the `producers` fields name, if any.
fn by_producers(fields: &[(String, String, String)]) -> Option<Toolchain> {
    let has = |field: &str, pred: &dyn Fn(&str) -> bool| {
        fields
            .iter()
            .any(|(f, n, _)| f == field && pred(&n.to_ascii_lowercase()))
    };
    if has("processed-by", &|n| n.contains("tinygo")) {
        Some(Toolchain::TinyGo)
    } else if has("language", &|n| n == "rust") || has("processed-by", &|n| n == "rustc") {
        Some(Toolchain::Rust)
    } else if has("language", &|n| n.contains("assemblyscript")) || has("processed-by", &|n| n == "asc") {
        Some(Toolchain::AssemblyScript)
    } else if has("language", &|n| n == "go") {
        Some(Toolchain::Go)
    } else if has("language", &|n| n.starts_with("c")) || has("processed-by", &|n| n == "clang") {
        Some(Toolchain::C)
    } else {
        None
    }
}

/// A few AssemblyScript strings for the evidence: the plugin's own before the runtime's.
fn sample(strings: &[String]) -> String {
    let mut own: Vec<&String> = strings.iter().filter(|s| !s.starts_with("~lib/")).collect();
    own.extend(strings.iter().filter(|s| s.starts_with("~lib/")));
    let shown: Vec<String> = own
        .iter()
        .take(2)
        .map(|s| {
            let short: String = s.chars().take(32).collect();
            format!("{short:?}")
        })
        .collect();
    shown.join(", ")
}

/// Guesses the toolchain of the module `bytes` (binary or WAT text) with these exports and
/// imports.
pub(crate) fn detect(bytes: &[u8], exports: &[ExportInfo], imports: &[ImportInfo]) -> ToolchainGuess {
    let found = sections(bytes);
    let exported = |name: &str| exports.iter().any(|e| e.name == name);

    let producers = (!found.producers.is_empty()).then(|| {
        let listed: Vec<String> = found
            .producers
            .iter()
            .map(|(field, name, version)| {
                if version.is_empty() {
                    format!("{field} {name}")
                } else {
                    format!("{field} {name} {version}")
                }
            })
            .collect();
        format!("producers: {}", listed.join(", "))
    });

    // AssemblyScript's signals.
    let mut assemblyscript = Vec::new();
    let as_exports: Vec<&str> = exports
        .iter()
        .map(|e| e.name.as_str())
        .filter(|n| AS_EXPORTS.contains(n))
        .collect();
    if !as_exports.is_empty() {
        assemblyscript.push(format!("exports {}", as_exports.join(", ")));
    }
    let as_imports: Vec<String> = imports
        .iter()
        .filter(|i| i.module == "env" && AS_IMPORTS.contains(&i.name.as_str()))
        .map(|i| format!("{}.{}", i.module, i.name))
        .collect();
    if !as_imports.is_empty() {
        assemblyscript.push(format!("imports {}", as_imports.join(", ")));
    }
    // Two strings at least: one could be chance.
    if found.as_strings.len() >= 2 {
        assemblyscript.push(format!(
            "data: {} UTF-16 string objects such as {}",
            if found.as_strings.len() >= MAX_AS_STRINGS {
                format!("{MAX_AS_STRINGS}+")
            } else {
                found.as_strings.len().to_string()
            },
            sample(&found.as_strings)
        ));
    }

    let wasi = imports.iter().any(|i| i.module == WASI_MODULE);
    let plugin_malloc = exported("plugin_malloc");
    let tinygo_shape = plugin_malloc && wasi;
    let toolchain = match by_producers(&found.producers) {
        Some(toolchain) => toolchain,
        None if !assemblyscript.is_empty() => Toolchain::AssemblyScript,
        None if found.rustc_path.is_some() => Toolchain::Rust,
        None if tinygo_shape => Toolchain::TinyGo,
        None => Toolchain::Unknown,
    };

    let mut evidence: Vec<String> = producers.into_iter().collect();
    let mut assemblyscript_runtime = None;
    match toolchain {
        Toolchain::AssemblyScript => {
            evidence.extend(assemblyscript);
            match found.collect_is_empty {
                Some(true) => {
                    evidence.push("__collect does nothing: the stub runtime".into());
                    assemblyscript_runtime = Some(AssemblyScriptRuntime::Stub);
                }
                Some(false) => {
                    evidence.push("__collect collects: the incremental or minimal runtime".into());
                    assemblyscript_runtime = Some(AssemblyScriptRuntime::Collecting);
                }
                None => {
                    for (file, runtime, name) in AS_RUNTIME_FILES {
                        if found.as_strings.iter().any(|s| s == file) {
                            evidence.push(format!("data: {file}, the {name} runtime"));
                            assemblyscript_runtime = Some(runtime);
                            break;
                        }
                    }
                }
            }
        }
        Toolchain::Rust => {
            if let Some(path) = &found.rustc_path {
                evidence.push(format!("data: Rust standard library paths {path}…/library/"));
            }
        }
        Toolchain::TinyGo if tinygo_shape => {
            let start = ["_start", "_initialize"].into_iter().find(|s| exported(s));
            evidence.push(format!(
                "exports plugin_malloc{} and imports WASI, as the TinyGo examples do",
                start.map(|s| format!(" and {s}")).unwrap_or_default()
            ));
        }
        Toolchain::Unknown if exported("__heap_base") || exported("__data_end") => {
            evidence.push("exports __heap_base/__data_end: linked by wasm-ld (Rust, C or TinyGo)".into());
        }
        _ => {}
    }
    ToolchainGuess {
        toolchain,
        evidence,
        assemblyscript_runtime,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn export(name: &str) -> ExportInfo {
        ExportInfo {
            name: name.into(),
            ty: "func() -> i32".into(),
        }
    }

    fn import(module: &str, name: &str) -> ImportInfo {
        ImportInfo {
            module: module.into(),
            name: name.into(),
            ty: "func()".into(),
        }
    }

    /// A module with a producers section: fields of (field, [(name, version)]).
    fn with_producers(fields: &[(&str, &[(&str, &str)])]) -> Vec<u8> {
        fn string(out: &mut Vec<u8>, s: &str) {
            out.push(s.len() as u8);
            out.extend_from_slice(s.as_bytes());
        }
        let mut body = Vec::new();
        string(&mut body, "producers");
        body.push(fields.len() as u8);
        for (field, values) in fields {
            string(&mut body, field);
            body.push(values.len() as u8);
            for (name, version) in *values {
                string(&mut body, name);
                string(&mut body, version);
            }
        }
        let mut module = b"\0asm\x01\0\0\0".to_vec();
        module.push(0);
        module.push(body.len() as u8);
        module.extend(body);
        module
    }

    /// WAT escapes of an AssemblyScript string object's header tail and text.
    fn as_string(text: &str) -> String {
        let mut bytes = 2u32.to_le_bytes().to_vec();
        bytes.extend((text.len() as u32 * 2).to_le_bytes());
        for unit in text.encode_utf16() {
            bytes.extend(unit.to_le_bytes());
        }
        bytes.iter().map(|b| format!("\\{b:02x}")).collect()
    }

    #[test]
    fn the_producers_section_names_rust_and_tinygo() {
        let rust = with_producers(&[
            ("language", &[("Rust", "")]),
            ("processed-by", &[("rustc", "1.95.0")]),
        ]);
        let guess = detect(&rust, &[], &[]);
        assert_eq!(guess.toolchain, Toolchain::Rust);
        assert_eq!(
            guess.describe(),
            "rust (producers: language Rust, processed-by rustc 1.95.0)"
        );
        let tinygo = with_producers(&[("processed-by", &[("TinyGo", "0.34.0")])]);
        assert_eq!(detect(&tinygo, &[], &[]).toolchain, Toolchain::TinyGo);
    }

    #[test]
    fn assemblyscript_is_recognised_without_env_abort() {
        let guess = detect(b"", &[export("__new"), export("__pin"), export("malloc")], &[]);
        assert_eq!(guess.toolchain, Toolchain::AssemblyScript);
        assert_eq!(guess.describe(), "assemblyscript (exports __new, __pin)");
        assert_eq!(guess.assemblyscript_runtime, None);
        let guess = detect(b"", &[export("malloc")], &[import("env", "abort")]);
        assert_eq!(guess.describe(), "assemblyscript (imports env.abort)");
    }

    #[test]
    fn assemblyscript_strings_in_the_data_give_it_away_without_any_export_or_import() {
        // Upstream's build: `--runtime stub --use abort=`, no runtime exports. As an optimised
        // build lays them out: each header's first bytes and zeros in a segment of their own,
        // the last zero byte of the text dropped.
        let trimmed = |text: &str| as_string(text).strip_suffix("\\00").unwrap().to_string();
        let wat = format!(
            r#"(module (memory 1) (data (i32.const 12) "<") (data (i32.const 24) "{}")
                 (data (i32.const 92) "{}"))"#,
            trimmed("hello-world-wasm-typescript"),
            as_string("~lib/rt/stub.ts")
        );
        let guess = detect(wat.as_bytes(), &[export("malloc")], &[]);
        assert_eq!(guess.toolchain, Toolchain::AssemblyScript);
        assert_eq!(
            guess.describe(),
            "assemblyscript (data: 2 UTF-16 string objects such as \"hello-world-wasm-typescript\", \
             \"~lib/rt/stub.ts\"; data: ~lib/rt/stub.ts, the stub runtime)"
        );
        assert_eq!(guess.assemblyscript_runtime, Some(AssemblyScriptRuntime::Stub));
        // One string alone is not enough.
        let one = format!(
            r#"(module (memory 1) (data (i32.const 28) "{}"))"#,
            as_string("context")
        );
        assert_eq!(detect(one.as_bytes(), &[], &[]).toolchain, Toolchain::Unknown);
        // UTF-8 text is not an AssemblyScript string.
        let utf8 = r#"(module (memory 1) (data (i32.const 28) "\02\00\00\00\06\00\00\00abcdef"))"#;
        assert!(sections(utf8.as_bytes()).as_strings.is_empty());
    }

    #[test]
    fn the_runtime_is_told_by_what_the_exported_collect_does() {
        let module = |collect_body: &str| {
            format!(
                r#"(module (memory 1)
                     (global $n (mut i32) (i32.const 0))
                     (func (export "__new") (param i32 i32) (result i32) (i32.const 0))
                     (func (export "__collect") {collect_body}))"#
            )
        };
        let exports = [export("__new"), export("__collect")];
        let stub = detect(module("").as_bytes(), &exports, &[]);
        assert_eq!(stub.assemblyscript_runtime, Some(AssemblyScriptRuntime::Stub));
        assert!(
            stub.describe()
                .ends_with("; __collect does nothing: the stub runtime)"),
            "{}",
            stub.describe()
        );
        let gc = detect(
            module("(global.set $n (i32.const 1))").as_bytes(),
            &exports,
            &[import("env", "abort")],
        );
        assert_eq!(gc.assemblyscript_runtime, Some(AssemblyScriptRuntime::Collecting));
        // With an imported function before it, the index still finds the right body.
        let imported = r#"(module (import "env" "abort" (func (param i32 i32 i32 i32)))
                            (func (export "__collect") (call 0 (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))))"#;
        assert_eq!(sections(imported.as_bytes()).collect_is_empty, Some(false));
    }

    #[test]
    fn rust_is_recognised_by_its_standard_library_paths_when_stripped() {
        let path = "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/fmt/mod.rs";
        let wat = format!(r#"(module (memory 1) (data (i32.const 1024) "x/rustc/notahash{path}"))"#);
        // Exported plugin_malloc with WASI is also what the SDK's WASI builds do: not TinyGo.
        let guess = detect(
            wat.as_bytes(),
            &[export("plugin_malloc"), export("__heap_base")],
            &[import(WASI_MODULE, "fd_write")],
        );
        assert_eq!(guess.toolchain, Toolchain::Rust);
        assert_eq!(
            guess.describe(),
            "rust (data: Rust standard library paths /rustc/59807616e1fa…/library/)"
        );
    }

    #[test]
    fn nothing_to_go_by_is_unknown_not_no() {
        let guess = detect(b"", &[export("malloc"), export("pre_hook")], &[]);
        assert_eq!(guess.describe(), "unknown");
        let guess = detect(b"", &[export("__heap_base")], &[]);
        assert_eq!(guess.toolchain, Toolchain::Unknown);
        assert!(guess.describe().contains("wasm-ld"), "{}", guess.describe());
        let tinygo = detect(
            b"",
            &[export("plugin_malloc"), export("_start")],
            &[import(WASI_MODULE, "fd_write")],
        );
        assert_eq!(tinygo.toolchain, Toolchain::TinyGo);
        assert_eq!(
            tinygo.describe(),
            "tinygo (exports plugin_malloc and _start and imports WASI, as the TinyGo examples do)"
        );
    }
}
