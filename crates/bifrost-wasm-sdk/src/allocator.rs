//! The plugin's global allocator on `wasm32`: dlmalloc (the allocator std itself uses there),
//! fed first from an arena inside the module's initial memory, then by `memory.grow`.
//!
//! Why not std's: its dlmalloc takes every byte from `memory.grow`, so a Rust plugin grows its
//! linear memory on its very first allocation. On a pooled host (wasmtime's pooling
//! allocator, the usual way to run many instances) a slot whose memory grew must be
//! `mprotect`ed back to the initial size when the slot is reused: a system call and a TLB
//! shootdown on every fresh instance. With the arena, `init` and ordinary hooks never grow
//! memory, and a fresh instance skips that cost (see BENCHMARKS.md).
//!
//! On by default (feature `allocator`); a plugin that brings its own `#[global_allocator]`
//! turns the feature off. Nothing changes for native builds (tests, benchmarks).

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, Ordering};

use dlmalloc::{Allocator, Dlmalloc};

/// Bytes of the arena: enough for `init` and for hooks on inputs up to a few tens of KB
/// (the SDK's headroom check asks for three times the input plus 64 KiB).
pub const ARENA_BYTES: usize = 256 * 1024;

const PAGE: usize = 64 * 1024;

#[repr(C, align(16))]
struct Arena([u8; ARENA_BYTES]);

/// Zeroed (`.bss`), so part of the initial memory without adding to the module's size.
static mut ARENA: Arena = Arena([0; ARENA_BYTES]);
static ARENA_TAKEN: AtomicBool = AtomicBool::new(false);

/// Where dlmalloc gets its memory from.
struct System;

// SAFETY: `alloc` hands out regions that nothing else uses: the arena once, then fresh pages
// from `memory.grow`; the other methods refuse to release or remap anything, as std's wasm
// implementation does.
unsafe impl Allocator for System {
    fn alloc(&self, size: usize) -> (*mut u8, usize, u32) {
        if size <= ARENA_BYTES && !ARENA_TAKEN.swap(true, Ordering::Relaxed) {
            // Flag bit 0 (EXTERN): not from the system, never to be merged with grown pages.
            return ((&raw mut ARENA).cast::<u8>(), ARENA_BYTES, 1);
        }
        let pages = size.div_ceil(PAGE);
        let previous = core::arch::wasm32::memory_grow(0, pages);
        if previous == usize::MAX {
            return (std::ptr::null_mut(), 0, 0);
        }
        ((previous * PAGE) as *mut u8, pages * PAGE, 0)
    }

    fn remap(&self, _ptr: *mut u8, _old: usize, _new: usize, _can_move: bool) -> *mut u8 {
        std::ptr::null_mut()
    }

    fn free_part(&self, _ptr: *mut u8, _old: usize, _new: usize) -> bool {
        false
    }

    fn free(&self, _ptr: *mut u8, _size: usize) -> bool {
        false
    }

    fn can_release_part(&self, _flags: u32) -> bool {
        false
    }

    fn allocates_zeros(&self) -> bool {
        // Fresh pages from `memory.grow` and the untouched arena are both zero.
        true
    }

    fn page_size(&self) -> usize {
        PAGE
    }
}

/// dlmalloc behind a cell: `wasm32` without the `atomics` feature has one thread, so there is
/// never a concurrent caller.
struct Global(UnsafeCell<Dlmalloc<System>>);

// SAFETY: this module is only compiled for single-threaded wasm (no `atomics`), where the
// allocator can never be entered from two threads.
unsafe impl Sync for Global {}

// SAFETY: every method forwards to dlmalloc with the layout's size and alignment, which is
// dlmalloc's contract; dlmalloc does not allocate through the global allocator.
unsafe impl GlobalAlloc for Global {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { (*self.0.get()).malloc(layout.size(), layout.align()) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe { (*self.0.get()).calloc(layout.size(), layout.align()) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { (*self.0.get()).free(ptr, layout.size(), layout.align()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        unsafe { (*self.0.get()).realloc(ptr, layout.size(), layout.align(), new_size) }
    }
}

#[global_allocator]
static GLOBAL: Global = Global(UnsafeCell::new(Dlmalloc::new_with_allocator(System)));
