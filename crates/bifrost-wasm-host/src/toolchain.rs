//! Which toolchain built a plugin, guessed from what the module shows: its `producers` custom
//! section (language and processed-by fields, which rustc, clang and TinyGo write), runtime
//! exports (AssemblyScript's `__new`/`__pin`/`__collect`...), imports (AssemblyScript's
//! `env.abort`, WASI) and the TinyGo examples' `plugin_malloc`. Used to fit advice to the
//! plugin (a trap on valid input from an AssemblyScript build most often means a missing
//! json-as transform) and shown by `inspect`.

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

/// The toolchain guessed, and the signals that say so.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ToolchainGuess {
    /// The toolchain, or [`Toolchain::Unknown`].
    pub toolchain: Toolchain,
    /// What the guess rests on, e.g. `producers: processed-by rustc 1.95.0`, `exports __new,
    /// __pin`, `imports env.abort`; for an unknown toolchain, the weaker hints seen, if any.
    pub evidence: Vec<String>,
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

/// The `producers` section's fields: (field, value, version). WAT text is converted first (a
/// fixture may carry one as a `(@custom "producers" ...)` annotation).
fn producers(bytes: &[u8]) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    let binary = if bytes.starts_with(b"\0asm") {
        std::borrow::Cow::Borrowed(bytes)
    } else {
        match wat::parse_bytes(bytes) {
            Ok(binary) => binary,
            Err(_) => return found,
        }
    };
    for payload in wasmparser::Parser::new(0).parse_all(&binary) {
        let Ok(payload) = payload else { break };
        let wasmparser::Payload::CustomSection(section) = payload else {
            continue;
        };
        let wasmparser::KnownCustom::Producers(reader) = section.as_known() else {
            continue;
        };
        for field in reader.into_iter().flatten() {
            for value in field.values.into_iter().flatten() {
                found.push((
                    field.name.to_string(),
                    value.name.to_string(),
                    value.version.to_string(),
                ));
            }
        }
    }
    found
}

/// Guesses the toolchain of the module `bytes` (binary or WAT text) with these exports and
/// imports.
pub(crate) fn detect(bytes: &[u8], exports: &[ExportInfo], imports: &[ImportInfo]) -> ToolchainGuess {
    let mut evidence = Vec::new();
    let fields = producers(bytes);
    let mut by_producers = None;
    if !fields.is_empty() {
        let listed: Vec<String> = fields
            .iter()
            .map(|(field, name, version)| {
                format!(
                    "{field} {name}{}",
                    if version.is_empty() {
                        String::new()
                    } else {
                        format!(" {version}")
                    }
                )
            })
            .collect();
        evidence.push(format!("producers: {}", listed.join(", ")));
        let has = |field: &str, pred: &dyn Fn(&str) -> bool| {
            fields
                .iter()
                .any(|(f, n, _)| f == field && pred(&n.to_ascii_lowercase()))
        };
        by_producers = if has("processed-by", &|n| n.contains("tinygo")) {
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
        };
    }
    let as_exports: Vec<&str> = exports
        .iter()
        .map(|e| e.name.as_str())
        .filter(|n| AS_EXPORTS.contains(n))
        .collect();
    let as_imports: Vec<String> = imports
        .iter()
        .filter(|i| i.module == "env" && matches!(i.name.as_str(), "abort" | "trace" | "seed"))
        .map(|i| format!("{}.{}", i.module, i.name))
        .collect();
    if !as_exports.is_empty() {
        evidence.push(format!("exports {}", as_exports.join(", ")));
    }
    if !as_imports.is_empty() {
        evidence.push(format!("imports {}", as_imports.join(", ")));
    }
    let wasi = imports.iter().any(|i| i.module == WASI_MODULE);
    let plugin_malloc = exports.iter().any(|e| e.name == "plugin_malloc");
    let toolchain = match by_producers {
        Some(t) => t,
        None if !as_exports.is_empty() || !as_imports.is_empty() => Toolchain::AssemblyScript,
        None if plugin_malloc && wasi => {
            evidence.push("exports plugin_malloc and imports WASI, as the TinyGo examples do".into());
            Toolchain::TinyGo
        }
        None => {
            if exports
                .iter()
                .any(|e| e.name == "__heap_base" || e.name == "__data_end")
            {
                evidence.push("exports __heap_base/__data_end: linked by wasm-ld (Rust, C or TinyGo)".into());
            }
            Toolchain::Unknown
        }
    };
    ToolchainGuess { toolchain, evidence }
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
        let guess = detect(b"", &[export("malloc")], &[import("env", "abort")]);
        assert_eq!(guess.describe(), "assemblyscript (imports env.abort)");
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
            &[export("plugin_malloc")],
            &[import(WASI_MODULE, "fd_write")],
        );
        assert_eq!(tinygo.toolchain, Toolchain::TinyGo);
    }
}
