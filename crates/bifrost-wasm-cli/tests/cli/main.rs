//! Integration tests of the `bifrost-wasm` binary: every command on the hello-world plugin,
//! broken plugins written in WAT, bad arguments, and the gateway behind `serve`.

mod bench;
mod call;
mod check;
mod errors;
mod inspect;
mod serve;
mod support;
mod toolchains;
mod verdicts;
mod wat;
