//! The programs in ractor.

pub mod counter;
pub mod pipeline;
