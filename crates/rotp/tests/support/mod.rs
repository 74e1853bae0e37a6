//! What the interop tests share: the `harness` crate, and our own `epmd` binary.

pub use harness::*;

#[allow(dead_code)] // only the full-screen tests drive a terminal
pub mod pty;

/// Our `epmd` binary, as cargo built it for these tests.
#[allow(dead_code)] // not every test file starts our epmd
pub fn our_epmd() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_BIN_EXE_epmd"))
}

/// `rotp ARGS --cookie COOKIE` in the background on the EPMD at `epmd_port`, quiet, stopped
/// when the guard drops.
#[allow(dead_code)] // not every test file runs rotp in the background
pub fn rotp_background(epmd_port: u16, cookie: &str, args: &[&str]) -> Guard {
    Guard(
        std::process::Command::new(env!("CARGO_BIN_EXE_rotp"))
            .args(args)
            .args(["--cookie", cookie])
            .env("ERL_EPMD_PORT", epmd_port.to_string())
            .env_remove("RELEASE_COOKIE")
            .env_remove("ROTP_DASHBOARD_TOKEN")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("rotp starts"),
    )
}
