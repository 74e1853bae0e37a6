//! The programs in rotp.

pub mod counter;
pub mod pipeline;
pub mod server;
