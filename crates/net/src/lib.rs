//! The tokio side of rotp's protocols: sockets, timers and tasks around the sans-IO state
//! machines of the `epmd` and `dist` crates.

#![forbid(unsafe_code)]

pub mod dist;
pub mod epmd;
