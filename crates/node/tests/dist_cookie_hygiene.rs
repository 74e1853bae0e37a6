//! The cookie never leaves the node: not in its most detailed logs (a challenge digest is the
//! MD5 of the cookie and a number, open to an offline brute force), not in the environment of
//! the EPMD it starts (which outlives it).
//!
//! Alone in its test binary: it installs a global log subscriber and sets the environment.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::raw::{self, RawPeer};
use support::*;

const COOKIE: &str = "a-cookie-nobody-may-see";

/// Everything logged, at every level, into a buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neither_logs_nor_the_epmd_it_starts_see_the_cookie() {
    let captured = Captured::default();
    let sink = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .init();

    // The EPMD the node starts, as erl starts one, with RELEASE_COOKIE in our environment.
    std::env::set_var("RELEASE_COOKIE", COOKIE);
    let epmd_port = free_port();
    let env_file = std::env::temp_dir().join(format!("rotp-epmd-env-{}", std::process::id()));
    let script = format!(
        "env > '{}'; exec '{}'",
        env_file.display(),
        otp_epmd().display()
    );
    let node = rotp_node_with("rotp_hygiene", COOKIE, epmd_port, |c| {
        c.epmd_program = Some(rotp_node::EpmdProgram::Foreground(
            "/bin/sh".into(),
            vec!["-c".to_owned(), script],
        ));
    })
    .await;
    let env = std::fs::read_to_string(&env_file).expect("the EPMD's environment");
    let _ = std::fs::remove_file(&env_file);
    assert!(env.contains(&format!("ERL_EPMD_PORT={epmd_port}")), "{env}");
    assert!(
        !env.contains("RELEASE_COOKIE"),
        "the EPMD inherited the cookie"
    );

    // A handshake both ways, logged at trace level.
    let target = node.name().clone();
    let config = raw::config("peer@127.0.0.1", COOKIE);
    let our_digest = dist::Cookie::new(COOKIE).digest(config.challenge);
    let peer = RawPeer::connect(node.listen_port().unwrap(), &target, config).await;
    drop(peer);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(
        log.contains("handshake read"),
        "nothing was logged at trace level: {log}"
    );
    // The first bytes of the digest as a dump of bytes would show them: `12, 34, 56, 78`.
    let decimal = format!("{:?}", &our_digest[..4])
        .trim_matches(|c| c == '[' || c == ']')
        .to_owned();
    let hex = hex::encode(our_digest);
    for secret in [COOKIE, decimal.as_str(), hex.as_str()] {
        assert!(!log.contains(secret), "the log shows {secret:?}:\n{log}");
    }
    let _ = std::process::Command::new(otp_epmd())
        .args(["-port", &epmd_port.to_string(), "-kill"])
        .output();
}
