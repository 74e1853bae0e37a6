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

/// `rotp ARGS --cookie COOKIE` in the background, as [`rotp_background`], with its standard
/// output read line by line (what it prints for its user: the dashboard's login link).
#[allow(dead_code)] // only the dashboard's tests read what rotp prints
pub fn rotp_printing(
    epmd_port: u16,
    cookie: &str,
    args: &[&str],
) -> (Guard, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rotp"))
        .args(args)
        .args(["--cookie", cookie])
        .env("ERL_EPMD_PORT", epmd_port.to_string())
        .env_remove("RELEASE_COOKIE")
        .env_remove("ROTP_DASHBOARD_TOKEN")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("rotp starts");
    let out = child.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (Guard(child), rx)
}

/// The dashboard login link (`http://127.0.0.1:HTTP/?token=…`) among the lines `rx` gets,
/// waited for `within`: its path and query (`/?token=…`).
#[allow(dead_code)] // only the dashboard's tests log in with a link
pub fn login_link(
    rx: &std::sync::mpsc::Receiver<String>,
    http: u16,
    within: std::time::Duration,
) -> String {
    let prefix = format!("http://127.0.0.1:{http}");
    wait_until("the login link on standard output", within, || {
        let line = rx
            .recv_timeout(std::time::Duration::from_millis(100))
            .ok()?;
        let link = line.trim().strip_prefix(&prefix)?;
        link.starts_with("/?token=").then(|| link.to_owned())
    })
}
