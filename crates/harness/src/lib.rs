//! Running real OTP programs beside rotp's, for tests and benchmarks: finding `erl` and OTP's
//! `epmd`, free loopback ports, and child processes that are killed when dropped, however the
//! test or benchmark ends. Panics with a clear message when Erlang/OTP is missing: the tests
//! that use this are about interoperating with it.

#![forbid(unsafe_code)]

pub mod bed;
pub mod dnsmasq;
pub mod gen_stage;
pub mod http;
pub mod kubernetes;
pub mod pki;
pub mod postgres;
pub mod prometheus;
pub mod s3;

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// OTP's root directory (`code:root_dir()`), from the `erl` on PATH.
pub fn otp_root() -> PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let out = Command::new("erl")
            .args([
                "-noshell",
                "-eval",
                "io:format(\"~s\", [code:root_dir()]), halt().",
            ])
            .output()
            .expect("erl must be installed to run the interop tests (see README)");
        PathBuf::from(String::from_utf8(out.stdout).expect("utf8"))
    })
    .clone()
}

/// OTP's own `epmd` binary.
pub fn otp_epmd() -> PathBuf {
    let root = otp_root();
    std::fs::read_dir(&root)
        .expect("OTP root")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin/epmd"))
        .find(|p| p.exists() && p.to_string_lossy().contains("erts-"))
        .expect("OTP's epmd binary under erts-*/bin")
}

/// A port nothing listens on right now (on IPv4 or IPv6 loopback), below the kernel's
/// ephemeral range, so no outgoing connection or `bind(0)` of another process takes it before
/// the test's server binds it; never the same port twice in one test binary.
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    const FROM: u32 = 10_000;
    let below = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768)
        .clamp(FROM + 1_000, 65_535);
    let mut random = std::collections::hash_map::RandomState::new().build_hasher();
    random.write_u32(std::process::id());
    loop {
        random.write_u8(1);
        let port = (FROM + (random.finish() % u64::from(below - FROM)) as u32) as u16;
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if given.contains(&port) {
            continue;
        }
        let free = TcpListener::bind(("127.0.0.1", port)).is_ok()
            && (TcpListener::bind(("::1", port)).is_ok()
                || TcpListener::bind(("::", port)).is_ok());
        if free {
            given.push(port);
            return port;
        }
    }
}

/// A child process killed on drop.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (bounded) until something accepts connections on 127.0.0.1:`port`.
pub fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts `erl -sname NAME -setcookie COOKIE -noshell -eval EVAL` against the EPMD on
/// `epmd_port`, in the background: its standard output is piped for the test to read, and it
/// is killed when the guard drops.
pub fn start_erl(name: &str, cookie: &str, epmd_port: u16, eval: &str) -> Guard {
    start_erl_with(Command::new("erl"), name, cookie, epmd_port, eval)
}

/// [`start_erl`] through `erl`, a command that runs `erl` with the arguments added to it (as
/// `taskset -c 1 erl` does).
pub fn start_erl_with(
    mut erl: Command,
    name: &str,
    cookie: &str,
    epmd_port: u16,
    eval: &str,
) -> Guard {
    let child = erl
        .args([
            "-sname",
            name,
            "-setcookie",
            cookie,
            "-noshell",
            "-eval",
            eval,
        ])
        .env("ERL_EPMD_PORT", epmd_port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("erl must be installed to run the interop tests (see README)");
    Guard(child)
}

/// Starts an epmd binary in the foreground on `port` with extra arguments.
pub fn start_epmd(binary: &Path, port: u16, args: &[&str]) -> Guard {
    let child = Command::new(binary)
        .args(["-port", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start epmd");
    let guard = Guard(child);
    wait_listening(port);
    guard
}

/// Reads until the peer closes or `quiet` passes with no data; the bytes and whether it closed.
pub fn read_reply(stream: &mut TcpStream, quiet: Duration) -> (Vec<u8>, bool) {
    stream.set_read_timeout(Some(quiet)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return (out, false)
            }
            Err(_) => return (out, true),
        }
    }
}

/// The short host name `erl -sname` uses.
pub fn short_host() -> String {
    let out = Command::new("hostname").output().expect("hostname");
    let name = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    name.split('.').next().unwrap_or(&name).to_owned()
}

/// What a [`wait_until`] check returns: `true`/`Some(v)` once the awaited thing holds.
pub trait Ready {
    /// What the wait returns.
    type Value;
    /// `Some` once ready.
    fn ready(self) -> Option<Self::Value>;
}

impl Ready for bool {
    type Value = ();
    fn ready(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Ready for Option<T> {
    type Value = T;
    fn ready(self) -> Option<T> {
        self
    }
}

/// How often [`wait_until`] and [`wait_until_async`] look again.
const POLL: Duration = Duration::from_millis(20);

/// Looks at `check` every 20 ms until it holds (`true`, or `Some(v)`: then `v`), for at most
/// `within`; past that, the test fails saying it waited for `what`. The one way tests wait
/// for something: never a fixed sleep.
pub fn wait_until<R: Ready>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> R,
) -> R::Value {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().ready() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "waited {within:?} for {what}: it never happened"
        );
        std::thread::sleep(POLL);
    }
}

/// [`wait_until`] for async tests: `check` is awaited, and the wait sleeps on tokio's timer.
pub async fn wait_until_async<R: Ready, F: std::future::Future<Output = R>>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> F,
) -> R::Value {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await.ready() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "waited {within:?} for {what}: it never happened"
        );
        tokio::time::sleep(POLL).await;
    }
}
