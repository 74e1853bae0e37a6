//! EPMD over TCP: the daemon ([`daemon`]) and an async client ([`client`]).

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
