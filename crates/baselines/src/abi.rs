//! The baselines' memory ABI, written by hand as the upstream Rust example writes it:
//! `malloc`/`free` with alignment 1 on std's allocator, the input copied into an owned
//! `String` (`String::from_utf8_lossy`), the output copied into a fresh buffer.
//!
//! The plugins export `malloc`/`free` themselves (calling [`allocate`] and [`deallocate`]), so
//! each plugin's export list stays in its own `lib.rs`. No SDK, no custom allocator.

use std::alloc::{alloc, dealloc, Layout};

/// Allocates `size` bytes for the host (0 on failure).
pub fn allocate(size: u32) -> u32 {
    if size == 0 {
        return 1;
    }
    match Layout::from_size_align(size as usize, 1) {
        // SAFETY: the layout has a non-zero size.
        Ok(layout) => unsafe { alloc(layout) as usize as u32 },
        Err(_) => 0,
    }
}

/// Frees a buffer from [`allocate`] or [`write_string`].
///
/// # Safety
/// `ptr`/`size` must describe a live allocation made by this module.
pub unsafe fn deallocate(ptr: u32, size: u32) {
    if ptr <= 1 || size == 0 {
        return;
    }
    if let Ok(layout) = Layout::from_size_align(size as usize, 1) {
        // SAFETY: guaranteed by the caller.
        unsafe { dealloc(ptr as usize as *mut u8, layout) }
    }
}

/// Copies the host's input into an owned string (invalid UTF-8 replaced).
///
/// # Safety
/// `ptr..ptr+len` must be memory the host wrote.
pub unsafe fn read_string(ptr: u32, len: u32) -> String {
    if ptr == 0 || len == 0 {
        return String::new();
    }
    // SAFETY: guaranteed by the caller.
    let bytes = unsafe { std::slice::from_raw_parts(ptr as usize as *const u8, len as usize) };
    String::from_utf8_lossy(bytes).into_owned()
}

/// Copies `s` into a fresh allocation and packs `(ptr << 32) | len` (0 for empty).
pub fn write_string(s: &str) -> u64 {
    if s.is_empty() {
        return 0;
    }
    let ptr = allocate(s.len() as u32);
    if ptr == 0 {
        return 0;
    }
    // SAFETY: `ptr` was just allocated with `s.len()` bytes.
    unsafe { std::ptr::copy_nonoverlapping(s.as_ptr(), ptr as usize as *mut u8, s.len()) };
    (u64::from(ptr) << 32) | s.len() as u64
}

/// Runs `hook` on the input at `ptr..ptr+len` and returns its output, packed: one owned copy
/// of the input in, one copy of the output into a fresh buffer out.
///
/// # Safety
/// As [`read_string`]: the host wrote `len` bytes at `ptr` (from `malloc`).
pub unsafe fn run(ptr: u32, len: u32, hook: fn(&str) -> String) -> u64 {
    // SAFETY: guaranteed by the caller.
    let input = unsafe { read_string(ptr, len) };
    write_string(&hook(&input))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_output_packs_to_zero() {
        assert_eq!(write_string(""), 0);
    }

    #[test]
    fn zero_size_allocation_is_a_non_null_dangling_pointer_that_free_ignores() {
        assert_eq!(allocate(0), 1);
        // SAFETY: `deallocate` ignores the dangling pointer 1.
        unsafe { deallocate(1, 0) };
    }
}
