//! The tokio side of rotp's protocols: sockets, timers and tasks around the sans-IO state
//! machines of the `epmd` (and, later, `dist`) crates.

#![forbid(unsafe_code)]

pub mod epmd;
