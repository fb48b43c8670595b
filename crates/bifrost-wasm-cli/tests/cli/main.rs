//! Integration tests of the `bifrost-wasm` binary: every command on the hello-world plugin,
//! broken plugins written in WAT, and bad arguments.

mod call;
mod check;
mod errors;
mod inspect;
mod support;
mod wat;
