//! EPMD over TCP: the daemon ([`daemon`]) and an async client ([`client`]).
//!
//! `epmd -names` against a daemon of our own on loopback:
//!
//! ```
//! use rotp_net::epmd::{Client, Daemon, DaemonConfig};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = DaemonConfig { port: 0, addresses: Some("127.0.0.1".into()), ..DaemonConfig::default() };
//! let daemon = Daemon::bind(config)?;
//! let addr = daemon.local_addrs().into_iter().find(|a| a.is_ipv4()).expect("127.0.0.1");
//! tokio::spawn(daemon.run());
//!
//! let epmd = Client::new(addr);
//! let _drip = epmd.register(epmd::msg::NodeInfo::new("drip", 45_000)).await?;
//! let _iex = epmd.register(epmd::msg::NodeInfo::new("iex", 45_001)).await?;
//! let (_, mut names) = epmd.names().await?;
//! names.sort();
//! assert_eq!(names, [("drip".to_owned(), 45_000), ("iex".to_owned(), 45_001)]);
//!
//! // The port a node looks for EPMD on: `ERL_EPMD_PORT`, read as C's `atoi` reads it.
//! assert_eq!(rotp_net::epmd::atoi(" 4370xyz"), 4370);
//! # Ok(()) }
//! ```

pub mod client;
pub mod daemon;
pub mod log;

pub use client::{Client, ClientError, Registration};
pub use daemon::{Daemon, DaemonConfig, DaemonError, NamesHandle};

/// The EPMD port from `ERL_EPMD_PORT`, else 4369, parsed as OTP's `atoi` would (garbage is 0).
pub fn port_from_env() -> u16 {
    std::env::var("ERL_EPMD_PORT")
        .map(|v| atoi(&v) as u16)
        .unwrap_or(::epmd::DEFAULT_PORT)
}

/// C's `atoi`: optional white space and sign, then digits; anything else stops it; 0 if none.
pub fn atoi(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let value = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |acc, d| {
            acc.saturating_mul(10).saturating_add(i64::from(d - b'0'))
        });
    if neg {
        -value
    } else {
        value
    }
}
