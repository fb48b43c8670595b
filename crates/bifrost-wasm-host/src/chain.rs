//! Plugin chain semantics (work in progress).
