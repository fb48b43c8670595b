//! A host test fixture: a Bifrost plugin built for `wasm32-wasip1` that writes to
//! stdout and stderr from its hooks, so the host's WASI support and its turning of
//! plugin output into log lines can be tested.
//!
//! Exports (on wasm32 only; a native build is empty so `cargo build --workspace`
//! and `cargo test` never replace the process allocator):
//!
//! * `plugin_malloc(size) -> ptr`, `plugin_free(ptr)` — the TinyGo-style allocator
//!   pair (on wasm32-wasip1, wasi-libc already defines `malloc`/`free`, which is
//!   why TinyGo plugins use these names); backed by wasi-libc's allocator
//! * `get_name` → `wasi-printer`
//! * `init(config)` prints `init: <config>` to stdout
//! * `pre_hook(input)` prints `pre_hook: <n> bytes` to stdout and
//!   `pre_hook: stderr line` to stderr, then a partial line `tail without newline`
//!   on stdout, and returns the input unchanged
//! * `cleanup` prints `cleanup` and returns 0
//!
//! Build with `cargo build -p wasi-printer --target wasm32-wasip1`.

#[cfg(target_arch = "wasm32")]
mod exports {
    use std::io::Write;

    extern "C" {
        // wasi-libc's allocator, linked into every wasm32-wasip1 module.
        fn malloc(size: usize) -> *mut u8;
        fn free(ptr: *mut u8);
    }

    /// Allocates `size` bytes (at least one) for the host; 0 on failure.
    #[no_mangle]
    pub extern "C" fn plugin_malloc(size: u32) -> u32 {
        // SAFETY: plain C allocation of a non-zero size.
        unsafe { malloc(size.max(1) as usize) as u32 }
    }

    /// Frees a buffer from `plugin_malloc` (inputs and outputs alike).
    #[no_mangle]
    pub extern "C" fn plugin_free(ptr: u32) {
        // SAFETY: the host frees each buffer it got from `plugin_malloc` (or as an
        // output) exactly once; `free(NULL)` is a no-op.
        unsafe { free(ptr as *mut u8) }
    }

    fn input(ptr: u32, len: u32) -> Vec<u8> {
        if ptr == 0 || len == 0 {
            return Vec::new();
        }
        // SAFETY: the host wrote `len` bytes at `ptr` and keeps them until we return.
        unsafe { std::slice::from_raw_parts(ptr as *const u8, len as usize) }.to_vec()
    }

    fn output(bytes: &[u8]) -> u64 {
        let ptr = plugin_malloc(bytes.len() as u32);
        if ptr == 0 {
            return 0;
        }
        // SAFETY: `ptr` points to a fresh allocation of at least `bytes.len()` bytes.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr as *mut u8, bytes.len()) };
        ((ptr as u64) << 32) | bytes.len() as u64
    }

    /// The plugin name.
    #[no_mangle]
    pub extern "C" fn get_name() -> u64 {
        output(b"wasi-printer")
    }

    /// Prints the configuration.
    #[no_mangle]
    pub extern "C" fn init(ptr: u32, len: u32) -> i32 {
        println!("init: {}", String::from_utf8_lossy(&input(ptr, len)));
        0
    }

    /// Prints, then echoes the input.
    #[no_mangle]
    pub extern "C" fn pre_hook(ptr: u32, len: u32) -> u64 {
        let data = input(ptr, len);
        println!("pre_hook: {} bytes", data.len());
        eprintln!("pre_hook: stderr line");
        print!("tail without newline");
        let _ = std::io::stdout().flush();
        output(&data)
    }

    /// Prints and succeeds.
    #[no_mangle]
    pub extern "C" fn cleanup() -> i32 {
        println!("cleanup");
        0
    }
}
