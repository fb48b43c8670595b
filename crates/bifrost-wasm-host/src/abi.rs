//! Validation of a module against the Bifrost plugin ABI, and what the host learns
//! from it ([`PluginInfo`]).

use std::fmt::Write as _;

use wasmtime::{ExternType, FuncType, Module, ValType};

use crate::error::LoadProblem;
use bifrost_wasm_types::Hook;

/// Which ABI generation a plugin's HTTP hook follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AbiGeneration {
    /// Generation 2: the HTTP pre-hook is exported as `http_intercept` (the seed's
    /// name, used by all upstream examples).
    Gen2HttpIntercept,
    /// Generation 3: `http_pre_hook` (the current upstream documentation).
    Gen3HttpPreHook,
    /// No HTTP pre-hook at all; only LLM (and possibly other HTTP) hooks.
    NoHttpPreHook,
}

/// The allocator exports the host uses to pass buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AllocatorVariant {
    /// `malloc(size) -> ptr` and `free(ptr, size)` (Rust, the SDK).
    MallocFreeWithSize,
    /// `malloc(size) -> ptr` and `free(ptr)` (AssemblyScript, C).
    MallocFree,
    /// `malloc` without any `free`: buffers are never returned to the plugin.
    MallocOnly,
    /// `plugin_malloc(size) -> ptr` and `plugin_free(ptr)` (TinyGo examples).
    PluginMallocFree,
    /// `plugin_malloc(size) -> ptr` and `plugin_free(ptr, size)`.
    PluginMallocFreeWithSize,
    /// `plugin_malloc` without `plugin_free`.
    PluginMallocOnly,
}

impl AllocatorVariant {
    /// The export names of the allocator and of its free function (if any).
    pub fn export_names(self) -> (&'static str, Option<&'static str>) {
        match self {
            AllocatorVariant::MallocFreeWithSize | AllocatorVariant::MallocFree => ("malloc", Some("free")),
            AllocatorVariant::MallocOnly => ("malloc", None),
            AllocatorVariant::PluginMallocFree | AllocatorVariant::PluginMallocFreeWithSize => {
                ("plugin_malloc", Some("plugin_free"))
            }
            AllocatorVariant::PluginMallocOnly => ("plugin_malloc", None),
        }
    }

    /// How many arguments the free function takes (0 when there is none).
    pub fn free_arity(self) -> usize {
        match self {
            AllocatorVariant::MallocFreeWithSize | AllocatorVariant::PluginMallocFreeWithSize => 2,
            AllocatorVariant::MallocFree | AllocatorVariant::PluginMallocFree => 1,
            AllocatorVariant::MallocOnly | AllocatorVariant::PluginMallocOnly => 0,
        }
    }
}

/// One export of the module, with its type in WAT-like notation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExportInfo {
    /// Export name.
    pub name: String,
    /// Type, e.g. `func(i32, i32) -> i64`, `memory(17 pages)`, `global i32`.
    pub ty: String,
}

/// One import of the module.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImportInfo {
    /// Import module, e.g. `wasi_snapshot_preview1`.
    pub module: String,
    /// Import field, e.g. `fd_write`.
    pub name: String,
    /// Type in WAT-like notation.
    pub ty: String,
}

/// What a hook is exported as.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HookExport {
    /// The hook.
    pub hook: Hook,
    /// The export that implements it (`http_intercept` for a generation 2 HTTP pre-hook).
    pub export: &'static str,
}

/// Everything the host knows about a loaded plugin (what `bifrost-wasm inspect` prints).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PluginInfo {
    /// The name returned by `get_name`.
    pub name: String,
    /// Where the plugin came from: a file path or the label given to `load_bytes`.
    pub source: String,
    /// Size of the module as given (binary or WAT text), in bytes.
    pub size_bytes: usize,
    /// Every export with its type.
    pub exports: Vec<ExportInfo>,
    /// Every import with its type.
    pub imports: Vec<ImportInfo>,
    /// ABI generation of the HTTP pre-hook.
    pub abi_generation: AbiGeneration,
    /// Allocator variant the host uses.
    pub allocator: AllocatorVariant,
    /// The hooks the plugin implements and their export names.
    pub hooks: Vec<HookExport>,
    /// Whether the plugin exports `init`.
    pub has_init: bool,
    /// Whether the plugin exports `cleanup`.
    pub has_cleanup: bool,
    /// Whether the plugin exports `last_error` (panic and init-failure messages).
    pub has_last_error: bool,
    /// The WASI start function the host runs once per instance (`_initialize` or `_start`).
    pub start_function: Option<String>,
    /// Whether the plugin imports WASI preview 1.
    pub wasi: bool,
    /// Whether the plugin imports AssemblyScript's `env.abort`.
    pub assemblyscript_abort: bool,
    /// The toolchain that built the plugin, as far as the module shows it.
    pub toolchain: crate::toolchain::ToolchainGuess,
    /// Initial linear memory size in bytes.
    pub initial_memory_bytes: u64,
    /// Declared maximum linear memory size in bytes, if any.
    pub maximum_memory_bytes: Option<u64>,
}

impl PluginInfo {
    /// Whether the plugin implements `hook`.
    pub fn implements(&self, hook: Hook) -> bool {
        self.hooks.iter().any(|h| h.hook == hook)
    }
}

/// The resolved ABI of a valid module: which export serves which role.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedAbi {
    pub(crate) allocator: AllocatorVariant,
    pub(crate) hooks: [Option<&'static str>; 5],
    pub(crate) has_init: bool,
    pub(crate) has_cleanup: bool,
    pub(crate) has_last_error: bool,
    pub(crate) start: Option<&'static str>,
    pub(crate) wasi: bool,
    pub(crate) abort: bool,
}

/// The module's information apart from the plugin name (which needs an instance).
pub(crate) struct Analysis {
    pub(crate) abi: ResolvedAbi,
    pub(crate) exports: Vec<ExportInfo>,
    pub(crate) imports: Vec<ImportInfo>,
    pub(crate) initial_memory_bytes: u64,
    pub(crate) maximum_memory_bytes: Option<u64>,
}

/// The WASI preview 1 import module.
pub(crate) const WASI_MODULE: &str = "wasi_snapshot_preview1";

const I32: ValType = ValType::I32;
const I64: ValType = ValType::I64;

fn val_name(v: &ValType) -> String {
    match v {
        ValType::I32 => "i32".into(),
        ValType::I64 => "i64".into(),
        ValType::F32 => "f32".into(),
        ValType::F64 => "f64".into(),
        ValType::V128 => "v128".into(),
        ValType::Ref(r) => r.to_string(),
    }
}

fn func_sig(params: &[ValType], results: &[ValType]) -> String {
    let mut s = String::from("func(");
    for (i, p) in params.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&val_name(p));
    }
    s.push(')');
    match results.len() {
        0 => {}
        1 => {
            let _ = write!(s, " -> {}", val_name(&results[0]));
        }
        _ => {
            s.push_str(" -> (");
            for (i, r) in results.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                s.push_str(&val_name(r));
            }
            s.push(')');
        }
    }
    s
}

/// The type of an extern in WAT-like notation.
pub(crate) fn extern_type_name(ty: &ExternType) -> String {
    match ty {
        ExternType::Func(f) => {
            let params: Vec<ValType> = f.params().collect();
            let results: Vec<ValType> = f.results().collect();
            func_sig(&params, &results)
        }
        ExternType::Memory(m) => {
            let mut s = format!("memory({} pages", m.minimum());
            if let Some(max) = m.maximum() {
                let _ = write!(s, ", max {max}");
            }
            if m.is_64() {
                s.push_str(", 64-bit");
            }
            if m.is_shared() {
                s.push_str(", shared");
            }
            s.push(')');
            s
        }
        ExternType::Global(g) => format!("global {}", val_name(g.content())),
        ExternType::Table(t) => format!("table({})", t.element()),
        ExternType::Tag(_) => "tag".into(),
    }
}

fn func_matches(f: &FuncType, params: &[ValType], results: &[ValType]) -> bool {
    f.params().len() == params.len()
        && f.results().len() == results.len()
        && f.params().zip(params).all(|(a, b)| ValType::eq(&a, b))
        && f.results().zip(results).all(|(a, b)| ValType::eq(&a, b))
}

/// Rust spelling of a required signature, for hints.
fn rust_hint(name: &str) -> String {
    match name {
        "malloc" => "export `malloc(size: u32) -> u32` (0 on failure); the host writes every \
                     input through it"
            .into(),
        "free" => "export `free(ptr: u32, size: u32)` (or `free(ptr: u32)`)".into(),
        "get_name" => "export `get_name() -> u64` returning `(ptr << 32) | len` of the UTF-8 name".into(),
        "init" => "export `init(config_ptr: u32, config_len: u32) -> i32` returning 0 on success".into(),
        "cleanup" => "export `cleanup() -> i32` returning 0 on success".into(),
        "last_error" => "export `last_error() -> u64` returning the packed message, 0 if none".into(),
        "memory" => "export the linear memory as `memory` (rustc, TinyGo and AssemblyScript do \
                     by default); the host needs it to pass JSON"
            .into(),
        "_initialize" | "_start" => "a WASI start function takes and returns nothing".into(),
        hook => format!(
            "declare it as `#[no_mangle] pub extern \"C\" fn {hook}(ptr: u32, len: u32) -> u64` \
             returning `(out_ptr << 32) | out_len`"
        ),
    }
}

/// What a module exports and imports, whether or not it fits the ABI.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ModuleInterface {
    /// Every export with its type.
    pub exports: Vec<ExportInfo>,
    /// Every import with its type.
    pub imports: Vec<ImportInfo>,
}

/// The exports and imports of `module`.
pub(crate) fn interface(module: &Module) -> ModuleInterface {
    ModuleInterface {
        exports: module
            .exports()
            .map(|e| ExportInfo {
                name: e.name().to_string(),
                ty: extern_type_name(&e.ty()),
            })
            .collect(),
        imports: module
            .imports()
            .map(|i| ImportInfo {
                module: i.module().to_string(),
                name: i.name().to_string(),
                ty: extern_type_name(&i.ty()),
            })
            .collect(),
    }
}

/// Analyses `module`; returns every problem found if it does not fit the ABI.
pub(crate) fn analyse(module: &Module) -> Result<Analysis, Vec<LoadProblem>> {
    let mut problems = Vec::new();
    let ModuleInterface { exports, imports } = interface(module);

    let export_ty = |name: &str| module.get_export(name);

    // Checks an exported function's signature; returns whether it is present and right.
    let check_func = |name: &'static str,
                      alternatives: &[(&[ValType], &[ValType])],
                      required: bool,
                      problems: &mut Vec<LoadProblem>|
     -> Option<usize> {
        let expected = alternatives
            .iter()
            .map(|(p, r)| func_sig(p, r))
            .collect::<Vec<_>>()
            .join(" or ");
        match export_ty(name) {
            None => {
                if required {
                    problems.push(LoadProblem::MissingExport {
                        name: name.into(),
                        expected,
                        hint: rust_hint(name),
                    });
                }
                None
            }
            Some(ExternType::Func(f)) => {
                let found = alternatives.iter().position(|(p, r)| func_matches(&f, p, r));
                if found.is_none() {
                    problems.push(LoadProblem::WrongExportType {
                        name: name.into(),
                        expected,
                        found: extern_type_name(&ExternType::Func(f)),
                        hint: rust_hint(name),
                    });
                }
                found
            }
            Some(other) => {
                problems.push(LoadProblem::WrongExportType {
                    name: name.into(),
                    expected,
                    found: extern_type_name(&other),
                    hint: rust_hint(name),
                });
                None
            }
        }
    };

    // Linear memory.
    let mut initial_memory_bytes = 0;
    let mut maximum_memory_bytes = None;
    match export_ty("memory") {
        Some(ExternType::Memory(m)) if !m.is_64() && !m.is_shared() => {
            let page = m.page_size();
            initial_memory_bytes = m.minimum().saturating_mul(page);
            maximum_memory_bytes = m.maximum().map(|max| max.saturating_mul(page));
        }
        Some(other) => problems.push(LoadProblem::WrongExportType {
            name: "memory".into(),
            expected: "memory (32-bit, not shared)".into(),
            found: extern_type_name(&other),
            hint: rust_hint("memory"),
        }),
        None => problems.push(LoadProblem::MissingExport {
            name: "memory".into(),
            expected: "memory".into(),
            hint: rust_hint("memory"),
        }),
    }

    // Allocator: prefer the plugin's explicit `plugin_malloc` (TinyGo also exports its
    // runtime's own `malloc`), else `malloc`.
    let malloc_sig: &[(&[ValType], &[ValType])] = &[(&[I32], &[I32])];
    let free_sigs: &[(&[ValType], &[ValType])] = &[(&[I32, I32], &[]), (&[I32], &[])];
    let allocator = if export_ty("plugin_malloc").is_some() {
        let ok = check_func("plugin_malloc", malloc_sig, true, &mut problems).is_some();
        let free = check_func("plugin_free", free_sigs, false, &mut problems);
        ok.then_some(match free {
            Some(0) => AllocatorVariant::PluginMallocFreeWithSize,
            Some(_) => AllocatorVariant::PluginMallocFree,
            None => AllocatorVariant::PluginMallocOnly,
        })
    } else if export_ty("malloc").is_some() {
        let ok = check_func("malloc", malloc_sig, true, &mut problems).is_some();
        let free = check_func("free", free_sigs, false, &mut problems);
        ok.then_some(match free {
            Some(0) => AllocatorVariant::MallocFreeWithSize,
            Some(_) => AllocatorVariant::MallocFree,
            None => AllocatorVariant::MallocOnly,
        })
    } else {
        problems.push(LoadProblem::MissingExport {
            name: "malloc".into(),
            expected: "func(i32) -> i32 (or `plugin_malloc` with the same type)".into(),
            hint: rust_hint("malloc"),
        });
        None
    };

    check_func("get_name", &[(&[], &[I64])], true, &mut problems);
    let has_init = check_func("init", &[(&[I32, I32], &[I32])], false, &mut problems).is_some();
    let has_cleanup = check_func("cleanup", &[(&[], &[I32])], false, &mut problems).is_some();
    let has_last_error = check_func("last_error", &[(&[], &[I64])], false, &mut problems).is_some();
    let has_initialize = check_func("_initialize", &[(&[], &[])], false, &mut problems).is_some();
    let has_start = check_func("_start", &[(&[], &[])], false, &mut problems).is_some();

    let mut hooks = [None; 5];
    for hook in Hook::ALL {
        for &name in hook.export_names() {
            let ok = check_func(name, &[(&[I32, I32], &[I64])], false, &mut problems).is_some();
            if ok && hooks[hook.index()].is_none() {
                hooks[hook.index()] = Some(name);
            }
        }
    }

    // Imports: WASI preview 1, AssemblyScript's `env.abort`, nothing else.
    let mut wasi = false;
    let mut abort = false;
    for import in module.imports() {
        let ty = import.ty();
        match (import.module(), import.name(), &ty) {
            (WASI_MODULE, _, ExternType::Func(_)) => wasi = true,
            ("env", "abort", ExternType::Func(f)) if func_matches(f, &[I32, I32, I32, I32], &[]) => {
                abort = true
            }
            ("env", "abort", _) => problems.push(LoadProblem::UnsupportedImport {
                module: "env".into(),
                name: "abort".into(),
                ty: extern_type_name(&ty),
                hint: "AssemblyScript's abort is `func(i32, i32, i32, i32)` (message, file, \
                       line, column)"
                    .into(),
            }),
            (module_name, name, _) => problems.push(LoadProblem::UnsupportedImport {
                module: module_name.into(),
                name: name.into(),
                ty: extern_type_name(&ty),
                hint: unsupported_import_hint(module_name, name),
            }),
        }
    }

    if !problems.is_empty() {
        return Err(problems);
    }
    let Some(allocator) = allocator else {
        // Unreachable in practice: a missing or mistyped allocator always adds a problem.
        return Err(vec![LoadProblem::MissingExport {
            name: "malloc".into(),
            expected: "func(i32) -> i32".into(),
            hint: rust_hint("malloc"),
        }]);
    };
    Ok(Analysis {
        abi: ResolvedAbi {
            allocator,
            hooks,
            has_init,
            has_cleanup,
            has_last_error,
            start: if has_initialize {
                Some("_initialize")
            } else if has_start {
                Some("_start")
            } else {
                None
            },
            wasi,
            abort,
        },
        exports,
        imports,
        initial_memory_bytes,
        maximum_memory_bytes,
    })
}

/// What to do about an import the host does not provide.
pub(crate) fn unsupported_import_hint(module: &str, name: &str) -> String {
    if module == WASI_MODULE {
        format!(
            "`{name}` is not a WASI preview 1 function the host provides; build against \
             wasi-libc for wasm32-wasip1"
        )
    } else if module.starts_with("wasi") {
        format!(
            "the host supports WASI preview 1 (`{WASI_MODULE}`) only; build for wasm32-wasip1 \
             (TinyGo: -target=wasi)"
        )
    } else if module == "env" && name == "memory" {
        "the plugin must export its own memory instead of importing one".into()
    } else {
        "Bifrost plugins may import nothing but WASI preview 1 and AssemblyScript's env.abort; \
         remove the dependency that needs it (for Rust, build for wasm32-unknown-unknown and \
         avoid wasm-bindgen; for AssemblyScript, build with --use abort= or keep the default \
         abort)"
            .into()
    }
}
