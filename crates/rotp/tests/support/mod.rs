//! What the interop tests share: the `harness` crate, and our own `epmd` binary.

pub use harness::*;

#[allow(dead_code)] // only the full-screen tests drive a terminal
pub mod pty;

#[allow(dead_code)] // only the web tests speak HTTP
pub mod http;

/// Our `epmd` binary, as cargo built it for these tests.
#[allow(dead_code)] // not every test file starts our epmd
pub fn our_epmd() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_BIN_EXE_epmd"))
}
