//! The memory ABI: `malloc`/`free` for the host, packed `u64` results.
//!
//! The host owns both buffers of a call: it `malloc`s the input, writes it, calls the hook,
//! reads the output the hook returned as a packed `(ptr << 32) | len`, and frees the input
//! and the output with `free(ptr, len)`. Every buffer is allocated with alignment 1 so
//! `free(ptr, len)` always matches the allocation's layout.

use std::alloc::Layout;

/// Address handed out by `malloc(0)`: valid, non-null, never written, never freed.
static ZERO_SIZED: u8 = 0;

/// Packs a pointer and a length into the ABI's `u64`.
pub fn pack(ptr: u32, len: u32) -> u64 {
    (u64::from(ptr) << 32) | u64::from(len)
}

/// Splits a packed `u64` into `(ptr, len)`.
pub fn unpack(packed: u64) -> (u32, u32) {
    ((packed >> 32) as u32, packed as u32)
}

/// Allocates `size` bytes (alignment 1) for the host. Returns 0 when memory is exhausted;
/// `size == 0` returns a valid non-null address that must not be written.
pub fn malloc(size: u32) -> u32 {
    if size == 0 {
        return std::ptr::addr_of!(ZERO_SIZED) as usize as u32;
    }
    let Ok(layout) = Layout::from_size_align(size as usize, 1) else {
        return 0;
    };
    // SAFETY: `layout` has a non-zero size.
    let ptr = unsafe { std::alloc::alloc(layout) };
    ptr as usize as u32
}

/// Frees a buffer obtained from [`malloc`] or returned by a hook. `free(0, _)` and
/// `free(_, 0)` do nothing.
///
/// # Safety
/// `ptr` must come from [`malloc`] (or a packed result) with the same `size`, and must not be
/// freed twice.
pub unsafe fn free(ptr: u32, size: u32) {
    if ptr == 0 || size == 0 {
        return;
    }
    let Ok(layout) = Layout::from_size_align(size as usize, 1) else {
        return;
    };
    // SAFETY: the caller guarantees `ptr` was allocated with this layout.
    unsafe { std::alloc::dealloc(ptr as usize as *mut u8, layout) };
}

/// Borrows the input the host wrote at `ptr..ptr+len`.
///
/// # Safety
/// The range must be memory the host wrote (obtained through [`malloc`]) and must stay
/// untouched for the returned lifetime.
pub unsafe fn input<'a>(ptr: u32, len: u32) -> &'a [u8] {
    if len == 0 || ptr == 0 {
        return &[];
    }
    // SAFETY: guaranteed by the caller.
    unsafe { std::slice::from_raw_parts(ptr as usize as *const u8, len as usize) }
}

/// Hands `bytes` to the host as a packed `(ptr, len)`; the host frees it with `free(ptr, len)`.
/// Empty output packs to 0.
pub fn output(bytes: Vec<u8>) -> u64 {
    if bytes.is_empty() {
        return 0;
    }
    let boxed = bytes.into_boxed_slice();
    let len = boxed.len() as u32;
    let ptr = Box::into_raw(boxed) as *mut u8 as usize as u32;
    pack(ptr, len)
}

/// Checks that `bytes` more bytes could be allocated right now, without aborting if not.
/// Used before processing an input so that a too-large input gets an error output instead
/// of an allocation failure (which aborts on `wasm32`).
pub fn has_headroom(bytes: usize) -> bool {
    let mut probe: Vec<u8> = Vec::new();
    probe.try_reserve_exact(bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips() {
        assert_eq!(unpack(pack(0xdead_beef, 7)), (0xdead_beef, 7));
        assert_eq!(pack(0, 0), 0);
    }

    #[test]
    fn malloc_zero_is_valid_and_free_zero_is_noop() {
        // Native pointers do not fit u32, so only exercise the paths that do not dereference.
        let p = malloc(0);
        assert_ne!(p, 0);
        unsafe {
            free(p, 0);
            free(0, 10);
        }
    }

    #[test]
    fn headroom_probe_fails_cleanly_for_absurd_sizes() {
        assert!(has_headroom(1024));
        assert!(!has_headroom(usize::MAX / 2));
    }
}
