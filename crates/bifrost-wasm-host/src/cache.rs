//! On-disk cache of compiled modules.
//!
//! An entry is keyed by SHA-256 over the engine's precompile-compatibility hash (the
//! wasmtime version and every setting that affects compiled code) and the module's
//! bytes, so a change of either gives a new key. An entry file is
//! `MAGIC ‖ sha256(payload) ‖ payload`, where the payload is `Module::serialize`'s
//! output. It is written to a temporary file and renamed into place, so readers never
//! see a partial entry. On load the digest is checked before wasmtime sees a byte; an
//! entry that fails the check, or that wasmtime rejects, is recompiled and rewritten.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

const MAGIC: &[u8; 16] = b"bifrost-wasm-c1\n";
const DIGEST_LEN: usize = 32;

/// Feeds `Hash` output into SHA-256 (the compatibility hash is only exposed as `impl Hash`).
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        // Not used: the digest is taken from the inner state.
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// The digest of an engine's code-affecting configuration.
pub(crate) fn engine_fingerprint(engine: &Engine) -> [u8; DIGEST_LEN] {
    let mut hasher = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.0.finalize().into()
}

/// Outcome of a cache lookup.
pub(crate) enum Lookup {
    /// A valid entry was found and deserialised.
    Hit(Module),
    /// No entry.
    Miss,
    /// An entry existed but was corrupt or incompatible; it will be replaced.
    Rejected(String),
}

/// The cache directory and this engine's fingerprint.
pub(crate) struct ModuleCache {
    dir: PathBuf,
    fingerprint: [u8; DIGEST_LEN],
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl ModuleCache {
    pub(crate) fn new(dir: PathBuf, engine: &Engine) -> ModuleCache {
        ModuleCache {
            dir,
            fingerprint: engine_fingerprint(engine),
        }
    }

    /// The entry path for a module.
    pub(crate) fn entry_path(&self, wasm: &[u8]) -> PathBuf {
        let mut key = Sha256::new();
        key.update(self.fingerprint);
        key.update(Sha256::digest(wasm));
        self.dir.join(format!("{}.cwasm", hex(&key.finalize())))
    }

    /// Looks the module up.
    pub(crate) fn lookup(&self, engine: &Engine, path: &Path) -> Lookup {
        let data = match fs::read(path) {
            Ok(data) => data,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Lookup::Miss,
            Err(e) => return Lookup::Rejected(format!("cannot read: {e}")),
        };
        let header = MAGIC.len() + DIGEST_LEN;
        if data.len() < header || &data[..MAGIC.len()] != MAGIC {
            return Lookup::Rejected("not a cache entry (bad header)".into());
        }
        let (digest, payload) = data[MAGIC.len()..].split_at(DIGEST_LEN);
        if Sha256::digest(payload).as_slice() != digest {
            return Lookup::Rejected("checksum mismatch (corrupt entry)".into());
        }
        // SAFETY: `Module::deserialize` requires bytes produced by `Module::serialize`
        // of a compatible engine. The payload's SHA-256 matches the digest written with
        // it, so these are exactly the bytes this cache serialised (the directory is
        // the host's own cache; only corruption, not forgery, is guarded against).
        // wasmtime itself rejects payloads from another version or configuration.
        match unsafe { Module::deserialize(engine, payload) } {
            Ok(module) => Lookup::Hit(module),
            Err(e) => Lookup::Rejected(format!("incompatible entry: {e}")),
        }
    }

    /// Writes the module's entry atomically. Failures are logged, never fatal.
    pub(crate) fn store(&self, module: &Module, path: &Path) {
        if let Err(e) = self.try_store(module, path) {
            tracing::warn!(
                path = %path.display(),
                "could not write the compiled-module cache entry: {e}; the next load compiles again"
            );
        }
    }

    fn try_store(&self, module: &Module, path: &Path) -> Result<(), String> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let payload = module.serialize().map_err(|e| e.to_string())?;
        fs::create_dir_all(&self.dir).map_err(|e| e.to_string())?;
        let tmp = self.dir.join(format!(
            ".tmp-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            path.file_name().and_then(|n| n.to_str()).unwrap_or("entry")
        ));
        let result = (|| {
            let mut file = fs::File::create(&tmp)?;
            file.write_all(MAGIC)?;
            file.write_all(&Sha256::digest(&payload))?;
            file.write_all(&payload)?;
            file.sync_all()?;
            fs::rename(&tmp, path)
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(e.to_string());
        }
        Ok(())
    }
}
