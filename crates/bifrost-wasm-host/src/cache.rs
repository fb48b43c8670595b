//! On-disk cache of compiled modules.
//!
//! An entry is keyed by SHA-256 over the engine's precompile-compatibility hash (the
//! wasmtime version and every setting that affects compiled code) and the module's
//! bytes, so a change of either gives a new key (and no crafted module can take another
//! module's key). An entry file is `MAGIC ‖ checksum(payload) ‖ payload`, where the
//! payload is `Module::serialize`'s output and the checksum a fast 128-bit hash that
//! catches corruption (truncation, flipped bits, a foreign file). It is written to a
//! temporary file and renamed into place, so readers never see a partial entry. On load
//! the checksum is verified before wasmtime sees a byte; an entry that fails the check,
//! or that wasmtime rejects, is recompiled and rewritten.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

const MAGIC: &[u8; 16] = b"bifrost-wasm-c2\n";
const DIGEST_LEN: usize = 32;
const CHECKSUM_LEN: usize = 16;

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
        let header = MAGIC.len() + CHECKSUM_LEN;
        if data.len() < header || &data[..MAGIC.len()] != MAGIC {
            return Lookup::Rejected("not a cache entry (bad header)".into());
        }
        let (sum, payload) = data[MAGIC.len()..].split_at(CHECKSUM_LEN);
        if checksum(payload) != sum {
            return Lookup::Rejected("checksum mismatch (corrupt entry)".into());
        }
        // SAFETY: `Module::deserialize` requires bytes produced by `Module::serialize`
        // of a compatible engine. The payload's checksum matches the one written with
        // it, so these are the bytes this cache serialised (the directory is the host's
        // own cache: corruption is detected; forgery would need write access to it,
        // which already allows replacing any plugin). wasmtime itself rejects payloads
        // from another version or configuration.
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
            file.write_all(&checksum(&payload))?;
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

/// A fast 128-bit checksum (four independent multiply-rotate lanes over 64-bit words,
/// then a final mix with the length). Detects corruption, not forgery.
pub(crate) fn checksum(data: &[u8]) -> [u8; CHECKSUM_LEN] {
    const K1: u64 = 0x9E37_79B9_7F4A_7C15;
    const K2: u64 = 0xC2B2_AE3D_27D4_EB4F;
    const K3: u64 = 0x1656_67B1_9E37_79F9;
    let mut lanes = [K1, K2, K3, K1 ^ K2];
    let mut absorb = |block: &[u8]| {
        for (lane, word) in lanes.iter_mut().zip(block.chunks_exact(8)) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(word);
            *lane = (*lane ^ u64::from_le_bytes(bytes))
                .wrapping_mul(K1)
                .rotate_left(31);
        }
    };
    let blocks = data.chunks_exact(32);
    let tail = blocks.remainder();
    for block in blocks {
        absorb(block);
    }
    let mut last = [0u8; 32];
    last[..tail.len()].copy_from_slice(tail);
    absorb(&last);
    let len = data.len() as u64;
    let mix = |mut x: u64| {
        x ^= x >> 33;
        x = x.wrapping_mul(K2);
        x ^= x >> 29;
        x = x.wrapping_mul(K3);
        x ^ (x >> 32)
    };
    let a = mix(lanes[0] ^ lanes[1].rotate_left(17) ^ len);
    let b = mix(lanes[2] ^ lanes[3].rotate_left(41) ^ a);
    let mut out = [0u8; CHECKSUM_LEN];
    out[..8].copy_from_slice(&a.to_le_bytes());
    out[8..].copy_from_slice(&b.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::checksum;

    #[test]
    fn checksum_changes_with_any_flipped_bit_or_length() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        let base = checksum(&data);
        for byte in [0, 1, 31, 32, 500, 998, 999] {
            for bit in 0..8 {
                let mut changed = data.clone();
                changed[byte] ^= 1 << bit;
                assert_ne!(checksum(&changed), base, "byte {byte} bit {bit}");
            }
        }
        assert_ne!(checksum(&data[..999]), base);
        let mut padded = data.clone();
        padded.push(0);
        assert_ne!(checksum(&padded), base);
        assert_ne!(checksum(b""), checksum(b"\0"));
    }
}
